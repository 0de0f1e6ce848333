//! `groupcast source`: reads MPEG-TS (a file paced by its PCR, or live UDP/RTP), sends it as
//! RTP to a multicast group, and relays it by unicast to authenticated edges.

use crate::driver::{Stop, clock};
use crate::net::{self, Iface};
use crate::stats::{Spread, write_json};
use anyhow::{Context, bail};
use groupcast_source::{Central, Pacer, RtpStamper, TsSync};
use groupcast_wire::Ssrc;
use groupcast_wire::rtp::RtpPacket;
use serde::Serialize;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Packets held before the first PCR before a file is refused (about 12 MB).
const MAX_BEFORE_PCR: usize = 65_536;

/// Options of `groupcast source`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A TS file, `udp://@IP:PORT` (raw TS over UDP) or `rtp://@IP:PORT` (RTP/TS).
    #[arg(long)]
    input: String,
    /// The multicast group to send to, IP:PORT (IPv4 or IPv6).
    #[arg(long)]
    group: SocketAddr,
    /// Outgoing interface: an IPv4 address, or an IPv6 interface name or index.
    #[arg(long)]
    iface: Option<String>,
    /// Multicast TTL / hop limit.
    #[arg(long, default_value_t = 1)]
    ttl: u32,
    /// Start the file again at its end, with continuous timing.
    #[arg(long = "loop")]
    looped: bool,
    /// Pace a file without PCR at this many bits per second.
    #[arg(long)]
    bitrate: Option<u64>,
    /// Send a file as fast as possible, ignoring its clock (benchmarks).
    #[arg(long)]
    unpaced: bool,
    /// Accept edges on this address and relay the stream to them.
    #[arg(long)]
    relay_listen: Option<SocketAddr>,
    /// The token edges must prove (also from the environment).
    #[arg(long, env = "GROUPCAST_EDGE_TOKEN", hide_env_values = true)]
    edge_token: Option<String>,
    /// How much history the retransmission ring keeps for edges, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    ring_ms: u64,
    /// Write statistics here as JSON at exit (and every 5 s).
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
}

/// What the source reports.
#[derive(Debug, Default, Serialize)]
struct Stats {
    ssrc: u32,
    packets: u64,
    bytes: u64,
    /// Sending late relative to the stream clock (file input).
    pacing_error: Spread,
    pcr_discontinuities: u64,
    loops: u64,
    bytes_skipped: u64,
    bad_input: u64,
    input_stalls: u64,
    relay: Option<RelayStats>,
    seconds: f64,
}

#[derive(Debug, Default, Serialize)]
struct RelayStats {
    relayed: u64,
    retransmitted: u64,
    nack_missed: u64,
    nack_limited: u64,
    unauthenticated: u64,
    replayed: u64,
    edges: Vec<EdgeState>,
}

#[derive(Debug, Serialize)]
struct EdgeState {
    name: String,
    addr: String,
    relayed: u64,
    retransmitted: u64,
    last_hello_ms_ago: u64,
}

/// Where the TS comes from.
enum Input {
    File(PathBuf),
    Udp(SocketAddr),
    Rtp(SocketAddr),
}

fn parse_input(s: &str) -> anyhow::Result<Input> {
    let addr = |rest: &str| -> anyhow::Result<SocketAddr> {
        rest.trim_start_matches('@')
            .parse()
            .with_context(|| format!("--input {s}: expected IP:PORT after the scheme"))
    };
    if let Some(rest) = s.strip_prefix("udp://") {
        Ok(Input::Udp(addr(rest)?))
    } else if let Some(rest) = s.strip_prefix("rtp://") {
        Ok(Input::Rtp(addr(rest)?))
    } else if s.contains("://") {
        bail!("--input {s}: unknown scheme (use a file path, udp://@IP:PORT or rtp://@IP:PORT)")
    } else {
        Ok(Input::File(s.into()))
    }
}

/// The sending side shared by file and live input.
struct Sender {
    out: UdpSocket,
    stamper: RtpStamper,
    relay: Option<(UdpSocket, Central)>,
    start: Instant,
    stats: Stats,
    stats_json: Option<PathBuf>,
    next_report: Instant,
    buf: Vec<u8>,
}

