//! Losses at the very end of the stream (nothing follows them to reveal the gap) are found by
//! tail probes when the stream goes quiet, and repaired.

use groupcast_sim::{LossModel, Scenario, run};

#[test]
fn last_packets_are_recovered_by_tail_probes() {
    // Several seeds, so that some client loses the last packets.
    let mut probed = 0;
    for seed in 1..=10 {
        let report = run(&Scenario {
            packets: 2_000,
            media_loss: LossModel::bursty(0.05, 20.0),
            seed,
            ..Scenario::default()
        });
        for (i, c) in report.clients.iter().enumerate() {
            let last = c.output.runs.last().map(|r| r.2);
            let sent_last = report.sent[0].1.wrapping_add(1_999);
            assert_eq!(
                last,
                Some(sent_last),
                "seed {seed} client {i} misses the tail"
            );
        }
        probed += report.total(|c| c.tail_probes);
    }
    assert!(probed > 0);
}
