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

use crate::driver::clock;
use crate::dropper::Dropper;
use anyhow::Context;
use groupcast_api::{SessionId, UnicastTicket};
use groupcast_core::{Client, Time};
use groupcast_source::{Edge, EdgeConfig, EdgeStats};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Multicast flowing this long without a break of [`BREAK`] ends the unicast feed.
pub(super) const BACK_AFTER: Duration = Duration::from_secs(3);
/// Multicast that starts at most this long after the feed's first media (the stream itself
/// was off: a source starting or restarting) ends the feed after [`SETTLE`] already.
const TOGETHER: Duration = Duration::from_secs(1);
const SETTLE: Duration = Duration::from_millis(200);
/// A pause in multicast this long counts as a break.
const BREAK: Duration = Duration::from_millis(500);
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
    edge: Edge,
    /// The first media datagram from the relay.
    first_media: Option<Time>,
}

/// The fallback's state.
pub(super) struct Fallback {
    mode: Mode,
    /// No multicast for this long starts the feed.
    wait: Duration,
    /// The IPv4 address to receive on (`--iface`), if one was given.
    iface_v4: Option<Ipv4Addr>,
    /// The play-out buffer (NACK hold and give-up come from it).
    buffer: Duration,
    session: SessionId,
    /// The latest ticket from the manager.
    ticket: Option<UnicastTicket>,
    /// The latest multicast datagram, and the start of the current unbroken run.
    last_multicast: Time,
    run_since: Option<Time>,
    feed: Option<Feed>,
    /// Times the feed started and ended.
    pub(super) started: u64,
    pub(super) ended: u64,
    /// No ticket, or no feed, when one was needed (logged once).
    warned: bool,
    /// After a failed start, the next try.
    next_try: Time,
    /// Figures of feeds already ended, and of the running one.
    done: EdgeStats,
}

impl Fallback {
    /// A fallback for `session`, counting the wait from `now` (the join).
    pub(super) fn new(
        mode: Mode,
        wait: Duration,
        iface_v4: Option<Ipv4Addr>,
        buffer: Duration,
        session: SessionId,
        now: Time,
    ) -> Fallback {
        Fallback {
            mode,
            wait,
            iface_v4,
            buffer,
            session,
            ticket: None,
            last_multicast: now,
            run_since: None,
            feed: None,
            started: 0,
            ended: 0,
            warned: false,
            next_try: now,
            done: EdgeStats::default(),
        }
    }

    /// A multicast datagram arrived.
    pub(super) fn on_multicast(&mut self, now: Time) {
        if now.saturating_since(self.last_multicast) > BREAK || self.run_since.is_none() {
            self.run_since = Some(now);
        }
        self.last_multicast = now;
    }

    /// The manager's latest ticket (from an open, a heartbeat or a group event).
    pub(super) fn set_ticket(&mut self, ticket: Option<&UnicastTicket>) {
        let Some(t) = ticket else { return };
        if let (Some(feed), Some(key)) = (&mut self.feed, groupcast_api::parse_key(&t.key)) {
            feed.edge.set_ticket(t.expires_ms, &key);
        }
        self.ticket = Some(t.clone());
    }

    /// A new session replaced the old one: its feed (if any) starts over with the new
    /// session's ticket.
    pub(super) fn set_session(&mut self, session: SessionId) {
        self.session = session;
        self.ticket = None;
        self.stop(None);
    }

    /// The relay feeding us, if a feed runs.
    pub(super) fn relay(&self) -> Option<SocketAddr> {
        self.feed.as_ref().map(|f| f.relay)
    }

    /// The feed's socket, if a feed runs.
    pub(super) fn socket(&self) -> Option<&tokio::net::UdpSocket> {
        self.feed.as_ref().map(|f| &f.socket)
    }

    /// Starts or ends the feed as multicast comes and goes; sends what the feed has to say.
    pub(super) fn poll(&mut self, now: Time, buf: &mut [u8]) {
        let silent = now.saturating_since(self.last_multicast) >= self.wait;
        // Multicast is back after a steady run; or at once, when it came with the feed's media
        // (the stream was off everywhere, so multicast was never the problem).
        let first_media = self.feed.as_ref().and_then(|f| f.first_media);
        let back = self.run_since.is_some_and(|s| {
            let run = now.saturating_since(s);
            let together = first_media.is_none_or(|m| s <= m + TOGETHER);
            !silent && (run >= BACK_AFTER || (together && run >= SETTLE))
        });
        let may_start = self.feed.is_none() && now >= self.next_try;
        match self.mode {
            Mode::Always if may_start => self.start(now),
            Mode::Auto if may_start && silent => self.start(now),
            Mode::Auto if self.feed.is_some() && back => {
                tracing::info!("multicast is back: leaving the unicast feed");
                self.stop(Some(buf));
            }
            _ => {}
        }
        if let Some(f) = &mut self.feed {
            while let Some(n) = f.edge.poll_transmit(now, buf) {
                let _ = f.socket.try_send(&buf[..n]);
            }
        }
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
        self.next_try = now + Duration::from_secs(1);
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
        let relay = ticket
            .relay
            .to_socket_addrs()
            .with_context(|| format!("relay {}", ticket.relay))?
            .next()
            .with_context(|| format!("relay {}: no address", ticket.relay))?;
        let bind = match relay {
            SocketAddr::V4(_) => {
                SocketAddr::from((self.iface_v4.unwrap_or(Ipv4Addr::UNSPECIFIED), 0))
            }
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(bind).with_context(|| format!("bind {bind}"))?;
        socket.connect(relay)?;
        socket.set_nonblocking(true)?;
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
            socket: tokio::net::UdpSocket::from_std(socket)?,
            relay,
            edge,
            first_media: None,
        })
    }

    /// Ends the feed (telling the relay with a LEAVE when `buf` is given).
    pub(super) fn stop(&mut self, buf: Option<&mut [u8]>) {
        let Some(mut f) = self.feed.take() else {
            return;
        };
        if let Some(buf) = buf
            && let Some(n) = f.edge.leave(buf)
        {
            let _ = f.socket.try_send(&buf[..n]);
        }
        add(&mut self.done, f.edge.stats());
        self.ended += 1;
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
            return dropped;
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

    /// When the fallback next has work: the feed's timers, or the end of the multicast wait.
    pub(super) fn poll_timeout(&self) -> Option<Time> {
        match (&self.feed, self.mode) {
            (Some(f), _) => Some(f.edge.poll_timeout()),
            (None, Mode::Auto) if self.ticket.is_some() => {
                Some((self.last_multicast + self.wait).max(self.next_try))
            }
            (None, Mode::Always) if self.ticket.is_some() => Some(self.next_try),
            _ => None,
        }
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
