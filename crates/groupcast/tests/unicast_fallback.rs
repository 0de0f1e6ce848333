//! The unicast fallback end to end (issue 15): viewers on a network that carries no multicast
//! (`--no-multicast` ignores every multicast datagram) get the stream by unicast from the relay
//! their manager ticket names (here the central source's `--unicast-listen`), play it byte for
//! byte, repair its losses from their group and serve the group. The manager sees which
//! sessions it feeds. Controls: the same viewer with `--unicast never` plays nothing; forged,
//! foreign and expired tickets get nothing from the relay and are counted.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::System;
use groupcast_api::SessionId;
use groupcast_wire::proto::GroupKey;
use groupcast_wire::unicast::{UnicastBody, UnicastMessage, ticket_key};
use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "unicast-secret-for-the-test-0123456789abcdef";

#[test]
fn viewers_without_multicast_play_by_unicast_repair_and_are_seen() {
    let (sys, relay) = System::with_relay("unicast", 62, SECRET);
    let source_stats = sys.dir.join("source.json");
    // Clients 0 and 1 get multicast (losing 3 %); 2 and 3 get none and lose 3 % of the unicast
    // feed; 4 gets none and may not fall back (the control).
    let no_mc = ["--no-multicast", "--multicast-wait-ms", "1000"];
    let metros = ["north", "south", "east", "west", "east"];
    let mut clients: Vec<_> = (0..2)
        .map(|i| sys.client(i, metros[i], 0.03, 13, &[]))
        .collect();
    clients.extend((2..4).map(|i| sys.client(i, metros[i], 0.03, 13, &no_mc)));
    let control = [&no_mc[..], &["--unicast", "never"]].concat();
    clients.push(sys.client(4, metros[4], 0.0, 13, &control));
    std::thread::sleep(Duration::from_millis(800));
    let source = sys.relay_source(&relay, SECRET, 14, &[]);
    // Mid-run, the manager shows which sessions the relay feeds.
    std::thread::sleep(Duration::from_secs(6));
    let (status, sessions) = common::system::call(
        "GET",
        &format!("{}/api/v1/sessions", sys.url),
        &sys.admin,
        None,
    );
    assert_eq!(status, 200);
    let fed: Vec<_> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["unicast"] == relay.as_str())
        .map(|s| s["metro"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fed.len(), 2, "sessions fed by unicast: {sessions}");
    forged_tickets_get_nothing(&relay);
    for c in clients {
        assert!(c.wait(Duration::from_secs(30)).success(), "client exit");
    }
    // Its figures once it has stopped answering (it answers for its ring's span after the end).
    assert!(
        source.wait(Duration::from_secs(10)).success(),
        "source exit"
    );
    for i in 0..4 {
        let s = sys.stats(i);
        let packets = sys
            .exact_after_clean_start(i)
            .unwrap_or_else(|e| panic!("client {i}: {e}; stats {s}"));
        assert!(packets > 5000, "client {i}: {packets} TS packets; {s}");
        assert_eq!(s["unrecovered"], 0, "client {i}: {s}");
        assert!(s["lost"].as_u64().unwrap() > 20, "client {i}: {s}");
        let starts = u64::from(i >= 2);
        assert_eq!(s["unicast_starts"], starts, "client {i}: {s}");
        if i >= 2 {
            // Fed by unicast, repaired by the group (the relay is asked only after a third
            // of the buffer), admitted after one challenge.
            assert!(
                s["unicast_received"].as_u64().unwrap() > 500,
                "client {i}: {s}"
            );
            assert!(s["repaired"].as_u64().unwrap() > 20, "client {i}: {s}");
            assert!(
                s["unicast_challenges"].as_u64().unwrap() >= 1,
                "client {i}: {s}"
            );
        }
    }
    // The members fed by unicast served their group too.
    let served: u64 = (2..4)
        .map(|i| sys.stats(i)["repairs_served"].as_u64().unwrap())
        .sum();
    assert!(served > 0, "unicast viewers serve their group");
    let control = sys.stats(4);
    assert_eq!(control["received"], 0, "control: {control}");
    assert_eq!(control["unicast_starts"], 0, "control: {control}");
    assert!(
        std::fs::metadata(sys.output(4)).map_or(0, |m| m.len()) == 0,
        "the control plays nothing"
    );
    let src = common::stats(&source_stats);
    let u = &src["unicast"];
    assert_eq!(u["joined"], 2, "source: {src}");
    assert!(
        u["bytes_sent"].as_u64().unwrap() > 2 * 1_000_000,
        "source: {src}"
    );
    assert!(u["unauthenticated"].as_u64().unwrap() >= 3, "source: {src}");
    assert!(u["expired"].as_u64().unwrap() >= 1, "source: {src}");
}

/// Sends the relay a forged ticket (wrong secret), another channel's, an expired one and
/// garbage, each many times; not one datagram comes back.
fn forged_tickets_get_nothing(relay: &str) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(relay).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let join = |secret: &str, channel: &str, expires: u64| {
        let key = GroupKey::new(&ticket_key(
            secret.as_bytes(),
            channel,
            SessionId(7),
            expires,
        ));
        let msg = UnicastMessage {
            counter: 1,
            session: SessionId(7),
            expires_ms: expires,
            nonce: [0; 16],
            body: UnicastBody::Join,
        };
        let mut buf = [0u8; 128];
        let n = msg.emit(&key, &mut buf).unwrap();
        buf[..n].to_vec()
    };
    let cases = [
        join(
            "not-the-secret-but-long-enough-0123456789",
            "demo",
            now_ms + 60_000,
        ),
        join(SECRET, "another-channel", now_ms + 60_000),
        join(SECRET, "demo", now_ms - 1),
        b"GU\x01\x01 garbage garbage garbage garbage garbage garbage garbage".to_vec(),
    ];
    for _ in 0..20 {
        for c in &cases {
            sock.send(c).unwrap();
        }
    }
    let mut buf = [0u8; 2048];
    assert!(
        sock.recv(&mut buf).is_err(),
        "the relay answered a forged, foreign or expired ticket"
    );
}
