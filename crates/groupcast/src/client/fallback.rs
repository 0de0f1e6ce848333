//! The unicast fallback, viewer side: when no multicast arrives (or `--unicast always`), the
//! client asks the relay its manager ticket names (its metro's edge, else the central) for the
//! stream by unicast, and plays and repairs it as if it came by multicast.
//!
//! The feed runs [`Edge::viewer`]: JOIN (refreshed every second) answered by a CHALLENGE whose
//! nonce the next JOIN echoes, then media; gaps NACKed to the relay after a hold that leaves
//! the repair group the first chance (the relay is the last resort for this leg); LEAVE at
//! the end. The multicast socket stays joined: once multicast flows again for
//! [`BACK_AFTER`] without a break, the feed is left; when multicast starts together with the
//! feed's media (the stream was off everywhere: a source starting or restarting, which sends
//! every waiting viewer to its relay), after 200 ms.
//!
//! While multicast flows, the same relay is the last resort behind the repair group
//! ([`standby`]).

use crate::driver::clock;
use crate::dropper::Dropper;
use anyhow::Context;
use groupcast_api::{SessionId, UnicastTicket};
use groupcast_core::{Client, Time};
use groupcast_source::{Edge, EdgeConfig, EdgeStats};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Multicast flowing this long without a break of [`BREAK`] ends the unicast feed.
pub(super) const BACK_AFTER: Duration = Duration::from_secs(3);
/// Multicast that starts at most this long after the feed's first media (the stream itself
/// was off: a source starting or restarting) ends the feed after [`SETTLE`] already.
const TOGETHER: Duration = Duration::from_secs(1);
const SETTLE: Duration = Duration::from_millis(200);
/// A pause in multicast this long counts as a break.
const BREAK: Duration = Duration::from_millis(500);
/// LEAVEs sent when a feed ends: with 8 % loss on the way (5 % on the access link, 3 % on the
/// trunk), one is lost one time in twelve, and the relay then feeds us for up to its viewer
/// timeout (5 s); three are all lost about once in 2,000 feeds.
const LEAVES: usize = 3;
/// Most datagrams taken from the relay in one go.
const BATCH: usize = 64;

/// When to use the unicast fallback (`--unicast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// When no multicast arrives for `--multicast-wait-ms`.
    Auto,
    /// From the start, for a network known to carry no multicast.
    Always,
    /// Never (a control: multicast or nothing).
    Never,
}

/// A running unicast feed.
struct Feed {
    socket: tokio::net::UdpSocket,
    relay: SocketAddr,
    /// The relay as the ticket names it.
    name: String,
    edge: Edge,
    /// The first media datagram from the relay.
    first_media: Option<Time>,
}

/// The fallback's state.
pub(super) struct Fallback {
    /// Multicast's comings and goings, and the decisions they lead to.
    watch: Watch,
    /// The IPv4 address to receive on (`--iface`), if one was given.
    iface_v4: Option<Ipv4Addr>,
    /// The play-out buffer (NACK hold and give-up come from it).
    buffer: Duration,
    session: SessionId,
    /// The latest ticket from the manager.
    ticket: Option<UnicastTicket>,
    feed: Option<Feed>,
    /// Times the feed started and ended.
    pub(super) started: u64,
    pub(super) ended: u64,
    /// No ticket, or no feed, when one was needed (logged once).
    warned: bool,
    /// Figures of feeds already ended, and of the running one.
    done: EdgeStats,
    /// The relay as the last resort, while no feed runs.
    last: standby::LastResort,
}

impl Fallback {
    /// A fallback for `session`, counting the wait from `now` (the join).
    /// The relay is also the last resort behind the group unless `last_resort` is false.
    pub(super) fn new(
        (mode, wait, last_resort): (Mode, Duration, bool),
        iface_v4: Option<Ipv4Addr>,
        buffer: Duration,
        session: SessionId,
        now: Time,
    ) -> Fallback {
        Fallback {
            watch: Watch {
                mode,
                wait,
                last_multicast: now,
                run_since: None,
                next_try: now,
            },
            iface_v4,
            buffer,
            session,
            ticket: None,
            feed: None,
            started: 0,
            ended: 0,
            warned: false,
            done: EdgeStats::default(),
            last: standby::LastResort::new(last_resort, session),
        }
    }

    /// A multicast datagram arrived.
    pub(super) fn on_multicast(&mut self, now: Time) {
        self.watch.on_multicast(now);
    }

    /// The manager's latest ticket (from an open, a heartbeat or a group event).
    pub(super) fn set_ticket(&mut self, ticket: Option<&UnicastTicket>) {
        let Some(t) = ticket else { return };
        if let (Some(feed), Some(key)) = (&mut self.feed, groupcast_api::parse_key(&t.key)) {
            feed.edge.set_ticket(t.expires_ms, &key);
        }
        self.last.set_ticket(t, self.iface_v4);
        self.ticket = Some(t.clone());
    }

