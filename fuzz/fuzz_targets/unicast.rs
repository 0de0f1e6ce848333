//! The unicast fallback's relay: arbitrary datagrams never panic it, and arbitrary messages
//! signed under a valid ticket (so past authentication: JOINs, STANDBYs, NACKs with any
//! ranges, LEAVEs, any nonce, from any of a few addresses) never panic it or make it send more
//! than its answers and the media it holds; a viewer's machines (the feed's and the last
//! resort's) fed the same bytes never panic either.
#![no_main]

use groupcast_base::{SessionId, Time};
use groupcast_source::{Edge, EdgeConfig, Fanout, FanoutConfig, Standby};
use groupcast_wire::proto::{GroupKey, TAG_LEN, __tag_for_fuzzing};
use groupcast_wire::unicast::ticket_key;
use groupcast_wire::SeqNo;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::Duration;

const WALL: u64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    let mut relay = Fanout::new(FanoutConfig {
        channel: "news".into(),
        secret: b"fuzz secret".to_vec(),
        max_viewers: 4,
        keep: Duration::from_secs(1),
        challenge_secret: [7; 32],
        initial_counter: 1,
        max_standby: 4,
        repair_permille: 10,
        multicast_after: 2,
    });
    let mut viewer = Edge::viewer(EdgeConfig::new("v"), SessionId(1));
    let expires = WALL + 60_000;
    let key = ticket_key(b"fuzz secret", "news", SessionId(1), expires);
    viewer.set_ticket(expires, &key);
    let mut standby = Standby::new(SessionId(1), 1);
    standby.set_ticket(expires, &key);
    let gk = GroupKey::new(&key);
    for i in 0..20u64 {
        relay.on_datagram(Time::from_millis(i), SeqNo(i), &[0x80, 33, 0, i as u8, 0, 0, 0, 0]);
    }
    let mut buf = [0u8; 2048];
    // The relay's latest challenge, echoed from then on (so viewers get admitted and their
    // NACKs reach the ring and the budgets).
    let mut nonce = [0u8; 16];
    for (i, chunk) in data.chunks(64).enumerate() {
        let now = Time::from_millis(100 + i as u64);
        let from = SocketAddr::from(([127, 0, 0, 1], 5000 + u16::from(chunk[0] % 3)));
        relay.handle_viewer(now, WALL, from, chunk);
        let _ = viewer.handle_upstream(now, chunk);
        let _ = standby.handle(now, chunk);
        // The same bytes as the body of a message under the valid ticket.
        let mut msg = vec![b'G', b'U', 1, 1 + chunk[0] % 6];
        msg.extend_from_slice(&(i as u64 + 1).to_be_bytes());
        msg.extend_from_slice(&1u64.to_be_bytes());
        msg.extend_from_slice(&expires.to_be_bytes());
        msg.extend_from_slice(&nonce);
        msg.extend_from_slice(&chunk[1..]);
        let tag = __tag_for_fuzzing(&gk, &msg);
        msg.extend_from_slice(&tag[..TAG_LEN]);
        relay.handle_viewer(now, WALL, from, &msg);
        let _ = viewer.handle_upstream(now, &msg);
        let _ = standby.handle(now, &msg);
        relay.handle_timeout(now);
        viewer.handle_timeout(now);
        let mut sent = 0;
        while let Some((_, n)) = relay.poll_transmit(&mut buf) {
            sent += 1;
            // Each of at most 4 viewers: its media and at most a burst of retransmissions;
            // and the answers queued.
            assert!(sent <= 4 * (20 + 1_000) + 256, "the relay sends beyond its budgets");
            if n >= 44 && buf[..2] == *b"GU" && buf[3] == 4 {
                nonce.copy_from_slice(&buf[28..44]);
            }
        }
        let mut resent = 0;
        while relay.poll_multicast(&mut buf).is_some() {
            resent += 1;
            assert!(resent <= 256, "the relay resends beyond its queue");
        }
        while viewer.poll_transmit(now, &mut buf).is_some() {}
        standby.nack(groupcast_wire::Ssrc(1), &[chunk[0].into(), 7]);
        while standby.poll_transmit(now, &mut buf).is_some() {}
    }
});
