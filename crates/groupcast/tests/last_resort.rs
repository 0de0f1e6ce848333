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
    let _source = sys.relay_source(&relay, SECRET, 14, &["--last-resort-permille", "50"]);
    for c in clients {
        assert!(c.wait(Duration::from_secs(40)).success(), "client exit");
    }
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
