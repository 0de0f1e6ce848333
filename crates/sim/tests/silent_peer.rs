//! A peer stops answering mid-stream (crashed, or its uplink died): the others still repair
//! every packet that any answering member holds, the ranked strategy stops asking it first, and
//! the rota names the next member when the silent one comes first.

use groupcast_core::RequestStrategy;
use groupcast_sim::{ClientSettings, Report, Scenario, run};
use std::collections::HashSet;

const SILENT_FROM: u64 = 5_000;

fn scenario(strategy: RequestStrategy, repair_enabled: bool) -> Scenario {
    Scenario {
        packets: 30_000,
        silent: vec![(0, SILENT_FROM)],
        seed: 5,
        client: ClientSettings {
            strategy,
            repair_enabled,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    }
}

/// Packets client `i` lost that every answering member lost too, taking peer 0 as silent from
/// packet `from`: no peer could repair these.
fn unrepairable(r: &Report, i: usize, from: u64) -> u64 {
    let lost: Vec<HashSet<u64>> = r
        .clients
        .iter()
        .map(|c| c.dropped_packets.iter().copied().collect())
        .collect();
    lost[i]
        .iter()
        .filter(|&&n| {
            (0..r.clients.len())
                .filter(|&j| j != i && !(j == 0 && n >= from))
                .all(|j| lost[j].contains(&n))
        })
        .count() as u64
}

#[test]
fn the_rest_of_the_group_covers_for_a_silent_peer() {
    for strategy in [
        RequestStrategy::All,
        RequestStrategy::Ranked,
        RequestStrategy::Rota,
    ] {
        let report = run(&scenario(strategy, true));
        println!("{strategy:?}\n{}", report.table());
        for i in 1..report.clients.len() {
            let c = &report.clients[i];
            // Requests in flight when the peer went quiet blur the boundary by a few packets.
            let (low, high) = (
                unrepairable(&report, i, SILENT_FROM + 20),
                unrepairable(&report, i, SILENT_FROM - 20),
            );
            assert!(
                (low..=high).contains(&c.counters.unrecovered),
                "{strategy:?} client {i}: {} not in {low}..={high}",
                c.counters.unrecovered
            );
            assert_eq!(c.output.gaps, c.counters.unrecovered);
        }
    }
}

#[test]
fn control_without_repair_has_holes() {
    let report = run(&scenario(RequestStrategy::All, false));
    assert!(
        report.clients[1..]
            .iter()
            .all(|c| c.counters.unrecovered > 1_000)
    );
}

/// Best-peer-first asks one peer at a time, so it draws far fewer duplicate repairs than
/// asking everybody.
#[test]
fn ranked_strategy_cuts_duplicates() {
    let all = run(&scenario(RequestStrategy::All, true));
    let ranked = run(&scenario(RequestStrategy::Ranked, true));
    let dups = |r: &Report| {
        r.clients[1..]
            .iter()
            .map(|c| c.counters.duplicate_repairs)
            .sum::<u64>()
    };
    assert!(
        dups(&ranked) * 3 < dups(&all),
        "ranked {} vs all {}",
        dups(&ranked),
        dups(&all)
    );
}
