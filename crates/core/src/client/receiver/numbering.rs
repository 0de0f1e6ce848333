//! How one stream's RTP sequence numbers map into the client's single numbering space.

use groupcast_wire::{SeqNo, Ssrc};

/// How one stream's RTP sequence numbers map into the client's single numbering space.
///
/// Each source (SSRC) gets its own 64-bit extension; adding `offset` (wrapping) places it after
/// the previous stream, so the raw and playback buffers run on without a break when the
/// source restarts, and the old stream's last packets can still be repaired and served.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Numbering {
    /// The stream.
    pub(crate) ssrc: Ssrc,
    /// Added (wrapping) to the stream's extended sequence numbers.
    pub(super) offset: u64,
}

impl Numbering {
    /// The RTP sequence number of our number `seq`.
    pub(crate) fn wire(&self, seq: SeqNo) -> u16 {
        seq.0.wrapping_sub(self.offset) as u16
    }

    /// Our number for RTP sequence number `wire`, taken nearest to our number `near`.
    pub(crate) fn resolve(&self, near: SeqNo, wire: u16) -> SeqNo {
        let ext = SeqNo(near.0.wrapping_sub(self.offset)).nearest(wire);
        SeqNo(ext.0.wrapping_add(self.offset))
    }
}
