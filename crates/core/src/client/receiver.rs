//! The stream receiver: which RTP stream the client follows, how its sequence numbers map into
//! the client's single numbering space, and source restarts (an SSRC change confirmed by two
//! consecutive packets while the old stream is quiet).
//!
//! It owns no packet: it numbers packets, says where they belong, keeps the arrival figures
//! (highest, gap, last arrival) for loss detection and tail probes, and the loss log.

use groupcast_base::Time;
use groupcast_wire::rtp::{MP2T_CLOCK_HZ, RtpPacket};
use groupcast_wire::{SeqExtender, SeqNo, Ssrc, TimestampExtender};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

mod numbering;
pub(crate) use numbering::Numbering;

/// Numbers left free between two streams at a restart: for the old stream's last packets if
/// still repaired, then the [`HEAD_PROBE`] ones.
const RESTART_MARGIN: u64 = 2 + HEAD_PROBE;
/// Numbers before the new stream's first packet received, asked from the group: a viewer that
/// lost the stream's first datagrams (PAT, PMT, first keyframe) would lose its first GOP.
pub(crate) const HEAD_PROBE: u64 = 2;
/// Most recent multicast losses kept for [`Client::drain_losses`](crate::Client::drain_losses).
pub const LOSS_LOG: usize = 512;

/// State of the stream currently followed.
#[derive(Debug)]
struct Stream {
    /// Its SSRC and place in the numbering space.
    numbering: Numbering,
    /// Extends its sequence numbers (before the offset).
    seq: SeqExtender,
    /// Extends its RTP timestamps.
    ts: TimestampExtender,
    /// Where its first packet goes, after a previous stream; `None` for the first stream.
    base: Option<SeqNo>,
    /// Our number of its first packet: lower numbers belong to the previous stream.
    start: SeqNo,
    /// Local time at which extended RTP timestamp `.1` was received (play-out anchor).
    anchor: (Time, u64),
    /// Highest number held or known missing.
    highest: SeqNo,
    /// Last multicast arrival.
    last_arrival: Time,
    /// Last time the head moved: a packet (media or repair) above the highest was added.
    /// Filling holes below it is no progress at the tail: counting it would keep postponing
    /// tail probes while a metro catches up on an outage, and the catch-up would fall behind.
    last_progress: Time,
    /// Smoothed multicast time per sequence number, µs: the time between two arrivals over
    /// the numbers between them, so that losses do not stretch it (at 5 % loss, an estimate
    /// per arrival runs 5 % slow, and a tail probe's idea of the head falls behind by 5 % of
    /// an outage: 200 ms after 4 s, a whole buffer).
    gap_us: u64,
    /// Highest number that arrived by multicast (tail probes estimate from it).
    arrival_highest: SeqNo,
    /// How much sooner than `buffer` after its local time each packet plays (a fast start).
    hurry_us: u64,
}

/// What the repair scheduler needs to know of the current stream's arrivals (a copy).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Activity {
    /// The stream's numbering (tail probes ask by RTP sequence number).
    pub(crate) numbering: Numbering,
    /// Highest number held or known missing.
    pub(crate) highest: SeqNo,
    /// Highest number that arrived by multicast.
    pub(crate) arrival_highest: SeqNo,
    /// Last multicast arrival.
    pub(crate) last_arrival: Time,
    /// Last time the head moved (a packet above the highest was added).
    pub(crate) last_progress: Time,
    /// Smoothed multicast time per sequence number, µs.
    pub(crate) gap_us: u64,
}

/// The stream before the last source restart, still repaired and served until it plays out.
#[derive(Clone, Copy, Debug)]
struct Previous {
    /// Its SSRC and place in the numbering space.
    numbering: Numbering,
    /// Its highest number.
    highest: SeqNo,
}

/// A packet of a foreign SSRC held while deciding whether the source restarted.
#[derive(Debug)]
struct Candidate {
    /// Its SSRC, if one is held.
    ssrc: Option<Ssrc>,
    /// Its RTP sequence number: a restart needs the next one.
    seq: u16,
    /// The datagram.
    data: Vec<u8>,
    /// Where it came from.
    src: SocketAddr,
}

