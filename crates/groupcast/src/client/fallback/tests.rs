use super::*;

fn watch(mode: Mode) -> Watch {
    Watch {
        mode,
        wait: Duration::from_secs(3),
        last_multicast: Time::ZERO,
        run_since: None,
        next_try: Time::ZERO,
    }
}

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

/// Multicast every 10 ms over `from..to`.
fn flow(w: &mut Watch, from: u64, to: u64) {
    for t in (from..to).step_by(10) {
        w.on_multicast(ms(t));
    }
}

#[test]
fn no_multicast_for_the_wait_starts_the_feed_and_a_steady_return_ends_it() {
    let mut w = watch(Mode::Auto);
    assert_eq!(w.decide(ms(2_999), None), Decision::Stay);
    assert_eq!(w.decide(ms(3_000), None), Decision::Start);
    // The feed runs, its media from 3.1 s; multicast comes back at 10 s.
    let fed = Some(Some(ms(3_100)));
    flow(&mut w, 10_000, 12_990);
    assert_eq!(
        w.decide(ms(12_990), fed),
        Decision::Stay,
        "not yet 3 s of it"
    );
    flow(&mut w, 12_990, 13_010);
    assert_eq!(w.decide(ms(13_000), fed), Decision::Leave);
    // A break longer than 500 ms starts the run over.
    flow(&mut w, 14_000, 15_000);
    assert_eq!(w.decide(ms(15_000), fed), Decision::Stay);
}

#[test]
fn multicast_arriving_with_the_feeds_first_media_ends_it_at_once() {
    let mut w = watch(Mode::Auto);
    // The source was off: the feed started at 3 s and sent its first media at 20 s, when
    // multicast started too.
    let fed = Some(Some(ms(20_000)));
    flow(&mut w, 20_050, 20_200);
    assert_eq!(w.decide(ms(20_190), fed), Decision::Stay);
    flow(&mut w, 20_200, 20_260);
    assert_eq!(w.decide(ms(20_250), fed), Decision::Leave);
    // With no media on the feed yet, too.
    let mut w = watch(Mode::Auto);
    flow(&mut w, 30_000, 30_210);
    assert_eq!(w.decide(ms(30_200), Some(None)), Decision::Leave);
}

#[test]
fn always_never_and_the_retry_after_a_failed_start() {
    let mut w = watch(Mode::Always);
    assert_eq!(w.decide(ms(0), None), Decision::Start);
    flow(&mut w, 0, 10_000);
    assert_eq!(
        w.decide(ms(10_000), Some(Some(ms(5)))),
        Decision::Stay,
        "always stays"
    );
    w.next_try = ms(11_000);
    assert_eq!(
        w.decide(ms(10_500), None),
        Decision::Stay,
        "waits for the retry"
    );
    assert_eq!(w.decide(ms(11_000), None), Decision::Start);
    let w = watch(Mode::Never);
    assert_eq!(w.decide(ms(60_000), None), Decision::Stay);
}
