//! Sessions get metro-diverse groups of at most k, with one key per pair of members and epoch:
//! the same on both sides of a pair, different for every other pair, group and epoch.
#![allow(clippy::unwrap_used)]

mod common;

use common::Api;
use groupcast_api::{Assignment, GroupId, SessionId};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let metros = ["paris", "lyon", "nice"];
    let mut sessions = Vec::new();
    let mut keys = HashSet::new();
    for i in 0..10u16 {
        let s = api.open(&viewer, "news", metros[i as usize % 3], 6000 + i);
        assert!(s.assignment.members.iter().any(|m| m.session == s.session));
        assert!(s.session.0 < 1 << 63);
        for m in &s.assignment.members {
            if m.session == s.session {
                assert!(m.key.is_empty(), "no key with oneself: {m:?}");
            } else {
                assert!(groupcast_api::parse_key(&m.key).is_some(), "{m:?}");
                keys.insert((s.assignment.group, s.assignment.epoch, m.key.clone()));
            }
        }
        sessions.push(s.session);
    }
    // Every session's current assignment, from its heartbeat.
    let now: BTreeMap<SessionId, Assignment> = sessions
        .iter()
        .map(|&s| (s, api.heartbeat(&viewer, s).1.unwrap()))
        .collect();
    let mut groups: BTreeMap<GroupId, &Assignment> = BTreeMap::new();
    for (s, a) in &now {
        assert!(
            a.members.iter().any(|m| m.session == *s),
            "{s} is in its own group"
        );
        let first = groups.entry(a.group).or_insert(a);
        let ids = |a: &Assignment| a.members.iter().map(|m| m.session).collect::<Vec<_>>();
        assert_eq!(
            (first.epoch, ids(first)),
            (a.epoch, ids(a)),
            "every member sees the same epoch and members"
        );
    }
    // Pair keys: X's key for Y is Y's key for X, and no other pair's.
    for (x, ax) in &now {
        let mine: Vec<&str> = ax.members.iter().map(|m| m.key.as_str()).collect();
        let distinct: HashSet<&str> = mine.iter().copied().collect();
        assert_eq!(distinct.len(), mine.len(), "one key per member: {ax:?}");
        for m in ax.members.iter().filter(|m| m.session != *x) {
            assert_eq!(
                key_for(&now[&m.session], *x),
                m.key,
                "{x} and {} share one key",
                m.session
            );
        }
    }
    let mut covered = 0;
    for a in groups.values() {
        assert!(a.members.len() <= 5 && a.members.len() >= 2, "{a:?}");
        let distinct: HashSet<&str> = a.members.iter().map(|m| m.metro.as_str()).collect();
        assert_eq!(
            distinct.len(),
            a.members.len().min(3),
            "metro-diverse: {a:?}"
        );
        assert!(
            a.members
                .iter()
                .all(|m| m.peer_addr.starts_with("127.0.0.1:"))
        );
        covered += a.members.len();
    }
    assert_eq!(covered, 10, "every session in exactly one group");
    // Keys differ across groups and epochs.
    let all_keys: HashSet<&String> = keys.iter().map(|k| &k.2).collect();
    assert_eq!(all_keys.len(), keys.len());
    let before = now[&sessions[0]].clone();
    let (status, _) = api.call(
        "DELETE",
        &format!("/api/v1/sessions/{}", sessions[1]),
        &viewer,
        None,
    );
    assert_eq!(status, 204);
    let mover = before
        .members
        .iter()
        .find(|m| m.session != sessions[1])
        .unwrap()
        .session;
    let after = api.heartbeat(&viewer, mover).1.unwrap();
    if after.group == before.group {
        assert!(after.epoch > before.epoch, "a leave bumps the epoch");
        let before = &now[&mover];
        let stayers: Vec<SessionId> = after
            .members
            .iter()
            .map(|m| m.session)
            .filter(|&s| s != mover && before.members.iter().any(|b| b.session == s))
            .collect();
        assert!(!stayers.is_empty(), "{after:?}");
        for s in stayers {
            assert_ne!(
                key_for(&after, s),
                key_for(before, s),
                "and issues fresh keys"
            );
        }
    }
    assert_eq!(
        api.heartbeat(&viewer, sessions[1]).0,
        404,
        "a closed session is gone"
    );
    // An unspecified peer IP is replaced by the caller's.
    let body = json!({"channel": "news", "metro": "paris", "peer_addr": "0.0.0.0:7000"});
    let s: groupcast_api::SessionInfo = api.ok("POST", "/api/v1/sessions", &viewer, Some(body));
    let me = s
        .assignment
        .members
        .iter()
        .find(|m| m.session == s.session)
        .unwrap();
    assert_eq!(me.peer_addr, "127.0.0.1:7000");
    m.stop();
}

/// The key assignment `a` gives for member `other` (empty if it is not listed).
fn key_for(a: &Assignment, other: SessionId) -> String {
    let m = a.members.iter().find(|m| m.session == other);
    m.map(|m| m.key.clone()).unwrap_or_default()
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("groups"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("groups") {
        scenario(&url);
    }
}
