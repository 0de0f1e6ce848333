//! Receive path: multicast datagrams (and repaired ones) into the raw buffer, loss detection
//! by sequence number, source restarts.

use super::{Client, Event, Numbering, Previous, Stream};
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::rtp::{MP2T_CLOCK_HZ, RtpPacket};
use groupcast_wire::{SeqExtender, SeqNo, Ssrc, TimestampExtender, ts};
use std::net::SocketAddr;
use std::time::Duration;

/// Numbers left free between two streams, so that a packet of the new stream reordered
/// ahead of its first one still has a slot.
const RESTART_MARGIN: u64 = 2;

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
        let previous = self.previous.map(|p| p.numbering.ssrc);
        match &self.stream {
            Some(s) if s.ssrc() == pkt.ssrc => {
                self.candidate.ssrc = None;
                self.accept(now, src, datagram, &pkt, Via::Media);
            }
            _ if previous == Some(pkt.ssrc) => {
                self.accept_previous(now, src, datagram, &pkt, Via::Media)
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

    /// A packet of another SSRC while the current stream is live. A source restart is
    /// confirmed by two packets of the new SSRC with consecutive numbers while the current
    /// stream has been quiet for one and a half packet gaps (a restarted source has stopped; a
    /// stranger sending to the group while the source runs never confirms). The first is held
    /// so it is not lost.
    fn foreign_ssrc(&mut self, now: Time, src: SocketAddr, datagram: &[u8], pkt: &RtpPacket<'_>) {
        let quiet = self.stream.as_ref().is_some_and(|s| {
            now.saturating_since(s.last_arrival).as_micros() as u64 >= 3 * s.gap_us.max(500) / 2
        });
        let follows = self.candidate.ssrc == Some(pkt.ssrc)
            && pkt.sequence == self.candidate.seq.wrapping_add(1);
        if !(follows && quiet) {
            self.stats.counters.ssrc_mismatch += 1;
            self.candidate.ssrc = Some(pkt.ssrc);
            self.candidate.seq = pkt.sequence;
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

    /// Starts following `ssrc`. The old stream, if any, becomes the previous one: its packets
    /// stay in the buffer, are repaired and served until they play out, and the new stream's
    /// numbers follow on after them.
    fn restart(&mut self, now: Time, ssrc: Ssrc) {
        let old = self.stream.take();
        let (base, release_next) = match &old {
            Some(o) => {
                self.stats.counters.source_restarts += 1;
                self.previous = Some(Previous {
                    numbering: o.numbering,
                    highest: o.highest,
                });
                (
                    Some(SeqNo(o.highest.0 + 1 + RESTART_MARGIN)),
                    o.release_next,
                )
            }
            None => (None, SeqNo(0)),
        };
        self.events.push_back(Event::SourceRestarted {
            old: old.as_ref().map(Stream::ssrc),
            new: ssrc,
        });
        self.stream = Some(Stream {
            numbering: Numbering { ssrc, offset: 0 },
            seq: SeqExtender::new(),
            ts: TimestampExtender::new(),
            base,
            start: base.unwrap_or(SeqNo(0)),
            anchor: (now, 0),
            highest: base.map_or(SeqNo(0), |b| SeqNo(b.0 - 1)),
            release_next,
            last_arrival: now,
            last_progress: now,
            gap_us: old
                .as_ref()
                .map_or(1_000_000 / u64::from(self.config.expected_pps), |o| {
                    o.gap_us
                }),
            next_tail_probe: Time::ZERO,
            tail_round: 0,
            arrival_highest: base.map_or(SeqNo(0), |b| SeqNo(b.0 - 1)),
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
        let chunk = self.raw.chunk();
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let first = stream.seq.highest().is_none();
        if let (Via::Repair(_), false) = (via, first) {
            // A repair may reach no further past the highest packet than a tail probe asks;
            // anything else cannot have been asked for.
            let reach = super::repair::TAIL_PROBE_CHUNKS * chunk;
            if stream.numbering.resolve(stream.highest, pkt.sequence).0 > stream.highest.0 + reach {
                self.stats.counters.malformed += 1;
                return;
            }
        }
        let ext = stream.seq.extend(pkt.sequence);
        let rtp_ts = stream.ts.extend(pkt.timestamp);
        if first {
            let place = stream.base.unwrap_or(ext);
            stream.numbering.offset = place.0.wrapping_sub(ext.0);
            stream.start = place;
            stream.anchor = (now, rtp_ts);
            if stream.base.is_none() {
                (stream.highest, stream.release_next, stream.arrival_highest) =
                    (place, place, place);
            }
        }
        let seq = SeqNo(ext.0.wrapping_add(stream.numbering.offset));
        if seq < stream.release_next {
            self.too_late(seq, via);
            return;
        }
        if !self.make_room(seq) {
            return;
        }
        let due = self.due(now, rtp_ts);
        self.mark_gap(now, seq, due);
        let payload = payload_range(datagram, pkt);
        if self.store(now, seq, src, datagram, payload, via, due, rtp_ts) {
            let s = self.stream.as_mut().expect("stream checked above");
            s.highest = s.highest.max(seq);
            s.last_progress = now;
            s.tail_round = 0;
            if via == Via::Media {
                let gap = now.saturating_since(s.last_arrival).as_micros() as u64;
                s.gap_us = (s.gap_us * 15 + gap.min(1_000_000)) / 16;
                s.last_arrival = now;
                s.arrival_highest = s.arrival_highest.max(seq);
            }
            self.release_complete();
        }
    }

    /// A packet of the stream before the last restart (late media, or a repair): it may only
    /// fill a slot still waiting for it.
    pub(super) fn accept_previous(
        &mut self,
        now: Time,
        src: SocketAddr,
        datagram: &[u8],
        pkt: &RtpPacket<'_>,
        via: Via,
    ) {
        let (Some(prev), Some(stream)) = (self.previous, self.stream.as_ref()) else {
            return;
        };
        let seq = prev.numbering.resolve(prev.highest, pkt.sequence);
        if seq >= stream.start || seq < stream.release_next {
            self.too_late(seq, via);
            return;
        }
        let due = self
            .raw
            .get(seq)
            .map_or(now + self.config.buffer, |s| s.due);
        let payload = payload_range(datagram, pkt);
        if self.store(now, seq, src, datagram, payload, via, due, 0) {
            self.release_complete();
        }
    }

    /// Releases enough of the head to make room for `seq`; resynchronises on a jump beyond
    /// the whole buffer. Returns false if `seq` cannot be stored.
    fn make_room(&mut self, seq: SeqNo) -> bool {
        let Some(s) = self.stream.as_ref() else {
            return false;
        };
        let capacity = self.raw.capacity();
        // The slots from `seq` back one ring may now be reused: anything still queued for
        // play-out from them is dropped (a player that stopped reading; counted).
        if let Some(reused) = seq.0.checked_sub(capacity) {
            self.stats.counters.playback_overflow += self.playback.drop_upto(SeqNo(reused));
        }
        if seq.0 - s.release_next.0 < capacity {
            return true;
        }
        if seq.0 - s.highest.0 >= capacity {
            // A gap longer than the whole buffer (an outage): nothing across it can be repaired
            // any more. Play out what is held, count the gap as lost, and go on from here.
            let skipped = seq.0 - s.highest.0 - 1;
            let numbering = s.numbering;
            let logged = skipped.min(super::LOSS_LOG as u64);
            for m in seq.0 - logged..seq.0 {
                self.log_loss(numbering.wire(SeqNo(m)));
            }
            self.flush();
            let s = self.stream.as_mut().expect("stream checked above");
            (s.highest, s.release_next) = (seq, seq);
            self.stats.counters.lost += skipped;
            self.stats.counters.unrecovered += skipped;
            self.playback.mark_gap();
        } else {
            self.force_release(SeqNo(seq.0 + 1 - capacity));
        }
        true
    }

    /// Fills the slot for `seq` unless it already holds the packet; counts either way.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        now: Time,
        seq: SeqNo,
        src: SocketAddr,
        datagram: &[u8],
        payload: (u16, u16),
        via: Via,
        due: Time,
        rtp_ts: u64,
    ) -> bool {
        // Above the highest number, the slot cannot stand for `seq` yet: not reading it saves
        // a cache miss on every new packet.
        let fresh = self.stream.as_ref().is_some_and(|s| seq > s.highest);
        let slot = if fresh { None } else { self.raw.get(seq) };
        let before = slot.map_or((SlotState::Empty, Time::ZERO, 0), |s| {
            (s.state, s.at, s.attempts)
        });
        if before.0 == SlotState::Present {
            let c = &mut self.stats.counters;
            match via {
                Via::Media => c.duplicate_media += 1,
                Via::Repair(_) => c.duplicate_repairs += 1,
            }
            return false;
        }
        let boundary = self
            .stream
            .as_ref()
            .is_some_and(|s| s.base.is_some() && seq == s.start);
        if fresh {
            self.raw.fill_fresh(seq, now, src, datagram);
        } else {
            self.raw.fill(seq, now, src, datagram);
        }
        if let Some(slot) = self.raw.get_mut(seq) {
            (slot.due, slot.rtp_ts, slot.payload) = (due, rtp_ts, payload);
            (slot.repaired, slot.boundary) = (via != Via::Media, boundary);
        }
        self.account(now, before, via);
        true
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
        let numbering = s.numbering;
        for m in s.highest.0 + 1..seq.0 {
            let due_m = due - gap * ((seq.0 - m) as u32);
            self.raw.mark_missing(SeqNo(m), now, due_m, first_request);
            self.missing.push(SeqNo(m));
            self.next_request_at = self.next_request_at.min(first_request);
            self.log_loss(numbering.wire(SeqNo(m)));
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
}

/// Where `pkt`'s payload lies in `datagram` (which it was parsed from): offset and length.
fn payload_range(datagram: &[u8], pkt: &RtpPacket<'_>) -> (u16, u16) {
    let at = (pkt.payload.as_ptr() as usize).saturating_sub(datagram.as_ptr() as usize);
    (at as u16, pkt.payload.len() as u16)
}
