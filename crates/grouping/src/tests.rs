//! Grouping invariants, as properties over random join/leave sequences.

use super::*;
use proptest::prelude::*;

/// Every session in exactly one group, groups at most k, group ids and member lists agree.
fn check_invariants(g: &Grouping) {
    let mut seen = 0;
    for (id, members) in g.groups() {
        assert!(!members.is_empty(), "no empty group survives");
        assert!(
            members.len() <= g.k(),
            "group {id} has {} > k",
            members.len()
        );
        for &s in members {
            assert_eq!(g.group_of(s), Some(id));
            seen += 1;
        }
    }
    assert_eq!(seen, g.len());
}

#[derive(Clone, Debug)]
enum Op {
    Join(u64, u32),
    Leave(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0u64..60, 0u32..6).prop_map(|(s, m)| Op::Join(s, m)),
            1 => (0u64..60).prop_map(Op::Leave),
        ],
        1..300,
    )
}

fn apply(g: &mut Grouping, op: &Op) -> Vec<Change> {
    match *op {
        Op::Join(s, m) => g.join(s, m),
        Op::Leave(s) => g.leave(s),
    }
}

proptest! {
    #[test]
    fn invariants_hold_and_changes_stay_local(ops in ops(), k in 3usize..8) {
        for policy in [Policy::CrossMetro, Policy::SameMetro, Policy::Random { seed: 7 }] {
            let mut g = Grouping::new(k, policy);
            for op in &ops {
                let before: BTreeMap<GroupId, Vec<SessionId>> = g.groups().map(|(i, m)| (i, m.to_vec())).collect();
                let changes = apply(&mut g, op);
                check_invariants(&g);
                // A (re-)join or leave touches at most the joiner's old group and its lone
                // member's new one, a donor group, and the joiner's new group.
                prop_assert!(changes.len() <= 4, "{policy:?} {op:?}: {} groups changed", changes.len());
                // Every group whose members changed is reported, with a bumped epoch.
                for (id, members) in g.groups() {
                    if before.get(&id).map(Vec::as_slice) != Some(members) {
                        let c = changes.iter().find(|c| c.group == id);
                        prop_assert!(c.is_some_and(|c| c.members == members), "{policy:?} {op:?}: group {id} changed silently");
                    }
                }
            }
        }
    }

    /// Cross-metro grouping never leaves a viewer alone while another group has room, once two
    /// or more viewers watch.
    #[test]
    fn cross_metro_leaves_nobody_alone(ops in ops(), k in 3usize..8) {
        let mut g = Grouping::new(k, Policy::CrossMetro);
        for op in &ops {
            apply(&mut g, op);
            let alone = g.groups().filter(|(_, m)| m.len() == 1).count();
            let room_elsewhere = g.groups().filter(|(_, m)| m.len() > 1 && m.len() < k).count();
            prop_assert!(alone <= 1 && (alone == 0 || room_elsewhere == 0 || g.len() < 2),
                "{alone} alone, {room_elsewhere} groups with room");
        }
    }

    /// Same calls, same groups.
    #[test]
    fn deterministic(ops in ops()) {
        let run = || {
            let mut g = Grouping::new(5, Policy::CrossMetro);
            let changes: Vec<Vec<Change>> = ops.iter().map(|op| apply(&mut g, op)).collect();
            (changes, g.groups().map(|(i, m)| (i, m.to_vec())).collect::<Vec<_>>())
        };
        prop_assert_eq!(run(), run());
    }
}

/// With viewers from at least k metros joining in turn, every group spans k distinct metros.
#[test]
fn interleaved_metros_give_fully_diverse_groups() {
    let mut g = Grouping::new(5, Policy::CrossMetro);
    for s in 0..100u64 {
        g.join(s, (s % 7) as u32);
    }
    for (_, members) in g.groups() {
        let mut metros: Vec<_> = members.iter().map(|&s| g.metro(s)).collect();
        metros.sort();
        metros.dedup();
        assert_eq!(metros.len(), members.len(), "{members:?}");
    }
    assert_eq!(g.groups().count(), 20);
}

#[test]
fn same_metro_policy_keeps_groups_in_one_metro() {
    let mut g = Grouping::new(5, Policy::SameMetro);
    for s in 0..60u64 {
        g.join(s, (s % 3) as u32);
    }
    for (id, members) in g.groups() {
        assert!(
            members.iter().all(|&s| g.metro(s) == g.metro(members[0])),
            "group {id}"
        );
    }
}

#[test]
fn a_full_audience_opens_a_new_group_without_leaving_anyone_alone() {
    let mut g = Grouping::new(5, Policy::CrossMetro);
    for s in 0..5 {
        g.join(s, s as u32);
    }
    let changes = g.join(5, 0);
    assert_eq!(changes.len(), 2, "the donor group and the new one");
    assert!(g.groups().all(|(_, m)| m.len() >= 2));
    assert!(changes.iter().all(|c| c.epoch >= 1));
}
