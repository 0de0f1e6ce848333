//! The last resort end to end (issue 12, item 3b): a viewer whose repair group cannot supply a
//! loss (here no member serves: `--no-serve`, the "members are silent") gets it from
//! the relay its manager ticket names (the central source's `--unicast-listen`), registered
//! there for retransmissions only while it receives multicast, and plays byte for byte. Loss
//! is on every link: the viewer's `--drop-rate` drops the relay's retransmissions too. The
//! relay's repair egress stays within its budget (here 5 % of the stream, for one viewer that
//! loses 2 % and whose group serves nothing; the default of 0.9 % is for groups that do).
//! Control: the same viewer with `--no-last-resort` keeps its holes.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::System;
use std::time::Duration;

const SECRET: &str = "unicast-secret-for-the-last-resort-0123456789";

#[test]
fn what_no_member_supplies_comes_from_the_relay_and_the_control_keeps_its_holes() {
    let (sys, relay) = System::with_relay("last-resort", 66, SECRET);
    let source_stats = sys.dir.join("source.json");
    // One group of four in which nobody serves. Viewer 0 loses 2 % of all it receives
    // (multicast and retransmissions); viewer 3, the control, as much without a last resort.
    let silent = ["--no-serve"];
    let control = ["--no-serve", "--no-last-resort"];
    let metros = ["north", "south", "east", "west"];
    let drops = [0.02, 0.0, 0.0, 0.02];
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let extra: &[&str] = if i == 3 { &control } else { &silent };
            sys.client(i, metros[i], drops[i], 14, extra)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    // A relay that allows 5 % of the stream.
    let source = sys.relay_source(&relay, SECRET, 14, &["--last-resort-permille", "50"]);
    for c in clients {
        assert!(c.wait(Duration::from_secs(40)).success(), "client exit");
    }
    // Its figures once it has stopped answering (it answers for its ring's span after the end).
    assert!(
        source.wait(Duration::from_secs(10)).success(),
        "source exit"
    );
    let s = sys.stats(0);
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let packets = sys
        .exact_after_clean_start(0)
        .unwrap_or_else(|e| panic!("viewer 0: {e}; stats {s}"));
    assert!(packets > 5000, "viewer 0: {packets} TS packets; {s}");
    assert_eq!(n("unrecovered"), 0, "viewer 0: {s}");
    assert!(
        n("lost") > 15,
        "viewer 0 lost too little to show anything: {s}"
    );
    // Nobody served: every repair came from the relay, some after a retransmission was lost.
    assert_eq!(n("repaired"), n("last_resort_repaired"), "{s}");
    assert_eq!(n("repairs_served"), 0, "{s}");
    assert!(n("escalated") >= n("last_resort_repaired"), "{s}");
    assert!(n("last_resort_challenges") >= 1, "{s}");
    assert_eq!(n("unicast_starts"), 0, "multicast flowed: no feed; {s}");

    let c = sys.stats(3);
    assert!(c["unrecovered"].as_u64().unwrap() > 15, "control: {c}");
    assert_eq!(c["escalated"], 0, "control: {c}");
    assert_eq!(c["last_resort_challenges"], 0, "control: {c}");

    let src = common::stats(&source_stats);
    let u = &src["unicast"];
    let un = |k: &str| u[k].as_u64().unwrap_or_else(|| panic!("{k} in {src}"));
    assert_eq!(un("joined"), 0, "nobody fed: {src}");
    assert_eq!(un("standby_joined"), 3, "viewers 0-2 registered: {src}");
    assert!(
        un("standby_retransmitted") >= n("last_resort_repaired"),
        "{src}"
    );
    // The relay's repair egress: at most 5 % of what it multicast, at any moment.
    let bytes = src["bytes"].as_u64().unwrap();
    assert!(un("repair_bytes") <= bytes / 20, "{src}");
    assert!(un("repair_bytes") > 0, "{src}");
    eprintln!(
        "viewer 0: lost {}, escalated {}, from the relay {}; control unrecovered {}; relay \
         repair bytes {} of {} multicast",
        n("lost"),
        n("escalated"),
        n("last_resort_repaired"),
        c["unrecovered"],
        un("repair_bytes"),
        bytes
    );
}

