//! The repair group as this client sees it: members, keys, and per-peer state (RTT, replay
//! window, serving budget, liveness).

use groupcast_base::{Time, TokenBucket};
use groupcast_wire::proto::{GroupEpoch, GroupKey, KEY_LEN, ReplayWindow, SenderId};
use std::net::SocketAddr;
use std::time::Duration;

/// One other member of the group, as the manager describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its session id.
    pub id: SenderId,
    /// Where its peer socket listens.
    pub addr: SocketAddr,
}

/// A group assignment from the manager.
#[derive(Clone, Debug)]
pub struct Group {
    /// Bumped on every membership change.
    pub epoch: GroupEpoch,
    /// The group key for this epoch.
    pub key: [u8; KEY_LEN],
    /// The members (this client may be listed; it is skipped).
    pub members: Vec<Member>,
}

/// Smoothed round-trip time (RFC 6298 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtt {
    /// Smoothed RTT.
    pub(crate) srtt: Duration,
    /// RTT variation.
    pub(crate) rttvar: Duration,
}

impl Rtt {
    fn update(rtt: Option<Rtt>, sample: Duration) -> Rtt {
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
    /// RTT estimate, once measured.
    pub(crate) rtt: Option<Rtt>,
    /// Anti-replay window over its counters.
    pub(crate) replay: ReplayWindow,
    /// Its budget for repairs we serve it.
    pub(crate) budget: TokenBucket,
    /// Pings sent since its last pong.
    pub(crate) unanswered: u32,
    /// When we pinged it last.
    pub(crate) last_ping: Option<Time>,
    /// First repairs it sent us (used for ranking).
    pub(crate) useful_repairs: u64,
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
}

/// The group: current members with their state, the current key and the previous one during
/// its grace period.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    /// Current members other than us.
    pub(crate) list: Vec<Peer>,
    /// Current epoch and key, once a group is set.
    pub(crate) current: Option<(GroupEpoch, GroupKey)>,
    /// The previous epoch's key and when it stops being accepted.
    previous: Option<(GroupEpoch, GroupKey, Time)>,
}

impl Peers {
    /// Installs a new assignment, keeping state of members that stay.
    pub(crate) fn set(
        &mut self,
        me: SenderId,
        group: &Group,
        now: Time,
        grace: Duration,
        burst: u32,
    ) {
        let mut old = std::mem::take(&mut self.list);
        for m in group.members.iter().filter(|m| m.id != me) {
            let kept = old
                .iter()
                .position(|p| p.id == m.id)
                .map(|i| old.swap_remove(i));
            self.list.push(match kept {
                Some(p) => Peer { addr: m.addr, ..p },
                None => Peer {
                    id: m.id,
                    addr: m.addr,
                    rtt: None,
                    replay: ReplayWindow::new(),
                    budget: TokenBucket::full(burst),
                    unanswered: 0,
                    last_ping: None,
                    useful_repairs: 0,
                },
            });
        }
        let key = GroupKey::new(&group.key);
        if let Some((epoch, old_key)) = self.current.replace((group.epoch, key))
            && epoch != group.epoch
        {
            self.previous = Some((epoch, old_key, now + grace));
        }
    }

    /// The key for `epoch`, if current or still in grace at `now`.
    pub(crate) fn key(&self, epoch: GroupEpoch, now: Time) -> Option<&GroupKey> {
        match (&self.current, &self.previous) {
            (Some((e, k)), _) if *e == epoch => Some(k),
            (_, Some((e, k, until))) if *e == epoch && now < *until => Some(k),
            _ => None,
        }
    }

    /// Index of the member with session id `id`.
    pub(crate) fn find(&self, id: SenderId) -> Option<usize> {
        self.list.iter().position(|p| p.id == id)
    }

    /// The smallest retry timeout among answering peers, if any has been measured.
    pub(crate) fn best_rto(&self, silent_limit: u32) -> Option<Duration> {
        self.list
            .iter()
            .filter(|p| !p.silent(silent_limit))
            .filter_map(|p| p.rtt.map(|r| r.rto()))
            .min()
    }

    /// The best-ranked live peer: measured, lowest RTT, most useful on ties.
    pub(crate) fn best(&self, silent_limit: u32) -> Option<usize> {
        let rank = |p: &Peer| {
            (
                p.rtt.map_or(Duration::MAX, |r| r.srtt),
                u64::MAX - p.useful_repairs,
            )
        };
        (0..self.list.len())
            .filter(|&i| !self.list[i].silent(silent_limit))
            .min_by_key(|&i| rank(&self.list[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64) -> Member {
        Member {
            id: SenderId(id),
            addr: format!("127.0.0.1:{}", 1000 + id).parse().unwrap(),
        }
    }

    #[test]
    fn rtt_follows_rfc6298() {
        let r = Rtt::update(None, Duration::from_millis(100));
        assert_eq!(
            (r.srtt, r.rttvar, r.rto()),
            (
                Duration::from_millis(100),
                Duration::from_millis(50),
                Duration::from_millis(300)
            )
        );
        let r = Rtt::update(Some(r), Duration::from_millis(20));
        assert_eq!(r.srtt, Duration::from_millis(90));
        assert_eq!(r.rttvar, Duration::from_millis(57_500) / 1000);
    }

    #[test]
    fn rekey_keeps_state_and_old_key_for_grace() {
        let mut peers = Peers::default();
        let g1 = Group {
            epoch: GroupEpoch(1),
            key: [1; KEY_LEN],
            members: vec![member(1), member(2), member(3)],
        };
        peers.set(SenderId(1), &g1, Time::ZERO, Duration::from_secs(2), 10);
        assert_eq!(peers.list.len(), 2, "we are not our own peer");
        peers.list[0].sample_rtt(Duration::from_millis(7));
        let g2 = Group {
            epoch: GroupEpoch(2),
            key: [2; KEY_LEN],
            members: vec![member(1), member(2), member(4)],
        };
        peers.set(
            SenderId(1),
            &g2,
            Time::from_millis(100),
            Duration::from_secs(2),
            10,
        );
        let two = peers.find(SenderId(2)).unwrap();
        assert!(peers.list[two].rtt.is_some());
        assert!(peers.find(SenderId(3)).is_none() && peers.find(SenderId(4)).is_some());
        assert!(peers.key(GroupEpoch(2), Time::from_millis(100)).is_some());
        assert!(peers.key(GroupEpoch(1), Time::from_millis(2099)).is_some());
        assert!(peers.key(GroupEpoch(1), Time::from_millis(2100)).is_none());
        assert!(peers.key(GroupEpoch(3), Time::ZERO).is_none());
        assert_eq!(peers.best(3), Some(two));
    }
}
