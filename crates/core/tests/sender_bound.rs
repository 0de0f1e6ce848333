//! Sender-bound keys (issue 13, finding 1): a member cannot speak for another member.
//!
//! The attack: member Z sends member X a PING that claims to come from member Y, with the
//! highest counter there is. With one key per group it verified, X's replay window for Y
//! jumped to 2^64-1, and X refused every real message of Y as a replay: repair between X and
//! Y stopped (396 unrecovered in the review). With keys per pair, Z holds only the keys it
//! shares with each member, none of which X accepts for Y.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use groupcast_core::Time;
use groupcast_wire::proto::{Body, Ranges, SeqRange};

/// Everything member Z (id 3) can sign with: the keys of its own view of the group.
fn forger_keys() -> Vec<[u8; 32]> {
    let view = group_for(3, 1, KEY, 3);
    view.members
        .iter()
        .filter(|m| m.id.0 != 3)
        .map(|m| m.key)
        .collect()
}

#[test]
fn a_member_cannot_poison_another_members_replay_window() {
    let mut x = client_in_group(1, 3, |_| {});
    feed(&mut x, 100, 120, &[], 0);
    let now = Time::from_millis(25);
    let keys = forger_keys();
    assert_eq!(keys.len(), 2);
    for key in &keys {
        x.handle_peer(
            now,
            &message_keyed(2, u64::MAX, 1, key, Body::Ping { nonce: 0 }),
        );
    }
    let k = &x.stats().counters;
    assert_eq!(
        (k.unauthenticated, k.replayed),
        (2, 0),
        "both forgeries fail authentication; no window moved"
    );
    assert!(
        drain(&mut x, now).iter().all(|(_, b)| b[3] == 3),
        "nothing answers a forgery (only X's own pings go out)"
    );

    // Y's real request, with an ordinary counter, is still served.
    let ranges = [SeqRange { start: 105, len: 2 }];
    let body = Body::Request {
        ssrc: SSRC,
        answerers: 0,
        ranges: Ranges::List(&ranges),
    };
    x.handle_peer(now, &message_to(1, 2, 5, 1, &KEY, body));
    let repairs: Vec<_> = drain(&mut x, now)
        .into_iter()
        .filter(|(_, b)| b[3] == 2)
        .collect();
    assert_eq!(repairs.len(), 2, "Y is still served");
    assert!(repairs.iter().all(|(dst, _)| *dst == peer_addr(2)));
    assert_eq!(x.stats().counters.replayed, 0);
}

#[test]
fn a_member_cannot_make_a_peer_serve_a_third_member() {
    // Z asks X for repairs in Y's name, to aim X's answers (and Y's budget) at Y.
    let mut x = client_in_group(1, 3, |_| {});
    feed(&mut x, 100, 120, &[], 0);
    let now = Time::from_millis(25);
    let ranges = [SeqRange {
        start: 100,
        len: 20,
    }];
    for key in forger_keys() {
        let body = Body::Request {
            ssrc: SSRC,
            answerers: 0,
            ranges: Ranges::List(&ranges),
        };
        x.handle_peer(now, &message_keyed(2, 1, 1, &key, body));
    }
    assert_eq!(x.stats().counters.repairs_served, 0);
    assert_eq!(x.stats().counters.unauthenticated, 2);
}

#[test]
fn each_member_holds_a_different_key_for_each_peer_and_pairs_agree() {
    let views: Vec<_> = (1..=4).map(|me| group_for(me, 1, KEY, 4)).collect();
    for (i, v) in views.iter().enumerate() {
        let me = i as u64 + 1;
        let others: Vec<_> = v.members.iter().filter(|m| m.id.0 != me).collect();
        for m in &others {
            let theirs = views[m.id.0 as usize - 1]
                .members
                .iter()
                .find(|t| t.id.0 == me)
                .unwrap();
            assert_eq!(m.key, theirs.key, "{me} and {} share a key", m.id);
            assert_ne!(m.key, KEY, "never the group's secret");
        }
        let mut keys: Vec<_> = others.iter().map(|m| m.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), others.len(), "one key per peer");
    }
}
