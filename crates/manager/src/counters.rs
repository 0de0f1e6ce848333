//! Client-supplied heartbeat counters, made safe to add up (issue 13, finding 4).
//!
//! A heartbeat carries cumulative counters "since the session opened". They come from the
//! client, so before the manager stores them or adds their deltas to a metro's statistics
//! they are admitted: a counter never goes back (a lower value keeps the stored one), and
//! none exceeds what a plausible stream could have produced since the session opened
//! ([`MAX_PACKETS_PER_SEC`] times the elapsed time, plus [`SLACK`]). An honest client is
//! never clamped; a lying one moves its metro's charts by at most that much, and no sum can
//! overflow (every sum of admitted values is also saturating).

use groupcast_api::ClientStats;

/// The fastest plausible packet rate of one session (a 2 Gbit/s stream of 1316-byte
/// datagrams is ~190,000 packets/s).
pub(crate) const MAX_PACKETS_PER_SEC: u64 = 200_000;
/// Allowance on top of the rate bound: clock skew between instances, a heartbeat right
/// after opening.
pub(crate) const SLACK: u64 = 1_000_000;
/// The largest latency a client may report, µs (a minute: beyond any play-out buffer).
const MAX_LATENCY_US: u64 = 60_000_000;

/// The most a cumulative counter may be `elapsed_ms` after its session opened.
pub(crate) fn ceiling(elapsed_ms: i64) -> u64 {
    let elapsed = u64::try_from(elapsed_ms).unwrap_or(0);
    (elapsed / 1000)
        .saturating_mul(MAX_PACKETS_PER_SEC)
        .saturating_add((elapsed % 1000) * MAX_PACKETS_PER_SEC / 1000)
        .saturating_add(SLACK)
}

/// One cumulative counter admitted: at least `old`, at most `max` (unless `old` already is).
fn counter(old: u64, new: u64, max: u64) -> u64 {
    new.min(max).max(old)
}

/// The statistics to store for a heartbeat reporting `new` when `old` is stored, for a
/// session opened `elapsed_ms` ago; and whether anything had to be changed.
pub(crate) fn admit(old: &ClientStats, new: &ClientStats, elapsed_ms: i64) -> (ClientStats, bool) {
    let max = ceiling(elapsed_ms);
    let admitted = ClientStats {
        received: counter(old.received, new.received, max),
        lost: counter(old.lost, new.lost, max),
        repaired: counter(old.repaired, new.repaired, max),
        unrecovered: counter(old.unrecovered, new.unrecovered, max),
        duplicates: counter(old.duplicates, new.duplicates, max),
        requests_sent: counter(old.requests_sent, new.requests_sent, max),
        repairs_served: counter(old.repairs_served, new.repairs_served, max),
        bad_datagrams: counter(old.bad_datagrams, new.bad_datagrams, max),
        repair_p50_us: new.repair_p50_us.min(MAX_LATENCY_US),
        repair_p99_us: new.repair_p99_us.min(MAX_LATENCY_US),
        buffer_ms: new.buffer_ms,
        peers: new.peers,
    };
    let changed = admitted != *new;
    (admitted, changed)
}

/// A count as stored in a BIGINT column (saturating at `i64::MAX`).
pub(crate) fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read from a BIGINT column (a negative value, from before counters were clamped,
/// counts as 0).
pub(crate) fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(received: u64) -> ClientStats {
        ClientStats {
            received,
            ..ClientStats::default()
        }
    }

    #[test]
    fn honest_counters_pass_unchanged() {
        let old = stats(1000);
        let new = ClientStats {
            received: 5000,
            lost: 3,
            repaired: 3,
            repair_p50_us: 900,
            peers: 2,
            ..ClientStats::default()
        };
        assert_eq!(admit(&old, &new, 10_000), (new, false));
    }

    #[test]
    fn huge_counters_are_clamped_to_the_rate_bound() {
        let (got, changed) = admit(&stats(0), &stats(i64::MAX as u64), 2_500);
        assert!(changed);
        assert_eq!(got.received, 500_000 + SLACK);
        let (got, _) = admit(&stats(0), &stats(u64::MAX), i64::MAX);
        assert_eq!(got.received, u64::MAX, "saturates, never wraps");
        assert_eq!(ceiling(-5), SLACK, "a clock going back counts as no time");
    }

    #[test]
    fn counters_never_go_back() {
        let (got, changed) = admit(&stats(700), &stats(10), 10_000);
        assert_eq!((got.received, changed), (700, true));
    }

    #[test]
    fn database_conversions_saturate() {
        assert_eq!(to_db(u64::MAX), i64::MAX);
        assert_eq!(to_db(5), 5);
        assert_eq!(from_db(-2), 0);
        assert_eq!(from_db(7), 7);
    }
}
