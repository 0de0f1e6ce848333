//! Fewer wake-ups at high packet rates: once datagrams come faster than one per window, the
//! driver takes them a window's worth at a time instead of waking for each.
//!
//! At 20 Mbit/s a channel brings about 1,900 datagrams a second. Woken for each one, a driver
//! spends most of its CPU in the kernel's context switch, not in its own code (measured in
//! docs/benchmarks.md, issue 11). Awaiting the socket later does not help: tokio keeps every
//! socket registered with epoll, so each arrival still ends the runtime's wait. A
//! [`Coalesce`] notices the rate from the drains themselves and tells the driver to pause
//! (a thread sleep, out of epoll) until a window after the last drain; the datagrams that
//! come meanwhile wait in the socket's receive buffer and are taken in one batch, with the
//! play-out and repair timers that fell due.
//!
//! The cost is latency: at most one window on a datagram's way into the machine (multicast,
//! peer requests and repairs alike), and only while the rate is above one per window. Slower
//! streams are taken as they come: a drain that found a single datagram more than a window
//! after the previous one does not pause.

use groupcast_core::Time;
use std::time::Duration;

/// Decides whether a driver pauses before it next waits on its sockets.
#[derive(Clone, Debug)]
pub(crate) struct Coalesce {
    /// The shortest spacing of wake-ups once the socket is busy.
    window: Duration,
    /// When the last drain that found something ran.
    last: Option<Time>,
    /// Until when the driver pauses, if the socket is busy.
    hold: Option<Time>,
}

impl Coalesce {
    /// Spaces wake-ups by `window` once datagrams come faster than one per `window`.
    pub(crate) fn new(window: Duration) -> Coalesce {
        Coalesce {
            window,
            last: None,
            hold: None,
        }
    }

    /// Records a drain at `now` that took `taken` datagrams; `emptied` is false when it
    /// stopped at its batch limit with more waiting.
    pub(crate) fn drained(&mut self, now: Time, taken: usize, emptied: bool) {
        if taken == 0 {
            // Nothing came during a whole window: the stream is no longer busy.
            if self.hold.is_some_and(|h| now >= h) {
                self.hold = None;
            }
            return;
        }
        let busy = taken > 1
            || self
                .last
                .is_some_and(|l| now.saturating_since(l) < self.window);
        self.last = Some(now);
        // More is waiting: come back at once, or a batch limit would cap the rate taken.
        self.hold = (busy && emptied).then(|| now + self.window);
    }

    /// True while datagrams come faster than one per window.
    #[cfg(test)]
    pub(crate) fn busy(&self) -> bool {
        self.hold.is_some()
    }

    /// How long to pause at `now` before waiting on the sockets (`None`: no pause).
    pub(crate) fn pause(&self, now: Time) -> Option<Duration> {
        let rest = self.hold?.saturating_since(now);
        (!rest.is_zero()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Time {
        Time::from_micros(n)
    }

    #[test]
    fn a_slow_stream_is_taken_as_it_comes() {
        let mut c = Coalesce::new(Duration::from_millis(1));
        for i in 0..10 {
            c.drained(us(i * 2_100), 1, true); // about 470 datagrams/s
            assert!(!c.busy(), "drain {i}");
            assert_eq!(c.pause(us(i * 2_100)), None);
        }
    }

    #[test]
    fn a_fast_stream_is_taken_a_window_at_a_time() {
        let mut c = Coalesce::new(Duration::from_millis(1));
        c.drained(us(0), 1, true);
        assert_eq!(c.pause(us(0)), None, "one datagram says nothing yet");
        c.drained(us(530), 1, true); // about 1,900 datagrams/s
        assert!(c.busy());
        assert_eq!(c.pause(us(600)), Some(Duration::from_micros(930)));
        c.drained(us(1_600), 2, true);
        assert_eq!(c.pause(us(1_600)), Some(Duration::from_millis(1)));
        c.drained(us(1_700), 0, true);
        assert_eq!(
            c.pause(us(2_000)),
            Some(Duration::from_micros(600)),
            "empty drain"
        );
        assert!(c.busy(), "an empty drain inside the window changes nothing");
        assert_eq!(c.pause(us(2_600)), None, "the window has passed");
        c.drained(us(2_700), 0, true);
        assert!(!c.busy(), "a window passed with nothing in it");
        assert_eq!(c.pause(us(9_000)), None);
    }

    #[test]
    fn a_burst_pauses_and_a_lull_does_not() {
        let mut c = Coalesce::new(Duration::from_millis(1));
        c.drained(us(0), 40, true);
        assert_eq!(c.pause(us(0)), Some(Duration::from_millis(1)));
        c.drained(us(50_000), 1, true); // the stream paused
        assert!(!c.busy());
        assert_eq!(c.pause(us(50_000)), None);
    }

    #[test]
    fn a_drain_cut_short_by_its_batch_does_not_pause() {
        let mut c = Coalesce::new(Duration::from_millis(1));
        c.drained(us(0), 64, false); // 100,000 datagrams/s: more is waiting
        assert_eq!(c.pause(us(0)), None);
        c.drained(us(10), 30, true);
        assert_eq!(c.pause(us(10)), Some(Duration::from_millis(1)));
    }
}
