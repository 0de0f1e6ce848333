//! Bursty (Gilbert–Elliott) loss: runs of consecutive losses are repaired as ranges.

use groupcast_sim::{ClientSettings, LossModel, Scenario, run};

fn scenario(repair_enabled: bool) -> Scenario {
    Scenario {
        packets: 30_000,
        seed: 7,
        media_loss: LossModel::bursty(0.05, 10.0),
        client: ClientSettings {
            repair_enabled,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    }
}

#[test]
fn bursts_of_ten_packets_are_fully_repaired() {
    let report = run(&scenario(true));
    println!("{}", report.table());
    let dropped: u64 = report.clients.iter().map(|c| c.dropped_by_network).sum();
    assert!(dropped > 5_000, "{dropped}");
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    // Bursts are requested as ranges: far fewer request messages than lost packets per peer.
    let requests = report.total(|c| c.requests_sent);
    let requested = report.total(|c| c.packets_requested);
    assert!(
        requested > requests * 2,
        "{requested} packets in {requests} requests"
    );
}

#[test]
fn control_without_repair_has_holes() {
    assert!(run(&scenario(false)).total(|c| c.unrecovered) > 5_000);
}
