//! The simulated source: RTP/TS datagrams whose content is a pure function of (SSRC, sequence
//! number), so any receiver's output can be checked byte for byte.

use groupcast_wire::Ssrc;
use groupcast_wire::rtp::{PT_MP2T, RtpPacket};
use groupcast_wire::ts::{TS_PACKET_LEN, TS_PER_DATAGRAM, TS_SYNC};

/// Bytes of TS in one datagram.
pub const PAYLOAD_LEN: usize = TS_PACKET_LEN * TS_PER_DATAGRAM;

/// Writes the TS payload for (`ssrc`, `seq`) into `out` (`PAYLOAD_LEN` bytes).
pub fn payload(ssrc: Ssrc, seq: u16, out: &mut [u8; PAYLOAD_LEN]) {
    let base = ssrc.0.wrapping_mul(31).wrapping_add(u32::from(seq));
    for (j, p) in out.chunks_exact_mut(TS_PACKET_LEN).enumerate() {
        let word = base.wrapping_mul(7).wrapping_add(j as u32).to_be_bytes();
        p[0] = TS_SYNC;
        p[1] = 0x01;
        p[2] = 0x00;
        p[3] = 0x10 | ((seq as usize * TS_PER_DATAGRAM + j) & 0x0f) as u8;
        for (k, b) in p[4..].iter_mut().enumerate() {
            *b = word[k % 4] ^ (k as u8);
        }
    }
}

/// Writes the whole RTP datagram for (`ssrc`, `seq`, `timestamp`) into `out`; returns its length.
pub fn datagram(ssrc: Ssrc, seq: u16, timestamp: u32, out: &mut [u8]) -> usize {
    let mut ts = [0u8; PAYLOAD_LEN];
    payload(ssrc, seq, &mut ts);
    let pkt = RtpPacket {
        marker: false,
        payload_type: PT_MP2T,
        sequence: seq,
        timestamp,
        ssrc,
        csrcs: &[],
        extension: None,
        payload: &ts,
        padding: 0,
    };
    pkt.emit(out).unwrap_or(0)
}
