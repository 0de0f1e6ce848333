//! The event loop: virtual time in windows as long as the shortest peer-link delay, each
//! client run through a whole window at a time ([`crate::node`]).
//!
//! Within a window nothing one client sends can reach another, so running clients one after
//! the other gives exactly what running all events in global time order would: each client's
//! own draws come from its own generator, and the shared ones (metro trunks, churn, keys, new
//! streams) are drawn in packet order before the clients run.

use crate::model::LossState;
use crate::node::Node;
use crate::report::{ClientReport, Report};
use crate::scenario::Scenario;
use crate::source;
use groupcast_core::{Client, Config, Group, Member, Stats, Time};
use groupcast_grouping::{Change, Grouping, MetroId, SessionId};
use groupcast_wire::Ssrc;
use groupcast_wire::proto::{ChannelId, GroupEpoch, KEY_LEN, SenderId};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// A packet the source sends within the current window.
pub(crate) struct Sent {
    /// Its index in send order.
    pub(crate) n: u64,
    /// When it leaves the source.
    pub(crate) at: Time,
    /// The datagram.
    pub(crate) data: Rc<[u8]>,
}

/// A running simulation.
pub(crate) struct Sim<'a> {
    pub(crate) s: &'a Scenario,
    /// Shared draws: trunks, churn, keys, new streams.
    rng: SmallRng,
    pub(crate) nodes: Vec<Node>,
    /// Each client's earliest arrival or timer (a compact copy for skipping idle clients).
    pub(crate) wake: Vec<Time>,
    pub(crate) metro_loss: Vec<LossState>,
    grouping: Grouping,
    /// Client index of each live session.
    by_session: HashMap<u64, usize>,
    next_session: u64,
    next_epoch: u32,
    /// SSRCs used so far, and the current stream's (ssrc, first seq, packets sent).
    sent: Vec<(Ssrc, u16, u64)>,
    /// Just the SSRCs, for checking output.
    pub(crate) streams: Vec<Ssrc>,
    /// Deliver media to everyone at send time (no per-client jitter, reordering, duplication).
    pub(crate) fast: bool,
    /// The packets of the current window.
    pub(crate) window: Vec<Sent>,
    /// Per window packet and metro: lost on that metro's trunk.
    pub(crate) trunk: Vec<bool>,
    /// Builds the source's datagrams.
    buf: Vec<u8>,
    /// Receives clients' outgoing messages.
    pub(crate) out_buf: Vec<u8>,
    /// Buffers of delivered peer messages, reused for new ones (no allocation per message).
    pub(crate) spare: Vec<Vec<u8>>,
    /// Arrivals queued so far (ties in an inbox go in sending order).
    pub(crate) order: u64,
}

/// Where the source's datagrams come from.
pub(crate) const SOURCE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);

fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))
}

/// The client a peer address stands for.
pub(crate) fn client_of(addr: SocketAddr) -> usize {
    usize::from(addr.port().wrapping_sub(10_000))
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
        next = sim.fill_window(from, until, next);
        let all = !sim.window.is_empty();
        for i in 0..sim.nodes.len() {
            if all || sim.wake[i] < until {
                sim.run_client(i, until);
            }
        }
        from = until;
    }
    let streams: Vec<Ssrc> = sim.sent.iter().map(|s| s.0).collect();
    let mut all = Stats::default();
    let clients = sim
        .nodes
        .into_iter()
        .map(|mut n| {
            while let Some(out) = n.core.poll_playout(Time::NEVER) {
                if scenario.check_output {
                    n.report.output.check(&out, &streams);
                }
            }
            all.merge_latencies(n.core.stats());
            all.merge_latencies(&n.past);
            finish(n)
        })
        .collect();
    Report {
        clients,
        sent: sim.sent,
        seconds: end.as_micros() as f64 / 1e6,
        latency: (all.repair_latency(0.5), all.repair_latency(0.99)),
        packets: scenario.packets,
    }
}

