//! Release: from the raw buffer to the playback buffer. Chunks are released when complete, or
//! when their play-out time comes with holes (counted as unrecovered). A released packet's
//! bytes stay in its slot; the playback buffer only says where they are.

use super::{RawBuffer, SlotState};
use crate::playback::PlaybackBuffer;
use groupcast_base::Time;
use groupcast_wire::SeqNo;

/// What a release did that the client counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub(crate) struct Released {
    /// Missing packets released as holes (lost and unrecovered).
    pub(crate) holes: u64,
    /// Entries the playback buffer dropped to make room (the player did not keep up).
    pub(crate) overflow: u64,
}

impl std::ops::AddAssign for Released {
    fn add_assign(&mut self, o: Released) {
        self.holes += o.holes;
        self.overflow += o.overflow;
    }
}

/// Where released packets go: the playback buffer, and the RTP sequence number of each of
/// our numbers (which the stream receiver knows).
pub(crate) struct Sink<'a, W: Fn(SeqNo) -> u16> {
    /// The playback buffer.
    pub(crate) playback: &'a mut PlaybackBuffer,
    /// RTP sequence number of our number.
    pub(crate) wire: W,
}

impl RawBuffer {
    /// First number not yet released to the playback buffer.
    pub(crate) fn release_next(&self) -> SeqNo {
        self.release_next
    }

    /// Moves the release cursor to `seq` without releasing anything (the first packet of the
    /// first stream; a resync after an outage, once everything before was flushed).
    pub(crate) fn set_release_next(&mut self, seq: SeqNo) {
        self.release_next = seq;
    }

    /// The head chunk, given the `highest` number held or known missing: the first unreleased
    /// number, the chunk's end, and the end of what is known of it; `None` when nothing is
    /// unreleased.
    #[inline]
    pub(crate) fn head_chunk(&self, highest: SeqNo) -> Option<(SeqNo, SeqNo, SeqNo)> {
        let chunk = self.chunk();
        let next = self.release_next;
        let full_end = (next.0 / chunk + 1) * chunk;
        let known_end = full_end.min(highest.0 + 1);
        (known_end > next.0).then_some((next, SeqNo(full_end), SeqNo(known_end)))
    }

    /// When the head chunk must be released: the play-out time of its first packet (held or
    /// missing; play-out times follow sequence order, so it is the earliest).
    pub(crate) fn head_deadline(&self, highest: SeqNo) -> Option<Time> {
        let (from, _, end) = self.head_chunk(highest)?;
        (from.0..end.0).find_map(|s| self.get(SeqNo(s)).map(|slot| slot.due))
    }

    /// Releases head chunks that the stream has passed, when complete or holding nothing.
    pub(crate) fn release_complete<W: Fn(SeqNo) -> u16>(
        &mut self,
        highest: SeqNo,
        to: &mut Sink<'_, W>,
    ) -> Released {
        let mut done = Released::default();
        while let Some((from, full_end, known_end)) = self.head_chunk(highest) {
            if known_end < full_end {
                break;
            }
            // Complete, or holding nothing at all: the numbers left free between two streams
            // at a source restart may fill a chunk's end, and no packet there ever comes due.
            let resolved = self.chunk_resolved(from);
            if resolved < full_end.0 - from.0
                && (resolved > 0 || self.head_deadline(highest).is_some())
            {
                break;
            }
            done += self.release(full_end, to);
        }
        done
    }

    /// Releases complete head chunks, and from a head chunk whose first packet is due at
    /// `now`, everything up to the first missing packet still before its own deadline:
    /// a hole becomes unrecovered at its own play-out time, not at its chunk's first packet's
    /// (a chunk spans 32 packet gaps: 187 ms of a 300 ms buffer at 1.8 Mbit/s).
    pub(crate) fn release_due<W: Fn(SeqNo) -> u16>(
        &mut self,
        now: Time,
        highest: SeqNo,
        to: &mut Sink<'_, W>,
    ) -> Released {
        let mut done = self.release_complete(highest, to);
        while let Some(deadline) = self.head_deadline(highest) {
            let Some((from, _, known_end)) = self.head_chunk(highest) else {
                break;
            };
            if deadline > now {
                break;
            }
            let end = (from.0..known_end.0)
                .find(|&s| {
                    self.get(SeqNo(s))
                        .is_some_and(|slot| slot.state == SlotState::Missing && slot.due > now)
                })
                .map_or(known_end, SeqNo);
            if end == from {
                break;
            }
            done += self.release(end, to);
            done += self.release_complete(highest, to);
        }
        done
    }

    /// Releases everything below `upto` (chunk by chunk), holes counted.
    pub(crate) fn release_upto<W: Fn(SeqNo) -> u16>(
        &mut self,
        upto: SeqNo,
        highest: SeqNo,
        to: &mut Sink<'_, W>,
    ) -> Released {
        let mut done = Released::default();
        while let Some((from, _, end)) = self.head_chunk(highest) {
            if from >= upto {
                break;
            }
            done += self.release(end, to);
        }
        done
    }