    /// A new session replaced the old one: its feed (if any) starts over with the new
    /// session's ticket.
    pub(super) fn set_session(&mut self, session: SessionId) {
        self.session = session;
        self.ticket = None;
        self.stop(None);
        self.last.set_session(session);
    }

    /// The relay feeding us, as the manager named it (its ticket's `relay`), if a feed runs.
    pub(super) fn relay(&self) -> Option<&str> {
        self.feed.as_ref().map(|f| f.name.as_str())
    }

    /// The feed's socket if a feed runs, else the last resort's.
    pub(super) fn socket(&self) -> Option<&tokio::net::UdpSocket> {
        match &self.feed {
            Some(f) => Some(&f.socket),
            None => self.last.socket(),
        }
    }

    /// Starts or ends the feed as multicast comes and goes; sends what the feed has to say;
    /// without a feed, asks the relay what `core` escalates.
    pub(super) fn poll(&mut self, now: Time, core: &mut Client, buf: &mut [u8]) {
        match self
            .watch
            .decide(now, self.feed.as_ref().map(|f| f.first_media))
        {
            Decision::Start => self.start(now),
            Decision::Leave => {
                tracing::info!("multicast is back: leaving the unicast feed");
                self.stop(Some(buf));
            }
            Decision::Stay => {}
        }
        if let Some(f) = &mut self.feed {
            while let Some(n) = f.edge.poll_transmit(now, buf) {
                let _ = crate::net::send_connected(&f.socket, &buf[..n]);
            }
        }
        self.last.poll(now, core, buf, self.feed.is_some());
    }

