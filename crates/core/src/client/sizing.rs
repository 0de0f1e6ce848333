//! Raw buffer sizing: the ring is sized from the expected packet rate at start and grown when
//! the measured rate needs more than it holds (never shrunk).

use groupcast_base::Time;
use std::time::Duration;

/// How often the raw buffer size is checked against the measured packet rate.
const SIZE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Measures the packet rate between checks.
#[derive(Debug, Default)]
pub(crate) struct SizeCheck {
    /// Next time the size is checked.
    next: Time,
    /// Time and `received` count at the last check (the rate is measured between checks).
    from: Option<(Time, u64)>,
    /// The packet rate measured at the last check, per second.
    pps: Option<u32>,
}

impl SizeCheck {
    /// The packet rate measured at the last check, if a stream was followed then.
    pub(crate) fn pps(&self) -> Option<u32> {
        self.pps
    }

    /// Checks at `now`, with `received` packets counted so far and whether a stream is
    /// `following`, whether a ring of `capacity` packets in chunks of `chunk` holds `window`
    /// at the measured rate; returns the number of chunks to grow to, if it does not.
    pub(crate) fn check(
        &mut self,
        now: Time,
        (received, following): (u64, bool),
        window: Duration,
        (capacity, chunk): (u64, u64),
    ) -> Option<usize> {
        if now < self.next {
            return None;
        }
        // The rate is what arrived since the last check, not the smoothed inter-arrival gap:
        // a driver that reads datagrams in batches sees gaps near zero, which would ask for a
        // ring of gigabytes.
        let last = self.from.replace((now, received));
        self.next = now + SIZE_CHECK_EVERY;
        let (last_at, last_received) = last.filter(|_| following)?;
        let elapsed_us = now.saturating_since(last_at).as_micros().max(1) as u64;
        let arrived = received.saturating_sub(last_received);
        self.pps =
            Some((arrived.saturating_mul(1_000_000) / elapsed_us).min(u64::from(u32::MAX)) as u32);
        let window_us = window.as_micros() as u64;
        let needed = received
            .saturating_sub(last_received)
            .saturating_mul(window_us)
            / elapsed_us;
        (needed > capacity).then(|| (needed + needed / 4).div_ceil(chunk) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_only_when_the_measured_rate_needs_more_once_a_second() {
        let mut s = SizeCheck::default();
        let (window, ring) = (Duration::from_millis(1500), (3008, 32));
        assert_eq!(
            s.check(Time::ZERO, (0, true), window, ring),
            None,
            "no rate yet"
        );
        let half = Time::from_millis(500);
        assert_eq!(s.check(half, (10_000, true), window, ring), None, "not due");
        let t = Time::from_secs(1);
        assert_eq!(s.check(t, (2000, true), window, ring), None, "3000 fit");
        let t = Time::from_secs(2);
        assert_eq!(s.check(t, (6000, false), window, ring), None, "no stream");
        let t = Time::from_secs(3);
        // 4000 packets a second over 1.5 s need 6000; a quarter more, in chunks of 32.
        assert_eq!(s.check(t, (10_000, true), window, ring), Some(235));
    }
}
