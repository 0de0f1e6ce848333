//! Central and edge over an in-process lossy link on virtual time: the edge forwards every
//! packet exactly once, byte for byte, NACKing what the link lost.

#![allow(clippy::unwrap_used)]

use groupcast_base::Time;
use groupcast_source::{Central, Edge, EdgeConfig, RtpStamper};
use groupcast_wire::{SeqExtender, Ssrc};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN: &[u8] = b"metro-a-secret";

/// A tiny deterministic generator (xorshift) for the link's losses.
struct Lossy(u64);
impl Lossy {
    fn lose(&mut self, per_mille: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 1000 < per_mille
    }
}

struct Run {
    sent: BTreeMap<u64, Vec<u8>>,
    forwarded: Vec<Vec<u8>>,
    central: Central,
    edge: Edge,
}

/// Sends `n` datagrams at 1 per ms; the link drops `loss` per mille each way.
fn run(n: u64, loss: u64, edge_token: &[u8], nack: bool) -> Run {
    let edge_addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let mut central = Central::new(TOKEN, Duration::from_secs(2));
    let mut cfg = EdgeConfig::new("metro-a");
    if !nack {
        cfg.reorder_hold = Duration::from_secs(3600);
    }
    let mut edge = Edge::new(cfg, edge_token);
    let mut stamper = RtpStamper::new(Ssrc(77), 65_000, 0);
    let mut link = Lossy(0x9e37_79b9_7f4a_7c15);
    let (mut sent, mut forwarded) = (BTreeMap::new(), Vec::new());
    let mut buf = [0u8; 1500];
    // In-flight datagrams: (arrival, to_edge, bytes); 10 ms one way.
    let mut wire: Vec<(Time, bool, Vec<u8>)> = Vec::new();
    let delay = Duration::from_millis(10);
    for ms in 0..n + 2000 {
        let now = Time::from_millis(ms);
        // Deliver what arrives now.
        let (due, rest): (Vec<_>, Vec<_>) = wire.into_iter().partition(|w| w.0 <= now);
        wire = rest;
        for (_, to_edge, bytes) in due {
            if to_edge {
                if edge.handle_upstream(now, &bytes).is_some() {
                    forwarded.push(bytes);
                }
            } else {
                central.handle_edge(now, edge_addr, &bytes);
            }
        }
        if ms < n {
            let payload = [0x47u8; 188 * 7];
            let (seq, len) = stamper.stamp(ms * 27_000, &payload, &mut buf).unwrap();
            sent.insert(seq.0, buf[..len].to_vec());
            central.on_sent(now, seq, &buf[..len]);
        }
        edge.handle_timeout(now);
        while let Some(len) = edge.poll_transmit(now, &mut buf) {
            if !link.lose(loss) {
                wire.push((now + delay, false, buf[..len].to_vec()));
            }
        }
        while let Some((to, bytes)) = central.poll_transmit() {
            assert_eq!(to, edge_addr);
            if !link.lose(loss) {
                wire.push((now + delay, true, bytes.to_vec()));
            }
        }
    }
    Run {
        sent,
        forwarded,
        central,
        edge,
    }
}

#[test]
fn edge_forwards_every_packet_once_under_upstream_loss() {
    let r = run(20_000, 50, TOKEN, true);
    let s = r.edge.stats();
    assert!(s.recovered > 500, "the link lost ~5 %: {s:?}");
    assert_eq!(s.unrecovered, 0, "{s:?}");
    // The stream as the edge forwarded it, by extended sequence number (first is 65,000).
    let mut ext = SeqExtender::new();
    ext.extend(65_000);
    let mut by_seq: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for f in &r.forwarded {
        let seq = ext.extend(u16::from_be_bytes([f[2], f[3]])).0 - (1 << 16);
        assert!(
            by_seq.insert(seq, f.clone()).is_none(),
            "forwarded twice: {seq}"
        );
    }
    // Everything from the first packet relayed to the edge (it registers after one trip).
    let first = *by_seq.keys().next().unwrap();
    assert!(
        first - 65_000 <= 12,
        "relaying starts once the HELLO arrives: {first}"
    );
    let expected: BTreeMap<u64, Vec<u8>> = r
        .sent
        .range(first..)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(by_seq.len(), expected.len());
    assert!(
        by_seq == expected,
        "same SSRC, same sequence numbers, same bytes"
    );
    assert!(r.central.stats().retransmitted >= s.recovered);
}

#[test]
fn control_without_nacks_loses_packets() {
    let r = run(5_000, 50, TOKEN, false);
    assert!(r.forwarded.len() < 4_800, "{}", r.forwarded.len());
    assert_eq!(r.central.stats().retransmitted, 0);
}

#[test]
fn an_edge_with_the_wrong_token_gets_nothing() {
    let r = run(1_000, 0, b"guess", true);
    assert!(r.forwarded.is_empty());
    assert!(r.central.stats().unauthenticated > 0);
    assert_eq!(r.central.edges().count(), 0);
}
