//! What we learn of one peer: RTT (RFC 6298), liveness, usefulness, and whether its address
//! is proven (it echoed one of our ping nonces: return routability).

use super::{GroupKey, NonceKey, SenderId, Time};
use std::net::SocketAddr;
use std::time::Duration;

/// Smoothed round-trip time (RFC 6298 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtt {
    /// Smoothed RTT.
    pub(crate) srtt: Duration,
    /// RTT variation.
    pub(crate) rttvar: Duration,
}

impl Rtt {
    pub(super) fn update(rtt: Option<Rtt>, sample: Duration) -> Rtt {
        match rtt {
            None => Rtt {
                srtt: sample,
                rttvar: sample / 2,
            },
            Some(r) => {
                let err = r.srtt.abs_diff(sample);
                Rtt {
                    srtt: (r.srtt * 7 + sample) / 8,
                    rttvar: (r.rttvar * 3 + err) / 4,
                }
            }
        }
    }

    /// The retransmission timeout this estimate gives.
    pub(crate) fn rto(&self) -> Duration {
        self.srtt + self.rttvar * 4
    }
}

/// State kept per peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Session id.
    pub(crate) id: SenderId,
    /// Peer socket address; replies go here, never to a datagram's claimed source.
    pub(crate) addr: SocketAddr,
    /// The key we share with it for the current epoch.
    pub(crate) key: GroupKey,
    /// RTT estimate, once measured.
    pub(crate) rtt: Option<Rtt>,
    /// Pings sent since its last pong.
    pub(crate) unanswered: u32,
    /// When we pinged it last.
    pub(crate) last_ping: Option<Time>,
    /// First repairs it sent us (used for ranking).
    pub(crate) useful_repairs: u64,
    /// Pings sent to it so far (numbers the nonces).
    pub(super) pings: u64,
    /// The nonces of our last [`NONCES`] pings to it.
    pub(super) nonces: [u64; NONCES],
    /// When it last echoed one of them: proof that it receives at `addr` (return
    /// routability). Until then, and [`VERIFIED_FOR`] after, it gets only pings and pongs.
    pub(super) verified: Option<Time>,
    /// When we last answered its ping while it was not verified (such pongs are bounded).
    pub(super) last_unverified_pong: Option<Time>,
    /// When we last pinged it because it sent us something while not verified.
    pub(super) last_challenge: Option<Time>,
    /// For a backup, the epoch of our key with it (its messages carry it); `None` for a
    /// member of our group.
    pub(super) backup_epoch: Option<groupcast_wire::proto::GroupEpoch>,
}

/// How many recent ping nonces a pong may echo (pongs can be late or reordered).
pub(super) const NONCES: usize = 4;
/// How long an echoed nonce proves a peer's address; pings renew it every ping interval.
pub(super) const VERIFIED_FOR: Duration = Duration::from_secs(10);
/// Least time between two pongs to a peer whose address is not verified.
pub(super) const UNVERIFIED_PONG_GAP: Duration = Duration::from_millis(100);
/// Least time between two challenge pings to a peer whose address is not verified.
pub(super) const CHALLENGE_GAP: Duration = Duration::from_millis(50);
/// First gap between pings to a peer whose address is not verified; it doubles with each
/// ping up to the ping interval (50, 100, 200, 400, 800 ms, then the interval).
const UNVERIFIED_FIRST_GAP: Duration = Duration::from_millis(50);

impl Peer {
    /// A new member: nothing measured, not verified.
    pub(super) fn new(id: SenderId, addr: SocketAddr, key: GroupKey) -> Peer {
        Peer {
            id,
            addr,
            key,
            rtt: None,
            unanswered: 0,
            last_ping: None,
            useful_repairs: 0,
            pings: 0,
            nonces: [0; NONCES],
            verified: None,
            last_unverified_pong: None,
            last_challenge: None,
            backup_epoch: None,
        }
    }

    /// Time between its pings: the interval once verified; sooner before.
    pub(super) fn ping_gap(&self, interval: Duration) -> Duration {
        if self.verified.is_some() {
            return interval;
        }
        (UNVERIFIED_FIRST_GAP * (1 << self.pings.min(5)) / 2).min(interval)
    }

    /// A fresh nonce for our next ping to it, remembered for its pong.
    pub(super) fn next_nonce(&mut self, key: &NonceKey) -> u64 {
        let nonce = key.nonce(self.id, self.pings);
        self.nonces[(self.pings % NONCES as u64) as usize] = nonce;
        self.pings += 1;
        nonce
    }

    /// True while its address is proven (a nonce echoed within [`VERIFIED_FOR`]).
    pub(crate) fn verified(&self, now: Time) -> bool {
        self.verified
            .is_some_and(|t| now.saturating_since(t) < VERIFIED_FOR)
    }
}

impl Peer {
    /// Adds an RTT sample (capped at 10 s: anything longer is useless for repair anyway).
    pub(crate) fn sample_rtt(&mut self, sample: Duration) {
        self.rtt = Some(Rtt::update(self.rtt, sample.min(Duration::from_secs(10))));
    }

    /// Silent: `limit` pings in a row went unanswered.
    pub(crate) fn silent(&self, limit: u32) -> bool {
        self.unanswered >= limit
    }

    /// It answered (a pong, a repair): no longer silent. Returns whether it had been.
    pub(super) fn heard(&mut self, limit: u32) -> bool {
        let was_silent = self.silent(limit);
        self.unanswered = 0;
        was_silent
    }

    /// Worth asking: answering pings, and its address proven by an echoed nonce.
    pub(super) fn usable(&self, silent_limit: u32) -> bool {
        !self.silent(silent_limit) && self.verified.is_some()
    }
}
