//! The options of `groupcast client`.

use groupcast_core::RequestStrategy;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `groupcast client`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Args {
    /// The manager's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub(crate) manager: String,
    /// The viewer's token (also from the environment).
    #[arg(long, env = "GROUPCAST_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
    /// CA certificate(s), PEM, that an https manager's certificate must chain to (default:
    /// the system's roots).
    #[arg(long, env = "GROUPCAST_CA", value_name = "FILE")]
    pub(crate) ca: Option<std::path::PathBuf>,
    /// The channel to watch. Without it the client is a local IPTV gateway: `--output
    /// http://ADDR` then serves `/playlist.m3u` and `/channel/NAME` for every channel the
    /// viewer may watch, tuning a channel while some player watches it.
    #[arg(long)]
    pub(crate) channel: Option<String>,
    /// This viewer's metro network.
    #[arg(long)]
    pub(crate) metro: String,
    /// Where the TS goes: `file:PATH`, `udp://HOST:PORT`, `http://ADDR` (players connect) or `-`.
    #[arg(long)]
    pub(crate) output: String,
    /// Interface to join multicast on: an IPv4 address, or an IPv6 interface name or index.
    #[arg(long)]
    pub(crate) iface: Option<String>,
    /// Address of the peer socket (default: the `--iface` address, else any, on a free port).
    /// A gateway takes its address and a free port for each channel.
    #[arg(long)]
    pub(crate) peer_listen: Option<SocketAddr>,
    /// Play-out buffer in ms (default: the channel's).
    #[arg(long)]
    pub(crate) buffer_ms: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Write statistics here as JSON (every 500 ms, at exit, and on SIGINT/SIGTERM).
    #[arg(long)]
    pub(crate) stats_json: Option<PathBuf>,
    /// TESTING ONLY: drop this share (0..1) of media datagrams on receipt (multicast, and the
    /// unicast fallback's).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) drop_rate: f64,
    /// TESTING ONLY: ignore every multicast datagram, as on a network that carries none.
    #[arg(long)]
    pub(crate) no_multicast: bool,
    /// TESTING ONLY: seed of `--drop-rate`.
    #[arg(long, default_value_t = 1)]
    pub(crate) drop_seed: u64,
    /// Never ask peers for repairs (a control: shows what multicast alone delivers). The
    /// manager gives such a session a group of its own, so it takes no repairing viewer's
    /// place in a repair group.
    #[arg(long)]
    pub(crate) no_repair: bool,
    /// Never answer peers' repair requests (nor their fast starts).
    #[arg(long)]
    pub(crate) no_serve: bool,
    /// Do not ask the group for the stream since its last keyframe on joining: wait for the
    /// next keyframe on multicast instead.
    #[arg(long)]
    pub(crate) no_fast_start: bool,
    /// No live status line, even on a terminal (a gateway never shows one).
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Gateway only: most channels tuned at once; a player asking for one more gets 503.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) max_channels: u32,
    /// The most this viewer uploads to its repair group, Mbit/s (0: no cap; default: the
    /// channel's). Repairs beyond it are refused and counted (`serve_uplink_limited`); each
    /// member may draw up to twice the stream's rate in bursts of a buffer's worth, within it.
    #[arg(long)]
    pub(crate) uplink_mbps: Option<f64>,
    /// When to receive the stream by unicast from the relay the manager's ticket names (the
    /// metro's edge, else the central): `auto` when no multicast arrives for
    /// --multicast-wait-ms, `always` (a network without multicast), `never`.
    #[arg(long, value_enum, default_value_t = super::fallback::Mode::Auto)]
    pub(crate) unicast: super::fallback::Mode,
    /// With `--unicast auto`: no multicast for this long, after the join or since the last
    /// datagram, switches to unicast, ms. The default covers a lost first IGMP/MLD report and
    /// its repetition (1 s apart) plus the routers' join, and outlasts short outages that the
    /// repair group bridges.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(200..=600_000))]
    pub(crate) multicast_wait_ms: u64,
    /// Do not ask the relay the manager's ticket names for what the repair group cannot
    /// supply in time (a control, for comparison).
    #[arg(long)]
    pub(crate) no_last_resort: bool,
    /// Who is asked for a lost packet and who answers: `all` (every member asked, every
    /// member holding it answers: the fastest repair), `rota` (every member asked, one
    /// answers per packet, everyone on a retry: about a quarter of the duplicate repairs and
    /// 40 % less upload, for a retry timer on the repairs whose first answer fails) or
    /// `ranked` (the best peer asked first). docs/simulation.md, "Who answers", compares them.
    #[arg(long, value_enum, default_value_t = Strategy::All)]
    pub(crate) request_strategy: Strategy,
}

/// Whom repair requests go to and who answers them (the core's [`RequestStrategy`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Strategy {
    /// Ask every member of the group; every member holding the packet answers (the seed's rule).
    All,
    /// Ask the best peer first, everyone on retries.
    Ranked,
    /// Ask every member; per packet, the first live member of a hashed rota answers, everyone
    /// on retries.
    Rota,
}

impl From<Strategy> for RequestStrategy {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::All => RequestStrategy::All,
            Strategy::Ranked => RequestStrategy::Ranked,
            Strategy::Rota => RequestStrategy::Rota,
        }
    }
}
