//! The core's receive → raw buffer → playback path with 1,316-byte TS payloads.
//!
//! `cargo bench -p groupcast-core --bench datapath`. Each element is one RTP datagram taken
//! through `handle_media`, chunk release, and `poll_playout`, with `handle_timeout` every 32
//! packets as a batching driver would call it. Virtual time runs at 10,000 packets/s.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use groupcast_core::{Client, Config, Group, Time};
use groupcast_wire::proto::{ChannelId, GroupEpoch, SenderId};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

const BATCH: u64 = 1024;

fn client(me: u64) -> Client {
    let group: SocketAddr = "239.255.0.1:5004".parse().unwrap();
    let mut c = Config::new(ChannelId(1), SenderId(me), group);
    c.buffer = Duration::from_millis(50);
    c.retention = Duration::from_millis(50);
    c.expected_pps = 10_000;
    let mut client = Client::new(c).unwrap();
    let members = (1..=2).map(|id| {
        (
            SenderId(id),
            SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)),
        )
    });
    let group = Group::derived(GroupEpoch(1), &[3; 32], SenderId(me), members);
    client.set_group(Time::ZERO, &group);
    client
}

/// A 12-byte RTP header and 7 TS packets; sequence number and timestamp patched per packet.
fn template() -> Vec<u8> {
    let mut p = vec![0x80, 33, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    for _ in 0..7 {
        let mut ts = [0x5au8; 188];
        ts[0] = 0x47;
        p.extend_from_slice(&ts);
    }
    p
}

fn stamp(p: &mut [u8], n: u64) {
    p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    p[4..8].copy_from_slice(&((n * 9) as u32).to_be_bytes());
}

fn drive(c: &mut Client, now: Time, n: u64, wire: &mut [u8]) -> usize {
    let mut bytes = 0;
    if n % 32 == 31 {
        c.handle_timeout(now);
        while c.poll_transmit(now, wire).is_some() {}
    }
    while let Some(p) = c.poll_playout(now) {
        bytes += p.ts.len();
    }
    bytes
}

fn exchange(me: &mut Client, other: &mut Client, now: Time, n: u64, wire: &mut [u8]) {
    if n % 32 == 31 {
        me.handle_timeout(now);
        while let Some(t) = me.poll_transmit(now, wire) {
            other.handle_peer(now, &wire[..t.len]);
        }
    }
    while me.poll_playout(now).is_some() {}
}

fn lossless(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("datapath");
    g.throughput(Throughput::Elements(BATCH));
    let src: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let (mut c, mut pkt, mut wire, mut n) = (client(1), template(), vec![0u8; 1600], 0u64);
    g.bench_function("lossless", |b| {
        b.iter(|| {
            let mut out = 0;
            for _ in 0..BATCH {
                stamp(&mut pkt, n);
                let now = Time::from_micros(n * 100);
                c.handle_media(now, src, black_box(&pkt));
                out += drive(&mut c, now, n, &mut wire);
                n += 1;
            }
            black_box(out)
        })
    });
    assert_eq!(c.stats().counters.lost, 0);
    // The floor for comparison in the same run: the two copies the path makes per packet
    // (datagram into a raw slot, TS payload into a playback entry), and nothing else.
    let mut raw_ring = vec![vec![0u8; 1500]; 1024];
    let mut play_ring = vec![vec![0u8; 1500]; 1024];
    let mut k = 0usize;
    g.bench_function("copy_floor", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                stamp(&mut pkt, k as u64);
                let slot = &mut raw_ring[k % 1024];
                slot[..pkt.len()].copy_from_slice(black_box(&pkt));
                play_ring[k % 1024][..pkt.len() - 12].copy_from_slice(&slot[12..pkt.len()]);
                k += 1;
            }
            black_box(play_ring[k % 1024][0])
        })
    });
    assert!(
        c.stats().counters.ts_packets_out > 0,
        "the path ends at the player"
    );
    // One client drops 5 % of the multicast and repairs it from the other (HMAC, UDP rebuild,
    // checksum check and all).
    let (mut a, mut bb, mut n) = (client(1), client(2), 0u64);
    g.bench_function("loss5_with_peer_repair", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                stamp(&mut pkt, n);
                let now = Time::from_micros(n * 100);
                if n % 20 != 7 {
                    a.handle_media(now, src, &pkt);
                }
                bb.handle_media(now, src, &pkt);
                exchange(&mut a, &mut bb, now, n, &mut wire);
                exchange(&mut bb, &mut a, now, n, &mut wire);
                n += 1;
            }
        })
    });
    g.finish();
    assert!(a.stats().counters.repaired > 0);
    assert_eq!(a.stats().counters.unrecovered, 0);
}

criterion_group!(benches, lossless);
criterion_main!(benches);
