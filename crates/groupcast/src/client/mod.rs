//! `groupcast client`: joins a channel's multicast group, repairs losses from its repair group,
//! serves the group from its own buffer, and feeds a player.
//!
//! A thin driver around [`groupcast_core::Client`]: this file owns the sockets and the clock
//! and moves bytes between them and the core; [`link`] carries out the manager link's calls on
//! blocking tasks whose outcomes come back into the same loop; [`output`] writes the played TS;
//! [`report`] shows and records the figures; [`setup`] builds sockets and configuration.
//!
//! One concurrency style: a current-thread tokio runtime whose loop `select!`s over the
//! sockets, the link's outcomes and `sleep_until` the earliest deadline of the core and the
//! link.

mod args;
mod fallback;
mod gateway;
mod http;
mod keys;
mod link;
mod output;
mod report;
mod setup;

use crate::api_client::{ApiClient, tls_config};
use crate::driver::clock::Clock;
use crate::driver::{self, Stop, StopWatch};
use crate::dropper::Dropper;
use crate::net::Iface;
use crate::stats::write_json;
pub(crate) use args::{Args, Strategy};
use groupcast_api::{Assignment, OpenSession};
use groupcast_core::{Client, LinkEvent, Time};
use link::{Link, Reply};
use output::Output;
use report::{Report, StatusLine};
use setup::{bind_peer, core_config, media_socket, stats_path, to_group};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// What identifies an assignment in force: group, epoch, member count and the backups (each
/// with its pair's epoch).
type Applied = (
    groupcast_api::GroupId,
    groupcast_api::GroupEpoch,
    usize,
    Vec<(groupcast_api::SessionId, groupcast_api::GroupEpoch)>,
);
/// How often figures go to the manager's link, the status line and `--stats-json`.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Most datagrams taken from one socket before the others get a turn.
const BATCH: usize = 64;
/// Once multicast comes faster than one datagram per this, it is taken this much at a time.
const COALESCE: Duration = Duration::from_millis(1);

/// Runs `groupcast client`: one channel, or the gateway without `--channel`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let Some(channel) = &args.channel else {
        return gateway::run(args);
    };
    let stop = Stop::new(args.duration)?;
    let output = Output::open(&args.output)?;
    let rt = driver::runtime()?;
    let result = rt.block_on(tune(args, channel, &stop, output, None));
    // Blocking calls still under way (an event stream) are abandoned, not waited for.
    rt.shutdown_background();
    result
}

/// Watches `channel` until `stop` (or, for a gateway's channel, until no player watches it):
/// opens the session, joins the group, runs the loop, closes the session.
async fn tune(
    args: &Args,
    channel: &str,
    stop: &Stop,
    output: Output,
    tuning: Option<&gateway::Tuning>,
) -> anyhow::Result<()> {
    let dropper = Dropper::new(args.drop_rate, args.drop_seed)?;
    let iface = Iface::parse(args.iface.as_deref())?;
    // A gateway's channels each have their own peer socket.
    let listen = match tuning {
        Some(_) => args.peer_listen.map(|a| SocketAddr::new(a.ip(), 0)),
        None => args.peer_listen,
    };
    let peer_socket = bind_peer(listen, &iface)?;
    let request = OpenSession {
        channel: channel.to_owned(),
        metro: args.metro.clone(),
        peer_addr: peer_socket.local_addr()?.to_string(),
        repair: !args.no_repair,
    };
    let clock = Clock::start();
    let mut link = Link::new(
        ApiClient::new(&args.manager, &args.token, tls_config(args.ca.as_deref())?),
        request,
        clock.now(),
    );
    let mut stopped = stop.watch()?;
    if let Some(t) = tuning {
        stopped = stopped.or_quit(t.quit());
    }
    let Some(info) = link.open(&mut stopped, clock).await? else {
        return Ok(()); // stopped before the manager answered
    };
    tracing::info!(
        session = info.session.0,
        channel = %info.channel.name,
        group = %info.channel.group,
        "session open"
    );
    let media = media_socket(&info, &iface)?;
    let core = Client::new(core_config(args, &info)?)?;
    let wait = Duration::from_millis(args.multicast_wait_ms);
    let fallback = fallback::Fallback::new(
        (args.unicast, wait, !args.no_last_resort),
        match iface {
            Iface::V4(a) => Some(a),
            _ => None,
        },
        core.config().buffer,
        info.session,
        clock.now(),
    );
    if let Some(t) = tuning {
        t.opened();
    }
    let mut driver = Driver {
        core,
        output,
        link,
        dropper,
        no_multicast: args.no_multicast,
        applied: None,
        keys: keys::Keyring::default(),
        fallback,
        report: Report::new(&info, &args.metro),
        status: StatusLine::new(args.quiet || tuning.is_some()),
        stats_json: stats_path(args, tuning.map(|_| channel)),
        clock,
        tuning,
    };
    let result = driver.drive(media, peer_socket, &mut stopped).await;
    driver.finish()?;
    result
}

