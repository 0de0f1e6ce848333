//! `groupcast edge`: receives the central's stream by unicast, NACKs what the link lost, and
//! re-multicasts every packet unchanged (same SSRC, same sequence numbers) in its metro; with
//! `--unicast-listen`, it also feeds the metro's viewers without multicast by unicast
//! ([`crate::feed`]).
//!
//! The one driver shape (see [`crate::driver`]) around the sans-IO [`Edge`]: it sleeps until
//! [`Edge::poll_timeout`] or until the central's datagrams arrive.

use crate::driver::clock::{self, Clock};
use crate::driver::{self, Stop};
use crate::dropper::Dropper;
use crate::feed::Feed;
use crate::net::{self, Iface};
use crate::stats::write_json;
use anyhow::{Context, bail};
use groupcast_core::Time;
use groupcast_source::{Edge, EdgeConfig};
use serde::Serialize;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// How often figures go to the log and `--stats-json`.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Most datagrams taken from the link before the timers get a turn.
const BATCH: usize = 64;

/// Options of `groupcast edge`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The central source's relay address, HOST:PORT.
    #[arg(long)]
    upstream: String,
    /// The token the central expects (also from the environment).
    #[arg(long, env = "GROUPCAST_EDGE_TOKEN", hide_env_values = true)]
    token: String,
    /// The multicast group to re-send to in this metro, IP:PORT.
    #[arg(long)]
    group: SocketAddr,
    /// Outgoing interface: an IPv4 address, or an IPv6 interface name or index.
    #[arg(long)]
    iface: Option<String>,
    /// Multicast TTL / hop limit.
    #[arg(long, default_value_t = 1)]
    ttl: u32,
    /// This edge's name at the central (defaults to the group address).
    #[arg(long)]
    name: Option<String>,
    /// Local address for the unicast link (default: any, on a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Write statistics here as JSON at exit (and every 5 s).
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// TESTING ONLY: drop this share (0..1) of the datagrams from the central on receipt.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// TESTING ONLY: seed of `--drop-rate`.
    #[arg(long, default_value_t = 1)]
    drop_seed: u64,
    /// The channel this edge carries, as the manager names it (the unicast feed's tickets
    /// name it).
    #[arg(long)]
    channel: Option<String>,
    /// How much history the unicast feed keeps for its viewers' NACKs, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    ring_ms: u64,
    /// The unicast feed for viewers in this metro without multicast.
    #[command(flatten)]
    feed: crate::feed::FeedArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    name: &'a str,
    upstream: &'a str,
    group: String,
    received: u64,
    dropped_for_testing: u64,
    forwarded: u64,
    recovered: u64,
    unrecovered: u64,
    duplicates: u64,
    bad: u64,
    nacks_sent: u64,
    packets_nacked: u64,
    source_restarts: u64,
    unicast: Option<crate::feed::FeedStats>,
    seconds: f64,
}

/// Runs `groupcast edge`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.token.is_empty() {
        bail!("--token must not be empty");
    }
    let upstream = net::resolve("--upstream", &args.upstream)?;
    let local = args.listen.unwrap_or_else(|| {
        if upstream.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .unwrap_or(upstream)
    });
    let link = net::roomy(UdpSocket::bind(local).with_context(|| format!("bind {local}"))?)?;
    link.connect(upstream)?;
    let out = net::multicast_sender(args.group, &Iface::parse(args.iface.as_deref())?, args.ttl)?;
    let name = args.name.clone().unwrap_or_else(|| args.group.to_string());
    let config = EdgeConfig {
        initial_counter: clock::wall_micros(),
        ..EdgeConfig::new(&name)
    };
    let mut driver = Driver {
        edge: Edge::new(config, args.token.as_bytes()),
        out,
        dropper: Dropper::new(args.drop_rate, args.drop_seed)?,
        feed: None,
        clock: Clock::start(),
        received: 0,
        dropped: 0,
    };
    let stop = Stop::new(args.duration)?;
    tracing::info!(upstream = %upstream, group = %args.group, name, "edge starting");
    let report = |d: &Driver| {
        let s = d.edge.stats();
        Report {
            name: &name,
            upstream: &args.upstream,
            group: args.group.to_string(),
            received: d.received,
            dropped_for_testing: d.dropped,
            forwarded: s.forwarded,
            recovered: s.recovered,
            unrecovered: s.unrecovered,
            duplicates: s.duplicates,
            bad: s.bad,
            nacks_sent: s.nacks_sent,
            packets_nacked: s.packets_nacked,
            source_restarts: s.source_restarts,
            unicast: d.feed.as_ref().map(Feed::stats),
            seconds: d.clock.seconds(),
        }
    };
    let path = args.stats_json.as_deref();
    let running = |d: &Driver| publish(&report(d), "edge running", path);
    let rt = driver::runtime()?;
    let keep = Duration::from_millis(args.ring_ms);
    driver.feed = rt.block_on(async { Feed::open(&args.feed, args.channel.as_deref(), keep) })?;
    rt.block_on(driver.drive(link, &stop, running))?;
    publish(&report(&driver), "edge stopped", path)
}

