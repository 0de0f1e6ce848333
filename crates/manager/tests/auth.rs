//! Tokens, roles and entitlements, and clear 4xx JSON errors for bad input.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use serde_json::json;

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    api.channel("sport", json!({}));
    let viewer = api.viewer("alice", &["news"]);

    // No token, a wrong token: 401 with a JSON error.
    let (status, body) = api.call("GET", "/api/v1/me", "", None);
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"));
    assert_eq!(api.call("GET", "/api/v1/me", "nope", None).0, 401);

    // A viewer is not an admin.
    let me: groupcast_api::User = api.ok("GET", "/api/v1/me", &viewer, None);
    assert_eq!(
        (me.name.as_str(), me.channels),
        ("alice", vec!["news".to_string()])
    );
    assert_eq!(api.call("GET", "/api/v1/users", &viewer, None).0, 403);
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/channels",
            &viewer,
            Some(json!({"name": "x", "group": "239.1.1.1:5000"}))
        )
        .0,
        403
    );
    assert_eq!(api.call("GET", "/api/v1/overview", &viewer, None).0, 403);

    // It sees and may watch only its channels.
    let seen: Vec<groupcast_api::Channel> = api.ok("GET", "/api/v1/channels", &viewer, None);
    assert_eq!(
        seen.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["news"]
    );
    // A channel it may not watch looks like one that does not exist.
    let (status, not_entitled) = api.call("GET", "/api/v1/channels/sport", &viewer, None);
    let (_, missing) = api.call("GET", "/api/v1/channels/nothing", &viewer, None);
    assert_eq!(status, 404);
    assert_eq!(
        not_entitled["error"]
            .as_str()
            .unwrap()
            .replace("sport", "X"),
        missing["error"].as_str().unwrap().replace("nothing", "X")
    );
    let open = |channel: &str| {
        api.call(
            "POST",
            "/api/v1/sessions",
            &viewer,
            Some(json!({"channel": channel, "metro": "paris", "peer_addr": "127.0.0.1:4000"})),
        )
    };
    assert_eq!(open("sport").0, 404);
    assert_eq!(open("news").0, 201);

    // Grant and revoke take effect at once on this instance.
    assert_eq!(
        api.call("PUT", "/api/v1/users/alice/channels/sport", ADMIN, None)
            .0,
        204
    );
    let (status, watching) = open("sport");
    assert_eq!(status, 201);
    assert_eq!(
        api.call("DELETE", "/api/v1/users/alice/channels/sport", ADMIN, None)
            .0,
        204
    );
    let watching: groupcast_api::SessionId =
        serde_json::from_value(watching["session"].clone()).unwrap();
    assert_eq!(
        api.heartbeat(&viewer, watching).0,
        404,
        "revoking ends the session"
    );
    assert_eq!(open("sport").0, 404);

    // Another viewer cannot use alice's session.
    let bob = api.viewer("bob", &["news"]);
    let s = api.open(&viewer, "news", "lyon", 4001);
    assert_eq!(api.heartbeat(&bob, s.session).0, 403);
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/sessions/{}", s.session),
            &bob,
            None
        )
        .0,
        403
    );

    // Bad input: JSON errors with 4xx, never a 5xx.
    let bad = [
        (
            "POST",
            "/api/v1/channels",
            json!({"name": "bad name", "group": "239.1.1.1:5000"}),
            400,
        ),
        (
            "POST",
            "/api/v1/channels",
            json!({"name": "c", "group": "10.0.0.1:5000"}),
            400,
        ),
        (
            "POST",
            "/api/v1/channels",
            json!({"name": "c", "group": "239.1.1.1:5000", "group_size": 99}),
            400,
        ),
        (
            "POST",
            "/api/v1/channels",
            json!({"name": "news", "group": "239.1.1.1:5000"}),
            409,
        ),
        (
            "POST",
            "/api/v1/channels",
            json!({"group": "239.1.1.1:5000"}),
            422,
        ),
        (
            "POST",
            "/api/v1/users",
            json!({"name": "alice", "role": "viewer"}),
            409,
        ),
        (
            "POST",
            "/api/v1/users",
            json!({"name": "carol", "role": "king"}),
            422,
        ),
        (
            "POST",
            "/api/v1/users",
            json!({"name": "carol", "role": "viewer", "channels": ["nope"]}),
            400,
        ),
        (
            "POST",
            "/api/v1/sessions",
            json!({"channel": "news", "metro": "paris", "peer_addr": "nowhere"}),
            400,
        ),
        (
            "POST",
            "/api/v1/sessions",
            json!({"channel": "nope", "metro": "paris", "peer_addr": "127.0.0.1:1"}),
            404,
        ),
        (
            "POST",
            "/api/v1/sessions/abc/heartbeat",
            json!({"stats": groupcast_api::ClientStats::default()}),
            400,
        ),
        (
            "POST",
            "/api/v1/sessions/1/heartbeat",
            json!({"stats": {}}),
            422,
        ),
        (
            "POST",
            "/api/v1/sessions/12345/heartbeat",
            json!({"stats": groupcast_api::ClientStats::default()}),
            404,
        ),
        ("POST", "/api/v1/nothing", json!({}), 404),
    ];
    for (method, path, body, want) in bad {
        let (status, answer) = api.call(method, path, ADMIN, Some(body.clone()));
        assert_eq!(status, want, "{method} {path} {body}: {answer}");
        assert!(
            answer["error"].is_string(),
            "{method} {path}: JSON error body, got {answer}"
        );
    }
    // Not JSON at all, and too large.
    let (status, answer) = api.call("POST", "/api/v1/users", ADMIN, Some(json!("just a string")));
    assert_eq!(status, 422, "{answer}");
    let huge = json!({"name": "x".repeat(100_000), "role": "viewer"});
    assert_eq!(api.call("POST", "/api/v1/users", ADMIN, Some(huge)).0, 413);

    // Deleting a user ends its sessions and invalidates its token.
    assert_eq!(
        api.call("DELETE", "/api/v1/users/alice", ADMIN, None).0,
        204
    );
    assert_eq!(api.call("GET", "/api/v1/me", &viewer, None).0, 401);
    assert_eq!(api.heartbeat(&bob, s.session).0, 404);
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("auth"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("auth") {
        scenario(&url);
    }
}

