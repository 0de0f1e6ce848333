//! MPEG-2 transport stream payload checks (ISO/IEC 13818-1 §2.4.3).
//!
//! groupcast carries TS inside RTP (RFC 2250): a payload is a whole number of 188-byte packets,
//! each starting with the sync byte `0x47`. This module checks that shape and reads the few
//! header fields the rest of the system needs; it does not demultiplex.

use core::fmt;

/// Length of one TS packet.
pub const TS_PACKET_LEN: usize = 188;
/// The sync byte every TS packet starts with.
pub const TS_SYNC: u8 = 0x47;
/// TS packets per RTP datagram in the usual 1316-byte layout.
pub const TS_PER_DATAGRAM: usize = 7;

/// Why a payload is not a run of TS packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TsError {
    /// The payload is empty.
    Empty,
    /// The length is not a multiple of 188.
    BadLength(usize),
    /// The packet at this index does not start with 0x47.
    BadSync(usize),
    /// The adaptation field length (this value) runs past the packet's end.
    BadAdaptation(u8),
}

impl fmt::Display for TsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsError::Empty => f.write_str("empty TS payload"),
            TsError::BadLength(n) => write!(f, "TS payload of {n} bytes is not a multiple of 188"),
            TsError::BadSync(i) => write!(f, "TS packet {i} lacks the 0x47 sync byte"),
            TsError::BadAdaptation(n) => write!(f, "TS adaptation field of {n} bytes overruns"),
        }
    }
}

impl std::error::Error for TsError {}

/// Checks that `payload` is one or more whole TS packets; returns how many.
pub fn check_payload(payload: &[u8]) -> Result<usize, TsError> {
    if payload.is_empty() {
        return Err(TsError::Empty);
    }
    if !payload.len().is_multiple_of(TS_PACKET_LEN) {
        return Err(TsError::BadLength(payload.len()));
    }
    match payload
        .chunks_exact(TS_PACKET_LEN)
        .position(|p| p[0] != TS_SYNC)
    {
        Some(i) => Err(TsError::BadSync(i)),
        None => Ok(payload.len() / TS_PACKET_LEN),
    }
}

/// A view of one 188-byte TS packet's header fields.
#[derive(Clone, Copy, Debug)]
pub struct TsPacket<'a> {
    /// The whole 188-byte packet.
    bytes: &'a [u8; TS_PACKET_LEN],
}

