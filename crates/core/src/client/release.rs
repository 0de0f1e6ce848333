//! From raw buffer to playback buffer: chunks are released when complete, or when their
//! play-out time comes with holes (counted as unrecovered).

use super::Client;
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::SeqNo;

impl Client {
    /// Releases head chunks that are complete.
    pub(super) fn release_complete(&mut self) {
        while let Some((from, full_end, known_end)) = self.head_chunk() {
            if known_end < full_end || self.raw.chunk_resolved(from) < full_end.0 - from.0 {
                break;
            }
            self.release(full_end);
        }
    }

    /// Releases head chunks whose deadline has passed (holes become unrecovered).
    pub(super) fn release_due(&mut self, now: Time) {
        self.release_complete();
        while let Some(deadline) = self.head_deadline() {
            let Some((_, _, known_end)) = self.head_chunk() else {
                break;
            };
            if deadline > now {
                break;
            }
            self.release(known_end);
            self.release_complete();
        }
    }

    /// The head chunk: first unreleased number, the chunk's end, and the end of what is
    /// known of it (up to the highest number seen); `None` when nothing is unreleased.
    pub(super) fn head_chunk(&self) -> Option<(SeqNo, SeqNo, SeqNo)> {
        let s = self.stream.as_ref()?;
        let chunk = self.raw.chunk();
        let full_end = (s.release_next.0 / chunk + 1) * chunk;
        let known_end = full_end.min(s.highest.0 + 1);
        (known_end > s.release_next.0).then_some((
            s.release_next,
            SeqNo(full_end),
            SeqNo(known_end),
        ))
    }

    /// When the head chunk must be released: the play-out time of its first packet (held or
    /// missing; play-out times follow sequence order, so it is the earliest).
    pub(super) fn head_deadline(&self) -> Option<Time> {
        let (from, _, end) = self.head_chunk()?;
        (from.0..end.0).find_map(|s| self.raw.get(SeqNo(s)).map(|slot| slot.due))
    }

    /// Releases everything below `upto` (chunk by chunk), holes counted.
    pub(super) fn force_release(&mut self, upto: SeqNo) {
        while let Some((from, _, end)) = self.head_chunk() {
            if from >= upto {
                break;
            }
            self.release(end);
        }
    }

    /// Releases everything held.
    pub(super) fn flush(&mut self) {
        self.force_release(SeqNo(u64::MAX));
    }

    /// Queues `[release_next, end)` for play-out (the bytes stay in their raw slots).
    fn release(&mut self, end: SeqNo) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let from = s.release_next;
        s.release_next = end;
        for n in from.0..end.0 {
            let seq = SeqNo(n);
            let wire = self.numbering_of(seq).map(|num| num.wire(seq));
            let Some(slot) = self.raw.get_mut(seq) else {
                continue;
            };
            match slot.state {
                SlotState::Present => {
                    if slot.boundary {
                        self.playback.mark_gap();
                    }
                    let (due, payload) = (slot.due, slot.payload);
                    if !self
                        .playback
                        .push(seq, wire.unwrap_or_default(), due, payload)
                    {
                        self.stats.counters.playback_overflow += 1;
                    }
                }
                SlotState::Missing => {
                    slot.next_request = Time::NEVER;
                    self.stats.counters.unrecovered += 1;
                    self.stats.counters.lost += 1;
                    self.playback.mark_gap();
                }
                SlotState::Empty => {}
            }
        }
        self.raw.chunk_released(from);
    }
}
