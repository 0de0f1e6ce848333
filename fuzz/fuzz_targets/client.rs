//! A client fed arbitrary multicast and peer datagrams (some of them validly signed, so they
//! reach the handlers) interleaved with timer runs never panics, and its counters stay sane.
#![no_main]

use groupcast_core::{Client, Config, Group, Member, Time};
use groupcast_wire::proto::{ChannelId, GroupEpoch, KEY_LEN, SenderId};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let group: SocketAddr = "239.1.1.1:5004".parse().unwrap();
    let src: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut cfg = Config::new(ChannelId(1), SenderId(1), group);
    cfg.chunk_packets = 4;
    cfg.expected_pps = 100;
    cfg.buffer = std::time::Duration::from_millis(50);
    let mut c = Client::new(cfg).expect("valid config");
    let members = (1..=3).map(|id| Member { id: SenderId(id), addr: SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)) }).collect();
    c.set_group(Time::ZERO, &Group { epoch: GroupEpoch(1), key: [5; KEY_LEN], members });
    let key = groupcast_wire::proto::GroupKey::new(&[5; KEY_LEN]);
    let mut now = 0u64;
    let mut buf = [0u8; 1600];
    // Input: records of [kind, len, bytes...].
    let mut rest = data;
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]) * 8);
        let body = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        now += u64::from(kind & 0x0f) * 997;
        let t = Time::from_micros(now);
        match kind >> 6 {
            0 => c.handle_media(t, src, body),
            1 => c.handle_peer(t, body),
            2 => {
                // A signed message from member 2 with a fuzzed body.
                let mut msg = vec![b'G', b'C', 1, 1 + kind % 4, 0, 0, 0, 1, 0, 0, 0, 1];
                msg.extend_from_slice(&2u64.to_be_bytes());
                msg.extend_from_slice(&now.to_be_bytes());
                msg.extend_from_slice(&now.to_be_bytes());
                msg.extend_from_slice(body);
                let tag = groupcast_wire::proto::__tag_for_fuzzing(&key, &msg);
                msg.extend_from_slice(&tag);
                c.handle_peer(t, &msg);
            }
            _ => c.handle_timeout(t),
        }
        while c.poll_transmit(t, &mut buf).is_some() {}
        while c.poll_playout(t).is_some() {}
        while c.poll_event().is_some() {}
        let _ = c.poll_timeout();
    }
    let k = &c.stats().counters;
    assert!(k.repaired + k.unrecovered <= k.lost);
});
