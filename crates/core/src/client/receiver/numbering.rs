//! How one stream's RTP sequence numbers map into the client's single numbering space, and
//! the receiver's look-ups of a peer's (SSRC, RTP number) in it.

use super::StreamReceiver;
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

impl StreamReceiver {
    /// True if `ssrc` is the current stream or the previous one.
    pub(crate) fn follows(&self, ssrc: Ssrc) -> bool {
        self.ssrc() == Some(ssrc) || self.previous_ssrc() == Some(ssrc)
    }

    /// Our number for packet `wire` of stream `ssrc` (the current stream or the previous).
    pub(crate) fn resolve(&self, ssrc: Ssrc, wire: u16) -> Option<SeqNo> {
        let s = self.stream.as_ref()?;
        if s.numbering.ssrc == ssrc {
            return Some(s.numbering.resolve(s.highest, wire));
        }
        let p = self.previous.filter(|p| p.numbering.ssrc == ssrc)?;
        Some(p.numbering.resolve(p.highest, wire)).filter(|&q| q < s.start)
    }

    /// Our number for packet `wire` of the previous stream, with the current stream's start
    /// (numbers from there on are the current stream's).
    pub(crate) fn resolve_previous(&self, wire: u16) -> Option<(SeqNo, SeqNo)> {
        let (p, s) = (self.previous?, self.stream.as_ref()?);
        Some((p.numbering.resolve(p.highest, wire), s.start))
    }

    /// Our number of the first packet of stream `ssrc`, if that is the stream followed and its
    /// first packet is in: no packet of it before this one was ever ours.
    pub(crate) fn first_of(&self, ssrc: Ssrc) -> Option<SeqNo> {
        let s = self.stream.as_ref()?;
        (s.numbering.ssrc == ssrc && s.seq.highest().is_some()).then_some(s.start)
    }
}
