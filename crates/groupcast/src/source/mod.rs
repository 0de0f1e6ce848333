//! `groupcast source`: reads MPEG-TS (a file paced by its PCR, or live UDP/RTP), sends it as
//! RTP to a multicast group, and relays it by unicast to authenticated edges.
//!
//! This file parses the options and sets up; [`drive`] is the run loop around the sans-IO
//! [`SourceInput`] and [`Central`]; [`report`] holds the figures.

mod drive;
mod encrypt;
mod report;

use crate::driver::{self, Stop};
use crate::net::{self, Iface};
use anyhow::{Context, bail};
use drive::{Feed, FileReader, Sender};
use groupcast_source::{Central, Pacer, RtpStamper, SourceInput};
use groupcast_wire::Ssrc;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

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
    /// A dual-stack channel's IPv6 group, `[IP]:PORT`: every datagram also goes there (then
    /// --group is the IPv4 one), the very same bytes.
    #[arg(long)]
    group6: Option<SocketAddr>,
    /// The IPv6 interface (name or index) for --group6.
    #[arg(long, requires = "group6")]
    iface6: Option<String>,
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
    /// How much history the retransmission ring keeps for edges and unicast viewers, in
    /// milliseconds; an unlooped file's source goes on answering their requests this long
    /// after its last datagram.
    #[arg(long, default_value_t = 2000)]
    ring_ms: u64,
    /// Write statistics here as JSON at exit (and every 5 s).
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Encrypt the stream with keys from this secret, shared with the manager (at least 32
    /// characters; also from the environment): the payloads of its PES packets, AES-128-CTR,
    /// with a key per period that the manager hands only to entitled sessions. Needs --channel.
    #[arg(
        long,
        env = "GROUPCAST_MEDIA_SECRET",
        hide_env_values = true,
        requires = "channel"
    )]
    media_secret: Option<String>,
    /// The channel's name at the manager (its media keys and unicast tickets are derived
    /// from it).
    #[arg(long)]
    channel: Option<String>,
    /// The unicast feed for viewers without multicast.
    #[command(flatten)]
    feed: crate::feed::FeedArgs,
    /// How long each media key is in force, seconds: the manager's --media-key-period-s.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(10..=86_400))]
    media_key_period_s: u32,
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

/// Runs `groupcast source`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let input = parse_input(&args.input)?;
    let iface = Iface::parse(args.iface.as_deref())?;
    let out = net::multicast_sender(args.group, &iface, args.ttl)?;
    let out6 = match args.group6 {
        Some(g6) if g6.is_ipv6() && g6.ip().is_multicast() && args.group.is_ipv4() => Some(
            net::multicast_sender(g6, &Iface::parse(args.iface6.as_deref())?, args.ttl)?,
        ),
        Some(g6) => bail!("--group6 {g6}: an IPv6 multicast group, beside an IPv4 --group"),
        None => None,
    };
    let relay = match (args.relay_listen, &args.edge_token) {
        (Some(addr), Some(token)) if !token.is_empty() => {
            let sock = UdpSocket::bind(addr).with_context(|| format!("--relay-listen {addr}"))?;
            let sock = crate::net::roomy(sock)?;
            let keep = Duration::from_millis(args.ring_ms);
            Some((sock, Central::new(token.as_bytes(), keep)))
        }
        (Some(_), _) => bail!("--relay-listen needs --edge-token (or GROUPCAST_EDGE_TOKEN)"),
        (None, _) => None,
    };
    let encrypt = match (&args.media_secret, &args.channel) {
        (Some(secret), Some(channel)) => {
            if secret.trim().len() < groupcast_manager::MIN_ADMIN_TOKEN {
                bail!(
                    "the media secret (GROUPCAST_MEDIA_SECRET) has {} characters; it must have \
                     at least {}, the same as the manager's",
                    secret.trim().len(),
                    groupcast_manager::MIN_ADMIN_TOKEN
                );
            }
            let period = u64::from(args.media_key_period_s) * 1000;
            Some(encrypt::Encrypt::new(secret, channel, period))
        }
        _ => None,
    };
    let ssrc = Ssrc(getrandom::u32().context("random SSRC")?);
    let first_seq = getrandom::u32().context("random sequence number")? as u16;
    let stamper = RtpStamper::new(
        ssrc,
        first_seq,
        getrandom::u32().context("random timestamp")?,
    );
    tracing::info!(group = %args.group, ssrc = %ssrc, input = args.input, "source starting");
    let (machine, feed) = open_input(input, args, &iface)?;
    let mut sender = Sender::new(machine, out, stamper);
    sender.out6 = out6;
    sender.stats.ssrc = ssrc.0;
    sender.stats_json.clone_from(&args.stats_json);
    let (relay_socket, central) = relay.unzip();
    sender.central = central;
    sender.encrypt = encrypt;
    let stop = Stop::new(args.duration)?;
    let rt = driver::runtime()?;
    let keep = Duration::from_millis(args.ring_ms);
    sender.feed =
        rt.block_on(async { crate::feed::Feed::open(&args.feed, args.channel.as_deref(), keep) })?;
    // The ring holds that much history: the last datagrams' losses can be repaired as long.
    if sender.central.is_some() || sender.feed.is_some() {
        sender.linger = keep;
    }
    let result = rt.block_on(sender.drive(feed, relay_socket, &stop));
    result?;
    sender.report(true)
}

/// The input machine and what feeds it: a file paced by its PCR (or bitrate), or a socket.
fn open_input(input: Input, args: &Args, iface: &Iface) -> anyhow::Result<(SourceInput, Feed)> {
    Ok(match input {
        Input::File(path) => {
            let pacer = match args.bitrate {
                Some(b) => Pacer::by_bitrate(b),
                None => Pacer::by_pcr(MAX_BEFORE_PCR),
            };
            let machine = SourceInput::file(pacer, !args.unpaced, args.looped);
            (machine, Feed::File(FileReader::open(path)?))
        }
        Input::Udp(addr) | Input::Rtp(addr) => {
            let rtp = matches!(input, Input::Rtp(_));
            let socket = net::input_socket(addr, iface)?;
            (
                SourceInput::live(groupcast_core::Time::ZERO, rtp),
                Feed::Live(socket),
            )
        }
    })
}
