//! The event loop: a priority queue of deliveries and timers on virtual time.

use crate::model::LossState;
use crate::queue::Calendar;
use crate::report::{ClientReport, Report};
use crate::scenario::Scenario;
use crate::source;
use groupcast_core::{Client, Config, Group, Member, Stats, Time};
use groupcast_grouping::{Change, Grouping};
use groupcast_wire::Ssrc;
use groupcast_wire::proto::{ChannelId, GroupEpoch, KEY_LEN, SenderId};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// What happens at a point of virtual time.
#[derive(Debug)]
enum What {
    /// The source sends packet `n`.
    Send(u64),
    /// A multicast datagram reaches one client (links with jitter, reordering, duplication).
    Media(usize, Rc<[u8]>),
    /// A peer datagram reaches a client.
    Peer(usize, Vec<u8>),
    /// A client's timer, valid if still the one scheduled.
    Timer(usize),
}

/// One simulated viewer.
struct Node {
    core: Client,
    /// Its current session id.
    session: u64,
    /// Its metro.
    metro: usize,
    /// Watching now (false between a churn leave and the rejoin).
    active: bool,
    /// Packet index at which it comes back after leaving.
    rejoin_at: Option<u64>,
    /// The timer currently scheduled, if any.
    timer: Option<Time>,
    /// Packet index from which it sends nothing to peers.
    silent_from: Option<u64>,
    /// Its multicast path's loss state.
    loss: LossState,
    /// Results gathered during the run.
    report: ClientReport,
    /// Repair latencies of its earlier sessions (churn).
    past: Stats,
    /// Counters of its earlier sessions (churn).
    past_counters: groupcast_core::Counters,
}

/// A running simulation.
struct Sim<'a> {
    s: &'a Scenario,
    rng: SmallRng,
    /// Pending events, in (time, scheduling order) order.
    queue: Calendar<What>,
    nodes: Vec<Node>,
    peer_loss: LossState,
    metro_loss: Vec<LossState>,
    grouping: Grouping,
    /// Client index of each live session.
    by_session: HashMap<u64, usize>,
    next_session: u64,
    next_epoch: u32,
    /// SSRCs used so far, and the current stream's (ssrc, first seq, packets sent).
    sent: Vec<(Ssrc, u16, u64)>,
    /// Just the SSRCs, for checking output.
    streams: Vec<Ssrc>,
    /// Packets sent so far.
    sent_total: u64,
    /// Deliver media to everyone at send time (no per-client jitter, reordering, duplication).
    fast: bool,
    /// Builds the source's datagrams.
    buf: Vec<u8>,
    /// Receives clients' outgoing messages.
    out_buf: Vec<u8>,
    /// Buffers of delivered peer messages, reused for new ones (no allocation per message).
    spare: Vec<Vec<u8>>,
}

const SOURCE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);

fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))
}

fn client_of(addr: SocketAddr) -> usize {
    usize::from(addr.port().wrapping_sub(10_000))
}

/// Runs `scenario` to completion and reports.
pub fn run(scenario: &Scenario) -> Report {
    let mut sim = Sim::new(scenario);
    sim.push(Time::ZERO, What::Send(0));
    let end = Time::ZERO
        + Duration::from_micros(scenario.packets * 1_000_000 / u64::from(scenario.pps))
        + scenario.client.buffer * 2
        + Duration::from_secs(2);
    while let Some((now, what)) = sim.queue.pop() {
        if now > end {
            break;
        }
        sim.step(now, what);
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
        counters: add(&n.past_counters, &stats.counters),
        latency: (merged.repair_latency(0.5), merged.repair_latency(0.99)),
        ..n.report
    }
}

