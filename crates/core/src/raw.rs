//! The raw buffer: received RTP datagrams, still numbered, in a ring of slots indexed by
//! extended sequence number.
//!
//! Capacity is always a whole number of chunks, so chunk boundaries fall on ring boundaries
//! and a chunk's completeness is one counter. The datagrams live in one contiguous arena of
//! `capacity x max_datagram` bytes, allocated with the ring: slot `i` owns bytes
//! `i * max_datagram ..`, so steady-state receive copies into memory the ring already holds
//! (no allocation, no pointer to follow per slot), and slot metadata stays small and dense.

mod release;

pub(crate) use release::{Released, Sink};

use groupcast_base::Time;
use groupcast_wire::SeqNo;
use std::net::{Ipv4Addr, SocketAddr};

/// What a slot holds for its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Nothing (never used, or cleared).
    Empty,
    /// Known to be missing; repair bookkeeping is live.
    Missing,
    /// Holds the datagram.
    Present,
}

/// One packet position.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The sequence number the slot currently stands for (valid unless `Empty`).
    pub(crate) seq: SeqNo,
    /// What it holds.
    pub(crate) state: SlotState,
    /// Length of the datagram held in the slot's part of the arena.
    len: u32,
    /// Where the RTP payload (the TS bytes) lies in the datagram: offset and length.
    pub(crate) payload: (u16, u16),
    /// Where the datagram came from, to rebuild its UDP header for a repair.
    pub(crate) src: SocketAddr,
    /// Arrival time if present, detection time if missing.
    pub(crate) at: Time,
    /// When this packet must be in the playback buffer.
    pub(crate) due: Time,
    /// Extended RTP timestamp of a present packet.
    pub(crate) rtp_ts: u64,
    /// Filled by a repair rather than by multicast.
    pub(crate) repaired: bool,
    /// First packet of a stream after a source restart (a discontinuity for the player).
    pub(crate) boundary: bool,
    /// A number before the first packet received of a restarted stream, asked for in case the
    /// stream's first packets were lost: when no packet comes, it is no loss.
    pub(crate) speculative: bool,
    /// Requests sent for it so far (missing slots).
    pub(crate) attempts: u8,
    /// When the next request may go out (missing slots).
    pub(crate) next_request: Time,
    /// Times it was asked of the last resort (the relay), after the group gave up on it.
    pub(crate) escalations: u8,
    /// Times it was asked of our backups (another group's members), after our group.
    pub(crate) backup_asks: u8,
    /// Which peers (bit `i` for the membership list's index `i`, members then backups, the
    /// first 16) said they lack it too (missing slots).
    pub(crate) absent: u16,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            seq: SeqNo(0),
            state: SlotState::Empty,
            len: 0,
            payload: (0, 0),
            src: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            at: Time::ZERO,
            due: Time::NEVER,
            rtp_ts: 0,
            repaired: false,
            boundary: false,
            speculative: false,
            attempts: 0,
            next_request: Time::NEVER,
            escalations: 0,
            backup_asks: 0,
            absent: 0,
        }
    }

    /// Whether every peer of `mask` (bits as in `absent`; an empty mask is nobody) said it
    /// lacks this packet too.
    pub(crate) fn lacked_by_all(&self, mask: u16) -> bool {
        mask != 0 && self.absent & mask == mask
    }

    fn resolved(&self) -> bool {
        self.state == SlotState::Present
    }
}

/// The ring.
#[derive(Debug)]
pub(crate) struct RawBuffer {
    /// `chunk * chunks` slots.
    slots: Vec<Slot>,
    /// The datagrams: `max_datagram` bytes per slot, in slot order.
    data: Vec<u8>,
    /// Packets per chunk.
    chunk: usize,
    /// Per ring chunk: present slots of the unreleased part of the chunk mapped there.
    resolved: Vec<u32>,
    /// Arena bytes per slot (the largest datagram accepted).
    max_datagram: usize,
    /// First number not yet released to the playback buffer (see `raw/release.rs`); it runs
    /// on across source restarts.
    release_next: SeqNo,
}

