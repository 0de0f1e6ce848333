//! Unit tests of membership: keys, rekeys, pings, pongs and return routability.

use super::*;

/// Member `me`'s view of a group of `ids` whose secret is `[secret; 32]`.
fn group(epoch: u32, secret: u8, me: u64, ids: &[u64]) -> Group {
    let members = ids.iter().map(|&id| {
        let addr = format!("127.0.0.1:{}", 1000 + id).parse().unwrap();
        (SenderId(id), addr)
    });
    Group::derived(GroupEpoch(epoch), &[secret; KEY_LEN], SenderId(me), members)
}

#[test]
fn rtt_follows_rfc6298() {
    let r = Rtt::update(None, Duration::from_millis(100));
    assert_eq!(
        (r.srtt, r.rttvar, r.rto()),
        (
            Duration::from_millis(100),
            Duration::from_millis(50),
            Duration::from_millis(300)
        )
    );
    let r = Rtt::update(Some(r), Duration::from_millis(20));
    assert_eq!(r.srtt, Duration::from_millis(90));
    assert_eq!(r.rttvar, Duration::from_millis(57_500) / 1000);
}

#[test]
fn rekey_keeps_state_and_old_key_for_grace() {
    let mut peers = Membership::new(&[5; KEY_LEN]);
    let g1 = group(1, 1, 1, &[1, 2, 3]);
    peers.set(SenderId(1), &g1, Time::ZERO, Duration::from_secs(2));
    assert_eq!(peers.list.len(), 2, "we are not our own peer");
    peers.list[0].sample_rtt(Duration::from_millis(7));
    let g2 = group(2, 2, 1, &[1, 2, 4]);
    peers.set(
        SenderId(1),
        &g2,
        Time::from_millis(100),
        Duration::from_secs(2),
    );
    let two = peers.find(SenderId(2)).unwrap();
    assert!(peers.list[two].rtt.is_some());
    assert!(peers.find(SenderId(3)).is_none() && peers.find(SenderId(4)).is_some());
    let four = peers.find(SenderId(4)).unwrap();
    let has_key = |i, epoch, ms| {
        let at = Time::from_millis(ms);
        peers.key(i, GroupEpoch(epoch), at).is_some()
    };
    assert!(
        has_key(two, 2, 100) && has_key(two, 1, 2099),
        "the old key, in grace"
    );
    assert!(!has_key(two, 1, 2100), "not after");
    assert!(
        !has_key(four, 1, 200),
        "a new member has no key of the epoch before it joined"
    );
    assert!(peers.key(two, GroupEpoch(3), Time::ZERO).is_none());
    assert!(peers.key(9, GroupEpoch(2), Time::ZERO).is_none());
    assert_eq!(peers.best(3), None, "no address proven yet");
    peers.verify_all(Time::from_millis(100));
    assert_eq!(peers.best(3), Some(two));
}

#[test]
fn unanswered_pings_silence_a_peer_until_it_answers() {
    let mut peers = Membership::new(&[5; KEY_LEN]);
    let g = group(1, 1, 1, &[2]);
    peers.set(SenderId(1), &g, Time::ZERO, Duration::from_secs(2));
    let (every, mut events, mut nonces) = (Duration::from_secs(1), VecDeque::new(), vec![]);
    assert_eq!(peers.next_ping_time(every), Some(Time::ZERO));
    peers.ping_due(Time::ZERO, (every, 3), &mut events, |_, n| nonces.push(n));
    let t = Time::from_millis(10);
    assert!(!peers.verified(0, t), "no nonce echoed yet");
    assert_eq!(
        peers.live(3).count(),
        0,
        "not asked before its address is proven"
    );
    assert_eq!(
        peers.pong(0, t, (0, nonces[0] ^ 1), 3),
        None,
        "a nonce we never sent proves nothing"
    );
    assert_eq!(peers.list[0].rtt, None);
    assert_eq!(peers.pong(0, t, (0, nonces[0]), 3), Some(false));
    assert_eq!(
        peers.list[0].rtt.map(|r| r.srtt),
        Some(Duration::from_millis(10))
    );
    assert!(peers.verified(0, t));
    assert!(
        !peers.verified(0, t + VERIFIED_FOR),
        "renewed by later pongs only"
    );
    assert_eq!(peers.live(3).collect::<Vec<_>>(), [SenderId(2)]);
    for s in 1..4 {
        peers.ping_due(Time::from_secs(s), (every, 3), &mut events, |_, n| {
            nonces.push(n);
        });
    }
    assert_eq!(nonces.len(), 4);
    assert_eq!(events, [Event::PeerSilent(SenderId(2))]);
    assert_eq!(peers.live(3).count(), 0);
    assert_eq!(peers.next_ping_time(every), Some(Time::from_secs(4)));
    let now = Time::from_millis(3_010);
    assert_eq!(peers.pong(0, now, (3_000_000, nonces[3]), 3), Some(true));
    assert_eq!(
        peers.pong(0, now, (now.as_micros() + 1, nonces[1]), 3),
        Some(false),
        "a recent nonce, a late pong"
    );
    assert_eq!(peers.live(3).collect::<Vec<_>>(), [SenderId(2)]);
    let distinct: std::collections::HashSet<_> = nonces.iter().collect();
    assert_eq!(distinct.len(), 4, "a fresh nonce per ping");
}