    /// Queues `[release_next, end)` for play-out (the bytes stay in their raw slots).
    fn release<W: Fn(SeqNo) -> u16>(&mut self, end: SeqNo, to: &mut Sink<'_, W>) -> Released {
        let (mut done, mut present) = (Released::default(), 0u32);
        let from = self.release_next;
        self.release_next = end;
        for n in from.0..end.0 {
            let seq = SeqNo(n);
            let Some(slot) = self.get_mut(seq) else {
                continue;
            };
            match slot.state {
                SlotState::Present => {
                    if slot.boundary {
                        to.playback.mark_gap();
                    }
                    let (due, payload) = (slot.due, slot.payload);
                    if !to.playback.push(seq, (to.wire)(seq), due, payload) {
                        done.overflow += 1;
                    }
                    present += 1;
                }
                SlotState::Missing if slot.speculative => slot.next_request = Time::NEVER,
                SlotState::Missing => {
                    slot.next_request = Time::NEVER;
                    done.holes += 1;
                    to.playback.mark_gap();
                }
                SlotState::Empty => {}
            }
        }
        if end.0.is_multiple_of(self.chunk()) {
            self.chunk_released(from);
        } else {
            // Part of the chunk stays unreleased: its count keeps the present slots left.
            self.chunk_partly_released(from, present);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> std::net::SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    fn fill(rb: &mut RawBuffer, seq: u64, due_ms: u64) {
        rb.fill(SeqNo(seq), Time::ZERO, src(), &[0; 20]);
        let slot = rb.get_mut(SeqNo(seq)).unwrap();
        (slot.due, slot.payload) = (Time::from_millis(due_ms), (12, 8));
    }

    #[test]
    fn complete_chunks_go_at_once_and_holes_at_their_deadline() {
        let (mut rb, mut pb) = (RawBuffer::new(4, 4, 64), PlaybackBuffer::new(16));
        let mut to = Sink {
            playback: &mut pb,
            wire: |s: SeqNo| s.0 as u16 + 1000,
        };
        for s in 0..4 {
            fill(&mut rb, s, 10 + s);
        }
        fill(&mut rb, 4, 20);
        rb.mark_missing(SeqNo(5), Time::ZERO, Time::from_millis(21), Time::NEVER);
        fill(&mut rb, 6, 22);
        let done = rb.release_complete(SeqNo(6), &mut to);
        assert_eq!((done, rb.release_next()), (Released::default(), SeqNo(4)));
        assert_eq!(rb.head_deadline(SeqNo(6)), Some(Time::from_millis(20)));
        let early = rb.release_due(Time::from_millis(19), SeqNo(6), &mut to);
        assert_eq!((early, rb.release_next()), (Released::default(), SeqNo(4)));
        let done = rb.release_due(Time::from_millis(20), SeqNo(6), &mut to);
        assert_eq!(done.holes, 0, "the hole's own deadline is 21");
        assert_eq!(rb.release_next(), SeqNo(5), "up to the hole");
        assert_eq!(rb.head_deadline(SeqNo(6)), Some(Time::from_millis(21)));
        assert_eq!(rb.chunk_resolved(SeqNo(6)), 1, "6 is held, 4 was released");
        let done = rb.release_due(Time::from_millis(21), SeqNo(6), &mut to);
        assert_eq!(done.holes, 1);
        assert_eq!(rb.release_next(), SeqNo(7), "up to what is known");
        assert_eq!(rb.get(SeqNo(5)).map(|s| s.next_request), Some(Time::NEVER));
        let played: Vec<_> = std::iter::from_fn(|| to.playback.pop(Time::NEVER))
            .map(|e| (e.rtp_seq, e.discontinuity))
            .collect();
        let mut expect: Vec<_> = (1000..1005).map(|w| (w, false)).collect();
        expect.push((1006, true));
        assert_eq!(played, expect);
    }

    #[test]
    fn a_chunk_holding_nothing_is_passed_over() {
        let (mut rb, mut pb) = (RawBuffer::new(4, 4, 64), PlaybackBuffer::new(16));
        let mut to = Sink {
            playback: &mut pb,
            wire: |s: SeqNo| s.0 as u16,
        };
        for s in 0..6 {
            fill(&mut rb, s, 10);
        }
        let done = rb.release_complete(SeqNo(5), &mut to);
        assert_eq!((done, rb.release_next()), (Released::default(), SeqNo(4)));
        let done = rb.release_due(Time::from_millis(10), SeqNo(5), &mut to);
        assert_eq!(done.holes, 0);
        assert_eq!(rb.release_next(), SeqNo(6), "the known part of the chunk");
        // 6 and 7 are numbers no packet will ever have (left free at a restart); 8 comes.
        fill(&mut rb, 8, 500);
        let done = rb.release_complete(SeqNo(8), &mut to);
        assert_eq!((done, rb.release_next()), (Released::default(), SeqNo(8)));
        assert_eq!(rb.head_deadline(SeqNo(8)), Some(Time::from_millis(500)));
    }

    #[test]
    fn release_upto_stops_at_the_chunk_holding_it() {
        let (mut rb, mut pb) = (RawBuffer::new(4, 4, 64), PlaybackBuffer::new(2));
        let mut to = Sink {
            playback: &mut pb,
            wire: |s: SeqNo| s.0 as u16,
        };
        for s in 0..6 {
            fill(&mut rb, s, 10);
        }
        let done = rb.release_upto(SeqNo(3), SeqNo(5), &mut to);
        assert_eq!((done.overflow, rb.release_next()), (2, SeqNo(4)));
    }
}