impl RawBuffer {
    /// A ring of `chunks` chunks of `chunk` packets, each slot holding `max_datagram` bytes.
    pub(crate) fn new(chunk: usize, chunks: usize, max_datagram: usize) -> Self {
        let chunks = chunks.max(2);
        RawBuffer {
            slots: (0..chunk * chunks).map(|_| Slot::new()).collect(),
            data: vec![0; chunk * chunks * max_datagram],
            chunk,
            resolved: vec![0; chunks],
            max_datagram,
            release_next: SeqNo(0),
        }
    }

    /// Capacity in packets.
    pub(crate) fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Packets per chunk.
    pub(crate) fn chunk(&self) -> u64 {
        self.chunk as u64
    }

    fn index(&self, seq: SeqNo) -> usize {
        (seq.0 % self.capacity()) as usize
    }

    /// The slot standing for `seq`, if any.
    pub(crate) fn get(&self, seq: SeqNo) -> Option<&Slot> {
        let s = &self.slots[self.index(seq)];
        (s.seq == seq && s.state != SlotState::Empty).then_some(s)
    }

    /// The datagram held for `seq` (empty unless the slot is present).
    pub(crate) fn bytes(&self, seq: SeqNo) -> &[u8] {
        match self.get(seq) {
            Some(s) if s.state == SlotState::Present => self.arena(self.index(seq), s.len),
            _ => &[],
        }
    }

    /// The bytes at `payload` (offset, length) in the datagram held for `seq`, if the slot
    /// still holds it.
    pub(crate) fn payload(&self, seq: SeqNo, (at, len): (u16, u16)) -> Option<&[u8]> {
        let i = self.index(seq);
        let s = &self.slots[i];
        if s.seq != seq || s.state != SlotState::Present || u32::from(at) + u32::from(len) > s.len {
            return None;
        }
        let start = i * self.max_datagram + usize::from(at);
        Some(&self.data[start..start + usize::from(len)])
    }

    fn arena(&self, i: usize, len: u32) -> &[u8] {
        let at = i * self.max_datagram;
        &self.data[at..at + len as usize]
    }

    /// Mutable access to the slot standing for `seq`, if any.
    pub(crate) fn get_mut(&mut self, seq: SeqNo) -> Option<&mut Slot> {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        (s.seq == seq && s.state != SlotState::Empty).then_some(s)
    }

    /// Takes the slot for `seq`, dropping whatever older packet it held (the caller has
    /// released it). Returns the slot, cleared to `Empty` for `seq`.
    fn claim(&mut self, seq: SeqNo) -> &mut Slot {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        if s.seq != seq {
            s.seq = seq;
            s.state = SlotState::Empty;
        }
        s
    }

    /// Stores a datagram for `seq`. Returns false if the slot already held it.
    ///
    /// Callers refuse datagrams longer than `max_datagram` first; a longer one is cut short.
    pub(crate) fn fill(&mut self, seq: SeqNo, at: Time, src: SocketAddr, bytes: &[u8]) -> bool {
        let (i, max) = (self.index(seq), self.max_datagram);
        let bytes = &bytes[..bytes.len().min(max)];
        let slot = self.claim(seq);
        if slot.state == SlotState::Present {
            return false;
        }
        let newly_resolved = !slot.resolved();
        slot.state = SlotState::Present;
        slot.len = bytes.len() as u32;
        slot.src = src;
        slot.at = at;
        slot.repaired = false;
        self.data[i * max..i * max + bytes.len()].copy_from_slice(bytes);
        if newly_resolved {
            self.bump(seq);
        }
        true
    }

    /// Stores a datagram for `seq`, a number beyond any the ring has stood for (above the
    /// highest held or marked missing): the slot is overwritten without being read first. Its
    /// old contents are half a second cold, so reading them would stall on memory.
    ///
    /// Callers refuse datagrams longer than `max_datagram` first; a longer one is cut short.
    pub(crate) fn fill_fresh(&mut self, seq: SeqNo, at: Time, src: SocketAddr, bytes: &[u8]) {
        let (i, max) = (self.index(seq), self.max_datagram);
        let bytes = &bytes[..bytes.len().min(max)];
        self.slots[i] = Slot {
            seq,
            state: SlotState::Present,
            len: bytes.len() as u32,
            src,
            at,
            ..Slot::new()
        };
        self.data[i * max..i * max + bytes.len()].copy_from_slice(bytes);
        self.bump(seq);
    }