/// The relay serves the end of a programme: a source whose unlooped file has ended goes on
/// answering its standby viewers' NACKs for its ring's span (`--ring-ms`), so the losses of
/// the stream's last moments are repaired as any other, and then exits by itself.
/// Control: a source that exits with its last datagram (as before) answers nothing here.
#[test]
fn the_relay_answers_after_the_file_ends_for_the_rings_span() {
    use groupcast_api::SessionId;
    use groupcast_core::Time;
    use groupcast_source::Standby;
    use groupcast_wire::{Ssrc, unicast::ticket_key};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    let dir = common::tempdir("linger");
    let group = format!("239.255.43.68:{}", common::system::free_udp_port());
    let relay = format!("127.0.0.1:{}", common::system::free_udp_port());
    let stats = dir.join("source.json");
    let rx = common::join(group.parse().unwrap());
    rx.set_nonblocking(true).unwrap();
    // The sample at 20 Mbit/s: about 1.1 s of stream.
    let source = common::system::sample_source_with(
        &group,
        20,
        false,
        &[
            "--bitrate",
            "20000000",
            "--channel",
            "demo",
            "--unicast-listen",
            &relay,
            "--unicast-secret",
            SECRET,
            "--ring-ms",
            "2000",
            "--stats-json",
            stats.to_str().unwrap(),
        ],
    );
    // A standby viewer with a ticket of its own making (relays check tickets offline).
    let viewer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    viewer.connect(&relay).unwrap();
    viewer.set_nonblocking(true).unwrap();
    let session = SessionId(7);
    let wall_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let expires_ms = wall_ms + 60_000;
    let mut standby = Standby::new(session, 1);
    standby.set_ticket(
        expires_ms,
        &ticket_key(SECRET.as_bytes(), "demo", session, expires_ms),
    );
    let start = Instant::now();
    let now = || Time::from_micros(start.elapsed().as_micros() as u64);
    // Sends what the viewer queued for the relay; takes the relay's answers (retransmissions'
    // numbers into `got`).
    let pump = |standby: &mut Standby, got: &mut Vec<u16>| {
        let mut buf = [0u8; 2048];
        while let Some(n) = standby.poll_transmit(now(), &mut buf) {
            let _ = viewer.send(&buf[..n]);
        }
        while let Ok(n) = viewer.recv(&mut buf) {
            if standby.handle(now(), &buf[..n]) {
                got.push(common::rtp_fields(&buf[..n]).0);
            }
        }
    };
    let mut buf = [0u8; 2048];
    // Registers, and receives the multicast until 300 ms without any (the file's end).
    let (mut first, mut last, mut ssrc, mut count) = (None, 0u16, 0u32, 0usize);
    let mut last_at = Instant::now();
    let mut retransmitted = Vec::new();
    while start.elapsed() < Duration::from_secs(10) {
        pump(&mut standby, &mut retransmitted);
        while let Ok(n) = rx.recv(&mut buf) {
            let (seq, _, s) = common::rtp_fields(&buf[..n]);
            (last, ssrc, last_at) = (seq, s, Instant::now());
            first.get_or_insert(seq);
            count += 1;
        }
        if count > 1000 && last_at.elapsed() > Duration::from_millis(300) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(standby.usable(), "the relay challenged the viewer");
    assert!(count > 1500, "{count} datagrams of the sample's 2,053");
    assert!(retransmitted.is_empty(), "nothing asked, nothing sent");
    // After the end: the last datagram and one from the middle, asked (again every 200 ms).
    let wanted = [last, first.unwrap().wrapping_add(1000)];
    let asked_at = Instant::now();
    let mut next_ask = asked_at;
    while asked_at.elapsed() < Duration::from_secs(1) && retransmitted.len() < 2 {
        if Instant::now() >= next_ask {
            standby.nack(Ssrc(ssrc), &wanted);
            next_ask += Duration::from_millis(200);
        }
        pump(&mut standby, &mut retransmitted);
        std::thread::sleep(Duration::from_millis(2));
    }
    retransmitted.sort_unstable();
    let mut expected = wanted.to_vec();
    expected.sort_unstable();
    assert_eq!(retransmitted, expected, "after the end, the relay answered");
    // Then it stops by itself, within the ring's span and a margin.
    assert!(source.wait(Duration::from_secs(6)).success(), "source exit");
    let src = common::stats(&stats);
    assert!(
        src["unicast"]["standby_retransmitted"].as_u64().unwrap() >= 2,
        "{src}"
    );
}