impl Sender {
    /// Stamps and multicasts one datagram's TS, and queues it for the edges.
    fn send(&mut self, ticks: u64, ts: &[u8]) -> anyhow::Result<()> {
        let Some((seq, len)) = self.stamper.stamp(ticks, ts, &mut self.buf) else {
            bail!("datagram too large")
        };
        match self.out.send(&self.buf[..len]) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("send to the multicast group"),
        }
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        if let Some((_, central)) = self.relay.as_mut() {
            central.on_sent(clock::now(self.start), seq, &self.buf[..len]);
        }
        self.service()
    }

    /// Reads edge messages and sends what the relay has queued; reports every 5 s.
    fn service(&mut self) -> anyhow::Result<()> {
        if let Some((sock, central)) = self.relay.as_mut() {
            let mut buf = [0u8; 2048];
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => central.handle_edge(clock::now(self.start), from, &buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e).context("relay socket"),
                }
            }
            while let Some((to, bytes)) = central.poll_transmit() {
                let _ = sock.send_to(bytes, to);
            }
        }
        if Instant::now() >= self.next_report {
            self.next_report += Duration::from_secs(5);
            self.report(false)?;
        }
        Ok(())
    }

    fn report(&mut self, last: bool) -> anyhow::Result<()> {
        self.stats.seconds = self.start.elapsed().as_secs_f64();
        if let Some((_, c)) = &self.relay {
            let s = c.stats();
            let now = clock::now(self.start);
            self.stats.relay = Some(RelayStats {
                relayed: s.relayed,
                retransmitted: s.retransmitted,
                nack_missed: s.nack_missed,
                nack_limited: s.nack_limited,
                unauthenticated: s.unauthenticated,
                replayed: s.replayed,
                edges: c
                    .edges()
                    .map(|e| EdgeState {
                        name: e.name.clone(),
                        addr: e.addr.to_string(),
                        relayed: e.relayed,
                        retransmitted: e.retransmitted,
                        last_hello_ms_ago: now.saturating_since(e.last_hello).as_millis() as u64,
                    })
                    .collect(),
            });
        }
        let s = &self.stats;
        tracing::info!(
            packets = s.packets,
            mbps = format!("{:.2}", s.bytes as f64 * 8.0 / s.seconds.max(1e-3) / 1e6),
            pacing_mean_us = format!("{:.0}", s.pacing_error.mean_us),
            pacing_max_us = s.pacing_error.max_us,
            edges = s.relay.as_ref().map_or(0, |r| r.edges.len()),
            "{}",
            if last {
                "source stopped"
            } else {
                "source running"
            }
        );
        if let Some(path) = &self.stats_json {
            write_json(path, &self.stats)?;
        }
        Ok(())
    }
}

/// Runs `groupcast source`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let input = parse_input(&args.input)?;
    let iface = Iface::parse(args.iface.as_deref())?;
    let out = net::multicast_sender(args.group, &iface, args.ttl)?;
    let relay = match (args.relay_listen, &args.edge_token) {
        (Some(addr), Some(token)) if !token.is_empty() => {
            let sock = UdpSocket::bind(addr).with_context(|| format!("--relay-listen {addr}"))?;
            sock.set_nonblocking(true)?;
            Some((
                sock,
                Central::new(token.as_bytes(), Duration::from_millis(args.ring_ms)),
            ))
        }
        (Some(_), _) => bail!("--relay-listen needs --edge-token (or GROUPCAST_EDGE_TOKEN)"),
        (None, _) => None,
    };
    let ssrc = Ssrc(getrandom::u32().context("random SSRC")?);
    let first_seq = getrandom::u32().context("random sequence number")? as u16;
    let stamper = RtpStamper::new(
        ssrc,
        first_seq,
        getrandom::u32().context("random timestamp")?,
    );
    tracing::info!(group = %args.group, ssrc = %ssrc, input = args.input, "source starting");
    let mut sender = Sender {
        out,
        stamper,
        relay,
        start: Instant::now(),
        stats: Stats {
            ssrc: ssrc.0,
            ..Stats::default()
        },
        stats_json: args.stats_json.clone(),
        next_report: Instant::now() + Duration::from_secs(5),
        buf: vec![0u8; 2048],
    };
    let stop = Stop::new(args.duration)?;
    match input {
        Input::File(path) => send_file(&mut sender, &path, args, &stop)?,
        Input::Udp(addr) => send_live(&mut sender, addr, &iface, false, &stop)?,
        Input::Rtp(addr) => send_live(&mut sender, addr, &iface, true, &stop)?,
    }
    sender.report(true)
}

