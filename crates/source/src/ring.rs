//! The retransmission ring: the last few seconds of sent datagrams, by sequence number, for
//! edges (and unicast viewers) to ask again. Buffers are recycled, so steady state does not allocate.

use groupcast_base::Time;
use groupcast_wire::SeqNo;
use std::collections::VecDeque;
use std::time::Duration;

/// Most missing numbers a push may leave as holes; a longer jump is taken as a restart.
pub(crate) const MAX_GAP: u64 = 8_192;

/// Sent datagrams of the last `keep`.
#[derive(Debug)]
pub struct Ring {
    /// (sequence number, send time, bytes), consecutive sequence numbers, oldest first.
    entries: VecDeque<(SeqNo, Time, Vec<u8>)>,
    /// Buffers of dropped entries, reused.
    free: Vec<Vec<u8>>,
    /// How long entries stay.
    keep: Duration,
}

impl Ring {
    /// A ring keeping datagrams for `keep`.
    pub fn new(keep: Duration) -> Self {
        Ring {
            entries: VecDeque::new(),
            free: Vec::new(),
            keep,
        }
    }

    /// Adds the datagram sent (or received) at `now` as `seq`; drops entries older than the
    /// keep time. A number past the last leaves holes for the ones between, which a late copy
    /// fills (an edge forwards what it receives, gaps and retransmissions included); one
    /// before the oldest held, or more than 8,192 past the last, empties the ring first
    /// (a restart).
    pub fn push(&mut self, now: Time, seq: SeqNo, bytes: &[u8]) {
        if bytes.is_empty() {
            return; // an empty buffer marks a hole
        }
        let span = self.entries.front().zip(self.entries.back());
        if let Some(((first, _, _), (last, _, _))) = span
            && seq >= *first
            && seq <= *last
        {
            let i = (seq.0 - first.0) as usize;
            if let Some(e) = self.entries.get_mut(i).filter(|e| e.2.is_empty()) {
                e.2.extend_from_slice(bytes);
            }
            return;
        }
        if span.is_some_and(|(first, last)| seq < first.0 || seq.0 - last.0.0 > MAX_GAP) {
            self.free.extend(self.entries.drain(..).map(|e| e.2));
        }
        while self.entries.front().is_some_and(|e| e.1 + self.keep < now) {
            if let Some(e) = self.entries.pop_front() {
                self.free.push(e.2);
            }
        }
        if let Some(&(last, _, _)) = self.entries.back() {
            for hole in last.0 + 1..seq.0 {
                let mut buf = self.free.pop().unwrap_or_default();
                buf.clear();
                self.entries.push_back((SeqNo(hole), now, buf));
            }
        }
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        self.entries.push_back((seq, now, buf));
    }

    /// The datagram with 16-bit sequence number `wire` (the nearest one held), if kept.
    pub fn get(&self, wire: u16) -> Option<(SeqNo, &[u8])> {
        let (last, _, _) = self.entries.back()?;
        let seq = last.nearest(wire);
        let first = self.entries.front()?.0;
        let i = usize::try_from(seq.0.checked_sub(first.0)?).ok()?;
        self.entries
            .get(i)
            .filter(|e| !e.2.is_empty())
            .map(|e| (e.0, e.2.as_slice()))
    }

    /// Datagrams held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_seconds_and_finds_by_wire_number() {
        let mut r = Ring::new(Duration::from_millis(100));
        for i in 0..300u64 {
            r.push(Time::from_millis(i), SeqNo(65_400 + i), &i.to_be_bytes());
        }
        assert_eq!(r.len(), 101);
        let (seq, bytes) = r.get((65_400u64 + 250) as u16).unwrap();
        assert_eq!((seq, bytes), (SeqNo(65_650), &250u64.to_be_bytes()[..]));
        assert!(r.get((65_400u64 + 100) as u16).is_none(), "too old");
        r.push(Time::from_millis(300), SeqNo(7), b"restart");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn gaps_are_held_as_holes_that_late_copies_fill() {
        let mut r = Ring::new(Duration::from_secs(1));
        r.push(Time::from_millis(0), SeqNo(10), b"a");
        r.push(Time::from_millis(1), SeqNo(13), b"d");
        assert_eq!(r.len(), 4);
        assert!(
            r.get(11).is_none() && r.get(12).is_none(),
            "holes are not served"
        );
        r.push(Time::from_millis(2), SeqNo(12), b"c");
        assert_eq!(r.get(12), Some((SeqNo(12), &b"c"[..])));
        r.push(Time::from_millis(3), SeqNo(12), b"again");
        assert_eq!(
            r.get(12),
            Some((SeqNo(12), &b"c"[..])),
            "the first copy stays"
        );
        assert!(r.get(11).is_none());
        r.push(Time::from_millis(4), SeqNo(13 + MAX_GAP + 1), b"far");
        assert_eq!(r.len(), 1, "a jump past the gap bound is a restart");
        r.push(Time::from_millis(5), SeqNo(3), b"before");
        assert_eq!(r.len(), 1, "and so is a number before the oldest held");
    }
}