/// Member 1's view of a group with member 2, whose address is not proven yet.
fn unproven_pair() -> Membership {
    let mut peers = Membership::new(&[5; KEY_LEN]);
    peers.set(
        SenderId(1),
        &group(1, 1, 1, &[2]),
        Time::ZERO,
        Duration::ZERO,
    );
    peers
}

#[test]
fn an_unproven_member_is_pinged_sooner_and_challenged_on_contact() {
    let mut peers = unproven_pair();
    let (every, mut events, mut at) = (Duration::from_secs(1), VecDeque::new(), vec![]);
    for ms in 0..1_000 {
        peers.ping_due(Time::from_millis(ms), (every, 3), &mut events, |_, _| {
            at.push(ms)
        });
    }
    assert_eq!(at, [0, 50, 150, 350, 750], "50 ms, doubling");
    assert!(events.is_empty(), "never proven: not reported silent");
    let t = Time::from_millis(1_000);
    assert!(peers.challenge(0, t).is_some());
    assert!(peers.challenge(0, t + Duration::from_millis(10)).is_none());
    assert!(peers.challenge(0, t + CHALLENGE_GAP).is_some());
    peers.verify_all(t);
    assert!(
        peers.challenge(0, t + CHALLENGE_GAP * 3).is_none(),
        "proven"
    );
}

#[test]
fn pongs_to_an_unproven_address_are_bounded_and_a_moved_member_proves_itself_again() {
    let mut peers = unproven_pair();
    let t = Time::from_millis(1_000);
    assert!(peers.may_pong(0, t));
    assert!(!peers.may_pong(0, t + Duration::from_millis(50)));
    assert!(peers.may_pong(0, t + UNVERIFIED_PONG_GAP));
    peers.verify_all(t);
    assert!(
        (0..5).all(|_| peers.may_pong(0, t)),
        "a proven peer: every ping"
    );
    let mut moved = group(2, 1, 1, &[2]);
    moved.members[0].addr = "127.0.0.1:4444".parse().unwrap();
    peers.set(SenderId(1), &moved, t, Duration::ZERO);
    assert!(!peers.verified(0, t), "a new address proves itself again");
}

#[test]
fn a_member_answering_requests_is_not_silenced_by_lost_pings() {
    let mut peers = unproven_pair();
    peers.verify_all(Time::ZERO);
    // Four pings a second apart from `from`, none answered (lost on the way or back); a
    // repair from the member at `repair_at`, if any. Returns the events and the silenced.
    let run = |peers: &mut Membership, from: u64, repair_at: Option<u64>| {
        let mut events = VecDeque::new();
        let mut silenced = 0;
        for s in from..from + 4 {
            if repair_at == Some(s) {
                assert!(!peers.answered(0, 3), "not silent yet");
            }
            let every = (Duration::from_secs(1), 3);
            silenced += peers.ping_due(Time::from_secs(s), every, &mut events, |_, _| {});
        }
        (events, silenced)
    };
    let (events, silenced) = run(&mut peers, 0, None);
    assert_eq!(events, [Event::PeerSilent(SenderId(2))], "the control");
    assert_eq!(silenced, 1);
    assert_eq!(peers.live(3).count(), 0);
    assert!(peers.answered(0, 3), "a repair ends its silence");
    assert_eq!(peers.live(3).count(), 1);
    // Again four unanswered pings, but a repair came between the second and the third.
    let (events, silenced) = run(&mut peers, 4, Some(6));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(silenced, 0);
    assert_eq!(peers.live(3).count(), 1);
}
