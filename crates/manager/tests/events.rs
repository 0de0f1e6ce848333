//! Members learn of group changes by SSE within a second: at once on connect, then when a
//! member joins and when one leaves.
#![allow(clippy::unwrap_used)]

mod common;

use common::Api;
use serde_json::json;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(1);

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let first = api.open(&viewer, "news", "paris", 7000);
    let events = api.events(&viewer, first.session);
    let now = events
        .recv_timeout(SOON)
        .expect("the assignment at once on connect");
    assert_eq!(now, first.assignment);

    let second = api.open(&viewer, "news", "lyon", 7001);
    let joined = events
        .recv_timeout(SOON)
        .expect("an event when a member joins");
    assert_eq!(joined.group, first.assignment.group);
    assert!(joined.epoch > first.assignment.epoch);
    let added = joined
        .members
        .iter()
        .find(|m| m.session == second.session && m.metro == "lyon")
        .expect("the new member is listed");
    assert!(
        groupcast_api::parse_key(&added.key).is_some(),
        "with the key the two share"
    );
    let theirs = second
        .assignment
        .members
        .iter()
        .find(|m| m.session == first.session);
    assert_eq!(
        theirs.map(|m| &m.key),
        Some(&added.key),
        "the same on both sides"
    );

    let third = api.open(&viewer, "news", "nice", 7002);
    let _ = events.recv_timeout(SOON).expect("another join");
    let (status, _) = api.call(
        "DELETE",
        &format!("/api/v1/sessions/{}", third.session),
        &viewer,
        None,
    );
    assert_eq!(status, 204);
    let left = events
        .recv_timeout(SOON)
        .expect("an event when a member leaves");
    assert!(left.members.iter().all(|m| m.session != third.session));
    assert_eq!(left.members.len(), 2);
    assert!(
        events.recv_timeout(Duration::from_millis(300)).is_err(),
        "no event without a change"
    );

    // The stream ends with the session.
    let (status, _) = api.call(
        "DELETE",
        &format!("/api/v1/sessions/{}", first.session),
        &viewer,
        None,
    );
    assert_eq!(status, 204);
    assert!(matches!(
        events.recv_timeout(SOON),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    ));
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("events"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("events") {
        scenario(&url);
    }
}
