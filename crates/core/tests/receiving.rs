//! The receive side: buffering and paced play-out, loss detection and requests to every
//! member, retries, first-repair-wins, bad input, source restarts, buffer sizing.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use groupcast_core::{Event, Time};
use groupcast_wire::proto::{Body, Envelope, Repair};
use std::time::Duration;

fn repair_from(sender: u64, counter: u64, seq: u16) -> Vec<u8> {
    repair_of(SSRC, sender, counter, seq)
}

/// A repair of packet `seq` of stream `ssrc` (timestamps at 1 ms per packet from 5000).
fn repair_of(ssrc: u32, sender: u64, counter: u64, seq: u16) -> Vec<u8> {
    let data = if ssrc == SSRC {
        rtp(seq)
    } else {
        rtp_with(ssrc, seq, u32::from(seq.wrapping_sub(5000)) * 90)
    };
    let r = Repair {
        ssrc,
        sequence: seq,
        src: source_addr(),
        dst: group_addr(),
        rtp: &data,
    };
    message(sender, counter, 1, &KEY, Body::Repair(r))
}

fn requested(
    out: &[(std::net::SocketAddr, Vec<u8>)],
) -> Vec<(std::net::SocketAddr, Vec<(u16, u16)>)> {
    out.iter()
        .filter(|(_, b)| b[3] == 1)
        .map(|(dst, b)| {
            let env = Envelope::parse(b).unwrap();
            let Body::Request { ranges, .. } = env
                .open(&key_between(1, *dst, env.header.epoch.0))
                .unwrap()
                .body
            else {
                unreachable!()
            };
            (*dst, ranges.iter().map(|r| (r.start, r.len)).collect())
        })
        .collect()
}

#[test]
fn play_starts_after_the_buffer_and_follows_rtp_time() {
    let mut c = client_in_group(1, 1, |_| {});
    feed(&mut c, 0, 40, &[], 1000);
    assert!(
        c.poll_playout(Time::from_millis(1199)).is_none(),
        "nothing before 200 ms of buffer"
    );
    let first = c.poll_playout(Time::from_millis(1200)).unwrap();
    assert_eq!((first.rtp_seq, first.ts.len()), (0, 7 * 188));
    assert!(
        c.poll_playout(Time::from_millis(1200)).is_none(),
        "the next is due 1 ms later"
    );
    let mut n = 1;
    while c.poll_playout(Time::from_millis(1210)).is_some() {
        n += 1;
    }
    assert_eq!(n, 11);
    assert_eq!(
        c.poll_event(),
        Some(Event::SourceRestarted {
            old: None,
            new: groupcast_wire::Ssrc(SSRC)
        })
    );
    assert_eq!(c.poll_event(), Some(Event::PlaybackStarted));
}

#[test]
fn a_gap_is_requested_from_every_member_after_the_reorder_hold() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 10, &[7, 8], 0); // the gap is seen when 9 arrives, at 9 ms
    c.handle_timeout(Time::from_millis(13));
    assert!(
        requested(&drain(&mut c, Time::from_millis(13))).is_empty(),
        "inside the 5 ms hold"
    );
    c.handle_timeout(Time::from_millis(14));
    let reqs = requested(&drain(&mut c, Time::from_millis(14)));
    assert_eq!(reqs.len(), 4, "one request to each of the 4 other members");
    let mut dsts: Vec<_> = reqs.iter().map(|(d, _)| *d).collect();
    dsts.sort();
    assert_eq!(dsts, (2..=5).map(peer_addr).collect::<Vec<_>>());
    assert!(reqs.iter().all(|(_, r)| r == &vec![(7, 2)]), "{reqs:?}");
}

#[test]
fn a_gap_still_in_its_hold_keeps_its_request_time_through_an_early_timer() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 10, &[7, 8], 0); // the gap is seen at 9 ms, to be asked at 14 ms
    c.handle_timeout(Time::from_millis(13)); // another timer, inside the hold
    // A driver that sleeps until `poll_timeout` must wake for the gap's request, not for the
    // tail probe at 19 ms.
    assert_eq!(c.poll_timeout(), Some(Time::from_millis(14)));
    c.handle_timeout(Time::from_millis(14));
    assert_eq!(requested(&drain(&mut c, Time::from_millis(14))).len(), 4);
}

