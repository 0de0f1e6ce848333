//! The client's figures: `--stats-json`, the heartbeat's statistics, and the live status line.

use groupcast_api::{ClientStats, SessionInfo};
use groupcast_core::Client;
use serde::Serialize;
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
    /// Media packets received by multicast.
    pub(crate) received: u64,
    /// Packets missed by multicast.
    pub(crate) lost: u64,
    /// Of those, repaired by peers.
    pub(crate) repaired: u64,
    /// Of those, played out as holes.
    pub(crate) unrecovered: u64,
    /// Repair copies after the first.
    pub(crate) duplicates: u64,
    /// Packets that arrived by multicast after being requested.
    pub(crate) late: u64,
    /// Request messages sent.
    pub(crate) requests_sent: u64,
    /// Packet numbers requested.
    pub(crate) packets_requested: u64,
    /// Requests received from peers.
    pub(crate) requests_received: u64,
    /// Repairs sent to peers.
    pub(crate) repairs_served: u64,
    /// Malformed media or peer datagrams.
    pub(crate) bad_datagrams: u64,
    /// Peer messages that failed authentication or came from strangers.
    pub(crate) unauthenticated: u64,
    /// Peer messages for an unknown epoch or another channel.
    pub(crate) stale: u64,
    /// Replayed peer messages.
    pub(crate) replayed: u64,
    /// Multicast datagrams dropped by `--drop-rate` (testing only).
    pub(crate) test_dropped: u64,
    /// Repair latency, median and 99th percentile, µs.
    pub(crate) repair_p50_us: u64,
    /// See `repair_p50_us`.
    pub(crate) repair_p99_us: u64,
    /// TS packets handed to the player.
    pub(crate) ts_packets_out: u64,
    /// Peer protocol bytes sent and received (UDP payloads).
    pub(crate) peer_bytes_sent: u64,
    /// See `peer_bytes_sent`.
    pub(crate) peer_bytes_received: u64,
    /// Peer datagrams the kernel refused to send.
    pub(crate) peer_send_errors: u64,
    /// Members of the group other than us.
    pub(crate) peers: u32,
    /// Source restarts followed.
    pub(crate) source_restarts: u64,
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
        self.received = c.received;
        self.lost = c.lost;
        self.repaired = c.repaired;
        self.unrecovered = c.unrecovered;
        self.duplicates = c.duplicate_repairs;
        self.late = c.late;
        self.requests_sent = c.requests_sent;
        self.packets_requested = c.packets_requested;
        self.requests_received = c.requests_received;
        self.repairs_served = c.repairs_served;
        self.bad_datagrams = c.bad_rtp + c.bad_payload + c.bad_peer_datagrams + c.malformed;
        self.unauthenticated = c.unauthenticated;
        self.stale = c.stale;
        self.replayed = c.replayed;
        self.repair_p50_us = us(0.5);
        self.repair_p99_us = us(0.99);
        self.ts_packets_out = c.ts_packets_out;
        self.peers = core.peer_count() as u32;
        self.source_restarts = c.source_restarts;
        let pps = c.received as f64 / seconds.max(0.001);
        self.buffer_ms = (core.playback_len() as f64 * 1000.0 / pps.max(1.0)) as u32;
        self.seconds = seconds;
    }

    /// The figures the manager gets with each heartbeat.
    pub(crate) fn client_stats(&self) -> ClientStats {
        ClientStats {
            received: self.received,
            lost: self.lost,
            repaired: self.repaired,
            unrecovered: self.unrecovered,
            duplicates: self.duplicates,
            requests_sent: self.requests_sent,
            repairs_served: self.repairs_served,
            bad_datagrams: self.bad_datagrams + self.unauthenticated + self.replayed,
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
            r.received, r.lost, r.repaired, r.unrecovered, r.duplicates, r.peers, r.buffer_ms
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
