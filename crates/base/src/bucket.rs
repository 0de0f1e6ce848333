//! A token bucket on input time: the rate budget for serving repairs and NACKs.

use crate::Time;

/// A token bucket in micro-tokens, refilled from `now`: the rate budget for serving.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Micro-tokens available.
    level: u64,
    /// Last refill.
    at: Time,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens.
    #[inline]
    pub fn full(burst: u32) -> Self {
        TokenBucket {
            level: u64::from(burst) * 1_000_000,
            at: Time::ZERO,
        }
    }

    /// Takes one token if available, refilling at `rate` per second up to `burst`.
    #[inline]
    pub fn take(&mut self, now: Time, rate: u32, burst: u32) -> bool {
        self.take_n(now, 1, rate, burst)
    }

    /// Takes `n` tokens if that many are available (none otherwise), refilling at `rate` per
    /// second up to `burst`.
    #[inline]
    pub fn take_n(&mut self, now: Time, n: u32, rate: u32, burst: u32) -> bool {
        let elapsed = now
            .saturating_since(self.at)
            .as_micros()
            .min(u128::from(u32::MAX)) as u64;
        self.at = now.max(self.at);
        let refill = elapsed.saturating_mul(u64::from(rate));
        self.level = self
            .level
            .saturating_add(refill)
            .min(u64::from(burst) * 1_000_000);
        let need = u64::from(n) * 1_000_000;
        let ok = self.level >= need;
        if ok {
            self.level -= need;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_limits_rate_and_burst() {
        let mut b = TokenBucket::full(2);
        let t0 = Time::from_millis(1000);
        assert!(b.take(t0, 10, 2) && b.take(t0, 10, 2));
        assert!(!b.take(t0, 10, 2));
        assert!(!b.take(t0 + Duration::from_millis(99), 10, 2));
        assert!(b.take(t0 + Duration::from_millis(100), 10, 2));
        let later = t0 + Duration::from_secs(100);
        assert!(b.take(later, 10, 2) && b.take(later, 10, 2) && !b.take(later, 10, 2));
        let mut bytes = TokenBucket::full(3000);
        assert!(bytes.take_n(t0, 1400, 1000, 3000) && bytes.take_n(t0, 1400, 1000, 3000));
        assert!(!bytes.take_n(t0, 1400, 1000, 3000), "200 left");
        assert!(bytes.take_n(t0 + Duration::from_millis(1200), 1400, 1000, 3000));
    }
}
