//! Sockets: multicast senders and receivers (IPv4 and IPv6, any-source and source-specific),
//! and unicast sockets.

mod ssm6;

use anyhow::{Context, bail};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Receive buffer asked for on media sockets (the kernel may cap it).
const RECV_BUFFER: usize = 8 << 20;

/// Gives a unicast socket that carries bursts (repairs and fast-start bursts between peers,
/// a relay's feed and answers) the buffers media sockets have: at the kernel's default
/// (208 KiB, about 90 datagrams of 1,358 bytes), a 10 Mbit/s channel's catch-up or its 4x
/// fast-start burst overflows it within a 100 ms scheduling stall, and the datagrams are
/// lost in the kernel (`RcvbufErrors`) before any counter of ours sees them.
pub(crate) fn roomy(socket: UdpSocket) -> anyhow::Result<UdpSocket> {
    let s = Socket::from(socket);
    s.set_recv_buffer_size(RECV_BUFFER)?;
    s.set_send_buffer_size(RECV_BUFFER)?;
    Ok(s.into())
}

/// Sends `bytes` on a connected UDP socket, straight to the kernel, and once more if the
/// kernel answered with the ICMP error an earlier datagram drew (port unreachable: the peer
/// was not up yet). Linux reports that pending error on the next send and drops the datagram
/// it was handed, and tokio's `try_send` refuses (`WouldBlock`) until the reactor has seen
/// the socket writable: a relay's STANDBY or an edge's HELLO sent just as its peer came up
/// was lost either way, and the registration waited for the next retry (200 ms, most of a
/// short buffer).
pub(crate) fn send_connected(
    socket: &tokio::net::UdpSocket,
    bytes: &[u8],
) -> std::io::Result<usize> {
    let s = socket2::SockRef::from(socket);
    match s.send(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => s.send(bytes),
        sent => sent,
    }
}

/// The outgoing interface: an IPv4 address, or for IPv6 an interface index or name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Iface {
    /// Let the routing table decide.
    Default,
    /// An IPv4 interface address.
    V4(Ipv4Addr),
    /// An IPv6 interface index.
    V6(u32),
}

impl Iface {
    /// Parses `--iface`: an IPv4 address, an interface index, or an interface name.
    pub(crate) fn parse(s: Option<&str>) -> anyhow::Result<Iface> {
        let Some(s) = s else {
            return Ok(Iface::Default);
        };
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Iface::V4(v4));
        }
        if let Ok(index) = s.parse::<u32>() {
            return Ok(Iface::V6(index));
        }
        let path = format!("/sys/class/net/{s}/ifindex");
        let index = std::fs::read_to_string(&path)
            .with_context(|| format!("--iface {s}: no such interface"))?;
        Ok(Iface::V6(index.trim().parse().with_context(|| {
            format!("--iface {s}: bad index in {path}")
        })?))
    }

    fn index(&self) -> u32 {
        match self {
            Iface::V6(i) => *i,
            _ => 0,
        }
    }

    fn v4(&self) -> Ipv4Addr {
        match self {
            Iface::V4(a) => *a,
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// A UDP socket sending to multicast `group` through `iface` with the given TTL (hop limit),
/// looping back to local receivers.
/// The first address of `host_port` (`HOST:PORT`, a DNS name or an IP), named `what` in errors.
pub(crate) fn resolve(what: &str, host_port: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    host_port
        .to_socket_addrs()
        .with_context(|| format!("{what} {host_port}"))?
        .next()
        .with_context(|| format!("{what} {host_port}: no address"))
}

pub(crate) fn multicast_sender(
    group: SocketAddr,
    iface: &Iface,
    ttl: u32,
) -> anyhow::Result<UdpSocket> {
    if !group.ip().is_multicast() {
        bail!("{group} is not a multicast address");
    }
    let socket = match group.ip() {
        IpAddr::V4(_) => {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_multicast_if_v4(&iface.v4())?;
            s.set_multicast_ttl_v4(ttl)?;
            s.set_multicast_loop_v4(true)?;
            s.bind(&SockAddr::from(SocketAddr::new(iface.v4().into(), 0)))?;
            s
        }
        IpAddr::V6(_) => {
            let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_multicast_if_v6(iface.index())?;
            s.set_multicast_hops_v6(ttl)?;
            s.set_multicast_loop_v6(true)?;
            s.bind(&SockAddr::from(SocketAddr::new(
                Ipv6Addr::UNSPECIFIED.into(),
                0,
            )))?;
            s
        }
    };
    socket.set_send_buffer_size(RECV_BUFFER)?;
    socket
        .connect(&SockAddr::from(group))
        .with_context(|| format!("no route to {group} (give --iface)"))?;
    Ok(socket.into())
}

/// A UDP socket receiving multicast `group` on `iface`; source-specific when `source` is given.
pub(crate) fn multicast_receiver(
    group: SocketAddr,
    iface: &Iface,
    source: Option<IpAddr>,
) -> anyhow::Result<UdpSocket> {
    let domain = if group.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_recv_buffer_size(RECV_BUFFER)?;
    // Bound to the group address, the socket sees only this group's traffic.
    s.bind(&SockAddr::from(group))
        .with_context(|| format!("bind {group}"))?;
    match (group.ip(), source) {
        (IpAddr::V4(g), None) => {
            s.join_multicast_v4(&g, &iface.v4())?;
            s.set_multicast_all_v4(false)?;
        }
        (IpAddr::V4(g), Some(IpAddr::V4(src))) => {
            s.join_ssm_v4(&src, &g, &iface.v4())?;
            s.set_multicast_all_v4(false)?;
        }
        (IpAddr::V6(g), None) => s.join_multicast_v6(&g, iface.index())?,
        (IpAddr::V6(g), Some(IpAddr::V6(src))) => {
            ssm6::join_ssm_v6(&s, g, src, iface.index())
                .with_context(|| format!("join ({src}, {g}) on interface {}", iface.index()))?;
            s.set_multicast_all_v6(false)?;
        }
        (IpAddr::V4(_), Some(_)) => bail!("the SSM source must be IPv4 like the group"),
        (IpAddr::V6(_), Some(_)) => bail!("the SSM source must be IPv6 like the group"),
    }
    Ok(s.into())
}

/// A UDP socket for unicast on `addr`, or one receiving multicast if `addr` is a group.
pub(crate) fn input_socket(addr: SocketAddr, iface: &Iface) -> anyhow::Result<UdpSocket> {
    if addr.ip().is_multicast() {
        return multicast_receiver(addr, iface, None);
    }
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_recv_buffer_size(RECV_BUFFER)?;
    s.bind(&SockAddr::from(addr))
        .with_context(|| format!("bind {addr}"))?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A datagram sent just after an earlier one drew "port unreachable" still goes out.
    #[tokio::test]
    async fn a_send_after_port_unreachable_is_not_lost() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let tx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(("127.0.0.1", port)).await.unwrap();
        send_connected(&tx, b"nobody").unwrap();
        // The ICMP error comes back over loopback at once; give it a moment all the same.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rx = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(send_connected(&tx, b"hello").unwrap(), 5);
        let mut buf = [0u8; 16];
        let n = rx
            .recv(&mut buf)
            .expect("the datagram after the error arrived");
        assert_eq!(&buf[..n], b"hello");
    }
}
