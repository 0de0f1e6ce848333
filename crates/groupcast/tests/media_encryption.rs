//! Media encryption end to end (issue 13, finding 8): a source scrambles the channel's PES
//! payloads with keys from a secret it shares with the manager; the manager hands the keys only
//! to entitled sessions. Clients that lose 3 % of the multicast repair it from each other as
//! ciphertext and play the sample byte for byte, across key periods of both parities; a late
//! joiner starts from a member's keyframe (its fast start scans the decrypted copy and gets the
//! ciphertext). What the network carries is not the sample's media. The control: a client whose
//! manager has no media secret gets no keys and plays nothing of the sample's media.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, contiguous_run_of_sample, sample_source_with};
use common::{collect, decoder_errors, join, sample};
use std::collections::HashSet;
use std::time::Duration;

const SECRET: &str = "media-secret-for-the-test-0123456789abcdef";
/// The shortest period allowed, so that a 12 s run crosses at least one key change.
const PERIOD_MS: u32 = 10_000;

/// The source of the sample, encrypted for channel `demo`.
fn encrypted_source(sys: &System, secs: u64) -> common::Proc {
    sample_source_with(
        &sys.group,
        secs,
        false,
        &[
            "--media-secret",
            SECRET,
            "--channel",
            "demo",
            "--media-key-period-s",
            "10",
        ],
    )
}

#[test]
fn entitled_clients_repair_ciphertext_and_play_the_sample_exactly() {
    let sys = System::start_media("media-on", 60, 5000, false, Some((SECRET, PERIOD_MS)));
    // Four members that each lose 3 % (a datagram all three others lost is rare enough), and
    // a late fifth: one group.
    let metros = ["north", "south", "east", "north"];
    let clients: Vec<_> = (0..4)
        .map(|i| sys.client(i, metros[i], 0.03, 12, &[]))
        .collect();
    let tap = join(sys.group.parse().unwrap());
    // The whole stream as the network carries it (the source sends for 12 s, more than a
    // period: a key change falls inside).
    let tap = std::thread::spawn(move || collect(&tap, Duration::from_secs(15), 40_000));
    std::thread::sleep(Duration::from_millis(1000));
    let _source = encrypted_source(&sys, 13);
    std::thread::sleep(Duration::from_millis(4000));
    let late = sys.client(4, "west", 0.0, 7, &[]);
    let wire = tap.join().unwrap();
    for c in clients.into_iter().chain([late]) {
        assert!(c.wait(Duration::from_secs(30)).success(), "client exit");
    }
    let sample = std::fs::read(sample()).unwrap();
    let plain: HashSet<&[u8]> = sample.chunks(188).collect();
    for i in 0..4 {
        let s = sys.stats(i);
        let packets = contiguous_run_of_sample(&sys.output(i))
            .unwrap_or_else(|e| panic!("client {i}: {e}; stats {s}"));
        assert!(packets > 1000, "client {i}: {packets} TS packets; {s}");
    }
    // The late joiner starts with the tables it held, then a member's keyframe: each packet it
    // plays is one of the sample's, and a decoder finds nothing wrong.
    let out = std::fs::read(sys.output(4)).unwrap();
    assert!(out.len() > 188 * 1000, "{} bytes", out.len());
    assert!(
        out.chunks(188).all(|p| plain.contains(p)),
        "late joiner: not the sample's"
    );
    let errors = decoder_errors(&sys.output(4));
    assert!(errors.is_empty(), "late joiner: {errors:?}");
    for i in 0..5 {
        let s = sys.stats(i);
        assert!(
            s["media_decrypted"].as_u64().unwrap() > 500,
            "client {i}: {s}"
        );
        assert_eq!(s["media_no_key"], 0, "client {i}: {s}");
        assert_eq!(s["unrecovered"], 0, "client {i}: {s}");
        if i < 4 {
            assert!(s["lost"].as_u64().unwrap() > 20, "client {i}: {s}");
            assert_eq!(s["repaired"], s["lost"], "client {i}: {s}");
        }
    }
    let late = sys.stats(4);
    assert_eq!(
        late["fast_starts"], 1,
        "the late joiner's fast start: {late}"
    );
    // On the wire: scrambled packets of both parities (a key change), none of them a packet
    // of the sample even with its scrambling bits cleared; the program tables in the clear.
    let (mut even, mut odd, mut clear_in_sample) = (0, 0, 0);
    for (_, d) in &wire {
        for p in d[12..].chunks(188) {
            match p[3] & 0xc0 {
                0x80 => even += 1,
                0xc0 => odd += 1,
                _ => {
                    clear_in_sample += usize::from(plain.contains(p));
                    continue;
                }
            }
            let mut p = p.to_vec();
            p[3] &= 0x3f;
            assert!(
                !plain.contains(&p[..]),
                "a scrambled packet is the sample's"
            );
        }
    }
    assert!(even + odd > 5000, "even {even}, odd {odd}");
    assert!(
        even > 50 && odd > 50,
        "both parities: even {even}, odd {odd}"
    );
    assert!(clear_in_sample > 10, "tables and null packets in the clear");
}

#[test]
fn without_the_keys_the_media_stays_scrambled() {
    let sys = System::start_media("media-off", 61, 5000, false, None);
    let client = sys.client(0, "north", 0.0, 8, &[]);
    std::thread::sleep(Duration::from_millis(1000));
    let _source = encrypted_source(&sys, 9);
    assert!(
        client.wait(Duration::from_secs(30)).success(),
        "client exit"
    );
    let s = sys.stats(0);
    assert!(s["media_no_key"].as_u64().unwrap() > 500, "{s}");
    assert_eq!(s["media_decrypted"], 0, "{s}");
    assert!(
        contiguous_run_of_sample(&sys.output(0)).is_err(),
        "scrambled output is not the sample"
    );
}
