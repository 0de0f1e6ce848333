//! Fast start (issue 14): a joining client gets the stream since a member's last random access
//! point as a burst, plays it at once and splices onto multicast with no gap and no duplicate;
//! without fast start it starts at its first multicast packet, a buffer later. Lost burst
//! packets are repaired; strangers and repeated asks get nothing.
//!
//! Virtual time, one datagram per ms, a keyframe every 200 datagrams.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use groupcast_core::{Client, Config, Time};
use groupcast_wire::proto::{Body, ChannelId, SenderId};
use std::net::SocketAddr;
use std::time::Duration;

/// Datagrams between keyframes.
const GOP: u16 = 200;
/// When the joiner joins, ms (and the first datagram it gets by multicast).
const JOIN: u16 = 1100;

/// A TS packet on `pid` (unit start if `start`) carrying `payload`, padded.
fn ts(pid: u16, start: bool, payload: &[u8]) -> [u8; 188] {
    let mut p = [0xffu8; 188];
    p[..4].copy_from_slice(&[
        0x47,
        (pid >> 8) as u8 | if start { 0x40 } else { 0 },
        pid as u8,
        0x10,
    ]);
    p[4..4 + payload.len()].copy_from_slice(payload);
    p
}

/// Datagram `seq`: PAT, PMT and an IDR at each keyframe, else a P picture; 7 TS packets.
fn datagram(seq: u16) -> Vec<u8> {
    let mut d = vec![0x80, 33];
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&(u32::from(seq) * 90).to_be_bytes());
    d.extend_from_slice(&SSRC.to_be_bytes());
    let pat = [0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe1, 0, 0, 0, 0, 0];
    let pmt = [
        0, 2, 0xb0, 18, 0, 1, 0xc1, 0, 0, 0xe1, 1, 0xf0, 0, 0x1b, 0xe1, 1, 0xf0, 0, 0, 0, 0, 0,
    ];
    let nal = if seq.is_multiple_of(GOP) { 0x65 } else { 0x41 };
    let pes = [0, 0, 1, 0xe0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, nal, seq as u8];
    let mut packets = vec![];
    if seq.is_multiple_of(GOP) {
        packets.extend([ts(0, true, &pat), ts(0x100, true, &pmt)]);
    }
    packets.push(ts(0x101, true, &pes));
    while packets.len() < 7 {
        packets.push(ts(0x101, false, &[seq as u8]));
    }
    packets.iter().for_each(|p| d.extend_from_slice(p));
    d
}

fn config(me: u64, fast_start: bool) -> Config {
    let mut c = Config::new(ChannelId(1), SenderId(me), group_addr());
    c.buffer = Duration::from_millis(200);
    c.chunk_packets = 8;
    c.expected_pps = 1000;
    c.fast_start = fast_start;
    c.gop_bytes = 1 << 20;
    c
}

/// What the joiner played: (time on its own clock, RTP sequence number) of each datagram.
struct Run {
    played: Vec<(Time, u16)>,
    joiner: Client,
    member: Client,
}

/// A member watching since time 0; the joiner (client 2) joins at [`JOIN`] and everything runs
/// until `end` ms. The joiner's clock starts at its join, as a new process's does. `drop_burst(n)` drops the member's `n`-th burst packet on its way.
fn run(fast_start: bool, end: u16, drop_burst: impl Fn(u64) -> bool) -> Run {
    run_lossy(fast_start, end, drop_burst, 0, 0..0)
}

