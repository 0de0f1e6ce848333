//! Receive path: multicast datagrams (and repaired ones) into the raw buffer. The stream
//! receiver numbers them, the raw buffer holds them, the repair scheduler learns of gaps, and
//! complete chunks are released to the playback buffer.

use super::receiver::Route;
use super::repair::TAIL_PROBE_CHUNKS;
use super::{Client, Event, LOSS_LOG, Release};
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::{SeqNo, Ssrc, ts};
use std::net::SocketAddr;
use std::time::Duration;

/// Where an accepted packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// The multicast group.
    Media,
    /// A peer's repair; the index is into the member list.
    Repair(usize),
    /// A member's fast start burst; the index is into the member list.
    Burst(usize),
    /// The last resort's retransmission (the relay's).
    LastResort,
}

/// A checked RTP packet and the datagram it was parsed from.
#[derive(Clone, Copy)]
pub(super) struct Arrival<'a> {
    /// The datagram's source address (kept to rebuild its UDP header for a repair).
    pub(super) src: SocketAddr,
    /// The whole datagram.
    pub(super) datagram: &'a [u8],
    /// Its parsed RTP header and payload.
    pub(super) pkt: &'a RtpPacket<'a>,
    /// Where it came from.
    pub(super) via: Via,
}

impl Arrival<'_> {
    /// Where the payload lies in the datagram: offset and length.
    fn payload(&self) -> (u16, u16) {
        let at =
            (self.pkt.payload.as_ptr() as usize).saturating_sub(self.datagram.as_ptr() as usize);
        (at as u16, self.pkt.payload.len() as u16)
    }
}

impl Client {
    /// Takes one datagram received on the multicast group from `src`.
    ///
    /// Invalid RTP, non-TS payloads and oversized datagrams are counted and dropped.
    pub fn handle_media(&mut self, now: Time, src: SocketAddr, datagram: &[u8]) {
        if self.hold_media(now, src, datagram) {
            return; // taken in order once the fast start's burst has caught up
        }
        self.take_media(now, src, datagram, Via::Media);
    }

    /// Takes a retransmission from the last resort (the relay asked through
    /// [`drain_escalations`](Self::drain_escalations)), sent from `src`: it may only fill a
    /// packet of the stream being followed that is missing; anything else is counted in
    /// `last_resort_unused`.
    pub fn handle_last_resort(&mut self, now: Time, src: SocketAddr, datagram: &[u8]) {
        let filled = self.stats.counters.last_resort_repaired;
        let following = self.receiver.ssrc();
        match RtpPacket::parse(datagram) {
            Ok(pkt) if Some(pkt.ssrc) == following => {
                self.take_media(now, src, datagram, Via::LastResort);
            }
            Ok(_) => {}
            Err(_) => self.stats.counters.bad_rtp += 1,
        }
        if self.stats.counters.last_resort_repaired == filled {
            self.stats.counters.last_resort_unused += 1;
        }
    }

    fn take_media(&mut self, now: Time, src: SocketAddr, datagram: &[u8], via: Via) {
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
        let a = Arrival {
            src,
            datagram,
            pkt: &pkt,
            via,
        };
        if via == Via::LastResort {
            self.accept(now, a); // the followed stream only (checked by the caller)
            return;
        }
        match self.receiver.route(now, pkt.ssrc, self.config.buffer) {
            Route::Current => self.accept(now, a),
            Route::Previous => self.accept_previous(now, a),
            Route::Foreign => self.foreign_ssrc(now, a),
            Route::Restart => {
                self.restart(now, pkt.ssrc);
                self.accept(now, a);
            }
        }
    }

    /// A packet of another SSRC while the current stream is live: counted, and held, unless
    /// it confirms a source restart (then the held one and it are taken in order).
    fn foreign_ssrc(&mut self, now: Time, a: Arrival<'_>) {
        if !self.receiver.confirm(now, a.src, a.datagram, a.pkt) {
            self.stats.counters.ssrc_mismatch += 1;
            return;
        }
        self.restart(now, a.pkt.ssrc);
        let (held, src) = self.receiver.take_held();
        if let Ok(first) = RtpPacket::parse(&held) {
            let datagram = &held;
            let pkt = &first;
            self.accept(
                now,
                Arrival {
                    src,
                    datagram,
                    pkt,
                    via: Via::Media,
                },
            );
        }
        self.receiver.release_held(held);
        self.accept(now, a);
    }

