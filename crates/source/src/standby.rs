//! The last resort, viewer side: a viewer that receives multicast keeps itself registered
//! with its relay (the edge or the central its manager ticket names) for retransmissions
//! only, and NACKs there what its repair group could not supply in time.
//!
//! STANDBY (refreshed every [`REFRESH`], every [`RETRY`] until the relay has challenged us)
//! is answered by a CHALLENGE whose nonce the next STANDBY echoes; from then on the relay
//! answers our NACKs from its ring, within a budget it sets (see the relay's `Fanout`). The
//! time from our latest STANDBY to the challenge is the relay's round trip, from which the
//! driver sets how long before a packet's deadline the group is given up.

use groupcast_base::{SessionId, Time};
use groupcast_wire::Ssrc;
use groupcast_wire::proto::{GroupKey, MAX_RANGES, Ranges, SeqRange};
use groupcast_wire::relay;
use groupcast_wire::unicast::{self, NONCE_LEN, UnicastBody, UnicastMessage};
use std::time::Duration;

/// How often a registered viewer refreshes its registration.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How often STANDBY is repeated while the relay has not challenged us.
const RETRY: Duration = Duration::from_millis(200);
/// Most numbers waiting to be NACKed; beyond, the oldest are dropped (they would be late).
const PENDING_LIMIT: usize = 4096;

/// What the viewer side of the last resort counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StandbyStats {
    /// STANDBY messages sent (registrations and refreshes).
    pub refreshes: u64,
    /// NACK messages sent.
    pub nacks_sent: u64,
    /// Packet numbers NACKed, summed over messages.
    pub packets_nacked: u64,
    /// Numbers dropped before they were NACKed (too many waiting).
    pub nack_dropped: u64,
    /// Challenges from the relay that verified.
    pub challenges: u64,
    /// The relay said it registers as many standby viewers as it may.
    pub refused_full: u64,
    /// Datagrams from the relay that are neither RTP nor one of its messages to us.
    pub bad: u64,
    /// RTP datagrams from the relay (retransmissions) handed on.
    pub retransmissions: u64,
}

/// A viewer's registration with its relay for retransmissions only.
#[derive(Debug)]
pub struct Standby {
    session: SessionId,
    /// The latest ticket (expiry, key) and the one before (a challenge may answer it).
    current: Option<(u64, GroupKey)>,
    previous: Option<(u64, GroupKey)>,
    /// The relay's latest challenge, echoed.
    nonce: [u8; NONCE_LEN],
    counter: u64,
    next_refresh: Time,
    /// The first STANDBY not yet challenged: when it went out (for the round trip).
    asked_at: Option<Time>,
    rtt: Option<Duration>,
    /// The relay refused us (FULL) and has not challenged us since.
    refused: bool,
    /// Stream and numbers to NACK.
    ssrc: Ssrc,
    pending: Vec<u16>,
    scratch: Vec<SeqRange>,
    stats: StandbyStats,
}