#[test]
fn first_repair_wins_and_later_copies_are_counted() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 20, &[9], 0);
    c.handle_timeout(Time::from_millis(30));
    drain(&mut c, Time::from_millis(30));
    c.handle_peer(Time::from_millis(40), &repair_from(2, 1, 9));
    c.handle_peer(Time::from_millis(41), &repair_from(3, 1, 9));
    c.handle_peer(Time::from_millis(42), &repair_from(4, 1, 9));
    let k = &c.stats().counters;
    assert_eq!((k.lost, k.repaired, k.duplicate_repairs), (1, 1, 2));
    assert!(c.stats().repair_latency(0.5).unwrap() >= Duration::from_millis(29));
    c.handle_timeout(Time::from_secs(10));
    let seqs: Vec<u16> =
        std::iter::from_fn(|| c.poll_playout(Time::from_secs(10)).map(|p| p.rtp_seq)).collect();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
}

#[test]
fn retries_until_the_deadline_then_plays_with_a_counted_hole() {
    let mut c = client_in_group(1, 2, |cfg| cfg.max_attempts = 100);
    feed(&mut c, 0, 40, &[5], 0);
    let mut requests = 0;
    for ms in 6..400 {
        let now = Time::from_millis(ms);
        c.handle_timeout(now);
        requests += requested(&drain(&mut c, now)).len();
        while c.poll_playout(now).is_some() {}
    }
    let k = &c.stats().counters;
    assert!(requests >= 4, "retried: {requests}");
    assert_eq!((k.unrecovered, k.lost, k.repaired), (1, 1, 0));
    // A repair after the chunk has played is too late and counted as such.
    c.handle_peer(Time::from_millis(400), &repair_from(2, 1, 5));
    assert_eq!(c.stats().counters.repairs_too_late, 1);
}

#[test]
fn without_repair_nothing_is_requested_and_holes_are_counted() {
    let mut c = client_in_group(1, 5, |cfg| cfg.repair_enabled = false);
    feed(&mut c, 0, 40, &[5, 6], 0);
    for ms in 40..300 {
        c.handle_timeout(Time::from_millis(ms));
        assert!(requested(&drain(&mut c, Time::from_millis(ms))).is_empty());
    }
    assert_eq!(c.stats().counters.unrecovered, 2);
}

#[test]
fn bad_media_is_counted_and_never_disturbs_the_stream() {
    let mut c = client_in_group(1, 1, |_| {});
    feed(&mut c, 0, 10, &[], 0);
    let now = Time::from_millis(10);
    c.handle_media(now, source_addr(), b"");
    c.handle_media(now, source_addr(), &[0x40; 40]);
    let mut no_ts = rtp(10);
    no_ts[12] = 0x00;
    c.handle_media(now, source_addr(), &no_ts);
    c.handle_media(now, source_addr(), &rtp(10)[..100]);
    let k = &c.stats().counters;
    assert_eq!((k.bad_rtp, k.bad_payload), (2, 2));
    feed(&mut c, 10, 20, &[], 10);
    assert_eq!(c.stats().counters.received, 20);
    assert_eq!(c.stats().counters.lost, 0);
}

#[test]
fn datagrams_read_in_batches_size_the_buffer_by_their_rate() {
    let mut c = client_in_group(1, 1, |cfg| {
        cfg.expected_pps = 100;
        cfg.retention = Duration::ZERO;
    });
    // 4,000 packets/s for 3 s, read 40 at a time: every batch shares one arrival time, so
    // the gaps inside a batch are zero. 200 ms of buffer holds 800 packets.
    for s in 0..12_000u16 {
        let batch_at = Time::from_millis(u64::from(s / 40) * 10);
        c.handle_media(
            batch_at,
            source_addr(),
            &rtp_with(SSRC, s, u32::from(s) * 22),
        );
        if s % 40 == 39 {
            c.handle_timeout(batch_at);
        }
    }
    let cap = c.raw_capacity();
    assert!(
        (800..=1200).contains(&cap),
        "rate x window x 1.25, not more: {cap}"
    );
}

#[test]
fn a_single_foreign_packet_does_not_restart_the_stream() {
    let mut c = client_in_group(1, 1, |_| {});
    feed(&mut c, 0, 10, &[], 0);
    c.handle_media(
        Time::from_millis(10),
        source_addr(),
        &rtp_with(0xbad, 5000, 0),
    );
    feed(&mut c, 10, 20, &[], 10);
    let k = &c.stats().counters;
    assert_eq!((k.ssrc_mismatch, k.source_restarts, k.received), (1, 0, 20));
}

