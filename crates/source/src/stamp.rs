//! RTP headers for the source's datagrams (RFC 3550, RFC 2250 payload type 33).

use groupcast_wire::rtp::{PT_MP2T, RtpPacket};
use groupcast_wire::{SeqNo, Ssrc};

/// Numbers and stamps outgoing datagrams of one source run.
#[derive(Clone, Debug)]
pub struct RtpStamper {
    /// This run's SSRC (random per start, chosen by the driver).
    ssrc: Ssrc,
    /// Extended sequence number of the next datagram; its low 16 bits go on the wire.
    next: SeqNo,
    /// Added to every timestamp (random per start, RFC 3550 §5.1).
    ts_offset: u32,
}

impl RtpStamper {
    /// A stamper for SSRC `ssrc`, starting at sequence number `first_seq` and offsetting
    /// timestamps by `ts_offset`.
    pub fn new(ssrc: Ssrc, first_seq: u16, ts_offset: u32) -> Self {
        RtpStamper {
            ssrc,
            next: SeqNo(u64::from(first_seq)),
            ts_offset,
        }
    }

    /// The SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Writes the datagram for `payload` at stream time `ticks_27mhz` into `out`; returns its
    /// extended sequence number and length.
    pub fn stamp(
        &mut self,
        ticks_27mhz: u64,
        payload: &[u8],
        out: &mut [u8],
    ) -> Option<(SeqNo, usize)> {
        let seq = self.next;
        let pkt = RtpPacket {
            marker: false,
            payload_type: PT_MP2T,
            sequence: seq.wire(),
            timestamp: ((ticks_27mhz / 300) as u32).wrapping_add(self.ts_offset),
            ssrc: self.ssrc,
            csrcs: &[],
            extension: None,
            payload,
            padding: 0,
        };
        let len = pkt.emit(out).ok()?;
        self.next = seq.next();
        Some((seq, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_wrap_and_timestamps_run_at_90khz() {
        let mut s = RtpStamper::new(Ssrc(9), 65_535, 100);
        let mut out = [0u8; 1400];
        let (a, n) = s.stamp(27_000_000, &[0x47; 188], &mut out).unwrap();
        let p = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(
            (p.sequence, p.timestamp, p.ssrc, p.payload_type),
            (65_535, 90_100, Ssrc(9), 33)
        );
        let (b, n) = s.stamp(27_000_300, &[0x47; 188], &mut out).unwrap();
        let p = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!((p.sequence, p.timestamp, b.0 - a.0), (0, 90_101, 1));
    }
}
