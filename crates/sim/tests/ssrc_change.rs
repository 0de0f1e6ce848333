//! The source restarts mid-stream with a new SSRC and a new random sequence number: clients
//! flush the old stream, follow the new one, and repair both.

use groupcast_sim::{ClientSettings, Scenario, run};

fn scenario(repair_enabled: bool) -> Scenario {
    Scenario {
        packets: 20_000,
        restart_at: Some(10_000),
        seed: 11,
        client: ClientSettings {
            repair_enabled,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    }
}

#[test]
fn clients_follow_the_new_stream_and_repair_it() {
    let report = run(&scenario(true));
    println!("{}", report.table());
    assert_eq!(report.sent.len(), 2);
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    for c in &report.clients {
        assert_eq!(c.counters.source_restarts, 1);
        let streams: Vec<_> = c.output.runs.iter().map(|r| r.0).collect();
        assert_eq!(streams, vec![report.sent[0].0, report.sent[1].0]);
        // Everything of the new stream after its first couple of packets is played.
        assert!(c.output.runs[1].3 >= 10_000 - 3, "{:?}", c.output.runs);
    }
}

#[test]
fn control_without_repair_has_holes() {
    assert!(run(&scenario(false)).total(|c| c.unrecovered) > 2_000);
}
