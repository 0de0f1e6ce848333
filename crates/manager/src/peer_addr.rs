//! Which `peer_addr` a caller may register (issue 13, finding 2).
//!
//! Members send pings, repair requests and repairs to every address in their group, so an
//! address the manager accepts is an address the whole group will send to. The manager
//! accepts only a unicast address with a port, and only the caller's own IP as the manager
//! sees it (an unspecified IP, `0.0.0.0` or `::`, means exactly that). Callers in an
//! operator-configured network ([`Config::peer_addr_from`](crate::Config), for viewers
//! behind NAT or a proxy that knows their public address) may name another unicast address.
//!
//! What it deliberately does not do: prove that the address receives (return routability is
//! the members' job), or guess directed-broadcast addresses of foreign networks (a caller
//! outside the trusted networks can only name itself; a trusted one is trusted).

use crate::error::ApiErr;
use axum::http::StatusCode;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An IP network, `ADDR/PREFIX` (e.g. `10.0.0.0/8`, `fd00::/8`), or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// The network's address (bits beyond the prefix are ignored).
    addr: IpAddr,
    /// How many leading bits must match.
    prefix: u8,
}

impl Network {
    /// True when `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// True when the first `bits` bits of `a` and `b` agree.
fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let mut left = usize::from(bits);
    for (x, y) in a.iter().zip(b) {
        let n = left.min(8);
        if n == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - n);
        if x & mask != y & mask {
            return false;
        }
        left -= n;
    }
    true
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, prefix) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("{s:?}: not an IP network (ADDR/PREFIX)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0 to {max}"))?
        };
        Ok(Network { addr, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// True when `ip` can be one host's address: not unspecified, multicast or broadcast.
fn unicast(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// The peer address to store for a caller at `caller` that asked for `requested`: 400 when
/// it is not a unicast `IP:PORT`, 403 when it is not the caller's and the caller is in none
/// of the `trusted` networks.
pub(crate) fn check(
    requested: &str,
    caller: IpAddr,
    trusted: &[Network],
) -> Result<SocketAddr, ApiErr> {
    let caller = caller.to_canonical();
    let mut peer: SocketAddr = requested
        .parse()
        .map_err(|_| ApiErr::bad(format!("peer_addr: {requested:?} is not IP:PORT")))?;
    if peer.port() == 0 {
        return Err(ApiErr::bad("peer_addr: port 0"));
    }
    peer.set_ip(peer.ip().to_canonical());
    if peer.ip().is_unspecified() {
        peer.set_ip(caller);
    }
    if !unicast(peer.ip()) {
        return Err(ApiErr::bad(format!(
            "peer_addr: {} is not a unicast address",
            peer.ip()
        )));
    }
    if peer.ip() != caller && !trusted.iter().any(|n| n.contains(caller)) {
        return Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            format!(
                "peer_addr: {} is not your address ({caller}); use {caller} or 0.0.0.0",
                peer.ip()
            ),
        ));
    }
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn status(requested: &str, caller: &str, trusted: &[&str]) -> u16 {
        let nets: Vec<Network> = trusted.iter().filter_map(|n| n.parse().ok()).collect();
        match check(requested, ip(caller), &nets) {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    #[test]
    fn only_the_callers_own_unicast_address() {
        assert_eq!(status("127.0.0.1:4000", "127.0.0.1", &[]), 200);
        assert_eq!(status("[::1]:4000", "::1", &[]), 200);
        assert_eq!(status("10.0.0.2:4000", "::ffff:10.0.0.2", &[]), 200);
        for bad in ["8.8.8.8:53", "127.0.0.2:22", "192.168.1.255:9", "[::1]:9"] {
            assert_eq!(status(bad, "127.0.0.1", &[]), 403, "{bad}");
        }
        for bad in [
            "255.255.255.255:9",
            "224.0.0.1:5004",
            "239.255.0.1:5004",
            "[ff02::1]:9",
            "127.0.0.1:0",
            "nowhere",
        ] {
            assert_eq!(status(bad, "127.0.0.1", &["0.0.0.0/0"]), 400, "{bad}");
        }
    }

    #[test]
    fn unspecified_means_the_caller() {
        let peer = check("0.0.0.0:7000", ip("10.1.2.3"), &[]).map(|p| p.to_string());
        assert_eq!(peer.ok().as_deref(), Some("10.1.2.3:7000"));
        let peer = check("[::]:7000", ip("::1"), &[]).map(|p| p.to_string());
        assert_eq!(peer.ok().as_deref(), Some("[::1]:7000"));
    }

    #[test]
    fn trusted_networks_may_name_another_unicast_address() {
        assert_eq!(status("203.0.113.7:4000", "10.0.0.9", &["10.0.0.0/8"]), 200);
        assert_eq!(status("203.0.113.7:4000", "11.0.0.9", &["10.0.0.0/8"]), 403);
        assert_eq!(status("[2001:db8::1]:9", "fd00::5", &["fd00::/8"]), 200);
        assert_eq!(status("203.0.113.7:4000", "10.0.0.9", &["10.0.0.9"]), 200);
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Network = "192.168.0.0/23".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(n.contains(ip("192.168.1.200")));
        assert!(!n.contains(ip("192.168.2.1")));
        assert!(!n.contains(ip("::1")));
        assert_eq!(n.to_string(), "192.168.0.0/23");
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("fd00::/129".parse::<Network>().is_err());
        assert!("x/8".parse::<Network>().is_err());
        let all: Network = "0.0.0.0/0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(all.contains(ip("8.8.8.8")));
    }
}
