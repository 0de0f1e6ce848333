//! Counters and the repair latency histogram of one client.

use hdrhistogram::Histogram;
use std::iter::Sum;
use std::ops::AddAssign;
use std::time::Duration;

/// Declares [`Counters`] once: the struct, its field list ([`Counters::FIELDS`],
/// [`Counters::fields`]) and field-wise addition all come from this one list.
macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $f:ident,)+) => {
        /// Everything a client counts. Every dropped or refused input lands in exactly one
        /// counter.
        ///
        /// One type for every view: the client's `--stats-json`, its heartbeat to the manager,
        /// the simulator's report and the status line read these fields, by name through
        /// [`Counters::fields`] or directly; sums over sessions or clients use `+=`.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[doc = $doc])+ pub $f: u64,)+
        }

        impl Counters {
            /// The counters' names, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($f)),+];

            /// Each counter with its name, in declaration order.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
                Self::FIELDS.iter().copied().zip([$(self.$f),+])
            }
        }

        impl AddAssign<&Counters> for Counters {
            fn add_assign(&mut self, o: &Counters) {
                $(self.$f += o.$f;)+
            }
        }
    };
}

counters! {
    /// Media packets accepted from the multicast group (first copies only).
    received,
    /// Packets that did not arrive by multicast before their gap was given up or filled:
    /// `repaired + unrecovered` once the stream has played through.
    lost,
    /// Lost packets filled by a repair (a peer's, or the last resort's).
    repaired,
    /// Lost packets still missing when their chunk was due to play.
    unrecovered,
    /// Packets that arrived by multicast after a repair had been requested for them.
    late,
    /// Extra multicast copies of packets already held.
    duplicate_media,
    /// Repairs for packets already held (the first copy wins).
    duplicate_repairs,
    /// Repairs that arrived after their chunk had been played out.
    repairs_too_late,
    /// Media packets older than the raw buffer window.
    media_too_old,
    /// Request messages sent (one per peer per batch).
    requests_sent,
    /// Packet numbers asked for, summed over request messages.
    packets_requested,
    /// Requests sent because the stream went quiet (tail-loss probes).
    tail_probes,
    /// Request messages received from authenticated peers.
    requests_received,
    /// Repairs sent to peers.
    repairs_served,
    /// Requested packets we did not hold.
    serve_missing,
    /// Requested packets refused by the per-peer rate budget.
    serve_rate_limited,
    /// Media datagrams that are not valid RTP.
    bad_rtp,
    /// RTP packets whose payload is not whole MPEG-TS packets.
    bad_payload,
    /// Media packets of a foreign SSRC (before a source restart is confirmed).
    ssrc_mismatch,
    /// Fast starts whose burst began (the stream started at a member's random access point).
    fast_starts,
    /// Microseconds from asking to a burst's first packet, summed over `fast_starts`.
    fast_start_wait_us,
    /// Fast starts given up for want of an answer (the stream then starts on multicast).
    fast_start_fallbacks,
    /// Burst packets stored (first copies).
    fast_start_packets,
    /// Burst packets not used: duplicates, too late, or of another stream.
    fast_start_unused,
    /// Multicast datagrams held while asking for a fast start that fell back, older than the
    /// buffer by then (a viewer without fast start would already have played them): dropped,
    /// so that the stream starts a buffer behind live, not as far behind as the asking lasted.
    fast_start_skipped,
    /// Fast starts served to members.
    fast_starts_served,
    /// Burst packets sent to members.
    fast_start_packets_served,
    /// Fast start requests refused: nothing held, one already under way, asked again too soon,
    /// or serving off.
    fast_start_refused,
    /// Source restarts (SSRC changes) followed.
    source_restarts,
    /// Peer datagrams that are not well-formed groupcast messages.
    bad_peer_datagrams,
    /// Peer messages whose tag did not verify, or from senders outside the group.
    unauthenticated,
    /// Peer messages for an epoch we hold no key for, or another channel.
    stale,
    /// Authenticated peer messages refused by the replay window.
    replayed,
    /// Messages not acted on or not sent because the member's address is not proven yet
    /// (return routability): its requests and fast starts, our requests, repairs and bursts
    /// to it, pongs beyond one per 100 ms to it, and pongs echoing a nonce we never sent.
    unverified_refused,
    /// Authenticated peer messages whose body is malformed (bad ranges, bad checksum...).
    malformed,
    /// Pings sent.
    pings_sent,
    /// Messages not sent because the transmit queue was full.
    transmit_dropped,
    /// Packets dropped from the playback buffer because the player did not keep up.
    playback_overflow,
    /// TS packets handed to the player (in 188-byte units).
    ts_packets_out,
    /// Requested packets we hold but did not serve: our uplink budget was spent.
    serve_uplink_limited,
    /// TS packets of an encrypted channel decrypted for the player.
    media_decrypted,
    /// Scrambled TS packets played as they were: no media key of their parity was held.
    media_no_key,
    /// Packet numbers handed to the driver to ask the last resort (the relay), once per ask.
    escalated,
    /// Numbers dropped from a full last-resort queue (the driver did not drain it).
    escalations_dropped,
    /// Lost packets filled by the last resort (also counted in `repaired`).
    last_resort_repaired,
    /// Requested packets left to the members ranked before us in the request's rota.
    serve_deferred,
    /// Datagrams from the last resort that filled nothing (held already, too late, or
    /// never asked for).
    last_resort_unused,
    /// Times a member was taken as silent (its pings unanswered `silent_after_pings` times
    /// in a row, with no repair from it meanwhile) and left out of requests until it answers.
    peers_silenced,
    /// Packet numbers asked of our backups (another group's members) once our group could
    /// not supply them in time, once per ask (each live backup is asked).
    backup_asked,
    /// Lost packets filled by a backup (also counted in `repaired`).
    backup_repaired,
    /// Repairs queued for the backups that list us (within their smaller budget).
    backup_served,
    /// Fast start messages from backups, refused (fast starts are for the group's members).
    backup_refused,
    /// Absent messages sent: answers telling a requester we lost the packets it asked for too.
    absent_sent,
    /// Times every live member (or every live backup) said it lacks a missing packet, so
    /// that the packet went on to the next tier without waiting out its attempts.
    absent_all,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        *self += &o;
    }
}

