//! Serving budgets from the stream's rate and the viewer's uplink (issue 12, item 2). A member
//! whose group-mate lost a whole stretch (a metro's multicast cut) can serve the catch-up: a
//! requester may draw twice the measured stream rate, in bursts of a buffer's worth, where a
//! fixed 1,000 packets/s and 200-deep budget cut it short. Over all requesters, what a viewer
//! uploads stays within its uplink budget.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use groupcast_core::{Client, Time};
use groupcast_wire::proto::{Body, Ranges, SeqRange};
use std::time::Duration;

/// Member 1 with `ms` ms of a 1,000 packets/s stream (1 s buffer), in a group of 3 whose
/// members' addresses are proven.
fn member(ms: u64, uplink_bytes_per_sec: u32) -> Client {
    let mut c = client_in_group(1, 3, |c| {
        c.buffer = Duration::from_millis(1000);
        c.uplink_bytes_per_sec = uplink_bytes_per_sec;
    });
    for t in 0..ms {
        let now = Time::from_millis(t);
        c.handle_media(now, source_addr(), &rtp(t as u16));
        c.handle_timeout(now);
        while c.poll_playout(now).is_some() {}
        if t % 1000 == 0 {
            prove_members(&mut c, 1, now);
        }
        drain(&mut c, now);
    }
    c
}

/// Member `from` asks member 1 for `len` packets from `start` at `now`; returns the repairs
/// member 1 sends and their bytes.
fn ask(c: &mut Client, now: Time, from: u64, counter: u64, (start, len): (u16, u16)) -> (u64, u64) {
    let ranges = [SeqRange { start, len }];
    let body = Body::Request {
        ssrc: SSRC,
        answerers: 0,
        ranges: Ranges::List(&ranges),
    };
    c.handle_peer(now, &message_to(1, from, counter, 1, &KEY, body));
    drain(c, now)
        .into_iter()
        .filter(|(_, b)| b[3] == 2)
        .fold((0, 0), |(n, bytes), (_, b)| (n + 1, bytes + b.len() as u64))
}

#[test]
fn a_member_serves_a_buffers_worth_of_catch_up_at_once() {
    let mut c = member(3000, 0);
    // Member 2 missed the last second (its metro's multicast was cut) and asks for it.
    let now = Time::from_millis(3000);
    let (served, _) = ask(&mut c, now, 2, 100, (2000, 1000));
    assert!(served >= 990, "served {served} of 1,000");
    // Then the stream's own losses go on being served: twice the rate refills the budget.
    let later = now + Duration::from_millis(500);
    let (served, _) = ask(&mut c, later, 2, 101, (2400, 600));
    assert!(served >= 590, "served {served} of 600 half a second later");
    assert_eq!(c.stats().counters.serve_uplink_limited, 0);
}

#[test]
fn the_uplink_budget_caps_what_all_members_draw_together() {
    // 2 Mbit/s of upload: about 180 repairs of 1,400 bytes a second, in bursts of 200 ms
    // (at least 64 KiB).
    let mut c = member(3000, 250_000);
    let (mut n, mut bytes) = (0, 0);
    for (i, t) in (3000..4000u64).step_by(10).enumerate() {
        let now = Time::from_millis(t);
        let from = 2 + (i as u64 % 2);
        let start = (t as u16).wrapping_sub(900);
        let (sn, sb) = ask(&mut c, now, from, 200 + i as u64, (start, 20));
        n += sn;
        bytes += sb;
    }
    // One second: the rate plus the bucket's depth, and not far below.
    assert!(bytes <= 250_000 + 65_536 + 1_500, "{bytes} bytes in 1 s");
    assert!(bytes >= 200_000, "{bytes} bytes in 1 s");
    let limited = c.stats().counters.serve_uplink_limited;
    assert!(
        limited > 1000,
        "{limited} refused for the uplink; {n} served"
    );
}
