//! Per-metro statistics from heartbeats: deltas of received / lost / repaired / unrecovered
//! summed over fixed buckets (written to `metro_samples`), and the failing-device detector.
//!
//! The detector keeps, per metro, the RTP sequence numbers its viewers lost by multicast over
//! the last [`WINDOW_MS`]. A packet lost by at least max(2, half the metro's viewers) points
//! at something the viewers share (a switch, a link, an edge): `shared_loss` is the share of
//! the metro's distinct lost packets that were lost that way, and the metro is flagged when
//! it has two viewers or more, `shared_loss` is at least 0.5 and at least [`MIN_SHARED`] such
//! packets were seen. The window lives in this instance's memory only.

use groupcast_api::{ClientStats, Heartbeat, MetroSample, SessionId, Ssrc};
use groupcast_grouping::MetroId;
use std::collections::{HashMap, HashSet, VecDeque};

/// How far back the detector looks, ms.
pub(crate) const WINDOW_MS: i64 = 10_000;
/// Fewest shared losses before a metro is flagged.
pub(crate) const MIN_SHARED: usize = 10;
/// Most losses kept per metro.
const MAX_LOSSES: usize = 100_000;
/// Width of a statistics bucket, ms (all instances align on multiples of it).
pub(crate) const BUCKET_MS: i64 = 2_000;

/// One loss report: when, by whom, which packet.
#[derive(Clone, Copy)]
struct Loss {
    at_ms: i64,
    session: SessionId,
    ssrc: Ssrc,
    seq: u16,
}

/// The statistics of every metro.
#[derive(Default)]
pub(crate) struct Stats {
    /// Deltas accumulated since the last flush, by metro id.
    buckets: HashMap<MetroId, MetroSample>,
    /// Recent losses, by metro id.
    losses: HashMap<MetroId, VecDeque<Loss>>,
    /// Latest detector result by metro name: (shared_loss, flagged).
    flags: HashMap<String, (f64, bool)>,
}

/// `new - old` for a cumulative counter (a client that restarted its counters reports less:
/// then everything it reports is new).
fn delta(new: u64, old: u64) -> u64 {
    if new >= old { new - old } else { new }
}

impl Stats {
    /// Adds one heartbeat: counters moved from `old` to `new`, and the packets it lost.
    pub(crate) fn record(
        &mut self,
        metro: MetroId,
        session: SessionId,
        old: &ClientStats,
        hb: &Heartbeat,
        now_ms: i64,
    ) {
        let (new, ssrc, losses) = (&hb.stats, hb.ssrc, &hb.losses);
        let b = self.buckets.entry(metro).or_default();
        let add = |sum: &mut u64, new: u64, old: u64| *sum = sum.saturating_add(delta(new, old));
        add(&mut b.received, new.received, old.received);
        add(&mut b.lost, new.lost, old.lost);
        add(&mut b.repaired, new.repaired, old.repaired);
        add(&mut b.unrecovered, new.unrecovered, old.unrecovered);
        if losses.is_empty() {
            return;
        }
        let window = self.losses.entry(metro).or_default();
        for &seq in losses.iter().take(512) {
            window.push_back(Loss {
                at_ms: now_ms,
                session,
                ssrc,
                seq,
            });
        }
        while window.len() > MAX_LOSSES {
            window.pop_front();
        }
    }

    /// Takes the accumulated deltas (for the `metro_samples` table).
    pub(crate) fn take_buckets(&mut self) -> Vec<(MetroId, MetroSample)> {
        self.buckets
            .drain()
            .filter(|(_, s)| (s.received | s.lost | s.repaired | s.unrecovered) > 0)
            .collect()
    }

    /// Re-runs the detector for every metro, given each metro's (name, live viewers).
    pub(crate) fn refresh_flags(&mut self, metros: &HashMap<MetroId, (String, u32)>, now_ms: i64) {
        self.flags.clear();
        for (id, window) in &mut self.losses {
            while window.front().is_some_and(|l| l.at_ms < now_ms - WINDOW_MS) {
                window.pop_front();
            }
            if let Some((name, viewers)) = metros.get(id) {
                self.flags.insert(name.clone(), detect(window, *viewers));
            }
        }
        self.losses.retain(|_, w| !w.is_empty());
    }

    /// The latest (shared_loss, flagged) of a metro.
    pub(crate) fn flag(&self, metro: &str) -> (f64, bool) {
        self.flags.get(metro).copied().unwrap_or((0.0, false))
    }

    /// True when the metro is flagged.
    pub(crate) fn flagged_by_name(&self, metro: &str) -> bool {
        self.flag(metro).1
    }
}

/// (shared_loss, flagged) of one metro's window.
fn detect(window: &VecDeque<Loss>, viewers: u32) -> (f64, bool) {
    let mut by_packet: HashMap<(Ssrc, u16), HashSet<SessionId>> = HashMap::new();
    for l in window {
        by_packet
            .entry((l.ssrc, l.seq))
            .or_default()
            .insert(l.session);
    }
    if by_packet.is_empty() {
        return (0.0, false);
    }
    let quorum = (viewers as usize).div_ceil(2).max(2);
    let shared = by_packet.values().filter(|s| s.len() >= quorum).count();
    let share = shared as f64 / by_packet.len() as f64;
    (share, viewers >= 2 && share >= 0.5 && shared >= MIN_SHARED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metros(viewers: u32) -> HashMap<MetroId, (String, u32)> {
        HashMap::from([(MetroId(1), ("paris".to_string(), viewers))])
    }

    /// A heartbeat at 1 s from `session` (metro 1, SSRC 7) reporting `losses`.
    fn record_losses(s: &mut Stats, session: u64, losses: Vec<u16>) {
        let hb = Heartbeat {
            ssrc: Ssrc(7),
            losses,
            ..Heartbeat::default()
        };
        s.record(
            MetroId(1),
            SessionId(session),
            &ClientStats::default(),
            &hb,
            1000,
        );
    }

    #[test]
    fn same_losses_in_a_metro_flag_it() {
        let mut s = Stats::default();
        for session in 1..=3 {
            record_losses(&mut s, session, (100..130).collect());
        }
        s.refresh_flags(&metros(3), 2000);
        assert_eq!(s.flag("paris"), (1.0, true));
        // Ten seconds later the window is empty again.
        s.refresh_flags(&metros(3), 20_000);
        assert!(!s.flag("paris").1);
    }

    #[test]
    fn independent_losses_do_not() {
        let mut s = Stats::default();
        for session in 1..=3u64 {
            record_losses(
                &mut s,
                session,
                (0..30).map(|i| (session * 1000 + i) as u16).collect(),
            );
        }
        s.refresh_flags(&metros(3), 2000);
        assert_eq!(s.flag("paris"), (0.0, false));
    }

    #[test]
    fn deltas_survive_counter_resets() {
        let mut s = Stats::default();
        let old = ClientStats {
            received: 100,
            ..ClientStats::default()
        };
        let new = ClientStats {
            received: 150,
            lost: 3,
            ..ClientStats::default()
        };
        let hb = |stats| Heartbeat {
            stats,
            ..Heartbeat::default()
        };
        s.record(MetroId(1), SessionId(1), &old, &hb(new.clone()), 0);
        s.record(
            MetroId(1),
            SessionId(1),
            &new,
            &hb(ClientStats {
                received: 10,
                ..ClientStats::default()
            }),
            0,
        );
        let b = s.take_buckets();
        assert_eq!((b[0].1.received, b[0].1.lost), (60, 3));
        assert!(s.take_buckets().is_empty());
    }
}