/// Where a multicast packet of some SSRC belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The stream being followed.
    Current,
    /// The stream before the last restart.
    Previous,
    /// Another SSRC while the current one is live: maybe a restart ([`StreamReceiver::confirm`]).
    Foreign,
    /// No stream yet, or the current one has been quiet for a whole buffer: follow this one.
    Restart,
}

/// A packet placed in the numbering space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Numbered {
    /// Our number for it.
    pub(crate) seq: SeqNo,
    /// Its extended RTP timestamp.
    pub(crate) rtp_ts: u64,
    /// The first packet of the very first stream: the release cursor starts here.
    pub(crate) origin: Option<SeqNo>,
    /// The first packet after a restart: where the [`HEAD_PROBE`] numbers before it start.
    pub(crate) head: Option<SeqNo>,
}

/// Follows the source's stream across restarts and numbers its packets.
#[derive(Debug)]
pub(crate) struct StreamReceiver {
    /// The stream being followed, once the first packet arrived.
    stream: Option<Stream>,
    /// The stream before the last restart, if any.
    previous: Option<Previous>,
    /// Possible new source (SSRC change) under confirmation.
    candidate: Candidate,
    /// RTP sequence numbers of the latest multicast losses (oldest dropped beyond
    /// [`LOSS_LOG`]), for the manager's view of losses shared across a metro.
    loss_log: VecDeque<u16>,
}

impl StreamReceiver {
    /// No stream yet; a held candidate datagram may be up to `max_datagram` bytes.
    pub(crate) fn new(max_datagram: usize, group: SocketAddr) -> Self {
        StreamReceiver {
            stream: None,
            previous: None,
            candidate: Candidate {
                ssrc: None,
                seq: 0,
                data: Vec::with_capacity(max_datagram),
                src: group,
            },
            loss_log: VecDeque::with_capacity(LOSS_LOG),
        }
    }

    /// The SSRC of the stream being followed.
    pub(crate) fn ssrc(&self) -> Option<Ssrc> {
        self.stream.as_ref().map(|s| s.numbering.ssrc)
    }

    /// The SSRC of the stream before the last restart.
    pub(crate) fn previous_ssrc(&self) -> Option<Ssrc> {
        self.previous.map(|p| p.numbering.ssrc)
    }

    /// The current stream's numbering.
    pub(crate) fn numbering(&self) -> Option<Numbering> {
        self.stream.as_ref().map(|s| s.numbering)
    }

    /// Highest number held or known missing, once a stream is followed.
    pub(crate) fn highest(&self) -> Option<SeqNo> {
        self.stream.as_ref().map(|s| s.highest)
    }

    /// The current stream's arrival figures.
    pub(crate) fn activity(&self) -> Option<Activity> {
        self.stream.as_ref().map(|s| Activity {
            numbering: s.numbering,
            highest: s.highest,
            arrival_highest: s.arrival_highest,
            last_arrival: s.last_arrival,
            last_progress: s.last_progress,
            gap_us: s.gap_us,
        })
    }

    /// The stream our number `seq` belongs to.
    pub(crate) fn numbering_of(&self, seq: SeqNo) -> Option<Numbering> {
        let s = self.stream.as_ref()?;
        match self.previous {
            Some(p) if seq < s.start => Some(p.numbering),
            _ => Some(s.numbering),
        }
    }

    /// The RTP sequence number of our number `seq` (0 before any stream).
    pub(crate) fn wire(&self, seq: SeqNo) -> u16 {
        self.numbering_of(seq)
            .map(|n| n.wire(seq))
            .unwrap_or_default()
    }

    /// Where a multicast packet of `ssrc` arriving at `now` belongs. A packet of the current
    /// stream ends any restart under confirmation.
    pub(crate) fn route(&mut self, now: Time, ssrc: Ssrc, buffer: Duration) -> Route {
        match &self.stream {
            Some(s) if s.numbering.ssrc == ssrc => {
                self.candidate.ssrc = None;
                Route::Current
            }
            _ if self.previous_ssrc() == Some(ssrc) => Route::Previous,
            Some(s) if now.saturating_since(s.last_arrival) < buffer => Route::Foreign,
            _ => Route::Restart,
        }
    }