fn finish(n: Node) -> ClientReport {
    let stats = n.core.stats();
    let mut merged = n.past;
    merged.merge_latencies(stats);
    ClientReport {
        counters: &n.past_counters + &stats.counters,
        latency: (merged.repair_latency(0.5), merged.repair_latency(0.99)),
        ..n.report
    }
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = SmallRng::seed_from_u64(s.seed);
        let metros = s.metros.max(1);
        let nodes = (0..s.clients)
            .map(|i| Node {
                core: Self::client(s, i as u64 + 1),
                session: i as u64 + 1,
                metro: i % metros,
                active: true,
                rejoin_at: None,
                timer: None,
                inbox: BinaryHeap::new(),
                rng: SmallRng::seed_from_u64(rng.random()),
                silent_from: s.silent.iter().find(|x| x.0 == i).map(|x| x.1),
                loss: LossState::new(s.media_loss),
                peer_loss: LossState::new(s.peer_loss),
                report: ClientReport::new(i % metros),
                past: Stats::default(),
                past_counters: Default::default(),
            })
            .collect();
        let ssrc = Ssrc(rng.random());
        let mut sim = Sim {
            s,
            rng,
            nodes,
            wake: vec![Time::NEVER; s.clients],
            metro_loss: (0..metros).map(|_| LossState::new(s.metro_loss)).collect(),
            grouping: Grouping::new(s.group_size, s.grouping),
            by_session: (0..s.clients).map(|i| (i as u64 + 1, i)).collect(),
            next_session: s.clients as u64 + 1,
            next_epoch: 1,
            sent: vec![(ssrc, s.first_seq, 0)],
            streams: vec![ssrc],
            fast: s.media_delay.1.is_zero() && s.reorder == 0.0 && s.duplicate == 0.0,
            window: Vec::new(),
            trunk: Vec::new(),
            buf: vec![0u8; 2048],
            out_buf: vec![0u8; 2048],
            spare: Vec::new(),
            order: 0,
        };
        for i in 0..s.clients {
            let metro = MetroId(sim.nodes[i].metro as u32);
            sim.grouping.join(SessionId(i as u64 + 1), metro);
        }
        let groups: Vec<Vec<SessionId>> = sim.grouping.groups().map(|(_, m)| m.to_vec()).collect();
        for members in groups {
            sim.install(Time::ZERO, &members);
        }
        sim
    }

    fn client(s: &Scenario, session: u64) -> Client {
        let group: SocketAddr = SocketAddr::from(([239, 255, 0, 1], 5004));
        let mut c = Config::new(ChannelId(1), SenderId(session), group);
        s.client.apply(&mut c, s.pps);
        c.max_datagram = 12 + s.ts_per_datagram.clamp(1, 7) * 188;
        Client::new(c).unwrap_or_else(|e| panic!("scenario config: {e}"))
    }

    /// Gives `members` a new epoch and key.
    fn install(&mut self, now: Time, members: &[SessionId]) {
        let mut key = [0u8; KEY_LEN];
        self.rng.fill_bytes(&mut key);
        let epoch = GroupEpoch(self.next_epoch);
        self.next_epoch += 1;
        let list: Vec<Member> = members
            .iter()
            .filter_map(|s| {
                self.by_session.get(&s.0).map(|&i| Member {
                    id: *s,
                    addr: peer_addr(i),
                })
            })
            .collect();
        let group = Group {
            epoch,
            key,
            members: list,
        };
        for s in members {
            if let Some(&i) = self.by_session.get(&s.0) {
                self.nodes[i].core.set_group(now, &group);
            }
        }
    }

    fn apply(&mut self, now: Time, changes: Vec<Change>) {
        for c in changes {
            if !c.members.is_empty() {
                self.install(now, &c.members);
            }
        }
    }

    /// When the source sends packet `n`.
    fn send_time(&self, n: u64) -> Time {
        Time::from_micros(n * 1_000_000 / u64::from(self.s.pps))
    }

    /// Packets the source has sent by `now`.
    pub(crate) fn packets_sent_by(&self, now: Time) -> u64 {
        let n = now.as_micros() * u64::from(self.s.pps) / 1_000_000 + 1;
        n.min(self.s.packets)
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
        self.window.clear();
        self.trunk.clear();
        while n < self.s.packets && self.send_time(n) < until {
            let at = self.send_time(n).max(from);
            self.churn(at, n);
            self.send(at, n);
            n += 1;
        }
        n
    }

    /// The source sends packet `n`: its datagram, and whether each metro's trunk loses it.
    fn send(&mut self, at: Time, n: u64) {
        if self.s.restart_at == Some(n) {
            let ssrc = Ssrc(self.rng.random());
            self.sent.push((ssrc, self.rng.random(), 0));
            self.streams.push(ssrc);
        }
        let Some(stream) = self.sent.last_mut() else {
            return;
        };
        let seq = stream.1.wrapping_add(stream.2 as u16);
        stream.2 += 1;
        let (ssrc, ts) = (stream.0, (n * 90_000 / u64::from(self.s.pps)) as u32);
        let len = source::datagram(ssrc, seq, ts, self.s.ts_per_datagram, &mut self.buf);
        let data: Rc<[u8]> = Rc::from(&self.buf[..len]);
        for m in 0..self.metro_loss.len() {
            let lost = self.metro_loss[m].lose(&mut self.rng);
            let out = self
                .s
                .outages
                .iter()
                .any(|o| o.0 == m && (o.1..o.2).contains(&n));
            self.trunk.push(lost || out);
        }
        self.window.push(Sent { n, at, data });
    }

    /// Once a second, a share of the audience leaves; those who left a second ago come back
    /// as new sessions. Groups are re-formed around them.
    fn churn(&mut self, now: Time, n: u64) {
        let pps = u64::from(self.s.pps);
        if self.s.churn <= 0.0 || n == 0 || !n.is_multiple_of(pps) {
            return;
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].rejoin_at == Some(n) {
                self.rejoin(now, i);
            } else if self.nodes[i].active && self.rng.random_bool(self.s.churn) {
                let node = &mut self.nodes[i];
                node.active = false;
                node.rejoin_at = Some(n + pps);
                let session = node.session;
                self.by_session.remove(&session);
                let changes = self.grouping.leave(SessionId(session));
                self.apply(now, changes);
            }
        }
    }

    fn rejoin(&mut self, now: Time, i: usize) {
        let session = self.next_session;
        self.next_session += 1;
        let fresh = Self::client(self.s, session);
        let node = &mut self.nodes[i];
        let old = std::mem::replace(&mut node.core, fresh);
        node.past.merge_latencies(old.stats());
        node.past_counters += &old.stats().counters;
        node.session = session;
        node.active = true;
        node.rejoin_at = None;
        node.report.output.new_session();
        self.by_session.insert(session, i);
        let metro = MetroId(node.metro as u32);
        let changes = self.grouping.join(SessionId(session), metro);
        self.apply(now, changes);
    }
}
