use super::step::{MAX_BACKUP_ASKS, MAX_ESCALATIONS};
use super::*;
use crate::membership::Group;
use groupcast_wire::proto::{ChannelId, GroupEpoch, KEY_LEN};
use groupcast_wire::rtp::RtpPacket;

fn config() -> Config {
    let mut c = Config::new(ChannelId(1), SenderId(1), "239.1.1.1:5004".parse().unwrap());
    c.max_attempts = 2;
    c
}

fn members(ids: &[u64]) -> Membership {
    let mut m = Membership::new(&[0; KEY_LEN]);
    let members = ids.iter().map(|&id| {
        let addr = format!("127.0.0.1:{}", 1000 + id).parse().unwrap();
        (SenderId(id), addr)
    });
    let group = Group::derived(GroupEpoch(1), &[1; KEY_LEN], SenderId(1), members);
    m.set(SenderId(1), &group, Time::ZERO, Duration::from_secs(1));
    m.verify_all(Time::ZERO);
    m
}

/// A receiver following SSRC 5 whose first packet was number 100.
fn receiver() -> StreamReceiver {
    let mut d = vec![0x80, 33, 0, 100, 0, 0, 0, 0, 0, 0, 0, 5];
    d.extend_from_slice(&[0x47; 188]);
    let mut r = StreamReceiver::new(1500, "127.0.0.1:9".parse().unwrap());
    r.restart(Time::ZERO, Ssrc(5), 1000);
    let n = r
        .number(Time::ZERO, &RtpPacket::parse(&d).unwrap())
        .unwrap();
    r.stored(Time::ZERO, n.seq, true);
    r
}

/// The (recipient, ranges, tail probe) of every queued request.
fn drain(out: &mut Outbox) -> Vec<(u64, Vec<SeqRange>, bool)> {
    std::iter::from_fn(|| out.pop())
        .map(|p| match p.what {
            super::super::outbox::PendingKind::Request {
                ranges,
                n,
                tail_probe,
                ..
            } => (p.to.0, ranges[..usize::from(n)].to_vec(), tail_probe),
            other => panic!("not a request: {other:?}"),
        })
        .collect()
}

#[test]
fn consecutive_numbers_merge_across_wrap() {
    let mut r = Vec::new();
    for s in [65_534u16, 65_535, 0, 4] {
        push_seq(&mut r, s);
    }
    assert_eq!(
        r,
        vec![
            SeqRange {
                start: 65_534,
                len: 3
            },
            SeqRange { start: 4, len: 1 }
        ]
    );
}

#[test]
fn gaps_wait_for_the_hold_then_are_asked_of_all_until_the_deadline() {
    let (c, peers, streams) = (config(), members(&[1, 2, 3]), receiver());
    let (mut raw, mut out, mut counters) = (
        RawBuffer::new(8, 4, 64),
        Outbox::new(1),
        Counters::default(),
    );
    let mut sched = RepairScheduler::new(32);
    let due = Time::from_secs(1);
    let spacing = Duration::from_millis(1);
    let h = streams.highest().unwrap().0;
    sched.add_gap(
        &mut raw,
        h + 1..h + 4,
        (Time::ZERO, due, spacing),
        c.reorder_hold,
    );
    assert_eq!(
        raw.get(SeqNo(h + 1)).map(|s| s.due),
        Some(due - spacing * 3)
    );
    assert_eq!(
        sched.next_request_time(true, &c),
        Some(Time::ZERO + c.reorder_hold)
    );
    assert_eq!(sched.next_request_time(false, &c), None, "nobody to ask");
    let mut to = Targets {
        peers: &peers,
        silent_limit: 3,
        out: &mut out,
        counters: &mut counters,
    };
    sched.send_requests(Time::ZERO, &mut raw, &streams, &c, &mut to);
    assert!(drain(to.out).is_empty(), "still in the reorder hold");
    let now = Time::from_millis(5);
    sched.send_requests(now, &mut raw, &streams, &c, &mut to);
    let asked = vec![SeqRange { start: 101, len: 3 }];
    assert_eq!(
        drain(to.out),
        [(2, asked.clone(), false), (3, asked, false)]
    );
    let retry = sched.next_request_time(true, &c).unwrap();
    assert_eq!(retry, now + c.rto_initial);
    sched.send_requests(retry, &mut raw, &streams, &c, &mut to);
    assert_eq!(drain(to.out).len(), 2, "second attempt");
    // Out of attempts (2) but not of time, with no last resort: asked again, the timer
    // doubling, until an answer could no longer come before the deadline.
    let mut at = retry;
    for double in [1, 2, 4, 8] {
        at = at + c.rto_initial * double;
        assert_eq!(sched.next_request_time(true, &c), Some(at));
        sched.send_requests(at, &mut raw, &streams, &c, &mut to);
        assert_eq!(drain(to.out).len(), 2, "asked again at {at:?}");
    }
    at = at + c.rto_initial * 16;
    assert!(at > due);
    sched.send_requests(at, &mut raw, &streams, &c, &mut to);
    assert!(drain(to.out).is_empty(), "past the deadline: given up");
    assert_eq!(
        raw.get(SeqNo(h + 2)).map(|s| s.next_request),
        Some(Time::NEVER)
    );
}

