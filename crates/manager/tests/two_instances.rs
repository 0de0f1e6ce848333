//! Two manager instances on one database: concurrent joins through both give consistent
//! groups (every session in exactly one group, none over k, both instances agree), and a
//! change made through one instance reaches SSE streams held by the other within a second.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_api::{Assignment, GroupId, SessionId, SessionView};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const K: usize = 4;

fn scenario(url: &str) {
    let a = common::start(url);
    let b = common::start(url);
    let apis = [Api::new(&a), Api::new(&b)];
    apis[0].channel("news", json!({"group_size": K}));
    let viewer = apis[0].viewer("v", &["news"]);
    let metros = ["paris", "lyon", "nice", "lille", "brest"];

    // 4 threads, each opening 12 sessions, alternating between the instances.
    let sessions: Vec<SessionId> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u16)
            .map(|t| {
                let (apis, viewer) = (&apis, &viewer);
                scope.spawn(move || {
                    (0..12u16)
                        .map(|i| {
                            let n = t * 12 + i;
                            let api = &apis[usize::from(n % 2)];
                            api.open(viewer, "news", metros[usize::from(n) % 5], 10_000 + n)
                                .session
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(sessions.len(), 48);
    assert_eq!(sessions.iter().collect::<HashSet<_>>().len(), 48);

    // Give polling a moment, then ask both instances about every session.
    std::thread::sleep(Duration::from_millis(600));
    let mut groups: BTreeMap<GroupId, Assignment> = BTreeMap::new();
    for &s in &sessions {
        let through_a = apis[0].heartbeat(&viewer, s).1.unwrap();
        let through_b = apis[1].heartbeat(&viewer, s).1.unwrap();
        assert_eq!(
            through_a, through_b,
            "both instances agree on session {s}'s group and keys"
        );
        assert!(through_a.members.iter().any(|m| m.session == s));
        let first = groups
            .entry(through_a.group)
            .or_insert_with(|| through_a.clone());
        let ids = |a: &Assignment| a.members.iter().map(|m| m.session).collect::<Vec<_>>();
        assert_eq!(
            (first.epoch, ids(first)),
            (through_a.epoch, ids(&through_a)),
            "one epoch and member list per group"
        );
    }
    let mut seen = HashSet::new();
    for g in groups.values() {
        assert!(g.members.len() <= K && g.members.len() >= 2, "{g:?}");
        for m in &g.members {
            assert!(
                seen.insert(m.session),
                "session {} in two groups",
                m.session
            );
        }
    }
    assert_eq!(seen.len(), 48, "every session in exactly one group");
    let stored: Vec<SessionView> = apis[1].ok("GET", "/api/v1/sessions", ADMIN, None);
    assert_eq!(stored.len(), 48);
    for view in &stored {
        assert_eq!(groups[&view.group].epoch, view.epoch, "the database agrees");
    }

    // A leave through B reaches an SSE stream held by A.
    let watched = sessions[0];
    let events = apis[0].events(&viewer, watched);
    let now = events.recv_timeout(Duration::from_secs(1)).unwrap();
    let other = now
        .members
        .iter()
        .find(|m| m.session != watched)
        .unwrap()
        .session;
    let (status, body) = apis[1].call(
        "DELETE",
        &format!("/api/v1/sessions/{other}"),
        &viewer,
        None,
    );
    assert_eq!(status, 204, "{body}");
    let changed = events
        .recv_timeout(Duration::from_secs(1))
        .expect("pushed across instances");
    assert!(changed.members.iter().all(|m| m.session != other));
    assert!(changed.epoch > now.epoch || changed.group != now.group);
    assert_eq!(
        apis[0].heartbeat(&viewer, other).0,
        404,
        "A knows it is gone"
    );
    a.stop();
    b.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("two_instances"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("two_instances") {
        scenario(&url);
    }
}
