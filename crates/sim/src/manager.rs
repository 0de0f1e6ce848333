//! The simulated manager: the real grouping module behind the same requests a client's
//! [`ManagerLink`](groupcast_core::ManagerLink) makes (open, heartbeat, follow, close), with a
//! virtual latency on every answer and an optional outage.
//!
//! It owns no client: a request names the client index it comes from, and answers come out as
//! [`Delivery`]s for the event loop to hand over.

use crate::roster::{Pairing, Roster};
use crate::scenario::ManagerSettings;
use groupcast_base::{GroupId, MetroId};
use groupcast_core::{BeatOutcome, LinkAction, OpenOutcome, Time};
use groupcast_grouping::{Change, Grouping, Policy, SessionId, backup_pairs};
use groupcast_wire::proto::{GroupEpoch, KEY_LEN, SenderId};
use rand::Rng;
use rand::rngs::SmallRng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// The group a client is told about (`None`: the manager has no group for it).
pub(crate) type SimGroup = Option<Rc<Roster>>;

/// A manager answer on its way to a client.
#[derive(Clone, Debug)]
pub(crate) enum LinkReply {
    /// The answer to an open.
    Open(OpenOutcome<SimGroup>),
    /// The answer to a heartbeat of the session.
    Beat(SenderId, BeatOutcome<SimGroup>),
    /// A group change pushed on the session's event stream.
    Group(SenderId, SimGroup),
    /// The session's event stream broke (or could not be connected).
    StreamEnded(SenderId),
}

/// An answer for client `to`, due at `at`.
pub(crate) struct Delivery {
    /// The client.
    pub(crate) to: usize,
    /// When it arrives.
    pub(crate) at: Time,
    /// The answer.
    pub(crate) reply: LinkReply,
}

/// How a client's manager link went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkFigures {
    /// Sessions opened (churn rejoins and reopens after the manager lost one count too).
    pub sessions: u32,
    /// Times the manager stopped answering.
    pub away: u32,
    /// Times it answered again afterwards (the session re-attached or reopened).
    pub back: u32,
    /// The longest time it was away.
    pub longest_away: Duration,
}

/// The peer address of client `i`.
pub(crate) fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))
}

/// The client a peer address stands for.
pub(crate) fn client_of(addr: SocketAddr) -> usize {
    usize::from(addr.port().wrapping_sub(10_000))
}

/// The simulated manager.
pub(crate) struct Manager {
    /// Latency, heartbeat interval, outage.
    settings: ManagerSettings,
    /// How groups are formed (kept for a restart).
    policy: Policy,
    /// Forms the groups (the real module).
    grouping: Grouping,
    /// Client index of each live session.
    by_session: HashMap<SenderId, usize>,
    /// Each client's metro (fixed by the scenario).
    metros: Vec<usize>,
    /// Sessions whose event stream is connected.
    followers: HashSet<SenderId>,
    /// The current key, epoch and members of each group.
    groups: HashMap<GroupId, Rc<Roster>>,
    /// The current backup pairs.
    pairing: Rc<Pairing>,
    /// The next session id.
    next_session: u64,
    /// The next epoch (one counter for all groups).
    next_epoch: u32,
    /// Answers not yet handed over.
    out: VecDeque<Delivery>,
    /// Whether the outage has begun (and, after it, ended).
    outage_seen: (bool, bool),
}

impl Manager {
    /// A manager for clients living in `metros` (client `i` in `metros[i]`).
    pub(crate) fn new(
        settings: ManagerSettings,
        k: usize,
        policy: Policy,
        metros: Vec<usize>,
    ) -> Self {
        Manager {
            settings,
            policy,
            grouping: Grouping::new(k, policy),
            by_session: HashMap::new(),
            metros,
            followers: HashSet::new(),
            groups: HashMap::new(),
            pairing: Rc::new(Pairing::default()),
            next_session: 1,
            next_epoch: 1,
            out: VecDeque::new(),
            outage_seen: (false, false),
        }
    }

    /// Whether the manager is away at `now`.
    fn away(&self, now: Time) -> bool {
        self.settings
            .outage
            .is_some_and(|o| now >= Time::ZERO + o.from && now < Time::ZERO + o.until)
    }

    /// Notes the outage's start (every event stream breaks) and end (a restart forgets every
    /// session and group).
    pub(crate) fn handle_timeout(&mut self, now: Time) {
        let Some(o) = self.settings.outage else {
            return;
        };
        if !self.outage_seen.0 && now >= Time::ZERO + o.from {
            self.outage_seen.0 = true;
            let mut broken: Vec<SenderId> = self.followers.drain().collect();
            broken.sort_unstable();
            for s in broken {
                if let Some(&to) = self.by_session.get(&s) {
                    self.send(to, now, LinkReply::StreamEnded(s));
                }
            }
        }
        if !self.outage_seen.1 && now >= Time::ZERO + o.until {
            self.outage_seen.1 = true;
            if o.restart {
                self.grouping = Grouping::new(self.grouping.k(), self.policy);
                self.by_session.clear();
                self.groups.clear();
            }
        }
    }

