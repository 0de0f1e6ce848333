//! The client as a local IPTV gateway (issue 14): `groupcast client` without `--channel`
//! serves `/playlist.m3u` and `/channel/NAME` over HTTP, tunes a channel for its players and
//! leaves it (session closed) once none watches.
//!
//! Two sources play the sample on two groups of 127.0.0.1 (TTL 1); a third channel exists that
//! the viewer may not watch. Players here are plain TCP connections; what they receive must
//! decode with ffmpeg from its first byte.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, call, sample_source};
use common::{Proc, decoder_errors, free_tcp_port, groupcast_logged};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One request to the gateway: the status, and the body read until `until` or the end.
fn get(addr: &str, request: &str, until: Instant) -> (u16, Vec<u8>) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.len(), |p| p + 4);
    let status = std::str::from_utf8(&got[..head_end.min(12)])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, got[head_end..].to_vec())
}

/// `GET path` for `secs` seconds at most.
fn get_for(addr: &str, path: &str, secs: f64) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    get(addr, &req, Instant::now() + Duration::from_secs_f64(secs))
}

/// Asserts that `ts` holds at least `min` bytes that decode without an error.
fn assert_clean(what: &str, ts: &[u8], file: &Path, min: usize) {
    assert!(ts.len() >= min, "{what}: only {} bytes", ts.len());
    std::fs::write(file, ts).unwrap();
    let errors = decoder_errors(file);
    assert!(errors.is_empty(), "{what}: decoder errors {errors:#?}");
}

/// A looping source of the sample on `group` for `secs`.
fn source(group: &str, secs: u64) -> Proc {
    sample_source(group, secs, true)
}

/// Adds channel `name` on `group`; entitles the viewer to it if `entitled`.
fn add_channel(sys: &System, name: &str, group: &str, entitled: bool) {
    let (s, _) = call(
        "POST",
        &format!("{}/api/v1/channels", sys.url),
        &sys.admin,
        Some(json!({"name": name, "group": group, "buffer_ms": 500})),
    );
    assert_eq!(s, 201, "create channel {name}");
    if entitled {
        let url = format!("{}/api/v1/users/viewer/channels/{name}", sys.url);
        assert_eq!(call("PUT", &url, &sys.admin, None).0, 204);
    }
}