    /// A packet of a foreign SSRC while the current stream is live. A source restart is
    /// confirmed by two packets of the new SSRC with consecutive numbers while the current
    /// stream has been quiet for one and a half packet gaps (a restarted source has stopped; a
    /// stranger sending to the group while the source runs never confirms). Returns true when
    /// this packet confirms; otherwise it is held (the first of a possible pair) and false is
    /// returned.
    pub(crate) fn confirm(
        &mut self,
        now: Time,
        src: SocketAddr,
        datagram: &[u8],
        pkt: &RtpPacket<'_>,
    ) -> bool {
        let quiet = self.stream.as_ref().is_some_and(|s| {
            now.saturating_since(s.last_arrival).as_micros() as u64 >= 3 * s.gap_us.max(500) / 2
        });
        let follows = self.candidate.ssrc == Some(pkt.ssrc)
            && pkt.sequence == self.candidate.seq.wrapping_add(1);
        if follows && quiet {
            return true;
        }
        self.candidate.ssrc = Some(pkt.ssrc);
        self.candidate.seq = pkt.sequence;
        self.candidate.data.clear();
        self.candidate.data.extend_from_slice(datagram);
        self.candidate.src = src;
        false
    }

    /// Takes the held candidate datagram and its sender; give it back with [`Self::release_held`].
    pub(crate) fn take_held(&mut self) -> (Vec<u8>, SocketAddr) {
        (std::mem::take(&mut self.candidate.data), self.candidate.src)
    }

    /// Returns the candidate buffer (for reuse) and forgets the candidate.
    pub(crate) fn release_held(&mut self, data: Vec<u8>) {
        self.candidate.data = data;
        self.candidate.ssrc = None;
    }

    /// Starts following `ssrc`; returns the SSRC followed before, if any. The old stream
    /// becomes the previous one: its packets stay in the buffer, are repaired and served until
    /// they play out, and the new stream's numbers follow on after them.
    pub(crate) fn restart(&mut self, now: Time, ssrc: Ssrc, expected_pps: u32) -> Option<Ssrc> {
        let old = self.stream.take();
        let base = old.as_ref().map(|o| {
            let (numbering, highest) = (o.numbering, o.highest);
            self.previous = Some(Previous { numbering, highest });
            SeqNo(o.highest.0 + 1 + RESTART_MARGIN)
        });
        let below_base = base.map_or(SeqNo(0), |b| SeqNo(b.0 - 1));
        self.stream = Some(Stream {
            numbering: Numbering { ssrc, offset: 0 },
            seq: SeqExtender::new(),
            ts: TimestampExtender::new(),
            base,
            start: base.unwrap_or(SeqNo(0)),
            anchor: (now, 0),
            highest: below_base,
            last_arrival: now,
            last_progress: now,
            gap_us: old
                .as_ref()
                .map_or(1_000_000 / u64::from(expected_pps), |o| o.gap_us),
            arrival_highest: below_base,
            hurry_us: 0,
        });
        old.map(|o| o.numbering.ssrc)
    }

    /// True while the current stream awaits its first packet; `None` without a stream.
    pub(crate) fn awaiting_first(&self) -> Option<bool> {
        self.stream.as_ref().map(|s| s.seq.highest().is_none())
    }

