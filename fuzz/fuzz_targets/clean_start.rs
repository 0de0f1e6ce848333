//! The random access point parsers and the clean start gate never panic, and the gate only
//! ever releases bytes it was given.
#![no_main]

use groupcast_core::{CleanStart, Sink};
use groupcast_wire::rap::{self, StreamType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rap::parse_pat(data);
    let _ = rap::parse_pmt(data);
    let _ = rap::pes_payload(data);
    for t in [StreamType::H264, StreamType::Hevc, StreamType::Mpeg2] {
        let _ = rap::scan_keyframe(t, data);
    }
    let mut gate = CleanStart::new(1 << 16);
    let mut sink = Sink::default();
    let mut out = 0usize;
    for piece in data.chunks(1 + data.first().copied().unwrap_or(0) as usize) {
        gate.push(piece);
        while let Some(c) = gate.poll_chunk() {
            out += c.ts.len();
            let _ = gate.admit(&mut sink, &c);
        }
    }
    assert!(out <= data.len());
});
