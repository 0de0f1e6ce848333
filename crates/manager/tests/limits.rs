//! Issue 13, finding 5 (in part): an operator-configured cap of sessions per user, and a cap
//! of SSE streams per session (before: 1,000 sessions for one user in 2.4 s, 3,000 streams on
//! one session).
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_manager::Config;
use serde_json::json;

#[test]
fn sessions_per_user_and_streams_per_session_are_capped() {
    let m = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("limits"),
        admin_token: Some(ADMIN.to_string()),
        max_sessions_per_user: Some(3),
        max_streams_per_session: 2,
        ..Config::default()
    })
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let sessions: Vec<_> = (0..3)
        .map(|i| api.open(&viewer, "news", "paris", 4000 + i).session)
        .collect();
    let body = json!({"channel": "news", "metro": "paris", "peer_addr": "127.0.0.1:4010"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body.clone()));
    assert_eq!(status, 429, "{answer}");
    // Closing one frees a place.
    let path = format!("/api/v1/sessions/{}", sessions[0]);
    assert_eq!(api.call("DELETE", &path, &viewer, None).0, 204);
    assert_eq!(
        api.call("POST", "/api/v1/sessions", &viewer, Some(body)).0,
        201
    );

    let s = sessions[1];
    let streams = [api.events(&viewer, s), api.events(&viewer, s)];
    let path = format!("/api/v1/sessions/{s}/events");
    let (status, answer) = api.call("GET", &path, &viewer, None);
    assert_eq!(status, 429, "{answer}");
    drop(streams);
    m.stop();
}

/// Before: any viewer could create metros without end (each a row, named by the viewer).
#[test]
fn new_metros_stop_at_the_cap_and_a_configured_list_admits_only_its_own() {
    let capped = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("metro-cap"),
        admin_token: Some(ADMIN.to_string()),
        max_metros: 3,
        ..Config::default()
    })
    .unwrap();
    let api = Api::new(&capped);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    for (i, metro) in ["m1", "m2", "m3", "m1"].iter().enumerate() {
        api.open(&viewer, "news", metro, 4000 + i as u16);
    }
    let body = json!({"channel": "news", "metro": "m4", "peer_addr": "127.0.0.1:4010"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body));
    assert_eq!(status, 403, "a fourth metro: {answer}");
    // Known metros still open sessions, and the refusal is counted.
    api.open(&viewer, "news", "m2", 4011);
    let metrics = api.agent_get_text("/metrics");
    assert!(
        metrics.contains("groupcast_refused_total{reason=\"metro\"} 1"),
        "{metrics}"
    );
    capped.stop();

    let listed = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("metro-list"),
        admin_token: Some(ADMIN.to_string()),
        metros: vec!["paris".into(), "lyon".into()],
        ..Config::default()
    })
    .unwrap();
    let api = Api::new(&listed);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    api.open(&viewer, "news", "lyon", 4000);
    let body = json!({"channel": "news", "metro": "nice", "peer_addr": "127.0.0.1:4001"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body));
    assert_eq!(status, 403, "a metro outside the list: {answer}");
    listed.stop();

    let bad = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("metro-bad"),
        admin_token: Some(ADMIN.to_string()),
        metros: vec!["no spaces".into()],
        ..Config::default()
    });
    assert!(bad.is_err(), "a bad --metro name is refused at start");
}
