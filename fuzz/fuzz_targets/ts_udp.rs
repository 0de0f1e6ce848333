//! TS payload checks and the UDP checksum verifier never panic.
#![no_main]

use groupcast_wire::{ts, udp};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let _ = ts::check_payload(data);
    if let Ok(p) = ts::TsPacket::new_checked(data) {
        let _ = (p.pid(), p.pcr(), p.continuity_counter());
    }
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let _ = udp::parse_checked(v4, v4, data);
    let _ = udp::parse_checked(v6, v6, data);
    let _ = udp::parse_checked(v4, v6, data);
});