#[test]
fn a_stranger_sending_to_the_group_while_the_source_runs_never_restarts_it() {
    let mut c = client_in_group(1, 1, |_| {});
    for s in 0..200u16 {
        let t = u64::from(s) * 2;
        c.handle_media(Time::from_millis(t), source_addr(), &rtp(s));
        // Two consecutive packets of a foreign SSRC between every pair of real ones.
        for k in 0..2 {
            let fake = rtp_with(0xbad, 2 * s + k, 0);
            c.handle_media(Time::from_millis(t + 1), source_addr(), &fake);
        }
    }
    let k = &c.stats().counters;
    assert_eq!((k.source_restarts, k.received), (0, 200));
    assert_eq!(k.ssrc_mismatch, 400);
}

#[test]
fn a_new_ssrc_confirmed_by_two_packets_restarts_and_keeps_both() {
    let mut c = client_in_group(1, 1, |_| {});
    feed(&mut c, 0, 10, &[], 0);
    c.handle_media(
        Time::from_millis(10),
        source_addr(),
        &rtp_with(0xbeef, 5000, 0),
    );
    c.handle_media(
        Time::from_millis(11),
        source_addr(),
        &rtp_with(0xbeef, 5001, 90),
    );
    let k = &c.stats().counters;
    assert_eq!((k.source_restarts, k.received), (1, 12));
    c.handle_timeout(Time::from_secs(10));
    let seqs: Vec<u16> =
        std::iter::from_fn(|| c.poll_playout(Time::from_secs(10)).map(|p| p.rtp_seq)).collect();
    assert_eq!(seqs, (0..10).chain(5000..5002).collect::<Vec<_>>());
}

#[test]
fn raw_buffer_is_whole_chunks_and_grows_with_the_measured_rate() {
    let mut c = client_in_group(1, 1, |cfg| {
        cfg.expected_pps = 100;
        cfg.retention = Duration::ZERO;
    });
    let initial = c.raw_capacity();
    assert_eq!(initial % 8, 0);
    assert_eq!(
        initial, 24,
        "100 pps x 200 ms = 20 packets, rounded up to 3 chunks of 8"
    );
    // 4,000 packets/s for 1 s: 200 ms now holds 800 packets.
    for s in 0..4000u16 {
        c.handle_media(
            Time::from_micros(u64::from(s) * 250),
            source_addr(),
            &rtp_with(SSRC, s, u32::from(s) * 22),
        );
        if s % 100 == 0 {
            c.handle_timeout(Time::from_micros(u64::from(s) * 250));
        }
    }
    c.handle_timeout(Time::from_millis(1001));
    assert!(
        c.raw_capacity() >= 800 && c.raw_capacity() % 8 == 0,
        "{}",
        c.raw_capacity()
    );
    assert_eq!(c.stats().counters.received, 4000);
}

#[test]
fn a_repair_far_beyond_the_stream_is_refused() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 20, &[], 0);
    // Tail probes ask for up to 8 chunks (of 8 packets here) past the highest packet.
    c.handle_peer(Time::from_millis(20), &repair_from(2, 1, 19 + 64));
    c.handle_peer(Time::from_millis(20), &repair_from(2, 2, 83 + 65));
    let k = &c.stats().counters;
    assert_eq!(
        (k.repaired, k.malformed, k.source_restarts),
        (1, 1, 0),
        "within a tail probe's reach"
    );
    feed(&mut c, 20, 100, &[], 20);
    assert_eq!(c.stats().counters.received, 99);
}

