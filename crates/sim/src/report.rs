//! Results of a run: per-client counters, latency, and a byte-exact check of what each client
//! handed its player against what the source sent.

use crate::manager::LinkFigures;
use crate::source::is_payload;
use groupcast_core::{Counters, Playout};
use groupcast_wire::Ssrc;
use std::fmt::Write as _;
use std::time::Duration;

/// What one client's player received, checked packet by packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputCheck {
    /// RTP payloads played.
    pub played: u64,
    /// Packets missing between consecutive played ones of the same stream.
    pub gaps: u64,
    /// Played packets out of order or repeated.
    pub disorder: u64,
    /// Played payloads that match neither stream's bytes for their sequence number.
    pub corrupt: u64,
    /// (stream, first and last sequence number played, count) per stream, in play order.
    pub runs: Vec<(Ssrc, u16, u16, u64)>,
    /// The previous played packet's stream and extended number.
    #[doc(hidden)]
    pub prev: Option<(Ssrc, u64)>,
}

impl OutputCheck {
    /// The client restarted (a new session): its numbering starts afresh.
    pub fn new_session(&mut self) {
        self.prev = None;
    }
}

impl OutputCheck {
    /// Checks one played payload; `streams` are the SSRCs the source has used.
    pub fn check(&mut self, out: &Playout<'_>, streams: &[Ssrc]) {
        self.played += 1;
        let wire = out.rtp_seq;
        let ssrc = streams
            .iter()
            .rev()
            .copied()
            .find(|&s| is_payload(s, wire, out.ts));
        let Some(ssrc) = ssrc else {
            self.corrupt += 1;
            return;
        };
        match self.prev {
            Some((s, prev)) if s == ssrc => {
                if out.seq.0 <= prev {
                    self.disorder += 1;
                } else {
                    self.gaps += out.seq.0 - prev - 1;
                }
            }
            _ => self.runs.push((ssrc, wire, wire, 0)),
        }
        if let Some(run) = self.runs.last_mut() {
            (run.2, run.3) = (wire, run.3 + 1);
        }
        self.prev = Some((ssrc, out.seq.0));
    }
}

/// One client's results.
#[derive(Clone, Debug)]
pub struct ClientReport {
    /// Its metro.
    pub metro: usize,
    /// The core's counters.
    pub counters: Counters,
    /// Repair latency p50 and p99.
    pub latency: (Option<Duration>, Option<Duration>),
    /// Output check.
    pub output: OutputCheck,
    /// Media packets the network dropped on the way to this client.
    pub dropped_by_network: u64,
    /// Indices (in send order) of the packets the network dropped for this client.
    pub dropped_packets: Vec<u64>,
    /// Bytes this client sent to peers (requests, repairs, pings).
    pub peer_bytes_sent: u64,
    /// Repair bytes this client sent.
    pub repair_bytes_sent: u64,
    /// Peer messages this client sent that the receiver's access link or metro trunk lost
    /// ([`crate::Scenario::loss_on_all_links`]).
    pub peer_messages_lost: u64,
    /// How its manager link went.
    pub link: LinkFigures,
}

impl ClientReport {
    /// An empty report for a client in `metro`.
    pub fn new(metro: usize) -> Self {
        ClientReport {
            metro,
            counters: Counters::default(),
            latency: (None, None),
            output: OutputCheck::default(),
            dropped_by_network: 0,
            dropped_packets: Vec::new(),
            peer_bytes_sent: 0,
            repair_bytes_sent: 0,
            peer_messages_lost: 0,
            link: LinkFigures::default(),
        }
    }
}

/// The figures a design question is answered with.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Clients.
    pub clients: usize,
    /// Packets the source sent.
    pub packets: u64,
    /// Packets the network dropped on the way to clients, over all clients.
    pub network_loss: f64,
    /// Unrecovered packets as a share of all packets due at all clients.
    pub residual_loss: f64,
    /// Repair latency p50 and p99 over all repairs, in ms.
    pub latency_ms: (Option<f64>, Option<f64>),
    /// Duplicate repairs per useful repair.
    pub duplicates_per_repair: f64,
    /// Repair upload per client, mean and maximum, in kbit/s.
    pub upload_kbps: (f64, f64),
    /// Request messages per source packet, per client.
    pub requests_per_packet: f64,
    /// Lost packets the last resort (the source's relay) filled, over all clients.
    pub last_resort_repaired: u64,
    /// What the source sent, multicast and the relay's retransmissions, per byte of stream.
    pub source_egress: f64,
}

