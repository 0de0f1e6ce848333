//! The last resort (issue 12, item 3b): a packet the repair group cannot supply in time (every
//! member missed it, members are silent, or there is no member) is handed to the driver to ask
//! the relay, early enough for the answer to arrive before the packet's deadline; a lost NACK
//! or retransmission is asked again. Without a last resort the same losses stay holes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use groupcast_core::{Client, Config, Time};
use groupcast_wire::proto::ChannelId;
use groupcast_wire::proto::SenderId;
use std::time::Duration;

/// What a run saw.
#[derive(Debug, Default)]
struct Run {
    /// RTP sequence numbers played, in order.
    played: Vec<u16>,
    /// (time ms, number) of every escalation.
    escalated: Vec<(u64, u16)>,
}

/// Feeds `packets` of a 1,000 packets/s stream at 1 ms spacing (skipping `lost`) and runs the
/// client's timers every millisecond for 400 ms more. A relay `rtt_ms` away answers every
/// escalation except the first `drop_first` (lost NACKs or retransmissions).
fn run(c: &mut Client, packets: u16, lost: &[u16], rtt_ms: u64, drop_first: usize) -> Run {
    run_late(c, (packets, lost), (rtt_ms, drop_first), None)
}

/// [`run`], with the last resort coming only at `late` (ms, round trip).
fn run_late(
    c: &mut Client,
    (packets, lost): (u16, &[u16]),
    (rtt_ms, drop_first): (u64, usize),
    late: Option<(u64, Duration)>,
) -> Run {
    let mut r = Run::default();
    let mut pending: Vec<(u64, u16)> = Vec::new();
    let mut asked = Vec::new();
    for t in 0..u64::from(packets) + 400 {
        let now = Time::from_millis(t);
        let s = t as u16;
        if t < u64::from(packets) && !lost.contains(&s) {
            c.handle_media(now, source_addr(), &rtp(s));
        }
        pending.retain(|&(at, seq)| {
            if at > t {
                return true;
            }
            c.handle_last_resort(now, source_addr(), &rtp(seq));
            false
        });
        if let Some((_, rtt)) = late.filter(|l| l.0 == t) {
            c.set_last_resort(Some(rtt));
        }
        c.handle_timeout(now);
        drain(c, now);
        c.drain_escalations(&mut asked);
        for seq in asked.drain(..) {
            r.escalated.push((t, seq));
            if r.escalated.len() > drop_first {
                pending.push((t + rtt_ms, seq));
            }
        }
        while let Some(p) = c.poll_playout(now) {
            r.played.push(p.rtp_seq);
        }
    }
    r
}

/// Member 1 of a group of 3 whose members never answer; 200 ms buffer.
fn silent_group(last_resort: Option<Duration>) -> Client {
    let mut c = client_in_group(1, 3, |_| {});
    c.set_last_resort(last_resort);
    c
}

#[test]
fn what_the_group_cannot_supply_comes_from_the_last_resort_before_its_deadline() {
    let lost = [100, 101, 250];
    let mut c = silent_group(Some(Duration::from_millis(30)));
    let r = run(&mut c, 600, &lost, 5, 0);
    let n = &c.stats().counters;
    assert_eq!(
        r.played,
        (0..600).collect::<Vec<u16>>(),
        "a hole was played"
    );
    assert_eq!((n.last_resort_repaired, n.unrecovered), (3, 0), "{n:?}");
    assert_eq!(n.repaired, 3);
    // The group was asked first (8 attempts on its 5 ms retry timer: the members' measured
    // RTT), and the relay only once the group was given up on, before the deadline.
    assert!(n.requests_sent >= 16, "{n:?}");
    for (t, seq) in &r.escalated {
        let lost_at = u64::from(*seq);
        assert!(
            *t >= lost_at + 40,
            "escalated {seq} at {t} ms: the group had no time"
        );
        assert!(
            *t < lost_at + 200,
            "escalated {seq} at {t} ms: past its deadline"
        );
    }
    assert_eq!(r.escalated.len(), 3, "{:?}", r.escalated);
}

#[test]
fn without_a_last_resort_the_same_losses_are_holes() {
    let mut c = silent_group(None);
    let r = run(&mut c, 600, &[100, 101, 250], 5, 0);
    let n = &c.stats().counters;
    assert_eq!((n.escalated, n.unrecovered), (0, 3), "{n:?}");
    assert!(r.escalated.is_empty());
    assert!(!r.played.contains(&100) && !r.played.contains(&250));
}

