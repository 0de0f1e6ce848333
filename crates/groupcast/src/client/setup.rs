//! Setting a client up from its command line and its session: sockets, the core's
//! configuration, and the manager's assignments as the core's groups.

use super::Args;
use crate::net::{self, Iface};
use anyhow::Context;
use groupcast_api::{Assignment, SessionId, SessionInfo};
use groupcast_core::{Backup, Config, Group, Member};
use groupcast_wire::proto::KEY_LEN;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// The stream kept since the last random access point for members' fast starts: two GOPs of
/// 2 s at 20 Mbit/s.
const GOP_BYTES: usize = 12 << 20;

/// The peer socket: `--peer-listen`, else the `--iface` address (IPv4), else any address on
/// a free port: IPv6 and IPv4 both (a dual-stack socket) for an IPv6 interface, IPv4 otherwise.
pub(super) fn bind_peer(listen: Option<SocketAddr>, iface: &Iface) -> anyhow::Result<UdpSocket> {
    let addr = listen.unwrap_or_else(|| match iface {
        Iface::V4(a) => SocketAddr::new(IpAddr::V4(*a), 0),
        Iface::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        Iface::Default => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    });
    let socket = UdpSocket::bind(addr).with_context(|| format!("bind peer socket {addr}"))?;
    crate::net::roomy(socket)
}

/// The multicast receiver for the session's group (and SSM source, if the channel names one).
pub(super) fn media_socket(info: &SessionInfo, iface: &Iface) -> anyhow::Result<UdpSocket> {
    let group: SocketAddr = info
        .channel
        .group
        .parse()
        .with_context(|| format!("channel group {:?}", info.channel.group))?;
    let source = match &info.channel.source {
        Some(s) => Some(
            s.parse::<IpAddr>()
                .with_context(|| format!("SSM source {s:?}"))?,
        ),
        None => None,
    };
    net::multicast_receiver(group, iface, source)
}

/// The core's configuration from the session and the command line.
pub(super) fn core_config(args: &Args, info: &SessionInfo) -> anyhow::Result<Config> {
    let group = info.channel.group.parse()?;
    let mut c = Config::new(info.channel.id, info.session, group);
    c.chunk_packets = info.channel.chunk_packets.max(1) as usize;
    let buffer_ms = args.buffer_ms.unwrap_or(u64::from(info.channel.buffer_ms));
    c.buffer = Duration::from_millis(buffer_ms);
    c.repair_enabled = !args.no_repair;
    c.serve_enabled = !args.no_serve;
    c.fast_start = !args.no_fast_start;
    c.strategy = args.request_strategy.into();
    c.gop_bytes = GOP_BYTES;
    let uplink_bps = match args.uplink_mbps {
        Some(mbps) if (0.0..=100_000.0).contains(&mbps) => mbps * 1e6,
        Some(_) => anyhow::bail!("--uplink-mbps must be 0 (no cap) to 100000"),
        None => f64::from(info.channel.uplink_kbps) * 1e3,
    };
    c.uplink_bytes_per_sec = (uplink_bps / 8.0).min(f64::from(u32::MAX)) as u32;
    c.initial_counter = crate::driver::clock::wall_micros();
    getrandom::fill(&mut c.nonce_secret).context("random ping-nonce secret")?;
    Ok(c)
}

/// The manager's assignment as the core's group, for session `me`: each other member, and
/// each backup, with the key we share with it. Those with unusable addresses or keys are
/// left out.
pub(super) fn to_group(me: SessionId, a: &Assignment) -> Group {
    let members = a
        .members
        .iter()
        .filter_map(|m| {
            let addr = m.peer_addr.parse().ok()?;
            let key = match groupcast_api::parse_key(&m.key) {
                Some(k) => k,
                None if m.session == me => [0; KEY_LEN],
                None => return None,
            };
            Some(Member {
                id: m.session,
                addr,
                key,
            })
        })
        .collect();
    let backups = a
        .backups
        .iter()
        .filter(|b| b.session != me && a.members.iter().all(|m| m.session != b.session))
        .filter_map(|b| {
            Some(Backup {
                member: Member {
                    id: b.session,
                    addr: b.peer_addr.parse().ok()?,
                    key: groupcast_api::parse_key(&b.key)?,
                },
                epoch: b.epoch,
            })
        })
        .collect();
    Group {
        epoch: a.epoch,
        members,
        backups,
    }
}

/// `--stats-json`, with a gateway's channel name before the extension (`stats.news.json`).
pub(super) fn stats_path(args: &Args, channel: Option<&str>) -> Option<PathBuf> {
    let path = args.stats_json.clone()?;
    let Some(channel) = channel else {
        return Some(path);
    };
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{channel}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{channel}"),
    };
    Some(path.with_file_name(name))
}