    /// True if RTP sequence number `wire` of the current stream lies more than `reach`
    /// numbers beyond the highest one.
    pub(crate) fn beyond(&self, wire: u16, reach: u64) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.numbering.resolve(s.highest, wire).0 > s.highest.0 + reach)
    }

    /// Numbers a packet of the current stream (extending its sequence number and timestamp;
    /// the first packet places the stream).
    #[inline]
    pub(crate) fn number(&mut self, now: Time, pkt: &RtpPacket<'_>) -> Option<Numbered> {
        let stream = self.stream.as_mut()?;
        let first = stream.seq.highest().is_none();
        let ext = stream.seq.extend(pkt.sequence);
        let rtp_ts = stream.ts.extend(pkt.timestamp);
        let (mut origin, mut head) = (None, None);
        if first {
            let place = stream.base.unwrap_or(ext);
            stream.numbering.offset = place.0.wrapping_sub(ext.0);
            stream.start = place;
            stream.anchor = (now, rtp_ts);
            if stream.base.is_none() {
                (stream.highest, stream.arrival_highest) = (place, place);
                origin = Some(place);
            } else {
                stream.start = SeqNo(place.0 - HEAD_PROBE);
                head = Some(stream.start);
            }
        }
        Some(Numbered {
            seq: SeqNo(ext.0.wrapping_add(stream.numbering.offset)),
            rtp_ts,
            origin,
            head,
        })
    }

    /// Plays the current stream `by` sooner than its buffer says (a fast start).
    pub(crate) fn hurry(&mut self, by: Duration) {
        if let Some(s) = self.stream.as_mut() {
            s.hurry_us = by.as_micros() as u64;
        }
    }

    /// Play-out time of extended RTP timestamp `rtp_ts`, `buffer` after its local time (less
    /// a fast start's hurry); re-anchors on timestamp jumps.
    pub(crate) fn due(&mut self, now: Time, rtp_ts: u64, buffer: Duration) -> Time {
        let Some(s) = self.stream.as_mut() else {
            return now;
        };
        // 64-bit on every packet's path; a span too long for it re-anchors like any jump.
        let limit = (buffer.as_micros() as u64 * 4).max(5_000_000);
        let local = (rtp_ts as i64)
            .checked_sub(s.anchor.1 as i64)
            .and_then(|ticks| ticks.checked_mul(1_000_000))
            .and_then(|t| (s.anchor.0.as_micros() as i64).checked_add(t / MP2T_CLOCK_HZ as i64))
            .filter(|l| l.abs_diff(now.as_micros() as i64) <= limit);
        let wait = buffer.as_micros() as i64 - s.hurry_us as i64;
        let Some(l) = local else {
            s.anchor = (now, rtp_ts);
            return Time::from_micros((now.as_micros() as i64 + wait).max(0) as u64);
        };
        Time::from_micros((l + wait).max(0) as u64)
    }

    /// True if `seq` is above the highest number (its slot cannot stand for it yet).
    #[inline]
    pub(crate) fn is_fresh(&self, seq: SeqNo) -> bool {
        self.stream.as_ref().is_some_and(|s| seq > s.highest)
    }

    /// True if `seq` may be a restarted stream's first packet (the first received, or one of
    /// the [`HEAD_PROBE`] numbers before it): a discontinuity.
    #[inline]
    pub(crate) fn is_boundary(&self, seq: SeqNo) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.base.is_some_and(|b| s.start <= seq && seq <= b))
    }

    /// The smoothed packet gap.
    pub(crate) fn gap(&self) -> Duration {
        Duration::from_micros(self.stream.as_ref().map_or(0, |s| s.gap_us))
    }

    /// Notes that `seq` was stored at `now`, by multicast if `media`; true if it moved the
    /// head (it is above the highest).
    #[inline]
    pub(crate) fn stored(&mut self, now: Time, seq: SeqNo, media: bool) -> bool {
        let Some(s) = self.stream.as_mut() else {
            return false;
        };
        let head = seq > s.highest;
        if head {
            (s.highest, s.last_progress) = (seq, now);
        }
        if media {
            // Reordered (or duplicate) arrivals say nothing of the spacing.
            if let Some(steps) = seq.0.checked_sub(s.arrival_highest.0).filter(|&n| n > 0) {
                let gap = now.saturating_since(s.last_arrival).as_micros() as u64 / steps;
                s.gap_us = (s.gap_us * 15 + gap.min(1_000_000)) / 16;
            }
            s.last_arrival = now;
            s.arrival_highest = s.arrival_highest.max(seq);
        }
        head
    }

    /// Goes on from `seq` after a gap longer than the buffer.
    pub(crate) fn resync(&mut self, seq: SeqNo) {
        if let Some(s) = self.stream.as_mut() {
            s.highest = seq;
        }
    }

    /// Logs our numbers `range` (of the current stream) as multicast losses.
    pub(crate) fn log_losses(&mut self, range: Range<u64>) {
        let Some(numbering) = self.numbering() else {
            return;
        };
        let (end, log) = (range.end, &mut self.loss_log);
        let keep = range.start.clamp(end.saturating_sub(LOSS_LOG as u64), end);
        log.drain(..(log.len() + (end - keep) as usize).saturating_sub(LOSS_LOG));
        log.extend((keep..end).map(|m| numbering.wire(SeqNo(m))));
    }

    /// Moves the logged losses into `out`.
    pub(crate) fn drain_losses(&mut self, out: &mut Vec<u16>) {
        out.extend(self.loss_log.drain(..));
    }
}

#[cfg(test)]
mod tests;
