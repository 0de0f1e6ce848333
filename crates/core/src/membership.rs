//! Membership: the repair group as this client sees it: the members the manager assigned,
//! the key we share with each of them (the current epoch's, and the previous epoch's during
//! its grace period), and what we learn of each peer as a repair source: RTT, liveness
//! (pings answered), useful repairs.
//!
//! Keys are per pair of members ([`groupcast_wire::proto::pair_key`]): a message that claims
//! to come from member Y verifies only under the key we share with Y, so no member can speak
//! for another.
//!
//! What we keep about peers as *requesters* (replay window, serving budget) belongs to the
//! server (`client/server.rs`).

use crate::Event;
use groupcast_base::Time;
use groupcast_wire::proto::{GroupEpoch, GroupKey, KEY_LEN, SenderId, pair_key};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// One other member of the group, as the manager describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its session id.
    pub id: SenderId,
    /// Where its peer socket listens.
    pub addr: SocketAddr,
    /// The key this client and that member share for the epoch (unused for this client's
    /// own entry).
    pub key: [u8; KEY_LEN],
}

/// A group assignment from the manager, as handed to one member.
#[derive(Clone, Debug)]
pub struct Group {
    /// Bumped on every membership change.
    pub epoch: GroupEpoch,
    /// The members (this client may be listed; it is skipped).
    pub members: Vec<Member>,
}

impl Group {
    /// What the manager hands member `me` of a group whose secret for `epoch` is `secret`:
    /// each member with the key `me` shares with it. The simulator and tests build groups so.
    pub fn derived(
        epoch: GroupEpoch,
        secret: &[u8; KEY_LEN],
        me: SenderId,
        members: impl IntoIterator<Item = (SenderId, SocketAddr)>,
    ) -> Group {
        let members = members
            .into_iter()
            .map(|(id, addr)| Member {
                id,
                addr,
                key: pair_key(secret, epoch, me, id),
            })
            .collect();
        Group { epoch, members }
    }
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

/// The group: current members with their state and keys, and the previous epoch's keys
/// during its grace period.
#[derive(Debug, Default)]
pub(crate) struct Membership {
    /// Current members other than us.
    pub(crate) list: Vec<Peer>,
    /// Current epoch, once a group is set.
    pub(crate) epoch: Option<GroupEpoch>,
    /// The previous epoch, the keys we shared with its members, and when they stop being
    /// accepted.
    previous: Option<(GroupEpoch, PairKeys, Time)>,
}

/// The key we shared with each member in one epoch.
type PairKeys = Vec<(SenderId, GroupKey)>;

impl Membership {
    /// Installs a new assignment, keeping state of members that stay.
    pub(crate) fn set(&mut self, me: SenderId, group: &Group, now: Time, grace: Duration) {
        let mut old = std::mem::take(&mut self.list);
        let old_keys: PairKeys = old.iter().map(|p| (p.id, p.key.clone())).collect();
        for m in group.members.iter().filter(|m| m.id != me) {
            let kept = old
                .iter()
                .position(|p| p.id == m.id)
                .map(|i| old.swap_remove(i));
            let key = GroupKey::new(&m.key);
            self.list.push(match kept {
                Some(p) => Peer {
                    addr: m.addr,
                    key,
                    ..p
                },
                None => Peer {
                    id: m.id,
                    addr: m.addr,
                    key,
                    rtt: None,
                    unanswered: 0,
                    last_ping: None,
                    useful_repairs: 0,
                },
            });
        }
        if let Some(epoch) = self.epoch.replace(group.epoch)
            && epoch != group.epoch
        {
            self.previous = Some((epoch, old_keys, now + grace));
        }
    }

