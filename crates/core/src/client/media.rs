//! Receive path: multicast datagrams (and repaired ones) into the raw buffer, loss detection
//! by sequence number, chunk release into the playback buffer, source restarts.

use super::{Client, Event, Stream};
use crate::raw::SlotState;
use crate::time::Time;
use groupcast_wire::rtp::{MP2T_CLOCK_HZ, RtpPacket};
use groupcast_wire::{SeqExtender, SeqNo, Ssrc, TimestampExtender, ts};
use std::net::SocketAddr;
use std::time::Duration;

/// Where an accepted packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// The multicast group.
    Media,
    /// A peer's repair; the index is into the peer list.
    Repair(usize),
}

impl Client {
    /// Takes one datagram received on the multicast group from `src`.
    ///
    /// Invalid RTP, non-TS payloads and oversized datagrams are counted and dropped.
    pub fn handle_media(&mut self, now: Time, src: SocketAddr, datagram: &[u8]) {
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            self.stats.counters.bad_rtp += 1;
            return;
        };
        if datagram.len() > self.config.max_datagram {
            self.stats.counters.bad_rtp += 1;
            return;
        }
        if self.config.require_ts && ts::check_payload(pkt.payload).is_err() {
            self.stats.counters.bad_payload += 1;
            return;
        }
        match &self.stream {
            Some(s) if s.ssrc == pkt.ssrc => {
                self.candidate.ssrc = None;
                self.accept(now, src, datagram, &pkt, Via::Media);
            }
            Some(s) if now.saturating_since(s.last_arrival) < self.config.buffer => {
                self.foreign_ssrc(now, src, datagram, &pkt);
            }
            _ => {
                self.restart(now, pkt.ssrc);
                self.accept(now, src, datagram, &pkt, Via::Media);
            }
        }
    }

    /// A packet of another SSRC while the current stream is live: the second one in a row
    /// confirms a source restart; the first is held so it is not lost.
    fn foreign_ssrc(&mut self, now: Time, src: SocketAddr, datagram: &[u8], pkt: &RtpPacket<'_>) {
        if self.candidate.ssrc != Some(pkt.ssrc) {
            self.stats.counters.ssrc_mismatch += 1;
            self.candidate.ssrc = Some(pkt.ssrc);
            self.candidate.data.clear();
            self.candidate.data.extend_from_slice(datagram);
            self.candidate.src = src;
            return;
        }
        self.restart(now, pkt.ssrc);
        let held = std::mem::take(&mut self.candidate.data);
        if let Ok(first) = RtpPacket::parse(&held) {
            self.accept(now, self.candidate.src, &held, &first, Via::Media);
        }
        self.candidate.data = held;
        self.candidate.ssrc = None;
        self.accept(now, src, datagram, pkt, Via::Media);
    }

    /// Flushes what the old stream left and starts following `ssrc`.
    fn restart(&mut self, now: Time, ssrc: Ssrc) {
        let old = self.stream.as_ref().map(|s| s.ssrc);
        if old.is_some() {
            self.flush();
            self.stats.counters.source_restarts += 1;
        }
        self.raw.clear();
        self.missing.clear();
        self.events
            .push_back(Event::SourceRestarted { old, new: ssrc });
        self.stream = Some(Stream {
            ssrc,
            seq: SeqExtender::new(),
            ts: TimestampExtender::new(),
            anchor: (now, 0),
            highest: SeqNo(0),
            release_next: SeqNo(0),
            last_arrival: now,
            last_progress: now,
            gap_us: 1_000_000 / u64::from(self.config.expected_pps),
            next_tail_probe: Time::ZERO,
            tail_round: 0,
        });
    }

    /// Puts a checked RTP packet of the current stream into the raw buffer.
    pub(super) fn accept(
        &mut self,
        now: Time,
        src: SocketAddr,
        datagram: &[u8],
        pkt: &RtpPacket<'_>,
        via: Via,
    ) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let first = stream.seq.highest().is_none();
        if let (Via::Repair(_), Some(high)) = (via, stream.seq.highest()) {
            // A repair may reach at most one chunk past the highest packet (tail probes ask
            // no further); anything else cannot have been asked for.
            if high.nearest(pkt.sequence).0 > high.0 + self.raw.chunk() {
                self.stats.counters.malformed += 1;
                return;
            }
        }
        let seq = stream.seq.extend(pkt.sequence);
        let rtp_ts = stream.ts.extend(pkt.timestamp);
        if first {
            stream.anchor = (now, rtp_ts);
            stream.highest = seq;
            stream.release_next = seq;
        }
        if seq < stream.release_next {
            self.too_late(seq, via);
            return;
        }
        let capacity = self.raw.capacity();
        if seq.0 - stream.release_next.0 >= capacity {
            if seq.0 - stream.highest.0 >= capacity {
                // A jump beyond the whole buffer: nothing to repair across it; resync here.
                self.flush();
                let s = self.stream.as_mut().expect("stream checked above");
                (s.highest, s.release_next) = (seq, seq);
                self.stats.counters.source_restarts += 1;
            } else {
                self.force_release(SeqNo(seq.0 + 1 - capacity));
            }
        }
        let due = self.due(now, rtp_ts);
        self.mark_gap(now, seq, due);
        let Some(state) = self.fill_state(seq, via) else {
            return;
        };
        self.raw.fill(seq, now, src, datagram);
        let slot = self.raw.get_mut(seq).expect("just filled");
        (slot.due, slot.rtp_ts, slot.repaired) = (due, rtp_ts, via != Via::Media);
        self.account(now, state, via);
        let s = self.stream.as_mut().expect("stream checked above");
        s.highest = s.highest.max(seq);
        s.last_progress = now;
        s.tail_round = 0;
        if via == Via::Media {
            let gap = now.saturating_since(s.last_arrival).as_micros() as u64;
            s.gap_us = (s.gap_us * 15 + gap.min(1_000_000)) / 16;
            s.last_arrival = now;
        }
        self.release_complete();
    }

    /// The slot's state before a fill, or `None` (counted) if it already holds the packet.
    fn fill_state(&mut self, seq: SeqNo, via: Via) -> Option<(SlotState, Time, u8)> {
        let state = self
            .raw
            .get(seq)
            .map_or((SlotState::Empty, Time::ZERO, 0), |s| {
                (s.state, s.at, s.attempts)
            });
        if state.0 == SlotState::Present {
            let c = &mut self.stats.counters;
            match via {
                Via::Media => c.duplicate_media += 1,
                Via::Repair(_) => c.duplicate_repairs += 1,
            }
            return None;
        }
        Some(state)
    }

    /// Counts a fill by where it came from and what the slot was.
    fn account(&mut self, now: Time, (state, detected, attempts): (SlotState, Time, u8), via: Via) {
        let c = &mut self.stats.counters;
        match via {
            Via::Media => {
                c.received += 1;
                if state == SlotState::Missing && attempts > 0 {
                    c.late += 1;
                }
            }
            Via::Repair(peer) => {
                c.lost += 1;
                c.repaired += 1;
                if state == SlotState::Missing {
                    self.stats
                        .record_repair_latency(now.saturating_since(detected));
                }
                if let Some(p) = self.peers.list.get_mut(peer) {
                    p.useful_repairs += 1;
                }
            }
        }
    }

    fn too_late(&mut self, seq: SeqNo, via: Via) {
        let held = self
            .raw
            .get(seq)
            .is_some_and(|s| s.state == SlotState::Present);
        let c = &mut self.stats.counters;
        match (via, held) {
            (Via::Media, true) => c.duplicate_media += 1,
            (Via::Media, false) => c.media_too_old += 1,
            (Via::Repair(_), true) => c.duplicate_repairs += 1,
            (Via::Repair(_), false) => c.repairs_too_late += 1,
        }
    }

    /// Marks every number between the highest held and `seq` missing.
    fn mark_gap(&mut self, now: Time, seq: SeqNo, due: Time) {
        let Some(s) = self.stream.as_ref() else {
            return;
        };
        let gap = Duration::from_micros(s.gap_us);
        let first_request = now + self.config.reorder_hold;
        for m in s.highest.0 + 1..seq.0 {
            let due_m = due - gap * ((seq.0 - m) as u32);
            self.raw.mark_missing(SeqNo(m), now, due_m, first_request);
            self.missing.push(SeqNo(m));
        }
    }

    /// Play-out time of extended RTP timestamp `rtp_ts`; re-anchors on timestamp jumps.
    fn due(&mut self, now: Time, rtp_ts: u64) -> Time {
        let Some(s) = self.stream.as_mut() else {
            return now;
        };
        let offset_us =
            (rtp_ts as i128 - s.anchor.1 as i128) * 1_000_000 / i128::from(MP2T_CLOCK_HZ);
        let local = s.anchor.0.as_micros() as i128 + offset_us;
        let skew = (local - now.as_micros() as i128).unsigned_abs();
        let limit = (self.config.buffer.as_micros() * 4).max(5_000_000);
        if skew > limit {
            s.anchor = (now, rtp_ts);
            return now + self.config.buffer;
        }
        Time::from_micros(local.max(0) as u64) + self.config.buffer
    }

    /// Releases head chunks that are complete.
    fn release_complete(&mut self) {
        while let Some((from, full_end, known_end)) = self.head_chunk() {
            if known_end < full_end || self.raw.chunk_resolved(from) < full_end.0 - from.0 {
                break;
            }
            self.release(full_end);
        }
    }

    /// Releases head chunks whose deadline has passed (holes become unrecovered).
    pub(super) fn release_due(&mut self, now: Time) {
        self.release_complete();
        while let Some(deadline) = self.head_deadline() {
            let Some((_, _, known_end)) = self.head_chunk() else {
                break;
            };
            if deadline > now {
                break;
            }
            self.release(known_end);
            self.release_complete();
        }
    }

    /// The head chunk: first unreleased number, the chunk's end, and the end of what is
    /// known of it (up to the highest number seen); `None` when nothing is unreleased.
    pub(super) fn head_chunk(&self) -> Option<(SeqNo, SeqNo, SeqNo)> {
        let s = self.stream.as_ref()?;
        let chunk = self.raw.chunk();
        let full_end = (s.release_next.0 / chunk + 1) * chunk;
        let known_end = full_end.min(s.highest.0 + 1);
        (known_end > s.release_next.0).then_some((
            s.release_next,
            SeqNo(full_end),
            SeqNo(known_end),
        ))
    }

    /// When the head chunk must be released: the earliest play-out time in it.
    pub(super) fn head_deadline(&self) -> Option<Time> {
        let (from, _, end) = self.head_chunk()?;
        (from.0..end.0)
            .filter_map(|s| self.raw.get(SeqNo(s)).map(|slot| slot.due))
            .min()
    }

    /// Releases everything below `upto` (chunk by chunk), holes counted.
    fn force_release(&mut self, upto: SeqNo) {
        while let Some((from, _, end)) = self.head_chunk() {
            if from >= upto {
                break;
            }
            self.release(end);
        }
    }

    /// Releases everything held.
    fn flush(&mut self) {
        self.force_release(SeqNo(u64::MAX));
    }

    /// Copies `[release_next, end)` to the playback buffer.
    fn release(&mut self, end: SeqNo) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let from = s.release_next;
        s.release_next = end;
        for n in from.0..end.0 {
            let Some(slot) = self.raw.get_mut(SeqNo(n)) else {
                continue;
            };
            match slot.state {
                SlotState::Present => {
                    let payload = RtpPacket::parse(&slot.data)
                        .map(|p| p.payload)
                        .unwrap_or_default();
                    if !self.playback.push(SeqNo(n), slot.due, payload) {
                        self.stats.counters.playback_overflow += 1;
                    }
                }
                SlotState::Missing => {
                    slot.next_request = Time::NEVER;
                    self.stats.counters.unrecovered += 1;
                    self.stats.counters.lost += 1;
                    self.playback.mark_gap();
                }
                SlotState::Empty => {}
            }
        }
        self.raw.chunk_released(from);
    }
}
