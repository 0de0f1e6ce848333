//! Every output a player gets decodes from its first byte (issue 14, clean start): the file of a
//! client that joins a running channel mid-GOP, two HTTP connections made at different moments
//! to a running client, and a file across a source restart. ffmpeg must report no error.
//!
//! The sample (H.264 Main, 2 s GOP, B-frames) is played by a source on 127.0.0.1 (TTL 1);
//! without the clean start gate each of these outputs begins mid-GOP and ffmpeg reports
//! "non-existing PPS" and "no frame" errors.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::System;
use common::{Proc, decoder_errors, free_tcp_port, groupcast_logged};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Asserts that `file` holds at least `min` bytes of TS that decode without an error.
fn assert_clean(what: &str, file: &Path, min: u64) {
    let len = std::fs::metadata(file).map_or(0, |m| m.len());
    assert!(len >= min, "{what}: only {len} bytes in {}", file.display());
    let errors = decoder_errors(file);
    assert!(
        errors.is_empty(),
        "{what}: {} decoder errors in {}: {errors:#?}",
        errors.len(),
        file.display()
    );
}

/// Opens `http://addr/`, saves the body to `file` until `until`; returns how long the first
/// body byte took from the request.
fn watch_http(addr: &str, file: &Path, until: Instant) -> Option<Duration> {
    let asked = Instant::now();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: player\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let (mut got, mut first) = (Vec::new(), None);
    let mut buf = [0u8; 65536];
    let mut body_at = None;
    while Instant::now() < until {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if body_at.is_none() {
            body_at = got.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        }
        if first.is_none() && body_at.is_some_and(|b| got.len() > b) {
            first = Some(asked.elapsed());
        }
    }
    std::fs::write(file, &got[body_at.unwrap_or(got.len())..]).unwrap();
    first
}

/// Starts client 0 with `output`, after the source has played for `after`.
fn late_client(sys: &System, output: &str, after: Duration, secs: u64) -> (Proc, Proc) {
    let source = sys.source(14);
    std::thread::sleep(after);
    let secs = secs.to_string();
    let args = [
        "client",
        "--manager",
        &sys.url,
        "--token",
        &sys.viewer,
        "--channel",
        "demo",
        "--iface",
        "127.0.0.1",
        "--quiet",
        "--metro",
        "north",
        "--output",
        output,
        "--duration",
        &secs,
    ];
    let client = groupcast_logged(&args, &sys.dir.join("client-0.log"));
    (source, client)
}

#[test]
fn a_client_joining_mid_gop_writes_a_clean_file() {
    let sys = System::start("clean-file", 0, 5000);
    let out = sys.dir.join("late.ts");
    let spec = format!("file:{}", out.display());
    let (_source, client) = late_client(&sys, &spec, Duration::from_millis(700), 6);
    assert!(client.wait(Duration::from_secs(20)).success());
    assert_clean("a new client's file", &out, 500_000);
}

#[test]
fn every_http_connection_starts_clean_and_a_late_one_at_once() {
    let sys = System::start("clean-http", 1, 5000);
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let spec = format!("http://{addr}");
    let start = Instant::now();
    let (_source, client) = late_client(&sys, &spec, Duration::from_millis(700), 9);
    let end = start + Duration::from_secs(9);
    let (a, b) = (sys.dir.join("http-a.ts"), sys.dir.join("http-b.ts"));
    std::thread::sleep(Duration::from_millis(1800));
    let first = std::thread::scope(|s| {
        let (addr, a) = (&addr, &a);
        s.spawn(move || watch_http(addr, a, end));
        std::thread::sleep(Duration::from_millis(2700));
        watch_http(addr, &b, end)
    });
    assert_clean("the first HTTP connection", &a, 300_000);
    assert_clean("the second HTTP connection", &b, 300_000);
    // The second one came mid-GOP, after a keyframe the client holds: it starts at once.
    let first = first.expect("the second connection got bytes");
    assert!(
        first < Duration::from_millis(600),
        "first byte after {first:?}"
    );
    drop(client);
}

#[test]
fn the_output_resumes_clean_after_a_source_restart() {
    let sys = System::start("clean-restart", 2, 5000);
    let out = sys.dir.join("restart.ts");
    let spec = format!("file:{}", out.display());
    let (source, client) = late_client(&sys, &spec, Duration::from_millis(300), 9);
    std::thread::sleep(Duration::from_millis(3300));
    drop(source); // killed mid-stream, most likely inside a PES
    std::thread::sleep(Duration::from_millis(400));
    let _again = sys.source(14); // a new SSRC, from the start of the sample
    assert!(client.wait(Duration::from_secs(20)).success());
    let log = std::fs::read_to_string(sys.dir.join("client-0.log")).unwrap();
    assert!(log.contains("SourceRestarted"), "no restart seen: {log}");
    assert_clean("the output across a source restart", &out, 1_000_000);
}
