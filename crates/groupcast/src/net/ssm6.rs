//! The IPv6 source-specific join (MLDv2 INCLUDE mode, RFC 3810 / RFC 4607), which socket2 does
//! not offer: `setsockopt(IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP)` with a `group_source_req`.
//!
//! The crate's only `unsafe` code lives here (the workspace denies it elsewhere): building two
//! C socket addresses and one `setsockopt` call on a struct of this stack frame.
#![allow(unsafe_code)]

use socket2::Socket;
use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;

/// Joins `group` for datagrams from `source` only, on interface `index` (0: the kernel's
/// choice): the kernel reports (source, group) by MLDv2 and drops other senders' datagrams.
pub(crate) fn join_ssm_v6(
    socket: &Socket,
    group: Ipv6Addr,
    source: Ipv6Addr,
    index: u32,
) -> std::io::Result<()> {
    let req = libc::group_source_req {
        gsr_interface: index,
        gsr_group: storage(group),
        gsr_source: storage(source),
    };
    // SAFETY: `req` is a fully initialised `group_source_req` that outlives the call, the
    // length is its exact size, and the kernel only reads it; the fd is open for the call
    // (borrowed from `socket`).
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::MCAST_JOIN_SOURCE_GROUP,
            std::ptr::from_ref(&req).cast(),
            size_of::<libc::group_source_req>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `ip` as a `sockaddr_in6` inside a `sockaddr_storage` (port 0, no scope).
fn storage(ip: Ipv6Addr) -> libc::sockaddr_storage {
    let in6 = libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: ip.octets(),
        },
        sin6_scope_id: 0,
    };
    // SAFETY: `sockaddr_storage` is plain old data, valid when all zero.
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: `sockaddr_storage` is at least as large as and aligned for every socket address
    // type, `sockaddr_in6` included (that is its purpose); the write stays inside `s`.
    unsafe { std::ptr::write(std::ptr::from_mut(&mut s).cast::<libc::sockaddr_in6>(), in6) };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_laid_out_as_the_kernel_reads_it() {
        let ip: Ipv6Addr = "ff3e::4242".parse().unwrap();
        let s = storage(ip);
        assert_eq!(s.ss_family, libc::AF_INET6 as libc::sa_family_t);
        // SAFETY: `s` was written as a `sockaddr_in6` by `storage`.
        let in6 = unsafe { &*std::ptr::from_ref(&s).cast::<libc::sockaddr_in6>() };
        assert_eq!(in6.sin6_addr.s6_addr, ip.octets());
        assert_eq!(in6.sin6_port, 0);
    }

    #[test]
    fn a_source_specific_join_is_accepted_and_a_bad_one_refused() {
        let sock = Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
        let group: Ipv6Addr = "ff3e::4243".parse().unwrap();
        let source: Ipv6Addr = "::1".parse().unwrap();
        // Interface 1 is loopback on Linux; no datagram is sent by this test.
        join_ssm_v6(&sock, group, source, 1).unwrap();
        let again = join_ssm_v6(&sock, group, source, 1).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{again}");
        let unicast: Ipv6Addr = "fd00::1".parse().unwrap();
        assert!(
            join_ssm_v6(&sock, unicast, source, 1).is_err(),
            "not a group"
        );
    }
}
