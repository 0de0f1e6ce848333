//! One simulated viewer and how it runs through a window of virtual time: its own media, its
//! inbox of delayed datagrams and its timer, in time order, with its own random generator.
//!
//! Clients only reach each other through peer links whose delay is at least the window's
//! length, so a client can run a whole window before the next one starts without missing
//! anything another client sends in that window: its state stays in cache for several
//! packets instead of being fetched from memory once per packet.

use crate::model::LossState;
use crate::net::{SOURCE, Sim, client_of};
use crate::report::ClientReport;
use groupcast_core::{Client, Stats, Time};
use rand::RngExt;
use rand::rngs::SmallRng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Duration;

/// A datagram on its way to a client.
pub(crate) enum Inbound {
    /// A multicast datagram (links with jitter, reordering or duplication).
    Media(Rc<[u8]>),
    /// A peer datagram.
    Peer(Vec<u8>),
}

/// An inbox entry: earliest `at` first, then the order it was sent in.
pub(crate) struct Arrival {
    pub(crate) at: Time,
    pub(crate) order: u64,
    pub(crate) what: Inbound,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl Eq for Arrival {}

impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arrival {
    /// Reversed, so that the max-heap pops the earliest arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One simulated viewer.
pub(crate) struct Node {
    pub(crate) core: Client,
    /// Its current session id.
    pub(crate) session: u64,
    /// Its metro.
    pub(crate) metro: usize,
    /// Watching now (false between a churn leave and the rejoin).
    pub(crate) active: bool,
    /// Packet index at which it comes back after leaving.
    pub(crate) rejoin_at: Option<u64>,
    /// When the core next wants `handle_timeout`, as of its last input.
    pub(crate) timer: Option<Time>,
    /// Datagrams on their way to it.
    pub(crate) inbox: BinaryHeap<Arrival>,
    /// Its own draws: its media path's losses and jitter, its uplink's losses and delays.
    pub(crate) rng: SmallRng,
    /// Packet index from which it sends nothing to peers.
    pub(crate) silent_from: Option<u64>,
    /// Its multicast path's loss state.
    pub(crate) loss: LossState,
    /// Its uplink's loss state (every peer message it sends).
    pub(crate) peer_loss: LossState,
    /// Results gathered during the run.
    pub(crate) report: ClientReport,
    /// Repair latencies of its earlier sessions (churn).
    pub(crate) past: Stats,
    /// Counters of its earlier sessions (churn).
    pub(crate) past_counters: groupcast_core::Counters,
}

impl Node {
    /// The earliest thing it has to do: an arrival or its timer.
    pub(crate) fn wake(&self) -> Time {
        let inbox = self.inbox.peek().map_or(Time::NEVER, |a| a.at);
        inbox.min(self.timer.unwrap_or(Time::NEVER))
    }
}

/// What a client does next within a window.
enum Next {
    /// The source sends the window's packet `k`.
    Send(usize),
    /// The earliest inbox entry arrives.
    Arrive,
    /// Its timer fires.
    Timer,
}

fn jitter(rng: &mut SmallRng, (base, spread): (Duration, Duration)) -> Duration {
    base + spread.mul_f64(rng.random::<f64>())
}

impl Sim<'_> {
    /// Runs client `i` through the window ending at `end` (exclusive): the window's packets,
    /// then its arrivals and timer, in time order.
    pub(crate) fn run_client(&mut self, i: usize, end: Time) {
        let mut k = 0;
        loop {
            let node = &self.nodes[i];
            let mut next = None;
            let mut at = end;
            if let Some(p) = self.window.get(k) {
                (next, at) = (Some(Next::Send(k)), p.at);
            }
            if let Some(a) = node.inbox.peek().filter(|a| a.at < at) {
                (next, at) = (Some(Next::Arrive), a.at);
            }
            if let Some(t) = node.timer.filter(|&t| t < at) {
                (next, at) = (Some(Next::Timer), t);
            }
            match next {
                None => break,
                Some(Next::Send(j)) => {
                    k += 1;
                    self.media_sent(at, i, j, end);
                }
                Some(Next::Arrive) => {
                    let Some(a) = self.nodes[i].inbox.pop() else {
                        break;
                    };
                    match a.what {
                        Inbound::Media(data) => {
                            if self.nodes[i].active {
                                self.nodes[i].core.handle_media(at, SOURCE, &data);
                                self.drive(at, i, end);
                            }
                        }
                        Inbound::Peer(data) => {
                            if self.nodes[i].active {
                                self.nodes[i].core.handle_peer(at, &data);
                                self.drive(at, i, end);
                            }
                            self.spare.push(data);
                        }
                    }
                }
                Some(Next::Timer) => {
                    self.nodes[i].timer = None;
                    if self.nodes[i].active {
                        self.nodes[i].core.handle_timeout(at);
                        self.drive(at, i, end);
                    }
                }
            }
        }
        self.wake[i] = self.nodes[i].wake();
    }

    /// The window's packet `j` leaves the source towards client `i`: its trunk and its own
    /// path may lose it; otherwise it arrives now (ideal links) or after its link's delay.
    fn media_sent(&mut self, now: Time, i: usize, j: usize, end: Time) {
        let metros = self.metro_loss.len();
        let p = &self.window[j];
        let (n, trunk_lost) = (p.n, self.trunk[j * metros + self.nodes[i].metro]);
        let data = Rc::clone(&p.data);
        let s = self.s;
        let node = &mut self.nodes[i];
        let own = node.loss.lose(&mut node.rng);
        if trunk_lost || own {
            node.report.dropped_by_network += 1;
            node.report.dropped_packets.push(n);
            return;
        }
        if self.fast {
            if node.active {
                node.core.handle_media(now, SOURCE, &data);
                self.drive(now, i, end);
            }
            return;
        }
        let mut at = now + jitter(&mut node.rng, s.media_delay);
        if node.rng.random_bool(s.reorder) {
            at = at + s.reorder_delay;
        }
        if node.rng.random_bool(s.duplicate) {
            let dup = at + Duration::from_micros(100);
            self.deliver(i, dup, Inbound::Media(Rc::clone(&data)));
        }
        self.deliver(i, at, Inbound::Media(data));
    }

    /// Puts a datagram in client `i`'s inbox.
    fn deliver(&mut self, i: usize, at: Time, what: Inbound) {
        self.order += 1;
        let order = self.order;
        self.nodes[i].inbox.push(Arrival { at, order, what });
        self.wake[i] = self.wake[i].min(at);
    }

    /// Pulls everything client `i` has to say after an input and notes its next timer. Peer
    /// messages arrive no earlier than `not_before`, the end of the window (the lookahead
    /// guarantees their delay reaches it anyway; this only matters for zero-delay links).
    fn drive(&mut self, now: Time, i: usize, not_before: Time) {
        let mut buf = std::mem::take(&mut self.out_buf);
        let sent = self.packets_sent_by(now);
        let clients = self.nodes.len();
        while let Some(t) = self.nodes[i].core.poll_transmit(now, &mut buf) {
            let node = &mut self.nodes[i];
            let silent = node.silent_from.is_some_and(|from| sent > from);
            let to = client_of(t.dst);
            node.report.peer_bytes_sent += t.len as u64;
            if buf[3] == 2 {
                node.report.repair_bytes_sent += t.len as u64;
            }
            if silent || to >= clients || node.peer_loss.lose(&mut node.rng) {
                continue;
            }
            let at = (now + jitter(&mut node.rng, self.s.peer_delay)).max(not_before);
            let mut msg = self.spare.pop().unwrap_or_default();
            msg.clear();
            msg.extend_from_slice(&buf[..t.len]);
            self.deliver(to, at, Inbound::Peer(msg));
        }
        self.out_buf = buf;
        let check = self.s.check_output;
        let node = &mut self.nodes[i];
        while let Some(out) = node.core.poll_playout(now) {
            if check {
                node.report.output.check(&out, &self.streams);
            }
        }
        while node.core.poll_event().is_some() {}
        node.timer = node
            .core
            .poll_timeout()
            .map(|t| t.max(now + Duration::from_micros(1)));
    }
}
