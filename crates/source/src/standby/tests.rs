use super::*;
use crate::{Fanout, FanoutConfig};
use groupcast_wire::SeqNo;
use groupcast_wire::unicast::ticket_key;
use std::net::SocketAddr;

const SECRET: &[u8] = b"unicast secret shared with the manager";
const WALL: u64 = 1_800_000_000_000;
const EXPIRES: u64 = WALL + 60_000;

fn relay(max_standby: usize) -> Fanout {
    Fanout::new(relay_config(max_standby))
}

fn relay_config(max_standby: usize) -> FanoutConfig {
    FanoutConfig {
        channel: "news".into(),
        secret: SECRET.to_vec(),
        max_viewers: 10,
        keep: Duration::from_secs(2),
        challenge_secret: [3; 32],
        initial_counter: 1,
        max_standby,
        repair_permille: 10,
        multicast_after: 2,
    }
}

fn viewer(session: u64) -> Standby {
    let mut v = Standby::new(SessionId(session), 1);
    let key = ticket_key(SECRET, "news", SessionId(session), EXPIRES);
    v.set_ticket(EXPIRES, &key);
    v
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Runs both sides for `ms` milliseconds from `t0` with a one-way delay of 1 ms (in whole
/// steps); the datagrams the viewer takes as retransmissions are returned.
fn exchange(v: &mut Standby, f: &mut Fanout, at: SocketAddr, t0: u64, ms: u64) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    for t in t0..t0 + ms {
        let now = Time::from_millis(t);
        while let Some(n) = v.poll_transmit(now, &mut buf) {
            f.handle_viewer(now + Duration::from_millis(1), WALL, at, &buf[..n]);
        }
        while let Some((to, n)) = f.poll_transmit(&mut buf) {
            assert_eq!(to, at);
            if v.handle(now + Duration::from_millis(2), &buf[..n]) {
                got.push(buf[..n].to_vec());
            }
        }
    }
    got
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut d = vec![0x80, 33];
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
    d
}

#[test]
fn a_viewer_registers_and_gets_what_it_nacks_only() {
    let (mut v, mut f) = (viewer(7), relay(10));
    assert!(!v.usable());
    exchange(&mut v, &mut f, addr(4000), 0, 10);
    assert!(v.usable());
    assert_eq!(v.rtt(), Some(Duration::from_millis(2)));
    assert_eq!(
        (
            f.stats().standby_joined,
            f.stats().joined,
            f.viewers().count()
        ),
        (1, 0, 1)
    );
    // 1,000 datagrams earn the relay's budget 10 retransmissions (1 %).
    for s in 0..1_000u16 {
        f.on_datagram(Time::from_millis(10), SeqNo(u64::from(s)), &rtp(s));
    }
    assert!(
        exchange(&mut v, &mut f, addr(4000), 10, 1).is_empty(),
        "no media"
    );
    v.nack(Ssrc(9), &[10, 11, 50]);
    let got = exchange(&mut v, &mut f, addr(4000), 11, 1);
    let seqs: Vec<u16> = got
        .iter()
        .map(|d| u16::from_be_bytes([d[2], d[3]]))
        .collect();
    assert_eq!(seqs, [10, 11, 50]);
    assert_eq!((v.stats().nacks_sent, v.stats().packets_nacked), (1, 3));
    // Refreshes keep it registered past the relay's silence timeout.
    exchange(&mut v, &mut f, addr(4000), 12, 12_000);
    f.handle_timeout(Time::from_millis(12_012));
    assert_eq!(f.viewers().count(), 1);
    assert!(v.stats().refreshes >= 12);
}

#[test]
fn nothing_is_nacked_before_the_relay_answers_and_full_stops_nacks() {
    let (mut v, mut f) = (viewer(7), relay(1));
    v.nack(Ssrc(9), &[1, 2, 3]);
    let mut buf = [0u8; 512];
    let n = v.poll_transmit(Time::ZERO, &mut buf).unwrap();
    let m = unicast::open(
        &GroupKey::new(&ticket_key(SECRET, "news", SessionId(7), EXPIRES)),
        &buf[..n],
    )
    .unwrap();
    assert_eq!(m.body, UnicastBody::Standby, "a registration, not a NACK");
    assert_eq!(v.stats().nacks_sent, 0);
    f.handle_viewer(Time::ZERO, WALL, addr(4000), &buf[..n]);
    // The relay is full: a second viewer is refused and sends no NACKs.
    exchange(&mut v, &mut f, addr(4000), 0, 10);
    assert!(v.usable());
    assert_eq!(
        v.stats().nacks_sent,
        1,
        "the NACKs waiting went out once registered"
    );
    let mut w = viewer(8);
    exchange(&mut w, &mut f, addr(4001), 0, 10);
    assert!(!w.usable(), "{:?} {:?}", w.stats(), f.stats());
    assert_eq!(w.stats().refused_full, 1);
    w.nack(Ssrc(9), &[1]);
    exchange(&mut w, &mut f, addr(4001), 10, 1);
    assert_eq!(w.stats().nacks_sent, 0);
}

#[test]
fn foreign_and_garbage_datagrams_are_counted() {
    let mut v = viewer(7);
    assert!(!v.handle(
        Time::ZERO,
        b"GU not a message of ours......................................."
    ));
    assert!(!v.handle(Time::ZERO, &[0x10, 0x20]));
    assert_eq!(v.stats().bad, 2);
    assert!(!v.usable());
}

/// A datagram that five standby viewers lost (upstream of them all) costs the relay two
/// sends, not five: a unicast answer to the first viewer and one resend to the multicast
/// group for the second, which covers the three whose NACKs follow at once. A viewer that
/// asks again (the resend did not reach it) is answered by unicast.
#[test]
fn a_datagram_several_viewers_lost_is_resent_once_to_the_group() {
    let mut f = relay(10);
    let mut viewers: Vec<(Standby, SocketAddr)> = (1..=5)
        .map(|s| (viewer(s), addr(4000 + s as u16)))
        .collect();
    for (v, at) in &mut viewers {
        exchange(v, &mut f, *at, 0, 10);
        assert!(v.usable());
    }
    for s in 0..1_000u16 {
        f.on_datagram(Time::from_millis(10), SeqNo(u64::from(s)), &rtp(s));
    }
    let mut unicast = 0;
    for (i, (v, at)) in viewers.iter_mut().enumerate() {
        v.nack(Ssrc(9), &[500]);
        unicast += exchange(v, &mut f, *at, 11 + i as u64, 1).len();
    }
    let mut buf = [0u8; 2048];
    let resent: Vec<Vec<u8>> =
        std::iter::from_fn(|| f.poll_multicast(&mut buf).map(|n| buf[..n].to_vec())).collect();
    assert_eq!(unicast, 1, "the first viewer alone is answered by unicast");
    assert_eq!(
        resent,
        [rtp(500)],
        "one resend to the group, the very datagram"
    );
    let s = f.stats();
    assert_eq!((s.multicast_resent, s.multicast_covered), (1, 3));
    assert_eq!(s.standby_retransmitted, 1);
    // The fifth viewer asks again 30 ms later: the resend did not reach it.
    let (v, at) = &mut viewers[4];
    v.nack(Ssrc(9), &[500]);
    assert_eq!(exchange(v, &mut f, *at, 45, 1), [rtp(500)]);
    assert!(f.poll_multicast(&mut buf).is_none());
    // Switched off, every viewer is answered by unicast.
    let mut off = Fanout::new(FanoutConfig {
        multicast_after: 0,
        ..relay_config(10)
    });
    let mut answered = 0;
    for s in 1..=3u64 {
        let (mut v, at) = (viewer(s), addr(4100 + s as u16));
        exchange(&mut v, &mut off, at, 0, 10);
        if s == 1 {
            for q in 0..1_000u16 {
                off.on_datagram(Time::from_millis(10), SeqNo(u64::from(q)), &rtp(q));
            }
        }
        v.nack(Ssrc(9), &[500]);
        answered += exchange(&mut v, &mut off, at, 11, 1).len();
    }
    assert_eq!((answered, off.stats().multicast_resent), (3, 0));
}

/// The relay was down (often it is the source itself): registrations are retried every
/// 200 ms, but when the stream starts the viewer asks at once, so the relay is usable before
/// the stream's first holes fall due; once registered, a start changes nothing.
#[test]
fn a_starting_stream_registers_at_once() {
    let (mut v, mut buf) = (viewer(7), [0u8; 256]);
    assert!(v.poll_transmit(Time::from_millis(0), &mut buf).is_some());
    assert!(v.poll_transmit(Time::from_millis(50), &mut buf).is_none());
    v.stream_started(Time::from_millis(50));
    assert!(v.poll_transmit(Time::from_millis(50), &mut buf).is_some());
    assert!(v.poll_transmit(Time::from_millis(51), &mut buf).is_none());
    let mut f = relay(10);
    exchange(&mut v, &mut f, addr(4000), 60, 300);
    assert!(v.usable());
    v.stream_started(Time::from_millis(400));
    assert!(v.poll_transmit(Time::from_millis(400), &mut buf).is_none());
}

/// When the relay's budget runs low, unicast answers leave its last 8 packets to multicast
/// resends, each of which repairs every viewer that lost the datagram.
#[test]
fn answers_leave_the_last_of_the_budget_to_resends() {
    let mut f = relay(10);
    let (mut a, mut b) = (viewer(1), viewer(2));
    exchange(&mut a, &mut f, addr(4001), 0, 10);
    exchange(&mut b, &mut f, addr(4002), 0, 10);
    // 1,000 datagrams: 10 packets earned, 32 to start with.
    for s in 0..1_000u16 {
        f.on_datagram(Time::from_millis(10), SeqNo(u64::from(s)), &rtp(s));
    }
    let many: Vec<u16> = (100..149).collect();
    a.nack(Ssrc(9), &many);
    let got = exchange(&mut a, &mut f, addr(4001), 11, 1).len();
    assert_eq!(got, 42 - 8, "unicast stops 8 packets short");
    b.nack(Ssrc(9), &[500]);
    assert!(exchange(&mut b, &mut f, addr(4002), 12, 1).is_empty());
    a.nack(Ssrc(9), &[500]);
    exchange(&mut a, &mut f, addr(4001), 13, 1);
    let mut buf = [0u8; 2048];
    assert_eq!(
        f.poll_multicast(&mut buf),
        Some(rtp(500).len()),
        "the resend is paid"
    );
    assert_eq!(f.stats().multicast_resent, 1);
}
