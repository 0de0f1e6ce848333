//! Time as an input: microseconds on a clock the driver chooses.

use core::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, in microseconds since an epoch the driver picks (process start, say).
///
/// The core never reads a clock; every `handle_*` call passes one of these in, so the same
/// code runs on the wall clock and on a simulator's virtual clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(0);
    /// Later than any real time; "no deadline".
    pub const NEVER: Time = Time(u64::MAX);

    /// From microseconds since the epoch.
    #[inline]
    pub const fn from_micros(us: u64) -> Time {
        Time(us)
    }

    /// From milliseconds since the epoch.
    #[inline]
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1000)
    }

    /// From seconds since the epoch.
    #[inline]
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1_000_000)
    }

    /// Microseconds since the epoch.
    #[inline]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    #[inline]
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    #[inline]
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(micros(d)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    #[inline]
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(micros(d)))
    }
}

/// Whole microseconds of `d`, saturating; in 64-bit arithmetic (this is on every packet's path).
#[inline]
fn micros(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_millis(5);
        assert_eq!(t + Duration::from_millis(1), Time::from_micros(6000));
        assert_eq!(t - Duration::from_secs(1), Time::ZERO);
        assert_eq!(Time::NEVER + Duration::from_secs(1), Time::NEVER);
        assert_eq!(Time::from_micros(1) + Duration::MAX, Time::NEVER);
        assert_eq!(t + Duration::from_nanos(1999), Time::from_micros(5001));
        assert_eq!(t.saturating_since(Time::from_millis(7)), Duration::ZERO);
    }
}
