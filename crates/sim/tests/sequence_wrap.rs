//! The 16-bit RTP sequence number wraps several times during the run, with loss around the
//! wrap points; extended numbers keep everything in order.

use groupcast_sim::{ClientSettings, Scenario, run};

fn scenario(repair_enabled: bool) -> Scenario {
    Scenario {
        packets: 140_000,
        pps: 5_000,
        first_seq: 65_000,
        seed: 3,
        client: ClientSettings {
            repair_enabled,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    }
}

#[test]
fn wraps_are_seamless() {
    let report = run(&scenario(true));
    assert_eq!(report.total(|c| c.unrecovered), 0);
    assert_eq!(report.output_faults(), 0);
    for c in &report.clients {
        assert_eq!(
            c.output.runs.len(),
            1,
            "one stream, no restart at the wraps"
        );
        assert!(c.output.played >= 140_000 - 3);
        assert_eq!(c.counters.source_restarts, 0);
    }
}

#[test]
fn control_without_repair_has_holes() {
    assert!(run(&scenario(false)).output_faults() > 10_000);
}
