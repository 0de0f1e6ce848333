//! Central source → edge over a lossy unicast link → the edge's metro multicast: the same
//! packets (SSRC, sequence numbers, bytes) as the central's own multicast.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn by_seq(got: &[(std::time::Instant, Vec<u8>)]) -> BTreeMap<u16, Vec<u8>> {
    got.iter()
        .map(|g| (rtp_fields(&g.1).0, g.1.clone()))
        .collect()
}

/// Starts an edge for `group` named `name` dropping `drop` of its upstream; returns its
/// stats path.
fn edge(dir: &std::path::Path, name: &str, group: &str, drop: &str) -> (Proc, std::path::PathBuf) {
    let stats_path = dir.join(format!("{name}.json"));
    let p = groupcast(&[
        "edge",
        "--upstream",
        "127.0.0.1:47100",
        "--token",
        "s3cret",
        "--group",
        group,
        "--iface",
        "127.0.0.1",
        "--name",
        name,
        "--duration",
        "7",
        "--drop-rate",
        drop,
        "--drop-seed",
        "3",
        "--stats-json",
        stats_path.to_str().unwrap(),
    ]);
    (p, stats_path)
}

#[test]
fn edges_re_multicast_the_central_stream_unchanged_under_upstream_loss() {
    let central_group = "239.255.45.1:5004";
    let edges = [
        ("metro-a", "239.255.45.2:5004", "0.05"),
        ("metro-b", "239.255.45.7:5004", "0"),
    ];
    let dir = tempdir("relay");
    let central_rx = join(central_group.parse().unwrap());
    let mut running = Vec::new();
    let mut collectors = Vec::new();
    for (name, group, drop) in edges {
        let rx = join(group.parse().unwrap());
        running.push(edge(&dir, name, group, drop));
        collectors.push(std::thread::spawn(move || {
            collect(&rx, Duration::from_secs(7), usize::MAX)
        }));
    }
    let sample = sample();
    let _src = groupcast(&[
        "source",
        "--input",
        sample.to_str().unwrap(),
        "--group",
        central_group,
        "--iface",
        "127.0.0.1",
        "--relay-listen",
        "127.0.0.1:47100",
        "--edge-token",
        "s3cret",
        "--duration",
        "5",
    ]);
    let central = by_seq(&collect(&central_rx, Duration::from_secs(7), usize::MAX));
    assert!(central.len() > 600, "{}", central.len());
    for ((collector, (proc_, stats_path)), (name, _, drop)) in
        collectors.into_iter().zip(running).zip(edges)
    {
        let got = collector.join().unwrap();
        let edge = by_seq(&got);
        assert!(proc_.wait(Duration::from_secs(3)).success());
        assert_eq!(got.len(), edge.len(), "{name}: no packet multicast twice");
        // Every packet the edge multicast is the central's, byte for byte (same SSRC, numbers).
        for (seq, bytes) in &edge {
            assert_eq!(
                central.get(seq),
                Some(bytes),
                "{name}: packet {seq} differs"
            );
        }
        // And it has all of them from its first one on, whatever the upstream lost.
        let s = stats(&stats_path);
        assert_eq!(s["unrecovered"], 0, "{name}: {s}");
        if drop != "0" {
            assert!(
                s["dropped_for_testing"].as_u64().unwrap() > 20,
                "{name}: {s}"
            );
            assert!(
                s["recovered"].as_u64().unwrap() >= s["dropped_for_testing"].as_u64().unwrap() / 2,
                "{s}"
            );
        }
        let missing = central.len() - edge.len();
        assert!(
            missing <= 40,
            "{name}: only what was sent before the edge registered: {missing}"
        );
    }
}

#[test]
fn an_edge_with_the_wrong_token_gets_nothing() {
    let edge_group = "239.255.45.3:5004";
    let dir = tempdir("badtoken");
    let src_stats = dir.join("src.json");
    let edge_rx = join(edge_group.parse().unwrap());
    let sample = sample();
    let _edge = groupcast(&[
        "edge",
        "--upstream",
        "127.0.0.1:47101",
        "--token",
        "guess",
        "--group",
        edge_group,
        "--iface",
        "127.0.0.1",
        "--duration",
        "3",
    ]);
    let src = groupcast(&[
        "source",
        "--input",
        sample.to_str().unwrap(),
        "--group",
        "239.255.45.4:5004",
        "--iface",
        "127.0.0.1",
        "--relay-listen",
        "127.0.0.1:47101",
        "--edge-token",
        "right",
        "--duration",
        "3",
        "--stats-json",
        src_stats.to_str().unwrap(),
    ]);
    let got = collect(&edge_rx, Duration::from_secs(3), usize::MAX);
    assert!(src.wait(Duration::from_secs(5)).success());
    assert!(got.is_empty());
    let s = stats(&src_stats);
    assert!(s["relay"]["unauthenticated"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["relay"]["edges"].as_array().unwrap().len(), 0);
}

#[test]
fn an_edge_follows_a_restarted_central() {
    let edge_group = "239.255.45.5:5004";
    let dir = tempdir("restart");
    let edge_stats = dir.join("edge.json");
    let edge_rx = join(edge_group.parse().unwrap());
    let sample = sample();
    let edge = groupcast(&[
        "edge",
        "--upstream",
        "127.0.0.1:47102",
        "--token",
        "t",
        "--group",
        edge_group,
        "--iface",
        "127.0.0.1",
        "--duration",
        "8",
        "--stats-json",
        edge_stats.to_str().unwrap(),
    ]);
    let args = |d: &'static str| {
        vec![
            "source".to_string(),
            "--input".into(),
            sample.to_str().unwrap().into(),
            "--group".into(),
            "239.255.45.6:5004".into(),
            "--iface".into(),
            "127.0.0.1".into(),
            "--relay-listen".into(),
            "127.0.0.1:47102".into(),
            "--edge-token".into(),
            "t".into(),
            "--duration".into(),
            d.into(),
        ]
    };
    let run = |d| {
        let a = args(d);
        groupcast(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let collector =
        std::thread::spawn(move || collect(&edge_rx, Duration::from_secs(8), usize::MAX));
    assert!(run("2").wait(Duration::from_secs(4)).success());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(run("2").wait(Duration::from_secs(4)).success());
    let got = collector.join().unwrap();
    let ssrcs: Vec<u32> = got
        .iter()
        .map(|g| rtp_fields(&g.1).2)
        .fold(Vec::new(), |mut v, s| {
            if v.last() != Some(&s) {
                v.push(s);
            }
            v
        });
    assert_eq!(
        ssrcs.len(),
        2,
        "two runs of the central, two SSRCs, in order"
    );
    assert!(edge.wait(Duration::from_secs(6)).success());
    assert_eq!(stats(&edge_stats)["source_restarts"], 1);
}
