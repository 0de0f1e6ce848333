//! A relay's unicast feed for viewers whose network carries no multicast: an edge (or the
//! central) sends every datagram it multicasts to each viewer registered with a valid ticket,
//! and retransmits from its ring what a viewer NACKs, within a budget.
//!
//! Admission, in order (see `groupcast_wire::unicast`):
//! 1. the message verifies under the key of the ticket it names for this relay's channel
//!    (otherwise `unauthenticated`), and the ticket has not expired (`expired`);
//! 2. the viewer's address has proven that it receives: its message echoes the nonce of a
//!    CHALLENGE this relay sent to that very address (otherwise it gets a challenge, at most
//!    [`CHALLENGE_RATE`] a second across all viewers, and no media);
//! 3. there is room: at most `max_viewers` at once (otherwise FULL, `refused_full`).
//!
//! A registered viewer's feed ends when it says LEAVE, after [`VIEWER_TIMEOUT`] without a
//! message, or when its latest ticket expires; one session is fed at one address at a time.
//!
//! A viewer that receives multicast registers with STANDBY instead: the relay is then its
//! last resort, for what its repair group could not supply. It is sent no media, and its
//! NACKs draw on two budgets that grow with the stream: its own ([`STANDBY_PERMILLE`] of the
//! stream) and the relay's for all standby viewers together (`repair_permille`), so that
//! the relay's repair egress stays a fixed fraction of the stream whatever the audience.

use self::credit::Credit;
use self::resend::Resends;
pub use self::stats::FanoutStats;
use crate::outbox::Outbox;
use groupcast_base::{SessionId, Time, TokenBucket};
use groupcast_wire::SeqNo;
use groupcast_wire::proto::{GroupKey, ReplayWindow};
use groupcast_wire::unicast::{
    self, ChallengeKey, NONCE_LEN, UnicastBody, UnicastMessage, ticket_key,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// A stream that goes on air (the first datagram, or one after [`OFF_AIR_GAP`] without any)
/// reaches viewers it has not fed yet only after this long. Viewers that tuned in while it
/// was off asked for the feed for want of multicast; those whose multicast comes on with the
/// stream leave the feed within the client's 200 ms settle, before it sends them anything,
/// instead of a herd of unicast copies at every start.
pub const ON_AIR_HOLD: Duration = Duration::from_millis(600);
/// No datagram for this long: the stream is off air.
pub const OFF_AIR_GAP: Duration = Duration::from_secs(1);
/// A viewer is dropped after this long without a message.
pub const VIEWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Challenges and FULL answers per second, across all viewers, and the burst.
pub const CHALLENGE_RATE: u32 = 200;
const CHALLENGE_BURST: u32 = 50;
/// How long a challenge's nonce stays good (it is accepted in its slot and the next).
const CHALLENGE_SLOT: Duration = Duration::from_secs(2);
/// Retransmissions per second one viewer may draw, and the burst.
const NACK_RATE: u32 = 500;
const NACK_BURST: u32 = 1_000;
/// Most answers waiting to be sent.
const REPLIES_LIMIT: usize = 256;
/// What one standby viewer may draw, in thousandths of the stream's datagrams, and the depth
/// of its budget in packets.
pub const STANDBY_PERMILLE: u64 = 5;
const STANDBY_DEPTH: u64 = 50;
/// Depth of the relay's budget for all standby viewers, in packets. The budget earns only
/// from the stream, so what standby viewers have drawn never exceeds `repair_permille` of the
/// datagrams sent so far plus [`REPAIR_START`], at any moment.
const REPAIR_DEPTH: u64 = 200;
/// Packets the relay's standby budget holds when it starts: without them, a datagram a whole
/// group lost in the stream's first second could not be resent (at 160 packets/s and 0.9 %,
/// the first packet is earned after 0.7 s; a lab run lost one that way), and an audience that
/// tunes in as the channel starts (a live event) finds the stream's first holes, which peers
/// that tuned in later do not hold, with nothing to pay for them (24 viewers in lab 13 left
/// some with 16). 32 datagrams are 32 ms of a 10 Mbit/s stream, once per relay.
const REPAIR_START: u64 = 32;

/// Settings of a relay's unicast feed.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    /// The channel this relay carries (tickets name it).
    pub channel: String,
    /// The secret shared with the manager, from which ticket keys are derived.
    pub secret: Vec<u8>,
    /// Most viewers fed at once.
    pub max_viewers: usize,
    /// History kept for retransmissions.
    pub keep: Duration,
    /// Random bytes (per process) behind the challenges' nonces.
    pub challenge_secret: [u8; 32],
    /// First value of the relay's message counter (drivers pass wall-clock microseconds).
    pub initial_counter: u64,
    /// Most standby viewers (last resort only) registered at once.
    pub max_standby: usize,
    /// What all standby viewers together may draw, in thousandths of the stream's datagrams
    /// (10: 1 % of the stream).
    pub repair_permille: u64,
    /// A number this many distinct standby viewers NACK is resent once to the multicast
    /// group instead of to each (0: never; see `poll_multicast`).
    pub multicast_after: usize,
}

