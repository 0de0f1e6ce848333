//! A session that stops heartbeating is ended after the timeout, and its group is refilled.
#![allow(clippy::unwrap_used)]

mod common;

use common::Api;
use serde_json::json;
use std::time::{Duration, Instant};

fn scenario(url: &str) {
    // Heartbeats every 100 ms, timeout 1 s.
    let m = common::start_with(url, 100, 1000);
    let api = Api::new(&m);
    api.channel("news", json!({"group_size": 3}));
    let viewer = api.viewer("v", &["news"]);
    // Two groups: {a, b, c} then d forces a split into two groups of two.
    let mut ids = Vec::new();
    for (i, metro) in ["paris", "lyon", "nice", "lille"].iter().enumerate() {
        ids.push(api.open(&viewer, "news", metro, 8000 + i as u16).session);
    }
    let silent = ids[0];
    let live = &ids[1..];
    // Everyone but `silent` keeps heartbeating for 3.5 s: past the start-up grace period
    // (one timeout) and one more timeout.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3500) {
        for &s in live {
            assert_eq!(api.heartbeat(&viewer, s).0, 200, "live sessions stay");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        api.heartbeat(&viewer, silent).0,
        404,
        "the silent session was ended"
    );
    // The three others are regrouped: all in groups of at least two, nobody alone.
    let groups: Vec<_> = live
        .iter()
        .map(|&s| api.heartbeat(&viewer, s).1.unwrap())
        .collect();
    for g in &groups {
        assert!(g.members.iter().all(|m| m.session != silent), "{g:?}");
        assert!(g.members.len() >= 2, "refilled, nobody alone: {g:?}");
    }
    let metrics = api.metrics();
    assert!(
        metrics.contains("groupcast_sessions_expired_total 1"),
        "{metrics}"
    );
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("timeout"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("timeout") {
        scenario(&url);
    }
}