    /// Opens a session for each of clients `0..n` at once (the audience present at the
    /// start): one epoch and key per group formed.
    pub(crate) fn open_all(&mut self, now: Time, n: usize, rng: &mut SmallRng) {
        let sessions: Vec<SenderId> = (0..n).map(|i| self.new_session(i)).collect();
        for (i, &s) in sessions.iter().enumerate() {
            self.grouping.join(s, MetroId(self.metros[i] as u32));
        }
        let groups: Vec<(GroupId, Vec<SenderId>)> = self
            .grouping
            .groups()
            .map(|(g, m)| (g, m.to_vec()))
            .collect();
        for (id, members) in groups {
            self.install(id, &members, rng);
        }
        self.pair(now, rng);
        for (i, s) in sessions.into_iter().enumerate() {
            let reply = LinkReply::Open(self.opened(s));
            self.send(i, now, reply);
        }
    }

    /// Client `from` asks for `action` at `now`.
    pub(crate) fn request(
        &mut self,
        now: Time,
        from: usize,
        action: LinkAction,
        rng: &mut SmallRng,
    ) {
        let away = self.away(now);
        let reply = match action {
            LinkAction::Open if away => LinkReply::Open(OpenOutcome::Unreachable),
            LinkAction::Open => {
                let s = self.new_session(from);
                let changes = self.grouping.join(s, MetroId(self.metros[from] as u32));
                self.apply(now, changes, rng);
                LinkReply::Open(self.opened(s))
            }
            LinkAction::Heartbeat(s) if away => LinkReply::Beat(s, BeatOutcome::Unreachable),
            LinkAction::Heartbeat(s) if self.by_session.contains_key(&s) => {
                LinkReply::Beat(s, BeatOutcome::Alive(self.group_of(s)))
            }
            LinkAction::Heartbeat(s) => LinkReply::Beat(s, BeatOutcome::Gone),
            LinkAction::Follow(s) if away || !self.by_session.contains_key(&s) => {
                LinkReply::StreamEnded(s)
            }
            LinkAction::Follow(s) => {
                self.followers.insert(s);
                return;
            }
            // A close the manager does not hear about leaves the session behind.
            LinkAction::Close(_) if away => return,
            LinkAction::Close(s) => {
                self.followers.remove(&s);
                self.by_session.remove(&s);
                let changes = self.grouping.leave(s);
                self.apply(now, changes, rng);
                return;
            }
        };
        self.send(from, now, reply);
    }

    /// The next answer, in the order they were made.
    pub(crate) fn poll_delivery(&mut self) -> Option<Delivery> {
        self.out.pop_front()
    }

    fn send(&mut self, to: usize, now: Time, reply: LinkReply) {
        let at = now + self.settings.latency;
        self.out.push_back(Delivery { to, at, reply });
    }

    fn new_session(&mut self, client: usize) -> SenderId {
        let s = SenderId(self.next_session);
        self.next_session += 1;
        self.by_session.insert(s, client);
        s
    }

    fn opened(&self, s: SenderId) -> OpenOutcome<SimGroup> {
        OpenOutcome::Opened {
            session: s,
            heartbeat: self.settings.heartbeat,
            group: self.group_of(s),
        }
    }

    fn group_of(&self, s: SenderId) -> SimGroup {
        let g = self.grouping.group_of(s)?;
        self.groups.get(&g).cloned()
    }

    /// New epochs and keys for the groups that changed, pushed to their followers.
    fn apply(&mut self, now: Time, changes: Vec<Change>, rng: &mut SmallRng) {
        for c in changes {
            if c.members.is_empty() {
                self.groups.remove(&c.group);
                continue;
            }
            let group = self.install(c.group, &c.members, rng);
            for s in &c.members {
                if let Some(&to) = self.by_session.get(s)
                    && self.followers.contains(s)
                {
                    let reply = LinkReply::Group(*s, Some(Rc::clone(&group)));
                    self.send(to, now, reply);
                }
            }
        }
        self.pair(now, rng);
    }