/// Field-wise sum of two counter sets.
fn add(a: &groupcast_core::Counters, b: &groupcast_core::Counters) -> groupcast_core::Counters {
    macro_rules! sum {
        ($($f:ident),*) => { groupcast_core::Counters { $($f: a.$f + b.$f),* } };
    }
    sum!(
        received,
        lost,
        repaired,
        unrecovered,
        late,
        duplicate_media,
        duplicate_repairs,
        repairs_too_late,
        media_too_old,
        requests_sent,
        packets_requested,
        tail_probes,
        requests_received,
        repairs_served,
        serve_missing,
        serve_rate_limited,
        bad_rtp,
        bad_payload,
        ssrc_mismatch,
        source_restarts,
        bad_peer_datagrams,
        unauthenticated,
        stale,
        replayed,
        malformed,
        pings_sent,
        transmit_dropped,
        playback_overflow,
        ts_packets_out
    )
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = SmallRng::seed_from_u64(s.seed);
        let nodes = (0..s.clients)
            .map(|i| Node {
                core: Self::client(s, i as u64 + 1),
                session: i as u64 + 1,
                metro: i % s.metros.max(1),
                active: true,
                rejoin_at: None,
                timer: None,
                silent_from: s.silent.iter().find(|x| x.0 == i).map(|x| x.1),
                loss: LossState::new(s.media_loss),
                report: ClientReport::new(i % s.metros.max(1)),
                past: Stats::default(),
                past_counters: Default::default(),
            })
            .collect();
        let ssrc = Ssrc(rng.random());
        let mut sim = Sim {
            s,
            rng,
            queue: Calendar::new(),
            nodes,
            peer_loss: LossState::new(s.peer_loss),
            metro_loss: (0..s.metros.max(1))
                .map(|_| LossState::new(s.metro_loss))
                .collect(),
            grouping: Grouping::new(s.group_size, s.grouping),
            by_session: (0..s.clients).map(|i| (i as u64 + 1, i)).collect(),
            next_session: s.clients as u64 + 1,
            next_epoch: 1,
            sent: vec![(ssrc, s.first_seq, 0)],
            streams: vec![ssrc],
            sent_total: 0,
            fast: s.media_delay.1.is_zero() && s.reorder == 0.0 && s.duplicate == 0.0,
            buf: vec![0u8; 2048],
            out_buf: vec![0u8; 2048],
            spare: Vec::new(),
        };
        for i in 0..s.clients {
            sim.grouping.join(i as u64 + 1, sim.nodes[i].metro as u32);
        }
        let groups: Vec<Vec<u64>> = sim.grouping.groups().map(|(_, m)| m.to_vec()).collect();
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
    fn install(&mut self, now: Time, members: &[u64]) {
        let mut key = [0u8; KEY_LEN];
        self.rng.fill_bytes(&mut key);
        let epoch = GroupEpoch(self.next_epoch);
        self.next_epoch += 1;
        let list: Vec<Member> = members
            .iter()
            .filter_map(|s| {
                self.by_session.get(s).map(|&i| Member {
                    id: SenderId(*s),
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
            if let Some(&i) = self.by_session.get(s) {
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

    fn push(&mut self, at: Time, what: What) {
        self.queue.push(at, what);
    }

    fn jitter(&mut self, (base, spread): (Duration, Duration)) -> Duration {
        base + spread.mul_f64(self.rng.random::<f64>())
    }

    fn step(&mut self, now: Time, what: What) {
        match what {
            What::Send(n) => self.send(now, n),
            What::Media(i, data) => self.media(now, i, &data),
            What::Peer(i, data) => {
                if self.nodes[i].active {
                    self.nodes[i].core.handle_peer(now, &data);
                    self.drive(now, i);
                }
                self.spare.push(data);
            }
            What::Timer(i) => {
                if self.nodes[i].timer == Some(now) {
                    self.nodes[i].timer = None;
                    if self.nodes[i].active {
                        self.nodes[i].core.handle_timeout(now);
                        self.drive(now, i);
                    }
                }
            }
        }
    }

    fn media(&mut self, now: Time, i: usize, data: &[u8]) {
        if self.nodes[i].active {
            self.nodes[i].core.handle_media(now, SOURCE, data);
            self.drive(now, i);
        }
    }

    /// The source sends packet `n` to every client through its metro trunk and its own path.
    fn send(&mut self, now: Time, n: u64) {
        self.churn(now, n);
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
        self.sent_total = n + 1;
        let trunk: Vec<bool> = (0..self.metro_loss.len())
            .map(|m| {
                let lost = self.metro_loss[m].lose(&mut self.rng);
                lost || self
                    .s
                    .outages
                    .iter()
                    .any(|o| o.0 == m && (o.1..o.2).contains(&n))
            })
            .collect();
        for i in 0..self.nodes.len() {
            let own = self.nodes[i].loss.lose(&mut self.rng);
            if trunk[self.nodes[i].metro] || own {
                self.nodes[i].report.dropped_by_network += 1;
                self.nodes[i].report.dropped_packets.push(n);
                continue;
            }
            if self.fast {
                self.media(now, i, &data);
                continue;
            }
            let mut at = now + self.jitter(self.s.media_delay);
            if self.rng.random_bool(self.s.reorder) {
                at = at + self.s.reorder_delay;
            }
            if self.rng.random_bool(self.s.duplicate) {
                self.push(
                    at + Duration::from_micros(100),
                    What::Media(i, Rc::clone(&data)),
                );
            }
            self.push(at, What::Media(i, Rc::clone(&data)));
        }
        if n + 1 < self.s.packets {
            let next = Time::from_micros((n + 1) * 1_000_000 / u64::from(self.s.pps));
            self.push(next, What::Send(n + 1));
        }
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
                let changes = self.grouping.leave(session);
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
        node.past_counters = add(&node.past_counters, &old.stats().counters);
        node.session = session;
        node.active = true;
        node.rejoin_at = None;
        node.report.output.new_session();
        self.by_session.insert(session, i);
        let metro = node.metro as u32;
        let changes = self.grouping.join(session, metro);
        self.apply(now, changes);
    }

    /// Pulls everything client `i` has to say after an input, and re-arms its timer.
    fn drive(&mut self, now: Time, i: usize) {
        let mut buf = std::mem::take(&mut self.out_buf);
        while let Some(t) = self.nodes[i].core.poll_transmit(now, &mut buf) {
            let silent = self.nodes[i]
                .silent_from
                .is_some_and(|from| self.sent_total > from);
            let to = client_of(t.dst);
            let report = &mut self.nodes[i].report;
            report.peer_bytes_sent += t.len as u64;
            if buf[3] == 2 {
                report.repair_bytes_sent += t.len as u64;
            }
            if silent || to >= self.nodes.len() || self.peer_loss.lose(&mut self.rng) {
                continue;
            }
            let at = now + self.jitter(self.s.peer_delay);
            let mut msg = self.spare.pop().unwrap_or_default();
            msg.clear();
            msg.extend_from_slice(&buf[..t.len]);
            self.push(at, What::Peer(to, msg));
        }
        self.out_buf = buf;
        let node = &mut self.nodes[i];
        while let Some(out) = node.core.poll_playout(now) {
            if self.s.check_output {
                node.report.output.check(&out, &self.streams);
            }
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
