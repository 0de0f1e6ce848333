//! Timing and backoff of [`ManagerLink`](super::ManagerLink).

use super::*;

const S1: SessionId = SessionId(1);
const S2: SessionId = SessionId(2);

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

fn opened(session: SessionId, group: u32) -> OpenOutcome<u32> {
    OpenOutcome::Opened {
        session,
        heartbeat: Duration::from_millis(500),
        group,
    }
}

fn drain(link: &mut ManagerLink<u32>) -> (Vec<LinkAction>, Vec<LinkEvent<u32>>) {
    let actions = std::iter::from_fn(|| link.poll_action()).collect();
    let events = std::iter::from_fn(|| link.poll_event()).collect();
    (actions, events)
}

/// A link with session S1 open at 0 and its first actions and events drained.
fn open_link() -> ManagerLink<u32> {
    let mut link = ManagerLink::new(LinkConfig::default(), ms(0));
    link.handle_open(ms(0), opened(S1, 10));
    drain(&mut link);
    link
}

#[test]
fn opens_then_follows_and_heartbeats_on_time() {
    let mut link = ManagerLink::new(LinkConfig::default(), ms(0));
    assert_eq!(link.poll_action(), Some(LinkAction::Open));
    assert_eq!(
        link.poll_timeout(),
        None,
        "nothing due while the open is in flight"
    );
    link.handle_open(ms(20), opened(S1, 10));
    let (actions, events) = drain(&mut link);
    assert_eq!(actions, [LinkAction::Follow(S1)]);
    assert_eq!(events, [LinkEvent::Session(S1), LinkEvent::Group(10)]);
    assert_eq!(link.poll_timeout(), Some(ms(520)));
    link.handle_timeout(ms(519));
    assert_eq!(link.poll_action(), None);
    link.handle_timeout(ms(520));
    assert_eq!(link.poll_action(), Some(LinkAction::Heartbeat(S1)));
    // The next beat counts from the answer, one at a time.
    assert_eq!(link.poll_timeout(), None);
    link.handle_heartbeat(ms(530), S1, BeatOutcome::Alive(11));
    assert_eq!(link.poll_event(), Some(LinkEvent::Group(11)));
    assert_eq!(link.poll_timeout(), Some(ms(1030)));
}

#[test]
fn open_failures_back_off_doubling_to_the_cap() {
    let mut link: ManagerLink<u32> = ManagerLink::new(LinkConfig::default(), ms(0));
    let mut now = ms(0);
    let mut waits = Vec::new();
    for _ in 0..6 {
        assert_eq!(link.poll_action(), Some(LinkAction::Open));
        link.handle_open(now, OpenOutcome::Unreachable);
        let due = link.poll_timeout().unwrap_or(Time::NEVER);
        waits.push(due.saturating_since(now).as_secs());
        now = due;
        link.handle_timeout(now);
    }
    assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
    assert_eq!(link.poll_event(), Some(LinkEvent::Away), "away noted once");
    assert_eq!(link.poll_event(), None);
    link.handle_open(now, opened(S1, 1));
    let (_, events) = drain(&mut link);
    assert_eq!(events[0], LinkEvent::Back(Duration::from_secs(31)));
    assert_eq!(link.away_since(), None);
}

#[test]
fn a_first_refusal_is_final() {
    let mut link: ManagerLink<u32> = ManagerLink::new(LinkConfig::default(), ms(0));
    link.handle_open(ms(5), OpenOutcome::Refused);
    assert_eq!(link.poll_event(), Some(LinkEvent::Refused));
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn an_absent_manager_keeps_the_group_and_is_noticed_when_back() {
    let mut link = open_link();
    link.handle_timeout(ms(500));
    link.handle_heartbeat(ms(3500), S1, BeatOutcome::Unreachable);
    assert_eq!(link.poll_event(), Some(LinkEvent::Away));
    assert_eq!(link.away_since(), Some(ms(3500)));
    assert_eq!(
        link.session(),
        Some(S1),
        "the session and its group are kept"
    );
    assert_eq!(link.poll_timeout(), Some(ms(4000)), "heartbeats go on");
    link.handle_timeout(ms(4000));
    assert_eq!(link.poll_action(), Some(LinkAction::Heartbeat(S1)));
    link.handle_heartbeat(ms(4010), S1, BeatOutcome::Alive(10));
    let (_, events) = drain(&mut link);
    assert_eq!(
        events,
        [
            LinkEvent::Back(Duration::from_millis(510)),
            LinkEvent::Group(10)
        ]
    );
}

#[test]
fn a_lost_session_is_reopened_and_stale_news_ignored() {
    let mut link = open_link();
    link.handle_timeout(ms(500));
    link.handle_heartbeat(ms(510), S1, BeatOutcome::Gone);
    assert_eq!(link.session(), None);
    assert_eq!(link.poll_action(), Some(LinkAction::Heartbeat(S1)));
    assert_eq!(
        link.poll_action(),
        Some(LinkAction::Open),
        "reopened at once"
    );
    link.handle_group_event(ms(511), S1, 99);
    assert_eq!(
        link.poll_event(),
        None,
        "news of the lost session is dropped"
    );
    link.handle_open(ms(520), opened(S2, 20));
    let (actions, events) = drain(&mut link);
    assert_eq!(actions, [LinkAction::Follow(S2)]);
    assert_eq!(events, [LinkEvent::Session(S2), LinkEvent::Group(20)]);
    link.handle_heartbeat(ms(600), S1, BeatOutcome::Gone);
    assert_eq!(
        link.session(),
        Some(S2),
        "a late answer for S1 changes nothing"
    );
}

#[test]
fn a_failed_reopen_backs_off_and_a_refusal_is_retried() {
    let mut link = open_link();
    link.handle_timeout(ms(500));
    link.handle_heartbeat(ms(500), S1, BeatOutcome::Gone);
    drain(&mut link);
    link.handle_open(ms(600), OpenOutcome::Refused);
    assert_eq!(link.poll_timeout(), Some(ms(1600)));
    link.handle_timeout(ms(1600));
    assert_eq!(link.poll_action(), Some(LinkAction::Open));
    link.handle_open(ms(1700), OpenOutcome::Unreachable);
    assert_eq!(link.poll_timeout(), Some(ms(3700)));
}

#[test]
fn the_event_stream_is_reconnected_after_the_retry_wait() {
    let mut link = open_link();
    link.handle_group_event(ms(100), S1, 12);
    assert_eq!(link.poll_event(), Some(LinkEvent::Group(12)));
    link.handle_stream_ended(ms(200), S1);
    link.handle_stream_ended(ms(250), S2);
    assert_eq!(
        link.poll_timeout(),
        Some(ms(500)),
        "the heartbeat comes first"
    );
    link.handle_timeout(ms(500));
    assert_eq!(link.poll_action(), Some(LinkAction::Heartbeat(S1)));
    assert_eq!(link.poll_timeout(), Some(ms(1200)));
    link.handle_timeout(ms(1200));
    assert_eq!(link.poll_action(), Some(LinkAction::Follow(S1)));
}

#[test]
fn closing_ends_the_session_and_all_timers() {
    let mut link = open_link();
    link.close();
    assert_eq!(link.poll_action(), Some(LinkAction::Close(S1)));
    assert_eq!(link.poll_timeout(), None);
    link.handle_timeout(ms(10_000));
    assert_eq!(link.poll_action(), None);
}
