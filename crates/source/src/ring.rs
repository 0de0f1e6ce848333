//! The central's retransmission ring: the last few seconds of sent datagrams, by sequence
//! number, for edges to ask again. Buffers are recycled, so steady state does not allocate.

use groupcast_base::Time;
use groupcast_wire::SeqNo;
use std::collections::VecDeque;
use std::time::Duration;

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

    /// Adds the datagram sent at `now` as `seq`; drops entries older than the keep time.
    /// A sequence number that does not follow the last one empties the ring first (restart).
    pub fn push(&mut self, now: Time, seq: SeqNo, bytes: &[u8]) {
        if self.entries.back().is_some_and(|e| e.0.next() != seq) {
            self.free.extend(self.entries.drain(..).map(|e| e.2));
        }
        while self.entries.front().is_some_and(|e| e.1 + self.keep < now) {
            if let Some(e) = self.entries.pop_front() {
                self.free.push(e.2);
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
        self.entries.get(i).map(|e| (e.0, e.2.as_slice()))
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
}
