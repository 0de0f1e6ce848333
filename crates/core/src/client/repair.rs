//! The repair scheduler: which missing packets to ask for, when, and of whom.
//!
//! It keeps the missing set (ascending numbers; the per-packet state, attempts, next request
//! time and play-out deadline, lives in the raw buffer's slots), holds a new gap for the
//! reorder hold before the first request, retries on an RTT-aware timer (doubling past the
//! attempt limit) until the packet's deadline, and sends tail-loss probes when the stream
//! goes quiet.
//!
//! Requests go to a [`Targets`] (the repair group: all live members, or the best one first
//! under [`RequestStrategy::Ranked`]). What happens to each due packet is decided by [`step`].
//! A packet the group cannot supply in time (out of attempts, too close to its deadline, or no
//! member to ask) goes to the last resort when the driver has one (`Config::last_resort`):
//! [`Step::Escalate`] lists it for the driver, which asks the relay (an edge or the source)
//! for it; the group gives up that much before the deadline to leave the relay its time.

use super::outbox::{Outbox, RANGES_PER_REQUEST};
use super::receiver::{Activity, StreamReceiver};
use super::rota;
use crate::config::{Config, RequestStrategy};
use crate::membership::Membership;
use crate::raw::{RawBuffer, SlotState};
use crate::stats::Counters;
use groupcast_base::Time;
use groupcast_wire::proto::{SenderId, SeqRange};
use groupcast_wire::{SeqNo, Ssrc};
use std::ops::Range;
use std::time::Duration;
pub(crate) use step::{MAX_BACKUP_ASKS, Step, last_resort_plan, retry_after, step};

/// How many members answer each packet of a quiet spell's first tail probe, under `all` and
/// the rota (the packets may exist nowhere yet; later probes of the same spell ask everyone).
/// Under `all` every member used to answer: during a metro's cut each probe drew a copy from
/// every member holding the packets (lab 13, 24 viewers: 1.35 duplicates per repair, against
/// 1.08 to 1.17 with two; docs/benchmarks.md).
const TAIL_PROBE_ANSWERERS: u8 = 2;
/// Most chunks one tail probe asks for.
pub(crate) const TAIL_PROBE_CHUNKS: u64 = 8;
/// Most numbers waiting for the driver to ask the last resort (a buffer's worth at 20,000
/// packets/s); beyond, the oldest are dropped (they would be late anyway) and counted.
const ESCALATION_QUEUE: usize = 4096;

/// Where requests go: the repair group's members, through the outbox.
pub(crate) struct Targets<'a> {
    /// The members and their liveness.
    pub(crate) peers: &'a Membership,
    /// Unanswered pings after which a member is skipped.
    pub(crate) silent_limit: u32,
    /// The queue requests go into.
    pub(crate) out: &'a mut Outbox,
    /// Where a full queue is counted.
    pub(crate) counters: &'a mut Counters,
}

impl Targets<'_> {
    /// True if the group has nobody to ask (backups aside).
    fn is_empty(&self) -> bool {
        self.peers.members == 0
    }

    /// The backups' retry timer if one of them is live at `now`: the nearest one's round
    /// trip and a margin, as for the relay ([`last_resort_plan`]; the RFC 6298 timeout's four
    /// deviations would leave the group little of the buffer), the initial timeout before
    /// any is measured.
    fn backup_retry(&self, now: Time, c: &Config) -> Option<Duration> {
        self.peers.live_backups(now).next()?;
        let rtt = self.peers.backup_srtt(now);
        let retry = rtt.map_or(c.rto_initial, |r| r + step::ESCALATION_MARGIN);
        Some(retry.clamp(c.rto_min, c.rto_max))
    }

    /// Queues requests for `ranges` to every live backup (each answers every packet: backups
    /// have no rota of ours).
    fn backups(&mut self, now: Time, ssrc: Ssrc, ranges: &[SeqRange]) {
        if ranges.is_empty() {
            return;
        }
        for id in self.peers.live_backups(now) {
            self.out
                .request(id, (ssrc, ranges), (false, 0), self.counters);
        }
    }

    /// The retry timer: the best live peer's RTO, clamped; the initial value before any RTT.
    fn rto(&self, c: &Config) -> Duration {
        self.peers
            .best_rto(self.silent_limit)
            .unwrap_or(c.rto_initial)
            .clamp(c.rto_min, c.rto_max)
    }

    /// Queues requests for `ranges` to every live member; `answerers` of them answer each
    /// packet, in rota order (0: all).
    fn all(&mut self, ssrc: Ssrc, ranges: &[SeqRange], (tail_probe, answerers): (bool, u8)) {
        if ranges.is_empty() {
            return;
        }
        for id in self.peers.live(self.silent_limit) {
            let how = (tail_probe, answerers);
            self.out.request(id, (ssrc, ranges), how, self.counters);
        }
    }

    /// Queues requests for `ranges` to one member.
    fn one(&mut self, to: SenderId, ssrc: Ssrc, ranges: &[SeqRange]) {
        self.out
            .request(to, (ssrc, ranges), (false, 0), self.counters);
    }

    /// How many members, in the rota for RTP packet `wire` of `ssrc`, a request must name so
    /// that `want` live members answer (0: all).
    fn answerers(&self, (ssrc, wire): (Ssrc, u16), want: usize) -> u8 {
        let view = self.peers.liveness(self.silent_limit);
        rota::answerers((ssrc.0, wire), view, want)
    }
}

