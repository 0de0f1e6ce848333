//! The playback buffer: depacketized MPEG-TS waiting for its play-out time.
//!
//! Chunks leave the raw buffer complete (or with counted holes when due) and are copied here
//! without their RTP headers. Each entry is released to the player at its play-out time, which
//! follows the RTP timestamp, so the player sees the source's pacing, shifted by the buffer.
//! The TS bytes live in one arena of `capacity x max_payload` bytes allocated with the ring
//! (entry `i` owns bytes `i * max_payload ..`): pushing copies, it never allocates.

use crate::time::Time;
use groupcast_wire::SeqNo;

/// One entry: the TS payload of one RTP packet.
#[derive(Debug)]
struct Entry {
    /// Play-out time.
    due: Time,
    /// The packet it came from (our number).
    seq: SeqNo,
    /// The packet's RTP sequence number.
    rtp_seq: u16,
    /// Packets were lost (unrecovered) just before this one.
    discontinuity: bool,
    /// Length of its TS bytes in the entry's part of the arena.
    len: u32,
}

/// What the player gets: TS bytes due now.
#[derive(Debug, PartialEq, Eq)]
pub struct Playout<'a> {
    /// Whole 188-byte TS packets.
    pub ts: &'a [u8],
    /// The client's number for the RTP packet they came in: consecutive numbers are
    /// consecutive packets, across source restarts too.
    pub seq: SeqNo,
    /// That packet's RTP sequence number.
    pub rtp_seq: u16,
    /// True when unrecovered packets precede this one, or the source restarted here.
    pub discontinuity: bool,
}

/// A fixed ring of entries.
#[derive(Debug)]
pub(crate) struct PlaybackBuffer {
    /// The entries; `len` of them from `head` are queued.
    entries: Vec<Entry>,
    /// The TS bytes: `max_payload` per entry, in entry order.
    ts: Vec<u8>,
    /// Arena bytes per entry.
    max_payload: usize,
    /// Oldest queued entry.
    head: usize,
    /// Number queued.
    len: usize,
    /// The next push follows a hole.
    pending_gap: bool,
}

impl PlaybackBuffer {
    /// A ring of `capacity` entries of up to `max_payload` bytes each.
    pub(crate) fn new(capacity: usize, max_payload: usize) -> Self {
        let capacity = capacity.max(1);
        let entries = (0..capacity)
            .map(|_| Entry {
                due: Time::ZERO,
                seq: SeqNo(0),
                rtp_seq: 0,
                discontinuity: false,
                len: 0,
            })
            .collect();
        PlaybackBuffer {
            entries,
            ts: vec![0; capacity * max_payload],
            max_payload,
            head: 0,
            len: 0,
            pending_gap: false,
        }
    }

    /// Queues `ts` for play-out at `due`. Returns false if the oldest entry had to be dropped
    /// to make room (the player is not keeping up). `ts` longer than the `max_payload` the
    /// buffer was made with is cut short (callers never push more than a datagram holds).
    pub(crate) fn push(&mut self, seq: SeqNo, rtp_seq: u16, due: Time, ts: &[u8]) -> bool {
        let mut kept_all = true;
        if self.len == self.entries.len() {
            self.head = (self.head + 1) % self.entries.len();
            self.len -= 1;
            kept_all = false;
        }
        let i = (self.head + self.len) % self.entries.len();
        let e = &mut self.entries[i];
        e.due = due;
        e.seq = seq;
        e.rtp_seq = rtp_seq;
        e.discontinuity = std::mem::take(&mut self.pending_gap);
        let ts = &ts[..ts.len().min(self.max_payload)];
        e.len = ts.len() as u32;
        let at = i * self.max_payload;
        self.ts[at..at + ts.len()].copy_from_slice(ts);
        self.len += 1;
        kept_all
    }

    /// Notes that packets were lost before the next push.
    pub(crate) fn mark_gap(&mut self) {
        self.pending_gap = true;
    }

    /// When the oldest entry is due, if any.
    pub(crate) fn next_due(&self) -> Option<Time> {
        (self.len > 0).then(|| self.entries[self.head].due)
    }

    /// Entries queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Pops the oldest entry if it is due at `now`.
    pub(crate) fn pop(&mut self, now: Time) -> Option<Playout<'_>> {
        if self.next_due()? > now {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % self.entries.len();
        self.len -= 1;
        let e = &self.entries[i];
        let at = i * self.max_payload;
        Some(Playout {
            ts: &self.ts[at..at + e.len as usize],
            seq: e.seq,
            rtp_seq: e.rtp_seq,
            discontinuity: e.discontinuity,
        })
    }

    /// Grows the ring to `capacity` entries, keeping queued ones in order.
    pub(crate) fn grow(&mut self, capacity: usize, max_payload: usize) {
        if capacity <= self.entries.len() {
            return;
        }
        let max = max_payload.max(self.max_payload);
        let mut bigger = PlaybackBuffer::new(capacity, max);
        bigger.pending_gap = self.pending_gap;
        let n = self.entries.len();
        for k in 0..self.len {
            let i = (self.head + k) % n;
            std::mem::swap(&mut bigger.entries[k], &mut self.entries[i]);
            let len = bigger.entries[k].len as usize;
            bigger.ts[k * max..k * max + len]
                .copy_from_slice(&self.ts[i * self.max_payload..i * self.max_payload + len]);
        }
        bigger.len = self.len;
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_order_at_due_time() {
        let mut pb = PlaybackBuffer::new(4, 16);
        pb.push(SeqNo(1), 1, Time::from_millis(10), b"one");
        pb.mark_gap();
        pb.push(SeqNo(3), 3, Time::from_millis(20), b"three");
        assert_eq!(pb.pop(Time::from_millis(9)), None);
        let p = pb.pop(Time::from_millis(10)).unwrap();
        assert_eq!(
            (p.ts, p.seq, p.discontinuity),
            (&b"one"[..], SeqNo(1), false)
        );
        assert_eq!(pb.next_due(), Some(Time::from_millis(20)));
        let p = pb.pop(Time::from_millis(30)).unwrap();
        assert_eq!((p.ts, p.discontinuity), (&b"three"[..], true));
        assert_eq!(pb.pop(Time::NEVER), None);
    }

    #[test]
    fn overflow_drops_oldest_and_grow_keeps_order() {
        let mut pb = PlaybackBuffer::new(2, 4);
        assert!(pb.push(SeqNo(1), 1, Time::ZERO, b"a"));
        assert!(pb.push(SeqNo(2), 2, Time::ZERO, b"b"));
        assert!(!pb.push(SeqNo(3), 3, Time::ZERO, b"c"));
        pb.grow(8, 4);
        assert!(pb.push(SeqNo(4), 4, Time::ZERO, b"d"));
        let seqs: Vec<u64> = std::iter::from_fn(|| pb.pop(Time::ZERO).map(|p| p.seq.0)).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
    }
}