/// Paces a file by its PCR (or bitrate), looping if asked.
fn send_file(sender: &mut Sender, path: &PathBuf, args: &Args, stop: &Stop) -> anyhow::Result<()> {
    let mut pacer = match args.bitrate {
        Some(b) => Pacer::by_bitrate(b),
        None => Pacer::by_pcr(MAX_BEFORE_PCR),
    };
    let mut sync = TsSync::new();
    let mut origin: Option<(Instant, u64)> = None;
    let mut ts = Vec::with_capacity(7 * 188);
    let mut chunk = vec![0u8; 188 * 512];
    'passes: loop {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        loop {
            let n = file
                .read(&mut chunk)
                .with_context(|| format!("read {}", path.display()))?;
            let mut err = None;
            if n == 0 {
                sync.finish(|p| err = err.or(pacer.push(*p).err()));
            } else {
                sync.push(&chunk[..n], |p| err = err.or(pacer.push(*p).err()));
            }
            if let Some(e) = err {
                bail!("{}: {e}", path.display());
            }
            let at_end = n == 0;
            if at_end && !args.looped {
                pacer.finish();
            }
            while let Some(at) = pacer.poll(at_end && !args.looped, &mut ts) {
                let (t0, a0) = *origin.get_or_insert((Instant::now(), at));
                if !args.unpaced {
                    let due = t0 + Duration::from_micros((at - a0) / 27);
                    wait_until(sender, due, stop)?;
                    sender
                        .stats
                        .pacing_error
                        .add(Instant::now().saturating_duration_since(due).as_micros() as i64);
                }
                if stop.now() {
                    break 'passes;
                }
                sender.send(at, &ts)?;
            }
            if at_end {
                break;
            }
        }
        sender.stats.bytes_skipped = sync.skipped();
        sender.stats.pcr_discontinuities = pacer.discontinuities();
        if !args.looped || stop.now() {
            break;
        }
        sender.stats.loops += 1;
        pacer.restart_input();
    }
    Ok(())
}

/// Sleeps until `due` (no busy-waiting: the kernel's timer slack, tens of microseconds, is
/// far below what a player notices), serving the relay at least every 2 ms meanwhile.
fn wait_until(sender: &mut Sender, due: Instant, stop: &Stop) -> anyhow::Result<()> {
    loop {
        sender.service()?;
        let now = Instant::now();
        if now >= due || stop.now() {
            return Ok(());
        }
        std::thread::sleep((due - now).min(Duration::from_millis(2)));
    }
}

/// Forwards live TS from UDP or RTP as it arrives, regrouped into 7-packet datagrams.
fn send_live(
    sender: &mut Sender,
    addr: SocketAddr,
    iface: &Iface,
    rtp: bool,
    stop: &Stop,
) -> anyhow::Result<()> {
    let input = net::input_socket(addr, iface)?;
    input.set_read_timeout(Some(Duration::from_millis(5)))?;
    let mut sync = TsSync::new();
    let (mut buf, mut pending, mut ts) = (
        vec![0u8; 65_536],
        Vec::<u8>::with_capacity(7 * 188),
        Vec::new(),
    );
    let mut last_data = Instant::now();
    let mut stalled = false;
    while !stop.now() {
        let n = match input.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
            Err(e) => return Err(e).context("receive input"),
        };
        let ticks = sender.start.elapsed().as_micros() as u64 * 27;
        if n > 0 {
            if stalled {
                tracing::info!("input resumed");
                stalled = false;
            }
            last_data = Instant::now();
            let payload = if rtp {
                match RtpPacket::parse(&buf[..n]) {
                    Ok(p) => p.payload,
                    Err(_) => {
                        sender.stats.bad_input += 1;
                        continue;
                    }
                }
            } else {
                &buf[..n]
            };
            sync.push(payload, |p| pending.extend_from_slice(p));
            while pending.len() >= 7 * 188 {
                ts.clear();
                ts.extend(pending.drain(..7 * 188));
                sender.send(ticks, &ts)?;
            }
        } else if !pending.is_empty() && last_data.elapsed() > Duration::from_millis(50) {
            sender.send(ticks, &pending)?;
            pending.clear();
        }
        if !stalled && last_data.elapsed() > Duration::from_secs(1) {
            tracing::warn!("input stalled: no data for 1 s; waiting");
            sender.stats.input_stalls += 1;
            stalled = true;
        }
        sender.stats.bytes_skipped = sync.skipped();
        sender.service()?;
    }
    Ok(())
}
