//! A client fed arbitrary multicast and peer datagrams (some of them validly signed, so they
//! reach the handlers) interleaved with timer runs never panics, and its counters stay sane.
#![no_main]

use groupcast_core::{Client, Config, Group, Time};
use groupcast_wire::proto::{
    Body, ChannelId, Envelope, GroupEpoch, GroupKey, Header, KEY_LEN, Message, SenderId, pair_key,
};
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
    let members = (1..=3).map(|id| (SenderId(id), SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16))));
    let epoch = GroupEpoch(1);
    c.set_group(Time::ZERO, &Group::derived(epoch, &[5; KEY_LEN], SenderId(1), members));
    // The key member 2 and we share; member 2 proves its address by answering our ping, so
    // its fuzzed requests reach the server.
    let key = GroupKey::new(&pair_key(&[5; KEY_LEN], epoch, SenderId(1), SenderId(2)));
    let mut buf = [0u8; 1600];
    c.handle_timeout(Time::ZERO);
    let mut pings = Vec::new();
    while let Some(t) = c.poll_transmit(Time::ZERO, &mut buf) {
        if t.dst.port() == 9002 {
            pings.push(buf[..t.len].to_vec());
        }
    }
    for ping in pings {
        let Ok(Message { header: h, body: Body::Ping { nonce } }) =
            Envelope::parse(&ping).and_then(|e| e.open(&key))
        else {
            continue;
        };
        let header = Header { sender: SenderId(2), counter: 0, ..h };
        let pong = Body::Pong { echo_counter: h.counter, echo_timestamp_us: h.timestamp_us, echo_nonce: nonce };
        let n = Message { header, body: pong }.emit(&key, &mut buf).expect("a pong fits");
        let pong = buf[..n].to_vec();
        c.handle_peer(Time::ZERO, &pong);
    }
    let mut now = 0u64;
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