/// [`run`], and the joiner's link also drops `loss_permille` of every datagram each way:
/// multicast, asks, bursts, requests, repairs and pings alike (seeded, reproducible). Burst
/// packets the member sends during the `stall` ms are held and arrive together at its end (a
/// busy member or a queue on the way); its other messages pass.
fn run_lossy(
    fast_start: bool,
    end: u16,
    drop_burst: impl Fn(u64) -> bool,
    loss_permille: u64,
    stall: std::ops::Range<u16>,
) -> Run {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut lost = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % 1000 < loss_permille
    };
    let mut member = Client::new(config(1, false)).unwrap();
    member.set_group(Time::ZERO, &group(1, KEY, 2));
    let mut joiner = Client::new(config(2, fast_start)).unwrap();
    let (mut played, mut bursts, mut held) = (Vec::new(), 0u64, Vec::new());
    for ms in 0..end {
        // Ten steps a millisecond: the member paces its burst at a quarter of the packet gap.
        for tenth in 0..10u64 {
            let now = Time::from_micros(u64::from(ms) * 1000 + tenth * 100);
            let local = Time::from_micros(now.as_micros().saturating_sub(u64::from(JOIN) * 1000));
            if tenth == 0 {
                if ms == JOIN {
                    joiner.set_group(local, &group_for(2, 1, KEY, 2));
                }
                member.handle_media(now, source_addr(), &datagram(ms));
                if ms >= JOIN && !lost() {
                    joiner.handle_media(local, source_addr(), &datagram(ms));
                }
            }
            member.handle_timeout(now);
            while member.poll_playout(now).is_some() {}
            let mut out = drain(&mut member, now);
            if ms == stall.end && tenth == 0 {
                out.splice(0..0, std::mem::take(&mut held));
            }
            for (dst, bytes) in out {
                assert_eq!(dst, peer_addr(2));
                if bytes[3] == 6 {
                    if stall.contains(&ms) {
                        held.push((dst, bytes));
                        continue;
                    }
                    bursts += 1;
                    if drop_burst(bursts) {
                        continue;
                    }
                }
                if !lost() {
                    joiner.handle_peer(local, &bytes);
                }
            }
            if ms < JOIN {
                continue;
            }
            joiner.handle_timeout(local);
            while let Some(p) = joiner.poll_playout(local) {
                played.push((local, p.rtp_seq));
            }
            for (dst, bytes) in drain(&mut joiner, local) {
                assert_eq!(dst, peer_addr(1));
                if !lost() {
                    member.handle_peer(now, &bytes);
                }
            }
        }
    }
    Run {
        played,
        joiner,
        member,
    }
}

/// Asserts the played numbers run on from `first` with no gap and no repeat.
fn assert_contiguous(played: &[(Time, u16)], first: u16) {
    for (i, (_, seq)) in played.iter().enumerate() {
        assert_eq!(
            *seq,
            first + i as u16,
            "played out of order or with a hole at {i}"
        );
    }
}

#[test]
fn a_joiner_plays_from_the_members_last_keyframe_at_once_and_splices_cleanly() {
    let r = run(true, 1800, |_| false);
    let (start, first) = r.played[0];
    // The member had played up to about 900 when asked: its last keyframe was 800.
    assert_eq!(
        first, 800,
        "starts at the member's last random access point"
    );
    assert!(
        start <= Time::from_millis(100),
        "first datagram played at {start:?}, not within 100 ms of joining"
    );
    assert_contiguous(&r.played, 800);
    // Then in real time: half a second of the stream in half a second.
    let (at, seq) = r.played[500];
    assert_eq!(seq, 1300);
    let took = at.saturating_since(start);
    assert!(
        (490..=510).contains(&took.as_millis()),
        "500 datagrams (0.5 s of stream) played in {took:?}"
    );
    // It plays in real time from there, on through the splice onto multicast at 1100.
    let last = r.played.last().unwrap().1;
    assert!(last > JOIN + 200, "played up to {last}");
    let c = &r.joiner.stats().counters;
    assert_eq!(
        (c.fast_starts, c.fast_start_fallbacks, c.unrecovered),
        (1, 0, 0)
    );
    assert!(
        c.fast_start_packets >= 250,
        "burst of {}",
        c.fast_start_packets
    );
    let m = &r.member.stats().counters;
    assert_eq!((m.fast_starts_served, m.fast_start_refused), (1, 0));
}

