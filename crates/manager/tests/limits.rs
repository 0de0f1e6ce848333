//! Issue 13, finding 5 (in part): an operator-configured cap of sessions per user, and a cap
//! of SSE streams per session (before: 1,000 sessions for one user in 2.4 s, 3,000 streams on
//! one session).
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use groupcast_manager::{Config, Error, Handle};
use serde_json::json;

/// A manager on a fresh SQLite database named after `test`, with the admin and `config`'s caps.
fn start(test: &str, config: Config) -> Result<Handle, Error> {
    groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: common::sqlite_url(test),
        admin_token: Some(ADMIN.to_string()),
        ..config
    })
}

#[test]
fn sessions_per_user_and_streams_per_session_are_capped() {
    let m = start(
        "limits",
        Config {
            max_sessions_per_user: Some(3),
            max_streams_per_session: 2,
            ..Config::default()
        },
    )
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let sessions: Vec<_> = (0..3)
        .map(|i| api.open(&viewer, "news", "paris", 4000 + i).session)
        .collect();
    let body = json!({"channel": "news", "metro": "paris", "peer_addr": "127.0.0.1:4010"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body.clone()));
    assert_eq!(status, 429, "{answer}");
    // Closing one frees a place.
    let path = format!("/api/v1/sessions/{}", sessions[0]);
    assert_eq!(api.call("DELETE", &path, &viewer, None).0, 204);
    assert_eq!(
        api.call("POST", "/api/v1/sessions", &viewer, Some(body)).0,
        201
    );

    let s = sessions[1];
    let streams = [api.events(&viewer, s), api.events(&viewer, s)];
    let path = format!("/api/v1/sessions/{s}/events");
    let (status, answer) = api.call("GET", &path, &viewer, None);
    assert_eq!(status, 429, "{answer}");
    drop(streams);
    m.stop();
}

/// Before: any viewer could create metros without end (each a row, named by the viewer).
#[test]
fn new_metros_stop_at_the_cap_and_a_configured_list_admits_only_its_own() {
    let capped = start(
        "metro-cap",
        Config {
            max_metros: 3,
            ..Config::default()
        },
    )
    .unwrap();
    let api = Api::new(&capped);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    for (i, metro) in ["m1", "m2", "m3", "m1"].iter().enumerate() {
        api.open(&viewer, "news", metro, 4000 + i as u16);
    }
    let body = json!({"channel": "news", "metro": "m4", "peer_addr": "127.0.0.1:4010"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body));
    assert_eq!(status, 403, "a fourth metro: {answer}");
    // Known metros still open sessions, and the refusal is counted.
    api.open(&viewer, "news", "m2", 4011);
    let metrics = api.metrics();
    assert!(
        metrics.contains("groupcast_refused_total{reason=\"metro\"} 1"),
        "{metrics}"
    );
    capped.stop();

    let listed = start(
        "metro-list",
        Config {
            metros: vec!["paris".into(), "lyon".into()],
            ..Config::default()
        },
    )
    .unwrap();
    let api = Api::new(&listed);
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    api.open(&viewer, "news", "lyon", 4000);
    let body = json!({"channel": "news", "metro": "nice", "peer_addr": "127.0.0.1:4001"});
    let (status, answer) = api.call("POST", "/api/v1/sessions", &viewer, Some(body));
    assert_eq!(status, 403, "a metro outside the list: {answer}");
    listed.stop();

    let bad = start(
        "metro-bad",
        Config {
            metros: vec!["no spaces".into()],
            ..Config::default()
        },
    );
    assert!(bad.is_err(), "a bad --metro name is refused at start");
}

/// Before: idle connections, and connections sending a request head slowly, were still open
/// after 75 s. Now a head not complete within the header timeout closes the connection: at
/// open, mid-head, and after a response on a kept-alive connection; a normal request is served.
#[test]
fn slow_and_idle_connections_are_closed_after_the_header_timeout() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let m = start(
        "slowloris",
        Config {
            header_timeout_ms: 400,
            ..Config::default()
        },
    )
    .unwrap();
    let open = || {
        let s = TcpStream::connect(m.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Waits for the server to close `s`; how long that took. Panics if it answers instead.
    let closed_after = |mut s: TcpStream, t0: Instant| {
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => t0.elapsed(),
            Ok(n) => panic!("answered: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => t0.elapsed(),
            Err(e) => panic!("still open after 10 s: {e}"),
        }
    };
    let within = |d: Duration, what: &str| {
        assert!(
            d >= Duration::from_millis(300) && d < Duration::from_secs(5),
            "{what}: closed after {d:?} (header timeout 400 ms)"
        );
    };

    // 1. Silent from the start.
    let t0 = Instant::now();
    within(closed_after(open(), t0), "silent connection");

    // 2. A head trickled in, a byte every 100 ms, never finished.
    let mut s = open();
    let t0 = Instant::now();
    let writer = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let mut w = writer;
        for b in b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa" {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut buf = [0u8; 64];
    let d = match s.read(&mut buf) {
        Ok(0) => t0.elapsed(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => t0.elapsed(),
        other => panic!("trickled head: {other:?}"),
    };
    within(d, "trickled head");
    trickle.join().unwrap();

    // 3. A request answered on a kept-alive connection, then silence.
    let mut s = open();
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let t0 = Instant::now();
    // The rest of the body may still come; then the close.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("kept-alive connection still open after 10 s: {e}"),
        }
    }
    within(t0.elapsed(), "idle kept-alive connection");
    m.stop();
}