/// The missing set, request timers and tail probes.
#[derive(Debug)]
pub(crate) struct RepairScheduler {
    /// Numbers marked missing, ascending; entries already filled are pruned lazily.
    missing: Vec<SeqNo>,
    /// No missing packet's request timer fires before this (a lower bound).
    next_request_at: Time,
    /// Ranges being gathered for requests (reused): for the current stream to all members,
    /// to the best one, then the same for the previous stream; then to the backups, for
    /// each stream.
    scratch: [Vec<SeqRange>; 6],
    /// Under the rota: ranges gathered per (previous stream?, answerers), reused.
    rota: Vec<(bool, u8, Vec<SeqRange>)>,
    /// RTP sequence numbers of the current stream for the driver to ask the last resort.
    escalated: Vec<u16>,
    /// Earliest time of the next tail-loss probe.
    next_tail_probe: Time,
    /// Tail probes sent in the current quiet spell (for back-off).
    tail_round: u32,
}

impl RepairScheduler {
    /// An empty scheduler for a raw buffer of `capacity` packets.
    pub(crate) fn new(capacity: usize) -> Self {
        RepairScheduler {
            missing: Vec::with_capacity(capacity),
            next_request_at: Time::NEVER,
            scratch: std::array::from_fn(|_| Vec::with_capacity(RANGES_PER_REQUEST * 4)),
            rota: Vec::new(),
            escalated: Vec::new(),
            next_tail_probe: Time::ZERO,
            tail_round: 0,
        }
    }

    /// A new stream is followed: tail probing starts afresh.
    pub(crate) fn restarted(&mut self) {
        (self.next_tail_probe, self.tail_round) = (Time::ZERO, 0);
    }

    /// A missing packet's request timer was brought forward to `at`.
    pub(crate) fn wake(&mut self, at: Time) {
        self.next_request_at = self.next_request_at.min(at);
    }

    /// Something was added to the buffer: the quiet spell (if any) is over.
    pub(crate) fn progressed(&mut self) {
        self.tail_round = 0;
    }

    /// Marks the numbers `gap` missing, detected at `now`. The packet just after the gap plays
    /// at `due`; those before it one packet `spacing` earlier each. The first request waits for
    /// `hold` (reordering).
    pub(crate) fn add_gap(
        &mut self,
        raw: &mut RawBuffer,
        gap: Range<u64>,
        (now, due, spacing): (Time, Time, Duration),
        hold: Duration,
    ) {
        let first_request = now + hold;
        let end = gap.end;
        for m in gap {
            let due_m = due - spacing * ((end - m) as u32);
            raw.mark_missing(SeqNo(m), now, due_m, first_request);
            self.missing.push(SeqNo(m));
            self.next_request_at = self.next_request_at.min(first_request);
        }
    }

    /// Makes every missing packet that is not yet due eligible for a request now, with a fresh
    /// count of attempts; with `asked_only`, only those already asked for (the others are
    /// still inside their reorder hold).
    pub(crate) fn rearm(&mut self, now: Time, raw: &mut RawBuffer, asked_only: bool) {
        for &seq in &self.missing {
            if let Some(slot) = raw.get_mut(seq)
                && slot.state == SlotState::Missing
                && slot.due > now
                && (!asked_only || slot.attempts > 0)
            {
                slot.attempts = 0;
                slot.next_request = now;
                self.next_request_at = now;
            }
        }
    }

