//! Live TS from UDP or RTP, forwarded as it arrives: regrouped into 7-packet datagrams, a
//! partial one sent after a short lull, and a stall noticed when input stops.

use super::{InputEvent, Ready};
use crate::sync::TsSync;
use groupcast_base::Time;
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::ts::{TS_PACKET_LEN, TS_PER_DATAGRAM};
use std::collections::VecDeque;
use std::time::Duration;

/// No input for this long is a stall (counted and reported once until input resumes).
pub const STALL_AFTER: Duration = Duration::from_secs(1);
/// Packets waiting for a full datagram are sent anyway after this long without input.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// Bytes of a full datagram.
const DATAGRAM: usize = TS_PER_DATAGRAM * TS_PACKET_LEN;

/// The live side of the source's input.
#[derive(Debug)]
pub(crate) struct LiveInput {
    /// Input datagrams are RTP (their payload is the TS), else raw TS.
    rtp: bool,
    /// Finds packet boundaries across datagrams.
    sync: TsSync,
    /// Aligned packets waiting to fill a datagram.
    pending: Vec<u8>,
    /// Datagrams ready to send, with their stream time.
    ready: VecDeque<(u64, Vec<u8>)>,
    /// When input last arrived (or the input started).
    last_data: Time,
    /// No input for [`STALL_AFTER`]; waiting.
    stalled: bool,
    /// Stalls so far.
    stalls: u64,
    /// Input datagrams that were not RTP (RTP input only).
    bad: u64,
    /// Stalls and resumptions not yet polled.
    events: VecDeque<InputEvent>,
}

/// Stream time (27 MHz ticks) of live data: the driver's clock.
fn ticks(now: Time) -> u64 {
    now.as_micros() * 27
}

impl LiveInput {
    /// Live input starting at `now`, RTP-wrapped if `rtp`.
    pub(crate) fn new(now: Time, rtp: bool) -> Self {
        LiveInput {
            rtp,
            sync: TsSync::new(),
            pending: Vec::with_capacity(DATAGRAM),
            ready: VecDeque::new(),
            last_data: now,
            stalled: false,
            stalls: 0,
            bad: 0,
            events: VecDeque::new(),
        }
    }

    /// Takes one input datagram.
    pub(crate) fn handle_data(&mut self, now: Time, datagram: &[u8]) {
        if std::mem::take(&mut self.stalled) {
            self.events.push_back(InputEvent::Resumed);
        }
        self.last_data = now;
        let payload = if self.rtp {
            match RtpPacket::parse(datagram) {
                Ok(p) => p.payload,
                Err(_) => {
                    self.bad += 1;
                    return;
                }
            }
        } else {
            datagram
        };
        let pending = &mut self.pending;
        self.sync.push(payload, |p| pending.extend_from_slice(p));
        while self.pending.len() >= DATAGRAM {
            let full = self.pending.drain(..DATAGRAM).collect();
            self.ready.push_back((ticks(now), full));
        }
    }

    /// Runs timers: sends a partial datagram after a lull, notices a stall.
    pub(crate) fn handle_timeout(&mut self, now: Time) {
        if !self.pending.is_empty() && now >= self.last_data + FLUSH_AFTER {
            let partial = std::mem::take(&mut self.pending);
            self.ready.push_back((ticks(now), partial));
        }
        if !self.stalled && now >= self.last_data + STALL_AFTER {
            self.stalled = true;
            self.stalls += 1;
            self.events.push_back(InputEvent::Stalled);
        }
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work.
    pub(crate) fn poll_timeout(&self) -> Option<Time> {
        let flush = (!self.pending.is_empty()).then(|| self.last_data + FLUSH_AFTER);
        let stall = (!self.stalled).then(|| self.last_data + STALL_AFTER);
        flush.into_iter().chain(stall).min()
    }

    /// Moves the next ready datagram into `out`.
    pub(crate) fn poll_datagram(&mut self, out: &mut Vec<u8>) -> Option<Ready> {
        let (ticks, bytes) = self.ready.pop_front()?;
        *out = bytes;
        Some(Ready { ticks, late: None })
    }

    /// The next stall or resumption.
    pub(crate) fn poll_event(&mut self) -> Option<InputEvent> {
        self.events.pop_front()
    }

    /// Stalls so far.
    pub(crate) fn stalls(&self) -> u64 {
        self.stalls
    }

    /// Input datagrams that were not RTP.
    pub(crate) fn bad(&self) -> u64 {
        self.bad
    }

    /// Bytes skipped while finding packet boundaries.
    pub(crate) fn bytes_skipped(&self) -> u64 {
        self.sync.skipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::tests::packets;

    fn drain(l: &mut LiveInput) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        std::iter::from_fn(|| l.poll_datagram(&mut out).map(|r| (r.ticks, out.len()))).collect()
    }

    #[test]
    fn full_datagrams_go_at_once_stamped_with_arrival() {
        let mut l = LiveInput::new(Time::ZERO, false);
        let at = Time::from_millis(10);
        l.handle_data(at, &packets(10));
        assert_eq!(drain(&mut l), [(10_000 * 27, DATAGRAM)]);
        assert_eq!(l.poll_timeout(), Some(at + FLUSH_AFTER), "3 packets wait");
    }

    #[test]
    fn a_partial_datagram_is_flushed_after_a_lull() {
        let mut l = LiveInput::new(Time::ZERO, false);
        l.handle_data(Time::from_millis(1), &packets(3));
        l.handle_timeout(Time::from_millis(50));
        assert!(drain(&mut l).is_empty(), "not before the lull");
        let flush = Time::from_millis(51);
        l.handle_timeout(flush);
        assert_eq!(drain(&mut l), [(ticks(flush), 3 * TS_PACKET_LEN)]);
        assert_eq!(l.poll_timeout(), Some(Time::from_millis(1) + STALL_AFTER));
    }

    #[test]
    fn a_stall_is_counted_once_and_its_end_reported() {
        let mut l = LiveInput::new(Time::ZERO, false);
        assert_eq!(l.poll_timeout(), Some(Time::ZERO + STALL_AFTER));
        l.handle_timeout(Time::from_millis(999));
        assert_eq!(l.poll_event(), None);
        l.handle_timeout(Time::from_secs(1));
        l.handle_timeout(Time::from_secs(3));
        assert_eq!(l.poll_event(), Some(InputEvent::Stalled));
        assert_eq!((l.poll_event(), l.stalls()), (None, 1));
        assert_eq!(l.poll_timeout(), None, "stalled, nothing pending");
        l.handle_data(Time::from_secs(4), &packets(7));
        assert_eq!(l.poll_event(), Some(InputEvent::Resumed));
        assert_eq!(l.poll_timeout(), Some(Time::from_secs(4) + STALL_AFTER));
    }

    #[test]
    fn rtp_input_is_unwrapped_and_garbage_counted() {
        let mut l = LiveInput::new(Time::ZERO, true);
        l.handle_data(Time::ZERO, b"not rtp");
        assert_eq!(l.bad(), 1);
        let mut dgram = vec![0x80, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        dgram.extend(packets(7));
        l.handle_data(Time::ZERO, &dgram);
        assert_eq!(drain(&mut l), [(0, DATAGRAM)]);
        let mut raw = LiveInput::new(Time::ZERO, false);
        raw.handle_data(Time::ZERO, b"not a transport stream");
        raw.handle_data(Time::ZERO, &packets(9));
        assert_eq!(raw.bytes_skipped(), 22);
        assert_eq!(
            drain(&mut raw),
            [(0, DATAGRAM)],
            "two held to confirm the sync"
        );
    }
}
