use super::*;
use groupcast_wire::proto::{Ranges, SeqRange};

const SECRET: &[u8] = b"unicast secret shared with the manager";
const WALL: u64 = 1_800_000_000_000;

fn fanout(max_viewers: usize) -> Fanout {
    Fanout::new(FanoutConfig {
        channel: "news".into(),
        secret: SECRET.to_vec(),
        max_viewers,
        keep: Duration::from_secs(2),
        challenge_secret: [9; 32],
        initial_counter: 1,
        max_standby: 4,
        repair_permille: 10,
        // Every answer by unicast here (standby/tests.rs has the multicast resends).
        multicast_after: 0,
    })
}

/// A viewer's message under the ticket (`secret`, `channel`, `session`, `expires`).
fn msg(
    secret: &[u8],
    channel: &str,
    session: u64,
    expires: u64,
    counter: u64,
    nonce: [u8; NONCE_LEN],
    body: UnicastBody<'_>,
) -> Vec<u8> {
    let key = GroupKey::new(&ticket_key(secret, channel, SessionId(session), expires));
    let m = UnicastMessage {
        counter,
        session: SessionId(session),
        expires_ms: expires,
        nonce,
        body,
    };
    let mut buf = [0u8; 256];
    let n = m.emit(&key, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// A message of `session` to the "news" channel under a ticket valid 30 s more.
fn signed(session: u64, counter: u64, nonce: [u8; NONCE_LEN], body: UnicastBody<'_>) -> Vec<u8> {
    msg(SECRET, "news", session, WALL + 30_000, counter, nonce, body)
}

fn join(session: u64, counter: u64, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    signed(session, counter, nonce, UnicastBody::Join)
}

fn leave(session: u64, counter: u64) -> Vec<u8> {
    signed(session, counter, [0; NONCE_LEN], UnicastBody::Leave)
}

/// Everything the fanout sends now, by destination.
fn drain(f: &mut Fanout) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 2048];
    std::iter::from_fn(|| {
        f.poll_transmit(&mut buf)
            .map(|(to, n)| (to, buf[..n].to_vec()))
    })
    .collect()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Admits `session` at `at`: JOIN, read the challenge, JOIN with its nonce.
fn admit(f: &mut Fanout, now: Time, session: u64, at: SocketAddr, counter: u64) {
    admit_as(f, now, (session, at, counter), UnicastBody::Join);
}

/// Admits `session` at `at` with `body` (JOIN or STANDBY) twice, the second time echoing the
/// challenge's nonce.
fn admit_as(
    f: &mut Fanout,
    now: Time,
    (session, at, counter): (u64, SocketAddr, u64),
    body: UnicastBody<'_>,
) {
    let first = signed(session, counter, [0; NONCE_LEN], body);
    f.handle_viewer(now, WALL, at, &first);
    let sent = drain(f);
    let (to, challenge) = sent.last().expect("a challenge");
    assert_eq!(*to, at);
    let key = GroupKey::new(&ticket_key(
        SECRET,
        "news",
        SessionId(session),
        WALL + 30_000,
    ));
    let c = unicast::open(&key, challenge).expect("the challenge verifies under the ticket");
    assert_eq!(c.body, UnicastBody::Challenge);
    let echo = signed(session, counter + 1, c.nonce, body);
    f.handle_viewer(now, WALL, at, &echo);
}

fn media(f: &mut Fanout, now: Time, seq: u64) {
    let mut d = vec![0x80, 33];
    d.extend_from_slice(&(seq as u16).to_be_bytes());
    d.extend_from_slice(&[0; 8]);
    f.on_datagram(now, SeqNo(seq), &d);
}

#[test]
fn media_flows_only_after_the_address_echoes_its_challenge() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    f.handle_viewer(t, WALL, addr(5000), &join(7, 1, [0; NONCE_LEN]));
    let challenge = drain(&mut f);
    assert_eq!(challenge.len(), 1);
    media(&mut f, t, 1);
    assert!(drain(&mut f).is_empty(), "no media before the echo");
    assert_eq!(f.viewers().count(), 0);
    admit(&mut f, t, 7, addr(5000), 2);
    assert_eq!(f.viewers().count(), 1);
    media(&mut f, t + ON_AIR_HOLD, 2);
    let sent = drain(&mut f);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, addr(5000));
    assert_eq!(f.stats().joined, 1);
    assert_eq!(f.stats().bytes_sent, 12);
}