/// The results of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per client, by index.
    pub clients: Vec<ClientReport>,
    /// Packets the source sent, per stream.
    pub sent: Vec<(Ssrc, u16, u64)>,
    /// Virtual seconds simulated.
    pub seconds: f64,
    /// Repair latency p50 and p99 over every client.
    pub latency: (Option<Duration>, Option<Duration>),
    /// Packets the source sent.
    pub packets: u64,
    /// Bytes the source multicast.
    pub source_bytes: u64,
    /// The relay's figures, when the scenario has a last resort.
    pub relay: Option<groupcast_source::FanoutStats>,
}

impl Report {
    /// Every counter summed over all clients.
    pub fn totals(&self) -> Counters {
        self.clients.iter().map(|c| &c.counters).sum()
    }

    /// Sum of a counter over all clients.
    pub fn total(&self, f: impl Fn(&Counters) -> u64) -> u64 {
        self.clients.iter().map(|c| f(&c.counters)).sum()
    }

    /// Total packets missing from players' output (gaps + disorder + corrupt).
    pub fn output_faults(&self) -> u64 {
        self.clients
            .iter()
            .map(|c| c.output.gaps + c.output.disorder + c.output.corrupt)
            .sum()
    }

    /// The figures that answer design questions.
    pub fn summary(&self) -> Summary {
        let n = self.clients.len().max(1) as f64;
        let due = n * self.packets.max(1) as f64;
        let secs = self.seconds.max(1e-9);
        let uploads: Vec<f64> = self
            .clients
            .iter()
            .map(|c| c.repair_bytes_sent as f64 * 8.0 / 1000.0 / secs)
            .collect();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        Summary {
            clients: self.clients.len(),
            packets: self.packets,
            network_loss: self
                .clients
                .iter()
                .map(|c| c.dropped_by_network)
                .sum::<u64>() as f64
                / due,
            residual_loss: self.total(|c| c.unrecovered) as f64 / due,
            latency_ms: (ms(self.latency.0), ms(self.latency.1)),
            duplicates_per_repair: self.total(|c| c.duplicate_repairs) as f64
                / self.total(|c| c.repaired).max(1) as f64,
            upload_kbps: (
                uploads.iter().sum::<f64>() / n,
                uploads.iter().copied().fold(0.0, f64::max),
            ),
            requests_per_packet: self.total(|c| c.requests_sent) as f64 / due,
            last_resort_repaired: self.total(|c| c.last_resort_repaired),
            source_egress: 1.0
                + self.relay.as_ref().map_or(0, |r| r.repair_bytes) as f64
                    / self.source_bytes.max(1) as f64,
        }
    }

    /// Largest p99 repair latency over clients.
    pub fn worst_p99(&self) -> Option<Duration> {
        self.clients.iter().filter_map(|c| c.latency.1).max()
    }

    /// A plain-text table, one row per client and a total.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>6} {:>9} {:>8} {:>8} {:>11} {:>6} {:>8} {:>8} {:>8} {:>9}",
            "client",
            "received",
            "lost",
            "repaired",
            "unrecovered",
            "dups",
            "p50 ms",
            "p99 ms",
            "played",
            "out-gaps"
        );
        let ms =
            |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
        for (i, c) in self.clients.iter().enumerate() {
            let k = &c.counters;
            let _ = writeln!(
                s,
                "{:>6} {:>9} {:>8} {:>8} {:>11} {:>6} {:>8} {:>8} {:>8} {:>9}",
                i,
                k.received,
                k.lost,
                k.repaired,
                k.unrecovered,
                k.duplicate_repairs,
                ms(c.latency.0),
                ms(c.latency.1),
                c.output.played,
                c.output.gaps
            );
        }
        let t = self.totals();
        let _ = writeln!(
            s,
            "{:>6} {:>9} {:>8} {:>8} {:>11} {:>6}",
            "total", t.received, t.lost, t.repaired, t.unrecovered, t.duplicate_repairs
        );
        s
    }
}