/// What woke the run loop.
enum Wake {
    /// A multicast datagram is waiting.
    Media,
    /// A peer datagram is waiting.
    Peer,
    /// A datagram from the unicast relay is waiting.
    Relay,
    /// A manager call finished (boxed: a reply is large, and rare next to datagrams).
    Link(Option<Box<Reply>>),
    /// A deadline passed.
    Timer,
}

/// Everything the run loop owns besides its sockets.
struct Driver<'a> {
    /// The repair core.
    core: Client,
    /// Where played TS goes.
    output: Output,
    /// The manager link and the outcomes of its calls.
    link: Link,
    /// `--drop-rate`.
    dropper: Dropper,
    /// `--no-multicast`.
    no_multicast: bool,
    /// Group and epoch last installed in the core.
    applied: Option<Applied>,
    /// Media keys of an encrypted channel.
    keys: keys::Keyring,
    /// The unicast fallback.
    fallback: fallback::Fallback,
    /// Figures for `--stats-json` and the manager.
    report: Report,
    /// The live line on a terminal.
    status: StatusLine,
    /// `--stats-json`.
    stats_json: Option<PathBuf>,
    /// The driver's clock.
    clock: Clock,
    /// A gateway's channel: left once no player watches it.
    tuning: Option<&'a gateway::Tuning>,
}

