//! Sessions that do not repair (`"repair": false`, a client's `--no-repair`) get a group of
//! their own: they take no place in a repair group, are nobody's backup, keep their group of
//! one across a restart, and leave like any other session.
#![allow(clippy::unwrap_used)]

mod common;

use common::Api;
use groupcast_api::{Assignment, SessionId, SessionInfo};
use serde_json::json;
use std::collections::BTreeMap;

/// Opens a session that does not repair.
fn probe(api: &Api, token: &str, metro: &str, port: u16) -> SessionInfo {
    let body = json!({"channel": "news", "metro": metro,
        "peer_addr": format!("127.0.0.1:{port}"), "repair": false});
    api.ok("POST", "/api/v1/sessions", token, Some(body))
}

/// Every session's assignment now.
fn assignments(api: &Api, token: &str, all: &[SessionId]) -> BTreeMap<SessionId, Assignment> {
    all.iter()
        .map(|&s| (s, api.heartbeat(token, s).1.unwrap()))
        .collect()
}

/// The probes are alone in their groups; the viewers' groups and backups never name them.
fn check(now: &BTreeMap<SessionId, Assignment>, probes: &[SessionId], viewers: &[SessionId]) {
    for p in probes {
        let a = &now[p];
        let alone: Vec<_> = a.members.iter().map(|m| m.session).collect();
        assert_eq!(alone, vec![*p], "a probe is alone in its group: {a:?}");
        assert!(a.backups.is_empty(), "a probe has no backups: {a:?}");
    }
    for v in viewers {
        let a = &now[v];
        assert!(a.members.len() >= 2, "viewers share groups: {a:?}");
        let named = a.members.iter().map(|m| m.session);
        let named: Vec<_> = named.chain(a.backups.iter().map(|b| b.session)).collect();
        assert!(
            probes.iter().all(|p| !named.contains(p)),
            "{v} is grouped or backed up with a probe: {a:?}"
        );
        assert!(
            !a.backups.is_empty(),
            "two groups of viewers back each other up"
        );
    }
}

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let token = api.viewer("v", &["news"]);
    let metros = ["paris", "lyon", "nice"];
    let (mut viewers, mut probes) = (Vec::new(), Vec::new());
    for i in 0..8u16 {
        let metro = metros[usize::from(i) % 3];
        // Probes join between viewers, where a viewer's group has room.
        if i % 3 == 1 {
            probes.push(probe(&api, &token, metro, 7100 + i).session);
        }
        viewers.push(api.open(&token, "news", metro, 7000 + i).session);
    }
    let all: Vec<SessionId> = viewers.iter().chain(&probes).copied().collect();
    let now = assignments(&api, &token, &all);
    check(&now, &probes, &viewers);
    let groups: std::collections::BTreeSet<_> = viewers.iter().map(|v| now[v].group).collect();
    assert_eq!(groups.len(), 2, "8 viewers in groups of at most 5");
    m.stop();

    // After a restart, the groups are rebuilt from the rows: probes stay alone, and a new
    // viewer joins a viewers' group, not a probe's.
    let m = common::start(url);
    let api = Api::new(&m);
    let again = assignments(&api, &token, &all);
    assert_eq!(again, now, "same groups, epochs and keys after a restart");
    let ninth = api.open(&token, "news", "lille", 7050).session;
    viewers.push(ninth);
    let all: Vec<SessionId> = viewers.iter().chain(&probes).copied().collect();
    check(&assignments(&api, &token, &all), &probes, &viewers);

    // A probe leaves: its group is gone, and no viewer's group changed for it.
    let before = assignments(&api, &token, &viewers);
    let gone = probes.remove(0);
    let path = format!("/api/v1/sessions/{gone}");
    assert_eq!(api.call("DELETE", &path, &token, None).0, 204);
    assert_eq!(
        api.heartbeat(&token, gone).0,
        404,
        "the probe's session ended"
    );
    let after = assignments(&api, &token, &viewers);
    assert_eq!(after, before, "a probe's leave changes no viewer's group");
    let all: Vec<SessionId> = viewers.iter().chain(&probes).copied().collect();
    check(&assignments(&api, &token, &all), &probes, &viewers);
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("solo"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("solo") {
        scenario(&url);
    }
}
