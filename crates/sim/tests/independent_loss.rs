//! A group of 5 at 5 % independent multicast loss: every loss a member received is repaired
//! from the group.

use groupcast_sim::{ClientSettings, LossModel, Scenario, run};

fn scenario(repair_enabled: bool, packets: u64) -> Scenario {
    Scenario {
        packets,
        media_loss: LossModel::Independent { p: 0.05 },
        client: ClientSettings {
            repair_enabled,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    }
}

#[test]
fn residual_loss_is_zero_over_100k_packets() {
    let report = run(&scenario(true, 100_000));
    println!("{}", report.table());
    let lost_on_network: u64 = report.clients.iter().map(|c| c.dropped_by_network).sum();
    assert!(
        lost_on_network > 20_000,
        "the network must actually lose ~5 %: {lost_on_network}"
    );
    // A packet the network took from all five has no source in the group (0.05^5: about
    // one in 3 million; whether one occurs depends on the run's draws). Every other is repaired.
    let mut takers = std::collections::BTreeMap::<u64, usize>::new();
    for c in &report.clients {
        for &p in &c.dropped_packets {
            *takers.entry(p).or_default() += 1;
        }
    }
    let everyone = takers
        .values()
        .filter(|&&n| n == report.clients.len())
        .count() as u64;
    assert!(everyone <= 1, "{everyone} packets lost by the whole group");
    let n = report.clients.len() as u64;
    assert_eq!(report.total(|c| c.unrecovered), everyone * n);
    assert_eq!(report.output_faults(), everyone * n);
    for c in &report.clients {
        assert_eq!(c.output.runs.len(), 1);
        assert!(c.output.played >= 100_000 - 3, "played {}", c.output.played);
        assert_eq!(c.counters.repaired + everyone, c.counters.lost);
    }
}

/// The control: the same run without repair leaves holes, so the test above can fail.
#[test]
fn without_repair_the_same_run_has_holes() {
    let report = run(&scenario(false, 20_000));
    assert!(report.total(|c| c.unrecovered) > 4_000);
    assert!(report.output_faults() > 4_000);
    assert_eq!(report.total(|c| c.repaired), 0);
}
