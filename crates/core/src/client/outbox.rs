//! The outbox: peer messages queued by the other components until the driver pulls them with
//! [`Client::poll_transmit`](crate::Client::poll_transmit), and our message counter.
//!
//! A queued message names its recipient by session id and holds no bytes: it is written when
//! pulled, so a regroup in between cannot misdirect it and a repair carries the slot's bytes
//! as they are then.

use crate::stats::Counters;
use groupcast_wire::proto::{Body, Ranges, Repair, SenderId, SeqRange};
use groupcast_wire::{SeqNo, Ssrc};
use std::collections::VecDeque;

/// Most ranges carried by one queued request (more make more messages).
pub(crate) const RANGES_PER_REQUEST: usize = 32;
/// Most messages waiting in the queue.
const QUEUE_LIMIT: usize = 4096;

/// A message waiting to be written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// Recipient; looked up when written, so a regroup in between cannot misdirect it.
    pub(crate) to: SenderId,
    /// What to write.
    pub(crate) what: PendingKind,
}

/// The kinds of queued message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PendingKind {
    /// A repair request (or tail probe) for up to [`RANGES_PER_REQUEST`] ranges.
    Request {
        /// The stream asked about.
        ssrc: Ssrc,
        /// The ranges; the first `n` count.
        ranges: [SeqRange; RANGES_PER_REQUEST],
        /// Ranges used.
        n: u8,
        /// Sent because the stream went quiet.
        tail_probe: bool,
        /// How many members answer each packet, in rota order (0: all).
        answerers: u8,
    },
    /// A repair we serve: the packet our number `seq` (RTP number `wire`) of `ssrc`.
    Repair {
        /// Its stream.
        ssrc: Ssrc,
        /// Our number (where its bytes are).
        seq: SeqNo,
        /// Its RTP sequence number.
        wire: u16,
    },
    /// Tells a requester we lost these packets too (up to [`RANGES_PER_REQUEST`] ranges).
    Absent {
        /// The stream asked about.
        ssrc: Ssrc,
        /// The ranges; the first `n` count.
        ranges: [SeqRange; RANGES_PER_REQUEST],
        /// Ranges used.
        n: u8,
    },
    /// A ping (RTT, liveness and return routability).
    Ping {
        /// Its nonce.
        nonce: u64,
    },
    /// Asks for a fast start.
    FastStart,
    /// Refuses a fast start.
    NoBurst,
    /// The answer to a peer's ping.
    Pong {
        /// The ping's counter.
        echo_counter: u64,
        /// The ping's timestamp.
        echo_timestamp_us: u64,
        /// The ping's nonce.
        echo_nonce: u64,
    },
}

impl PendingKind {
    /// The message body; a repair's comes from `answer` (`None` when the packet is no longer
    /// held: the message is skipped).
    pub(crate) fn body<'a>(
        &'a self,
        answer: impl FnOnce(Ssrc, SeqNo, u16) -> Option<Repair<'a>>,
    ) -> Option<Body<'a>> {
        Some(match self {
            PendingKind::Request {
                ssrc,
                ranges,
                n,
                answerers,
                ..
            } => Body::Request {
                ssrc: ssrc.0,
                answerers: *answerers,
                ranges: Ranges::List(&ranges[..usize::from(*n)]),
            },
            PendingKind::Repair { ssrc, seq, wire } => Body::Repair(answer(*ssrc, *seq, *wire)?),
            PendingKind::Absent { ssrc, ranges, n } => Body::Absent {
                ssrc: ssrc.0,
                ranges: Ranges::List(&ranges[..usize::from(*n)]),
            },
            PendingKind::Ping { nonce } => Body::Ping { nonce: *nonce },
            PendingKind::FastStart => Body::FastStart,
            PendingKind::NoBurst => Body::NoBurst,
            PendingKind::Pong {
                echo_counter,
                echo_timestamp_us,
                echo_nonce,
            } => Body::Pong {
                echo_counter: *echo_counter,
                echo_timestamp_us: *echo_timestamp_us,
                echo_nonce: *echo_nonce,
            },
        })
    }
}

/// Queued messages and our message counter.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Messages to write, oldest first.
    queue: VecDeque<Pending>,
    /// Our message counter (replay protection at the receivers); advances per message sent.
    counter: u64,
}

impl Outbox {
    /// An empty outbox whose first message carries `initial_counter`.
    pub(crate) fn new(initial_counter: u64) -> Self {
        Outbox {
            queue: VecDeque::with_capacity(256),
            counter: initial_counter,
        }
    }

    /// Queues a message, counting it in `c.transmit_dropped` if the queue is full.
    pub(crate) fn push(&mut self, to: SenderId, what: PendingKind, c: &mut Counters) {
        if self.queue.len() >= QUEUE_LIMIT {
            c.transmit_dropped += 1;
        } else {
            self.queue.push_back(Pending { to, what });
        }
    }

