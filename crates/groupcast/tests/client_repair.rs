//! Manager + source + 5 clients on loopback, each dropping 5 % of its multicast: every client's
//! output is a byte-exact contiguous run of the source's TS, with nothing unrecovered. The
//! control run with repair switched off shows holes, so this test can fail. Under the rota
//! (`--request-strategy rota`) the same loss is repaired as fully with one answer per loss
//! rather than one per member.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, contiguous_run_of_sample};
use std::time::Duration;

const METROS: [&str; 3] = ["north", "south", "east"];

/// Runs 5 clients for 10 s of the sample; returns each one's (stats, output check).
fn run(name: &str, port: u16, extra: &[&str]) -> Vec<(serde_json::Value, Result<usize, String>)> {
    let sys = System::start(name, port, 5000);
    let clients: Vec<_> = (0..5)
        .map(|i| sys.client(i, METROS[i % 3], 0.05, 11, extra))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let _source = sys.source(12);
    for c in clients {
        assert!(c.wait(Duration::from_secs(30)).success(), "client exit");
    }
    (0..5)
        .map(|i| (sys.stats(i), contiguous_run_of_sample(&sys.output(i))))
        .collect()
}

#[test]
fn five_percent_loss_is_fully_repaired() {
    for (i, (s, out)) in run("repair-on", 0, &[]).into_iter().enumerate() {
        let packets = out.unwrap_or_else(|e| panic!("client {i}: {e}; stats {s}"));
        assert!(
            packets > 2000,
            "client {i}: only {packets} TS packets played"
        );
        assert!(
            s["test_dropped"].as_u64().unwrap() > 20,
            "client {i}: drops: {s}"
        );
        assert!(s["lost"].as_u64().unwrap() > 20, "client {i}: {s}");
        assert_eq!(s["unrecovered"], 0, "client {i}: {s}");
        assert_eq!(s["repaired"], s["lost"], "client {i}: {s}");
        assert!(
            s["repairs_served"].as_u64().unwrap() > 0,
            "client {i} served its group: {s}"
        );
    }
}

#[test]
fn without_repair_the_same_loss_leaves_holes() {
    let results = run("repair-off", 1, &["--no-repair"]);
    for (i, (s, out)) in results.iter().enumerate() {
        assert!(s["unrecovered"].as_u64().unwrap() > 0, "client {i}: {s}");
        assert!(out.is_err(), "client {i}: output has no hole: {out:?}");
    }
}

/// Every member is asked, one answers: the outputs are as complete, and the duplicate repairs
/// that `all` draws (each of the 4 other members answers every loss it holds: about 3 per
/// repair on loopback) nearly vanish.
#[test]
fn the_rota_repairs_as_fully_with_one_answer_per_loss() {
    let results = run("repair-rota", 70, &["--request-strategy", "rota"]);
    let (mut repaired, mut duplicates, mut deferred) = (0, 0, 0);
    for (i, (s, out)) in results.iter().enumerate() {
        let packets = out
            .as_ref()
            .unwrap_or_else(|e| panic!("client {i}: {e}; stats {s}"));
        assert!(*packets > 2000, "client {i}: only {packets} TS packets");
        assert!(s["lost"].as_u64().unwrap() > 20, "client {i}: {s}");
        assert_eq!(s["unrecovered"], 0, "client {i}: {s}");
        repaired += s["repaired"].as_u64().unwrap();
        duplicates += s["duplicate_repairs"].as_u64().unwrap();
        deferred += s["serve_deferred"].as_u64().unwrap();
    }
    assert!(
        deferred > repaired,
        "members left packets to the rota's first: {deferred}"
    );
    assert!(
        duplicates * 3 < repaired,
        "{duplicates} duplicate repairs for {repaired} repairs"
    );
}