/// `/metrics` names metros and audiences: only admins and the operator's scrape token read it
/// (issue 13, finding 7); the scrape token opens nothing else.
#[test]
fn metrics_needs_an_admin_or_the_scrape_token() {
    const SCRAPE: &str = "scrape-token-0123456789abcdef0123";
    let m = groupcast_manager::start_in_thread(groupcast_manager::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("auth-metrics"),
        admin_token: Some(ADMIN.to_string()),
        metrics_token: Some(SCRAPE.to_string()),
        ..groupcast_manager::Config::default()
    })
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("alice", &["news"]);
    let (status, body) = api.call("GET", "/metrics", "", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(api.call("GET", "/metrics", "wrong", None).0, 401);
    assert_eq!(api.call("GET", "/metrics", &viewer, None).0, 403);
    assert_eq!(api.call("GET", "/metrics", ADMIN, None).0, 200);
    assert_eq!(api.call("GET", "/metrics", SCRAPE, None).0, 200);
    assert!(api.metrics().contains("groupcast_live_sessions"));
    assert_eq!(api.call("GET", "/api/v1/me", SCRAPE, None).0, 401);
    assert_eq!(api.call("GET", "/api/v1/overview", SCRAPE, None).0, 401);
    m.stop();

    let short = groupcast_manager::start_in_thread(groupcast_manager::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("auth-metrics-short"),
        admin_token: Some(ADMIN.to_string()),
        metrics_token: Some("short".into()),
        ..groupcast_manager::Config::default()
    });
    let err = short
        .err()
        .expect("a short scrape token stops the start")
        .to_string();
    assert!(err.contains("GROUPCAST_METRICS_TOKEN"), "{err}");
}