    /// The key to check a message of member `idx` in `epoch` with: the current one, or the
    /// previous epoch's while in grace at `now`.
    pub(crate) fn key(&self, idx: usize, epoch: GroupEpoch, now: Time) -> Option<&GroupKey> {
        let peer = self.list.get(idx)?;
        if self.epoch == Some(epoch) {
            return Some(&peer.key);
        }
        match &self.previous {
            Some((e, keys, until)) if *e == epoch && now < *until => {
                keys.iter().find(|(id, _)| *id == peer.id).map(|(_, k)| k)
            }
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

    /// Session ids of the live peers (those answering pings), in list order.
    pub(crate) fn live(&self, silent_limit: u32) -> impl Iterator<Item = SenderId> + '_ {
        self.list
            .iter()
            .filter(move |p| !p.silent(silent_limit))
            .map(|p| p.id)
    }

    /// Pings each peer whose `interval` has passed (`ping` queues one); reports, into
    /// `events`, peers that reached `silent_limit` unanswered pings.
    pub(crate) fn ping_due(
        &mut self,
        now: Time,
        (interval, silent_limit): (Duration, u32),
        events: &mut VecDeque<Event>,
        mut ping: impl FnMut(SenderId),
    ) {
        for p in &mut self.list {
            if p.last_ping.is_some_and(|t| t + interval > now) {
                continue;
            }
            if p.last_ping.is_some() {
                p.unanswered += 1;
                if p.unanswered == silent_limit {
                    events.push_back(Event::PeerSilent(p.id));
                }
            }
            p.last_ping = Some(now);
            ping(p.id);
        }
    }

    /// The next time a ping is due.
    pub(crate) fn next_ping_time(&self, interval: Duration) -> Option<Time> {
        self.list
            .iter()
            .map(|p| p.last_ping.map_or(Time::ZERO, |t| t + interval))
            .min()
    }

    /// Takes peer `idx`'s pong echoing our timestamp `echo_us`: an RTT sample (unless the echo
    /// lies in the future) and proof of life. Returns true if the peer had been silent.
    pub(crate) fn pong(&mut self, idx: usize, now: Time, echo_us: u64, silent_limit: u32) -> bool {
        let Some(p) = self.list.get_mut(idx) else {
            return false;
        };
        if echo_us <= now.as_micros() {
            p.sample_rtt(now.saturating_since(Time::from_micros(echo_us)));
        }
        let was_silent = p.silent(silent_limit);
        p.unanswered = 0;
        was_silent
    }

    /// Credits peer `idx` with a first repair (ranking prefers useful peers).
    pub(crate) fn credit(&mut self, idx: usize) {
        if let Some(p) = self.list.get_mut(idx) {
            p.useful_repairs += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Member `me`'s view of a group of `ids` whose secret is `[secret; 32]`.
    fn group(epoch: u32, secret: u8, me: u64, ids: &[u64]) -> Group {
        let members = ids.iter().map(|&id| {
            let addr = format!("127.0.0.1:{}", 1000 + id).parse().unwrap();
            (SenderId(id), addr)
        });
        Group::derived(GroupEpoch(epoch), &[secret; KEY_LEN], SenderId(me), members)
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
        let mut peers = Membership::default();
        let g1 = group(1, 1, 1, &[1, 2, 3]);
        peers.set(SenderId(1), &g1, Time::ZERO, Duration::from_secs(2));
        assert_eq!(peers.list.len(), 2, "we are not our own peer");
        peers.list[0].sample_rtt(Duration::from_millis(7));
        let g2 = group(2, 2, 1, &[1, 2, 4]);
        peers.set(
            SenderId(1),
            &g2,
            Time::from_millis(100),
            Duration::from_secs(2),
        );
        let two = peers.find(SenderId(2)).unwrap();
        assert!(peers.list[two].rtt.is_some());
        assert!(peers.find(SenderId(3)).is_none() && peers.find(SenderId(4)).is_some());
        let four = peers.find(SenderId(4)).unwrap();
        assert!(
            peers
                .key(two, GroupEpoch(2), Time::from_millis(100))
                .is_some()
        );
        assert!(
            peers
                .key(two, GroupEpoch(1), Time::from_millis(2099))
                .is_some()
        );
        assert!(
            peers
                .key(two, GroupEpoch(1), Time::from_millis(2100))
                .is_none()
        );
        assert!(
            peers
                .key(four, GroupEpoch(1), Time::from_millis(200))
                .is_none(),
            "a new member has no key of the epoch before it joined"
        );
        assert!(peers.key(two, GroupEpoch(3), Time::ZERO).is_none());
        assert!(peers.key(9, GroupEpoch(2), Time::ZERO).is_none());
        assert_eq!(peers.best(3), Some(two));
    }

    #[test]
    fn unanswered_pings_silence_a_peer_until_it_answers() {
        let mut peers = Membership::default();
        let g = group(1, 1, 1, &[2]);
        peers.set(SenderId(1), &g, Time::ZERO, Duration::from_secs(2));
        let (every, mut events, mut pinged) = (Duration::from_secs(1), VecDeque::new(), 0);
        assert_eq!(peers.next_ping_time(every), Some(Time::ZERO));
        for s in 0..4 {
            peers.ping_due(Time::from_secs(s), (every, 3), &mut events, |_| pinged += 1);
        }
        assert_eq!(pinged, 4);
        assert_eq!(events, [Event::PeerSilent(SenderId(2))]);
        assert_eq!(peers.live(3).count(), 0);
        assert_eq!(peers.next_ping_time(every), Some(Time::from_secs(4)));
        let now = Time::from_millis(3_010);
        assert!(peers.pong(0, now, 3_000_000, 3), "it had been silent");
        assert_eq!(
            peers.list[0].rtt.map(|r| r.srtt),
            Some(Duration::from_millis(10))
        );
        assert!(!peers.pong(0, now, now.as_micros() + 1, 3));
        assert_eq!(peers.live(3).collect::<Vec<_>>(), [SenderId(2)]);
    }
}
