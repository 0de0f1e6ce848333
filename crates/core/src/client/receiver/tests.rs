use super::*;

fn rtp(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let mut d = vec![0x80, 33];
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&ts.to_be_bytes());
    d.extend_from_slice(&ssrc.to_be_bytes());
    d.extend_from_slice(&[0x47; 188]);
    d
}

fn src() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

fn feed(r: &mut StreamReceiver, now: Time, d: &[u8]) -> Numbered {
    let pkt = RtpPacket::parse(d).unwrap();
    let n = r.number(now, &pkt).unwrap();
    r.stored(now, n.seq, true);
    n
}

#[test]
fn first_stream_is_placed_at_its_own_number_and_wraps_on() {
    let mut r = StreamReceiver::new(1500, src());
    assert_eq!(
        r.route(Time::ZERO, Ssrc(5), Duration::from_secs(1)),
        Route::Restart
    );
    assert_eq!(r.restart(Time::ZERO, Ssrc(5), 1000), None);
    let first = feed(&mut r, Time::ZERO, &rtp(5, 65_535, 0));
    assert_eq!(first.origin, Some(first.seq));
    assert_eq!(
        first.seq.0 as u16, 65_535,
        "offset 0: our number extends the RTP one"
    );
    let n = feed(&mut r, Time::from_millis(1), &rtp(5, 0, 90));
    assert_eq!((n.seq, n.origin), (first.seq.next(), None));
    assert_eq!(r.wire(n.seq), 0);
    assert_eq!(r.resolve(Ssrc(5), 1), Some(n.seq.next()));
    assert_eq!(r.resolve(Ssrc(6), 1), None);
}

#[test]
fn restart_needs_two_consecutive_packets_while_quiet_and_follows_on() {
    let mut r = StreamReceiver::new(1500, src());
    let buffer = Duration::from_secs(1);
    r.restart(Time::ZERO, Ssrc(5), 1000);
    let old = feed(&mut r, Time::ZERO, &rtp(5, 100, 0)).seq;
    let t = Time::from_millis(20);
    assert_eq!(r.route(t, Ssrc(9), buffer), Route::Foreign);
    let (a, b, c) = (rtp(9, 7, 0), rtp(9, 9, 0), rtp(9, 10, 0));
    let parse = |d| RtpPacket::parse(d).unwrap();
    assert!(!r.confirm(t, src(), &a, &parse(&a)), "first is held");
    assert!(!r.confirm(t, src(), &b, &parse(&b)), "not consecutive");
    assert!(r.confirm(t, src(), &c, &parse(&c)));
    let (held, _) = r.take_held();
    assert_eq!(held, b);
    r.release_held(held);
    assert_eq!(r.restart(t, Ssrc(9), 1000), Some(Ssrc(5)));
    let n = feed(&mut r, t, &b);
    assert_eq!(n.seq, SeqNo(old.0 + 1 + RESTART_MARGIN));
    assert!(r.is_boundary(n.seq) && n.origin.is_none());
    assert_eq!(
        n.head,
        Some(SeqNo(n.seq.0 - HEAD_PROBE)),
        "its lost first packets' numbers"
    );
    assert_eq!(
        r.wire(SeqNo(n.seq.0 - 1)),
        8,
        "asked for under the new stream's numbering"
    );
    assert!(r.follows(Ssrc(5)) && r.follows(Ssrc(9)));
    assert_eq!(r.resolve(Ssrc(5), 100), Some(old));
    assert_eq!(r.resolve(Ssrc(5), 110), None, "the new stream's numbers");
    assert_eq!(r.wire(old), 100);
    assert_eq!(r.wire(n.seq), 9);
    assert_eq!(r.route(t, Ssrc(5), buffer), Route::Previous);
}

#[test]
fn losses_are_logged_up_to_the_limit() {
    let mut r = StreamReceiver::new(1500, src());
    r.restart(Time::ZERO, Ssrc(5), 1000);
    feed(&mut r, Time::ZERO, &rtp(5, 0, 0));
    r.log_losses(0..LOSS_LOG as u64 + 3);
    let mut out = Vec::new();
    r.drain_losses(&mut out);
    assert_eq!(out.len(), LOSS_LOG);
    assert_eq!(out[0], 3);
}

#[test]
fn due_follows_timestamps_and_reanchors_on_jumps() {
    let mut r = StreamReceiver::new(1500, src());
    let buffer = Duration::from_millis(100);
    r.restart(Time::ZERO, Ssrc(5), 1000);
    let ts0 = feed(&mut r, Time::ZERO, &rtp(5, 0, 0)).rtp_ts;
    assert_eq!(
        r.due(Time::ZERO, ts0 + 90_000, buffer),
        Time::from_millis(1100)
    );
    let jump = r.due(Time::from_millis(10), ts0 + 90_000 * 3600, buffer);
    assert_eq!(jump, Time::from_millis(110));
}
