//! Duplicated multicast packets are dropped and counted; the player sees each packet once.

use groupcast_sim::{Scenario, run};

#[test]
fn duplicates_are_counted_and_never_played_twice() {
    let report = run(&Scenario {
        packets: 20_000,
        duplicate: 0.05,
        ..Scenario::default()
    });
    let dups = report.total(|c| c.duplicate_media);
    assert!(dups > 3_000, "{dups}");
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    for c in &report.clients {
        assert!(c.output.played >= 20_000 - 3);
        assert!(c.output.played <= 20_000);
    }
}

/// With every repair requested from all four peers, extra copies arrive; the first wins and
/// the rest are counted as duplicate repairs.
#[test]
fn first_repair_wins_and_the_rest_are_counted() {
    let report = run(&Scenario {
        packets: 20_000,
        ..Scenario::default()
    });
    let repaired = report.total(|c| c.repaired);
    let dup_repairs = report.total(|c| c.duplicate_repairs);
    assert!(repaired > 3_000);
    assert!(
        dup_repairs > repaired,
        "4 peers asked: most losses get several answers"
    );
    assert_eq!(report.output_faults(), 0);
}