impl Driver<'_> {
    fn now(&self) -> Time {
        self.clock.now()
    }

    /// The loop: sockets and timers in, core, transmits and play-out out.
    async fn drive(
        &mut self,
        media: UdpSocket,
        peer: UdpSocket,
        stopped: &mut StopWatch,
    ) -> anyhow::Result<()> {
        media.set_nonblocking(true)?;
        peer.set_nonblocking(true)?;
        let media = tokio::net::UdpSocket::from_std(media)?;
        let peer = tokio::net::UdpSocket::from_std(peer)?;
        let mut mbuf = vec![0u8; 2048];
        let mut pbuf = vec![0u8; 2048];
        let mut tbuf = vec![0u8; 2048];
        let mut next_report = self.now();
        let mut coalesce = driver::Coalesce::new(COALESCE);
        self.take_link_news(); // the first session's group
        loop {
            // Busy multicast: let a window's worth gather in the socket (see `Coalesce`).
            if let Some(rest) = coalesce.pause(self.now()) {
                std::thread::sleep(rest);
            }
            let wake = driver::earliest([
                self.core.poll_timeout(),
                self.core.next_playout(),
                self.link.poll_timeout(),
                self.fallback.poll_timeout(),
                Some(next_report),
            ]);
            let woken = tokio::select! {
                () = stopped.wait() => break,
                r = media.readable() => { r?; Wake::Media }
                r = peer.readable() => { r?; Wake::Peer }
                r = driver::readable(self.fallback.socket()) => { r?; Wake::Relay }
                r = self.link.recv() => Wake::Link(r.map(Box::new)),
                () = driver::sleep_until(&self.clock, wake) => Wake::Timer,
            };
            // Multicast first, whatever woke the loop (after a pause, a timer or a peer's
            // request may come first): a request must find a packet whose copy is already
            // waiting in our socket, or it goes unanswered and the asker may run out of time.
            let taken = self.take_media(&media, &mut mbuf);
            coalesce.drained(self.now(), taken, taken < BATCH);
            match woken {
                Wake::Peer => self.take_peer(&peer, &mut pbuf),
                Wake::Relay => {
                    let now = self.now();
                    self.report.test_dropped +=
                        self.fallback
                            .take(now, &mut self.core, &mut mbuf, &mut self.dropper);
                }
                Wake::Link(Some(reply)) => {
                    let now = self.now();
                    self.link.handle(now, *reply);
                }
                Wake::Media | Wake::Link(None) | Wake::Timer => {}
            }
            let now = self.now();
            self.link.pump(now);
            self.take_link_news();
            self.core.handle_timeout(now);
            self.fallback.handle_timeout(now);
            self.fallback.poll(now, &mut self.core, &mut tbuf);
            self.transmit(&peer, now, &mut tbuf);
            self.play(now)?;
            self.events();
            if now >= next_report {
                next_report = now + REPORT_EVERY;
                self.publish()?;
                if self.tuning.is_some_and(gateway::Tuning::leave) {
                    break; // no player watches this gateway channel any more
                }
            }
        }
        Ok(())
    }

    /// Takes every waiting multicast datagram (up to a batch); says how many it took.
    fn take_media(&mut self, media: &tokio::net::UdpSocket, buf: &mut [u8]) -> usize {
        for taken in 0..BATCH {
            match media.try_recv_from(buf) {
                Ok((n, src)) => {
                    if self.no_multicast || self.dropper.drop() {
                        self.report.test_dropped += 1;
                        continue;
                    }
                    let now = self.now();
                    self.fallback.on_multicast(now);
                    self.core.handle_media(now, src, &buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return taken,
                Err(e) => {
                    tracing::debug!(error = %e, "multicast receive");
                    return taken;
                }
            }
        }
        BATCH
    }

    /// Takes every waiting peer datagram (up to a batch).
    fn take_peer(&mut self, peer: &tokio::net::UdpSocket, buf: &mut [u8]) {
        for _ in 0..BATCH {
            match peer.try_recv_from(buf) {
                Ok((n, _)) => {
                    self.report.peer_bytes_received += n as u64;
                    let now = self.now();
                    self.core.handle_peer(now, &buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A peer that vanished can make the kernel report an ICMP error here.
                Err(e) => {
                    tracing::debug!(error = %e, "peer receive");
                    return;
                }
            }
        }
    }

    /// Sends what the core queued for peers.
    fn transmit(&mut self, peer: &tokio::net::UdpSocket, now: Time, buf: &mut [u8]) {
        while let Some(t) = self.core.poll_transmit(now, buf) {
            match peer.try_send_to(&buf[..t.len], t.dst) {
                Ok(n) => self.report.peer_bytes_sent += n as u64,
                Err(e) => {
                    self.report.peer_send_errors += 1;
                    tracing::debug!(error = %e, dst = %t.dst, "peer send");
                }
            }
        }
    }

    /// Hands due TS to the output.
    fn play(&mut self, now: Time) -> anyhow::Result<()> {
        while let Some(p) = self.core.poll_playout(now) {
            self.output.write(p.ts)?;
        }
        self.output.flush()
    }

    /// Logs what the core noticed.
    fn events(&mut self) {
        while let Some(e) = self.core.poll_event() {
            tracing::info!(event = ?e, "client");
            if let groupcast_core::Event::SourceRestarted { .. } = e {
                self.output.restart(); // resume at the new stream's first random access point
            }
        }
    }

    /// Installs group changes and new sessions from the manager link; logs its comings and goings.
    fn take_link_news(&mut self) {
        while let Some(news) = self.link.poll_event() {
            match news {
                LinkEvent::Group(a) => self.apply_group(&a),
                LinkEvent::Session(session) => {
                    tracing::info!(session = session.0, "new session after the old one ended");
                    self.core.set_sender(session);
                    self.fallback.set_session(session);
                    self.report.session = session.0;
                    self.applied = None;
                }
                LinkEvent::Away => {
                    tracing::warn!("manager unreachable; playing on with the last group");
                }
                LinkEvent::Back(away) => tracing::info!(
                    away_ms = away.as_millis() as u64,
                    "manager reachable again; session re-attached"
                ),
                LinkEvent::Refused => {} // only the first open's, taken by `open`
            }
        }
    }

    /// Installs an assignment if it differs from the one in force.
    fn apply_group(&mut self, a: &Assignment) {
        self.keys.take(&a.media_keys, &mut self.core);
        self.report.bad_media_keys = self.keys.bad;
        self.fallback.set_ticket(a.unicast.as_ref());
        let backups: Vec<_> = a.backups.iter().map(|b| (b.session, b.epoch)).collect();
        let id = (a.group, a.epoch, a.members.len(), backups);
        if self.applied.as_ref() == Some(&id) {
            return;
        }
        let group = to_group(self.core.config().sender, a);
        let dropped = a.members.len() - group.members.len();
        if dropped > 0 {
            tracing::warn!(
                group = a.group.0,
                dropped,
                "members with a bad address or key left out"
            );
        }
        let now = self.now();
        self.core.set_group(now, &group);
        self.applied = Some(id);
        let backups = group.backups.len();
        self.report.group = a.group.0;
        self.report.epoch = a.epoch.0;
        tracing::info!(
            group = a.group.0,
            epoch = a.epoch.0,
            members = a.members.len(),
            backups,
            "repair group"
        );
    }

    /// Updates the figures for the manager, the status line and `--stats-json`.
    fn publish(&mut self) -> anyhow::Result<()> {
        self.keys.refresh(&mut self.core);
        let secs = self.clock.seconds();
        self.report.update(&self.core, secs);
        self.report.set_unicast(&self.fallback);
        self.link.publish(&mut self.core, &self.report);
        self.status.show(&self.report);
        if let Some(p) = &self.stats_json {
            write_json(p, &self.report)?;
        }
        Ok(())
    }

    /// Final figures, and the session closed so the group is refilled at once.
    fn finish(&mut self) -> anyhow::Result<()> {
        let mut buf = [0u8; 256];
        self.fallback.finish(&mut buf); // LEAVE: the relay stops feeding at once
        self.publish()?;
        self.status.done();
        self.link.close();
        let c = &self.report.counters;
        tracing::info!(
            received = c.received,
            lost = c.lost,
            repaired = c.repaired,
            unrecovered = c.unrecovered,
            "client stopped"
        );
        Ok(())
    }
}
