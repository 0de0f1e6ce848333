//! Per-user request rate limits (issue 13, finding 5): a token bucket per user (one user, one
//! token), from `governor`. Every authenticated request draws from its user's bucket; an
//! empty bucket answers 429 before the handler runs, so a flood of heartbeats, loss reports
//! or SSE connects costs one hash lookup each and nothing else.

use crate::error::ApiErr;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Users remembered before idle buckets are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// The limiter, or none when the operator turned limits off.
pub(crate) struct Rates(Option<DefaultKeyedRateLimiter<String>>);

impl Rates {
    /// `per_second` requests per second per user, in bursts of up to twice that; 0: no limit.
    pub(crate) fn new(per_second: u32) -> Rates {
        Rates(NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        }))
    }

    /// Takes one request of `user` from its bucket, or 429 when it is empty.
    pub(crate) fn check(&self, user: &str) -> Result<(), ApiErr> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&user.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests: retry in {} ms", wait.as_millis().max(1)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_its_burst_then_429_and_others_are_not_affected() {
        let rates = Rates::new(10);
        let ok = (0..100).filter(|_| rates.check("alice").is_ok()).count();
        assert!((20..=22).contains(&ok), "a burst of 20 (plus refill): {ok}");
        let err = rates.check("alice").unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(rates.check("bob").is_ok(), "per user");
        let off = Rates::new(0);
        assert!((0..1000).all(|_| off.check("alice").is_ok()));
    }
}