/// Everything the run loop owns besides the link socket.
struct Driver {
    /// The relay's edge end.
    edge: Edge,
    /// The multicast socket into the metro.
    out: UdpSocket,
    /// `--drop-rate`.
    dropper: Dropper,
    /// The unicast feed for viewers without multicast, if it runs.
    feed: Option<Feed>,
    /// The clock's origin.
    clock: Clock,
    /// Datagrams received from the central.
    received: u64,
    /// Of those, dropped by `--drop-rate`.
    dropped: u64,
}

impl Driver {
    /// The loop: the central's datagrams and timers in; the metro's multicast, NACKs and
    /// HELLOs out; `report` every 5 s.
    async fn drive(
        &mut self,
        link: UdpSocket,
        stop: &Stop,
        report: impl Fn(&Driver) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        link.set_nonblocking(true)?;
        let link = tokio::net::UdpSocket::from_std(link)?;
        let mut stopped = stop.watch()?;
        let (mut buf, mut msg) = (vec![0u8; 65_536], [0u8; 1500]);
        let mut next_report = Time::ZERO + REPORT_EVERY;
        while !stop.now() {
            let now = self.clock.now();
            while let Some(n) = self.edge.poll_transmit(now, &mut msg) {
                let _ = crate::net::send_connected(&link, &msg[..n]);
            }
            if let Some(f) = self.feed.as_mut() {
                let out = &self.out;
                f.flush(|bytes| out.send(bytes).is_ok());
            }
            if now >= next_report {
                next_report = next_report + REPORT_EVERY;
                report(self)?;
            }
            let feed_timer = self.feed.as_ref().and_then(|f| f.fanout.poll_timeout());
            let wake = driver::earliest([
                Some(self.edge.poll_timeout()),
                feed_timer,
                Some(next_report),
            ]);
            tokio::select! {
                () = stopped.wait() => break,
                r = link.readable() => { r?; self.take_upstream(&link, &mut buf)?; }
                r = driver::readable(self.feed.as_ref().map(|f| &f.socket)) => {
                    r?;
                    let now = self.clock.now();
                    if let Some(f) = self.feed.as_mut() {
                        f.take(now, &mut buf);
                    }
                }
                () = driver::sleep_until(&self.clock, wake) => {
                    let now = self.clock.now();
                    self.edge.handle_timeout(now);
                    if let Some(f) = self.feed.as_mut() {
                        f.fanout.handle_timeout(now);
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the central's waiting datagrams (up to a batch) and multicasts the first copies.
    fn take_upstream(
        &mut self,
        link: &tokio::net::UdpSocket,
        buf: &mut [u8],
    ) -> anyhow::Result<()> {
        for _ in 0..BATCH {
            match link.try_recv(buf) {
                Ok(n) => {
                    self.received += 1;
                    if self.dropper.drop() {
                        self.dropped += 1;
                    } else {
                        let now = self.clock.now();
                        if let Some(seq) = self.edge.handle_upstream(now, &buf[..n]) {
                            let _ = self.out.send(&buf[..n]);
                            if let Some(f) = self.feed.as_mut() {
                                f.fanout.on_datagram(now, seq, &buf[..n]);
                            }
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The central is down or restarting: the edge keeps saying HELLO until it
                // answers.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
                Err(e) => return Err(e).context("receive from upstream"),
            }
        }
        Ok(())
    }
}

/// Logs the headline figures and writes the statistics file, if asked for.
fn publish(r: &Report<'_>, what: &str, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    tracing::info!(
        forwarded = r.forwarded,
        recovered = r.recovered,
        unrecovered = r.unrecovered,
        unicast_viewers = r.unicast.as_ref().map_or(0, |u| u.viewers),
        "{what}"
    );
    path.map_or(Ok(()), |p| write_json(p, r))
}