    /// Queues requests for `ranges` to `to`, as many messages as needed.
    pub(crate) fn request(
        &mut self,
        to: SenderId,
        (ssrc, ranges): (Ssrc, &[SeqRange]),
        (tail_probe, answerers): (bool, u8),
        c: &mut Counters,
    ) {
        for part in ranges.chunks(RANGES_PER_REQUEST) {
            let mut buf = [SeqRange { start: 0, len: 1 }; RANGES_PER_REQUEST];
            buf[..part.len()].copy_from_slice(part);
            let n = part.len() as u8;
            let what = PendingKind::Request {
                ssrc,
                ranges: buf,
                n,
                tail_probe,
                answerers,
            };
            self.push(to, what, c);
        }
    }

    /// Queues one absent answer to `to` for `ranges` of `ssrc` (at most
    /// [`RANGES_PER_REQUEST`]; the rest is left out).
    pub(crate) fn absent(
        &mut self,
        to: SenderId,
        (ssrc, ranges): (Ssrc, &[SeqRange]),
        c: &mut Counters,
    ) {
        let part = &ranges[..ranges.len().min(RANGES_PER_REQUEST)];
        let mut buf = [SeqRange { start: 0, len: 1 }; RANGES_PER_REQUEST];
        buf[..part.len()].copy_from_slice(part);
        let n = part.len() as u8;
        self.push(
            to,
            PendingKind::Absent {
                ssrc,
                ranges: buf,
                n,
            },
            c,
        );
    }

    /// The oldest queued message.
    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    /// The counter the next message sent carries.
    pub(crate) fn counter(&self) -> u64 {
        self.counter
    }

    /// The counter for a message written outside the queue (a burst packet); advances it.
    pub(crate) fn take_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter - 1
    }

    /// Notes that `what` was written: advances the counter and counts it.
    pub(crate) fn sent(&mut self, what: &PendingKind, c: &mut Counters) {
        self.counter += 1;
        match what {
            PendingKind::Request {
                ranges,
                n,
                tail_probe,
                ..
            } => {
                c.requests_sent += 1;
                c.tail_probes += u64::from(*tail_probe);
                c.packets_requested += ranges[..usize::from(*n)]
                    .iter()
                    .map(|r| u64::from(r.len))
                    .sum::<u64>();
            }
            PendingKind::Repair { .. } => c.repairs_served += 1,
            PendingKind::Absent { .. } => c.absent_sent += 1,
            PendingKind::Ping { .. } => c.pings_sent += 1,
            PendingKind::Pong { .. } | PendingKind::FastStart | PendingKind::NoBurst => {}
        }
    }

    /// True if a repair for `seq` is queued.
    pub(crate) fn repair_queued(&self, seq: SeqNo) -> bool {
        self.queue
            .iter()
            .any(|p| matches!(p.what, PendingKind::Repair { seq: s, .. } if s == seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(k: u16) -> Vec<SeqRange> {
        (0..k)
            .map(|i| SeqRange {
                start: i * 4,
                len: 2,
            })
            .collect()
    }

    #[test]
    fn requests_are_split_and_counted_when_sent() {
        let (mut o, mut c) = (Outbox::new(7), Counters::default());
        let r = ranges(RANGES_PER_REQUEST as u16 + 1);
        o.request(SenderId(2), (Ssrc(1), &r), (true, 0), &mut c);
        let first = o.pop().unwrap();
        assert!(matches!(first.what, PendingKind::Request { n: 32, .. }));
        assert_eq!(o.counter(), 7);
        o.sent(&first.what, &mut c);
        let second = o.pop().unwrap();
        o.sent(&second.what, &mut c);
        assert!(o.pop().is_none());
        assert_eq!(o.counter(), 9);
        assert_eq!(
            (c.requests_sent, c.tail_probes, c.packets_requested),
            (2, 2, 66)
        );
    }

    #[test]
    fn a_full_queue_counts_drops_and_repairs_are_found() {
        let (mut o, mut c) = (Outbox::new(1), Counters::default());
        for _ in 0..QUEUE_LIMIT {
            o.push(SenderId(2), PendingKind::Ping { nonce: 1 }, &mut c);
        }
        let repair = PendingKind::Repair {
            ssrc: Ssrc(1),
            seq: SeqNo(5),
            wire: 5,
        };
        o.push(SenderId(2), repair, &mut c);
        assert_eq!(c.transmit_dropped, 1);
        assert!(!o.repair_queued(SeqNo(5)));
        o.pop();
        o.push(SenderId(2), repair, &mut c);
        assert!(o.repair_queued(SeqNo(5)));
        assert!(
            repair.body(|_, _, _| None).is_none(),
            "unheld repairs are skipped"
        );
    }
}