/// Issue 13, finding 7: a short or empty admin token stops the start with a clear error that
/// does not repeat the token; 32 characters start.
#[test]
fn a_short_or_empty_admin_token_is_refused() {
    let start_with = |test: &str, token: &str| {
        groupcast_manager::start_in_thread(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db_url: common::sqlite_url(test),
            admin_token: Some(token.to_string()),
            ..Config::default()
        })
    };
    for (i, token) in ["", "   ", "hunter2-admin-token-31-charsxxx"]
        .into_iter()
        .enumerate()
    {
        let err = start_with(&format!("short-token-{i}"), token)
            .err()
            .unwrap_or_else(|| panic!("a {}-character token was taken", token.len()));
        let text = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{text}");
        assert!(text.contains("at least 32"), "{text}");
        assert!(token.trim().is_empty() || !text.contains(token), "{text}");
    }
    let ok = "x".repeat(groupcast_manager::MIN_ADMIN_TOKEN);
    start_with("short-token-32", &ok).unwrap().stop();
}

/// Before: a viewer's loss-report flood raised memory to 137 MB and one heartbeat to 959 ms.
/// Now each user draws from a token bucket (`--rate-per-user`): beyond it, 429 before any
/// work, counted; other users are not slowed.
#[test]
fn a_users_request_flood_is_cut_at_its_rate_and_others_are_not() {
    let m = start(
        "limits-rate",
        Config {
            rate_per_user: 20,
            ..Config::default()
        },
    )
    .unwrap();
    let api = Api::new(&m);
    api.channel("news", json!({}));
    let (flooder, other) = (api.viewer("f", &["news"]), api.viewer("o", &["news"]));
    let s = api.open(&flooder, "news", "paris", 4100).session;
    let beat = groupcast_api::Heartbeat {
        stats: groupcast_api::ClientStats::default(),
        ssrc: groupcast_api::Ssrc(1),
        losses: (0..512).collect(),
        unicast: None,
    };
    let body = serde_json::to_value(&beat).unwrap();
    let path = format!("/api/v1/sessions/{s}/heartbeat");
    let statuses: Vec<u16> = (0..200)
        .map(|_| api.call("POST", &path, &flooder, Some(body.clone())).0)
        .collect();
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(ok + limited, 200, "{statuses:?}");
    assert!(
        limited >= 100,
        "most of a 200-request flood is cut: {ok} answered"
    );
    // The burst is 40; the flooder's open took one of them.
    assert!(ok >= 39, "the burst (40, less the open) goes through: {ok}");
    let (status, body) = api.call("POST", &path, &flooder, Some(body));
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("retry in"),
        "{body}"
    );
    assert_eq!(
        api.call("GET", "/api/v1/me", &other, None).0,
        200,
        "per user"
    );
    let metrics = api.metrics();
    let refused = format!("groupcast_refused_total{{reason=\"rate\"}} {}", limited + 1);
    assert!(metrics.contains(&refused), "{metrics}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        api.call("GET", "/api/v1/me", &flooder, None).0,
        200,
        "refilled"
    );
    m.stop();
}

/// Before: nothing capped the connections one address held (3,000 SSE streams, idle sockets).
/// Now an address holds at most `--max-connections-per-address`; the next is closed at once,
/// counted, and a slot frees as soon as a connection closes.
#[test]
fn one_address_holds_at_most_its_cap_of_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;
    let m = start(
        "limits-conns",
        Config {
            max_connections_per_address: 8,
            ..Config::default()
        },
    )
    .unwrap();
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(m.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(m.addr()).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(
        matches!(extra.read(&mut buf), Ok(0) | Err(_)),
        "the ninth connection is closed without an answer"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let api = Api::new(&m);
    assert!(
        api.metrics()
            .contains("groupcast_refused_total{reason=\"connections\"} 1"),
        "counted"
    );
    m.stop();
}
