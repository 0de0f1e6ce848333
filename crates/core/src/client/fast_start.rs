//! Fast start: a joining viewer gets the stream since a member's last random access point as
//! a paced burst, instead of waiting for the next keyframe on multicast (the idea of RAMS,
//! RFC 6285, with the group's members in the retransmission server's place).
//!
//! The asker (a client with [`Config::fast_start`](crate::Config) and no stream yet):
//! 1. on its first group with members, sends `FastStart` to one member and holds back the
//!    multicast that arrives meanwhile;
//! 2. the first `Burst` packet starts its stream there: it plays [`LEAD`] after arriving, and
//!    the rest follows in real time, so the viewer stays as far behind live as the random
//!    access point was old (its buffer is that much deeper);
//! 3. once the burst reaches the first held multicast packet, goes quiet, or runs too long, the
//!    held multicast is taken in order; what lies between is repaired from the group as any
//!    loss. The raw buffer keeps the first copy of each number: no gap, no duplicate.
//!
//! With no answer within the asked member's RTO (or [`ASK_TIMEOUT`] doubling before one is
//! measured) it asks again, in turn, then gives up and waits for a keyframe on multicast like
//! a client without fast start (the first viewer of a channel).
//!
//! A member answers from its [`GopStore`](super::gop::GopStore) and, past it, from its raw
//! buffer up to its highest number at the time of the request, [`BURST_SPEED`] times as fast
//! as the stream, one burst at a time and one per requester per [`SERVE_EVERY`]. Only
//! authenticated members reach it; refusals are counted and never answered.

use super::media::{Arrival, Via};
use super::{Client, Event, Transmit};
use groupcast_base::Time;
use groupcast_wire::proto::{Body, Header, Message, Repair, SenderId};
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::{SeqNo, ts};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// How long the asker waits for a member's first burst packet before asking again: that
/// member's retransmission timeout once its round trip is measured, never less than this;
/// before, this doubled at each ask (20, 40, 80, 160, 320, 640 ms). Short at first: a member
/// drops an ask unanswered when the manager has not yet told it of the asker (a race of a few
/// ms), so asking again soon is what usually succeeds; longer later, for members far away.
const ASK_TIMEOUT: Duration = Duration::from_millis(20);
/// Asks before giving up (in turn to the members, ours first): 1,260 ms in all into silence
/// (20 + 40 + ... + 640) with no round trip measured, or two rounds of the members if all of
/// them say no sooner.
const MAX_TRIES: usize = 6;
/// A burst that brings nothing for this long is over.
const BURST_IDLE: Duration = Duration::from_millis(150);
/// Longest a fast start holds multicast back.
const MAX_HOLD: Duration = Duration::from_secs(3);
/// Most multicast datagrams held back.
const MAX_QUEUED: usize = 8192;
/// How much faster than the stream a burst is sent.
pub(crate) const BURST_SPEED: u32 = 4;
/// A requester gets one fast start per this long.
const SERVE_EVERY: Duration = Duration::from_secs(5);
/// A burst's first packet plays this long after it arrives (or after the buffer, if shorter).
pub(crate) const LEAD: Duration = Duration::from_millis(80);
/// What the raw buffer grows by for a fast start: the oldest random access point a member may
/// offer, behind live (a GOP and the member's own buffer).
const WINDOW: Duration = Duration::from_secs(4);
/// Most held numbers looked at per burst packet sent (holes are skipped).
const SCAN: u64 = 4096;
/// How far behind its schedule a burst may fall before it stops catching up.
const SLACK: Duration = Duration::from_millis(2);

/// How long the `tries`-th ask waits for a member whose retransmission timeout is `rto` (if
/// measured). A member whose pongs come is not far off: doubling into its silence (asks lost
/// to a herd's regroups) kept lab 13's viewers asking for up to 1.1 s, holding multicast
/// back, so they could serve their members nothing.
fn ask_timeout(tries: usize, rto: Option<Duration>) -> Duration {
    rto.map_or(
        ASK_TIMEOUT * (1 << tries.clamp(1, 8).saturating_sub(1)),
        |r| r.max(ASK_TIMEOUT),
    )
}

/// Where the asking side is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Not asked (no fast start configured, no member yet, or a stream already followed).
    #[default]
    Idle,
    /// Asked a member, and waits until `until`; `tries` members asked so far.
    Asking {
        /// When this ask is given up.
        until: Time,
        /// How many members were asked.
        tries: usize,
    },
    /// Taking a burst that began at `since`; the last packet came at `last`.
    Bursting {
        /// Its first packet's arrival.
        since: Time,
        /// Its latest packet's arrival.
        last: Time,
    },
    /// Over: multicast is taken as it comes.
    Done,
}