#[test]
fn step_asks_the_best_first_under_the_ranked_strategy_and_gives_up_near_the_deadline() {
    let mut c = config();
    c.strategy = RequestStrategy::Ranked;
    let mut raw = RawBuffer::new(4, 2, 64);
    let rto = Duration::from_millis(20);
    raw.mark_missing(
        SeqNo(1),
        Time::ZERO,
        Time::from_millis(100),
        Time::from_millis(5),
    );
    let slot = raw.get(SeqNo(1)).unwrap();
    assert_eq!(
        step(slot, Time::ZERO, (rto, None), &c, true),
        Step::Wait(Time::from_millis(5))
    );
    assert_eq!(
        step(slot, Time::from_millis(5), (rto, None), &c, true),
        Step::Ask { ranked: true }
    );
    assert_eq!(
        step(slot, Time::from_millis(90), (rto, None), &c, true),
        Step::GiveUp
    );
    let slot = raw.get_mut(SeqNo(1)).unwrap();
    slot.attempts = 1;
    assert_eq!(
        step(slot, Time::from_millis(5), (rto, None), &c, true),
        Step::Ask { ranked: false }
    );
}

#[test]
fn tail_probes_ask_past_the_highest_and_back_off() {
    let (c, peers, streams) = (config(), members(&[1, 2]), receiver());
    let (mut out, mut counters) = (Outbox::new(1), Counters::default());
    let mut sched = RepairScheduler::new(32);
    let act = streams.activity();
    let first = sched.tail_probe_time(act, true, &c).unwrap();
    assert_eq!(first, Time::ZERO + c.reorder_hold * 2);
    assert_eq!(sched.tail_probe_time(None, true, &c), None);
    let mut to = Targets {
        peers: &peers,
        silent_limit: 3,
        out: &mut out,
        counters: &mut counters,
    };
    sched.tail_probe(first, (act, 8), &c, &mut to);
    let probes = drain(to.out);
    assert_eq!(probes.len(), 1);
    assert_eq!(
        (probes[0].0, probes[0].1[0].start, probes[0].2),
        (2, 101, true)
    );
    let second = sched.tail_probe_time(act, true, &c).unwrap();
    assert_eq!(second, first + c.rto_initial);
    sched.tail_probe(second, (act, 8), &c, &mut to);
    assert_eq!(
        sched.tail_probe_time(act, true, &c),
        Some(second + c.rto_initial * 2)
    );
    sched.progressed();
    sched.restarted();
    assert_eq!(sched.tail_probe_time(act, true, &c), Some(first));
}

#[test]
fn the_last_resort_is_asked_four_times_a_round_trip_apart_within_half_the_buffer() {
    let mut c = config();
    c.buffer = Duration::from_millis(200);
    let ms = Duration::from_millis;
    assert_eq!(last_resort_plan(None, &c), (Duration::ZERO, Duration::ZERO));
    // 10 ms away: asks 15 ms apart, the group given up 60 ms before the deadline.
    assert_eq!(last_resort_plan(Some(ms(10)), &c), (ms(15), ms(60)));
    // 40 ms away: 45 ms apart; four would need 180 ms, more than half the buffer.
    assert_eq!(last_resort_plan(Some(ms(40)), &c), (ms(45), ms(100)));
    // A relay on the same host: no closer than the retry floor.
    assert_eq!(last_resort_plan(Some(ms(0)), &c).0, c.rto_min.max(ms(5)));
}

/// Once the last resort's asks are spent (it may be over its budget and never answer), the
/// group is asked again while an answer can still come in time.
#[test]
fn step_goes_back_to_the_group_when_the_last_resort_is_spent() {
    let mut c = config();
    (c.last_resort, c.last_resort_retry) = (Duration::from_millis(40), Duration::from_millis(10));
    let rto = Duration::from_millis(5);
    let mut raw = RawBuffer::new(4, 2, 64);
    raw.mark_missing(SeqNo(1), Time::ZERO, Time::from_millis(200), Time::ZERO);
    let slot = raw.get_mut(SeqNo(1)).unwrap();
    slot.attempts = c.max_attempts;
    let now = Time::from_millis(50);
    assert_eq!(
        step(slot, now, (rto, None), &c, true),
        Step::Escalate,
        "out of attempts"
    );
    slot.escalations = MAX_ESCALATIONS;
    assert_eq!(
        step(slot, now, (rto, None), &c, true),
        Step::Ask { ranked: false }
    );
    assert_eq!(
        step(slot, Time::from_millis(198), (rto, None), &c, true),
        Step::GiveUp,
        "no answer could come in time"
    );
    assert_eq!(
        step(slot, now, (rto, None), &c, false),
        Step::GiveUp,
        "nobody to ask"
    );
    slot.speculative = true;
    assert_eq!(
        step(slot, now, (rto, None), &c, true),
        Step::GiveUp,
        "a guess"
    );
}

