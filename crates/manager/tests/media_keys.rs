//! Issue 13, finding 8: media keys go to entitled sessions only. With a media secret, a
//! session's open, heartbeats and group events carry its channel's keys for the periods before,
//! at and after now, which are the keys a source with the same secret derives; another
//! channel's sessions get other keys; a viewer not entitled gets nothing, and a revoked one
//! stops getting them. Without a secret no keys are handed out.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api, sqlite_url};
use groupcast_api::{Assignment, MediaKeyInfo};
use groupcast_manager::Config;
use groupcast_wire::scramble::media_key;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "manager-media-secret-0123456789abcdef";

fn start(test: &str, secret: Option<&str>) -> groupcast_manager::Handle {
    groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: sqlite_url(test),
        admin_token: Some(ADMIN.to_string()),
        media_secret: secret.map(str::to_owned),
        media_key_period_ms: 30_000,
        ..Config::default()
    })
    .unwrap()
}

/// Checks `keys` are `channel`'s keys for the periods around now.
fn check(keys: &[MediaKeyInfo], channel: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let indexes: Vec<u64> = keys.iter().map(|k| k.index).collect();
    let current = now / 30_000;
    assert!(
        indexes == [current - 1, current, current + 1]
            || indexes == [current - 2, current - 1, current],
        "{indexes:?} around {current}"
    );
    for k in keys {
        assert_eq!(k.period_ms, 30_000);
        let want: String = media_key(SECRET.as_bytes(), channel, k.index)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(k.key, want, "{channel} period {}", k.index);
    }
}

#[test]
fn entitled_sessions_get_their_channels_keys_and_nobody_else_does() {
    let m = start("media-keys", Some(SECRET));
    let api = Api::new(&m);
    api.channel("news", json!({}));
    api.channel("sport", json!({"group": "239.255.0.2:5004"}));
    let viewer = api.viewer("v", &["news"]);
    let other = api.viewer("w", &["sport"]);
    let info = api.open(&viewer, "news", "paris", 4000);
    check(&info.assignment.media_keys, "news");
    let (status, beat) = api.heartbeat(&viewer, info.session);
    assert_eq!(status, 200);
    check(&beat.unwrap().media_keys, "news");
    let first: Assignment = api
        .events(&viewer, info.session)
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    check(&first.media_keys, "news");
    let sport = api.open(&other, "sport", "paris", 4001);
    check(&sport.assignment.media_keys, "sport");
    assert_ne!(
        sport.assignment.media_keys[1].key,
        info.assignment.media_keys[1].key
    );
    // Not entitled: no session, so no key.
    let body = json!({"channel": "sport", "metro": "paris", "peer_addr": "127.0.0.1:4002"});
    let (status, v) = api.call("POST", "/api/v1/sessions", &viewer, Some(body));
    assert_eq!(status, 404, "{v}");
    assert!(v.get("assignment").is_none());
    // Revoked: the session ends and its heartbeats carry no keys any more.
    let path = "/api/v1/users/v/channels/news";
    assert_eq!(api.call("DELETE", path, ADMIN, None).0, 204);
    let (status, beat) = api.heartbeat(&viewer, info.session);
    assert_ne!(status, 200);
    assert!(beat.is_none());
    m.stop();
}

#[test]
fn without_a_media_secret_no_keys_are_handed_out() {
    let m = start("media-keys-none", None);
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let info = api.open(&viewer, "news", "paris", 4000);
    assert!(info.assignment.media_keys.is_empty());
    let (_, v) = api.call(
        "POST",
        &format!("/api/v1/sessions/{}/heartbeat", info.session),
        &viewer,
        Some(json!({"stats": groupcast_api::ClientStats::default()})),
    );
    assert!(v.get("media_keys").is_none(), "{v}");
    m.stop();
}

#[test]
fn a_short_media_secret_or_period_stops_the_start() {
    let short = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: sqlite_url("media-short"),
        admin_token: Some(ADMIN.to_string()),
        media_secret: Some("short".into()),
        ..Config::default()
    });
    let err = short.err().expect("a short secret is refused").to_string();
    assert!(err.contains("media secret"), "{err}");
    let brief = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: sqlite_url("media-brief"),
        admin_token: Some(ADMIN.to_string()),
        media_secret: Some(SECRET.into()),
        media_key_period_ms: 500,
        ..Config::default()
    });
    let err = brief
        .err()
        .expect("a sub-10 s period is refused")
        .to_string();
    assert!(err.contains("period"), "{err}");
}
