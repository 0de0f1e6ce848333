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
//! use groupcast_grouping::{Grouping, Policy};
//! let mut g = Grouping::new(5, Policy::CrossMetro);
//! for (session, metro) in [(1, 10), (2, 20), (3, 10), (4, 30)] {
//!     g.join(session, metro);
//! }
//! assert_eq!(g.group_of(1), g.group_of(2));
//! let metros: Vec<u32> = g.members(g.group_of(1).unwrap()).iter().map(|&s| g.metro(s).unwrap()).collect();
//! assert!(metros.windows(2).all(|w| w[0] != w[1]), "spread over metros first");
//! ```

mod policy;

pub use policy::Policy;

use std::collections::BTreeMap;

/// A viewer session.
pub type SessionId = u64;
/// A metro network.
pub type MetroId = u32;
/// A group.
pub type GroupId = u64;

/// A group whose membership changed: its new epoch and members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The group.
    pub group: GroupId,
    /// Its epoch after the change (1 for a new group).
    pub epoch: u32,
    /// Its members now (empty: the group is gone).
    pub members: Vec<SessionId>,
}

/// One group as stored outside, the input of [`Grouping::restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGroup {
    /// The group.
    pub id: GroupId,
    /// Its current epoch.
    pub epoch: u32,
    /// Its members and their metros, in joining order.
    pub members: Vec<(SessionId, MetroId)>,
}

/// Why stored groups could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// This session is in two groups.
    TwoGroups(SessionId),
    /// This group has more than `k` members.
    TooLarge(GroupId),
    /// This group id appears twice or is not below `next`.
    BadGroupId(GroupId),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::TwoGroups(s) => write!(f, "session {s} is in two groups"),
            RestoreError::TooLarge(g) => write!(f, "group {g} has more than k members"),
            RestoreError::BadGroupId(g) => write!(f, "group id {g} repeated or not below next"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// One group.
#[derive(Clone, Debug, Default)]
struct Group {
    /// Members in joining order.
    members: Vec<SessionId>,
    /// Bumped on every change.
    epoch: u32,
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
            next: 1,
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
    pub fn epoch(&self, group: GroupId) -> Option<u32> {
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
    fn in_metro(&self, group: GroupId, metro: MetroId) -> usize {
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
            // Everyone's group is full: open a new group with a member moved out of a full one
            // (from another metro if possible), so nobody is left without peers.
            None if all_full && self.policy != Policy::SameMetro => {
                let id = self.new_group();
                if let Some((from, moved)) = self.donor(metro) {
                    self.move_member(moved, from, id);
                    touched.push(from);
                }
                id
            }
            None => self.new_group(),
        };
        self.sessions.insert(session, (target, metro));
        self.add_member(target, session);
        touched.push(target);
        self.changes(touched)
    }

    /// Removes `session`; returns the groups that changed.
    pub fn leave(&mut self, session: SessionId) -> Vec<Change> {
        let touched = self.remove(session);
        self.changes(touched)
    }

    /// Takes `session` out and refills: a member left alone moves to a group with room, or a
    /// lone member elsewhere moves into the freed place. Returns the groups touched.
    fn remove(&mut self, session: SessionId) -> Vec<GroupId> {
        let Some((group, _)) = self.sessions.remove(&session) else {
            return Vec::new();
        };
        self.remove_member(group, session);
        let mut touched = vec![group];
        if let [alone] = *self.members(group) {
            let metro = self.metro(alone).unwrap_or_default();
            if let Some(to) = self.policy.choose_excluding(self, alone, metro, group) {
                self.move_member(alone, group, to);
                touched.push(to);
            }
        } else if !self.members(group).is_empty() && self.policy != Policy::SameMetro {
            let lone = self
                .groups
                .iter()
                .find(|(id, g)| **id != group && g.members.len() == 1);
            if let Some((&from, g)) = lone {
                let moved = g.members[0];
                self.move_member(moved, from, group);
                touched.push(from);
            }
        }
        // An emptied group is gone at once, so a joiner cannot land in it alone.
        self.groups.retain(|_, g| !g.members.is_empty());
        touched
    }

    /// The final state of every touched group, once each (no members: the group is gone).
    fn changes(&self, mut touched: Vec<GroupId>) -> Vec<Change> {
        touched.sort_unstable();
        touched.dedup();
        touched.iter().map(|&g| self.change(g)).collect()
    }

    fn move_member(&mut self, session: SessionId, from: GroupId, to: GroupId) {
        self.remove_member(from, session);
        self.add_member(to, session);
    }

    /// A member to move out of a full group: the last joiner of the fullest group whose
    /// metro differs from `metro` (any, if none differs).
    fn donor(&self, metro: MetroId) -> Option<(GroupId, SessionId)> {
        let full = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.len() >= self.k && g.members.len() > 2);
        let mut best = None;
        for (id, g) in full {
            for &s in g.members.iter().rev() {
                let other_metro = self.metro(s) != Some(metro);
                let dup = self.in_metro(*id, self.metro(s).unwrap_or_default()) > 1;
                let score = (dup, other_metro);
                if best.is_none_or(|(b, _, _)| score > b) {
                    best = Some((score, *id, s));
                }
            }
        }
        best.map(|(_, g, s)| (g, s))
    }

    fn new_group(&mut self) -> GroupId {
        let id = self.next;
        self.next += 1;
        self.groups.insert(id, Group::default());
        id
    }

    fn add_member(&mut self, group: GroupId, session: SessionId) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.members.push(session);
            g.epoch += 1;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.0 = group;
        }
    }

    fn remove_member(&mut self, group: GroupId, session: SessionId) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.members.retain(|&m| m != session);
            g.epoch += 1;
        }
    }

    fn change(&self, group: GroupId) -> Change {
        let g = self.groups.get(&group);
        Change {
            group,
            epoch: g.map_or(0, |g| g.epoch),
            members: g.map_or(Vec::new(), |g| g.members.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
