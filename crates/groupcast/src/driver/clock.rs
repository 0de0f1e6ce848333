//! The process clock: the only place the drivers read the time.
//!
//! The sans-IO machines take time as [`Time`], microseconds since the driver started; this
//! module turns the monotonic clock into that. [`wall_micros`] is the one wall-clock reading,
//! for message counters that must keep increasing across restarts.

use groupcast_core::Time;
use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