    /// Makes the missing packets the group was given up on or is out of attempts for (not
    /// the speculative ones) due for a step at once: a last resort came since, and those
    /// still ahead of their deadline escalate.
    pub(crate) fn reconsider_given_up(&mut self, raw: &mut RawBuffer, max_attempts: u8) {
        for &seq in &self.missing {
            if let Some(slot) = raw.get_mut(seq)
                && slot.state == SlotState::Missing
                && (slot.next_request == Time::NEVER || slot.attempts >= max_attempts)
                && !slot.speculative
            {
                slot.next_request = Time::ZERO;
                self.next_request_at = Time::ZERO;
            }
        }
    }

    /// Sends requests for every missing packet whose request timer has fired, one set per
    /// stream (the previous stream's last packets are still asked for after a restart).
    pub(crate) fn send_requests(
        &mut self,
        now: Time,
        raw: &mut RawBuffer,
        streams: &StreamReceiver,
        c: &Config,
        to: &mut Targets<'_>,
    ) {
        self.missing.retain(|s| {
            raw.get(*s)
                .is_some_and(|slot| slot.state == SlotState::Missing)
        });
        let has_peers = !to.is_empty();
        let backup = to.backup_retry(now, c);
        if !c.repair_enabled || (!has_peers && c.last_resort.is_zero() && backup.is_none()) {
            return;
        }
        let Some(current) = streams.numbering() else {
            return;
        };
        let rto = to.rto(c);
        let retry_escalation = c.last_resort_retry;
        let mut lists = std::mem::take(&mut self.scratch);
        let mut earliest = Time::NEVER;
        for &seq in &self.missing {
            let numbering = streams.numbering_of(seq).unwrap_or(current);
            let Some(slot) = raw.get_mut(seq) else {
                continue;
            };
            let ranked = match step(slot, now, (rto, backup), c, has_peers) {
                Step::Wait(at) => {
                    earliest = earliest.min(at);
                    continue;
                }
                Step::GiveUp => {
                    slot.next_request = Time::NEVER;
                    continue;
                }
                Step::Escalate => {
                    slot.escalations += 1;
                    slot.next_request = now + retry_escalation;
                    earliest = earliest.min(slot.next_request);
                    if numbering.ssrc == current.ssrc {
                        if self.escalated.len() >= ESCALATION_QUEUE {
                            self.escalated.remove(0);
                            to.counters.escalations_dropped += 1;
                        }
                        self.escalated.push(numbering.wire(seq));
                        to.counters.escalated += 1;
                        // The relay's budget is shared by every viewer of the channel, so a
                        // metro's cut can spend it: the group is asked alongside, unless
                        // every live member said it lacks the packet too.
                        let members = to.peers.asked_masks(now, to.silent_limit).0;
                        if members != 0 && !slot.lacked_by_all(members) {
                            push_seq(&mut lists[0], numbering.wire(seq));
                        }
                    }
                    continue;
                }
                Step::Backup { retry } => {
                    slot.backup_asks += 1;
                    slot.next_request = now + retry;
                    earliest = earliest.min(slot.next_request);
                    let previous = numbering.ssrc != current.ssrc;
                    push_seq(&mut lists[4 + usize::from(previous)], numbering.wire(seq));
                    to.counters.backup_asked += 1;
                    continue;
                }
                Step::Ask { ranked } => ranked,
            };
            let (previous, wire) = (numbering.ssrc != current.ssrc, numbering.wire(seq));
            if c.strategy == RequestStrategy::Rota && has_peers {
                // The first live member of the rota answers; on a retry (the first answer
                // failed: that member lacked the packet, or the request or the repair was
                // lost) everyone does. A retry naming two measured p99 +29 % over everyone,
                // for 0.18 fewer duplicates per repair (12 viewers, docs/simulation.md).
                let n = match slot.attempts {
                    0 => to.answerers((numbering.ssrc, wire), 1),
                    _ => 0,
                };
                push_seq(rota_list(&mut self.rota, (previous, n)), wire);
            } else {
                push_seq(
                    &mut lists[2 * usize::from(previous) + usize::from(ranked)],
                    wire,
                );
            }
            slot.next_request = now + retry_after(slot.attempts, rto, c);
            slot.attempts = slot.attempts.saturating_add(1);
            earliest = earliest.min(slot.next_request);
        }
        let best = to.peers.best(to.silent_limit).map(|i| to.peers.list[i].id);
        for (k, ssrc) in [(0, Some(current.ssrc)), (2, streams.previous_ssrc())] {
            let Some(ssrc) = ssrc else { continue };
            to.backups(now, ssrc, &lists[4 + k / 2]);
            to.all(ssrc, &lists[k], (false, 0));
            match best {
                Some(id) => to.one(id, ssrc, &lists[k + 1]),
                None => to.all(ssrc, &lists[k + 1], (false, 0)),
            }
            for (previous, n, list) in &mut self.rota {
                if *previous == (k == 2) {
                    to.all(ssrc, list, (false, *n));
                }
            }
        }
        lists.iter_mut().for_each(Vec::clear);
        self.rota.iter_mut().for_each(|(_, _, list)| list.clear());
        self.scratch = lists;
        self.next_request_at = earliest;
    }

