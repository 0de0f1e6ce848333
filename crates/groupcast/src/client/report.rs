//! The client's figures: `--stats-json`, the heartbeat's statistics, and the live status line.

use groupcast_api::{ClientStats, SessionInfo};
use groupcast_core::{Client, Counters};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::io::{IsTerminal, Write};

/// Everything `--stats-json` holds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// Current session id.
    pub(crate) session: u64,
    /// Channel name.
    pub(crate) channel: String,
    /// Our metro.
    pub(crate) metro: String,
    /// Current repair group and its epoch.
    pub(crate) group: u64,
    /// See `group`.
    pub(crate) epoch: u32,
    /// The stream followed (0 before the first packet).
    pub(crate) ssrc: u32,
    /// The core's counters, each under its own name (see `groupcast_core::Counters`).
    #[serde(flatten, serialize_with = "counter_map")]
    pub(crate) counters: Counters,
    /// Repair copies after the first (`duplicate_repairs`, under its older name).
    pub(crate) duplicates: u64,
    /// Malformed media or peer datagrams ([`Counters::bad_datagrams`]).
    pub(crate) bad_datagrams: u64,
    /// Multicast datagrams dropped by `--drop-rate` (testing only).
    pub(crate) test_dropped: u64,
    /// Repair latency, median and 99th percentile, µs.
    pub(crate) repair_p50_us: u64,
    /// See `repair_p50_us`.
    pub(crate) repair_p99_us: u64,
    /// Peer protocol bytes sent and received (UDP payloads).
    pub(crate) peer_bytes_sent: u64,
    /// See `peer_bytes_sent`.
    pub(crate) peer_bytes_received: u64,
    /// Peer datagrams the kernel refused to send.
    pub(crate) peer_send_errors: u64,
    /// Media keys from the manager that were not 32 hex digits (left out).
    pub(crate) bad_media_keys: u64,
    /// The relay feeding us by unicast (no multicast arrives), if any.
    pub(crate) unicast_relay: Option<String>,
    /// Unicast feeds started (no multicast) and ended (multicast came back, or a new session).
    pub(crate) unicast_starts: u64,
    /// See `unicast_starts`.
    pub(crate) unicast_ends: u64,
    /// Datagrams from the relay, first copies (`forwarded` of the feed's machine).
    pub(crate) unicast_received: u64,
    /// Of those, retransmissions after our NACKs.
    pub(crate) unicast_recovered: u64,
    /// Packet numbers NACKed to the relay.
    pub(crate) unicast_nacked: u64,
    /// Challenges from the relay that verified (one per admission).
    pub(crate) unicast_challenges: u64,
    /// The relay said it feeds as many viewers as it may.
    pub(crate) unicast_refused_full: u64,
    /// Last resort: packets NACKed to the relay while multicast flows (see the core's
    /// `escalated` and `last_resort_repaired`).
    pub(crate) last_resort_nacked: u64,
    /// Last resort: retransmissions received from the relay.
    pub(crate) last_resort_received: u64,
    /// Last resort: the relay's challenges (registrations).
    pub(crate) last_resort_challenges: u64,
    /// Last resort: the relay said it registers as many as it may.
    pub(crate) last_resort_refused_full: u64,
    /// Members of the group other than us.
    pub(crate) peers: u32,
    /// Play-out buffer fill, ms (estimated from the packet rate).
    pub(crate) buffer_ms: u32,
    /// Seconds since start.
    pub(crate) seconds: f64,
}

impl Report {
    /// An empty report for `info`'s session.
    pub(crate) fn new(info: &SessionInfo, metro: &str) -> Report {
        Report {
            session: info.session.0,
            channel: info.channel.name.clone(),
            metro: metro.to_owned(),
            ..Report::default()
        }
    }

