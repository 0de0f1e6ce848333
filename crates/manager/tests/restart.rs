//! State survives a manager restart: sessions keep their group, heartbeats keep working, and
//! nobody is expired for the time the manager was away.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use serde_json::json;
use std::time::Duration;

fn scenario(url: &str) {
    let m = common::start_with(url, 100, 1000);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let sessions: Vec<_> = ["paris", "lyon", "nice"]
        .iter()
        .enumerate()
        .map(|(i, metro)| api.open(&viewer, "news", metro, 9000 + i as u16).session)
        .collect();
    let before: Vec<_> = sessions
        .iter()
        .map(|&s| api.heartbeat(&viewer, s).1.unwrap())
        .collect();
    m.stop();
    // Down for longer than the session timeout.
    std::thread::sleep(Duration::from_millis(1500));

    let m = common::start_with(url, 100, 1000);
    assert_eq!(m.admin_token(), None, "the admin exists already");
    let api = Api::new(&m);
    // Past the start-up grace period and one more timeout: re-attached sessions stay.
    for _ in 0..25 {
        for (&s, before) in sessions.iter().zip(&before) {
            let (status, a) = api.heartbeat(&viewer, s);
            assert_eq!(status, 200, "session {s} re-attached");
            assert_eq!(&a.unwrap(), before, "same group, epoch and keys");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed: Vec<groupcast_api::SessionView> = api.ok("GET", "/api/v1/sessions", ADMIN, None);
    assert_eq!(listed.len(), 3);
    // A new viewer joins the very same group.
    let fourth = api.open(&viewer, "news", "lille", 9004);
    assert_eq!(fourth.assignment.group, before[0].group);
    assert_eq!(fourth.assignment.members.len(), 4);
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("restart"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("restart") {
        scenario(&url);
    }
}
