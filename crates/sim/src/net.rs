//! The event loop: a priority queue of deliveries and timers on virtual time.

use crate::model::LossState;
use crate::report::{ClientReport, OutputCheck, Report};
use crate::scenario::Scenario;
use crate::source;
use groupcast_core::{Client, Config, Group, Member, Time};
use groupcast_wire::Ssrc;
use groupcast_wire::proto::{ChannelId, GroupEpoch, KEY_LEN, SenderId};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

/// What happens at a point of virtual time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// The source sends packet `n`.
    Send(u64),
    /// A multicast datagram reaches a client.
    Media(usize, Vec<u8>),
    /// A peer datagram reaches a client.
    Peer(usize, Vec<u8>),
    /// A client's timer, valid if still the one scheduled.
    Timer(usize),
}

/// One simulated viewer.
struct Node {
    core: Client,
    /// The timer currently scheduled, if any.
    timer: Option<Time>,
    /// Packet index from which it sends nothing to peers.
    silent_from: Option<u64>,
    /// Its multicast path's loss state.
    loss: LossState,
    /// Results gathered during the run.
    report: ClientReport,
}

/// A running simulation.
struct Sim<'a> {
    s: &'a Scenario,
    rng: SmallRng,
    queue: BinaryHeap<Reverse<(Time, u64, What)>>,
    order: u64,
    nodes: Vec<Node>,
    peer_loss: LossState,
    /// SSRCs used so far, and the current stream's (ssrc, first seq, packets sent).
    sent: Vec<(Ssrc, u16, u64)>,
    /// Packets sent so far.
    sent_total: u64,
    buf: Vec<u8>,
}

const SOURCE: &str = "127.0.0.1:5000";
const GROUP: &str = "239.255.0.1:5004";

fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))
}

/// Runs `scenario` to completion and reports.
pub fn run(scenario: &Scenario) -> Report {
    let mut sim = Sim::new(scenario);
    sim.push(Time::ZERO, What::Send(0));
    let end = Time::ZERO
        + Duration::from_micros(scenario.packets * 1_000_000 / u64::from(scenario.pps))
        + scenario.client.buffer * 2
        + Duration::from_secs(2);
    while let Some(Reverse((now, _, what))) = sim.queue.pop() {
        if now > end {
            break;
        }
        sim.step(now, what);
    }
    Report {
        clients: sim.nodes.into_iter().map(finish).collect(),
        sent: sim.sent,
        seconds: end.as_micros() as f64 / 1e6,
    }
}