/// One viewer being fed, as reported in statistics.
#[derive(Clone, Debug)]
pub struct ViewerInfo {
    /// Its session.
    pub session: SessionId,
    /// Where it receives.
    pub addr: SocketAddr,
    /// Datagrams queued to it, first copies.
    pub sent: u64,
    /// Datagrams retransmitted to it.
    pub retransmitted: u64,
    /// Registered for retransmissions only (it receives multicast).
    pub standby: bool,
}

#[derive(Debug)]
struct Viewer {
    info: ViewerInfo,
    replay: ReplayWindow,
    budget: TokenBucket,
    /// Its latest message.
    last_seen: Time,
    /// When its latest ticket expires, on our clock.
    ends: Time,
    /// A standby viewer's budget.
    credit: Credit,
}

/// The relay's unicast side.
#[derive(Debug)]
pub struct Fanout {
    config: FanoutConfig,
    challenge: ChallengeKey,
    viewers: Vec<Viewer>,
    out: Outbox,
    /// Challenges and FULL answers to send.
    replies: VecDeque<(SocketAddr, Vec<u8>)>,
    reply_budget: TokenBucket,
    counter: u64,
    stats: FanoutStats,
    /// Datagrams of the stream recorded so far (the budgets grow with it).
    datagrams: u64,
    /// The budget of all standby viewers together.
    repair_credit: Credit,
    /// The latest datagram recorded, and when the stream last went on air.
    on_air: Option<(Time, Time)>,
    /// The newest number recorded.
    newest: SeqNo,
    /// Who NACKed which number lately, for multicast resends.
    resends: Resends,
    /// Numbers to resend to the multicast group.
    multicast: VecDeque<SeqNo>,
}