#[test]
fn a_forged_address_gets_one_small_challenge_and_never_media() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    // The viewer receives at 5000; it learns that address's nonce and claims 6000 (a victim).
    f.handle_viewer(t, WALL, addr(5000), &join(7, 1, [0; NONCE_LEN]));
    let (_, challenge) = drain(&mut f).pop().unwrap();
    let key = GroupKey::new(&ticket_key(SECRET, "news", SessionId(7), WALL + 30_000));
    let nonce = unicast::open(&key, &challenge).unwrap().nonce;
    let forged = join(7, 2, nonce);
    f.handle_viewer(t, WALL, addr(6000), &forged);
    let sent = drain(&mut f);
    assert_eq!(sent.len(), 1, "a challenge for 6000, nothing more");
    assert!(sent[0].1.len() <= forged.len(), "no amplification");
    for i in 0..100 {
        media(&mut f, t, i);
    }
    assert!(drain(&mut f).is_empty());
    assert_eq!(f.viewers().count(), 0);
}

#[test]
fn forged_foreign_and_expired_tickets_get_nothing_and_are_counted() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    let exp = WALL + 30_000;
    let cases = [
        msg(
            b"not the secret",
            "news",
            7,
            exp,
            1,
            [0; 16],
            UnicastBody::Join,
        ),
        msg(SECRET, "sport", 7, exp, 1, [0; 16], UnicastBody::Join),
        b"GU garbage that is long enough to be read as a claim....".to_vec(),
        vec![0x80, 33, 0, 1],
    ];
    for bytes in &cases {
        f.handle_viewer(t, WALL, addr(5000), bytes);
    }
    assert_eq!(f.stats().unauthenticated, cases.len() as u64);
    let stale = msg(SECRET, "news", 7, WALL - 1, 1, [0; 16], UnicastBody::Join);
    f.handle_viewer(t, WALL, addr(5000), &stale);
    assert_eq!(f.stats().expired, 1);
    assert!(drain(&mut f).is_empty(), "not even a challenge");
}

#[test]
fn a_feed_ends_with_its_ticket_its_silence_or_leave() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    admit(&mut f, t, 1, addr(5001), 1);
    admit(&mut f, t, 2, addr(5002), 1);
    f.handle_viewer(t, WALL, addr(5002), &join(2, 3, [0; NONCE_LEN]));
    assert_eq!(f.viewers().count(), 2);
    f.handle_viewer(t, WALL, addr(5001), &leave(1, 3));
    assert_eq!(f.stats().left, 1);
    assert_eq!(
        f.poll_timeout(),
        Some(t + VIEWER_TIMEOUT + Duration::from_micros(1))
    );
    f.handle_timeout(t + VIEWER_TIMEOUT + Duration::from_micros(1));
    assert_eq!(f.viewers().count(), 0);
    assert_eq!(f.stats().timed_out, 1);
    // A ticket expiring in 1 s ends the feed then, refreshes or not.
    let short = |counter, nonce| {
        msg(
            SECRET,
            "news",
            3,
            WALL + 1_000,
            counter,
            nonce,
            UnicastBody::Join,
        )
    };
    f.handle_viewer(t, WALL, addr(5003), &short(1, [0; 16]));
    let (_, c) = drain(&mut f).pop().unwrap();
    let key = GroupKey::new(&ticket_key(SECRET, "news", SessionId(3), WALL + 1_000));
    f.handle_viewer(
        t,
        WALL,
        addr(5003),
        &short(2, unicast::open(&key, &c).unwrap().nonce),
    );
    assert_eq!(f.viewers().count(), 1);
    f.handle_timeout(t + Duration::from_millis(1_001));
    assert_eq!(f.viewers().count(), 0);
}