    fn start(&mut self, now: Time) {
        let Some(ticket) = self.ticket.clone() else {
            if !self.warned {
                self.warned = true;
                tracing::warn!(
                    "no multicast, and no unicast ticket from the manager (it has no unicast \
                     secret, or the channel no relay for this metro): waiting for multicast"
                );
            }
            return;
        };
        self.watch.next_try = now + Duration::from_secs(1);
        match self.open(&ticket) {
            Ok(feed) => {
                tracing::info!(relay = %feed.relay, "no multicast: receiving by unicast");
                self.feed = Some(feed);
                self.started += 1;
            }
            Err(e) => {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(error = %format!("{e:#}"), relay = ticket.relay, "unicast feed");
                }
            }
        }
    }

    fn open(&self, ticket: &UnicastTicket) -> anyhow::Result<Feed> {
        let key = groupcast_api::parse_key(&ticket.key).context("the ticket's key")?;
        let relay = crate::net::resolve("relay", &ticket.relay)?;
        let socket = relay_socket(relay, self.iface_v4)?;
        let mut config = EdgeConfig::new("unicast");
        config.initial_counter = clock::wall_micros();
        // The group gets the first chance at a loss; the relay is asked after a third of the
        // buffer, and given up on when the buffer would be.
        config.reorder_hold =
            (self.buffer / 3).clamp(Duration::from_millis(20), Duration::from_millis(300));
        config.give_up = self.buffer;
        let mut edge = Edge::viewer(config, self.session);
        edge.set_ticket(ticket.expires_ms, &key);
        Ok(Feed {
            socket,
            relay,
            name: ticket.relay.clone(),
            edge,
            first_media: None,
        })
    }

    /// Ends the feed (telling the relay with a LEAVE when `buf` is given: [`LEAVES`] of them,
    /// as a lost one leaves the relay feeding us until its viewer timeout).
    pub(super) fn stop(&mut self, buf: Option<&mut [u8]>) {
        let Some(mut f) = self.feed.take() else {
            return;
        };
        if let Some(buf) = buf {
            for _ in 0..LEAVES {
                if let Some(n) = f.edge.leave(buf) {
                    let _ = crate::net::send_connected(&f.socket, &buf[..n]);
                }
            }
        }
        add(&mut self.done, f.edge.stats());
        self.ended += 1;
    }

    /// The end: the feed and the last resort's registration are left at once (LEAVE).
    pub(super) fn finish(&mut self, buf: &mut [u8]) {
        self.stop(Some(buf));
        self.last.leave(buf);
    }

    /// The last resort's figures.
    pub(super) fn last_resort(&self) -> &groupcast_source::StandbyStats {
        self.last.stats()
    }

    /// Takes the relay's waiting datagrams (up to a batch): media goes to the core. Returns
    /// how many `dropper` (`--drop-rate`, testing only) dropped.
    pub(super) fn take(
        &mut self,
        now: Time,
        core: &mut Client,
        buf: &mut [u8],
        dropper: &mut Dropper,
    ) -> u64 {
        let mut dropped = 0;
        let Some(f) = &mut self.feed else {
            return self.last.take(now, core, buf, dropper);
        };
        for _ in 0..BATCH {
            match f.socket.try_recv(buf) {
                Ok(n) => {
                    if dropper.drop() {
                        dropped += 1;
                    } else if f.edge.handle_upstream(now, &buf[..n]).is_some() {
                        f.first_media.get_or_insert(now);
                        core.handle_media(now, f.relay, &buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The relay is not up yet (ICMP port unreachable): JOINs go on.
                Err(e) => {
                    tracing::debug!(error = %e, "unicast receive");
                    break;
                }
            }
        }
        dropped
    }

    /// Runs the feed's timers.
    pub(super) fn handle_timeout(&mut self, now: Time) {
        if let Some(f) = &mut self.feed {
            f.edge.handle_timeout(now);
        }
    }

    /// When the fallback next has work: the feed's timers, or the end of the multicast wait,
    /// or the last resort's refresh.
    pub(super) fn poll_timeout(&self) -> Option<Time> {
        let w = &self.watch;
        let last = self.last.poll_timeout(self.feed.is_some());
        let feed = match (&self.feed, w.mode) {
            (Some(f), _) => Some(f.edge.poll_timeout()),
            (None, Mode::Auto) if self.ticket.is_some() => {
                Some((w.last_multicast + w.wait).max(w.next_try))
            }
            (None, Mode::Always) if self.ticket.is_some() => Some(w.next_try),
            _ => None,
        };
        crate::driver::earliest([feed, last])
    }

    /// The feeds' figures so far.
    pub(super) fn stats(&self) -> EdgeStats {
        let mut s = self.done.clone();
        if let Some(f) = &self.feed {
            add(&mut s, f.edge.stats());
        }
        s
    }
}

/// A socket connected to `relay`, bound to `iface_v4` for an IPv4 relay when given.
fn relay_socket(
    relay: SocketAddr,
    iface_v4: Option<Ipv4Addr>,
) -> anyhow::Result<tokio::net::UdpSocket> {
    let bind = match relay {
        SocketAddr::V4(_) => SocketAddr::from((iface_v4.unwrap_or(Ipv4Addr::UNSPECIFIED), 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = crate::net::roomy(UdpSocket::bind(bind).with_context(|| format!("bind {bind}"))?)?;
    socket.connect(relay)?;
    socket.set_nonblocking(true)?;
    Ok(tokio::net::UdpSocket::from_std(socket)?)
}

/// Multicast's comings and goings, and what the fallback should do about them: no socket,
/// so it is tested alone.
#[derive(Debug)]
struct Watch {
    mode: Mode,
    /// No multicast for this long starts the feed.
    wait: Duration,
    /// The latest multicast datagram, and the start of the current unbroken run.
    last_multicast: Time,
    run_since: Option<Time>,
    /// After a failed start, the next try.
    next_try: Time,
}

/// What the fallback should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Start the feed.
    Start,
    /// End the feed: multicast is back.
    Leave,
    /// Nothing.
    Stay,
}

impl Watch {
    fn on_multicast(&mut self, now: Time) {
        if now.saturating_since(self.last_multicast) > BREAK || self.run_since.is_none() {
            self.run_since = Some(now);
        }
        self.last_multicast = now;
    }

    /// The decision at `now`; `feed` is `None` when no feed runs, else its first media's time.
    fn decide(&self, now: Time, feed: Option<Option<Time>>) -> Decision {
        let silent = now.saturating_since(self.last_multicast) >= self.wait;
        match (self.mode, feed) {
            (Mode::Never, _) | (Mode::Always, Some(_)) => Decision::Stay,
            (Mode::Always | Mode::Auto, None) if now < self.next_try => Decision::Stay,
            (Mode::Always, None) => Decision::Start,
            (Mode::Auto, None) if silent => Decision::Start,
            (Mode::Auto, None) => Decision::Stay,
            (Mode::Auto, Some(first_media)) => {
                // Multicast is back after a steady run; or at once, when it came with the
                // feed's media (the stream was off everywhere: multicast was not the problem).
                let back = self.run_since.is_some_and(|s| {
                    let run = now.saturating_since(s);
                    let together = first_media.is_none_or(|m| s <= m + TOGETHER);
                    !silent && (run >= BACK_AFTER || (together && run >= SETTLE))
                });
                if back {
                    Decision::Leave
                } else {
                    Decision::Stay
                }
            }
        }
    }
}

/// Adds `b`'s counters to `a`.
fn add(a: &mut EdgeStats, b: &EdgeStats) {
    a.forwarded += b.forwarded;
    a.recovered += b.recovered;
    a.unrecovered += b.unrecovered;
    a.duplicates += b.duplicates;
    a.bad += b.bad;
    a.nacks_sent += b.nacks_sent;
    a.packets_nacked += b.packets_nacked;
    a.source_restarts += b.source_restarts;
    a.challenges += b.challenges;
    a.refused_full += b.refused_full;
}

mod standby;
#[cfg(test)]
mod tests;
