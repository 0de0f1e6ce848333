//! Return routability (issue 13, finding 2, peer side): a member that registered someone
//! else's address (a victim that never answers) cannot aim repairs, bursts or requests at it.
//! Until an address echoes one of our ping nonces, it gets only pings and pongs, bounded.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use groupcast_core::{Client, Config, Time};
use groupcast_wire::proto::{Body, ChannelId, Ranges, SenderId, SeqRange};
use std::time::Duration;

/// Member 1 with the stream, in a group with member 2, whose registered address
/// (`peer_addr(2)`) is the victim's: member 2 sends from elsewhere and never sees what goes
/// there. Member 2 asks for everything it can for `secs` seconds; returns the bytes member 1
/// sent to the victim by message type, and member 1.
fn attack(secs: u64, answer_pings: bool) -> ([u64; 8], Client) {
    let mut c = Config::new(ChannelId(1), SenderId(1), group_addr());
    c.buffer = Duration::from_millis(200);
    c.expected_pps = 1000;
    c.gop_bytes = 4 << 20;
    c.nonce_secret = [0x5a; 32];
    let mut x = Client::new(c).unwrap();
    x.set_group(Time::ZERO, &group(1, KEY, 2));
    let (mut by_type, mut counter) = ([0u64; 8], 1u64);
    for ms in 0..secs * 1000 {
        let now = Time::from_millis(ms);
        x.handle_media(now, source_addr(), &rtp(ms as u16));
        x.handle_timeout(now);
        while x.poll_playout(now).is_some() {}
        // Every ms: a request for the last 100 packets, and a fast start ask.
        let start = (ms as u16).saturating_sub(100);
        let ranges = [SeqRange { start, len: 100 }];
        let body = Body::Request {
            ssrc: SSRC,
            answerers: 0,
            ranges: Ranges::List(&ranges),
        };
        for body in [body, Body::FastStart, Body::Ping { nonce: ms }] {
            x.handle_peer(now, &message_to(1, 2, counter, 1, &KEY, body));
            counter += 1;
        }
        for (dst, bytes) in drain(&mut x, now) {
            assert_eq!(dst, peer_addr(2));
            by_type[usize::from(bytes[3])] += bytes.len() as u64;
            if answer_pings && bytes[3] == 3 {
                // The control: a member that does receive at its address answers.
                let env = groupcast_wire::proto::Envelope::parse(&bytes).unwrap();
                let msg = env.open(&key_between(1, dst, 1)).unwrap();
                let Body::Ping { nonce } = msg.body else {
                    unreachable!()
                };
                let pong = Body::Pong {
                    echo_counter: msg.header.counter,
                    echo_timestamp_us: msg.header.timestamp_us,
                    echo_nonce: nonce,
                };
                x.handle_peer(now, &message_to(1, 2, counter, 1, &KEY, pong));
                counter += 1;
            }
        }
    }
    (by_type, x)
}

#[test]
fn an_address_that_never_proves_itself_gets_no_repair_burst_or_request() {
    let (sent, x) = attack(10, false);
    let (requests, repairs, bursts) = (sent[1], sent[2], sent[6]);
    assert_eq!(
        (requests, repairs, bursts),
        (0, 0, 0),
        "bytes towards the unproven address by type: {sent:?}"
    );
    // What does go there: pings (50, 100, 200, 400, 800 ms apart, then every second, plus
    // at most one challenge per 50 ms) and pongs (at most one per 100 ms): small and bounded
    // whatever the attacker sends (30,000 messages here).
    let total: u64 = sent.iter().sum();
    assert!(total <= 10 * 3_000, "{total} bytes in 10 s: {sent:?}");
    let c = &x.stats().counters;
    assert!(c.unverified_refused > 25_000, "{}", c.unverified_refused);
    assert_eq!((c.repairs_served, c.fast_starts_served), (0, 0));
}

#[test]
fn the_control_a_member_that_answers_is_served() {
    let (sent, x) = attack(2, true);
    assert!(sent[2] > 100_000, "repairs flow once proven: {sent:?}");
    assert!(x.stats().counters.repairs_served > 0);
}
