//! Repair-group formation: the seed's flow 3, as a pure and deterministic state machine.
//!
//! What it does: keeps every viewer session of one channel in exactly one group of at most `k`
//! members (5 suggested), with members from distinct metro networks whenever the audience
//! allows, so that one metro's failing device cannot take a whole group down. Joins and leaves
//! change at most two groups each; every changed group gets a new epoch (the caller issues the
//! new key and tells the members).
//!
//! What it deliberately does not do: store anything, generate keys, talk to anyone, or draw
//! random numbers: the same sequence of calls always gives the same groups (the `Random`
//! policy takes its seed as input).
//!
//! ```
//! use groupcast_grouping::{Grouping, MetroId, Policy, SessionId};
//! let mut g = Grouping::new(5, Policy::CrossMetro);
//! for (session, metro) in [(1, 10), (2, 20), (3, 10), (4, 30)] {
//!     g.join(SessionId(session), MetroId(metro));
//! }
//! assert_eq!(g.group_of(SessionId(1)), g.group_of(SessionId(2)));
//! let group = g.group_of(SessionId(1)).unwrap();
//! let metros: Vec<MetroId> = g.members(group).iter().map(|&s| g.metro(s).unwrap()).collect();
//! assert!(metros.windows(2).all(|w| w[0] != w[1]), "spread over metros first");
//! ```

mod backup;
mod change;
mod moves;
mod policy;

pub use backup::{backup_pairs, backups_of, pairs_among, partners};
pub use change::{Change, RestoreError, StoredGroup};
pub use groupcast_base::{GroupEpoch, GroupId, MetroId, SessionId};
pub use policy::Policy;

use std::collections::BTreeMap;

/// One group.
#[derive(Clone, Debug, Default)]
struct Group {
    /// Members in joining order.
    members: Vec<SessionId>,
    /// Bumped on every change.
    epoch: GroupEpoch,
}

/// The groups of one channel.
#[derive(Clone, Debug)]
pub struct Grouping {
    /// Most members per group.
    k: usize,
    /// How a joiner's group is chosen.
    policy: Policy,
    /// Groups by id.
    groups: BTreeMap<GroupId, Group>,
    /// Each session's group and metro.
    sessions: BTreeMap<SessionId, (GroupId, MetroId)>,
    /// Next group id.
    next: GroupId,
}

impl Grouping {
    /// No groups yet; groups of at most `k` members (at least 2).
    pub fn new(k: usize, policy: Policy) -> Self {
        Grouping {
            k: k.max(2),
            policy,
            groups: BTreeMap::new(),
            sessions: BTreeMap::new(),
            next: GroupId(1),
        }
    }

    /// Rebuilds a grouping from stored state (the manager's database), so that the next
    /// join or leave behaves exactly as it would have on the grouping that was stored.
    ///
    /// `groups` gives each group's id, epoch and members (session and metro, in joining
    /// order); `next` is the id the next new group gets. Groups without members are skipped.
    /// Fails when a session is in two groups, a group is larger than `k`, or `next` is not
    /// above every group id.
    pub fn restore(
        k: usize,
        policy: Policy,
        groups: impl IntoIterator<Item = StoredGroup>,
        next: GroupId,
    ) -> Result<Self, RestoreError> {
        let mut g = Grouping::new(k, policy);
        g.next = next;
        for stored in groups {
            if stored.members.is_empty() {
                continue;
            }
            if stored.members.len() > g.k {
                return Err(RestoreError::TooLarge(stored.id));
            }
            if stored.id >= next || g.groups.contains_key(&stored.id) {
                return Err(RestoreError::BadGroupId(stored.id));
            }
            let mut members = Vec::with_capacity(stored.members.len());
            for (session, metro) in stored.members {
                if g.sessions.insert(session, (stored.id, metro)).is_some() {
                    return Err(RestoreError::TwoGroups(session));
                }
                members.push(session);
            }
            let group = Group {
                members,
                epoch: stored.epoch,
            };
            g.groups.insert(stored.id, group);
        }
        Ok(g)
    }

