//! Channel create, list, show and delete, with defaults and per-metro groups.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_api::Channel;
use serde_json::json;

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    let news = api.channel("news", json!({}));
    assert_eq!(
        (news.chunk_packets, news.buffer_ms, news.group_size),
        (32, 1000, 5),
        "defaults"
    );
    let sport = api.channel(
        "sport",
        json!({"group": "239.255.0.2:5004", "source": "10.0.0.1", "metro_groups": {"lyon": "239.255.1.2:5004"},
               "chunk_packets": 16, "buffer_ms": 1500, "group_size": 4}),
    );
    assert_ne!(news.id, sport.id);
    assert_eq!(sport.source.as_deref(), Some("10.0.0.1"));
    let shown: Channel = api.ok("GET", "/api/v1/channels/sport", ADMIN, None);
    assert_eq!(shown, sport);
    assert_eq!(shown.metro_groups["lyon"], "239.255.1.2:5004");

    // A session in lyon gets lyon's group; one in paris the default.
    let viewer = api.viewer("v", &["sport"]);
    let lyon = api.open(&viewer, "sport", "lyon", 5000);
    assert_eq!(lyon.channel.group, "239.255.1.2:5004");
    let paris = api.open(&viewer, "sport", "paris", 5001);
    assert_eq!(paris.channel.group, "239.255.0.2:5004");
    assert_eq!(paris.channel.id, sport.id);

    let all: Vec<Channel> = api.ok("GET", "/api/v1/channels", ADMIN, None);
    assert_eq!(all.len(), 2);
    assert_eq!(
        api.call("DELETE", "/api/v1/channels/sport", ADMIN, None).0,
        204
    );
    assert_eq!(
        api.call("GET", "/api/v1/channels/sport", ADMIN, None).0,
        404
    );
    assert_eq!(
        api.call("DELETE", "/api/v1/channels/sport", ADMIN, None).0,
        404
    );
    // Its sessions are gone with it.
    assert_eq!(api.heartbeat(&viewer, lyon.session).0, 404);
    let all: Vec<Channel> = api.ok("GET", "/api/v1/channels", ADMIN, None);
    assert_eq!(all, vec![news]);
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("channels"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("channels") {
        scenario(&url);
    }
}
