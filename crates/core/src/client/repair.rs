//! Asking the group: repair requests with RTT-aware retries until the play-out deadline,
//! tail-loss probes when the stream goes quiet, pings for RTT and liveness, and raw buffer
//! sizing from the measured packet rate.

use super::{Client, Event, PendingKind, RANGES_PER_REQUEST};
use crate::config::RequestStrategy;
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::Ssrc;
use groupcast_wire::proto::{SenderId, SeqRange};
use std::time::Duration;

/// Most chunks one tail probe asks for.
pub(super) const TAIL_PROBE_CHUNKS: u64 = 8;
/// How often the raw buffer size is checked against the measured packet rate.
const SIZE_CHECK_EVERY: Duration = Duration::from_secs(1);

impl Client {
    /// The retry timer: the best live peer's RTO, clamped; the initial value before any RTT.
    fn rto(&self) -> Duration {
        let c = &self.config;
        self.peers
            .best_rto(c.silent_after_pings)
            .unwrap_or(c.rto_initial)
            .clamp(c.rto_min, c.rto_max)
    }

    /// Sends requests for every missing packet whose request timer has fired, one set per
    /// stream (the previous stream's last packets are still asked for after a restart).
    pub(super) fn send_requests(&mut self, now: Time) {
        let raw = &self.raw;
        self.missing.retain(|s| {
            raw.get(*s)
                .is_some_and(|slot| slot.state == SlotState::Missing)
        });
        if !self.config.repair_enabled || self.peers.list.is_empty() {
            return;
        }
        let Some(current) = self.stream.as_ref().map(|s| s.numbering) else {
            return;
        };
        let rto = self.rto();
        let mut lists = std::mem::take(&mut self.scratch);
        let mut earliest = Time::NEVER;
        for i in 0..self.missing.len() {
            let seq = self.missing[i];
            let numbering = self.numbering_of(seq).unwrap_or(current);
            let Some(slot) = self.raw.get_mut(seq) else {
                continue;
            };
            if slot.next_request > now {
                // Not due yet (a gap still in its reorder hold, a request not yet timed out):
                // its time stays part of the next wake-up.
                earliest = earliest.min(slot.next_request);
                continue;
            }
            if slot.attempts >= self.config.max_attempts || now + rto / 2 >= slot.due {
                slot.next_request = Time::NEVER;
                continue;
            }
            let ranked = self.config.strategy == RequestStrategy::Ranked && slot.attempts == 0;
            slot.attempts += 1;
            slot.next_request = now + rto;
            earliest = earliest.min(slot.next_request);
            let list = 2 * usize::from(numbering.ssrc != current.ssrc) + usize::from(ranked);
            push_seq(&mut lists[list], numbering.wire(seq));
        }
        let previous = self.previous.map(|p| p.numbering.ssrc);
        let best = self
            .peers
            .best(self.config.silent_after_pings)
            .map(|i| self.peers.list[i].id);
        for (k, ssrc) in [(0, Some(current.ssrc)), (2, previous)] {
            let Some(ssrc) = ssrc else { continue };
            self.request_from_all(ssrc, &lists[k], false);
            match best {
                Some(id) => self.request_from(id, ssrc, &lists[k + 1], false),
                None => self.request_from_all(ssrc, &lists[k + 1], false),
            }
        }
        lists.iter_mut().for_each(Vec::clear);
        self.scratch = lists;
        self.next_request_at = earliest;
    }

    /// Makes every missing packet that is not yet due eligible for a request now, with a fresh
    /// count of attempts.
    pub(super) fn rearm_requests(&mut self, now: Time) {
        for &seq in &self.missing {
            if let Some(slot) = self.raw.get_mut(seq)
                && slot.state == SlotState::Missing
                && slot.due > now
            {
                slot.attempts = 0;
                slot.next_request = now;
                self.next_request_at = now;
            }
        }
    }

    /// Queues requests for `ranges` to every live peer.
    fn request_from_all(&mut self, ssrc: Ssrc, ranges: &[SeqRange], tail_probe: bool) {
        let limit = self.config.silent_after_pings;
        for i in 0..self.peers.list.len() {
            if !self.peers.list[i].silent(limit) {
                self.request_from(self.peers.list[i].id, ssrc, ranges, tail_probe);
            }
        }
    }

    /// Queues requests for `ranges` to one peer, as many messages as needed.
    fn request_from(&mut self, to: SenderId, ssrc: Ssrc, ranges: &[SeqRange], tail_probe: bool) {
        for part in ranges.chunks(RANGES_PER_REQUEST) {
            let mut buf = [SeqRange { start: 0, len: 1 }; RANGES_PER_REQUEST];
            buf[..part.len()].copy_from_slice(part);
            self.enqueue(
                to,
                PendingKind::Request {
                    ssrc,
                    ranges: buf,
                    n: part.len() as u8,
                    tail_probe,
                },
            );
        }
    }