impl<'a> TsPacket<'a> {
    /// Wraps `bytes` if it is exactly one packet with the sync byte.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, TsError> {
        let bytes: &[u8; TS_PACKET_LEN] = bytes
            .try_into()
            .map_err(|_| TsError::BadLength(bytes.len()))?;
        if bytes[0] != TS_SYNC {
            return Err(TsError::BadSync(0));
        }
        Ok(TsPacket { bytes })
    }

    /// The 13-bit packet identifier.
    pub fn pid(&self) -> u16 {
        u16::from_be_bytes([self.bytes[1] & 0x1f, self.bytes[2]])
    }

    /// The 4-bit continuity counter.
    pub fn continuity_counter(&self) -> u8 {
        self.bytes[3] & 0x0f
    }

    /// Payload unit start indicator.
    pub fn unit_start(&self) -> bool {
        self.bytes[1] & 0x40 != 0
    }

    /// Whether an adaptation field is present.
    fn has_adaptation(&self) -> bool {
        self.bytes[3] & 0x20 != 0
    }

    /// The adaptation field's `random_access_indicator`: the next PES of this PID starts at a
    /// random access point (a keyframe, for video).
    pub fn random_access(&self) -> bool {
        self.has_adaptation() && self.bytes[4] > 0 && self.bytes[5] & 0x40 != 0
    }

    /// The payload after the header and any adaptation field; empty when the packet has none.
    /// An adaptation field longer than the packet is [`TsError::BadAdaptation`].
    pub fn payload(&self) -> Result<&'a [u8], TsError> {
        let bytes: &'a [u8; TS_PACKET_LEN] = self.bytes;
        let start = if self.has_adaptation() {
            5 + usize::from(bytes[4])
        } else {
            4
        };
        if start > TS_PACKET_LEN {
            return Err(TsError::BadAdaptation(bytes[4]));
        }
        Ok(if bytes[3] & 0x10 != 0 {
            &bytes[start..]
        } else {
            &[]
        })
    }

    /// The whole 188-byte packet.
    pub fn as_bytes(&self) -> &'a [u8; TS_PACKET_LEN] {
        self.bytes
    }

    /// The program clock reference in 27 MHz units, if this packet carries one.
    pub fn pcr(&self) -> Option<u64> {
        let af_len = usize::from(self.bytes[4]);
        if !self.has_adaptation() || af_len < 7 || self.bytes[5] & 0x10 == 0 {
            return None;
        }
        let b = &self.bytes[6..12];
        let base = (u64::from(b[0]) << 25)
            | (u64::from(b[1]) << 17)
            | (u64::from(b[2]) << 9)
            | (u64::from(b[3]) << 1)
            | u64::from(b[4] >> 7);
        let ext = (u64::from(b[4] & 1) << 8) | u64::from(b[5]);
        Some(base * 300 + ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, cc: u8) -> [u8; TS_PACKET_LEN] {
        let mut p = [0xffu8; TS_PACKET_LEN];
        p[0] = TS_SYNC;
        p[1] = 0x40 | (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = 0x10 | cc;
        p
    }

    #[test]
    fn counts_whole_packets() {
        let mut run = Vec::new();
        for cc in 0..7 {
            run.extend_from_slice(&packet(0x100, cc));
        }
        assert_eq!(check_payload(&run), Ok(7));
        assert_eq!(check_payload(&run[..187]), Err(TsError::BadLength(187)));
        assert_eq!(check_payload(&[]), Err(TsError::Empty));
        run[188 * 3] = 0;
        assert_eq!(check_payload(&run), Err(TsError::BadSync(3)));
    }

    #[test]
    fn reads_header_fields() {
        let p = packet(0x1abc, 9);
        let ts = TsPacket::new_checked(&p).unwrap();
        assert_eq!(
            (ts.pid(), ts.continuity_counter(), ts.unit_start()),
            (0x1abc, 9, true)
        );
        assert_eq!(ts.pcr(), None);
        assert!(TsPacket::new_checked(&p[..100]).is_err());
    }

    #[test]
    fn reads_pcr() {
        let mut p = packet(0x100, 0);
        p[3] = 0x30;
        p[4] = 7;
        p[5] = 0x10;
        // base = 0x1_0000_0001 (33 bits), extension = 0x101.
        p[6..12].copy_from_slice(&[0x80, 0x00, 0x00, 0x00, 0xff, 0x01]);
        let pcr = TsPacket::new_checked(&p).unwrap().pcr().unwrap();
        assert_eq!(pcr, 0x1_0000_0001 * 300 + 0x101);
    }

    #[test]
    fn reads_payload_and_random_access() {
        let mut p = packet(0x100, 0);
        assert_eq!(
            TsPacket::new_checked(&p).unwrap().payload().unwrap().len(),
            184
        );
        p[3] = 0x30; // adaptation field and payload
        p[4] = 1;
        p[5] = 0x40;
        let ts = TsPacket::new_checked(&p).unwrap();
        assert!(ts.random_access());
        assert_eq!(ts.payload().unwrap().len(), 182);
        p[4] = 183; // adaptation only, filling the packet
        p[3] = 0x20;
        assert_eq!(
            TsPacket::new_checked(&p).unwrap().payload().unwrap(),
            &[] as &[u8]
        );
        p[4] = 200;
        let bad = TsPacket::new_checked(&p).unwrap().payload();
        assert_eq!(bad, Err(TsError::BadAdaptation(200)));
        p[4] = 0;
        assert!(!TsPacket::new_checked(&p).unwrap().random_access());
    }
}
