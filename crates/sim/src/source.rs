//! The simulated source: RTP/TS datagrams whose content is a pure function of (SSRC, sequence
//! number), so any receiver's output can be checked byte for byte.

use groupcast_wire::Ssrc;
use groupcast_wire::rtp::{PT_MP2T, RtpPacket};
use groupcast_wire::ts::{TS_PACKET_LEN, TS_PER_DATAGRAM, TS_SYNC};

/// Bytes of TS in one datagram.
pub const PAYLOAD_LEN: usize = TS_PACKET_LEN * TS_PER_DATAGRAM;

/// The bytes after each TS packet's 8-byte prefix: the same in every packet.
static FILL: [u8; TS_PACKET_LEN] = {
    let mut f = [0u8; TS_PACKET_LEN];
    let mut k = 0;
    while k < TS_PACKET_LEN {
        f[k] = (k as u8) ^ 0x5a;
        k += 1;
    }
    f
};

/// The 8-byte prefix of TS packet `j` of datagram (`ssrc`, `seq`): TS header with a
/// continuity counter, then a word unique to the packet.
fn prefix(ssrc: Ssrc, seq: u16, j: usize) -> [u8; 8] {
    let word = ssrc
        .0
        .wrapping_mul(31)
        .wrapping_add(u32::from(seq))
        .wrapping_mul(7)
        .wrapping_add(j as u32);
    let cc = ((seq as usize * TS_PER_DATAGRAM + j) & 0x0f) as u8;
    let w = word.to_be_bytes();
    [TS_SYNC, 0x01, 0x00, 0x10 | cc, w[0], w[1], w[2], w[3]]
}

/// Writes the TS payload for (`ssrc`, `seq`) into `out` (a whole number of TS packets, up to
/// `PAYLOAD_LEN` bytes).
pub fn payload(ssrc: Ssrc, seq: u16, out: &mut [u8]) {
    for (j, p) in out.chunks_exact_mut(TS_PACKET_LEN).enumerate() {
        p[..8].copy_from_slice(&prefix(ssrc, seq, j));
        p[8..].copy_from_slice(&FILL[8..]);
    }
}

/// True when `ts` is exactly the payload of (`ssrc`, `seq`), byte for byte.
pub fn is_payload(ssrc: Ssrc, seq: u16, ts: &[u8]) -> bool {
    !ts.is_empty()
        && ts.len().is_multiple_of(TS_PACKET_LEN)
        && ts.len() <= PAYLOAD_LEN
        && ts
            .chunks_exact(TS_PACKET_LEN)
            .enumerate()
            .all(|(j, p)| p[..8] == prefix(ssrc, seq, j) && p[8..] == FILL[8..])
}

/// Writes the RTP datagram for (`ssrc`, `seq`, `timestamp`) carrying `ts_count` TS packets
/// into `out`; returns its length.
pub fn datagram(ssrc: Ssrc, seq: u16, timestamp: u32, ts_count: usize, out: &mut [u8]) -> usize {
    let mut buf = [0u8; PAYLOAD_LEN];
    let ts = &mut buf[..ts_count.clamp(1, TS_PER_DATAGRAM) * TS_PACKET_LEN];
    payload(ssrc, seq, ts);
    let pkt = RtpPacket {
        marker: false,
        payload_type: PT_MP2T,
        sequence: seq,
        timestamp,
        ssrc,
        csrcs: &[],
        extension: None,
        payload: ts,
        padding: 0,
    };
    pkt.emit(out).unwrap_or(0)
}
