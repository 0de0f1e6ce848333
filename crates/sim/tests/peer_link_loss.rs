//! Peer links lose 10 % of requests and repairs too: retries on the RTT-aware timer still get
//! every packet back before its play-out deadline.

use groupcast_core::RequestStrategy;
use groupcast_sim::{ClientSettings, LossModel, Scenario, run};

#[test]
fn retries_recover_lost_requests_and_repairs() {
    let report = run(&Scenario {
        packets: 30_000,
        peer_loss: LossModel::Independent { p: 0.10 },
        client: ClientSettings {
            strategy: RequestStrategy::Ranked,
            ..ClientSettings::default()
        },
        seed: 9,
        ..Scenario::default()
    });
    println!("{}", report.table());
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    // Retries happened: more packet requests than losses.
    assert!(report.total(|c| c.packets_requested) > report.total(|c| c.lost));
}