fn finish(n: Node) -> ClientReport {
    let stats = n.core.stats();
    ClientReport {
        counters: stats.counters.clone(),
        latency: (stats.repair_latency(0.5), stats.repair_latency(0.99)),
        ..n.report
    }
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = SmallRng::seed_from_u64(s.seed);
        let group: SocketAddr = GROUP.parse().unwrap_or_else(|_| unreachable!());
        let mut nodes: Vec<Node> = (0..s.clients)
            .map(|i| {
                let mut c = Config::new(ChannelId(1), SenderId(i as u64 + 1), group);
                s.client.apply(&mut c, s.pps);
                Node {
                    core: Client::new(c).unwrap_or_else(|e| panic!("scenario config: {e}")),
                    timer: None,
                    silent_from: s.silent.iter().find(|x| x.0 == i).map(|x| x.1),
                    loss: LossState::new(s.media_loss),
                    report: ClientReport {
                        counters: Default::default(),
                        latency: (None, None),
                        output: OutputCheck::default(),
                        dropped_by_network: 0,
                        dropped_packets: Vec::new(),
                        peer_bytes_sent: 0,
                        repair_bytes_sent: 0,
                    },
                }
            })
            .collect();
        for (g, members) in (0..s.clients)
            .collect::<Vec<_>>()
            .chunks(s.group_size.max(1))
            .enumerate()
        {
            let mut key = [0u8; KEY_LEN];
            rng.fill_bytes(&mut key);
            let list = members
                .iter()
                .map(|&i| Member {
                    id: SenderId(i as u64 + 1),
                    addr: peer_addr(i),
                })
                .collect();
            let group = Group {
                epoch: GroupEpoch(g as u32 + 1),
                key,
                members: list,
            };
            for &i in members {
                nodes[i].core.set_group(Time::ZERO, &group);
            }
        }
        let ssrc = Ssrc(rng.random());
        Sim {
            s,
            rng,
            queue: BinaryHeap::new(),
            order: 0,
            nodes,
            peer_loss: LossState::new(s.peer_loss),
            sent: vec![(ssrc, s.first_seq, 0)],
            sent_total: 0,
            buf: vec![0u8; 2048],
        }
    }

    fn push(&mut self, at: Time, what: What) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order, what)));
    }

    fn jitter(&mut self, (base, spread): (Duration, Duration)) -> Duration {
        base + spread.mul_f64(self.rng.random::<f64>())
    }

    fn step(&mut self, now: Time, what: What) {
        match what {
            What::Send(n) => self.send(now, n),
            What::Media(i, data) => {
                self.nodes[i].core.handle_media(
                    now,
                    SOURCE.parse().unwrap_or_else(|_| unreachable!()),
                    &data,
                );
                self.drive(now, i);
            }
            What::Peer(i, data) => {
                self.nodes[i].core.handle_peer(now, &data);
                self.drive(now, i);
            }
            What::Timer(i) => {
                if self.nodes[i].timer == Some(now) {
                    self.nodes[i].timer = None;
                    self.nodes[i].core.handle_timeout(now);
                    self.drive(now, i);
                }
            }
        }
    }

    /// The source sends packet `n` to every client through its lossy path.
    fn send(&mut self, now: Time, n: u64) {
        if self.s.restart_at == Some(n) {
            let ssrc = Ssrc(self.rng.random());
            self.sent.push((ssrc, self.rng.random(), 0));
        }
        let Some(stream) = self.sent.last_mut() else {
            return;
        };
        let seq = stream.1.wrapping_add(stream.2 as u16);
        stream.2 += 1;
        let ts = (n * 90_000 / u64::from(self.s.pps)) as u32;
        let len = source::datagram(stream.0, seq, ts, &mut self.buf);
        let data = self.buf[..len].to_vec();
        self.sent_total = n + 1;
        for i in 0..self.nodes.len() {
            if self.nodes[i].loss.lose(&mut self.rng) {
                self.nodes[i].report.dropped_by_network += 1;
                self.nodes[i].report.dropped_packets.push(n);
                continue;
            }
            let mut at = now + self.jitter(self.s.media_delay);
            if self.rng.random_bool(self.s.reorder) {
                at = at + self.s.reorder_delay;
            }
            if self.rng.random_bool(self.s.duplicate) {
                self.push(
                    at + Duration::from_micros(100),
                    What::Media(i, data.clone()),
                );
            }
            self.push(at, What::Media(i, data.clone()));
        }
        if n + 1 < self.s.packets {
            let next = Time::from_micros((n + 1) * 1_000_000 / u64::from(self.s.pps));
            self.push(next, What::Send(n + 1));
        }
    }

    /// Pulls everything client `i` has to say after an input, and re-arms its timer.
    fn drive(&mut self, now: Time, i: usize) {
        let mut buf = [0u8; 1600];
        while let Some(t) = self.nodes[i].core.poll_transmit(now, &mut buf) {
            let silent = self.nodes[i]
                .silent_from
                .is_some_and(|from| self.sent_total > from);
            let Some(to) = (0..self.nodes.len()).find(|&j| peer_addr(j) == t.dst) else {
                continue;
            };
            let report = &mut self.nodes[i].report;
            report.peer_bytes_sent += t.len as u64;
            if buf[3] == 2 {
                report.repair_bytes_sent += t.len as u64;
            }
            if silent || self.peer_loss.lose(&mut self.rng) {
                continue;
            }
            let at = now + self.jitter(self.s.peer_delay);
            self.push(at, What::Peer(to, buf[..t.len].to_vec()));
        }
        let streams: Vec<Ssrc> = self.sent.iter().map(|s| s.0).collect();
        let node = &mut self.nodes[i];
        while let Some(out) = node.core.poll_playout(now) {
            node.report.output.check(&out, &streams);
        }
        while node.core.poll_event().is_some() {}
        if let Some(t) = node.core.poll_timeout() {
            let t = t.max(now + Duration::from_micros(1));
            if node.timer.is_none_or(|cur| t < cur) {
                node.timer = Some(t);
                self.push(t, What::Timer(i));
            }
        }
    }
}