impl Fanout {
    /// A unicast feed with these settings.
    pub fn new(config: FanoutConfig) -> Self {
        Fanout {
            resends: Resends::new(config.multicast_after),
            challenge: ChallengeKey::new(&config.challenge_secret),
            out: Outbox::new(config.keep),
            counter: config.initial_counter,
            config,
            viewers: Vec::new(),
            replies: VecDeque::new(),
            reply_budget: TokenBucket::full(CHALLENGE_BURST),
            stats: FanoutStats::default(),
            datagrams: 0,
            repair_credit: Credit::new(REPAIR_START, 0),
            on_air: None,
            newest: SeqNo(0),
            multicast: VecDeque::new(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &FanoutStats {
        &self.stats
    }

    /// The viewers being fed.
    pub fn viewers(&self) -> impl Iterator<Item = &ViewerInfo> {
        self.viewers.iter().map(|v| &v.info)
    }

    /// Takes a datagram from a viewer at `from`; `wall_ms` is Unix ms (tickets expire by it).
    pub fn handle_viewer(&mut self, now: Time, wall_ms: u64, from: SocketAddr, bytes: &[u8]) {
        let Ok(claim) = unicast::claim(bytes) else {
            self.stats.unauthenticated += 1;
            return;
        };
        let key = GroupKey::new(&ticket_key(
            &self.config.secret,
            &self.config.channel,
            claim.session,
            claim.expires_ms,
        ));
        let msg = match unicast::open(&key, bytes) {
            Ok(m)
                if matches!(
                    m.body,
                    UnicastBody::Join
                        | UnicastBody::Standby
                        | UnicastBody::Nack { .. }
                        | UnicastBody::Leave
                ) =>
            {
                m
            }
            _ => {
                self.stats.unauthenticated += 1;
                return;
            }
        };
        if claim.expires_ms <= wall_ms {
            self.stats.expired += 1;
            return;
        }
        let ends = now + Duration::from_millis(claim.expires_ms - wall_ms);
        let found = self
            .viewers
            .iter()
            .position(|v| v.info.session == msg.session);
        if let Some(i) = found {
            if self.viewers[i].replay.accept(msg.counter).is_err() {
                self.stats.replayed += 1;
                return;
            }
            if self.viewers[i].info.addr == from {
                self.refresh(now, i, ends);
                match msg.body {
                    UnicastBody::Join => self.set_standby(i, false),
                    UnicastBody::Standby => self.set_standby(i, true),
                    UnicastBody::Nack { ranges, .. } => self.retransmit_all(now, i, ranges),
                    UnicastBody::Leave => {
                        self.viewers.swap_remove(i);
                        self.stats.left += 1;
                    }
                    _ => {}
                }
                return;
            }
        }
        if msg.body == UnicastBody::Leave {
            return; // nothing is fed to that address
        }
        let slot = now.as_micros() / CHALLENGE_SLOT.as_micros() as u64;
        let proven = [slot, slot.saturating_sub(1)]
            .iter()
            .any(|&s| self.challenge.nonce(from, msg.session, s) == msg.nonce);
        if !proven {
            let nonce = self.challenge.nonce(from, msg.session, slot);
            if self.reply(now, from, &key, &msg, nonce, UnicastBody::Challenge) {
                self.stats.challenges += 1;
            }
            return;
        }
        // Only a JOIN starts a feed: anything else from a proven address registers a standby
        // viewer (a NACK whose STANDBY echo was lost must not start a stream of media).
        let standby = msg.body != UnicastBody::Join;
        let limit = match standby {
            true => self.config.max_standby,
            false => self.config.max_viewers,
        };
        let taken = self.viewers.iter().filter(|v| v.info.standby == standby);
        if let Some(i) = found {
            // Moved (a NAT rebinding, or the viewer's feed socket), and proven.
            self.viewers[i].info.addr = from;
            if matches!(msg.body, UnicastBody::Join | UnicastBody::Standby) {
                self.set_standby(i, standby);
            }
            if let UnicastBody::Nack { ranges, .. } = msg.body {
                self.retransmit_all(now, i, ranges);
            }
            self.refresh(now, i, ends);
        } else if taken.count() >= limit {
            self.stats.refused_full += 1;
            self.reply(now, from, &key, &msg, [0; NONCE_LEN], UnicastBody::Full);
        } else {
            let mut replay = ReplayWindow::new();
            let _ = replay.accept(msg.counter);
            self.viewers.push(Viewer {
                info: ViewerInfo {
                    session: msg.session,
                    addr: from,
                    sent: 0,
                    retransmitted: 0,
                    standby,
                },
                replay,
                budget: TokenBucket::full(NACK_BURST),
                last_seen: now,
                ends,
                credit: Credit::new(STANDBY_DEPTH, self.datagrams),
            });
            match standby {
                true => self.stats.standby_joined += 1,
                false => self.stats.joined += 1,
            }
            if let UnicastBody::Nack { ranges, .. } = msg.body {
                self.retransmit_all(now, self.viewers.len() - 1, ranges);
            }
        }
    }

    /// Switches viewer `i` to standby (retransmissions only) or to the feed; a switch counts
    /// as an admission to the other.
    fn set_standby(&mut self, i: usize, standby: bool) {
        let v = &mut self.viewers[i].info;
        if v.standby != standby {
            v.standby = standby;
            match standby {
                true => self.stats.standby_joined += 1,
                false => self.stats.joined += 1,
            }
        }
    }

    fn refresh(&mut self, now: Time, i: usize, ends: Time) {
        let v = &mut self.viewers[i];
        v.last_seen = now;
        v.ends = v.ends.max(ends);
    }

    /// Queues a CHALLENGE or FULL to `to`, tagged with the key of the ticket it answers;
    /// false when the rate limit or the queue refused it.
    fn reply(
        &mut self,
        now: Time,
        to: SocketAddr,
        key: &GroupKey,
        asked: &UnicastMessage<'_>,
        nonce: [u8; NONCE_LEN],
        body: UnicastBody<'_>,
    ) -> bool {
        if self.replies.len() >= REPLIES_LIMIT
            || !self.reply_budget.take(now, CHALLENGE_RATE, CHALLENGE_BURST)
        {
            self.stats.challenge_limited += 1;
            return false;
        }
        let msg = UnicastMessage {
            counter: self.counter,
            session: asked.session,
            expires_ms: asked.expires_ms,
            nonce,
            body,
        };
        let mut buf = vec![0u8; 128];
        let Ok(n) = msg.emit(key, &mut buf) else {
            return false;
        };
        buf.truncate(n);
        self.counter += 1;
        self.replies.push_back((to, buf));
        true
    }

    /// Runs timers: ends the feeds of silent viewers and of expired tickets.
    pub fn handle_timeout(&mut self, now: Time) {
        let before = self.viewers.len();
        self.viewers
            .retain(|v| v.last_seen + VIEWER_TIMEOUT >= now && v.ends >= now);
        self.stats.timed_out += (before - self.viewers.len()) as u64;
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work; `None` with no viewer.
    pub fn poll_timeout(&self) -> Option<Time> {
        let next = self
            .viewers
            .iter()
            .map(|v| (v.last_seen + VIEWER_TIMEOUT).min(v.ends))
            .min()?;
        Some(next + Duration::from_micros(1))
    }

    /// Records a datagram just multicast (or forwarded) as `seq` and queues it for every
    /// viewer.
    pub fn on_datagram(&mut self, now: Time, seq: SeqNo, datagram: &[u8]) {
        self.out.record(now, seq, datagram);
        self.datagrams += 1;
        self.newest = self.newest.max(seq);
        self.handle_timeout(now);
        let since = match self.on_air {
            Some((last, since)) if now.saturating_since(last) <= OFF_AIR_GAP => since,
            _ => now,
        };
        self.on_air = Some((now, since));
        let hold = now < since + ON_AIR_HOLD;
        for v in self.viewers.iter_mut().filter(|v| !v.info.standby) {
            if hold && v.info.sent == 0 {
                self.stats.held += 1;
                continue;
            }
            if self.out.queue(v.info.addr, seq) {
                v.info.sent += 1;
                self.stats.sent += 1;
            } else {
                self.stats.dropped += 1;
            }
        }
    }

    /// Copies the next datagram for a viewer (answers first, then media) into `buf`: where
    /// to, and its length. A datagram longer than `buf` is skipped.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        loop {
            let (to, bytes) = match self.replies.pop_front() {
                Some((to, reply)) => {
                    let n = reply.len().min(buf.len());
                    buf[..n].copy_from_slice(&reply[..n]);
                    return Some((to, n));
                }
                None => self.out.poll_transmit()?,
            };
            if let Some(slot) = buf.get_mut(..bytes.len()) {
                slot.copy_from_slice(bytes);
                self.stats.bytes_sent += bytes.len() as u64;
                return Some((to, bytes.len()));
            }
        }
    }
}

mod credit;
mod resend;
mod retransmit;
mod stats;
#[cfg(test)]
mod tests;
