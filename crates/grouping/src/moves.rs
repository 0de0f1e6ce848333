//! Moving members between groups: the primitives that keep every epoch honest, and the rules
//! that keep groups full and even after a leave or a join (refill, balance, donors, swaps).

use crate::{Change, Group, GroupEpoch, GroupId, Grouping, MetroId, Policy, SessionId};

impl Grouping {
    /// Takes `session` out and refills: a member left alone moves to a group with room, or a
    /// lone member elsewhere moves into the freed place. Returns the groups touched.
    pub(crate) fn remove(&mut self, session: SessionId) -> Vec<GroupId> {
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
    pub(crate) fn changes(&self, mut touched: Vec<GroupId>) -> Vec<Change> {
        touched.sort_unstable();
        touched.dedup();
        touched.iter().map(|&g| self.change(g)).collect()
    }

    pub(crate) fn move_member(&mut self, session: SessionId, from: GroupId, to: GroupId) {
        self.remove_member(from, session);
        self.add_member(to, session);
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
    pub(crate) fn balance(&mut self) -> Vec<GroupId> {
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
    pub(crate) fn donors(&self, metro: MetroId, count: usize) -> Option<(GroupId, Vec<SessionId>)> {
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

    /// A full group holding `metro` fewer times than `roomy` does (fewest first), and one of
    /// its members from another metro that `roomy` holds fewer times than that group: the
    /// joiner takes the member's place and the member the joiner's, so neither group holds any
    /// metro more often than before (a group holding one metro three times loses three members
    /// to that metro's outage, and its other two carry them).
    pub(crate) fn swap_partner(
        &self,
        roomy: GroupId,
        metro: MetroId,
    ) -> Option<(GroupId, SessionId)> {
        let here = self.in_metro(roomy, metro);
        let mut full: Vec<(usize, GroupId)> = self
            .groups
            .iter()
            .filter(|(id, g)| **id != roomy && g.members.len() >= self.k)
            .map(|(id, _)| (self.in_metro(*id, metro), *id))
            .filter(|&(n, _)| n < here)
            .collect();
        full.sort_unstable();
        full.into_iter().find_map(|(_, id)| {
            let m = self.members(id).iter().rev().find(|&&s| {
                let y = self.metro(s).unwrap_or_default();
                y != metro && self.in_metro(roomy, y) < self.in_metro(id, y)
            })?;
            Some((id, *m))
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

    pub(crate) fn new_group(&mut self) -> GroupId {
        let id = self.next;
        self.next.0 += 1;
        self.groups.insert(id, Group::default());
        id
    }

    pub(crate) fn add_member(&mut self, group: GroupId, session: SessionId) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.members.push(session);
            g.epoch.0 += 1;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.0 = group;
        }
    }

    fn remove_member(&mut self, group: GroupId, session: SessionId) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.members.retain(|&m| m != session);
            g.epoch.0 += 1;
        }
    }

    fn change(&self, group: GroupId) -> Change {
        let g = self.groups.get(&group);
        Change {
            group,
            epoch: g.map_or(GroupEpoch(0), |g| g.epoch),
            members: g.map_or(Vec::new(), |g| g.members.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A move bumps the epoch of both groups it touches, and a change lists each touched
    /// group once, in id order, with its final members.
    #[test]
    fn moves_bump_both_epochs_and_changes_are_reported_once() {
        let mut g = Grouping::new(5, Policy::CrossMetro);
        let (a, b) = (g.new_group(), g.new_group());
        assert_eq!((a, b), (GroupId(1), GroupId(2)));
        for s in [1, 2] {
            g.sessions.insert(SessionId(s), (a, MetroId(0)));
            g.add_member(a, SessionId(s));
        }
        g.move_member(SessionId(2), a, b);
        assert_eq!(g.epoch(a), Some(GroupEpoch(3)), "two joins and a move out");
        assert_eq!(g.epoch(b), Some(GroupEpoch(1)));
        assert_eq!(g.group_of(SessionId(2)), Some(b));
        let changes = g.changes(vec![b, a, b]);
        let groups: Vec<GroupId> = changes.iter().map(|c| c.group).collect();
        assert_eq!(groups, [a, b]);
        assert_eq!(changes[1].members, [SessionId(2)]);
    }
}