/// The group's turn ends the backups' time earlier; the backups are asked (twice at most)
/// before the relay, and only while an answer from them can come before the relay's turn.
#[test]
fn step_asks_the_backups_between_the_group_and_the_last_resort() {
    let mut c = config();
    (c.last_resort, c.last_resort_retry) = (Duration::from_millis(40), Duration::from_millis(10));
    let (rto, backup) = (Duration::from_millis(5), Duration::from_millis(20));
    let mut raw = RawBuffer::new(4, 2, 64);
    raw.mark_missing(SeqNo(1), Time::ZERO, Time::from_millis(200), Time::ZERO);
    let slot = raw.get_mut(SeqNo(1)).unwrap();
    slot.attempts = 1;
    let ask = Step::Ask { ranked: false };
    // 200 - 40 (relay) - 2 x 20 (backups) = 120 ms: the group's until then.
    assert_eq!(
        step(slot, Time::from_millis(110), (rto, Some(backup)), &c, true),
        ask
    );
    let t = Time::from_millis(118);
    assert_eq!(step(slot, t, (rto, None), &c, true), ask, "no live backup");
    assert_eq!(
        step(slot, t, (rto, Some(backup)), &c, true),
        Step::Backup { retry: backup }
    );
    slot.backup_asks = 1;
    assert_eq!(
        step(slot, Time::from_millis(140), (rto, Some(backup)), &c, true),
        Step::Backup { retry: backup }
    );
    assert_eq!(
        step(slot, Time::from_millis(151), (rto, Some(backup)), &c, true),
        Step::Escalate,
        "an answer could not come before the relay's turn"
    );
    slot.backup_asks = MAX_BACKUP_ASKS;
    assert_eq!(
        step(slot, Time::from_millis(140), (rto, Some(backup)), &c, true),
        Step::Escalate
    );
    // A group with nobody left goes to the backups at once.
    let mut raw = RawBuffer::new(4, 2, 64);
    raw.mark_missing(SeqNo(1), Time::ZERO, Time::from_millis(200), Time::ZERO);
    let slot = raw.get_mut(SeqNo(1)).unwrap();
    assert_eq!(
        step(slot, Time::ZERO, (rto, Some(backup)), &c, false),
        Step::Backup { retry: backup }
    );
}

/// The relay's budget is shared by the whole channel (a metro's cut can spend it), so a packet
/// asked of it is asked of the group too, unless every live member said it lacks it.
#[test]
fn an_escalated_packet_is_asked_of_the_group_too_unless_every_member_lacks_it() {
    let mut c = config();
    (c.last_resort, c.last_resort_retry) = (Duration::from_millis(40), Duration::from_millis(10));
    let (peers, streams) = (members(&[1, 2, 3]), receiver());
    let (mut raw, mut out, mut counters) = (
        RawBuffer::new(8, 4, 64),
        Outbox::new(1),
        Counters::default(),
    );
    let mut sched = RepairScheduler::new(32);
    let h = streams.highest().unwrap().0;
    let (due, spacing) = (Time::from_secs(1), Duration::from_millis(1));
    sched.add_gap(
        &mut raw,
        h + 1..h + 2,
        (Time::ZERO, due, spacing),
        c.reorder_hold,
    );
    raw.get_mut(SeqNo(h + 1)).unwrap().attempts = c.max_attempts;
    let mut to = Targets {
        peers: &peers,
        silent_limit: 3,
        out: &mut out,
        counters: &mut counters,
    };
    let mut escalated = Vec::new();
    let now = Time::from_millis(5);
    sched.send_requests(now, &mut raw, &streams, &c, &mut to);
    sched.drain_escalations(&mut escalated);
    assert_eq!(
        escalated,
        [101],
        "out of group attempts: the relay is asked"
    );
    let asked = vec![SeqRange { start: 101, len: 1 }];
    assert_eq!(
        drain(to.out),
        [(2, asked.clone(), false), (3, asked, false)],
        "and the group alongside"
    );
    let members = peers.asked_masks(now, 3).0;
    assert_ne!(members, 0);
    raw.get_mut(SeqNo(h + 1)).unwrap().absent = members;
    let next = now + c.last_resort_retry;
    sched.send_requests(next, &mut raw, &streams, &c, &mut to);
    escalated.clear();
    sched.drain_escalations(&mut escalated);
    assert_eq!(escalated, [101], "the relay again");
    assert!(
        drain(to.out).is_empty(),
        "every member lacks it: not the group"
    );
}
