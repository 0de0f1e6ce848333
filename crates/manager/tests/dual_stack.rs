//! Issue 15: a dual-stack channel (an IPv4 group and an IPv6 one). A viewer whose peer address
//! is IPv6 is handed the IPv6 group (and its SSM source), an IPv4 one the IPv4 group; IPv4 and
//! IPv6 viewers are never in one repair group (they could not reach each other), also after a
//! restart that rebuilds the groups from the database. Bad specs are refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api, sqlite_url};
use groupcast_api::SessionInfo;
use groupcast_manager::Config;
use serde_json::json;
use std::net::SocketAddr;

fn start(db: &str) -> groupcast_manager::Handle {
    groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: db.to_owned(),
        admin_token: Some(ADMIN.to_string()),
        // The test names IPv6 peers from an IPv4 connection.
        peer_addr_from: vec!["0.0.0.0/0".parse().unwrap()],
        ..Config::default()
    })
    .unwrap()
}

fn open(api: &Api, token: &str, metro: &str, peer: &str) -> SessionInfo {
    let body = json!({"channel": "news", "metro": metro, "peer_addr": peer});
    let (status, v) = api.call("POST", "/api/v1/sessions", token, Some(body));
    assert_eq!(status, 201, "{v}");
    serde_json::from_value(v).unwrap()
}

/// Every member of `info`'s group has a peer address of `info`'s own family.
fn one_family(api: &Api, info: &SessionInfo, token: &str, v6: bool) {
    let (status, beat) = api.heartbeat(token, info.session);
    assert_eq!(status, 200);
    let a = beat.unwrap();
    assert!(!a.members.is_empty());
    for m in &a.members {
        let addr: SocketAddr = m.peer_addr.parse().unwrap();
        assert_eq!(
            addr.is_ipv6(),
            v6,
            "group {} mixes families: {:?}",
            a.group.0,
            a.members
        );
    }
    assert_eq!(
        (a.group.0 & 0xffff_ffff) >= 1 << 31,
        v6,
        "group id {}",
        a.group.0
    );
}

#[test]
fn each_viewer_gets_its_familys_group_and_families_are_grouped_apart() {
    let db = sqlite_url("dual-stack");
    let m = start(&db);
    let api = Api::new(&m);
    for (spec, why) in [
        (json!({"group6": "239.255.0.9:5004"}), "group6 not IPv6"),
        (
            json!({"group": "[ff3e::1]:5004", "group6": "[ff3e::2]:5004"}),
            "group not IPv4",
        ),
        (json!({"source6": "2001:db8::1"}), "source6 without group6"),
        (
            json!({"group6": "[ff3e::2]:5004", "source6": "192.0.2.1"}),
            "source6 not IPv6",
        ),
    ] {
        api.refuses_channel(spec, why);
    }
    api.channel(
        "news",
        json!({"group6": "[ff3e::4242]:5004", "source6": "2001:db8::1"}),
    );
    let viewer = api.viewer("v", &["news"]);
    let metros = ["north", "south", "east"];
    let mut sessions = Vec::new();
    for i in 0..14u16 {
        let v6 = i % 2 == 1;
        let peer = if v6 {
            format!("[2001:db8::{}]:{}", i + 10, 4000 + i)
        } else {
            format!("192.0.2.{}:{}", i + 10, 4000 + i)
        };
        let info = open(&api, &viewer, metros[usize::from(i) % 3], &peer);
        if v6 {
            assert_eq!(info.channel.group, "[ff3e::4242]:5004");
            assert_eq!(info.channel.source.as_deref(), Some("2001:db8::1"));
        } else {
            assert_eq!(info.channel.group, "239.255.0.1:5004");
            assert_eq!(info.channel.source, None);
        }
        sessions.push((info, v6));
    }
    for (info, v6) in &sessions {
        one_family(&api, info, &viewer, *v6);
    }
    // A restart rebuilds both groupings from the database; joins and leaves keep them apart.
    m.stop();
    let m = start(&db);
    let api = Api::new(&m);
    for (info, _) in sessions.iter().take(4) {
        let path = format!("/api/v1/sessions/{}", info.session);
        assert_eq!(api.call("DELETE", &path, &viewer, None).0, 204);
    }
    for i in 0..4u16 {
        let peer = format!("[2001:db8::{}]:{}", i + 50, 5000 + i);
        sessions.push((open(&api, &viewer, metros[usize::from(i) % 3], &peer), true));
    }
    for (info, v6) in sessions.iter().skip(4) {
        one_family(&api, info, &viewer, *v6);
    }
    m.stop();
}
