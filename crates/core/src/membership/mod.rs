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
//!
//! The manager may also name **backups**: a few members of another group, in other metros,
//! asked only for what our own group could not supply in time (issue 12's second tier). They
//! follow the members in [`Membership::list`] and are pinged and proven alike. Each pair of
//! backups has its own key and epoch ([`Backup`]), which both ends share whatever their own
//! groups' epochs; messages between them carry that epoch.

use crate::Event;
use groupcast_base::Time;
use groupcast_wire::proto::{GroupEpoch, GroupKey, KEY_LEN, NonceKey, SenderId, pair_key};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

mod peer;
pub(crate) use peer::Peer;
use peer::{CHALLENGE_GAP, NONCES, UNVERIFIED_PONG_GAP};
#[cfg(test)]
use peer::{Rtt, VERIFIED_FOR};

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
    /// Backups: members of another group, in other metros, asked when ours cannot supply a
    /// packet in time (none: no backup tier). Each one lists us among its own backups.
    pub backups: Vec<Backup>,
}

/// A backup as the manager describes it: the member (with the key we share with it) and the
/// epoch of that key, which messages between the two carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backup {
    /// Its id, address and our key with it.
    pub member: Member,
    /// The pair's epoch (it changes whenever the key does).
    pub epoch: GroupEpoch,
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
        Group {
            epoch,
            members,
            backups: Vec::new(),
        }
    }

    /// The same group with `backups` (each with its address) whose keys all come from one
    /// backup `secret` under `epoch` (the simulator's manager; the real one derives a secret
    /// and epoch per pair of groups), as handed to `me`.
    pub fn with_backups(
        mut self,
        (epoch, secret): (GroupEpoch, &[u8; KEY_LEN]),
        me: SenderId,
        backups: impl IntoIterator<Item = (SenderId, SocketAddr)>,
    ) -> Group {
        self.backups = backups
            .into_iter()
            .filter(|(id, _)| *id != me && self.members.iter().all(|m| m.id != *id))
            .map(|(id, addr)| Backup {
                member: Member {
                    id,
                    addr,
                    key: pair_key(secret, epoch, me, id),
                },
                epoch,
            })
            .collect();
        self
    }
}

/// The group: current members with their state and keys, and the previous epoch's keys
/// during its grace period.
#[derive(Debug)]
pub(crate) struct Membership {
    /// Current members other than us, then our backups.
    pub(crate) list: Vec<Peer>,
    /// How many of `list` are members (the rest are backups).
    pub(crate) members: usize,
    /// Our secret for ping nonces.
    nonce_key: NonceKey,
    /// Current epoch, once a group is set.
    pub(crate) epoch: Option<GroupEpoch>,
    /// The previous epoch, the keys we shared with its members, and when they stop being
    /// accepted.
    previous: Option<(GroupEpoch, PairKeys, Time)>,
}

/// The key we shared with each member in one epoch.
type PairKeys = Vec<(SenderId, GroupKey)>;

impl Membership {
    /// No group yet; ping nonces from `nonce_secret` (random per process in real clients).
    pub(crate) fn new(nonce_secret: &[u8; KEY_LEN]) -> Self {
        Membership {
            list: Vec::new(),
            members: 0,
            nonce_key: NonceKey::new(nonce_secret),
            epoch: None,
            previous: None,
        }
    }

