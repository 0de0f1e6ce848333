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
        (
            news.chunk_packets,
            news.buffer_ms,
            news.group_size,
            news.uplink_kbps
        ),
        (32, 1000, 5, 0),
        "defaults"
    );
    let sport = api.channel(
        "sport",
        json!({"group": "239.255.0.2:5004", "source": "10.0.0.1", "metro_groups": {"lyon": "239.255.1.2:5004"},
               "metro_sources": {"lyon": "10.1.0.1"}, "chunk_packets": 16, "buffer_ms": 1500, "group_size": 4,
               "uplink_kbps": 4000}),
    );
    assert_ne!(news.id, sport.id);
    assert_eq!(sport.source.as_deref(), Some("10.0.0.1"));
    assert_eq!(sport.uplink_kbps, 4000, "stored and read back");
    let shown: Channel = api.ok("GET", "/api/v1/channels/sport", ADMIN, None);
    assert_eq!(shown, sport);
    assert_eq!(shown.metro_groups["lyon"], "239.255.1.2:5004");
    assert_eq!(shown.metro_sources["lyon"], "10.1.0.1");

    // A session in lyon gets lyon's group from lyon's edge (SSM through the edge); one in
    // paris the default group from the central source.
    let viewer = api.viewer("v", &["sport"]);
    let lyon = api.open(&viewer, "sport", "lyon", 5000);
    assert_eq!(lyon.channel.group, "239.255.1.2:5004");
    assert_eq!(lyon.channel.source.as_deref(), Some("10.1.0.1"));
    let paris = api.open(&viewer, "sport", "paris", 5001);
    assert_eq!(paris.channel.group, "239.255.0.2:5004");
    assert_eq!(paris.channel.source.as_deref(), Some("10.0.0.1"));
    assert_eq!(paris.channel.id, sport.id);
    refuses_ssm_pairs_no_viewer_could_receive(&api);

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

/// An SSM channel whose metro group has no source of its own, a metro source without a metro
/// group, and addresses of the wrong family are refused (400), and nothing is stored.
fn refuses_ssm_pairs_no_viewer_could_receive(api: &Api) {
    let bad = [
        json!({"source": "10.0.0.1", "metro_groups": {"lyon": "239.255.1.3:5004"}}),
        json!({"metro_sources": {"lyon": "10.1.0.1"}}),
        json!({"metro_groups": {"lyon": "239.255.1.3:5004"}, "metro_sources": {"lyon": "fd00::1"}}),
        json!({"metro_groups": {"lyon": "239.255.1.3:5004"}, "metro_sources": {"lyon": "239.1.1.1"}}),
        json!({"source": "fd00::1"}),
        json!({"source": "not-an-ip"}),
    ];
    for (i, extra) in bad.into_iter().enumerate() {
        let mut spec = json!({"name": format!("bad{i}"), "group": "239.255.0.3:5004"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = api.call("POST", "/api/v1/channels", ADMIN, Some(spec.clone()));
        assert_eq!(status, 400, "{spec} -> {body}");
        let name = format!("/api/v1/channels/bad{i}");
        assert_eq!(api.call("GET", &name, ADMIN, None).0, 404, "{spec} stored");
    }
    // An any-source channel may have a source-specific metro (its edge sends SSM).
    let mixed = api.channel(
        "mixed",
        json!({"group": "239.255.0.4:5004", "metro_groups": {"lyon": "239.255.1.4:5004"},
               "metro_sources": {"lyon": "10.1.0.1"}}),
    );
    assert_eq!(mixed.source, None);
    assert_eq!(
        api.call("DELETE", "/api/v1/channels/mixed", ADMIN, None).0,
        204
    );
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
