//! RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
//!
//! [`RtpPacket::parse`] borrows from the datagram and checks every length against the buffer;
//! [`RtpPacket::emit`] writes the same structure back, so `emit(parse(x)) == x` for any valid `x`.

use crate::seq::Ssrc;
use core::fmt;

/// Length of the fixed RTP header.
pub const FIXED_HEADER_LEN: usize = 12;
/// Payload type of MPEG-2 transport streams (RFC 3551 §6, RFC 2250).
pub const PT_MP2T: u8 = 33;
/// RTP clock rate of MPEG-2 TS payloads, in Hz.
pub const MP2T_CLOCK_HZ: u64 = 90_000;

mod field {
    pub(super) const VPXCC: usize = 0;
    pub(super) const MPT: usize = 1;
    pub(super) const SEQ: core::ops::Range<usize> = 2..4;
    pub(super) const TS: core::ops::Range<usize> = 4..8;
    pub(super) const SSRC: core::ops::Range<usize> = 8..12;
}

/// Why a datagram is not a valid RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header, CSRC list or extension it announces.
    Truncated,
    /// Version field is not 2.
    BadVersion(u8),
    /// Padding count is zero or larger than the space after the header.
    BadPadding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::Truncated => f.write_str("RTP packet truncated"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::BadPadding => f.write_str("RTP padding length invalid"),
        }
    }
}

impl std::error::Error for RtpError {}

