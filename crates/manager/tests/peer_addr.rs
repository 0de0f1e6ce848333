//! Issue 13, finding 2: `POST /api/v1/sessions` accepts only a unicast `peer_addr`, and only
//! the caller's own IP unless the caller is in an operator-configured network. Each address
//! below was accepted with 201 before the fix (members then sent to it).
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_manager::Config;
use serde_json::json;

fn open(api: &Api, token: &str, peer: &str) -> (u16, serde_json::Value) {
    let body = json!({"channel": "news", "metro": "paris", "peer_addr": peer});
    api.call("POST", "/api/v1/sessions", token, Some(body))
}

#[test]
fn only_the_callers_own_unicast_address() {
    let m = common::start(&common::sqlite_url("peer_addr"));
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("alice", &["news"]);
    let refused = [
        ("8.8.8.8:53", 403),
        ("192.168.1.255:9", 403),
        ("127.0.0.2:4000", 403),
        ("255.255.255.255:9", 400),
        ("224.0.0.1:5004", 400),
        ("239.255.0.1:5004", 400),
        ("[ff02::1]:9", 400),
        ("127.0.0.1:0", 400),
    ];
    for (peer, want) in refused {
        let (status, body) = open(&api, &viewer, peer);
        assert_eq!(status, want, "{peer}: {body}");
        assert!(body["error"].as_str().unwrap().contains("peer_addr"));
    }
    assert_eq!(open(&api, &viewer, "127.0.0.1:4000").0, 201);
    let (status, body) = open(&api, &viewer, "0.0.0.0:4001");
    assert_eq!(status, 201);
    let me = body["assignment"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["session"] == body["session"])
        .cloned()
        .unwrap();
    assert_eq!(me["peer_addr"], "127.0.0.1:4001");
    // Admins are held to the same rule; refusals are counted.
    assert_eq!(open(&api, ADMIN, "8.8.8.8:53").0, 403);
    let metrics = api.metrics();
    let line = "groupcast_refused_total{reason=\"peer_addr\"} 9";
    assert!(metrics.contains(line), "{metrics}");
    m.stop();
}

#[test]
fn operator_configured_networks_may_name_another_address() {
    let m = groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url("peer_addr_from"),
        admin_token: Some(ADMIN.to_string()),
        peer_addr_from: vec!["127.0.0.0/8".parse().unwrap()],
        ..Config::default()
    })
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("alice", &["news"]);
    assert_eq!(open(&api, &viewer, "203.0.113.7:4000").0, 201);
    // Still unicast only.
    assert_eq!(open(&api, &viewer, "224.0.0.1:5004").0, 400);
    assert_eq!(open(&api, &viewer, "255.255.255.255:9").0, 400);
    m.stop();
}
