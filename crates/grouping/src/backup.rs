//! Backups (issue 12's second tier): for each member, a few members of *other* groups in
//! *other* metros, asked only for what the member's own group could not supply in time (a
//! datagram every member lost, a group gone silent).
//!
//! The groups, in id order, form a ring; each group is paired with the next one. Every member
//! of a group takes `per_pair` backups in the next group from metros other than its own, the
//! least-taken first, so one member is not everybody's backup. Pairs are symmetric (if A backs
//! up B, B backs up A: both hold the key and each answers the other), so a member gets backups
//! from the group before it as well as after it: with three groups or more, two groups'
//! worth. Deterministic: the same groups always give the same pairs.

use crate::{Grouping, MetroId, SessionId};
use std::collections::{BTreeMap, BTreeSet};

/// The backup pairs of `grouping`'s groups, `per_pair` per member and neighbouring group,
/// each pair once as (smaller id, larger id), sorted.
pub fn backup_pairs(grouping: &Grouping, per_pair: usize) -> Vec<(SessionId, SessionId)> {
    let metro = |s: SessionId| grouping.metro(s).unwrap_or(MetroId(u32::MAX));
    let groups: Vec<Vec<(SessionId, MetroId)>> = grouping
        .groups()
        .map(|(_, m)| m.iter().map(|&s| (s, metro(s))).collect())
        .collect();
    pairs_among(&groups, per_pair)
}

/// [`backup_pairs`] of `groups` (in ring order, each member with its metro, in any type a
/// caller names metros by). Which members of two neighbouring groups pair depends on those
/// two groups only: a change in one group moves the pairs of its two neighbours at most.
pub fn pairs_among<M: Eq>(
    groups: &[Vec<(SessionId, M)>],
    per_pair: usize,
) -> Vec<(SessionId, SessionId)> {
    let mut pairs = BTreeSet::new();
    let n = groups.len();
    if n < 2 || per_pair == 0 {
        return Vec::new();
    }
    // Two groups are one pair, not two.
    let rounds = if n == 2 { 1 } else { n };
    for i in 0..rounds {
        let (a, b) = (&groups[i], &groups[(i + 1) % n]);
        let mut taken: BTreeMap<SessionId, usize> = BTreeMap::new();
        for (m, metro) in a {
            let mut candidates: Vec<SessionId> = b
                .iter()
                .filter(|(_, other)| other != metro)
                .map(|(o, _)| *o)
                .collect();
            candidates.sort_by_key(|o| (taken.get(o).copied().unwrap_or(0), *o));
            for &o in candidates.iter().take(per_pair) {
                let pair = (o.min(*m), o.max(*m));
                if pairs.insert(pair) {
                    *taken.entry(o).or_default() += 1;
                }
            }
        }
    }
    pairs.into_iter().collect()
}

/// The backups of `me` among `pairs` (as [`backup_pairs`] gives them).
pub fn backups_of(pairs: &[(SessionId, SessionId)], me: SessionId) -> Vec<SessionId> {
    partners(pairs, |s| *s == me).collect()
}

/// The other side of every pair in `pairs` that has one side `is_me` (each pair listed once,
/// either way round): [`backups_of`] for pairs of anything that names a session (the
/// simulator's carry peer addresses).
pub fn partners<'a, T: Copy>(
    pairs: &'a [(T, T)],
    is_me: impl Fn(&T) -> bool + 'a,
) -> impl Iterator<Item = T> + 'a {
    pairs
        .iter()
        .filter_map(move |(a, b)| match (is_me(a), is_me(b)) {
            (true, _) => Some(*b),
            (_, true) => Some(*a),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn grouping(n: u64, metros: u32) -> Grouping {
        let mut g = Grouping::new(5, Policy::CrossMetro);
        for s in 0..n {
            g.join(SessionId(s), MetroId((s % u64::from(metros)) as u32));
        }
        g
    }

    #[test]
    fn every_member_gets_backups_in_other_groups_and_other_metros() {
        let g = grouping(24, 3);
        let pairs = backup_pairs(&g, 1);
        for s in 0..24 {
            let me = SessionId(s);
            let backups = backups_of(&pairs, me);
            assert!((1..=4).contains(&backups.len()), "{me:?} has {backups:?}");
            for b in backups {
                assert_ne!(g.group_of(b), g.group_of(me), "{me:?} and {b:?}");
                assert_ne!(g.metro(b), g.metro(me), "{me:?} and {b:?}");
            }
        }
        // Symmetric by construction, and nobody is everybody's backup.
        let most = (0..24)
            .map(|s| backups_of(&pairs, SessionId(s)).len())
            .max();
        assert!(most <= Some(4), "{most:?}");
        assert_eq!(pairs, backup_pairs(&g, 1), "deterministic");
    }

    #[test]
    fn one_group_or_none_asked_gives_no_backups() {
        assert!(backup_pairs(&grouping(5, 3), 1).is_empty());
        assert!(backup_pairs(&grouping(24, 3), 0).is_empty());
        // Two groups pair once; one metro everywhere gives nobody to pair with.
        let two = backup_pairs(&grouping(10, 3), 1);
        assert!(!two.is_empty() && two.len() <= 10, "{two:?}");
        assert!(backup_pairs(&grouping(10, 1), 1).is_empty());
    }
}
