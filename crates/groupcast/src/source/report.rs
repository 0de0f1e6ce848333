//! What `groupcast source` reports: the statistics written as JSON, and the log line.

use crate::stats::Spread;
use groupcast_core::Time;
use groupcast_source::{Central, InputStats};
use serde::Serialize;

/// What the source reports.
#[derive(Debug, Default, Serialize)]
pub(super) struct Stats {
    /// The stream's SSRC.
    pub(super) ssrc: u32,
    /// Datagrams multicast.
    pub(super) packets: u64,
    /// Bytes multicast (RTP headers included).
    pub(super) bytes: u64,
    /// Sending late relative to the stream clock (file input).
    pub(super) pacing_error: Spread,
    /// PCR discontinuities bridged (file input).
    pub(super) pcr_discontinuities: u64,
    /// Times a looped file started over.
    pub(super) loops: u64,
    /// Bytes skipped while finding TS packet boundaries.
    pub(super) bytes_skipped: u64,
    /// Live RTP datagrams that did not parse.
    pub(super) bad_input: u64,
    /// Live input stalls.
    pub(super) input_stalls: u64,
    /// TS packets encrypted (`--media-secret`).
    pub(super) scrambled_ts_packets: u64,
    /// The relay to edges, if it runs.
    pub(super) relay: Option<RelayStats>,
    /// The unicast feed for viewers without multicast, if it runs.
    pub(super) unicast: Option<crate::feed::FeedStats>,
    /// Seconds since the start.
    pub(super) seconds: f64,
}

impl Stats {
    /// Takes the input machine's counters.
    pub(super) fn set_input(&mut self, s: &InputStats) {
        self.pcr_discontinuities = s.pcr_discontinuities;
        self.loops = s.loops;
        self.bytes_skipped = s.bytes_skipped;
        self.bad_input = s.bad_input;
        self.input_stalls = s.input_stalls;
    }

    /// Logs the headline figures.
    pub(super) fn log(&self, last: bool) {
        tracing::info!(
            packets = self.packets,
            mbps = format!(
                "{:.2}",
                self.bytes as f64 * 8.0 / self.seconds.max(1e-3) / 1e6
            ),
            pacing_mean_us = format!("{:.0}", self.pacing_error.mean_us),
            pacing_max_us = self.pacing_error.max_us,
            edges = self.relay.as_ref().map_or(0, |r| r.edges.len()),
            unicast_viewers = self.unicast.as_ref().map_or(0, |u| u.viewers),
            "{}",
            if last {
                "source stopped"
            } else {
                "source running"
            }
        );
    }
}

/// The relay's figures.
#[derive(Debug, Default, Serialize)]
pub(super) struct RelayStats {
    relayed: u64,
    retransmitted: u64,
    nack_missed: u64,
    nack_limited: u64,
    unauthenticated: u64,
    replayed: u64,
    edges: Vec<EdgeState>,
}

impl RelayStats {
    /// The central's figures at `now`.
    pub(super) fn of(c: &Central, now: Time) -> RelayStats {
        let s = c.stats();
        RelayStats {
            relayed: s.relayed,
            retransmitted: s.retransmitted,
            nack_missed: s.nack_missed,
            nack_limited: s.nack_limited,
            unauthenticated: s.unauthenticated,
            replayed: s.replayed,
            edges: c
                .edges()
                .map(|e| EdgeState {
                    name: e.name.clone(),
                    addr: e.addr.to_string(),
                    relayed: e.relayed,
                    retransmitted: e.retransmitted,
                    last_hello_ms_ago: now.saturating_since(e.last_hello).as_millis() as u64,
                })
                .collect(),
        }
    }
}

/// One edge, as the central sees it.
#[derive(Debug, Serialize)]
struct EdgeState {
    name: String,
    addr: String,
    relayed: u64,
    retransmitted: u64,
    last_hello_ms_ago: u64,
}
