//! Issue 13, finding 4: client-supplied heartbeat counters. Before the fix a heartbeat with
//! `received = 2^63-1` was stored as is, and two instances' buckets of such counts made the
//! SQL `SUM` of `GET /api/v1/overview` overflow: 500 for the five minutes of history.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_api::{Overview, SessionView};
use serde_json::json;
use std::time::Duration;

/// A heartbeat reporting `received`.
fn beat(api: &Api, token: &str, session: groupcast_api::SessionId, received: u64) -> u16 {
    let body = json!({"stats": groupcast_api::ClientStats { received, ..Default::default() }});
    let path = format!("/api/v1/sessions/{session}/heartbeat");
    api.call("POST", &path, token, Some(body)).0
}

fn scenario(url: &str) {
    let (a, b) = (common::start(url), common::start(url));
    let apis = [Api::new(&a), Api::new(&b)];
    apis[0].channel("news", json!({}));
    let viewer = apis[0].viewer("v", &["news"]);
    let sessions = [
        apis[0].open(&viewer, "news", "paris", 4000).session,
        apis[1].open(&viewer, "news", "paris", 4001).session,
    ];

    // One heartbeat claims 2^63-1 packets a moment after opening: clamped, not stored.
    assert_eq!(beat(&apis[0], &viewer, sessions[0], i64::MAX as u64), 200);
    let views: Vec<SessionView> = apis[0].ok("GET", "/api/v1/sessions", ADMIN, None);
    let view = views.iter().find(|v| v.session == sessions[0]).unwrap();
    assert!(
        view.stats.received < 1 << 40,
        "stored {} for a session a moment old",
        view.stats.received
    );

    // Both instances take ~2^62.7 packets per 2 s bucket for 4.5 s: without the clamp every
    // bucket's rows sum past i64::MAX.
    for i in 1..=15u64 {
        for (api, s) in apis.iter().zip(sessions) {
            assert_eq!(beat(api, &viewer, s, i << 60), 200);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(2_500));
    for api in &apis {
        let (status, body) = api.call("GET", "/api/v1/overview", ADMIN, None);
        assert_eq!(status, 200, "{body}");
        let overview: Overview = serde_json::from_value(body).unwrap();
        let paris = overview.metros.iter().find(|m| m.name == "paris").unwrap();
        let total: u64 = paris.samples.iter().map(|s| s.received).sum();
        assert!(total > 0 && total < 1 << 40, "received {total}");
    }
    let metrics = apis[0].metrics();
    assert!(!metrics.contains("groupcast_refused_total{reason=\"counters\"} 0\n"));
    a.stop();
    b.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("counters"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("counters") {
        scenario(&url);
    }
}