#[test]
fn beyond_the_cap_a_viewer_is_told_full() {
    let mut f = fanout(1);
    let t = Time::from_secs(1);
    admit(&mut f, t, 1, addr(5001), 1);
    admit(&mut f, t, 2, addr(5002), 1);
    assert_eq!(f.viewers().count(), 1);
    assert_eq!(f.stats().refused_full, 1);
    let (to, full) = drain(&mut f).pop().unwrap();
    assert_eq!(to, addr(5002));
    let key = GroupKey::new(&ticket_key(SECRET, "news", SessionId(2), WALL + 30_000));
    assert_eq!(unicast::open(&key, &full).unwrap().body, UnicastBody::Full);
}

#[test]
fn nacks_are_served_from_the_ring_within_the_viewers_budget() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    admit(&mut f, t, 1, addr(5001), 1);
    for i in 0..2_000 {
        media(&mut f, t, i);
    }
    drain(&mut f);
    let ranges = [SeqRange {
        start: 0,
        len: 2_000,
    }];
    f.handle_viewer(t, WALL, addr(5001), &nack(1, 3, &ranges));
    assert_eq!(f.stats().retransmitted, u64::from(NACK_BURST));
    assert_eq!(f.stats().nack_limited, 2_000 - u64::from(NACK_BURST));
    assert_eq!(drain(&mut f).len(), NACK_BURST as usize);
    f.handle_viewer(t, WALL, addr(5001), &nack(1, 3, &ranges));
    assert_eq!(f.stats().replayed, 1, "the same NACK again is a replay");
}

#[test]
fn challenges_are_rate_limited_across_viewers() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    for s in 0..200 {
        f.handle_viewer(t, WALL, addr(5000), &join(s, 1, [0; NONCE_LEN]));
    }
    assert_eq!(f.stats().challenges, u64::from(CHALLENGE_BURST));
    assert_eq!(
        f.stats().challenge_limited,
        200 - u64::from(CHALLENGE_BURST)
    );
}

/// A NACK of `session` for `ranges`.
fn nack(session: u64, counter: u64, ranges: &[SeqRange]) -> Vec<u8> {
    signed(
        session,
        counter,
        [0; 16],
        UnicastBody::Nack {
            ssrc: 0,
            ranges: Ranges::List(ranges),
        },
    )
}

/// Viewers that asked for the feed while the stream was off air get nothing for
/// [`ON_AIR_HOLD`] after it comes on: one that leaves then (its multicast came on with the
/// stream) was sent nothing; one that stays is fed after the hold, and across a later break in
/// the stream without a new hold (it is fed already); a newcomer then waits again.
#[test]
fn a_stream_coming_on_air_feeds_nobody_new_for_the_hold() {
    let mut f = fanout(10);
    let t = Time::from_secs(1);
    admit(&mut f, t, 1, addr(5001), 1);
    admit(&mut f, t, 2, addr(5002), 1);
    drain(&mut f);
    let ms = Duration::from_millis;
    let on = t + ms(500);
    for i in 0..50 {
        media(&mut f, on + ms(10 * i), i);
        if i == 20 {
            f.handle_viewer(on + ms(200), WALL, addr(5002), &leave(2, 3));
        }
    }
    assert!(drain(&mut f).is_empty(), "the first 490 ms on air");
    for i in 50..70 {
        media(&mut f, on + ms(10 * i), i);
    }
    let sent = drain(&mut f);
    assert!(sent.iter().all(|(to, _)| *to == addr(5001)));
    assert_eq!(sent.len(), 10, "fed from 600 ms on air");
    // 60 for the one that stayed, 21 for the one that left.
    assert_eq!(f.stats().held, 81);
    // Off air for 2 s, then on again: the fed viewer goes on at once, a newcomer waits.
    let again = on + ms(700) + ms(2_000);
    admit(&mut f, again - ms(100), 3, addr(5003), 1);
    drain(&mut f);
    media(&mut f, again, 70);
    let sent = drain(&mut f);
    assert_eq!(
        sent.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![addr(5001)]
    );
    media(&mut f, again + ON_AIR_HOLD, 71);
    assert_eq!(drain(&mut f).len(), 2);
}

mod standby;
