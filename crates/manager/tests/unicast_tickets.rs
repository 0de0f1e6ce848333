//! Issue 15: tickets for the unicast fallback. With a unicast secret, a session of a channel
//! with relays gets, with its open, heartbeats and group events, a ticket naming its metro's
//! relay (else the channel's) whose key is the one a relay derives for that session, channel
//! and expiry; a metro with no relay and a channel without one get none, and so does every
//! session of a manager without the secret. Relays are checked when the channel is created,
//! and a heartbeat's report of the relay feeding it shows on the session.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api, sqlite_url};
use groupcast_api::{Assignment, SessionId, UnicastTicket};
use groupcast_manager::Config;
use groupcast_wire::unicast::ticket_key;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "manager-unicast-secret-0123456789abcdef";

fn start(test: &str, secret: Option<&str>) -> groupcast_manager::Handle {
    groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: sqlite_url(test),
        admin_token: Some(ADMIN.to_string()),
        unicast_secret: secret.map(str::to_owned),
        ..Config::default()
    })
    .unwrap()
}

/// `t` names `relay`, lasts about a minute, and its key is the relays' for `session` of
/// `channel`.
fn check(t: Option<&UnicastTicket>, relay: &str, channel: &str, session: SessionId) {
    let t = t.unwrap_or_else(|| panic!("no ticket for {relay}"));
    assert_eq!(t.relay, relay);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        (now + 55_000..=now + 75_000).contains(&t.expires_ms),
        "expires {} at {now}",
        t.expires_ms
    );
    let key: String = ticket_key(SECRET.as_bytes(), channel, session, t.expires_ms)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(t.key, key);
}

#[test]
fn sessions_get_their_metros_relay_else_the_channels() {
    let m = start("unicast-tickets", Some(SECRET));
    let api = Api::new(&m);
    api.channel(
        "news",
        json!({"metro_groups": {"south": "239.255.1.1:5004"},
               "relay": "central.example.net:6100",
               "metro_relays": {"south": "198.51.100.1:6100"}}),
    );
    api.channel("sport", json!({"group": "239.255.0.2:5004"}));
    let viewer = api.viewer("v", &["news", "sport"]);
    let south = api.open(&viewer, "news", "south", 4000);
    check(
        south.assignment.unicast.as_ref(),
        "198.51.100.1:6100",
        "news",
        south.session,
    );
    let north = api.open(&viewer, "news", "north", 4001);
    check(
        north.assignment.unicast.as_ref(),
        "central.example.net:6100",
        "news",
        north.session,
    );
    let (status, beat) = api.heartbeat(&viewer, south.session);
    assert_eq!(status, 200);
    check(
        beat.unwrap().unicast.as_ref(),
        "198.51.100.1:6100",
        "news",
        south.session,
    );
    let first: Assignment = api
        .events(&viewer, north.session)
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    check(
        first.unicast.as_ref(),
        "central.example.net:6100",
        "news",
        north.session,
    );
    // A channel without relays: no ticket.
    let sport = api.open(&viewer, "sport", "south", 4002);
    assert!(sport.assignment.unicast.is_none());
    // A heartbeat naming the relay feeding the session shows on it.
    let body =
        json!({"stats": groupcast_api::ClientStats::default(), "unicast": "198.51.100.1:6100"});
    let path = format!("/api/v1/sessions/{}/heartbeat", south.session);
    assert_eq!(api.call("POST", &path, &viewer, Some(body)).0, 200);
    let (_, sessions) = api.call("GET", "/api/v1/sessions", ADMIN, None);
    let fed: Vec<_> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["unicast"] == "198.51.100.1:6100")
        .map(|s| s["session"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fed, [south.session.to_string()]);
    let text = api.metrics();
    assert!(
        text.contains("groupcast_unicast_viewers{relay=\"198.51.100.1:6100\"} 1"),
        "{text}"
    );
    // A relay the session's ticket does not name is not believed (nor shown, nor counted).
    let body = json!({"stats": groupcast_api::ClientStats::default(), "unicast": "evil\"} 9\n"});
    assert_eq!(api.call("POST", &path, &viewer, Some(body)).0, 200);
    let (_, sessions) = api.call("GET", "/api/v1/sessions", ADMIN, None);
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["unicast"].is_null()),
        "{sessions}"
    );
    let long = json!({"stats": groupcast_api::ClientStats::default(), "unicast": "x".repeat(301)});
    assert_eq!(api.call("POST", &path, &viewer, Some(long)).0, 400);
    m.stop();
}

#[test]
fn relays_are_checked_and_without_a_secret_no_ticket_is_issued() {
    let m = start("unicast-no-secret", None);
    let api = Api::new(&m);
    for (spec, why) in [
        (json!({"relay": "no-port"}), "no port"),
        (json!({"relay": "host:0"}), "port 0"),
        (json!({"relay": "bad host!:6100"}), "bad host"),
        (
            json!({"metro_relays": {"south": "198.51.100.1:6100"}}),
            "metro without a group",
        ),
    ] {
        api.refuses_channel(spec, why);
    }
    let c = api.channel("news", json!({"relay": "[2001:db8::1]:6100"}));
    assert_eq!(c.relay.as_deref(), Some("[2001:db8::1]:6100"));
    let viewer = api.viewer("v", &["news"]);
    let info = api.open(&viewer, "news", "north", 4000);
    assert!(info.assignment.unicast.is_none(), "no secret, no ticket");
    m.stop();
}