#[test]
fn after_a_restart_the_old_stream_is_still_repaired_and_served() {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 10, &[8], 0);
    c.handle_media(
        Time::from_millis(10),
        source_addr(),
        &rtp_with(0xbeef, 5000, 0),
    );
    c.handle_media(
        Time::from_millis(11),
        source_addr(),
        &rtp_with(0xbeef, 5001, 90),
    );
    assert_eq!(c.stats().counters.source_restarts, 1);
    // The old stream's missing packet is still asked for, under the old SSRC; and the two
    // numbers before the new stream's first packet received, in case it was not the first.
    c.handle_timeout(Time::from_millis(20));
    let reqs = requested(&drain(&mut c, Time::from_millis(20)));
    assert_eq!(reqs.len(), 8, "{reqs:?}");
    assert!(
        reqs.iter()
            .all(|(_, r)| r == &vec![(8, 1)] || r == &vec![(4998, 2)]),
        "{reqs:?}"
    );
    c.handle_peer(Time::from_millis(30), &repair_from(2, 1, 8));
    assert_eq!(c.stats().counters.repaired, 1);
    // A peer may still ask us for the old stream.
    let ranges = [groupcast_wire::proto::SeqRange { start: 3, len: 1 }];
    let body = Body::Request {
        ssrc: SSRC,
        answerers: 0,
        ranges: groupcast_wire::proto::Ranges::List(&ranges),
    };
    c.handle_peer(Time::from_millis(31), &message(3, 1, 1, &KEY, body));
    assert_eq!(
        drain(&mut c, Time::from_millis(31))
            .iter()
            .filter(|(_, b)| b[3] == 2)
            .count(),
        1
    );
    c.handle_timeout(Time::from_secs(10));
    let out: Vec<(u16, bool)> = std::iter::from_fn(|| {
        c.poll_playout(Time::from_secs(10))
            .map(|p| (p.rtp_seq, p.discontinuity))
    })
    .collect();
    let expected: Vec<(u16, bool)> = (0..10)
        .map(|s| (s, false))
        .chain([(5000, true), (5001, false)])
        .collect();
    assert_eq!(
        out, expected,
        "old stream complete, then a marked discontinuity"
    );
    assert_eq!(c.stats().counters.unrecovered, 0);
}

#[test]
fn multicast_losses_are_logged_for_the_manager() {
    let mut c = client_in_group(1, 1, |_| {});
    feed(&mut c, 65_530, 65_535, &[65_532], 1000);
    feed(&mut c, 65_535, 65_535, &[], 1005);
    c.handle_media(Time::from_millis(1006), source_addr(), &rtp(65_535));
    c.handle_media(Time::from_millis(1009), source_addr(), &rtp(2));
    let mut losses = Vec::new();
    c.drain_losses(&mut losses);
    assert_eq!(losses, [65_532, 0, 1], "RTP numbers, across the wrap");
    assert_eq!(c.ssrc(), Some(groupcast_wire::Ssrc(SSRC)));
    losses.clear();
    c.drain_losses(&mut losses);
    assert!(losses.is_empty(), "each loss is reported once");
    // A long outage keeps only the latest LOSS_LOG numbers.
    c.handle_media(Time::from_millis(1020), source_addr(), &rtp(2000));
    c.drain_losses(&mut losses);
    assert_eq!(losses.len(), groupcast_core::LOSS_LOG);
    assert_eq!(losses.last(), Some(&1999));
}

#[test]
fn a_refilled_group_is_asked_at_once_for_what_the_old_one_never_sent() {
    // Members 1 and 2; member 2 has died. Its attempts run out long before the deadline.
    let mut c = client_in_group(1, 2, |cfg| cfg.buffer = Duration::from_millis(1000));
    feed(&mut c, 0, 40, &[5], 0);
    for ms in 40..300 {
        c.handle_timeout(Time::from_millis(ms));
        drain(&mut c, Time::from_millis(ms));
    }
    assert_eq!(
        c.poll_timeout().filter(|t| *t < Time::from_millis(300)),
        None
    );
    // The manager refills the group with members 3 and 4 (epoch 2): they are asked at once.
    let mut refilled = group(2, KEY, 4);
    refilled.members.retain(|m| m.id.0 != 2);
    c.set_group(Time::from_millis(300), &refilled);
    // Once they prove their addresses (a ping and its pong, at once).
    prove_members(&mut c, 1, Time::from_millis(300));
    c.handle_timeout(Time::from_millis(300));
    let reqs = requested(&drain(&mut c, Time::from_millis(300)));
    let mut dsts: Vec<_> = reqs.iter().map(|(d, _)| *d).collect();
    dsts.sort();
    assert_eq!(dsts, vec![peer_addr(3), peer_addr(4)], "{reqs:?}");
    assert!(reqs.iter().all(|(_, r)| r == &vec![(5, 1)]));
    // A rekey of the same members asks nothing again.
    let mut rekeyed = refilled.clone();
    rekeyed.epoch = groupcast_wire::proto::GroupEpoch(3);
    c.set_group(Time::from_millis(301), &rekeyed);
    c.handle_timeout(Time::from_millis(301));
    assert!(requested(&drain(&mut c, Time::from_millis(301))).is_empty());
}

