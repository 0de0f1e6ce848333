//! The serving side: authenticated requests are answered from the raw buffer with the whole
//! UDP datagram; forged, foreign, stale and replayed ones are counted and never answered; the
//! per-peer budget caps what one requester can draw.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use groupcast_core::Time;
use groupcast_wire::proto::{Body, Envelope, Ranges, SeqRange};

fn request(sender: u64, counter: u64, key: &[u8; 32], start: u16, len: u16) -> Vec<u8> {
    let ranges = [SeqRange { start, len }];
    message(
        sender,
        counter,
        1,
        key,
        Body::Request {
            ssrc: SSRC,
            answerers: 0,
            ranges: Ranges::List(&ranges),
        },
    )
}

#[test]
fn answers_an_authenticated_request_with_the_original_datagram() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 100, 120, &[], 0);
    let now = Time::from_millis(25);
    c.handle_peer(now, &request(2, 1, &KEY, 105, 2));
    let out: Vec<_> = drain(&mut c, now)
        .into_iter()
        .filter(|(_, b)| b[3] == 2)
        .collect();
    assert_eq!(out.len(), 2);
    assert!(
        out.iter().all(|(dst, _)| *dst == peer_addr(2)),
        "answers go to the member's registered address"
    );
    let env = Envelope::parse(&out[0].1).unwrap();
    let Body::Repair(r) = env.open(&key_between(1, out[0].0, 1)).unwrap().body else {
        panic!("not a repair")
    };
    assert_eq!(
        (r.sequence, r.src, r.dst),
        (105, source_addr(), group_addr())
    );
    assert_eq!(
        r.rtp,
        rtp(105).as_slice(),
        "the whole original datagram, byte for byte"
    );
    assert_eq!(c.stats().counters.repairs_served, 2);
}

#[test]
fn forged_and_foreign_requests_get_no_answer() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 100, 120, &[], 0);
    let now = Time::from_millis(25);
    let wrong_key = [7u8; 32];
    c.handle_peer(now, &request(2, 1, &wrong_key, 105, 1)); // forged tag
    c.handle_peer(now, &request(9, 1, &KEY, 105, 1)); // not a member
    c.handle_peer(now, &message(2, 2, 5, &KEY, Body::Ping { nonce: 0 })); // unknown epoch
    c.handle_peer(now, b"\x00\x01garbage"); // not our protocol
    let mut truncated = request(2, 3, &KEY, 105, 1);
    truncated.truncate(30);
    c.handle_peer(now, &truncated);
    let k = &c.stats().counters;
    assert_eq!(
        (k.unauthenticated, k.stale, k.bad_peer_datagrams),
        (2, 1, 2)
    );
    assert!(
        drain(&mut c, now).iter().all(|(_, b)| b[3] == 3),
        "only our own pings go out"
    );
    assert_eq!(c.stats().counters.repairs_served, 0);
}

#[test]
fn replayed_requests_are_refused() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 100, 120, &[], 0);
    let now = Time::from_millis(25);
    let req = request(2, 77, &KEY, 105, 1);
    c.handle_peer(now, &req);
    c.handle_peer(now, &req);
    assert_eq!(c.stats().counters.replayed, 1);
    assert_eq!(
        drain(&mut c, now).iter().filter(|(_, b)| b[3] == 2).count(),
        1
    );
}

#[test]
fn budget_caps_one_requester() {
    let mut c = client_in_group(1, 5, |cfg| {
        cfg.serve_rate = 10;
        cfg.serve_burst = 5;
    });
    feed(&mut c, 100, 150, &[], 0);
    let now = Time::from_millis(60);
    c.handle_peer(now, &request(2, 1, &KEY, 100, 40));
    c.handle_peer(now, &request(3, 1, &KEY, 100, 3));
    let k = &c.stats().counters;
    assert_eq!(k.serve_rate_limited, 35);
    let served = drain(&mut c, now).iter().filter(|(_, b)| b[3] == 2).count();
    assert_eq!(
        served, 8,
        "5 for peer 2 (its burst), 3 for peer 3 (its own budget)"
    );
}

#[test]
fn packets_not_held_are_counted_not_answered() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 100, 120, &[110], 0);
    let now = Time::from_millis(25);
    c.handle_peer(now, &request(2, 1, &KEY, 109, 3));
    assert_eq!(c.stats().counters.serve_missing, 1);
    assert_eq!(
        drain(&mut c, now).iter().filter(|(_, b)| b[3] == 2).count(),
        2
    );
}

#[test]
fn serving_can_be_switched_off() {
    let mut c = client_in_group(1, 5, |cfg| cfg.serve_enabled = false);
    feed(&mut c, 100, 120, &[], 0);
    c.handle_peer(Time::from_millis(25), &request(2, 1, &KEY, 105, 2));
    assert_eq!(
        drain(&mut c, Time::from_millis(25))
            .iter()
            .filter(|(_, b)| b[3] == 2)
            .count(),
        0
    );
}

#[test]
fn old_key_is_accepted_during_grace_only() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 100, 120, &[], 0);
    c.set_group(Time::from_millis(20), &group(2, [9; 32], 5));
    c.handle_peer(Time::from_millis(21), &request(2, 1, &KEY, 105, 1));
    let served = drain(&mut c, Time::from_millis(21));
    assert_eq!(served.iter().filter(|(_, b)| b[3] == 2).count(), 1);
    c.handle_peer(Time::from_millis(30_000), &request(2, 2, &KEY, 106, 1));
    assert_eq!(c.stats().counters.stale, 1);
    assert_eq!(c.stats().counters.repairs_served, 1);
}
