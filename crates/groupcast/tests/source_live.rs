//! `groupcast source` with live input: raw TS over UDP and RTP/TS are forwarded byte for byte,
//! and a stalled input is waited out.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

/// 7-packet payloads cut from the sample.
fn payloads(n: usize) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(sample()).unwrap();
    bytes
        .chunks_exact(7 * 188)
        .take(n)
        .map(<[u8]>::to_vec)
        .collect()
}

fn rtp_wrap(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 33];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0xab, 0xcd, 0xef, 0x01]);
    p.extend_from_slice(payload);
    p
}

fn ingest(scheme: &str, port: u16, group: &str, wrap: bool) {
    let rx = join(group.parse().unwrap());
    let input = format!("{scheme}://@127.0.0.1:{port}");
    let _src = groupcast(&[
        "source",
        "--input",
        &input,
        "--group",
        group,
        "--iface",
        "127.0.0.1",
        "--duration",
        "4",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    let tx = loopback_sender();
    let sent = payloads(400);
    for (i, p) in sent.iter().enumerate() {
        let datagram = if wrap {
            rtp_wrap(i as u16, p)
        } else {
            p.clone()
        };
        tx.send_to(&datagram, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_micros(500));
    }
    let got = collect(&rx, Duration::from_secs(2), sent.len());
    let out: Vec<u8> = got.iter().flat_map(|g| g.1[12..].to_vec()).collect();
    assert_eq!(got.len(), sent.len());
    assert!(out == sent.concat(), "the TS went through byte for byte");
    let seqs: Vec<u16> = got.iter().map(|g| rtp_fields(&g.1).0).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    assert!(got.iter().all(|g| g.1[1] & 0x7f == 33), "payload type 33");
}

#[test]
fn udp_ts_input_is_forwarded_byte_for_byte() {
    ingest("udp", 47_001, "239.255.44.1:5004", false);
}

#[test]
fn rtp_input_is_rewrapped_with_our_own_numbering() {
    ingest("rtp", 47_002, "239.255.44.2:5004", true);
}

#[test]
fn a_stalled_input_is_waited_out() {
    let group = "239.255.44.3:5004";
    let rx = join(group.parse().unwrap());
    let dir = tempdir("stall");
    let stats_path = dir.join("stats.json");
    let src = groupcast(&[
        "source",
        "--input",
        "udp://@127.0.0.1:47003",
        "--group",
        group,
        "--iface",
        "127.0.0.1",
        "--duration",
        "4",
        "--stats-json",
        stats_path.to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let tx = loopback_sender();
    let sent = payloads(200);
    for p in &sent[..100] {
        tx.send_to(p, "127.0.0.1:47003").unwrap();
    }
    std::thread::sleep(Duration::from_millis(1600));
    tx.send_to(b"not a transport stream", "127.0.0.1:47003")
        .unwrap();
    for p in &sent[100..] {
        tx.send_to(p, "127.0.0.1:47003").unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let got = collect(&rx, Duration::from_secs(1), sent.len());
    assert!(src.wait(Duration::from_secs(5)).success());
    assert_eq!(got.len(), 200, "both sides of the stall arrive");
    let s = stats(&stats_path);
    assert_eq!(
        s["input_stalls"], 2,
        "the pause, and the end of input before --duration"
    );
    assert_eq!(
        s["bytes_skipped"], 22,
        "the garbage datagram is skipped and counted"
    );
}