/// Old stream 0..10, then a quiet second, then the new stream 0xbeef from 5002 on (its first
/// two datagrams, 5000 and 5001, lost on multicast).
fn restart_with_lost_head() -> groupcast_core::Client {
    let mut c = client_in_group(1, 5, |_| {});
    feed(&mut c, 0, 10, &[], 0);
    c.handle_timeout(Time::from_millis(400));
    while c.poll_playout(Time::from_millis(400)).is_some() {}
    for (k, seq) in (5002..5010u16).enumerate() {
        let ts = u32::from(seq - 5000) * 90;
        let now = Time::from_millis(1010 + k as u64);
        c.handle_media(now, source_addr(), &rtp_with(0xbeef, seq, ts));
    }
    assert_eq!(c.stats().counters.source_restarts, 1);
    c
}

#[test]
fn the_first_packets_of_a_restarted_stream_are_asked_for_and_played_first() {
    let mut c = restart_with_lost_head();
    c.handle_timeout(Time::from_millis(1030));
    let reqs = requested(&drain(&mut c, Time::from_millis(1030)));
    let head = reqs.iter().filter(|(_, r)| r == &vec![(5000, 2)]).count();
    assert_eq!(head, 4, "every member is asked: {reqs:?}");
    c.handle_peer(Time::from_millis(1032), &repair_of(0xbeef, 2, 1, 5001));
    c.handle_peer(Time::from_millis(1033), &repair_of(0xbeef, 3, 1, 5000));
    c.handle_timeout(Time::from_secs(5));
    let out: Vec<(u16, bool)> = std::iter::from_fn(|| {
        c.poll_playout(Time::from_secs(5))
            .map(|p| (p.rtp_seq, p.discontinuity))
    })
    .collect();
    assert_eq!(out.first(), Some(&(5000, true)), "{out:?}");
    let seqs: Vec<u16> = out.iter().map(|o| o.0).collect();
    assert_eq!(seqs, (5000..5010).collect::<Vec<_>>());
    let k = &c.stats().counters;
    assert_eq!((k.repaired, k.lost, k.unrecovered), (2, 2, 0));
}

#[test]
fn numbers_before_a_restarted_stream_that_nobody_has_are_no_loss() {
    let mut c = restart_with_lost_head();
    for ms in 1020..1600 {
        c.handle_timeout(Time::from_millis(ms));
        drain(&mut c, Time::from_millis(ms));
    }
    let out: Vec<(u16, bool)> = std::iter::from_fn(|| {
        c.poll_playout(Time::from_secs(5))
            .map(|p| (p.rtp_seq, p.discontinuity))
    })
    .collect();
    let expected: Vec<(u16, bool)> = (5002..5010).map(|s| (s, s == 5002)).collect();
    assert_eq!(out, expected);
    let k = &c.stats().counters;
    assert_eq!((k.lost, k.unrecovered), (0, 0), "the stream began at 5002");
}

#[test]
fn a_restart_whose_free_numbers_end_a_chunk_plays_on_time() {
    // Chunks of 8: the old stream ends at its 6th packet, so the two numbers left free after
    // it (for its last packets) are the end of a chunk that no packet will ever fill.
    let mut c = client_in_group(1, 3, |_| {});
    feed(&mut c, 0, 6, &[], 0);
    c.handle_timeout(Time::from_millis(400));
    assert_eq!(
        std::iter::from_fn(|| c.poll_playout(Time::from_millis(400)).map(|p| p.rtp_seq)).count(),
        6
    );
    for k in 0..40u16 {
        let now = Time::from_millis(1000 + u64::from(k));
        c.handle_media(
            now,
            source_addr(),
            &rtp_with(0xbeef, 5000 + k, u32::from(k) * 90),
        );
        c.handle_timeout(now);
        drain(&mut c, now);
    }
    // Played within its buffer (200 ms), not when the raw buffer overflows.
    let at = Time::from_millis(1000 + 40 + 200);
    c.handle_timeout(at);
    let played = std::iter::from_fn(|| c.poll_playout(at).map(|p| p.rtp_seq)).count();
    assert_eq!(played, 40);
    assert_eq!(c.stats().counters.unrecovered, 0);
}