#[test]
fn a_burst_that_stalls_is_waited_for_not_raced_by_tail_probes() {
    // The burst's first packets come, then nothing for 40 ms (a member busy, a queue on the
    // way). The joiner holds multicast meanwhile: what comes next is the burst's to bring, and
    // probing past its head would fetch the same packets from every member a second time.
    let r = run_lossy(true, 1800, |_| false, 0, JOIN + 3..JOIN + 43);
    assert_eq!(r.played[0].1, 800);
    assert_contiguous(&r.played, 800);
    let c = &r.joiner.stats().counters;
    assert_eq!(
        (c.fast_starts, c.fast_start_fallbacks, c.unrecovered),
        (1, 0, 0)
    );
    assert_eq!(c.tail_probes, 0, "probed past a stalled burst");
    assert!(
        c.fast_start_packets >= 250,
        "burst of {}",
        c.fast_start_packets
    );
    assert!(
        c.fast_start_unused <= 2,
        "{} burst packets came after a repair or the splice",
        c.fast_start_unused
    );
}

#[test]
fn without_fast_start_the_joiner_waits_a_buffer_and_starts_mid_gop() {
    let r = run(false, 1500, |_| false);
    let (start, first) = r.played[0];
    assert_eq!(first, JOIN, "its first multicast datagram, not a keyframe");
    assert!(start >= Time::from_millis(200));
    assert_eq!(r.member.stats().counters.fast_starts_served, 0);
}

#[test]
fn lost_burst_packets_are_repaired_before_they_play() {
    let r = run(true, 1800, |n| n % 10 == 3);
    assert_eq!(r.played[0].1, 800);
    assert_contiguous(&r.played, 800);
    let c = &r.joiner.stats().counters;
    assert_eq!(c.unrecovered, 0);
    assert!(c.repaired >= 20, "{} repaired", c.repaired);
}

#[test]
fn a_fast_start_holds_with_loss_on_every_datagram_of_the_joiners_link() {
    // 5 % of everything to and from the joiner: multicast, asks, bursts, requests, repairs.
    let r = run_lossy(true, 1800, |_| false, 50, 0..0);
    assert_eq!(r.played[0].1, 800);
    assert!(r.played[0].0 <= Time::from_millis(150), "{:?}", r.played[0]);
    assert_contiguous(&r.played, 800);
    let c = &r.joiner.stats().counters;
    assert_eq!((c.fast_starts, c.unrecovered), (1, 0));
    assert!(c.repaired >= 20, "{} repaired", c.repaired);
}

#[test]
fn a_joiner_whose_members_have_nothing_is_told_so_and_starts_on_multicast() {
    // Both start at once: the member has no keyframe to offer yet.
    let mut member = Client::new(config(1, false)).unwrap();
    member.set_group(Time::ZERO, &group(1, KEY, 2));
    let mut joiner = Client::new(config(2, true)).unwrap();
    joiner.set_group(Time::ZERO, &group_for(2, 1, KEY, 2));
    let mut first = None;
    for ms in 0..400u16 {
        let now = Time::from_millis(u64::from(ms));
        member.handle_media(now, source_addr(), &datagram(ms + 1));
        joiner.handle_media(now, source_addr(), &datagram(ms + 1));
        for (_, b) in drain(&mut joiner, now) {
            member.handle_peer(now, &b);
        }
        for (_, b) in drain(&mut member, now) {
            joiner.handle_peer(now, &b);
        }
        member.handle_timeout(now);
        joiner.handle_timeout(now);
        if let Some(p) = joiner.poll_playout(now) {
            first.get_or_insert((now, p.rtp_seq));
        }
    }
    let c = &joiner.stats().counters;
    assert_eq!((c.fast_starts, c.fast_start_fallbacks), (0, 1));
    assert_eq!(
        member.stats().counters.fast_start_refused,
        2,
        "two rounds of one member"
    );
    // Not the 620 ms of asking into silence: it started with its first multicast datagram.
    assert_eq!(first.map(|f| f.1), Some(1));
    assert!(first.unwrap().0 <= Time::from_millis(210), "{first:?}");
}