    /// Marks `seq` missing, detected at `at`, due to play at `due`. `seq` is beyond any number
    /// the ring has stood for (a new gap), so the slot is overwritten without being read.
    pub(crate) fn mark_missing(&mut self, seq: SeqNo, at: Time, due: Time, first_request: Time) {
        let i = self.index(seq);
        self.slots[i] = Slot {
            seq,
            state: SlotState::Missing,
            at,
            due,
            next_request: first_request,
            ..Slot::new()
        };
    }

    fn bump(&mut self, seq: SeqNo) {
        let c = self.index(seq) / self.chunk;
        self.resolved[c] += 1;
    }

    /// Resolved slots in the (unreleased) chunk containing `seq`.
    pub(crate) fn chunk_resolved(&self, seq: SeqNo) -> u64 {
        u64::from(self.resolved[self.index(seq) / self.chunk])
    }

    /// Forgets the chunk containing `seq` for completeness counting (it was released).
    pub(crate) fn chunk_released(&mut self, seq: SeqNo) {
        let c = self.index(seq) / self.chunk;
        self.resolved[c] = 0;
    }

    /// Takes `present` released slots off the count of the chunk containing `seq` (the
    /// release stopped inside it).
    pub(crate) fn chunk_partly_released(&mut self, seq: SeqNo, present: u32) {
        let c = self.index(seq) / self.chunk;
        self.resolved[c] = self.resolved[c].saturating_sub(present);
    }

    /// Grows to `chunks` chunks, keeping every held packet; `unreleased_from` is the first
    /// sequence number not yet released (its chunk counters are rebuilt). Allocates: call
    /// rarely (when the measured rate outgrows the ring).
    pub(crate) fn grow(&mut self, chunks: usize, unreleased_from: SeqNo) {
        if chunks * self.chunk <= self.slots.len() {
            return;
        }
        let max = self.max_datagram;
        let mut bigger = RawBuffer::new(self.chunk, chunks, max);
        bigger.release_next = self.release_next;
        for (k, old) in self.slots.drain(..).enumerate() {
            if old.state != SlotState::Empty {
                let i = bigger.index(old.seq);
                if old.seq >= unreleased_from && old.resolved() {
                    bigger.resolved[i / self.chunk] += 1;
                }
                bigger.data[i * max..(i + 1) * max]
                    .copy_from_slice(&self.data[k * max..(k + 1) * max]);
                bigger.slots[i] = old;
            }
        }
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn fills_counts_and_refuses_duplicates() {
        let mut rb = RawBuffer::new(4, 2, 64);
        assert_eq!(rb.capacity(), 8);
        assert!(rb.fill(SeqNo(9), Time::ZERO, src(), b"a"));
        assert!(!rb.fill(SeqNo(9), Time::ZERO, src(), b"b"));
        assert_eq!(rb.bytes(SeqNo(9)), b"a");
        assert!(rb.get(SeqNo(1)).is_none(), "slot 1 stands for 9, not 1");
        rb.mark_missing(SeqNo(10), Time::ZERO, Time::NEVER, Time::ZERO);
        assert_eq!(rb.chunk_resolved(SeqNo(8)), 1);
        assert!(rb.fill(SeqNo(10), Time::ZERO, src(), b"c"));
        assert_eq!(rb.chunk_resolved(SeqNo(11)), 2);
        rb.chunk_released(SeqNo(8));
        assert_eq!(rb.chunk_resolved(SeqNo(8)), 0);
    }

    #[test]
    fn grow_keeps_packets_and_counters() {
        let mut rb = RawBuffer::new(4, 2, 64);
        for s in 4..12 {
            rb.fill(SeqNo(s), Time::ZERO, src(), &[s as u8]);
        }
        rb.chunk_released(SeqNo(4));
        rb.grow(4, SeqNo(8));
        assert_eq!(rb.capacity(), 16);
        for s in 4..12 {
            assert_eq!(rb.bytes(SeqNo(s)), [s as u8]);
        }
        assert_eq!(rb.chunk_resolved(SeqNo(8)), 4);
        assert_eq!(rb.chunk_resolved(SeqNo(4)), 0);
    }
}