/// An RTP header extension (RFC 3550 §5.3.1): a profile word and 32-bit-aligned data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The profile-defined 16-bit identifier.
    pub profile: u16,
    /// Extension data; its length is a multiple of 4 on a valid packet.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing from its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// 16-bit sequence number as on the wire.
    pub sequence: u16,
    /// 32-bit media timestamp as on the wire.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: Ssrc,
    /// The CSRC list as raw big-endian words (4 bytes each, at most 15).
    pub csrcs: &'a [u8],
    /// Header extension, if the X bit is set.
    pub extension: Option<Extension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Number of padding bytes at the end (0 when the P bit is clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses and checks a datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let fixed = buf.get(..FIXED_HEADER_LEN).ok_or(RtpError::Truncated)?;
        let version = fixed[field::VPXCC] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[field::VPXCC] & 0x20 != 0;
        let has_ext = fixed[field::VPXCC] & 0x10 != 0;
        let csrc_len = usize::from(fixed[field::VPXCC] & 0x0f) * 4;
        let mut at = FIXED_HEADER_LEN;
        let csrcs = buf.get(at..at + csrc_len).ok_or(RtpError::Truncated)?;
        at += csrc_len;
        let extension = if has_ext {
            let head = buf.get(at..at + 4).ok_or(RtpError::Truncated)?;
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let data = buf
                .get(at + 4..at + 4 + words * 4)
                .ok_or(RtpError::Truncated)?;
            at += 4 + words * 4;
            Some(Extension {
                profile: u16::from_be_bytes([head[0], head[1]]),
                data,
            })
        } else {
            None
        };
        let rest = &buf[at..];
        let padding = if has_padding {
            let n = *rest.last().ok_or(RtpError::BadPadding)?;
            if n == 0 || usize::from(n) > rest.len() {
                return Err(RtpError::BadPadding);
            }
            n
        } else {
            0
        };
        Ok(RtpPacket {
            marker: fixed[field::MPT] & 0x80 != 0,
            payload_type: fixed[field::MPT] & 0x7f,
            sequence: u16::from_be_bytes([fixed[field::SEQ.start], fixed[field::SEQ.start + 1]]),
            timestamp: be32(&fixed[field::TS]),
            ssrc: Ssrc(be32(&fixed[field::SSRC])),
            csrcs,
            extension,
            payload: &rest[..rest.len() - usize::from(padding)],
            padding,
        })
    }

    /// Iterates over the CSRC identifiers.
    pub fn csrc_iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrcs.chunks_exact(4).map(be32)
    }

    /// Number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        FIXED_HEADER_LEN
            + self.csrcs.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Writes the packet into `out`, which must hold [`buffer_len`](Self::buffer_len) bytes.
    ///
    /// Returns the number of bytes written. CSRC and extension data are truncated to whole
    /// words and at most 15 CSRCs are written, so the output always parses.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let csrcs = &self.csrcs[..(self.csrcs.len() / 4).min(15) * 4];
        let ext_len = self.extension.map_or(0, |e| 4 + e.data.len() / 4 * 4);
        let len = FIXED_HEADER_LEN
            + csrcs.len()
            + ext_len
            + self.payload.len()
            + usize::from(self.padding);
        let out = out.get_mut(..len).ok_or(RtpError::Truncated)?;
        let flags = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 };
        out[field::VPXCC] = flags | (csrcs.len() / 4) as u8;
        out[field::MPT] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[field::SEQ].copy_from_slice(&self.sequence.to_be_bytes());
        out[field::TS].copy_from_slice(&self.timestamp.to_be_bytes());
        out[field::SSRC].copy_from_slice(&self.ssrc.0.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        out[at..at + csrcs.len()].copy_from_slice(csrcs);
        at += csrcs.len();
        if let Some(ext) = self.extension {
            let data = &ext.data[..ext.data.len() / 4 * 4];
            out[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            out[at + 4..at + 4 + data.len()].copy_from_slice(data);
            at += 4 + data.len();
        }
        out[at..at + self.payload.len()].copy_from_slice(self.payload);
        at += self.payload.len();
        if self.padding > 0 {
            let pad = &mut out[at..at + usize::from(self.padding)];
            pad.fill(0);
            pad[pad.len() - 1] = self.padding;
        }
        Ok(len)
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with 1 CSRC, a 1-word extension, 3 payload bytes and 2 padding bytes.
    const FIXTURE: &str = "b1a1 1234 0001e240 deadbeef 01020304 bede0001 aabbccdd 474011 0002";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_fixture() {
        let bytes = hex(FIXTURE);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, PT_MP2T);
        assert_eq!(
            (p.sequence, p.timestamp, p.ssrc),
            (0x1234, 123_456, Ssrc(0xdead_beef))
        );
        assert_eq!(p.csrc_iter().collect::<Vec<_>>(), vec![0x0102_0304]);
        assert_eq!(
            p.extension,
            Some(Extension {
                profile: 0xbede,
                data: &hex("aabbccdd")
            })
        );
        assert_eq!(p.payload, &[0x47, 0x40, 0x11]);
        assert_eq!(p.padding, 2);
    }

    #[test]
    fn emit_round_trips_fixture() {
        let bytes = hex(FIXTURE);
        let p = RtpPacket::parse(&bytes).unwrap();
        let mut out = vec![0; p.buffer_len()];
        assert_eq!(p.emit(&mut out).unwrap(), bytes.len());
        assert_eq!(out, bytes);
    }

    #[test]
    fn rejects_bad_input() {
        let bytes = hex(FIXTURE);
        assert_eq!(RtpPacket::parse(&bytes[..11]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&bytes[..15]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&bytes[..22]), Err(RtpError::Truncated));
        let mut v1 = bytes.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        let mut pad = bytes.clone();
        *pad.last_mut().unwrap() = 0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
        *pad.last_mut().unwrap() = 200;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
    }

    #[test]
    fn emit_into_short_buffer_fails() {
        let bytes = hex(FIXTURE);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.emit(&mut [0; 10]), Err(RtpError::Truncated));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = RtpPacket::parse(&bytes);
        }

        #[test]
        fn valid_packets_round_trip(
            marker: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
            ncsrc in 0usize..16, ext in proptest::option::of((proptest::num::u16::ANY, 0usize..4)),
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..40), padding in 0u8..8,
        ) {
            let csrcs = vec![7u8; ncsrc * 4];
            let ext_data = vec![9u8; ext.map_or(0, |e| e.1 * 4)];
            let p = RtpPacket {
                marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc: Ssrc(ssrc),
                csrcs: &csrcs, extension: ext.map(|e| Extension { profile: e.0, data: &ext_data }),
                payload: &payload, padding,
            };
            let mut out = vec![0; p.buffer_len()];
            let n = p.emit(&mut out).unwrap();
            proptest::prop_assert_eq!(RtpPacket::parse(&out[..n]).unwrap(), p);
        }
    }
}
