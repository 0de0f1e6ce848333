//! The last resort at the relay: standby viewers get no media, only what they NACK, within
//! budgets that grow with the stream.

use super::*;

#[test]
fn a_standby_viewer_gets_no_media_only_what_it_nacks() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    admit_as(&mut f, t, (1, addr(5001), 1), UnicastBody::Standby);
    assert_eq!((f.stats().joined, f.stats().standby_joined), (0, 1));
    for i in 0..1_000 {
        media(&mut f, t, i);
    }
    assert!(drain(&mut f).is_empty(), "no media to a standby viewer");
    f.handle_viewer(
        t,
        WALL,
        addr(5001),
        &nack(1, 3, &[SeqRange { start: 500, len: 2 }]),
    );
    let sent = drain(&mut f);
    assert_eq!(sent.len(), 2);
    assert_eq!(&sent[0].1[2..4], &500u16.to_be_bytes());
    let s = f.stats();
    assert_eq!((s.standby_retransmitted, s.repair_bytes), (2, 24));
    // A JOIN turns it into a fed viewer (its multicast went away).
    f.handle_viewer(t, WALL, addr(5001), &join(1, 4, [0; 16]));
    media(&mut f, t + ON_AIR_HOLD, 1_000);
    assert_eq!(drain(&mut f).len(), 1);
    assert_eq!((f.stats().joined, f.stats().standby_joined), (1, 1));
}

#[test]
fn standby_nacks_draw_on_budgets_that_grow_with_the_stream() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    for s in 1..=4 {
        admit_as(
            &mut f,
            t,
            (s, addr(5000 + s as u16), 1),
            UnicastBody::Standby,
        );
    }
    // A fifth is over max_standby.
    admit_as(&mut f, t, (5, addr(5005), 1), UnicastBody::Standby);
    assert_eq!(f.stats().refused_full, 1);
    drain(&mut f);
    // 100,000 datagrams; every 100 of them each viewer NACKs 100 packets (100 %).
    let mut counter = 10;
    for i in 0..100_000u64 {
        media(&mut f, t, i);
        if i % 100 == 99 {
            counter += 1;
            for s in 1..=4u64 {
                let r = [SeqRange {
                    start: (i - 99) as u16,
                    len: 100,
                }];
                f.handle_viewer(t, WALL, addr(5000 + s as u16), &nack(s, counter, &r));
            }
            drain(&mut f);
        }
    }
    let s = f.stats();
    // Each viewer may take 0.5 % of the stream (500) plus its depth (50); all four together
    // 1 % of what was sent (1,000) plus the relay's 32 to start with, and never more, at any
    // moment: the relay's budget binds.
    assert!(s.standby_retransmitted <= 1_000 + 32, "{s:?}");
    assert!(s.standby_retransmitted >= 990, "{s:?}");
    assert_eq!(s.standby_limited, 400 * 1_000 - s.standby_retransmitted);
    for v in f.viewers() {
        assert!(v.retransmitted <= 500 + 50, "{v:?}");
    }
}

#[test]
fn a_datagram_lost_at_the_start_of_the_stream_is_resent() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    for s in 1..=3 {
        admit_as(
            &mut f,
            t,
            (s, addr(5000 + s as u16), 1),
            UnicastBody::Standby,
        );
    }
    drain(&mut f);
    // 100 datagrams in (1 % of them is one packet): three viewers each miss datagram 50.
    for i in 0..100u64 {
        media(&mut f, t, i);
    }
    let r = [SeqRange { start: 50, len: 1 }];
    for s in 1..=3u64 {
        f.handle_viewer(t, WALL, addr(5000 + s as u16), &nack(s, 11, &r));
    }
    drain(&mut f);
    assert_eq!(f.stats().standby_retransmitted, 3, "{:?}", f.stats());
}

#[test]
fn one_standby_viewer_cannot_take_more_than_its_share() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    admit_as(&mut f, t, (1, addr(5001), 1), UnicastBody::Standby);
    let mut counter = 10;
    for i in 0..20_000u64 {
        media(&mut f, t, i);
        if i % 10 == 9 {
            counter += 1;
            let r = [SeqRange {
                start: (i - 9) as u16,
                len: 10,
            }];
            f.handle_viewer(t, WALL, addr(5001), &nack(1, counter, &r));
            drain(&mut f);
        }
    }
    // 0.5 % of 20,000 plus the depth of 50 (less what a full budget could not keep), far
    // under the relay's 1 %.
    let n = f.stats().standby_retransmitted;
    assert!((145..=150).contains(&n), "{n}");
}

#[test]
fn a_proven_nack_whose_registration_was_lost_registers_a_standby_viewer() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    for i in 0..1_000 {
        media(&mut f, t, i);
    }
    // STANDBY, the challenge; the echoing STANDBY is lost and a NACK with the nonce comes.
    let exp = WALL + 30_000;
    let first = signed(1, 1, [0; NONCE_LEN], UnicastBody::Standby);
    f.handle_viewer(t, WALL, addr(5001), &first);
    let (_, challenge) = drain(&mut f).pop().unwrap();
    let key = GroupKey::new(&ticket_key(SECRET, "news", SessionId(1), exp));
    let nonce = unicast::open(&key, &challenge).unwrap().nonce;
    let r = [SeqRange { start: 900, len: 1 }];
    let nack = signed(
        1,
        2,
        nonce,
        UnicastBody::Nack {
            ssrc: 0,
            ranges: Ranges::List(&r),
        },
    );
    f.handle_viewer(t, WALL, addr(5001), &nack);
    assert_eq!((f.stats().joined, f.stats().standby_joined), (0, 1));
    assert_eq!(drain(&mut f).len(), 1, "the NACKed packet, nothing more");
    media(&mut f, t, 1_000);
    assert!(
        drain(&mut f).is_empty(),
        "no media: it never asked for the feed"
    );
}
