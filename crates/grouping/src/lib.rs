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

    /// Takes `session` out and refills: a member left alone moves to a group with room, or a
    /// lone member elsewhere moves into the freed place. Returns the groups touched.
    fn remove(&mut self, session: SessionId) -> Vec<GroupId> {
        let Some((group, _)) = self.sessions.remove(&session) else {
            return Vec::new();
        };
        self.remove_member(group, session);
        let mut touched = vec![group];
        let left = self.members(group).len();
        if left > 0 && left < self.min_size() && self.policy != Policy::SameMetro {
            touched.extend(self.refill(group));
        } else if left == 1 {
            let alone = self.members(group)[0];
            let metro = self.metro(alone).unwrap_or_default();
            if let Some(to) = self.policy.choose_excluding(self, alone, metro, group) {
                self.move_member(alone, group, to);
                touched.push(to);
            }
        } else if left > 0 && self.policy != Policy::SameMetro {
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

    /// The smallest group worth having when the audience allows: about half of `k` (3 of 5).
    /// Two members share every loss the one cannot repair for the other; three make a packet
    /// lost only if all three miss it.
    pub fn min_size(&self) -> usize {
        self.k.div_ceil(2).max(2)
    }

    /// The size of the smallest group when the audience is spread evenly over the fewest groups
    /// of at most `k` (12 viewers, k = 5: three groups of 4). The smallest group decides how
    /// much loss goes unrepaired, so groups are kept near this.
    fn even_share(&self) -> usize {
        let n = self.sessions.len();
        let groups = n.div_ceil(self.k).max(1);
        n / groups
    }

    /// One step towards even groups: a member of a group above the even share moves to a group
    /// below it, if one from a metro the small group lacks can be found. Returns the groups
    /// touched.
    fn balance(&mut self) -> Vec<GroupId> {
        let share = self.even_share();
        let small = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.len() < share)
            .min_by_key(|(id, g)| (g.members.len(), **id))
            .map(|(id, _)| *id);
        let big = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.len() > share)
            .max_by_key(|(id, g)| (g.members.len(), std::cmp::Reverse(**id)))
            .map(|(id, _)| *id);
        let (Some(small), Some(big)) = (small, big) else {
            return Vec::new();
        };
        let moved = self
            .members(big)
            .iter()
            .rev()
            .copied()
            .find(|&s| self.in_metro(small, self.metro(s).unwrap_or_default()) == 0);
        match moved {
            Some(m) => {
                self.move_member(m, big, small);
                vec![small, big]
            }
            None => Vec::new(),
        }
    }

    /// Up to `count` members to move out of the fullest group (which keeps at least
    /// [`min_size`](Self::min_size)): its latest joiners, those from a metro it holds twice and
    /// unlike `metro` first.
    fn donors(&self, metro: MetroId, count: usize) -> Option<(GroupId, Vec<SessionId>)> {
        let (&from, g) = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.len() > self.min_size())
            .max_by_key(|(id, g)| (g.members.len(), std::cmp::Reverse(**id)))?;
        let spare = (g.members.len() - self.min_size()).min(count);
        let mut ranked: Vec<(bool, bool, usize, SessionId)> = g
            .members
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let m = self.metro(s).unwrap_or_default();
                (self.in_metro(from, m) > 1, m != metro, i, s)
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        // Members of distinct metros first, so the new group is spread too.
        let mut picked: Vec<SessionId> = Vec::with_capacity(spare);
        let mut metros: Vec<MetroId> = vec![metro];
        for pass in 0..2 {
            for r in &ranked {
                let m = self.metro(r.3).unwrap_or_default();
                if picked.len() < spare
                    && !picked.contains(&r.3)
                    && (pass == 1 || !metros.contains(&m))
                {
                    picked.push(r.3);
                    metros.push(m);
                }
            }
        }
        Some((from, picked))
    }

    /// A full group without `metro` and one of its members from a metro `roomy` lacks.
    fn swap_partner(&self, roomy: GroupId, metro: MetroId) -> Option<(GroupId, SessionId)> {
        self.groups
            .iter()
            .filter(|(id, g)| **id != roomy && g.members.len() >= self.k)
            .filter(|(id, _)| self.in_metro(**id, metro) == 0)
            .find_map(|(id, g)| {
                let m = g
                    .members
                    .iter()
                    .rev()
                    .find(|&&s| self.in_metro(roomy, self.metro(s).unwrap_or_default()) == 0)?;
                Some((*id, *m))
            })
    }

    /// Brings `group`, fallen below [`min_size`](Self::min_size), back up: a member from a
    /// group that can spare one, or else its members into groups with room (one group if
    /// one has room for all). Returns the other groups touched.
    fn refill(&mut self, group: GroupId) -> Vec<GroupId> {
        let members = self.members(group).to_vec();
        let metro = members
            .first()
            .and_then(|&s| self.metro(s))
            .unwrap_or_default();
        let spare = self
            .groups
            .iter()
            .filter(|(id, g)| **id != group && g.members.len() > self.min_size())
            .max_by_key(|(id, g)| (g.members.len(), std::cmp::Reverse(**id)))
            .map(|(id, _)| *id);
        if let Some(from) = spare {
            let (_, moved) = self.donors_from(from, metro);
            self.move_member(moved, from, group);
            return vec![from];
        }
        let room = |g: &Group| self.k - g.members.len();
        let whole = self
            .groups
            .iter()
            .filter(|(id, g)| **id != group && room(g) >= members.len())
            .min_by_key(|(id, g)| (g.members.len(), **id))
            .map(|(id, _)| *id);
        let mut touched = Vec::new();
        for s in members {
            let m = self.metro(s).unwrap_or_default();
            let to = whole.or_else(|| self.policy.choose_excluding(self, s, m, group));
            if let Some(to) = to {
                self.move_member(s, group, to);
                touched.push(to);
            }
        }
        touched
    }

    /// The member of `from` best moved to a group whose members are in `metro`.
    fn donors_from(&self, from: GroupId, metro: MetroId) -> (GroupId, SessionId) {
        let g = self.members(from);
        let best = g
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| {
                let m = self.metro(**s).unwrap_or_default();
                (self.in_metro(from, m) > 1, m != metro, *i)
            })
            .map(|(_, s)| *s)
            .unwrap_or_default();
        (from, best)
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