    /// When the stream has been quiet for longer than a few packet gaps, asks the group for
    /// what may have followed the highest packet (losses at the tail are otherwise invisible
    /// until the next packet arrives).
    pub(crate) fn tail_probe(
        &mut self,
        now: Time,
        (stream, chunk): (Option<Activity>, u64),
        c: &Config,
        to: &mut Targets<'_>,
    ) {
        let Some(at) = self.tail_probe_time(stream, !to.is_empty(), c) else {
            return;
        };
        let Some(s) = stream.filter(|_| at <= now && c.repair_enabled) else {
            return;
        };
        let rto = to.rto(c);
        // Packets that should have arrived since the last multicast one, less those repaired
        // since: during an outage the probes ask for the whole backlog, not one gap's worth.
        let quiet = now.saturating_since(s.last_arrival).as_micros() as u64;
        let expected = s.arrival_highest.0 + quiet / s.gap_us.max(1);
        let count = expected
            .saturating_sub(s.highest.0)
            .clamp(1, TAIL_PROBE_CHUNKS * chunk) as u16;
        // Back off while the quiet lasts: the stream may simply have ended.
        self.next_tail_probe = now + rto * (1 << self.tail_round.min(6));
        self.tail_round += 1;
        let range = [SeqRange {
            start: s.numbering.wire(s.highest.next()),
            len: count,
        }];
        let answerers = match c.strategy != RequestStrategy::Ranked && self.tail_round == 1 {
            true => TAIL_PROBE_ANSWERERS,
            false => 0,
        };
        to.all(s.numbering.ssrc, &range, (true, answerers));
    }

    /// When the next tail probe is due: after a quiet spell of four packet gaps (at least
    /// twice the reorder hold), repeated with exponential back-off while the quiet lasts, up
    /// to the buffer duration. Never without a stream or anybody to ask.
    pub(crate) fn tail_probe_time(
        &self,
        stream: Option<Activity>,
        has_peers: bool,
        c: &Config,
    ) -> Option<Time> {
        let s = stream?;
        if !has_peers || !c.repair_enabled {
            return None;
        }
        let quiet = Duration::from_micros(s.gap_us * 4).max(c.reorder_hold * 2);
        let at = (s.last_progress + quiet).max(self.next_tail_probe);
        (at < s.last_progress + c.buffer).then_some(at)
    }

    /// Moves the RTP sequence numbers to ask the last resort for into `out` (the current
    /// stream's, ascending within each round of requests).
    pub(crate) fn drain_escalations(&mut self, out: &mut Vec<u16>) {
        out.append(&mut self.escalated);
    }

    /// The earliest request timer among missing packets (a lower bound, kept up to date by
    /// [`send_requests`](Self::send_requests) and gap detection).
    pub(crate) fn next_request_time(&self, has_peers: bool, c: &Config) -> Option<Time> {
        if !c.repair_enabled || (!has_peers && c.last_resort.is_zero()) {
            return None;
        }
        (self.next_request_at != Time::NEVER).then_some(self.next_request_at)
    }
}

/// The list in `lists` for (previous stream?, answerers) `key`, made on first use.
fn rota_list(lists: &mut Vec<(bool, u8, Vec<SeqRange>)>, key: (bool, u8)) -> &mut Vec<SeqRange> {
    let at = lists.iter().position(|(p, n, _)| (*p, *n) == key);
    let at = at.unwrap_or_else(|| {
        lists.push((key.0, key.1, Vec::new()));
        lists.len() - 1
    });
    &mut lists[at].2
}

/// Appends RTP sequence number `wire` to `ranges`, extending the last range when consecutive.
pub(super) fn push_seq(ranges: &mut Vec<SeqRange>, wire: u16) {
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

mod step;
#[cfg(test)]
mod tests;
