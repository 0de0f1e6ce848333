//! Backups (issue 12's second tier): every session of a channel with more than one group gets
//! members of the neighbouring groups, in other metros, as backups; each pair holds one key
//! and one epoch, the same on both sides, which change whenever either group changes; a
//! session's SSE stream says so when only its backups changed; channels are paired apart.
#![allow(clippy::unwrap_used)]

mod common;

use common::Api;
use groupcast_api::{Assignment, SessionId};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let metros = ["paris", "lyon", "nice"];
    let sessions: Vec<SessionId> = (0..15u16)
        .map(|i| {
            api.open(&viewer, "news", metros[i as usize % 3], 6000 + i)
                .session
        })
        .collect();
    let now: BTreeMap<SessionId, Assignment> = sessions
        .iter()
        .map(|&s| (s, api.heartbeat(&viewer, s).1.unwrap()))
        .collect();
    let groups: std::collections::BTreeSet<_> = now.values().map(|a| a.group).collect();
    assert_eq!(groups.len(), 3, "15 viewers, groups of 5");
    for (s, a) in &now {
        let metro = &a.members.iter().find(|m| m.session == *s).unwrap().metro;
        assert!(!a.backups.is_empty(), "{s} has no backup: {a:?}");
        for b in &a.backups {
            let theirs = &now[&b.session];
            assert_ne!(theirs.group, a.group, "a backup is in another group");
            assert_ne!(&b.metro, metro, "and in another metro");
            assert!(groupcast_api::parse_key(&b.key).is_some(), "{b:?}");
            // Symmetric: the backup lists us, with the same key and epoch.
            let back = theirs.backups.iter().find(|x| x.session == *s);
            let back = back.unwrap_or_else(|| panic!("{} does not list {s}", b.session));
            assert_eq!((&back.key, back.epoch), (&b.key, b.epoch));
            assert!(b.peer_addr.starts_with("127.0.0.1:"));
        }
    }
    // Another channel's groups are paired apart: its joins change none of these backups.
    api.channel("sport", json!({}));
    let fan = api.viewer("f", &["sport"]);
    for i in 0..10u16 {
        api.open(&fan, "sport", metros[i as usize % 3], 6100 + i);
    }
    for (s, a) in &now {
        let again = api.heartbeat(&viewer, *s).1.unwrap();
        assert_eq!(
            again.backups, a.backups,
            "{s}'s backups moved with another channel"
        );
    }
    // A leave changes one group: its members' backups get new keys, and a session whose
    // group did not change but whose backups did hears of it on its event stream.
    let leaver = sessions[0];
    let group = now[&leaver].group;
    let (watcher, old) = now
        .iter()
        .find(|(_, a)| a.group != group && a.backups.iter().any(|b| now[&b.session].group == group))
        .map(|(s, a)| (*s, a.clone()))
        .unwrap();
    let events = api.events(&viewer, watcher);
    let first = events.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.backups, old.backups);
    let (status, _) = api.call(
        "DELETE",
        &format!("/api/v1/sessions/{leaver}"),
        &viewer,
        None,
    );
    assert_eq!(status, 204);
    let next = events.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (next.group, next.epoch),
        (old.group, old.epoch),
        "same group"
    );
    assert_ne!(next.backups, old.backups, "new backups or keys");
    for b in next.backups.iter().filter(|b| b.session != leaver) {
        let was = old.backups.iter().find(|o| o.session == b.session);
        if let Some(was) = was.filter(|_| now[&b.session].group == group) {
            assert_ne!(was.key, b.key, "the changed group's pairs are re-keyed");
        }
    }
    assert!(next.backups.iter().all(|b| b.session != leaver));
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("backups"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("backups") {
        scenario(&url);
    }
}

/// `--backups 0`: no backups, and assignments look as they did before the tier.
#[test]
fn none_when_turned_off() {
    let m = groupcast_manager::start_in_thread(groupcast_manager::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("backups-off"),
        admin_token: Some(common::ADMIN.to_string()),
        backups: 0,
        ..groupcast_manager::Config::default()
    })
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let metros = ["paris", "lyon", "nice"];
    for i in 0..12u16 {
        let s = api.open(&viewer, "news", metros[i as usize % 3], 6000 + i);
        assert!(s.assignment.backups.is_empty());
    }
    m.stop();
}
