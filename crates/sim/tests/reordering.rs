//! Reordering within the reorder hold is not loss: nothing is requested for it, nothing is
//! lost, and the player still gets the packets in order.

use groupcast_sim::{LossModel, Scenario, run};
use std::time::Duration;

#[test]
fn reordered_packets_are_played_in_order_without_requests() {
    let report = run(&Scenario {
        packets: 20_000,
        media_loss: LossModel::None,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(3),
        ..Scenario::default()
    });
    assert_eq!(report.total(|c| c.lost), 0);
    // The only requests are the tail probes after the stream ends (an ended stream and a lost
    // tail look the same); a 3 ms reorder is inside the 5 ms hold.
    assert_eq!(
        report.total(|c| c.requests_sent),
        report.total(|c| c.tail_probes)
    );
    let probes = report.total(|c| c.tail_probes);
    assert!(
        probes <= 5 * 4 * 8,
        "only at the end, backing off: {probes}"
    );
    assert_eq!(report.output_faults(), 0);
    assert!(report.clients.iter().all(|c| c.output.played == 20_000));
}

#[test]
fn reordering_beyond_the_hold_with_loss_is_repaired_and_counted_late() {
    let report = run(&Scenario {
        packets: 20_000,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(40),
        ..Scenario::default()
    });
    println!("{}", report.table());
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    assert!(
        report.total(|c| c.late)
            + report.total(|c| c.media_too_old)
            + report.total(|c| c.duplicate_media)
            > 100
    );
}