/// A burst we send.
#[derive(Clone, Copy, Debug)]
struct Outgoing {
    /// To whom.
    to: SenderId,
    /// The next number to send.
    next: SeqNo,
    /// The last number to send (our highest when asked).
    end: SeqNo,
    /// When the next packet is due.
    at: Time,
    /// Time between packets.
    every: Duration,
}

/// Both sides of fast starts.
#[derive(Debug, Default)]
pub(crate) struct FastStart {
    /// The asking side.
    phase: Phase,
    /// Multicast held back while asking and bursting, with when each datagram arrived.
    pub(super) queue: VecDeque<(Time, SocketAddr, Vec<u8>)>,
    /// Our number of the first multicast packet held: where the burst splices on.
    splice: Option<SeqNo>,
    /// The burst we are sending, if any.
    outgoing: Option<Outgoing>,
    /// The last fast start served to each requester.
    served: Vec<(SenderId, Time)>,
    /// When we first asked.
    asked: Time,
    /// A member's ask that came before its address was proven, and when: served as soon as
    /// its pong proves the address (a round trip later), if that is within [`DEFER_FOR`].
    deferred: Option<(SenderId, Time)>,
    /// While a fallback takes the held multicast at the times it arrived: the real time. A
    /// hole found there is seen now, not when its neighbours arrived (nothing looked then),
    /// and is asked for at once (the whole queue is in: nothing can still be reordered).
    pub(super) replay: Option<Time>,
}

/// How long an ask from a member whose address is not proven yet waits for the proof.
const DEFER_FOR: Duration = Duration::from_millis(500);

impl Client {
    /// On a new group: asks a member for a fast start if this client has no stream yet.
    pub(super) fn ask_fast_start(&mut self, now: Time) {
        if !self.config.fast_start || self.fast.phase != Phase::Idle {
            return;
        }
        if self.receiver.ssrc().is_some() {
            self.fast.phase = Phase::Done;
        } else if self.peers.members > 0 {
            self.ask_member(now, 0);
        }
    }

    /// Sends `FastStart` to the `tries`-th member after ours in the list's order (members
    /// spread their joiners' bursts).
    fn ask_member(&mut self, now: Time, tries: usize) {
        let n = self.peers.members;
        let at = (self.config.sender.0 as usize).wrapping_add(tries) % n;
        let to = self.peers.list[at].id;
        if tries == 0 {
            self.fast.asked = now;
        }
        let what = super::outbox::PendingKind::FastStart;
        self.outbox.push(to, what, &mut self.stats.counters);
        let rto = self.peers.list[at].rtt.map(|r| r.rto());
        self.fast.phase = Phase::Asking {
            until: now + ask_timeout(tries + 1, rto),
            tries: tries + 1,
        };
    }

    /// The stream's activity for tail-loss probes: none while a fast start holds multicast
    /// back. The burst brings what lies past its head (a stalled one ends after
    /// [`BURST_IDLE`] and the rest is repaired as any loss); probing there would fetch the
    /// same packets from every member a second time and push the burst out of their uplinks.
    pub(super) fn tail_activity(&self) -> Option<super::receiver::Activity> {
        match self.fast.phase {
            Phase::Asking { .. } | Phase::Bursting { .. } => None,
            Phase::Idle | Phase::Done => self.receiver.activity(),
        }
    }

    /// Holds a multicast datagram back while a fast start is under way; false if it is not.
    pub(super) fn hold_media(&mut self, now: Time, src: SocketAddr, datagram: &[u8]) -> bool {
        if !matches!(
            self.fast.phase,
            Phase::Asking { .. } | Phase::Bursting { .. }
        ) {
            return false;
        }
        if self.fast.queue.len() >= MAX_QUEUED {
            self.finish_fast_start(now);
            return false;
        }
        self.fast.queue.push_back((now, src, datagram.to_vec()));
        if self.fast.splice.is_none() && matches!(self.fast.phase, Phase::Bursting { .. }) {
            self.fast.splice = self.splice_point();
        }
        true
    }

    /// Our number of the first multicast packet held, if it is of the burst's stream.
    fn splice_point(&self) -> Option<SeqNo> {
        let (_, _, first) = self.fast.queue.front()?;
        let pkt = RtpPacket::parse(first).ok()?;
        self.receiver.resolve(pkt.ssrc, pkt.sequence)
    }

