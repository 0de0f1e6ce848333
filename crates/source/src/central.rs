//! The central's side of the relay: registers edges that prove their token, sends each of
//! them every datagram, and retransmits from the ring what they NACK, within a budget.

use crate::outbox::Outbox;
use groupcast_base::{Time, TokenBucket};
use groupcast_wire::SeqNo;
use groupcast_wire::proto::{GroupKey, ReplayWindow};
use groupcast_wire::relay::{self, RelayBody};
use std::net::SocketAddr;
use std::time::Duration;

/// An edge is dropped after this long without a HELLO.
const EDGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Retransmissions per second one edge may draw, and the burst.
const NACK_RATE: u32 = 5_000;
const NACK_BURST: u32 = 1_000;

/// What the central counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CentralStats {
    /// Datagrams sent to edges (first copies).
    pub relayed: u64,
    /// Datagrams sent again after a NACK.
    pub retransmitted: u64,
    /// NACKed packets no longer (or never) in the ring.
    pub nack_missed: u64,
    /// NACKed packets refused by the per-edge budget.
    pub nack_limited: u64,
    /// Edge messages that did not verify (wrong token, garbage).
    pub unauthenticated: u64,
    /// Authenticated edge messages refused by the replay window.
    pub replayed: u64,
    /// Datagrams not queued because the queue was full.
    pub dropped: u64,
}

/// One registered edge, as reported in statistics.
#[derive(Clone, Debug)]
pub struct EdgeInfo {
    /// Its name.
    pub name: String,
    /// Where it receives.
    pub addr: SocketAddr,
    /// Last HELLO.
    pub last_hello: Time,
    /// Datagrams relayed to it.
    pub relayed: u64,
    /// Datagrams retransmitted to it.
    pub retransmitted: u64,
}

/// Per-edge state.
#[derive(Debug)]
struct EdgePeer {
    /// Public view.
    info: EdgeInfo,
    /// Replay window over its counters.
    replay: ReplayWindow,
    /// Retransmission budget.
    budget: TokenBucket,
}

/// The relay server.
#[derive(Debug)]
pub struct Central {
    /// Key derived from the edge token.
    key: GroupKey,
    /// Registered edges.
    edges: Vec<EdgePeer>,
    /// Sent datagrams, and what is still to send to which edge.
    out: Outbox,
    /// Counters.
    stats: CentralStats,
}

impl Central {
    /// A relay accepting edges that hold `token`, keeping `keep` of history for them.
    pub fn new(token: &[u8], keep: Duration) -> Self {
        Central {
            key: GroupKey::from_secret(token),
            edges: Vec::new(),
            out: Outbox::new(keep),
            stats: CentralStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &CentralStats {
        &self.stats
    }

    /// The registered edges.
    pub fn edges(&self) -> impl Iterator<Item = &EdgeInfo> {
        self.edges.iter().map(|e| &e.info)
    }

    /// Takes a datagram received on the relay socket from `from`.
    pub fn handle_edge(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = relay::open(&self.key, bytes) else {
            self.stats.unauthenticated += 1;
            return;
        };
        let i = match self.edges.iter().position(|e| e.info.name == msg.name) {
            Some(i) => i,
            None => {
                self.edges.push(EdgePeer {
                    info: EdgeInfo {
                        name: msg.name.into(),
                        addr: from,
                        last_hello: now,
                        relayed: 0,
                        retransmitted: 0,
                    },
                    replay: ReplayWindow::new(),
                    budget: TokenBucket::full(NACK_BURST),
                });
                self.edges.len() - 1
            }
        };
        let edge = &mut self.edges[i];
        if edge.replay.accept(msg.counter).is_err() {
            self.stats.replayed += 1;
            return;
        }
        edge.info.addr = from;
        edge.info.last_hello = now;
        if let RelayBody::Nack { ranges, .. } = msg.body {
            for wire in ranges.iter().flat_map(|r| r.iter()).take(4096) {
                self.retransmit(now, i, wire);
            }
        }
    }

    fn retransmit(&mut self, now: Time, edge: usize, wire: u16) {
        let Some(seq) = self.out.held(wire) else {
            self.stats.nack_missed += 1;
            return;
        };
        if !self.edges[edge].budget.take(now, NACK_RATE, NACK_BURST) {
            self.stats.nack_limited += 1;
        } else if self.out.queue(self.edges[edge].info.addr, seq) {
            self.edges[edge].info.retransmitted += 1;
            self.stats.retransmitted += 1;
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Runs timers: forgets edges silent for longer than 5 s.
    pub fn handle_timeout(&mut self, now: Time) {
        self.edges
            .retain(|e| e.info.last_hello + EDGE_TIMEOUT >= now);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work: just after the
    /// quietest edge's timeout; `None` with no edge.
    pub fn poll_timeout(&self) -> Option<Time> {
        let last = self.edges.iter().map(|e| e.info.last_hello).min()?;
        Some(last + EDGE_TIMEOUT + Duration::from_micros(1))
    }

    /// Records a datagram just multicast as `seq` and queues it for every live edge.
    pub fn on_sent(&mut self, now: Time, seq: SeqNo, datagram: &[u8]) {
        self.out.record(now, seq, datagram);
        self.handle_timeout(now);
        for i in 0..self.edges.len() {
            if self.out.queue(self.edges[i].info.addr, seq) {
                self.edges[i].info.relayed += 1;
                self.stats.relayed += 1;
            } else {
                self.stats.dropped += 1;
            }
        }
    }

    /// The next datagram for an edge: where to, and the bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, &[u8])> {
        self.out.poll_transmit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_wire::relay::RelayMessage;

    fn hello(key_token: &[u8], name: &str, counter: u64) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let msg = RelayMessage {
            name,
            counter,
            body: RelayBody::Hello,
        };
        let n = msg
            .emit(&GroupKey::from_secret(key_token), &mut buf)
            .unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn a_silent_edge_is_forgotten_at_its_timeout() {
        let mut c = Central::new(b"token", Duration::from_secs(2));
        assert_eq!(c.poll_timeout(), None, "no edge, no timer");
        let from: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        c.handle_edge(Time::from_millis(100), from, &hello(b"token", "a", 1));
        c.handle_edge(Time::from_millis(900), from, &hello(b"token", "b", 1));
        let due = Time::from_millis(5_100) + Duration::from_micros(1);
        assert_eq!(c.poll_timeout(), Some(due));
        c.handle_timeout(Time::from_millis(5_100));
        assert_eq!(c.edges().count(), 2, "not before its timeout");
        c.handle_timeout(due);
        let names: Vec<&str> = c.edges().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(
            c.poll_timeout(),
            Some(Time::from_millis(5_900) + Duration::from_micros(1))
        );
    }

    #[test]
    fn a_wrong_token_registers_nothing() {
        let mut c = Central::new(b"token", Duration::from_secs(2));
        let from: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        c.handle_edge(Time::from_millis(1), from, &hello(b"other", "a", 1));
        assert_eq!(c.stats().unauthenticated, 1);
        assert_eq!(c.poll_timeout(), None);
    }
}