/// The channels of the manager's open sessions.
fn session_channels(sys: &System) -> Vec<String> {
    let (s, v) = call(
        "GET",
        &format!("{}/api/v1/sessions", sys.url),
        &sys.admin,
        None,
    );
    assert_eq!(s, 200);
    v.as_array()
        .unwrap()
        .iter()
        .map(|s: &Value| s["channel"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits up to `limit` for the sessions' channels to satisfy `ok`.
fn wait_sessions(sys: &System, limit: Duration, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let end = Instant::now() + limit;
    loop {
        let now = session_channels(sys);
        if ok(&now) || Instant::now() > end {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The gateway on `addr` for `secs`, with extra options.
fn gateway(sys: &System, addr: &str, secs: u64, extra: &[&str]) -> Proc {
    let (output, secs) = (format!("http://{addr}"), secs.to_string());
    let mut args = vec![
        "client",
        "--manager",
        &sys.url,
        "--token",
        &sys.viewer,
        "--metro",
        "north",
        "--iface",
        "127.0.0.1",
        "--output",
        &output,
        "--duration",
        &secs,
    ];
    args.extend(extra);
    groupcast_logged(&args, &sys.dir.join("gateway.log"))
}

/// The second channel's group: next to the first one's.
fn second_group(sys: &System) -> String {
    let (ip, port) = sys.group.rsplit_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    format!("{ip}:{}", port + 1000)
}

#[test]
fn the_gateway_lists_tunes_zaps_and_leaves_channels() {
    let sys = System::start("gateway", 4, 3000);
    let second = second_group(&sys);
    add_channel(&sys, "second", &second, true);
    add_channel(&sys, "hidden", "239.255.44.9:5999", false);
    let _a = source(&sys.group, 40);
    let _b = source(&second, 40);
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let gw = gateway(&sys, &addr, 40, &["--max-channels", "2"]);
    std::thread::sleep(Duration::from_millis(500));

    // The playlist: both channels the viewer may watch, at the gateway's address.
    let (s, body) = get_for(&addr, "/playlist.m3u", 3.0);
    let m3u = String::from_utf8(body).unwrap();
    assert_eq!(s, 200, "{m3u}");
    assert!(m3u.starts_with("#EXTM3U\n"), "{m3u}");
    for name in ["demo", "second"] {
        assert!(
            m3u.contains(&format!("\nhttp://{addr}/channel/{name}\n")),
            "{m3u}"
        );
    }
    assert!(!m3u.contains("hidden"), "{m3u}");

    // Clear answers to what cannot be played.
    assert_eq!(get_for(&addr, "/channel/hidden", 5.0).0, 404);
    assert_eq!(get_for(&addr, "/channel/nothing", 5.0).0, 404);
    assert_eq!(get_for(&addr, "/elsewhere", 2.0).0, 404);
    let post = format!("POST /channel/demo HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    assert_eq!(
        get(&addr, &post, Instant::now() + Duration::from_secs(2)).0,
        405
    );
    assert_eq!(
        get(
            &addr,
            "\x16\x03\x01garbage\r\n\r\n",
            Instant::now() + Duration::from_secs(2)
        )
        .0,
        400
    );
    assert!(
        session_channels(&sys).is_empty(),
        "a refused request left a session"
    );

    // A player watches demo: a clean stream, and a session while it watches.
    let (s, demo) = get_for(&addr, "/channel/demo", 4.0);
    assert_eq!(s, 200);
    assert_clean("demo", &demo, &sys.dir.join("demo.ts"), 200_000);
    // It went away: the gateway leaves demo and closes its session.
    let left = wait_sessions(&sys, Duration::from_secs(5), |c| c.is_empty());
    assert!(left.is_empty(), "sessions after the player left: {left:?}");

    // A zap to second, and two players on two channels at once, each clean; a third
    // channel is one too many for --max-channels 2.
    let (ra, rb, busy, during) = std::thread::scope(|s| {
        let a = s.spawn(|| get_for(&addr, "/channel/second", 5.0));
        std::thread::sleep(Duration::from_millis(200));
        let b = s.spawn(|| get_for(&addr, "/channel/demo", 5.0));
        std::thread::sleep(Duration::from_millis(2000));
        let during = session_channels(&sys);
        let busy = get_for(&addr, "/channel/third", 3.0).0;
        (a.join().unwrap(), b.join().unwrap(), busy, during)
    });
    assert_eq!((ra.0, rb.0), (200, 200));
    assert_clean("second", &ra.1, &sys.dir.join("second.ts"), 200_000);
    assert_clean("demo again", &rb.1, &sys.dir.join("demo2.ts"), 200_000);
    let mut during = during;
    during.sort();
    assert_eq!(
        during,
        ["demo", "second"],
        "one session per watched channel"
    );
    assert_eq!(busy, 503, "a third channel over --max-channels 2");
    let left = wait_sessions(&sys, Duration::from_secs(5), |c| c.is_empty());
    assert!(
        left.is_empty(),
        "sessions after both players left: {left:?}"
    );
    drop(gw);
}

/// Runs `cvlc` as the unprivileged user `nobody` (VLC refuses root) on `url` with no window
/// and no sound, driven like a viewer with a remote: it plays the first entry for `secs`,
/// zaps to the next (`next` on its remote-control interface), plays it for `secs`, quits.
/// Returns its log.
fn cvlc_as_nobody(dir: &Path, url: &str, secs: u64) -> String {
    let home = dir.join("vlc-home");
    std::fs::create_dir_all(&home).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&home)
        .status()
        .unwrap();
    assert!(
        chown.success(),
        "this test needs root to run VLC as nobody (CI runs as root)"
    );
    let mut vlc = Command::new("timeout")
        .args(["60", "runuser", "-u", "nobody", "--", "env"])
        .arg(format!("HOME={}", home.display()))
        .args([
            "cvlc",
            "-vv",
            "--intf",
            "rc",
            "--rc-fake-tty",
            "--vout",
            "dummy",
            "--aout",
            "dummy",
            "--no-repeat",
            "--no-loop",
        ])
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cvlc is installed (scripts/setup installs vlc-bin)");
    let mut remote = vlc.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(secs));
    remote.write_all(b"next\n").unwrap();
    std::thread::sleep(Duration::from_secs(secs));
    let _ = remote.write_all(b"quit\n");
    drop(remote);
    let out = vlc.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::write(dir.join("vlc.log"), &log).unwrap();
    log
}

#[test]
fn vlc_opens_the_playlist_and_plays_both_channels_in_turn() {
    let sys = System::start("gateway-vlc", 6, 3000);
    let second = second_group(&sys);
    add_channel(&sys, "second", &second, true);
    let _a = source(&sys.group, 45);
    let _b = source(&second, 45);
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let gw = gateway(&sys, &addr, 45, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let vlc = cvlc_as_nobody(&sys.dir, &format!("http://{addr}/playlist.m3u"), 6);
    std::thread::sleep(Duration::from_millis(1500)); // the gateway sees VLC's last player leave
    drop(gw);
    let gateway_log = std::fs::read_to_string(sys.dir.join("gateway.log")).unwrap();
    for name in ["demo", "second"] {
        let url = format!("http://{addr}/channel/{name}");
        assert!(vlc.contains(&url), "VLC never opened {url}:\n{vlc}");
        let sent = played_bytes(&gateway_log, name);
        assert!(
            sent > 500_000,
            "VLC got {sent} bytes of {name}:\n{gateway_log}"
        );
    }
    // It decoded pictures from each channel, in turn, and its decoder reported no error while
    // it played (it reports some as it tears an input down, which are not the stream's).
    let pictures = vlc.matches("Received first picture").count();
    assert!(
        pictures >= 2,
        "VLC showed {pictures} first pictures:\n{vlc}"
    );
    let errors = playing_decoder_errors(&vlc);
    assert!(
        errors.is_empty(),
        "VLC's decoder errors while playing: {errors:#?}"
    );
    let demo = vlc.find("GET /channel/demo").unwrap();
    let second = vlc.find("GET /channel/second").unwrap();
    assert!(demo < second, "VLC played the playlist out of order");
}

/// ffmpeg's H.264 error lines in VLC's log (not its notes, such as "Reinit context"), except those between the end of an input and the next
/// input (a decoder torn down mid-frame complains).
fn playing_decoder_errors(vlc: &str) -> Vec<&str> {
    let mut teardown = false;
    let mut errors = Vec::new();
    for line in vlc.lines() {
        if line.contains("EOF reached") {
            teardown = true;
        } else if line.contains("GET /channel/") {
            teardown = false;
        } else if !teardown
            && line.starts_with("[h264 @")
            && ["error", "no frame", "non-existing", "concealing", "missing"]
                .iter()
                .any(|e| line.contains(e))
        {
            errors.push(line);
        }
    }
    errors
}

/// Bytes the gateway's log says players of `channel` received.
fn played_bytes(log: &str, channel: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("player left") && l.contains(&format!("channel={channel} ")))
        .filter_map(|l| {
            l.split("bytes=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn a_zap_to_a_watched_channel_starts_from_the_peers_keyframe() {
    let sys = System::start("gateway-fast", 8, 3000);
    let _source = source(&sys.group, 30);
    // Two viewers in other metros watch the channel: the gateway's group has warm members.
    let _warm: Vec<Proc> = (1..=2)
        .map(|i| sys.client(i, &format!("m{i}"), 0.0, 25, &[]))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let stats = sys.dir.join("gw.json");
    let gw = gateway(&sys, &addr, 20, &["--stats-json", stats.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));
    let (s, ts) = get_for(&addr, "/channel/demo", 3.0);
    assert_eq!(s, 200);
    assert_clean("a fast start", &ts, &sys.dir.join("fast.ts"), 300_000);
    std::thread::sleep(Duration::from_millis(1500)); // the gateway leaves and writes its figures
    let c = common::stats(&sys.dir.join("gw.demo.json"));
    assert_eq!(c["fast_starts"], 1, "{c}");
    assert_eq!(c["fast_start_fallbacks"], 0, "{c}");
    assert!(c["fast_start_packets"].as_u64().unwrap() > 50, "{c}");
    assert_eq!(c["unrecovered"], 0, "{c}");
    let served: u64 = (1..=2)
        .map(|i| sys.stats(i)["fast_starts_served"].as_u64().unwrap())
        .sum();
    assert_eq!(served, 1, "one member served the burst");
    drop(gw);
}