    /// Copies the core's figures.
    pub(crate) fn update(&mut self, core: &Client, seconds: f64) {
        let s = core.stats();
        let c = &s.counters;
        let us = |q| s.repair_latency(q).map_or(0, |d| d.as_micros() as u64);
        self.ssrc = core.ssrc().map_or(0, |s| s.0);
        self.counters.clone_from(c);
        self.duplicates = c.duplicate_repairs;
        self.bad_datagrams = c.bad_datagrams();
        self.repair_p50_us = us(0.5);
        self.repair_p99_us = us(0.99);
        self.peers = core.peer_count() as u32;
        let pps = c.received as f64 / seconds.max(0.001);
        self.buffer_ms = (core.playback_len() as f64 * 1000.0 / pps.max(1.0)) as u32;
        self.seconds = seconds;
    }

    /// Copies the unicast fallback's figures.
    pub(super) fn set_unicast(&mut self, f: &super::fallback::Fallback) {
        let s = f.stats();
        self.unicast_relay = f.relay().map(str::to_owned);
        self.unicast_starts = f.started;
        self.unicast_ends = f.ended;
        self.unicast_received = s.forwarded;
        self.unicast_recovered = s.recovered;
        self.unicast_nacked = s.packets_nacked;
        self.unicast_challenges = s.challenges;
        self.unicast_refused_full = s.refused_full;
        let l = f.last_resort();
        self.last_resort_nacked = l.packets_nacked;
        self.last_resort_received = l.retransmissions;
        self.last_resort_challenges = l.challenges;
        self.last_resort_refused_full = l.refused_full;
    }

    /// The figures the manager gets with each heartbeat.
    pub(crate) fn client_stats(&self) -> ClientStats {
        let c = &self.counters;
        ClientStats {
            received: c.received,
            lost: c.lost,
            repaired: c.repaired,
            unrecovered: c.unrecovered,
            duplicates: c.duplicate_repairs,
            requests_sent: c.requests_sent,
            repairs_served: c.repairs_served,
            bad_datagrams: c.bad_datagrams(),
            repair_p50_us: self.repair_p50_us,
            repair_p99_us: self.repair_p99_us,
            buffer_ms: self.buffer_ms,
            peers: self.peers,
        }
    }
}

/// One live line on a terminal; nothing when stderr is not one.
pub(crate) struct StatusLine {
    /// Whether to draw.
    on: bool,
}

impl StatusLine {
    /// Draws only on a terminal, and not when `quiet`.
    pub(crate) fn new(quiet: bool) -> StatusLine {
        StatusLine {
            on: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Redraws the line.
    pub(crate) fn show(&self, r: &Report) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kreceived {}  lost {}  repaired {}  unrecovered {}  dup {}  peers {}  buffer {} ms",
            r.counters.received,
            r.counters.lost,
            r.counters.repaired,
            r.counters.unrecovered,
            r.counters.duplicate_repairs,
            r.peers,
            r.buffer_ms
        );
        let _ = err.flush();
    }

    /// Ends the line.
    pub(crate) fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// Writes the counters as a map of name to value (flattened into the report).
fn counter_map<S: Serializer>(c: &Counters, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(Counters::FIELDS.len()))?;
    for (name, value) in c.fields() {
        map.serialize_entry(name, &value)?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_lists_every_counter_by_name_and_the_heartbeat_agrees() {
        let mut r = Report::default();
        r.counters.received = 5;
        r.counters.duplicate_repairs = 2;
        r.counters.bad_rtp = 1;
        r.counters.unauthenticated = 4;
        r.duplicates = r.counters.duplicate_repairs;
        r.bad_datagrams = r.counters.bad_datagrams();
        let json = serde_json::to_value(&r).unwrap();
        for name in Counters::FIELDS {
            assert!(json.get(name).is_some(), "{name} missing from {json}");
        }
        assert_eq!(
            (json["received"].as_u64(), json["duplicates"].as_u64()),
            (Some(5), Some(2))
        );
        let hb = r.client_stats();
        assert_eq!(json["bad_datagrams"].as_u64(), Some(hb.bad_datagrams));
        assert_eq!((hb.bad_datagrams, hb.duplicates), (1, 2));
    }
}
