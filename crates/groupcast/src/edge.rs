//! `groupcast edge`: receives the central's stream by unicast, NACKs what the link lost, and
//! re-multicasts every packet unchanged (same SSRC, same sequence numbers) in its metro.

use crate::driver::{Stop, clock};
use crate::dropper::Dropper;
use crate::net::{self, Iface};
use crate::stats::write_json;
use anyhow::{Context, bail};
use groupcast_source::{Edge, EdgeConfig, EdgeStats};
use serde::Serialize;
use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    seconds: f64,
}

/// Runs `groupcast edge`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.token.is_empty() {
        bail!("--token must not be empty");
    }
    let upstream = args
        .upstream
        .to_socket_addrs()
        .with_context(|| format!("--upstream {}", args.upstream))?
        .next()
        .with_context(|| format!("--upstream {}: no address", args.upstream))?;
    let local = args.listen.unwrap_or_else(|| {
        if upstream.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .unwrap_or(upstream)
    });
    let link = UdpSocket::bind(local).with_context(|| format!("bind {local}"))?;
    link.connect(upstream)?;
    link.set_read_timeout(Some(Duration::from_millis(2)))?;
    let out = net::multicast_sender(args.group, &Iface::parse(args.iface.as_deref())?, args.ttl)?;
    let name = args.name.clone().unwrap_or_else(|| args.group.to_string());
    let config = EdgeConfig {
        initial_counter: clock::wall_micros(),
        ..EdgeConfig::new(&name)
    };
    let mut edge = Edge::new(config, args.token.as_bytes());
    let mut dropper = Dropper::new(args.drop_rate, args.drop_seed)?;
    let (start, stop) = (Instant::now(), Stop::new(args.duration)?);
    let (mut buf, mut msg) = ([0u8; 65_536], [0u8; 1500]);
    let (mut received, mut dropped) = (0u64, 0u64);
    let mut next_report = start + Duration::from_secs(5);
    tracing::info!(upstream = %upstream, group = %args.group, name, "edge starting");
    let report = |s: &EdgeStats, received, dropped| Report {
        name: &name,
        upstream: &args.upstream,
        group: args.group.to_string(),
        received,
        dropped_for_testing: dropped,
        forwarded: s.forwarded,
        recovered: s.recovered,
        unrecovered: s.unrecovered,
        duplicates: s.duplicates,
        bad: s.bad,
        nacks_sent: s.nacks_sent,
        packets_nacked: s.packets_nacked,
        source_restarts: s.source_restarts,
        seconds: start.elapsed().as_secs_f64(),
    };
    while !stop.now() {
        match link.recv(&mut buf) {
            Ok(n) => {
                received += 1;
                if dropper.drop() {
                    dropped += 1;
                } else if edge.handle_upstream(clock::now(start), &buf[..n]) {
                    let _ = out.send(&buf[..n]);
                }
            }
            // The central is down or restarting: keep saying HELLO until it answers.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e).context("receive from upstream"),
        }
        let now = clock::now(start);
        edge.handle_timeout(now);
        while let Some(n) = edge.poll_transmit(now, &mut msg) {
            let _ = link.send(&msg[..n]);
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(5);
            publish(
                &report(edge.stats(), received, dropped),
                "edge running",
                args.stats_json.as_deref(),
            )?;
        }
    }
    publish(
        &report(edge.stats(), received, dropped),
        "edge stopped",
        args.stats_json.as_deref(),
    )
}

/// Logs the headline figures and writes the statistics file, if asked for.
fn publish(r: &Report<'_>, what: &str, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    tracing::info!(
        forwarded = r.forwarded,
        recovered = r.recovered,
        unrecovered = r.unrecovered,
        "{what}"
    );
    path.map_or(Ok(()), |p| write_json(p, r))
}