    /// Pairs the groups' members with backups afresh; if the pairs changed, a new backup
    /// epoch and secret, and every group's roster re-issued (same epoch and key) to its
    /// followers. Groups are made before, so the pairs see them as they now are.
    fn pair(&mut self, now: Time, rng: &mut SmallRng) {
        if self.settings.backups == 0 {
            return;
        }
        let addr = |s: SessionId| self.by_session.get(&s).map(|&i| (s, peer_addr(i)));
        let pairs: Vec<_> = backup_pairs(&self.grouping, self.settings.backups)
            .into_iter()
            .filter_map(|(a, b)| Some((addr(a)?, addr(b)?)))
            .collect();
        if pairs == self.pairing.pairs {
            return;
        }
        let mut secret = [0u8; KEY_LEN];
        rng.fill_bytes(&mut secret);
        self.pairing = Rc::new(Pairing {
            epoch: GroupEpoch(self.pairing.epoch.0 + 1),
            secret,
            pairs,
        });
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        for id in ids {
            let old = &self.groups[&id];
            let group = Rc::new(Roster {
                epoch: old.epoch,
                secret: old.secret,
                members: old.members.clone(),
                pairing: Rc::clone(&self.pairing),
            });
            self.groups.insert(id, Rc::clone(&group));
            for &(s, _) in &group.members {
                if let Some(&to) = self.by_session.get(&s)
                    && self.followers.contains(&s)
                {
                    self.send(to, now, LinkReply::Group(s, Some(Rc::clone(&group))));
                }
            }
        }
    }

    /// Gives `members` of group `id` a new epoch and key.
    fn install(&mut self, id: GroupId, members: &[SenderId], rng: &mut SmallRng) -> Rc<Roster> {
        let mut key = [0u8; KEY_LEN];
        rng.fill_bytes(&mut key);
        let epoch = GroupEpoch(self.next_epoch);
        self.next_epoch += 1;
        let members = members
            .iter()
            .filter_map(|s| self.by_session.get(s).map(|&i| (*s, peer_addr(i))))
            .collect();
        let group = Rc::new(Roster {
            epoch,
            secret: key,
            members,
            pairing: Rc::clone(&self.pairing),
        });
        self.groups.insert(id, Rc::clone(&group));
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ManagerOutage;
    use rand::SeedableRng;

    fn manager(outage: Option<ManagerOutage>) -> (Manager, SmallRng) {
        let settings = ManagerSettings {
            latency: Duration::from_millis(10),
            outage,
            ..ManagerSettings::default()
        };
        let m = Manager::new(settings, 3, Policy::CrossMetro, vec![0, 1, 2, 0]);
        (m, SmallRng::seed_from_u64(1))
    }

    fn drain(m: &mut Manager) -> Vec<(usize, Time, LinkReply)> {
        std::iter::from_fn(|| m.poll_delivery())
            .map(|d| (d.to, d.at, d.reply))
            .collect()
    }

    #[test]
    fn opens_answer_late_and_changes_reach_followers() {
        let (mut m, mut rng) = manager(None);
        m.open_all(Time::ZERO, 3, &mut rng);
        let opened = drain(&mut m);
        assert_eq!(opened.len(), 3);
        assert!(opened.iter().all(|d| d.1 == Time::from_millis(10)));
        let LinkReply::Open(OpenOutcome::Opened { group: Some(g), .. }) = &opened[0].2 else {
            panic!("{:?}", opened[0].2);
        };
        assert_eq!(g.members.len(), 3);
        m.request(Time::ZERO, 0, LinkAction::Follow(SenderId(1)), &mut rng);
        m.request(Time::from_secs(1), 3, LinkAction::Open, &mut rng);
        let out = drain(&mut m);
        // Client 0 follows and hears of the change; the newcomer gets its answer.
        assert!(
            out.iter()
                .any(|d| d.0 == 0 && matches!(d.2, LinkReply::Group(..)))
        );
        assert!(
            out.iter()
                .any(|d| d.0 == 3 && matches!(d.2, LinkReply::Open(_)))
        );
        assert!(!out.iter().any(|d| d.0 == 1), "client 1 does not follow");
    }

    #[test]
    fn an_outage_breaks_streams_fails_requests_and_a_restart_forgets() {
        let outage = ManagerOutage {
            from: Duration::from_secs(1),
            until: Duration::from_secs(2),
            restart: true,
        };
        let (mut m, mut rng) = manager(Some(outage));
        m.open_all(Time::ZERO, 2, &mut rng);
        m.request(Time::ZERO, 0, LinkAction::Follow(SenderId(1)), &mut rng);
        drain(&mut m);
        m.handle_timeout(Time::from_secs(1));
        m.request(
            Time::from_millis(1500),
            1,
            LinkAction::Heartbeat(SenderId(2)),
            &mut rng,
        );
        let out = drain(&mut m);
        assert!(matches!(out[0].2, LinkReply::StreamEnded(SenderId(1))));
        assert!(matches!(
            out[1].2,
            LinkReply::Beat(_, BeatOutcome::Unreachable)
        ));
        m.handle_timeout(Time::from_secs(2));
        m.request(
            Time::from_secs(2),
            1,
            LinkAction::Heartbeat(SenderId(2)),
            &mut rng,
        );
        assert!(matches!(
            drain(&mut m)[0].2,
            LinkReply::Beat(_, BeatOutcome::Gone)
        ));
    }
}