#[test]
fn strangers_and_repeated_asks_get_no_burst() {
    let mut member = Client::new(config(1, false)).unwrap();
    member.set_group(Time::ZERO, &group(1, KEY, 3));
    for ms in 0..1000u16 {
        let now = Time::from_millis(u64::from(ms));
        member.handle_media(now, source_addr(), &datagram(ms));
        member.handle_timeout(now);
        while member.poll_playout(now).is_some() {}
    }
    let now = Time::from_millis(1000);
    prove_members(&mut member, 1, now);
    let bursts = |m: &mut Client, at: Time| -> Vec<(SocketAddr, Vec<u8>)> {
        // A burst of a GOP and more is sent within 200 ms, polled every ms as a driver does.
        (0..200u64)
            .flat_map(|ms| drain(m, at + Duration::from_millis(ms)))
            .filter(|(_, b)| b[3] == 6)
            .collect()
    };
    // Not a member (sender 9), and a wrong key: nothing at all, counted.
    member.handle_peer(now, &message(9, 1, 1, &KEY, Body::FastStart));
    member.handle_peer(now, &message(2, 1, 1, &[7; 32], Body::FastStart));
    let answers = drain(&mut member, now);
    assert!(
        answers.iter().all(|(_, b)| b[3] == 3),
        "only pings: {answers:?}"
    );
    assert_eq!(member.stats().counters.unauthenticated, 2);
    // Member 2 gets one; asking again at once, or member 3 while it runs, gets nothing more.
    member.handle_peer(now, &message(2, 2, 1, &KEY, Body::FastStart));
    member.handle_peer(now, &message(3, 1, 1, &KEY, Body::FastStart));
    let first = bursts(&mut member, now);
    let refusals = |m: &mut Client, at: Time| -> Vec<SocketAddr> {
        let out = drain(m, at);
        out.into_iter()
            .filter(|(_, b)| b[3] == 7)
            .map(|(d, _)| d)
            .collect()
    };
    assert!(!first.is_empty() && first.iter().all(|(dst, _)| *dst == peer_addr(2)));
    let later = now + Duration::from_secs(1);
    member.handle_peer(later, &message(2, 3, 1, &KEY, Body::FastStart));
    assert_eq!(refusals(&mut member, later), [peer_addr(2)], "told at once");
    assert!(bursts(&mut member, later).is_empty());
    let c = &member.stats().counters;
    assert_eq!((c.fast_starts_served, c.fast_start_refused), (1, 2));
}

/// A joiner whose only member never answers (silent: gone, or its messages all lost) asks
/// six times (1,260 ms), then starts on multicast a buffer behind live, as a client without
/// fast start does: what arrived while it asked is taken at the time it arrived, and what is
/// older than the buffer by then is dropped. Before, the held multicast was all taken at the
/// fallback and its first datagram set the play-out clock: the joiner then played every
/// datagram 1,260 ms after the moment it should have, for the whole session.
#[test]
fn a_fast_start_that_falls_back_plays_a_buffer_behind_live_not_the_asking_behind() {
    let mut joiner = Client::new(config(2, true)).unwrap();
    joiner.set_group(Time::ZERO, &group_for(2, 1, KEY, 2));
    let mut played = Vec::new();
    for ms in 0..2000u16 {
        let now = Time::from_millis(u64::from(ms));
        // Datagram n arrives at n ms; nothing from the member ever reaches the joiner.
        joiner.handle_media(now, source_addr(), &datagram(ms + 1));
        let _ = drain(&mut joiner, now);
        joiner.handle_timeout(now);
        while let Some(p) = joiner.poll_playout(now) {
            played.push((now, p.rtp_seq));
        }
    }
    let c = &joiner.stats().counters;
    assert_eq!((c.fast_starts, c.fast_start_fallbacks), (0, 1));
    // Held for 1,260 ms; all but the last 200 ms of it were due by then.
    assert!(
        (1000..=1100).contains(&c.fast_start_skipped),
        "skipped {} held datagrams",
        c.fast_start_skipped
    );
    assert!(played.len() > 600, "played {}", played.len());
    // Every datagram plays the buffer (200 ms) after it arrived (datagram n at n - 1 ms), give
    // or take a ms: not 1,260 ms later.
    for &(at, seq) in &played {
        let late = (at.as_micros() / 1000) as i64 - (i64::from(seq) - 1) - 200;
        assert!((-1..=1).contains(&late), "datagram {seq} played at {at:?}");
    }
    assert_contiguous(&played, played[0].1);
}