    /// A burst packet from member `idx`.
    pub(super) fn on_burst(&mut self, now: Time, idx: usize, r: &Repair<'_>) {
        let Ok(pkt) = RtpPacket::parse(r.rtp) else {
            self.stats.counters.malformed += 1;
            return;
        };
        let bad_payload = self.config.require_ts && ts::check_payload(pkt.payload).is_err();
        if bad_payload || r.rtp.len() > self.config.max_datagram {
            self.stats.counters.malformed += 1;
            return;
        }
        let a = Arrival {
            src: r.src,
            datagram: r.rtp,
            pkt: &pkt,
            via: Via::Burst(idx),
        };
        match self.fast.phase {
            Phase::Asking { .. } => self.begin_burst(now, self.fast.asked, a),
            Phase::Bursting { since, .. } if self.receiver.ssrc() == Some(pkt.ssrc) => {
                self.fast.phase = Phase::Bursting { since, last: now };
                self.accept(now, a);
                let caught_up = self.fast.splice.zip(self.receiver.highest());
                if caught_up.is_some_and(|(s, h)| h.0 + 1 >= s.0) {
                    self.finish_fast_start(now);
                }
            }
            // After the splice a burst packet may still fill a hole, as a repair would.
            Phase::Done if self.receiver.ssrc() == Some(pkt.ssrc) => self.accept(now, a),
            _ => self.stats.counters.fast_start_unused += 1,
        }
    }

    /// The first burst packet: the stream starts here, [`LEAD`] from now.
    fn begin_burst(&mut self, now: Time, asked: Time, a: Arrival<'_>) {
        let c = &mut self.stats.counters;
        let waited = now.saturating_since(asked);
        c.fast_starts += 1;
        c.fast_start_wait_us += waited.as_micros() as u64;
        self.events.push_back(Event::FastStarted { waited });
        let window =
            (u128::from(self.config.expected_pps) * WINDOW.as_micros()).div_ceil(1_000_000);
        let chunks =
            (self.raw.capacity() as usize + window as usize).div_ceil(self.raw.chunk() as usize);
        self.raw.grow(chunks, self.raw.release_next());
        self.playback.grow(self.raw.capacity() as usize);
        self.restart(now, a.pkt.ssrc);
        self.receiver.hurry(self.config.buffer.saturating_sub(LEAD));
        self.accept(now, a);
        self.fast.phase = Phase::Bursting {
            since: now,
            last: now,
        };
        self.fast.splice = self.splice_point();
    }

    /// Ends the fast start: the held multicast is taken in order.
    ///
    /// After a burst, it continues the burst's stream, whose play-out clock the burst set.
    /// Without one (a fallback), nothing has started the stream yet, and it starts as for a
    /// viewer without fast start: a buffer behind live. Each held datagram is taken as it
    /// arrived, at its own time, less those such a viewer would already have played. Taken all
    /// at once, the first of them would set the play-out clock and the viewer would stay as
    /// far behind live as the asking lasted, for the whole session (in lab 13, 24 viewers of a
    /// 200 ms buffer played 0.2 to 1.7 s behind live).
    fn finish_fast_start(&mut self, now: Time) {
        let fell_back = matches!(self.fast.phase, Phase::Asking { .. });
        self.fast.phase = Phase::Done;
        let buffer = self.config.buffer;
        self.fast.replay = fell_back.then_some(now);
        for (at, src, datagram) in std::mem::take(&mut self.fast.queue) {
            match fell_back {
                true if at + buffer <= now => self.stats.counters.fast_start_skipped += 1,
                true => self.handle_media(at, src, &datagram),
                false => self.handle_media(now, src, &datagram),
            }
        }
        self.fast.replay = None;
    }

    /// Member `idx` will not serve our fast start: ask the next one now (or give up).
    pub(super) fn on_no_burst(&mut self, now: Time, idx: usize) {
        let Phase::Asking { tries, .. } = self.fast.phase else {
            return;
        };
        let n = self.peers.members.max(1);
        let asked = (self.config.sender.0 as usize).wrapping_add(tries - 1) % n;
        if asked != idx {
            return; // an answer to an earlier ask
        }
        if tries < MAX_TRIES.min(2 * n) {
            self.ask_member(now, tries);
        } else {
            self.stats.counters.fast_start_fallbacks += 1;
            self.events.push_back(Event::FastStartFellBack);
            self.finish_fast_start(now);
        }
    }

    /// Timers of the asking side: another member, or giving up; the end of a burst.
    pub(super) fn fast_start_timeout(&mut self, now: Time) {
        match self.fast.phase {
            Phase::Asking { until, tries } if now >= until => {
                if tries < MAX_TRIES {
                    self.ask_member(now, tries);
                } else {
                    self.stats.counters.fast_start_fallbacks += 1;
                    self.events.push_back(Event::FastStartFellBack);
                    self.finish_fast_start(now);
                }
            }
            Phase::Bursting { since, last }
                if now >= last + BURST_IDLE || now >= since + MAX_HOLD =>
            {
                self.finish_fast_start(now);
            }
            _ => {}
        }
    }