/// The relay answers the registration sent as the stream started only after the group is out
/// of attempts (its STANDBY was lost, 200 ms to the next): what is still ahead of its
/// deadline is escalated then, and what is past it stays a hole.
#[test]
fn a_last_resort_that_comes_late_still_gets_what_is_in_time() {
    let late = |at_ms: u64| {
        let mut c = silent_group(None);
        // 100 and 101 lost: out of attempts after 8 asks 5 ms apart (about 145 ms).
        let r = run_late(
            &mut c,
            (600, &[100, 101]),
            (5, 0),
            Some((at_ms, Duration::from_millis(30))),
        );
        (r, c.stats().counters.clone())
    };
    let (r, n) = late(200);
    assert_eq!(r.played, (0..600).collect::<Vec<u16>>(), "{n:?}");
    assert_eq!((n.last_resort_repaired, n.unrecovered), (2, 0), "{n:?}");
    assert!(
        r.escalated.iter().all(|&(t, _)| t == 200),
        "{:?}",
        r.escalated
    );
    // Past the deadline (300 ms for 100): nothing to ask, two holes.
    let (r, n) = late(320);
    assert!(r.escalated.is_empty(), "{:?}", r.escalated);
    assert_eq!((n.escalated, n.unrecovered), (0, 2), "{n:?}");
}

#[test]
fn a_viewer_with_no_group_asks_the_last_resort_after_the_reorder_hold() {
    let mut config = Config::new(ChannelId(1), SenderId(1), group_addr());
    (config.buffer, config.chunk_packets, config.expected_pps) =
        (Duration::from_millis(200), 8, 1000);
    let mut c = Client::new(config).unwrap();
    c.set_last_resort(Some(Duration::from_millis(30)));
    let r = run(&mut c, 400, &[50], 5, 0);
    assert_eq!(r.escalated.len(), 1);
    let (t, seq) = r.escalated[0];
    // Detected when 51 arrives (51 ms), asked after the 5 ms reorder hold.
    assert_eq!(seq, 50);
    assert!((56..=58).contains(&t), "escalated at {t} ms");
    assert_eq!(r.played, (0..400).collect::<Vec<u16>>());
    assert_eq!(
        c.stats().counters.requests_sent,
        0,
        "nobody to ask in the group"
    );
}

#[test]
fn a_lost_nack_or_retransmission_is_asked_again_in_time() {
    let mut c = silent_group(Some(Duration::from_millis(30)));
    // The relay's first two answers are lost (10 ms round trip).
    let r = run(&mut c, 600, &[300], 10, 2);
    let n = &c.stats().counters;
    assert_eq!(r.escalated.len(), 3, "{:?}", r.escalated);
    assert!(r.escalated.iter().all(|&(t, s)| s == 300 && t < 500));
    assert_eq!((n.last_resort_repaired, n.unrecovered), (1, 0), "{n:?}");
    assert!(r.played.contains(&300));
}

#[test]
fn last_resort_datagrams_fill_only_what_is_missing_of_the_followed_stream() {
    let mut c = silent_group(Some(Duration::from_millis(30)));
    run(&mut c, 300, &[], 5, 0);
    let now = Time::from_millis(700);
    let before = c.stats().counters.clone();
    // Held already, another stream's, not RTP, and far beyond anything asked for.
    c.handle_last_resort(now, source_addr(), &rtp(250));
    c.handle_last_resort(now, source_addr(), &rtp_with(0xdead, 250, 0));
    c.handle_last_resort(now, source_addr(), b"garbage");
    c.handle_last_resort(now, source_addr(), &rtp(20_000));
    let n = &c.stats().counters;
    assert_eq!(n.last_resort_unused - before.last_resort_unused, 4);
    assert_eq!(n.bad_rtp - before.bad_rtp, 1);
    assert_eq!(n.last_resort_repaired, 0);
    assert_eq!(
        n.source_restarts, 0,
        "a foreign SSRC from the relay restarts nothing"
    );
    assert_eq!(n.received, before.received);
}

/// A hole has until its own play-out time, not its chunk's first packet's: with 32-packet
/// chunks at 1,000 packets/s, number 127 (the last of chunk 96..128) is due 31 ms after 96.
/// The group never answers; once it is given up on (out of attempts, about 172 ms), a slow
/// relay (150 ms round trip) answers at about 322 ms: after 96's deadline (296 ms), before
/// 127's own (327 ms). It is asked once: a second ask could not be answered in time. 10 ms
/// slower, the answer misses the deadline and 127 is a hole.
#[test]
fn a_hole_late_in_its_chunk_has_until_its_own_deadline() {
    let slow_relay = |rtt_ms: u64| {
        let mut c = client_in_group(1, 3, |c| c.chunk_packets = 32);
        c.set_last_resort(Some(Duration::from_millis(rtt_ms)));
        let r = run(&mut c, 600, &[127], rtt_ms, 0);
        (r, c.stats().counters.clone())
    };
    let (r, n) = slow_relay(150);
    assert_eq!(r.played, (0..600).collect::<Vec<u16>>(), "{n:?}");
    assert_eq!((n.last_resort_repaired, n.unrecovered), (1, 0), "{n:?}");
    assert_eq!(r.escalated.len(), 1, "{:?}", r.escalated);
    let (r, n) = slow_relay(160);
    assert_eq!((n.last_resort_repaired, n.unrecovered), (0, 1), "{n:?}");
    assert!(!r.played.contains(&127) && r.played.contains(&128));
}