impl std::ops::Add<&Counters> for &Counters {
    type Output = Counters;

    fn add(self, o: &Counters) -> Counters {
        let mut sum = self.clone();
        sum += o;
        sum
    }
}

impl<'a> Sum<&'a Counters> for Counters {
    fn sum<I: Iterator<Item = &'a Counters>>(iter: I) -> Counters {
        iter.fold(Counters::default(), |mut sum, c| {
            sum += c;
            sum
        })
    }
}

impl Counters {
    /// Datagrams dropped because they are not well-formed: invalid RTP or non-TS payloads at
    /// the multicast group, peer datagrams that are not groupcast messages, authenticated
    /// messages with a malformed body. Refused but well-formed messages (unauthenticated,
    /// stale, replayed) have counters of their own.
    pub fn bad_datagrams(&self) -> u64 {
        self.bad_rtp + self.bad_payload + self.bad_peer_datagrams + self.malformed
    }
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

    #[test]
    fn counters_add_field_by_field_and_list_every_field() {
        let a = Counters {
            received: 3,
            malformed: 1,
            bad_rtp: 2,
            ..Counters::default()
        };
        let b = Counters {
            received: 4,
            ts_packets_out: 9,
            bad_peer_datagrams: 5,
            unauthenticated: 7,
            ..Counters::default()
        };
        let mut sum = &a + &b;
        assert_eq!((sum.received, sum.ts_packets_out), (7, 9));
        assert_eq!(sum.bad_datagrams(), 8, "unauthenticated is not malformed");
        sum += b.clone();
        assert_eq!([a.clone(), b.clone(), b].iter().sum::<Counters>(), sum);
        let names: Vec<_> = sum.fields().map(|(n, _)| n).collect();
        assert_eq!(names, Counters::FIELDS);
        assert_eq!(names.len(), 54);
        assert_eq!(sum.fields().next(), Some(("received", 11)));
        assert!(sum.fields().any(|f| f == ("ts_packets_out", 18)));
    }
}
