//! The backup tier in the simulator (issue 12, item 3a): the manager pairs each viewer with
//! members of the neighbouring groups in other metros; a datagram its whole group missed (a
//! metro cut, trunk losses, a group-wide loss) is asked of them before the relay. With loss on
//! every link and a metro cut, they fill all the groups leave but what nobody received. With the relay behind them, it is asked for less and resends less.

use groupcast_sim::{ManagerSettings, Scenario, run};

/// 24 viewers over 3 metros, 1,000 packets/s for 30 s, 200 ms buffer, 5 % per viewer and
/// 3 % per trunk on every link, metro 0 cut from 10 s to 12 s; `backups` per neighbouring
/// group.
fn scenario(backups: usize, last_resort: bool) -> Scenario {
    Scenario {
        packets: 30_000,
        outages: vec![(0, 10_000, 12_000)],
        last_resort: last_resort.then(Default::default),
        manager: ManagerSettings {
            backups,
            ..ManagerSettings::default()
        },
        seed: 3,
        ..Scenario::operator_model(24)
    }
}

#[test]
fn backups_fill_what_whole_groups_missed() {
    let groups = run(&scenario(0, false));
    let backed = run(&scenario(1, false));
    let holes = groups.total(|c| c.unrecovered);
    let left = backed.total(|c| c.unrecovered);
    let filled = backed.total(|c| c.backup_repaired);
    println!("groups only: {holes} holes; with backups: {left} left, {filled} filled by them");
    assert_eq!(groups.total(|c| c.backup_asked), 0);
    assert!(holes > 50, "groups only: {holes} holes");
    assert!(left < holes, "{left} holes left of {holes}");
    // What is left is what no viewer received (a datagram lost on all three trunks, or on
    // both trunks of the metros not cut): every viewer lacks exactly the same datagrams.
    let each = |r: &groupcast_sim::Report| {
        let mut v: Vec<u64> = r.clients.iter().map(|c| c.counters.unrecovered).collect();
        v.dedup();
        v
    };
    assert_eq!(each(&backed).len(), 1, "{:?}", each(&backed));
    assert!(each(&groups).len() > 1, "{:?}", each(&groups));
    assert!(filled > (holes - left) / 2, "{filled} filled");
    // Backups served what they were asked, within their budget, and nothing was refused as
    // unauthenticated or stale along the way.
    assert!(backed.total(|c| c.backup_served) >= filled);
    assert_eq!(backed.total(|c| c.backup_refused), 0);
    assert_eq!(backed.total(|c| c.unauthenticated), 0);
    for c in &backed.clients {
        assert_eq!((c.output.disorder, c.output.corrupt), (0, 0));
    }
}

#[test]
fn behind_backups_the_relay_is_asked_for_less() {
    let relay_only = run(&scenario(0, true));
    let both = run(&scenario(1, true));
    let asked = |r: &groupcast_sim::Report| r.total(|c| c.escalated);
    println!(
        "escalated: {} without backups, {} with",
        asked(&relay_only),
        asked(&both)
    );
    let egress = |r: &groupcast_sim::Report| r.summary().source_egress;
    println!(
        "source egress: {} without backups, {} with",
        egress(&relay_only),
        egress(&both)
    );
    assert!(asked(&both) < asked(&relay_only));
    assert!(egress(&both) < egress(&relay_only));
    assert!(both.total(|c| c.unrecovered) <= relay_only.total(|c| c.unrecovered) + 2);
}