    /// Starts following `ssrc` (see [`StreamReceiver::restart`](super::receiver::StreamReceiver::restart)).
    pub(super) fn restart(&mut self, now: Time, ssrc: Ssrc) {
        let old = self.receiver.restart(now, ssrc, self.config.expected_pps);
        self.stats.counters.source_restarts += u64::from(old.is_some());
        self.repair.restarted();
        self.gop.clear();
        self.events
            .push_back(Event::SourceRestarted { old, new: ssrc });
    }

    /// Puts a checked RTP packet of the current stream into the raw buffer.
    pub(super) fn accept(&mut self, now: Time, a: Arrival<'_>) {
        let Some(first) = self.receiver.awaiting_first() else {
            return;
        };
        // A repair may reach no further past the highest packet than a tail probe asks;
        // anything else cannot have been asked for.
        let reach = TAIL_PROBE_CHUNKS * self.raw.chunk();
        if matches!(a.via, Via::Repair(_) | Via::Burst(_) | Via::LastResort)
            && !first
            && self.receiver.beyond(a.pkt.sequence, reach)
        {
            self.stats.counters.malformed += 1;
            return;
        }
        let Some(n) = self.receiver.number(now, a.pkt) else {
            return;
        };
        if let Some(origin) = n.origin {
            self.raw.set_release_next(origin);
        }
        if n.seq < self.raw.release_next() {
            self.too_late(n.seq, a.via);
            return;
        }
        if !self.make_room(n.seq) {
            return;
        }
        let due = self.receiver.due(now, n.rtp_ts, self.config.buffer);
        self.mark_gap(now, n.seq, due);
        if let Some(head) = n.head {
            self.probe_head(now, head.0..n.seq.0, due);
        }
        if self.store(now, (n.seq, due, n.rtp_ts), a) {
            if self.receiver.stored(now, n.seq, a.via == Via::Media) {
                self.repair.progressed();
            }
            self.release(Release::Complete);
        }
    }

    /// A packet of the stream before the last restart (late media, or a repair): it may only
    /// fill a slot still waiting for it.
    pub(super) fn accept_previous(&mut self, now: Time, a: Arrival<'_>) {
        let Some((seq, start)) = self.receiver.resolve_previous(a.pkt.sequence) else {
            return;
        };
        if seq >= start || seq < self.raw.release_next() {
            self.too_late(seq, a.via);
            return;
        }
        let due = self
            .raw
            .get(seq)
            .map_or(now + self.config.buffer, |s| s.due);
        if self.store(now, (seq, due, 0), a) {
            self.release(Release::Complete);
        }
    }

    /// Releases enough of the head to make room for `seq`; resynchronises on a jump beyond
    /// the whole buffer. Returns false if `seq` cannot be stored.
    fn make_room(&mut self, seq: SeqNo) -> bool {
        let Some(highest) = self.receiver.highest() else {
            return false;
        };
        let capacity = self.raw.capacity();
        // The slots from `seq` back one ring may now be reused: anything still queued for
        // play-out from them is dropped (a player that stopped reading; counted).
        if let Some(reused) = seq.0.checked_sub(capacity) {
            self.stats.counters.playback_overflow += self.playback.drop_upto(SeqNo(reused));
        }
        if seq.0 - self.raw.release_next().0 < capacity {
            return true;
        }
        if seq.0 - highest.0 >= capacity {
            // A gap longer than the whole buffer (an outage): nothing across it can be repaired
            // any more. Play out what is held, count the gap as lost, and go on from here.
            let skipped = seq.0 - highest.0 - 1;
            let logged = skipped.min(LOSS_LOG as u64);
            self.receiver.log_losses(seq.0 - logged..seq.0);
            self.release(Release::Upto(SeqNo(u64::MAX)));
            self.receiver.resync(seq);
            self.raw.set_release_next(seq);
            self.stats.counters.lost += skipped;
            self.stats.counters.unrecovered += skipped;
            self.playback.mark_gap();
        } else {
            self.release(Release::Upto(SeqNo(seq.0 + 1 - capacity)));
        }
        true
    }

