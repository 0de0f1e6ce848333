//! The last resort in the simulator (issue 12, item 3b): with loss on every link, 3 % per
//! trunk and a 2 s multicast cut of one metro, the repair groups alone leave holes (packets
//! every member missed, or could not deliver in time); the source's relay, asked for exactly
//! those, fills nearly all of them, within its budget of 0.9 % of the stream. The relay and the
//! viewers' registrations are the real machines, under tickets.

use groupcast_sim::{LastResortSettings, Scenario, run};

/// 12 viewers over 3 metros, 1,000 packets/s for 30 s, 200 ms buffer, 5 % per viewer and
/// 3 % per trunk on every link, metro 0 cut from 10 s to 12 s. The relay answers by unicast
/// only, so that what it fills is counted as `last_resort_repaired` (its multicast resends
/// arrive as media: see the last test).
fn scenario(last_resort: bool) -> Scenario {
    let unicast_only = LastResortSettings {
        multicast_after: 0,
        ..LastResortSettings::default()
    };
    Scenario {
        packets: 30_000,
        outages: vec![(0, 10_000, 12_000)],
        last_resort: last_resort.then_some(unicast_only),
        seed: 2,
        ..Scenario::operator_model(12)
    }
}

#[test]
fn the_relay_fills_what_the_groups_miss_within_its_budget() {
    let groups = run(&scenario(false));
    let tiers = run(&scenario(true));
    let (g, t) = (groups.summary(), tiers.summary());
    println!("groups only {g:?}\nwith the last resort {t:?}");
    // The groups alone leave holes; the last resort fills all but a few.
    let holes = groups.total(|c| c.unrecovered);
    assert!(holes > 50, "groups only: {holes} holes");
    assert_eq!(groups.total(|c| c.escalated), 0);
    assert_eq!(g.source_egress, 1.0);
    let left = tiers.total(|c| c.unrecovered);
    assert!(left * 20 < holes, "{left} holes left of {holes}");
    assert!(t.last_resort_repaired > holes / 2, "{t:?}");
    // It was asked only for what the groups could not supply.
    assert!(tiers.total(|c| c.escalated) < tiers.total(|c| c.lost) / 20);
    // Its repair egress: within 1 % of the stream, and counted.
    let relay = tiers.relay.as_ref().expect("relay figures");
    assert!(relay.standby_retransmitted >= t.last_resort_repaired);
    assert_eq!(relay.standby_joined, 12, "{relay:?}");
    assert_eq!(relay.joined, 0, "nobody fed: {relay:?}");
    assert!(t.source_egress > 1.0 && t.source_egress <= 1.009, "{t:?}");
    // Holes only: what the output lacks is never reordered or corrupt data.
    for c in &tiers.clients {
        assert_eq!((c.output.disorder, c.output.corrupt), (0, 0));
    }
}

/// The relay's multicast resends, modelled as the source's media (each metro's trunk, cut in
/// its outage, then each viewer's access link): a datagram two viewers NACK goes once to the
/// group instead of once to each, so the relay fills as much for less egress. Off
/// (`multicast_after: 0`), every answer is a unicast one.
#[test]
fn multicast_resends_fill_as_much_for_less_egress() {
    let with = |multicast_after| {
        let mut s = scenario(true);
        s.clients = 24;
        s.last_resort = Some(LastResortSettings {
            multicast_after,
            ..LastResortSettings::default()
        });
        run(&s)
    };
    let (off, on) = (with(0), with(2));
    let (r_off, r_on) = (off.relay.clone().unwrap(), on.relay.clone().unwrap());
    println!("off {r_off:?}\non {r_on:?}");
    assert_eq!(r_off.multicast_resent, 0);
    assert!(r_on.multicast_resent > 10, "{r_on:?}");
    assert!(r_on.multicast_covered > r_on.multicast_resent, "{r_on:?}");
    assert!(r_on.standby_retransmitted < r_off.standby_retransmitted);
    let (s_off, s_on) = (off.summary(), on.summary());
    assert!(
        s_on.source_egress < s_off.source_egress,
        "{s_on:?} {s_off:?}"
    );
    let holes = |r: &groupcast_sim::Report| r.total(|c| c.unrecovered);
    assert!(
        holes(&on) <= holes(&off) + 2,
        "{} vs {}",
        holes(&on),
        holes(&off)
    );
}
