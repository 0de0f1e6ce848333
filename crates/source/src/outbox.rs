//! What a relay sends: the ring of recent datagrams and the queue of (receiver, number) still
//! to send from it. The central's edges and a relay's unicast viewers both draw on one.

use crate::ring::Ring;
use groupcast_base::Time;
use groupcast_wire::SeqNo;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// Most datagrams waiting to be sent.
const QUEUE_LIMIT: usize = 65_536;

/// A ring and a send queue over it.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Sent datagrams, for retransmission.
    ring: Ring,
    /// (receiver, sequence number) to send.
    queue: VecDeque<(SocketAddr, SeqNo)>,
}

impl Outbox {
    /// An outbox keeping `keep` of history.
    pub(crate) fn new(keep: Duration) -> Self {
        Outbox {
            ring: Ring::new(keep),
            queue: VecDeque::new(),
        }
    }

    /// Records a datagram (see [`Ring::push`]).
    pub(crate) fn record(&mut self, now: Time, seq: SeqNo, datagram: &[u8]) {
        self.ring.push(now, seq, datagram);
    }

    /// The held packet with 16-bit number `wire`, if any.
    pub(crate) fn held(&self, wire: u16) -> Option<SeqNo> {
        self.ring.get(wire).map(|(seq, _)| seq)
    }

    /// The held packet with 16-bit number `wire` and its length in bytes, if any.
    pub(crate) fn held_len(&self, wire: u16) -> Option<(SeqNo, usize)> {
        self.ring.get(wire).map(|(seq, bytes)| (seq, bytes.len()))
    }

    /// The held datagram `seq`, if the ring still holds it.
    pub(crate) fn datagram(&self, seq: SeqNo) -> Option<&[u8]> {
        self.ring
            .get(seq.wire())
            .and_then(|(found, bytes)| (found == seq).then_some(bytes))
    }

    /// Queues `seq` for `to`; false (nothing queued) when the queue is full.
    pub(crate) fn queue(&mut self, to: SocketAddr, seq: SeqNo) -> bool {
        if self.queue.len() >= QUEUE_LIMIT {
            return false;
        }
        self.queue.push_back((to, seq));
        true
    }

    /// The next datagram to send, skipping those the ring no longer holds: where to, and the
    /// bytes.
    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, &[u8])> {
        let (addr, seq) = loop {
            let (addr, seq) = self.queue.pop_front()?;
            if self
                .ring
                .get(seq.wire())
                .is_some_and(|(found, _)| found == seq)
            {
                break (addr, seq);
            }
        };
        self.ring.get(seq.wire()).map(|(_, bytes)| (addr, bytes))
    }
}
