//! A viewer killed mid-stream: the manager times its session out and refills the group; the
//! other viewers, still losing 2 % of their multicast, have no unrecovered loss once the group
//! has been refilled (and viewers outside the victim's group none at all).
//!
//! Why 2 % and not 5 %: six viewers make two groups of three, and a packet all three miss has
//! no peer to come from (the p³ floor, docs/benchmarks.md). The drop pattern is fixed by each
//! client's seed (1 to 6): at 5 %, seeds 1, 2 and 3 all miss datagram 473, so whenever those
//! three were grouped together the test failed on that floor, not on churn. At 2 % no three of
//! these seeds miss the same datagram within the first 2,000, whatever the grouping.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, call, contiguous_run_of_sample};
use std::time::{Duration, Instant};

#[test]
fn a_killed_viewer_is_replaced_and_the_others_lose_nothing() {
    let sys = System::start("churn", 3, 1500);
    let metros = ["north", "south", "east"];
    let mut clients: Vec<_> = (0..6)
        .map(|i| Some(sys.client(i, metros[i % 3], 0.02, 11, &[])))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let _source = sys.source(12);
    std::thread::sleep(Duration::from_secs(3));
    let sessions_url = format!("{}/api/v1/sessions", sys.url);
    let (_, before) = call("GET", &sessions_url, &sys.admin, None);
    assert_eq!(before.as_array().unwrap().len(), 6, "{before}");
    let victim = sys.stats(5)["session"].as_u64().unwrap();
    let victim_group = sys.stats(5)["group"].as_u64().unwrap();
    let mates: Vec<usize> = (0..5)
        .filter(|&i| sys.stats(i)["group"].as_u64() == Some(victim_group))
        .collect();
    drop(clients[5].take()); // SIGKILL: no goodbye to the manager

    // The manager notices within its 1.5 s timeout and refills the group.
    let limit = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let (_, after) = call("GET", &sessions_url, &sys.admin, None);
        let after = after.as_array().unwrap().clone();
        if after.len() == 5 || Instant::now() > limit {
            break after;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(after.len(), 5, "the dead session timed out: {after:?}");
    assert!(after.iter().all(|s| s["session"] != victim));
    for s in &after {
        assert!(s["epoch"].as_u64().unwrap() >= 2, "{s}");
    }
    // From one buffer after the refill on, nothing may go unrecovered.
    std::thread::sleep(Duration::from_millis(1600));
    let at_refill: Vec<u64> = (0..5)
        .map(|i| sys.stats(i)["unrecovered"].as_u64().unwrap())
        .collect();
    for (i, c) in clients.into_iter().enumerate().take(5) {
        assert!(c.unwrap().wait(Duration::from_secs(20)).success());
        let s = sys.stats(i);
        assert!(s["lost"].as_u64().unwrap() > 10, "client {i}: {s}");
        assert_eq!(
            s["unrecovered"], at_refill[i],
            "client {i} after the refill: {s}"
        );
        if !mates.contains(&i) {
            assert_eq!(
                s["unrecovered"], 0,
                "client {i} was not in the victim's group: {s}"
            );
            contiguous_run_of_sample(&sys.output(i)).unwrap_or_else(|e| panic!("client {i}: {e}"));
        }
    }
}
