//! The event loop: virtual time in windows as long as the shortest peer-link delay, each
//! client ([`Node`]) run through a whole window at a time, and the manager ([`Manager`])
//! answering between windows.
//!
//! Within a window nothing one client sends can reach another, so running clients one after
//! the other gives exactly what running all events in global time order would: each client's
//! own draws come from its own generator, and the shared ones (metro trunks, churn, keys, new
//! streams) are drawn in packet order before the clients run. Running a client through a
//! whole window keeps its state in cache for several packets instead of fetching it from
//! memory once per packet. Requests to the manager made within a window are answered at its
//! end (at the earliest), so the manager's state never changes under a running window.

use crate::feed::Feed;
use crate::manager::Manager;
use crate::network::Network;
use crate::node::{Inbound, Node};
use crate::report::Report;
use crate::scenario::Scenario;
use groupcast_core::{Stats, Time};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::time::Duration;

/// A running simulation.
struct Sim<'a> {
    /// What is simulated.
    s: &'a Scenario,
    /// Shared draws: trunks, churn, keys, new streams.
    rng: SmallRng,
    /// The clients and the source.
    net: Network<'a>,
    /// The manager.
    manager: Manager,
}

/// Runs `scenario` to completion and reports.
pub fn run(scenario: &Scenario) -> Report {
    let mut sim = Sim::new(scenario);
    let end = Time::ZERO
        + Duration::from_micros(scenario.packets * 1_000_000 / u64::from(scenario.pps))
        + scenario.client.buffer * 2
        + Duration::from_secs(2);
    // The window: no peer message arrives sooner than this after it was sent.
    let lookahead = scenario.peer_delay.0.max(Duration::from_micros(1));
    let stop = end + Duration::from_micros(1);
    let (mut from, mut next) = (Time::ZERO, 0u64);
    while from < stop {
        let mut until = (from + lookahead).min(stop);
        // Churn happens before its packet is sent, with every client at that moment.
        if let Some(c) = sim.next_churn(next).filter(|&c| c > from && c < until) {
            until = c;
        }
        sim.answer_requests(from);
        next = sim.fill_window(from, until, next);
        sim.net.relay_step(until);
        let all = !sim.net.feed.window.is_empty();
        for i in 0..sim.net.nodes.len() {
            if all || sim.net.wake[i] < until {
                sim.net.run_client(i, until);
            }
        }
        from = until;
    }
    sim.report(end)
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = SmallRng::seed_from_u64(s.seed);
        let nodes: Vec<Node> = (0..s.clients)
            .map(|i| Node::new(s, i, rng.random(), Time::ZERO))
            .collect();
        let feed = Feed::new(s, &mut rng);
        let metros = nodes.iter().map(|n| n.metro).collect();
        let manager = Manager::new(s.manager, s.group_size, s.grouping, metros);
        let mut sim = Sim {
            s,
            rng,
            net: Network::new(s, nodes, feed),
            manager,
        };
        // The audience present at the start opens its sessions at once.
        for node in &mut sim.net.nodes {
            while node.poll_action().is_some() {}
        }
        sim.manager.open_all(Time::ZERO, s.clients, &mut sim.rng);
        sim.settle(Time::ZERO);
        sim
    }

    /// Final play-out, and every client's results.
    fn report(self, end: Time) -> Report {
        let streams = &self.net.feed.streams;
        let mut all = Stats::default();
        let clients = self
            .net
            .nodes
            .into_iter()
            .map(|mut n| {
                while let Some(out) = n.core.poll_playout(Time::NEVER) {
                    if self.s.check_output {
                        n.report.output.check(&out, streams);
                    }
                }
                n.merge_latencies(&mut all);
                n.finish()
            })
            .collect();
        Report {
            clients,
            sent: self.net.feed.sent,
            seconds: end.as_micros() as f64 / 1e6,
            latency: (all.repair_latency(0.5), all.repair_latency(0.99)),
            packets: self.s.packets,
            source_bytes: self.s.packets * (12 + 188 * self.s.ts_per_datagram.clamp(1, 7) as u64),
            relay: self.net.relay.as_ref().map(|r| r.stats().clone()),
        }
    }

    /// Between windows, at `now`: the manager's own timers, then the requests made in the
    /// window just run, in time order.
    fn answer_requests(&mut self, now: Time) {
        self.manager.handle_timeout(now);
        let mut requests = std::mem::take(&mut self.net.requests);
        requests.sort_by_key(|r| (r.0, r.1));
        for (at, i, action) in requests.drain(..) {
            self.manager.request(at, i, action, &mut self.rng);
        }
        self.net.requests = requests;
        self.settle(now);
    }

    /// Hands over the manager's answers: those due by `now` at once (and the requests they
    /// prompt answered in turn), later ones into the clients' inboxes.
    fn settle(&mut self, now: Time) {
        while let Some(d) = self.manager.poll_delivery() {
            if d.at > now {
                self.net.deliver(d.to, d.at, Inbound::Link(d.reply));
                continue;
            }
            let node = &mut self.net.nodes[d.to];
            node.handle_link(now, d.reply);
            node.take_link_news(now);
            while let Some(action) = node.poll_action() {
                self.manager.request(now, d.to, action, &mut self.rng);
            }
            self.net.wake[d.to] = node.wake();
        }
    }

    /// When the source sends packet `n`.
    fn send_time(&self, n: u64) -> Time {
        Time::from_micros(n * 1_000_000 / u64::from(self.s.pps))
    }

    /// When the first churn at or after packet `n` happens, if any.
    fn next_churn(&self, n: u64) -> Option<Time> {
        let pps = u64::from(self.s.pps);
        if self.s.churn <= 0.0 {
            return None;
        }
        let c = n.max(1).div_ceil(pps) * pps;
        (c < self.s.packets).then(|| self.send_time(c))
    }

    /// Builds the packets the source sends in `[from, until)`, from index `n` on, drawing the
    /// metro trunks' fate of each; returns the index of the next packet.
    fn fill_window(&mut self, from: Time, until: Time, mut n: u64) -> u64 {
        self.net.feed.clear();
        while n < self.s.packets && self.send_time(n) < until {
            let at = self.send_time(n).max(from);
            self.churn(at, n);
            self.net.feed.send(self.s, at, n, &mut self.rng);
            n += 1;
        }
        n
    }

    /// Once a second, a share of the audience leaves (closing its session); those who left a
    /// second ago come back and open new sessions. The manager re-forms groups around them.
    fn churn(&mut self, now: Time, n: u64) {
        let pps = u64::from(self.s.pps);
        if self.s.churn <= 0.0 || n == 0 || !n.is_multiple_of(pps) {
            return;
        }
        for i in 0..self.net.nodes.len() {
            let node = &mut self.net.nodes[i];
            if node.rejoin_at == Some(n) {
                node.rejoin(self.s, now);
            } else if node.active && self.rng.random_bool(self.s.churn) {
                node.leave(n + pps);
            } else {
                continue;
            }
            while let Some(action) = self.net.nodes[i].poll_action() {
                self.manager.request(now, i, action, &mut self.rng);
            }
            self.settle(now);
        }
    }
}
