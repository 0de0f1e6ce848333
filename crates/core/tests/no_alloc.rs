//! Steady state allocates nothing per packet: receive, release, play-out, loss detection,
//! requests, serving and repair all reuse buffers allocated up front.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use groupcast_core::{Client, Time};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; only bumps a thread-local counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Two clients of one group exchange requests and repairs over a perfect "network" of
/// pre-allocated buffers, with one packet in 20 dropped at client 1.
fn run(
    a: &mut Client,
    b: &mut Client,
    packets: &[Vec<u8>],
    from: usize,
    to: usize,
    wire: &mut [u8],
) {
    for (i, pkt) in packets.iter().enumerate().take(to).skip(from) {
        let now = Time::from_millis(i as u64);
        if i % 20 != 7 {
            a.handle_media(now, source_addr(), pkt);
        }
        b.handle_media(now, source_addr(), pkt);
        exchange(a, b, now, wire);
        exchange(b, a, now, wire);
    }
}

fn exchange(me: &mut Client, other: &mut Client, now: Time, wire: &mut [u8]) {
    me.handle_timeout(now);
    while let Some(t) = me.poll_transmit(now, wire) {
        other.handle_peer(now, &wire[..t.len]);
    }
    while me.poll_playout(now).is_some() {}
}

#[test]
fn steady_state_receive_repair_and_playout_do_not_allocate() {
    let mut a = client_in_group(1, 2, |_| {});
    let mut b = client_in_group(2, 2, |_| {});
    let packets: Vec<Vec<u8>> = (0..20_000u32).map(|s| rtp(s as u16)).collect();
    let mut wire = vec![0u8; 1600];
    run(&mut a, &mut b, &packets, 0, 5_000, &mut wire); // warm-up: buffers fill, queues reach size
    // The counter itself works: one allocation is seen.
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(vec![1u8; 10]));
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCS.with(|a| a.replace(0)), 1);
    COUNTING.with(|c| c.set(true));
    run(&mut a, &mut b, &packets, 5_000, 20_000, &mut wire);
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.with(Cell::get);
    let k = &a.stats().counters;
    assert!(
        k.repaired > 600,
        "the measured window includes repairs: {}",
        k.repaired
    );
    assert_eq!(k.unrecovered, 0);
    assert!(b.stats().counters.repairs_served > 600);
    assert_eq!(allocs, 0, "allocations in 15,000 packets of steady state");
}
