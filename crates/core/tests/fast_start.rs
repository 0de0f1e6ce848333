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
    let nal = if seq % GOP == 0 { 0x65 } else { 0x41 };
    let pes = [0, 0, 1, 0xe0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, nal, seq as u8];
    let mut packets = vec![];
    if seq % GOP == 0 {
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

/// What the joiner played: (time, RTP sequence number) of each datagram.
struct Run {
    played: Vec<(Time, u16)>,
    joiner: Client,
    member: Client,
}

/// A member watching since time 0; the joiner (client 2) joins at [`JOIN`] and everything runs
/// until `end` ms. `drop_burst(n)` drops the member's `n`-th burst packet on its way.
fn run(fast_start: bool, end: u16, drop_burst: impl Fn(u64) -> bool) -> Run {
    let mut member = Client::new(config(1, false)).unwrap();
    member.set_group(Time::ZERO, &group(1, KEY, 2));
    let mut joiner = Client::new(config(2, fast_start)).unwrap();
    let (mut played, mut bursts) = (Vec::new(), 0u64);
    for ms in 0..end {
        // Ten steps a millisecond: the member paces its burst at a quarter of the packet gap.
        for tenth in 0..10u64 {
            let now = Time::from_micros(u64::from(ms) * 1000 + tenth * 100);
            if tenth == 0 {
                if ms == JOIN {
                    joiner.set_group(now, &group(1, KEY, 2));
                }
                member.handle_media(now, source_addr(), &datagram(ms));
                if ms >= JOIN {
                    joiner.handle_media(now, source_addr(), &datagram(ms));
                }
            }
            member.handle_timeout(now);
            while member.poll_playout(now).is_some() {}
            for (dst, bytes) in drain(&mut member, now) {
                assert_eq!(dst, peer_addr(2));
                if bytes[3] == 6 {
                    bursts += 1;
                    if drop_burst(bursts) {
                        continue;
                    }
                }
                joiner.handle_peer(now, &bytes);
            }
            if ms < JOIN {
                continue;
            }
            joiner.handle_timeout(now);
            while let Some(p) = joiner.poll_playout(now) {
                played.push((now, p.rtp_seq));
            }
            for (dst, bytes) in drain(&mut joiner, now) {
                assert_eq!(dst, peer_addr(1));
                member.handle_peer(now, &bytes);
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
        start <= Time::from_millis(u64::from(JOIN) + 100),
        "first datagram played at {start:?}, not within 100 ms of joining"
    );
    assert_contiguous(&r.played, 800);
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
fn without_fast_start_the_joiner_waits_a_buffer_and_starts_mid_gop() {
    let r = run(false, 1500, |_| false);
    let (start, first) = r.played[0];
    assert_eq!(first, JOIN, "its first multicast datagram, not a keyframe");
    assert!(start >= Time::from_millis(u64::from(JOIN) + 200));
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
    let bursts = |m: &mut Client, at: Time| -> Vec<(SocketAddr, Vec<u8>)> {
        // A burst of a GOP and more is sent within 200 ms, polled every ms as a driver does.
        (0..200u64)
            .flat_map(|ms| drain(m, at + Duration::from_millis(ms)))
            .filter(|(_, b)| b[3] == 6)
            .collect()
    };
    // Not a member (sender 9), and a wrong key: nothing, counted.
    member.handle_peer(now, &message(9, 1, 1, &KEY, Body::FastStart));
    member.handle_peer(now, &message(2, 1, 1, &[7; 32], Body::FastStart));
    assert!(bursts(&mut member, now).is_empty());
    assert_eq!(member.stats().counters.unauthenticated, 2);
    // Member 2 gets one; asking again at once, or member 3 while it runs, gets nothing more.
    member.handle_peer(now, &message(2, 2, 1, &KEY, Body::FastStart));
    member.handle_peer(now, &message(3, 1, 1, &KEY, Body::FastStart));
    let first = bursts(&mut member, now);
    assert!(!first.is_empty() && first.iter().all(|(dst, _)| *dst == peer_addr(2)));
    let later = now + Duration::from_secs(1);
    member.handle_peer(later, &message(2, 3, 1, &KEY, Body::FastStart));
    assert!(bursts(&mut member, later).is_empty());
    let c = &member.stats().counters;
    assert_eq!((c.fast_starts_served, c.fast_start_refused), (1, 2));
}