    /// When the stream has been quiet for longer than a few packet gaps, asks the group for
    /// what may have followed the highest packet (losses at the tail are otherwise invisible
    /// until the next packet arrives).
    pub(super) fn tail_probe(&mut self, now: Time) {
        let Some(at) = self.tail_probe_time() else {
            return;
        };
        if at > now || !self.config.repair_enabled {
            return;
        }
        let rto = self.rto();
        let chunk = self.raw.chunk();
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        // Packets that should have arrived since the last multicast one, less those repaired
        // since: during an outage the probes ask for the whole backlog, not one gap's worth.
        let quiet = now.saturating_since(s.last_arrival).as_micros() as u64;
        let expected = s.arrival_highest.0 + quiet / s.gap_us.max(1);
        let count = expected
            .saturating_sub(s.highest.0)
            .clamp(1, TAIL_PROBE_CHUNKS * chunk) as u16;
        // Back off while the quiet lasts: the stream may simply have ended.
        s.next_tail_probe = now + rto * (1 << s.tail_round.min(6));
        s.tail_round += 1;
        let range = [SeqRange {
            start: s.numbering.wire(s.highest.next()),
            len: count,
        }];
        let ssrc = s.ssrc();
        self.request_from_all(ssrc, &range, true);
    }

    /// When the next tail probe is due: after a quiet spell of four packet gaps (at least
    /// twice the reorder hold), repeated with exponential back-off while the quiet lasts, up
    /// to the buffer duration.
    pub(super) fn tail_probe_time(&self) -> Option<Time> {
        let s = self.stream.as_ref()?;
        if self.peers.list.is_empty() || !self.config.repair_enabled {
            return None;
        }
        let quiet = Duration::from_micros(s.gap_us * 4).max(self.config.reorder_hold * 2);
        let at = (s.last_progress + quiet).max(s.next_tail_probe);
        (at < s.last_progress + self.config.buffer).then_some(at)
    }

    /// The earliest request timer among missing packets (a lower bound, kept up to date by
    /// [`send_requests`](Self::send_requests) and gap detection).
    pub(super) fn next_request_time(&self) -> Option<Time> {
        if !self.config.repair_enabled || self.peers.list.is_empty() {
            return None;
        }
        (self.next_request_at != Time::NEVER).then_some(self.next_request_at)
    }

    /// Pings each peer whose interval has passed; reports peers that went silent.
    pub(super) fn ping_peers(&mut self, now: Time) {
        let (interval, limit) = (self.config.ping_interval, self.config.silent_after_pings);
        for i in 0..self.peers.list.len() {
            let p = &mut self.peers.list[i];
            if p.last_ping.is_some_and(|t| t + interval > now) {
                continue;
            }
            if p.last_ping.is_some() {
                p.unanswered += 1;
                if p.unanswered == limit {
                    self.events.push_back(Event::PeerSilent(p.id));
                }
            }
            p.last_ping = Some(now);
            let id = p.id;
            self.enqueue(id, PendingKind::Ping);
        }
    }

    /// The next ping time.
    pub(super) fn next_ping_time(&self) -> Option<Time> {
        let interval = self.config.ping_interval;
        self.peers
            .list
            .iter()
            .map(|p| p.last_ping.map_or(Time::ZERO, |t| t + interval))
            .min()
    }

    /// Grows the raw and playback buffers when the measured rate needs more than they hold.
    pub(super) fn check_size(&mut self, now: Time) {
        if now < self.next_size_check {
            return;
        }
        // The rate is what arrived since the last check, not the smoothed inter-arrival gap:
        // a driver that reads datagrams in batches sees gaps near zero, which would ask for a
        // ring of gigabytes.
        let received = self.stats.counters.received;
        let last = self.size_check_from.replace((now, received));
        self.next_size_check = now + SIZE_CHECK_EVERY;
        let (Some((last_at, last_received)), Some(s)) = (last, self.stream.as_ref()) else {
            return;
        };
        let elapsed_us = now.saturating_since(last_at).as_micros().max(1) as u64;
        let window_us = (self.config.buffer + self.config.retention).as_micros() as u64;
        let needed = received
            .saturating_sub(last_received)
            .saturating_mul(window_us)
            / elapsed_us;
        let chunk = self.raw.chunk();
        if needed > self.raw.capacity() {
            let chunks = (needed + needed / 4).div_ceil(chunk) as usize;
            self.raw.grow(chunks, s.release_next);
            self.playback.grow(self.raw.capacity() as usize);
        }
    }
}

/// Appends RTP sequence number `wire` to `ranges`, extending the last range when consecutive.
fn push_seq(ranges: &mut Vec<SeqRange>, wire: u16) {
    if let Some(last) = ranges.last_mut()
        && last.start.wrapping_add(last.len) == wire
        && last.len < u16::MAX
    {
        last.len += 1;
        return;
    }
    ranges.push(SeqRange {
        start: wire,
        len: 1,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_numbers_merge_across_wrap() {
        let mut r = Vec::new();
        for s in [65_534u16, 65_535, 0, 4] {
            push_seq(&mut r, s);
        }
        assert_eq!(
            r,
            vec![
                SeqRange {
                    start: 65_534,
                    len: 3
                },
                SeqRange { start: 4, len: 1 }
            ]
        );
    }
}
