//! The process clock: the only place the drivers read the time.
//!
//! The sans-IO machines take time as [`Time`], microseconds since the driver started; this
//! module turns the monotonic clock into that and back (into the instant a timer sleeps
//! until). [`wall_micros`] is the one wall-clock reading, for message counters that must keep
//! increasing across restarts.

use groupcast_core::Time;
use std::time::{Duration, Instant};

/// Time since `start`, as the core's [`Time`].
pub(crate) fn now(start: Instant) -> Time {
    Time::from_micros(start.elapsed().as_micros() as u64)
}

/// Microseconds since the Unix epoch: a message counter that keeps increasing across restarts.
pub(crate) fn wall_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// A driver's clock: [`Time::ZERO`] is when it was started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    /// The monotonic instant that is [`Time::ZERO`].
    start: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// The current time.
    pub(crate) fn now(&self) -> Time {
        now(self.start)
    }

    /// Seconds since the start, for reports.
    pub(crate) fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The instant of `t`, for a tokio timer.
    pub(crate) fn instant(&self, t: Time) -> tokio::time::Instant {
        (self.start + Duration::from_micros(t.as_micros())).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_counts_from_the_start() {
        let start = Instant::now();
        let a = now(start);
        std::thread::sleep(Duration::from_millis(2));
        let b = now(start);
        assert!(
            b.saturating_since(a) >= Duration::from_millis(2),
            "{a:?} {b:?}"
        );
        assert!(wall_micros() > 1_600_000_000_000_000, "after 2020");
    }

    #[test]
    fn a_clock_converts_time_to_instants_and_back() {
        let clock = Clock::start();
        let t = Time::from_micros(1_234_567);
        let span = clock.instant(t) - clock.instant(Time::ZERO);
        assert_eq!(span, Duration::from_micros(1_234_567));
        let at = clock.instant(clock.now());
        let wall = tokio::time::Instant::now();
        assert!(at <= wall && wall - at < Duration::from_secs(1));
        assert!(clock.seconds() >= 0.0);
    }
}
