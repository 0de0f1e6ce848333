//! The playback buffer: what is waiting for its play-out time, in order.
//!
//! Chunks leave the raw buffer complete (or with counted holes when due) and are queued here.
//! Each entry is released to the player at its play-out time, which follows the RTP
//! timestamp, so the player sees the source's pacing, shifted by the buffer. An entry holds no
//! bytes: it says where the TS payload lies in its raw buffer slot, which keeps the datagram
//! until the slot is needed for a packet one whole ring later (by then the entry has long been
//! played; if not, [`PlaybackBuffer::drop_upto`] takes it out first). Releasing a chunk copies
//! nothing.

use groupcast_base::Time;
use groupcast_wire::SeqNo;

/// One queued RTP packet's TS payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Play-out time.
    pub(crate) due: Time,
    /// The packet it came from (our number).
    pub(crate) seq: SeqNo,
    /// The packet's RTP sequence number.
    pub(crate) rtp_seq: u16,
    /// Packets were lost (unrecovered) just before this one.
    pub(crate) discontinuity: bool,
    /// Where the TS bytes lie in the packet's datagram: offset and length.
    pub(crate) payload: (u16, u16),
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
    /// Oldest queued entry.
    head: usize,
    /// Number queued.
    len: usize,
    /// The next push follows a hole.
    pending_gap: bool,
}

impl PlaybackBuffer {
    /// A ring of `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        let empty = Entry {
            due: Time::ZERO,
            seq: SeqNo(0),
            rtp_seq: 0,
            discontinuity: false,
            payload: (0, 0),
        };
        PlaybackBuffer {
            entries: vec![empty; capacity.max(1)],
            head: 0,
            len: 0,
            pending_gap: false,
        }
    }

    /// Queues packet `seq`, whose TS bytes lie at `payload` in its datagram, for play-out at
    /// `due`. Returns false if the oldest entry had to be dropped to make room (the player is
    /// not keeping up).
    pub(crate) fn push(
        &mut self,
        seq: SeqNo,
        rtp_seq: u16,
        due: Time,
        payload: (u16, u16),
    ) -> bool {
        let mut kept_all = true;
        if self.len == self.entries.len() {
            self.head = (self.head + 1) % self.entries.len();
            self.len -= 1;
            kept_all = false;
        }
        let i = (self.head + self.len) % self.entries.len();
        self.entries[i] = Entry {
            due,
            seq,
            rtp_seq,
            discontinuity: std::mem::take(&mut self.pending_gap),
            payload,
        };
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
    pub(crate) fn pop(&mut self, now: Time) -> Option<Entry> {
        if self.next_due()? > now {
            return None;
        }
        let e = self.entries[self.head];
        self.head = (self.head + 1) % self.entries.len();
        self.len -= 1;
        Some(e)
    }

    /// Drops the entries of packets numbered `upto` or lower (their raw slots are about to
    /// hold newer packets); returns how many. The next entry then starts with a
    /// discontinuity.
    pub(crate) fn drop_upto(&mut self, upto: SeqNo) -> u64 {
        let mut dropped = 0;
        while self.len > 0 && self.entries[self.head].seq <= upto {
            self.head = (self.head + 1) % self.entries.len();
            self.len -= 1;
            dropped += 1;
        }
        if dropped > 0 {
            match self.len {
                0 => self.pending_gap = true,
                _ => self.entries[self.head].discontinuity = true,
            }
        }
        dropped
    }

    /// Grows the ring to `capacity` entries, keeping queued ones in order.
    pub(crate) fn grow(&mut self, capacity: usize) {
        if capacity <= self.entries.len() {
            return;
        }
        let n = self.entries.len();
        let mut entries = Vec::with_capacity(capacity);
        entries.extend((0..self.len).map(|k| self.entries[(self.head + k) % n]));
        entries.resize(capacity, self.entries[self.head]);
        self.entries = entries;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(k: u16) -> (u16, u16) {
        (12, k)
    }

    #[test]
    fn releases_in_order_at_due_time() {
        let mut pb = PlaybackBuffer::new(4);
        pb.push(SeqNo(1), 1, Time::from_millis(10), at(1));
        pb.mark_gap();
        pb.push(SeqNo(3), 3, Time::from_millis(20), at(3));
        assert_eq!(pb.pop(Time::from_millis(9)), None);
        let p = pb.pop(Time::from_millis(10)).unwrap();
        assert_eq!(
            (p.payload, p.seq, p.discontinuity),
            (at(1), SeqNo(1), false)
        );
        assert_eq!(pb.next_due(), Some(Time::from_millis(20)));
        let p = pb.pop(Time::from_millis(30)).unwrap();
        assert_eq!((p.payload, p.discontinuity), (at(3), true));
        assert_eq!(pb.pop(Time::NEVER), None);
    }

    #[test]
    fn overflow_drops_oldest_and_grow_keeps_order() {
        let mut pb = PlaybackBuffer::new(2);
        assert!(pb.push(SeqNo(1), 1, Time::ZERO, at(1)));
        assert!(pb.push(SeqNo(2), 2, Time::ZERO, at(2)));
        assert!(!pb.push(SeqNo(3), 3, Time::ZERO, at(3)));
        pb.grow(8);
        assert!(pb.push(SeqNo(4), 4, Time::ZERO, at(4)));
        let seqs: Vec<u64> = std::iter::from_fn(|| pb.pop(Time::ZERO).map(|p| p.seq.0)).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
    }

    #[test]
    fn entries_whose_slots_are_reused_are_dropped_with_a_discontinuity() {
        let mut pb = PlaybackBuffer::new(8);
        for s in 1..=4 {
            pb.push(SeqNo(s), s as u16, Time::ZERO, at(1));
        }
        assert_eq!(pb.drop_upto(SeqNo(2)), 2);
        let p = pb.pop(Time::ZERO).unwrap();
        assert_eq!((p.seq, p.discontinuity), (SeqNo(3), true));
        assert_eq!(pb.drop_upto(SeqNo(9)), 1);
        pb.push(SeqNo(10), 10, Time::ZERO, at(1));
        assert!(pb.pop(Time::ZERO).unwrap().discontinuity);
    }
}