    /// Fills the slot for `seq` (due to play at `due`, extended RTP timestamp `rtp_ts`) unless
    /// it already holds the packet; counts either way.
    fn store(&mut self, now: Time, (seq, due, rtp_ts): (SeqNo, Time, u64), a: Arrival<'_>) -> bool {
        // Above the highest number, the slot cannot stand for `seq` yet: not reading it saves
        // a cache miss on every new packet.
        let fresh = self.receiver.is_fresh(seq);
        let slot = if fresh { None } else { self.raw.get(seq) };
        let before = slot.map_or((SlotState::Empty, Time::ZERO, 0), |s| {
            (s.state, s.at, s.attempts)
        });
        if before.0 == SlotState::Present {
            let c = &mut self.stats.counters;
            match a.via {
                Via::Media => c.duplicate_media += 1,
                Via::Repair(_) => c.duplicate_repairs += 1,
                Via::Burst(_) => c.fast_start_unused += 1,
                Via::LastResort => {}
            }
            return false;
        }
        let boundary = self.receiver.is_boundary(seq);
        if fresh {
            self.raw.fill_fresh(seq, now, a.src, a.datagram);
        } else {
            self.raw.fill(seq, now, a.src, a.datagram);
        }
        if let Some(slot) = self.raw.get_mut(seq) {
            (slot.due, slot.rtp_ts, slot.payload) = (due, rtp_ts, a.payload());
            (slot.repaired, slot.boundary) = (a.via != Via::Media, boundary);
        }
        self.account(now, before, a.via);
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
                c.backup_repaired += u64::from(self.peers.is_backup(peer));
                if state == SlotState::Missing {
                    self.stats
                        .record_repair_latency(now.saturating_since(detected));
                }
                self.peers.credit(peer);
            }
            Via::Burst(_) => c.fast_start_packets += 1,
            Via::LastResort if state == SlotState::Missing => {
                c.lost += 1;
                c.repaired += 1;
                c.last_resort_repaired += 1;
                self.stats
                    .record_repair_latency(now.saturating_since(detected));
            }
            Via::LastResort => {}
        }
    }

    /// Counts a packet for a number already released.
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
            (Via::Burst(_), _) => c.fast_start_unused += 1,
            (Via::LastResort, _) => {}
        }
    }

    /// After a restart, asks the group for the numbers just before the new stream's first
    /// packet received (`head`, due before `due`): it may not be the stream's first one. They
    /// are speculative: a number no packet comes for is released silently, not as a loss.
    fn probe_head(&mut self, now: Time, head: std::ops::Range<u64>, due: Time) {
        if !self.config.repair_enabled {
            return;
        }
        let spacing = self.receiver.gap();
        let hold = self.config.reorder_hold;
        self.repair
            .add_gap(&mut self.raw, head.clone(), (now, due, spacing), hold);
        for seq in head {
            if let Some(slot) = self.raw.get_mut(SeqNo(seq)) {
                slot.speculative = true;
            }
        }
    }

    /// Marks every number between the highest held and `seq` missing (and logs them).
    fn mark_gap(&mut self, now: Time, seq: SeqNo, due: Time) {
        let Some(highest) = self.receiver.highest() else {
            return;
        };
        let gap = highest.0 + 1..seq.0;
        if gap.is_empty() {
            return;
        }
        let spacing = self.receiver.gap();
        // Replaying a fast start's held multicast: the hole is seen now, and is no reordering.
        let (seen, hold) = match self.fast.replay {
            Some(real) => (real, Duration::ZERO),
            None => (now, self.config.reorder_hold),
        };
        self.repair
            .add_gap(&mut self.raw, gap.clone(), (seen, due, spacing), hold);
        self.receiver.log_losses(gap);
    }
}