/// Member 1 (no fast start) and member 2 (fast start) tune in at once; 2's asks never reach
/// 1 (lost to regroups, as in a herd), though everything else passes, so 2 asks into silence,
/// holding multicast back. Datagram `lose.0` (index) is lost on 1's link, `lose.1` on 2's.
/// Returns both after `end` ms, and when 2 fell back.
fn tune_in_together(lose: (u16, u16), end: u16) -> (Client, Client, Option<u16>) {
    let mut one = Client::new(config(1, false)).unwrap();
    one.set_group(Time::ZERO, &group(1, KEY, 2));
    let mut two = Client::new(config(2, true)).unwrap();
    two.set_group(Time::ZERO, &group_for(2, 1, KEY, 2));
    let mut fell_back = None;
    for ms in 0..end {
        let now = Time::from_millis(u64::from(ms));
        for (c, lost) in [(&mut one, lose.0), (&mut two, lose.1)] {
            if ms != lost {
                c.handle_media(now, source_addr(), &datagram(ms + 1));
            }
        }
        for (_, b) in drain(&mut two, now) {
            if b[3] != 5 {
                one.handle_peer(now, &b);
            }
        }
        for (_, b) in drain(&mut one, now) {
            two.handle_peer(now, &b);
        }
        for c in [&mut one, &mut two] {
            c.handle_timeout(now);
            while c.poll_playout(now).is_some() {}
        }
        if fell_back.is_none() && two.stats().counters.fast_start_fallbacks == 1 {
            fell_back = Some(ms);
        }
    }
    (one, two, fell_back)
}

#[test]
fn asks_a_member_never_answers_are_given_up_on_its_rto_and_held_holes_timed_from_the_fallback() {
    // Datagram 61 is lost on the joiner's link, while it still asks.
    let (_, joiner, fell_back) = tune_in_together((u16::MAX, 60), 600);
    // Six asks, each given up after the member's RTO (at least 20 ms), not 20 ms doubling
    // (1,260 ms): the pongs show the member is near.
    assert!(
        fell_back.is_some_and(|ms| (100..=150).contains(&ms)),
        "{fell_back:?}"
    );
    let s = joiner.stats();
    assert_eq!((s.counters.repaired, s.counters.unrecovered), (1, 0));
    // The hole was seen at the fallback and repaired a round trip later: not counted from
    // 60 ms, when nothing looked at the held datagrams.
    let worst = s.repair_latency(1.0).unwrap();
    assert!(worst <= Duration::from_millis(5), "{worst:?}");
}

#[test]
fn a_member_still_asking_for_its_fast_start_serves_from_the_multicast_it_holds() {
    // The player loses datagram 31 while the asker still asks, and asks it, its only member.
    let (player, asker, fell_back) = tune_in_together((30, u16::MAX), 400);
    assert!(fell_back.is_some_and(|ms| ms >= 100), "{fell_back:?}");
    let s = player.stats();
    assert_eq!((s.counters.repaired, s.counters.unrecovered), (1, 0));
    // The reorder hold and a round trip: not the rest of the asker's fast start.
    let worst = s.repair_latency(1.0).unwrap();
    assert!(worst <= Duration::from_millis(10), "{worst:?}");
    assert_eq!(asker.stats().counters.repairs_served, 1);
}
