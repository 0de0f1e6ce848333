//! Pacer behaviour on synthetic streams with known clocks.

use super::*;

const PID: u16 = 0x100;

/// A packet of `pid`, with a PCR if given.
fn packet(pid: u16, pcr: Option<u64>) -> TsBytes {
    let mut p = [0xffu8; TS_PACKET_LEN];
    p[0] = 0x47;
    p[1] = (pid >> 8) as u8;
    p[2] = pid as u8;
    match pcr {
        None => p[3] = 0x10,
        Some(v) => {
            let (base, ext) = (v / 300, v % 300);
            p[3] = 0x30;
            p[4] = 7;
            p[5] = 0x10;
            p[6] = (base >> 25) as u8;
            p[7] = (base >> 17) as u8;
            p[8] = (base >> 9) as u8;
            p[9] = (base >> 1) as u8;
            p[10] = (((base & 1) << 7) as u8) | 0x7e | ((ext >> 8) as u8);
            p[11] = ext as u8;
        }
    }
    p
}

/// `n` packets with a PCR every 10th, at `tpp` ticks per packet starting at `start`.
fn stream(n: u64, start: u64, tpp: u64) -> Vec<TsBytes> {
    (0..n)
        .map(|i| packet(PID, (i % 10 == 0).then(|| (start + i * tpp) % PCR_WRAP)))
        .collect()
}

fn drain(p: &mut Pacer, flush: bool) -> Vec<u64> {
    let mut out = Vec::new();
    std::iter::from_fn(|| p.poll(flush, &mut out)).collect()
}

#[test]
fn packets_are_timed_by_interpolated_pcr() {
    let mut p = Pacer::by_pcr(1000);
    for pkt in stream(71, 1_000_000, 1000) {
        p.push(pkt).unwrap();
    }
    // Packets up to the PCR at index 70 are timed; datagram k starts at packet 7k.
    let times = drain(&mut p, false);
    assert_eq!(
        times,
        (0..10)
            .map(|k| 1_000_000 + 7 * k * 1000)
            .collect::<Vec<_>>()
    );
}

#[test]
fn pcr_wrap_is_seamless() {
    let mut p = Pacer::by_pcr(1000);
    for pkt in stream(71, PCR_WRAP - 35_000, 1000) {
        p.push(pkt).unwrap();
    }
    let times = drain(&mut p, false);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 7000), "{times:?}");
    assert_eq!(p.discontinuities(), 0);
}

#[test]
fn loop_continues_time_at_the_measured_rate() {
    let mut p = Pacer::by_pcr(1000);
    for _ in 0..3 {
        for pkt in stream(70, 5_000_000, 1000) {
            p.push(pkt).unwrap();
        }
        p.restart_input();
    }
    p.finish();
    let times = drain(&mut p, true);
    assert_eq!(times.len(), 30);
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 7000),
        "seams are one packet apart: {times:?}"
    );
    assert_eq!(p.discontinuities(), 2);
}

#[test]
fn a_jump_in_pcr_is_bridged() {
    let mut p = Pacer::by_pcr(1000);
    let mut pkts = stream(50, 1_000_000, 1000);
    pkts.extend(stream(21, 900_000_000, 1000));
    for pkt in pkts {
        p.push(pkt).unwrap();
    }
    let times = drain(&mut p, false);
    assert!(
        times.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 7000),
        "{times:?}"
    );
    assert_eq!(p.discontinuities(), 1);
}

#[test]
fn a_stream_without_pcr_is_refused_or_paced_by_bitrate() {
    let mut p = Pacer::by_pcr(100);
    let err = (0..200)
        .map(|_| p.push(packet(PID, None)))
        .find(Result::is_err);
    assert_eq!(err, Some(Err(PaceError::NoPcr(100))));
    let mut p = Pacer::by_bitrate(188 * 8 * 1000); // 1,000 packets/s
    for _ in 0..14 {
        p.push(packet(PID, None)).unwrap();
    }
    assert_eq!(drain(&mut p, false), vec![0, 7 * 27_000]);
}

#[test]
fn the_first_pcr_after_a_loop_carries_the_discontinuity_indicator() {
    let mut p = Pacer::by_pcr(1000);
    for pkt in stream(20, 0, 1000) {
        p.push(pkt).unwrap();
    }
    p.restart_input();
    for pkt in stream(11, 0, 1000) {
        p.push(pkt).unwrap();
    }
    p.finish();
    let mut out = Vec::new();
    let mut flags = Vec::new();
    while p.poll(true, &mut out).is_some() {
        flags.extend(
            out.chunks(TS_PACKET_LEN)
                .filter(|c| c[3] & 0x20 != 0)
                .map(|c| c[5] & 0x80 != 0),
        );
    }
    assert_eq!(flags, vec![false, false, true, false]);
}