    /// The id the next new group gets (store it to [`restore`](Self::restore) later).
    pub fn next_group_id(&self) -> GroupId {
        self.next
    }

    /// Most members per group.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The group of `session`.
    pub fn group_of(&self, session: SessionId) -> Option<GroupId> {
        self.sessions.get(&session).map(|s| s.0)
    }

    /// The metro of `session`.
    pub fn metro(&self, session: SessionId) -> Option<MetroId> {
        self.sessions.get(&session).map(|s| s.1)
    }

    /// The members of `group`, in joining order.
    pub fn members(&self, group: GroupId) -> &[SessionId] {
        self.groups.get(&group).map_or(&[], |g| &g.members)
    }

    /// The epoch of `group`.
    pub fn epoch(&self, group: GroupId) -> Option<GroupEpoch> {
        self.groups.get(&group).map(|g| g.epoch)
    }

    /// All groups, by id.
    pub fn groups(&self) -> impl Iterator<Item = (GroupId, &[SessionId])> {
        self.groups
            .iter()
            .map(|(id, g)| (*id, g.members.as_slice()))
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when nobody watches.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// How many members of `group` are in `metro`.
    pub(crate) fn in_metro(&self, group: GroupId, metro: MetroId) -> usize {
        self.members(group)
            .iter()
            .filter(|s| self.metro(**s) == Some(metro))
            .count()
    }

    /// Adds `session` from `metro` (a re-join moves it); returns the groups that changed.
    pub fn join(&mut self, session: SessionId, metro: MetroId) -> Vec<Change> {
        let mut touched = self.remove(session);
        let all_full =
            !self.groups.is_empty() && self.groups.values().all(|g| g.members.len() >= self.k);
        let target = match self.policy.choose(self, session, metro) {
            Some(g) => g,
            // Everyone's group is full: open a new group with members moved out of the fullest
            // one (from other metros if possible) up to the smallest useful size, so no group
            // is left with a single peer whose loss it shares.
            None if all_full && self.policy != Policy::SameMetro => {
                let id = self.new_group();
                if let Some((from, moved)) = self.donors(metro, self.min_size() - 1) {
                    for m in moved {
                        self.move_member(m, from, id);
                    }
                    touched.push(from);
                }
                id
            }
            None => self.new_group(),
        };
        // The only room is in a group that holds this metro already: a member of a full group
        // without it, from a metro the roomy group lacks, moves over, and the joiner takes its
        // place; both groups stay spread over distinct metros.
        let target = match self.policy {
            Policy::CrossMetro if self.in_metro(target, metro) > 0 => {
                match self.swap_partner(target, metro) {
                    Some((full, moved)) => {
                        self.move_member(moved, full, target);
                        touched.push(target);
                        full
                    }
                    None => target,
                }
            }
            _ => target,
        };
        self.sessions.insert(session, (target, metro));
        self.add_member(target, session);
        touched.push(target);
        // A fresh join has touched at most two groups; balancing adds at most two more. (A
        // re-join that moved others already skips it, keeping every change local.)
        let mut distinct = touched.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if self.policy != Policy::SameMetro && distinct.len() <= 2 {
            touched.extend(self.balance());
        }
        self.changes(touched)
    }

    /// Removes `session`; returns the groups that changed.
    pub fn leave(&mut self, session: SessionId) -> Vec<Change> {
        let touched = self.remove(session);
        self.changes(touched)
    }

    /// The smallest group worth having when the audience allows: about half of `k` (3 of 5).
    /// Two members share every loss the one cannot repair for the other; three make a packet
    /// lost only if all three miss it.
    pub fn min_size(&self) -> usize {
        self.k.div_ceil(2).max(2)
    }
}

#[cfg(test)]
mod tests;
