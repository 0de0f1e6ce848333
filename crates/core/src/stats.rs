//! Counters and the repair latency histogram of one client.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Everything a client counts. Every dropped or refused input lands in exactly one counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Media packets accepted from the multicast group (first copies only).
    pub received: u64,
    /// Packets that did not arrive by multicast before their gap was given up or filled:
    /// `repaired + unrecovered` once the stream has played through.
    pub lost: u64,
    /// Lost packets filled by a peer's repair.
    pub repaired: u64,
    /// Lost packets still missing when their chunk was due to play.
    pub unrecovered: u64,
    /// Packets that arrived by multicast after a repair had been requested for them.
    pub late: u64,
    /// Extra multicast copies of packets already held.
    pub duplicate_media: u64,
    /// Repairs for packets already held (the first copy wins).
    pub duplicate_repairs: u64,
    /// Repairs that arrived after their chunk had been played out.
    pub repairs_too_late: u64,
    /// Media packets older than the raw buffer window.
    pub media_too_old: u64,
    /// Request messages sent (one per peer per batch).
    pub requests_sent: u64,
    /// Packet numbers asked for, summed over request messages.
    pub packets_requested: u64,
    /// Requests sent because the stream went quiet (tail-loss probes).
    pub tail_probes: u64,
    /// Request messages received from authenticated peers.
    pub requests_received: u64,
    /// Repairs sent to peers.
    pub repairs_served: u64,
    /// Requested packets we did not hold.
    pub serve_missing: u64,
    /// Requested packets refused by the per-peer rate budget.
    pub serve_rate_limited: u64,
    /// Media datagrams that are not valid RTP.
    pub bad_rtp: u64,
    /// RTP packets whose payload is not whole MPEG-TS packets.
    pub bad_payload: u64,
    /// Media packets of a foreign SSRC (before a source restart is confirmed).
    pub ssrc_mismatch: u64,
    /// Source restarts (SSRC changes) followed.
    pub source_restarts: u64,
    /// Peer datagrams that are not well-formed groupcast messages.
    pub bad_peer_datagrams: u64,
    /// Peer messages whose tag did not verify, or from senders outside the group.
    pub unauthenticated: u64,
    /// Peer messages for an epoch we hold no key for, or another channel.
    pub stale: u64,
    /// Authenticated peer messages refused by the replay window.
    pub replayed: u64,
    /// Authenticated peer messages whose body is malformed (bad ranges, bad checksum...).
    pub malformed: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Messages not sent because the transmit queue was full.
    pub transmit_dropped: u64,
    /// Packets dropped from the playback buffer because the player did not keep up.
    pub playback_overflow: u64,
    /// TS packets handed to the player (in 188-byte units).
    pub ts_packets_out: u64,
}

/// Counters plus the repair latency distribution.
#[derive(Clone, Debug)]
pub struct Stats {
    /// The counters.
    pub counters: Counters,
    /// Loss detected → repair arrived, in microseconds.
    latency_us: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        // 1 µs .. 60 s at 2 significant digits; allocated once, never resized.
        let latency_us = Histogram::new_with_bounds(1, 60_000_000, 2)
            .unwrap_or_else(|_| unreachable!("constant bounds are valid"));
        Stats {
            counters: Counters::default(),
            latency_us,
        }
    }
}

impl Stats {
    /// Records one repair's latency.
    pub(crate) fn record_repair_latency(&mut self, d: Duration) {
        self.latency_us
            .saturating_record(d.as_micros().max(1) as u64);
    }

    /// Adds `other`'s repair latencies to these (aggregating over clients).
    pub fn merge_latencies(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
    }

    /// The repair latency at quantile `q` (0.0..=1.0); `None` before the first repair.
    pub fn repair_latency(&self, q: f64) -> Option<Duration> {
        (!self.latency_us.is_empty())
            .then(|| Duration::from_micros(self.latency_us.value_at_quantile(q)))
    }

    /// Number of repair latencies recorded.
    pub fn repair_latency_count(&self) -> u64 {
        self.latency_us.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_recorded_values() {
        let mut s = Stats::default();
        assert_eq!(s.repair_latency(0.5), None);
        for ms in 1..=100 {
            s.record_repair_latency(Duration::from_millis(ms));
        }
        let p50 = s.repair_latency(0.5).unwrap().as_millis();
        let p99 = s.repair_latency(0.99).unwrap().as_millis();
        assert!((49..=51).contains(&p50), "{p50}");
        assert!((98..=100).contains(&p99), "{p99}");
        assert_eq!(s.repair_latency_count(), 100);
    }
}
