//! Tests of the clean start gate: synthetic streams, then the committed sample.

use super::*;

const VIDEO: u16 = 0x100;
const AUDIO: u16 = 0x101;

/// A packet of `pid` with `payload` (padded with 0xff).
fn packet(pid: u16, start: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x47,
        (pid >> 8) as u8 | if start { 0x40 } else { 0 },
        pid as u8,
        0x10,
    ];
    p.extend_from_slice(payload);
    p.resize(TS_PACKET_LEN, 0xff);
    p
}

fn pat() -> Vec<u8> {
    packet(
        0,
        true,
        &[0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0, 0, 0, 0, 0],
    )
}

/// A PMT on 0x1000: AAC on AUDIO, then `video_type` on VIDEO.
fn pmt(video_type: u8) -> Vec<u8> {
    let mut s = vec![0, 2, 0xb0, 23, 0, 1, 0xc1, 0, 0, 0xe1, 0, 0xf0, 0];
    s.extend_from_slice(&[
        0x0f, 0xe1, 0x01, 0xf0, 0, video_type, 0xe1, 0, 0xf0, 0, 0, 0, 0, 0,
    ]);
    packet(0x1000, true, &s)
}

/// A video PES start whose elementary stream begins with `es`.
fn pes(es: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 0];
    p.extend_from_slice(es);
    packet(VIDEO, true, &p)
}

const IDR: [u8; 9] = [0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65];
const P: [u8; 5] = [0, 0, 1, 0x41, 0x9a];

/// Everything a started sink writes after a sink starting at `from`.
fn run(gate: &mut CleanStart, sink: &mut Sink, input: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in input {
        gate.push(p);
        while let Some(c) = gate.poll_chunk() {
            for part in gate.admit(sink, &c) {
                out.extend_from_slice(part);
            }
        }
    }
    out
}

#[test]
fn starts_at_pat_pmt_and_a_keyframe_and_never_splits_a_pes() {
    let (pat, pmt) = (pat(), pmt(0x1b));
    let (body, audio) = (packet(VIDEO, false, &[1]), packet(AUDIO, false, &[2]));
    let input = [
        body.clone(),
        pat.clone(),
        pmt.clone(),
        pes(&P),
        audio.clone(),
        audio.clone(),
        pes(&IDR),
        body.clone(),
        audio.clone(),
        pes(&P),
        body.clone(),
        pes(&P),
    ];
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    let out = run(&mut gate, &mut sink, &input);
    let want = [&pat[..], &pmt, &input[6], &body, &audio, &input[9], &body].concat();
    assert_eq!(out, want, "from the keyframe, up to the last complete PES");
    let c = gate.counters();
    assert_eq!(
        (c.random_access_points, c.starts, c.gated_bytes),
        (1, 1, 6 * 188)
    );
    // A new sink starts at once from the held GOP, with the same bytes.
    let mut late = Sink::default();
    assert_eq!(gate.start_from_held(&mut late), Some(&want[..]));
    assert!(late.started() && gate.start_from_held(&mut late).is_none());
}

#[test]
fn an_sps_before_the_idr_in_the_next_packet_is_a_keyframe() {
    let sps = [0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x4d];
    let input = [
        pat(),
        pmt(0x1b),
        pes(&sps),
        packet(VIDEO, false, &[0, 0, 1, 0x65]),
        pes(&P),
    ];
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    let out = run(&mut gate, &mut sink, &input);
    assert_eq!(
        out,
        [&input[0][..], &input[1], &input[2], &input[3]].concat()
    );
    // An SPS followed by a non-IDR slice is not.
    let input = [
        pat(),
        pmt(0x1b),
        pes(&sps),
        packet(VIDEO, false, &P),
        pes(&P),
    ];
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    assert!(run(&mut gate, &mut sink, &input).is_empty());
    assert_eq!(gate.held(), None);
}

#[test]
fn random_access_indicator_and_split_pushes() {
    let mut rai = pes(&P);
    rai[3] = 0x30;
    rai.splice(4..4, [1, 0x40]);
    rai.truncate(TS_PACKET_LEN);
    let input: Vec<u8> = [pat(), pmt(0x24), rai.clone(), pes(&P)].concat();
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    let pieces: Vec<Vec<u8>> = input.chunks(100).map(<[u8]>::to_vec).collect();
    let out = run(&mut gate, &mut sink, &pieces);
    assert_eq!(out, [pat(), pmt(0x24), rai].concat());
}

#[test]
fn reset_forgets_and_the_held_stream_is_bounded() {
    let input = [
        pat(),
        pmt(0x1b),
        pes(&IDR),
        packet(VIDEO, false, &[1]),
        pes(&P),
    ];
    let mut gate = CleanStart::new(4 * 188);
    let mut sink = Sink::default();
    run(&mut gate, &mut sink, &input);
    assert_eq!(gate.held().map(<[u8]>::len), Some(4 * 188));
    run(&mut gate, &mut sink, &[pes(&P)]);
    assert_eq!((gate.held(), gate.counters().held_overflows), (None, 1));
    gate.reset();
    sink.restart();
    assert!(run(&mut gate, &mut sink, &[pes(&IDR), pes(&P)]).is_empty());
    assert_eq!(gate.counters().resets, 1);
}

#[test]
fn a_program_without_video_starts_at_a_pat_and_garbage_is_harmless() {
    let audio = packet(AUDIO, true, &[0, 0, 1, 0xc0]);
    let mut input = vec![pat(), pmt(0x03), audio.clone()];
    input.extend([
        packet(AUDIO, false, &[]),
        pat(),
        pmt(0x03),
        audio.clone(),
        pat(),
    ]);
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    let out = run(&mut gate, &mut sink, &input);
    // The first PAT came before the PMT said there is no video: the second one starts.
    assert_eq!(out, [pat(), pmt(0x03), audio].concat());
    let mut junk = vec![0x47u8; 188 * 20];
    for (i, b) in junk.iter_mut().enumerate().skip(1) {
        *b = (i * 31 % 251) as u8;
    }
    CleanStart::new(1000).push(&junk);
}

#[test]
fn the_sample_starts_at_its_second_keyframe() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/sample.ts");
    let sample = std::fs::read(path).unwrap();
    let (mut gate, mut sink) = (CleanStart::default(), Sink::default());
    let from = 1000 * 188; // mid-GOP
    let out = run(&mut gate, &mut sink, &[sample[from..].to_vec()]);
    // PAT and PMT from just before the keyframe PES at packet 2394, then the stream.
    let p = |i: usize| &sample[i * 188..(i + 1) * 188];
    assert_eq!(&out[..188], p(2383));
    assert_eq!(&out[188..376], p(2384));
    assert!(sample[2394 * 188..].starts_with(&out[376..]));
}
