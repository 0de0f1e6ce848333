//! RTP parse never panics, and whatever parses is written back to the same bytes' meaning.
#![no_main]

use groupcast_wire::rtp::RtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::parse(data) {
        let mut out = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut out).expect("buffer_len is enough");
        assert_eq!(RtpPacket::parse(&out[..n]), Ok(p));
    }
});