    /// Installs a new assignment, keeping state of members that stay.
    pub(crate) fn set(&mut self, me: SenderId, group: &Group, now: Time, grace: Duration) {
        let mut old = std::mem::take(&mut self.list);
        let old_keys: PairKeys = old[..self.members]
            .iter()
            .map(|p| (p.id, p.key.clone()))
            .collect();
        let members = group.members.iter().filter(|m| m.id != me);
        let backups = group.backups.iter().filter(|b| b.member.id != me);
        self.members = members.clone().count();
        let members = members.map(|m| (m, None));
        for (m, backup_epoch) in members.chain(backups.map(|b| (&b.member, Some(b.epoch)))) {
            let kept = old
                .iter()
                .position(|p| p.id == m.id)
                .map(|i| old.swap_remove(i));
            let key = GroupKey::new(&m.key);
            self.list.push(match kept {
                // The same address stays proven; a new one must prove itself again.
                Some(p) if p.addr == m.addr => Peer {
                    key,
                    backup_epoch,
                    ..p
                },
                Some(p) => Peer {
                    verified: None,
                    ..Peer {
                        key,
                        backup_epoch,
                        ..p
                    }
                },
                None => Peer {
                    backup_epoch,
                    ..Peer::new(m.id, m.addr, key)
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
    /// previous epoch's while in grace at `now`. A backup's messages carry the backup epoch.
    pub(crate) fn key(&self, idx: usize, epoch: GroupEpoch, now: Time) -> Option<&GroupKey> {
        let peer = self.list.get(idx)?;
        if idx >= self.members {
            return (peer.backup_epoch == Some(epoch)).then_some(&peer.key);
        }
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

    /// Index of the member or backup with session id `id`.
    pub(crate) fn find(&self, id: SenderId) -> Option<usize> {
        self.list.iter().position(|p| p.id == id)
    }

    /// The group's members other than us (without the backups).
    pub(crate) fn group(&self) -> &[Peer] {
        &self.list[..self.members]
    }

    /// True if peer `idx` is a backup rather than a member.
    pub(crate) fn is_backup(&self, idx: usize) -> bool {
        idx >= self.members
    }

    /// The epoch a message to peer `idx` carries: the group's, or the backup pairing's.
    pub(crate) fn epoch_for(&self, idx: usize) -> Option<GroupEpoch> {
        match self.is_backup(idx) {
            false => self.epoch,
            true => self.list.get(idx).and_then(|p| p.backup_epoch),
        }
    }

    /// Session ids of the backups worth asking at `now`: those whose address is proven. A
    /// backup is asked rarely, so its pongs are nearly all we hear of it, and across two
    /// lossy trunks three pings in a row fail every few minutes: silence is no reason to
    /// skip the one ask that may fill a hole (a backup that is gone stops being proven 10 s
    /// after its last pong).
    pub(crate) fn live_backups(&self, now: Time) -> impl Iterator<Item = SenderId> + '_ {
        self.proven_backups(now).map(|(_, p)| p.id)
    }

    /// The smallest smoothed round trip among [`live_backups`](Self::live_backups), if any
    /// has been measured.
    pub(crate) fn backup_srtt(&self, now: Time) -> Option<Duration> {
        self.proven_backups(now)
            .filter_map(|(_, p)| p.rtt.map(|r| r.srtt))
            .min()
    }

    /// The backups whose address is proven at `now`, with their list indices.
    fn proven_backups(&self, now: Time) -> impl Iterator<Item = (usize, &Peer)> + '_ {
        let m = self.members;
        (m..)
            .zip(&self.list[m..])
            .filter(move |(_, p)| p.verified(now))
    }

    /// The peers a request goes to at `now`, as bit masks over list indices: (the live
    /// members, the live backups). A mask is 0 when nobody is asked or when one of them lies
    /// beyond the 16 bits a slot keeps of who said it lacks a packet (it can never be full).
    pub(crate) fn asked_masks(&self, now: Time, silent_limit: u32) -> (u16, u16) {
        let members = (0..self.members).filter(|&i| self.list[i].usable(silent_limit));
        let backups = self.proven_backups(now).map(|(i, _)| i);
        (index_mask(members), index_mask(backups))
    }

    /// The smallest retry timeout among answering peers, if any has been measured.
    pub(crate) fn best_rto(&self, silent_limit: u32) -> Option<Duration> {
        self.group()
            .iter()
            .filter(|p| p.usable(silent_limit))
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
        (0..self.members)
            .filter(|&i| self.list[i].usable(silent_limit))
            .min_by_key(|&i| rank(&self.list[i]))
    }

    /// Session ids of the live peers (answering pings, address proven), in list order.
    pub(crate) fn live(&self, silent_limit: u32) -> impl Iterator<Item = SenderId> + '_ {
        self.group()
            .iter()
            .filter(move |p| p.usable(silent_limit))
            .map(|p| p.id)
    }

    /// Every member with whether it is live, in list order (the rota's view of the group).
    pub(crate) fn liveness(
        &self,
        silent_limit: u32,
    ) -> impl Iterator<Item = (SenderId, bool)> + '_ {
        self.group()
            .iter()
            .map(move |p| (p.id, p.usable(silent_limit)))
    }

    /// True if peer `idx` may be sent more than pings and pongs at `now`.
    pub(crate) fn verified(&self, idx: usize, now: Time) -> bool {
        self.list.get(idx).is_some_and(|p| p.verified(now))
    }

    /// True if a pong may go to peer `idx` at `now`: always once its address is proven,
    /// otherwise at most one per [`UNVERIFIED_PONG_GAP`] (it cannot be made a reflector).
    pub(crate) fn may_pong(&mut self, idx: usize, now: Time) -> bool {
        let Some(p) = self.list.get_mut(idx) else {
            return false;
        };
        if p.verified(now) {
            return true;
        }
        if p.last_unverified_pong
            .is_some_and(|t| now.saturating_since(t) < UNVERIFIED_PONG_GAP)
        {
            return false;
        }
        p.last_unverified_pong = Some(now);
        true
    }

    /// Pings each peer whose `interval` has passed (`ping` queues one with its nonce);
    /// reports, into `events`, peers that reached `silent_limit` unanswered pings (and
    /// returns how many).
    pub(crate) fn ping_due(
        &mut self,
        now: Time,
        (interval, silent_limit): (Duration, u32),
        events: &mut VecDeque<Event>,
        mut ping: impl FnMut(SenderId, u64),
    ) -> u64 {
        let mut silenced = 0;
        let members = self.members;
        for (i, p) in self.list.iter_mut().enumerate() {
            let gap = p.ping_gap(interval);
            if p.last_ping.is_some_and(|t| t + gap > now) {
                continue;
            }
            // A member not proven yet is pinged sooner, and not counted silent for it.
            if p.last_ping.is_some() && p.verified.is_some() {
                p.unanswered += 1;
                // (A backup's silence is not acted on: see `live_backups`.)
                if p.unanswered == silent_limit && i < members {
                    events.push_back(Event::PeerSilent(p.id));
                    silenced += 1;
                }
            }
            p.last_ping = Some(now);
            ping(p.id, p.next_nonce(&self.nonce_key));
        }
        silenced
    }

    /// A ping for peer `idx` now, if it is not proven yet and was not challenged in the last
    /// [`CHALLENGE_GAP`]: called when it sends us something, so that a member that just
    /// joined proves its address within a round trip, not a ping interval.
    pub(crate) fn challenge(&mut self, idx: usize, now: Time) -> Option<(SenderId, u64)> {
        let p = self.list.get_mut(idx)?;
        if p.verified(now)
            || p.last_challenge
                .is_some_and(|t| now.saturating_since(t) < CHALLENGE_GAP)
        {
            return None;
        }
        p.last_challenge = Some(now);
        Some((p.id, p.next_nonce(&self.nonce_key)))
    }

    /// The next time a ping is due.
    pub(crate) fn next_ping_time(&self, interval: Duration) -> Option<Time> {
        self.list
            .iter()
            .map(|p| p.last_ping.map_or(Time::ZERO, |t| t + p.ping_gap(interval)))
            .min()
    }

    /// Takes peer `idx`'s pong echoing our timestamp `echo_us` and one of our recent nonces:
    /// proof that it receives at its address, an RTT sample (unless the echo lies in the
    /// future) and proof of life. `None` if the nonce is not one we sent it (nothing is
    /// learnt); else whether the peer had been silent.
    pub(crate) fn pong(
        &mut self,
        idx: usize,
        now: Time,
        (echo_us, echo_nonce): (u64, u64),
        silent_limit: u32,
    ) -> Option<bool> {
        let p = self.list.get_mut(idx)?;
        let sent = p.pings.min(NONCES as u64) as usize;
        if !p.nonces[..sent].contains(&echo_nonce) {
            return None;
        }
        p.verified = Some(now);
        if echo_us <= now.as_micros() {
            p.sample_rtt(now.saturating_since(Time::from_micros(echo_us)));
        }
        Some(p.heard(silent_limit))
    }

    /// Takes an answer from peer `idx` to something we asked of it (a repair): proof of life
    /// as good as a pong, since we ask only members whose address is proven and the answer
    /// is authenticated under the key only it and we hold. Pings cross the same lossy links
    /// as everything else (at 15 % round-trip loss, three in a row fail every few hundred
    /// tries): a member sending us repairs is not silent. Returns whether it had been.
    pub(crate) fn answered(&mut self, idx: usize, silent_limit: u32) -> bool {
        self.list
            .get_mut(idx)
            .filter(|p| p.verified.is_some())
            .is_some_and(|p| p.heard(silent_limit))
    }

    /// Marks every member's address as proven at `now` (unit tests of what follows).
    #[cfg(test)]
    pub(crate) fn verify_all(&mut self, now: Time) {
        for p in &mut self.list {
            p.verified = Some(now);
        }
    }

    /// Credits peer `idx` with a first repair (ranking prefers useful peers).
    pub(crate) fn credit(&mut self, idx: usize) {
        if let Some(p) = self.list.get_mut(idx) {
            p.useful_repairs += 1;
        }
    }
}

/// Bit `i` for each index `i`; 0 if one is beyond 16.
fn index_mask(mut idx: impl Iterator<Item = usize>) -> u16 {
    idx.try_fold(0u16, |m, i| (i < 16).then(|| m | 1 << i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