    /// The next fast start timer, either side.
    pub(super) fn fast_start_deadline(&self) -> Option<Time> {
        let asking = match self.fast.phase {
            Phase::Asking { until, .. } => Some(until),
            Phase::Bursting { since, last } => Some((last + BURST_IDLE).min(since + MAX_HOLD)),
            Phase::Idle | Phase::Done => None,
        };
        super::earliest(asking, self.fast.outgoing.map(|o| o.at))
    }

    /// Member `idx` asks for a fast start: a burst from our GOP store, if we may.
    /// Keeps member `idx`'s ask until its address is proven (it is pinged at once).
    pub(super) fn defer_fast_start(&mut self, now: Time, idx: usize) {
        self.fast.deferred = Some((self.peers.list[idx].id, now));
    }

    /// Member `idx`'s address was just proven: serves its deferred ask, if any and recent.
    pub(super) fn proven(&mut self, now: Time, idx: usize) {
        let id = self.peers.list[idx].id;
        if let Some((asker, at)) = self.fast.deferred
            && asker == id
        {
            self.fast.deferred = None;
            if now.saturating_since(at) < DEFER_FOR {
                self.serve_fast_start(now, idx);
            }
        }
    }

    pub(super) fn serve_fast_start(&mut self, now: Time, idx: usize) {
        let from = self.peers.list[idx].id;
        let f = &mut self.fast;
        f.served
            .retain(|(_, at)| now.saturating_since(*at) < SERVE_EVERY);
        let recent = f.served.iter().any(|(id, _)| *id == from);
        let span = self.gop.span();
        let end = self.receiver.highest();
        let c = &mut self.stats.counters;
        let (Some((first, _)), Some(end), false, true, None) =
            (span, end, recent, self.config.serve_enabled, f.outgoing)
        else {
            // Said at once (a message no larger than the ask), so the asker turns elsewhere.
            c.fast_start_refused += 1;
            self.outbox
                .push(from, super::outbox::PendingKind::NoBurst, c);
            return;
        };
        let every = (self.receiver.gap() / BURST_SPEED).max(Duration::from_micros(20));
        f.outgoing = Some(Outgoing {
            to: from,
            next: first,
            end,
            at: now,
            every,
        });
        f.served.push((from, now));
        c.fast_starts_served += 1;
    }

    /// The next burst packet due, written into `buf`.
    pub(super) fn poll_burst(&mut self, now: Time, buf: &mut [u8]) -> Option<Transmit> {
        let o = self.fast.outgoing.as_mut()?;
        if now < o.at {
            return None;
        }
        let Some(member) = self
            .peers
            .find(o.to)
            .filter(|&m| self.peers.verified(m, now))
        else {
            self.fast.outgoing = None;
            return None;
        };
        let found = (0..SCAN).find_map(|_| {
            let seq = o.next;
            if seq > o.end {
                return None;
            }
            o.next = SeqNo(seq.0 + 1);
            self.gop.get(seq).or_else(|| {
                let slot = self.raw.get(seq)?;
                let bytes = self.raw.bytes(seq);
                (!bytes.is_empty()).then_some((bytes, slot.src))
            })
        });
        let Some((rtp, src)) = found else {
            self.fast.outgoing = None;
            return None;
        };
        o.at = (o.at + o.every).max(Time::from_micros(
            now.as_micros().saturating_sub(SLACK.as_micros() as u64),
        ));
        let (Some(epoch), Ok(pkt)) = (self.peers.epoch_for(member), RtpPacket::parse(rtp)) else {
            return None;
        };
        let key = &self.peers.list.get(member)?.key;
        let header = Header {
            channel: self.config.channel,
            epoch,
            sender: self.config.sender,
            counter: self.outbox.take_counter(),
            timestamp_us: now.as_micros(),
        };
        let body = Body::Burst(Repair {
            ssrc: pkt.ssrc.0,
            sequence: pkt.sequence,
            src,
            dst: self.config.group,
            rtp,
        });
        let c = &mut self.stats.counters;
        let Ok(len) = (Message { header, body }).emit(key, buf) else {
            c.transmit_dropped += 1;
            return None;
        };
        c.fast_start_packets_served += 1;
        Some(Transmit {
            dst: self.peers.list[member].addr,
            len,
        })
    }
}