impl Standby {
    /// A registration for `session`; it sends nothing before [`set_ticket`](Self::set_ticket).
    pub fn new(session: SessionId, initial_counter: u64) -> Self {
        Standby {
            session,
            current: None,
            previous: None,
            nonce: [0; NONCE_LEN],
            counter: initial_counter,
            next_refresh: Time::ZERO,
            asked_at: None,
            rtt: None,
            refused: false,
            ssrc: Ssrc(0),
            pending: Vec::new(),
            scratch: Vec::new(),
            stats: StandbyStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &StandbyStats {
        &self.stats
    }

    /// The relay's round trip, once it has challenged us.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The relay's round trip once it is usable: what the client's core plans its last
    /// resort with (`Client::set_last_resort`).
    pub fn usable_rtt(&self) -> Option<Duration> {
        self.rtt.filter(|_| self.usable())
    }

    /// True once the relay has challenged us (it is reachable and our ticket verifies) and
    /// has not refused us since: NACKs are worth sending.
    pub fn usable(&self) -> bool {
        self.rtt.is_some() && !self.refused && self.current.is_some()
    }

    /// The manager's new ticket: its expiry (Unix ms) and key.
    pub fn set_ticket(&mut self, expires_ms: u64, key: &[u8; 32]) {
        if self.current.as_ref().is_none_or(|c| c.0 != expires_ms) {
            self.previous = self.current.replace((expires_ms, GroupKey::new(key)));
        }
    }

    /// The stream (re)started, and the relay (often the source itself) may have just come
    /// up: an unregistered viewer asks at once rather than at its next retry, so that the
    /// relay is usable before the stream's first holes fall due.
    pub fn stream_started(&mut self, now: Time) {
        if !self.usable() {
            self.next_refresh = self.next_refresh.min(now);
        }
    }

    /// A new session replaced ours: registration starts over once its ticket comes.
    pub fn set_session(&mut self, session: SessionId) {
        *self = Standby::new(session, self.counter);
    }

    /// Queues numbers of stream `ssrc` to NACK (a new stream drops those of the old).
    pub fn nack(&mut self, ssrc: Ssrc, seqs: &[u16]) {
        if ssrc != self.ssrc {
            (self.ssrc, self.pending) = (ssrc, Vec::new());
        }
        self.pending.extend_from_slice(seqs);
        if let Some(over) = self.pending.len().checked_sub(PENDING_LIMIT) {
            self.pending.drain(..over);
            self.stats.nack_dropped += over as u64;
        }
    }

    /// Takes a datagram from the relay: true if it is RTP (a retransmission, for the
    /// client's core); the relay's own messages are handled here.
    pub fn handle(&mut self, now: Time, bytes: &[u8]) -> bool {
        if !unicast::looks_like(bytes) {
            let rtp = bytes.first().is_some_and(|b| b >> 6 == 2);
            if rtp {
                self.stats.retransmissions += 1;
            } else {
                self.stats.bad += 1;
            }
            return rtp;
        }
        let msg = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find_map(|(_, key)| unicast::open(key, bytes).ok())
            .filter(|m| m.session == self.session);
        match msg.map(|m| (m.body, m.nonce)) {
            Some((UnicastBody::Challenge, nonce)) => {
                self.nonce = nonce;
                self.stats.challenges += 1;
                self.refused = false;
                if let Some(at) = self.asked_at.take() {
                    self.rtt = Some(now.saturating_since(at));
                }
                self.next_refresh = now; // echo at once
            }
            Some((UnicastBody::Full, _)) => {
                self.stats.refused_full += 1;
                self.refused = true;
            }
            _ => self.stats.bad += 1,
        }
        false
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has something to send unasked.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.current.as_ref().map(|_| self.next_refresh)
    }

    /// Writes the next message for the relay into `buf`: waiting NACKs first, then a due
    /// refresh. Returns its length.
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<usize> {
        self.current.as_ref()?;
        if !self.pending.is_empty() && self.usable() {
            let mut ranges = std::mem::take(&mut self.scratch);
            relay::ranges_of(self.pending.iter().copied(), &mut ranges);
            ranges.truncate(MAX_RANGES);
            let covered: usize = ranges.iter().map(|r| usize::from(r.len)).sum();
            let n = self.write(
                UnicastBody::Nack {
                    ssrc: self.ssrc.0,
                    ranges: Ranges::List(&ranges),
                },
                buf,
            );
            self.pending.drain(..covered.min(self.pending.len()));
            self.scratch = ranges;
            if n.is_some() {
                self.stats.nacks_sent += 1;
                self.stats.packets_nacked += covered as u64;
                return n;
            }
        }
        if now < self.next_refresh {
            return None;
        }
        let registered = self.rtt.is_some() && !self.refused;
        self.next_refresh = now + if registered { REFRESH } else { RETRY };
        if !registered {
            self.asked_at = Some(now); // the latest: an earlier one may have been lost
        }
        self.stats.refreshes += 1;
        self.write(UnicastBody::Standby, buf)
    }

    /// A LEAVE, to end the registration at once.
    pub fn leave(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.write(UnicastBody::Leave, buf)
    }

    /// A message under the latest ticket.
    fn write(&mut self, body: UnicastBody<'_>, buf: &mut [u8]) -> Option<usize> {
        let (expires_ms, key) = self.current.as_ref()?;
        let n = UnicastMessage {
            counter: self.counter,
            session: self.session,
            expires_ms: *expires_ms,
            nonce: self.nonce,
            body,
        }
        .emit(key, buf)
        .ok()?;
        self.counter += 1;
        Some(n)
    }
}

#[cfg(test)]
mod tests;
