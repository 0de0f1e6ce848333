//! Viewers leave and come back all the time: groups are re-formed (new epochs, new keys) and
//! everyone still watching keeps getting every lost packet repaired.

use groupcast_sim::{Scenario, run};

#[test]
fn repair_goes_on_through_churn_and_rekeying() {
    let report = run(&Scenario {
        clients: 20,
        metros: 4,
        packets: 10_000,
        churn: 0.05,
        seed: 4,
        ..Scenario::default()
    });
    println!("{}", report.table());
    // Someone left and came back: there were fresh sessions.
    assert!(report.clients.iter().any(|c| c.output.runs.len() > 1));
    let repaired = report.total(|c| c.repaired);
    assert!(repaired > 5_000, "{repaired}");
    // Losses right at a rejoin (before the new session knows its group) may go unrepaired;
    // everything else is repaired.
    let unrecovered = report.total(|c| c.unrecovered);
    assert!(
        unrecovered * 200 < repaired,
        "{unrecovered} unrecovered of {repaired}"
    );
    assert!(report.total(|c| c.stale) + report.total(|c| c.unauthenticated) < repaired / 10);
}
