//! The manager goes away for 3 s. Clients play on with their last group and keep repairing;
//! when it is back they re-attach (the same sessions, if it kept its state) or open new
//! sessions and are grouped anew (if it restarted empty).
//!
//! Kept state costs nothing. An empty restart costs at most about one heartbeat interval of
//! repairs: sessions are found gone one heartbeat after the return and reopened one by one,
//! so for a moment the new groups are small (a lone member has no one to ask).

use groupcast_sim::{ManagerOutage, ManagerSettings, Report, Scenario, run};
use std::time::Duration;

fn scenario(outage: Option<ManagerOutage>) -> Scenario {
    Scenario {
        clients: 20,
        metros: 4,
        packets: 10_000,
        seed: 3,
        manager: ManagerSettings {
            latency: Duration::from_millis(20),
            outage,
            ..ManagerSettings::default()
        },
        ..Scenario::default()
    }
}

fn outage(restart: bool) -> Option<ManagerOutage> {
    Some(ManagerOutage {
        from: Duration::from_secs(3),
        until: Duration::from_secs(6),
        restart,
    })
}

/// Every client noticed the outage once, and the manager's return.
fn everyone_reattached(report: &Report) {
    for (i, c) in report.clients.iter().enumerate() {
        assert_eq!(
            (c.link.away, c.link.back),
            (1, 1),
            "client {i}: {:?}",
            c.link
        );
        let away = c.link.longest_away;
        assert!(
            away > Duration::from_secs(2) && away <= Duration::from_secs(4),
            "client {i}: {away:?}"
        );
    }
}

#[test]
fn clients_play_on_through_an_outage_and_re_attach() {
    let calm = run(&scenario(None));
    let report = run(&scenario(outage(false)));
    println!("{}", report.table());
    everyone_reattached(&report);
    assert!(
        report.clients.iter().all(|c| c.link.sessions == 1),
        "the sessions were kept"
    );
    assert!(
        calm.clients
            .iter()
            .all(|c| c.link.away == 0 && c.link.sessions == 1)
    );
    assert_eq!(
        report.total(|c| c.unrecovered),
        calm.total(|c| c.unrecovered)
    );
    assert_eq!(report.total(|c| c.repaired), calm.total(|c| c.repaired));
    assert_eq!(report.output_faults(), 0);
}

#[test]
fn a_restarted_manager_regroups_everyone_within_a_heartbeat() {
    let calm = run(&scenario(None));
    let report = run(&scenario(outage(true)));
    println!("{}", report.table());
    everyone_reattached(&report);
    assert!(
        report.clients.iter().all(|c| c.link.sessions == 2),
        "everyone opened a new session"
    );
    let (unrecovered, repaired) = (
        report.total(|c| c.unrecovered),
        report.total(|c| c.repaired),
    );
    assert!(repaired > 8_000, "{repaired}");
    // All of the network's losses in one heartbeat interval, at most.
    let s = scenario(None);
    let one_beat = s.clients as f64 * f64::from(s.pps) * s.media_loss.mean_loss();
    let extra = unrecovered - calm.total(|c| c.unrecovered);
    assert!(
        (extra as f64) < one_beat,
        "{extra} more unrecovered than without the outage"
    );
    for c in &report.clients {
        assert_eq!((c.output.corrupt, c.output.disorder), (0, 0), "holes only");
    }
}
