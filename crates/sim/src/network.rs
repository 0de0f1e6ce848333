//! The network: the clients and the links between them, and how one client runs through a
//! window of virtual time — the window's media, its inbox of delayed datagrams and manager
//! answers, its core's and its link's timers, in time order, with its own random generator.
//! Requests its link makes go to a queue the event loop ([`crate::net`]) hands the manager.

use crate::feed::{Feed, SOURCE};
use crate::manager::client_of;
use crate::node::{Arrival, Inbound, Node};
use crate::relay::Relay;
use crate::scenario::Scenario;
use groupcast_core::{LinkAction, Time};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::rc::Rc;
use std::time::Duration;

/// The clients and what travels between them.
pub(crate) struct Network<'a> {
    /// What is simulated.
    pub(crate) s: &'a Scenario,
    /// The clients.
    pub(crate) nodes: Vec<Node>,
    /// Each client's earliest arrival or timer (a compact copy for skipping idle clients).
    pub(crate) wake: Vec<Time>,
    /// The source and the trunks.
    pub(crate) feed: Feed,
    /// Requests to the manager made within the current window: (when, client, what).
    pub(crate) requests: Vec<(Time, usize, LinkAction)>,
    /// Deliver media to everyone at send time (no per-client jitter, reordering, duplication).
    fast: bool,
    /// Receives clients' outgoing messages.
    out_buf: Vec<u8>,
    /// Buffers of delivered peer messages, reused for new ones (no allocation per message).
    spare: Vec<Vec<u8>>,
    /// Arrivals queued so far (ties in an inbox go in sending order).
    order: u64,
    /// The source as the last resort, if the scenario has one.
    pub(crate) relay: Option<Relay>,
    /// Escalated numbers between a core and its registration (reused).
    escalated: Vec<u16>,
    /// Draws the metro trunks' fate of the relay's multicast resends.
    resend_rng: SmallRng,
}

/// What a client does next within a window.
enum Next {
    /// The source sends the window's packet `k`.
    Send(usize),
    /// The earliest inbox entry arrives.
    Arrive,
    /// Its core's timer fires.
    Timer,
    /// Its link's timer fires.
    Link,
}

fn jitter(rng: &mut SmallRng, (base, spread): (Duration, Duration)) -> Duration {
    base + spread.mul_f64(rng.random::<f64>())
}

impl<'a> Network<'a> {
    /// The clients of `s`, fed by `feed`.
    pub(crate) fn new(s: &'a Scenario, nodes: Vec<Node>, feed: Feed) -> Self {
        Network {
            s,
            wake: vec![Time::NEVER; nodes.len()],
            nodes,
            feed,
            requests: Vec::new(),
            fast: s.media_delay.1.is_zero() && s.reorder == 0.0 && s.duplicate == 0.0,
            out_buf: vec![0u8; 2048],
            spare: Vec::new(),
            order: 0,
            relay: s.last_resort.map(|l| {
                let keep = s.client.buffer + s.client.retention + Duration::from_secs(1);
                Relay::new(l, s.clients, keep)
            }),
            escalated: Vec::new(),
            resend_rng: SmallRng::seed_from_u64(s.seed ^ 0x7265_7365_6e64),
        }
    }

    /// Between windows: the relay takes what reached it before `until`, with the window's
    /// packets; its answers cross the viewer's metro trunk and access link (with loss on
    /// every link) into the viewer's inbox, no sooner than `until`.
    pub(crate) fn relay_step(&mut self, until: Time) {
        let Some(mut relay) = self.relay.take() else {
            return;
        };
        let window = std::mem::take(&mut self.feed.window);
        relay.step(until, &window, |to, at, bytes| {
            let Some(to) = to else {
                self.resend(at, until, bytes);
                return;
            };
            let Some(node) = self.nodes.get_mut(to) else {
                return;
            };
            if self.s.loss_on_all_links {
                let trunk = node.rng.random_bool(self.s.metro_loss.mean_loss());
                let access = node.rng.random_bool(self.s.media_loss.mean_loss());
                if trunk || access {
                    return;
                }
            }
            self.order += 1;
            let what = Inbound::Relay(bytes.to_vec());
            let at = at.max(until);
            node.inbox.push(Arrival {
                at,
                order: self.order,
                what,
            });
            self.wake[to] = self.wake[to].min(at);
        });
        self.feed.window = window;
        self.relay = Some(relay);
    }

    /// The relay resends `bytes` to the multicast group at `at`: like the source's media, it
    /// crosses each metro's trunk (cut during its outage) and each viewer's access link, and
    /// arrives as media no sooner than `until`.
    fn resend(&mut self, at: Time, until: Time, bytes: &[u8]) {
        let n = self.packets_sent_by(at).saturating_sub(1);
        let metros: Vec<bool> = (0..self.feed.metro_loss.len())
            .map(|m| {
                let lost = self.resend_rng.random_bool(self.s.metro_loss.mean_loss());
                self.s.metro_cut(m, n) || lost
            })
            .collect();
        let data: Rc<[u8]> = Rc::from(bytes);
        let arrive = (at + self.s.media_delay.0).max(until);
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            let trunk = metros.get(node.metro).copied().unwrap_or(false);
            if trunk || node.rng.random_bool(self.s.media_loss.mean_loss()) {
                continue;
            }
            self.deliver(i, arrive, Inbound::Media(Rc::clone(&data)));
        }
    }

    /// Packets the source has sent by `now`.
    fn packets_sent_by(&self, now: Time) -> u64 {
        let n = now.as_micros() * u64::from(self.s.pps) / 1_000_000 + 1;
        n.min(self.s.packets)
    }

    /// Runs client `i` through the window ending at `end` (exclusive): the window's packets,
    /// then its arrivals and timer, in time order.
    pub(crate) fn run_client(&mut self, i: usize, end: Time) {
        let mut k = 0;
        loop {
            let node = &self.nodes[i];
            let mut next = None;
            let mut at = end;
            if let Some(p) = self.feed.window.get(k) {
                (next, at) = (Some(Next::Send(k)), p.at);
            }
            if let Some(a) = node.inbox.peek().filter(|a| a.at < at) {
                (next, at) = (Some(Next::Arrive), a.at);
            }
            if let Some(t) = node.timer.filter(|&t| t < at) {
                (next, at) = (Some(Next::Timer), t);
            }
            if let Some(t) = node.link.poll_timeout().filter(|&t| t < at) {
                (next, at) = (Some(Next::Link), t);
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
                        Inbound::Relay(data) => {
                            let node = &mut self.nodes[i];
                            let retransmission =
                                node.standby.as_mut().is_some_and(|s| s.handle(at, &data));
                            if retransmission && node.active {
                                node.core.handle_last_resort(at, SOURCE, &data);
                            }
                            self.drive(at, i, end);
                        }
                        Inbound::Link(reply) => {
                            let node = &mut self.nodes[i];
                            node.handle_link(at, reply);
                            node.take_link_news(at);
                            self.link_requests(at, i);
                            if self.nodes[i].active {
                                self.drive(at, i, end);
                            }
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
                Some(Next::Link) => {
                    self.nodes[i].link.handle_timeout(at);
                    self.link_requests(at, i);
                }
            }
        }
        self.wake[i] = self.nodes[i].wake();
    }

    /// Queues client `i`'s requests to the manager.
    fn link_requests(&mut self, now: Time, i: usize) {
        while let Some(action) = self.nodes[i].poll_action() {
            self.requests.push((now, i, action));
        }
    }

    /// The window's packet `j` leaves the source towards client `i`: its trunk and its own
    /// path may lose it; otherwise it arrives now (ideal links) or after its link's delay.
    fn media_sent(&mut self, now: Time, i: usize, j: usize, end: Time) {
        let p = &self.feed.window[j];
        let (n, trunk_lost) = (p.n, self.feed.trunk_lost(j, self.nodes[i].metro));
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

    /// Puts a datagram or manager answer in client `i`'s inbox.
    pub(crate) fn deliver(&mut self, i: usize, at: Time, what: Inbound) {
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
            if self.s.loss_on_all_links {
                // The receiver's access link, and its metro's trunk when crossing metros.
                let metros = self.s.metros.max(1);
                let crosses = to % metros != node.metro;
                let access = node.rng.random_bool(self.s.media_loss.mean_loss());
                let trunk = crosses && node.rng.random_bool(self.s.metro_loss.mean_loss());
                if access || trunk {
                    node.report.peer_messages_lost += 1;
                    continue;
                }
            }
            let at = (now + jitter(&mut node.rng, self.s.peer_delay)).max(not_before);
            let mut msg = self.spare.pop().unwrap_or_default();
            msg.clear();
            msg.extend_from_slice(&buf[..t.len]);
            self.deliver(to, at, Inbound::Peer(msg));
        }
        self.last_resort(now, i, &mut buf);
        self.out_buf = buf;
        let check = self.s.check_output;
        let node = &mut self.nodes[i];
        while let Some(out) = node.core.poll_playout(now) {
            if check {
                node.report.output.check(&out, &self.feed.streams);
            }
        }
        while node.core.poll_event().is_some() {}
        let refresh = node.standby.as_ref().and_then(|s| s.poll_timeout());
        node.timer = [node.core.poll_timeout(), refresh]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.max(now + Duration::from_micros(1)));
    }

    /// Client `i`'s registration with the relay: the core's escalations NACKed, and the
    /// registration kept up, over its uplink (and its metro's trunk, with loss on every
    /// link); the core told whether it has a last resort.
    fn last_resort(&mut self, now: Time, i: usize, buf: &mut [u8]) {
        let (Some(relay), node) = (&mut self.relay, &mut self.nodes[i]) else {
            return;
        };
        let Some(standby) = &mut node.standby else {
            return;
        };
        node.core.drain_escalations(&mut self.escalated);
        if let Some(ssrc) = node.core.ssrc().filter(|_| !self.escalated.is_empty()) {
            standby.nack(ssrc, &self.escalated);
        }
        self.escalated.clear();
        while let Some(n) = standby.poll_transmit(now, buf) {
            let lost = node.peer_loss.lose(&mut node.rng)
                || (self.s.loss_on_all_links
                    && node.rng.random_bool(self.s.metro_loss.mean_loss()));
            if !lost {
                relay.send(now + relay.settings.delay, i, &buf[..n]);
            }
        }
        node.core.set_last_resort(standby.usable_rtt());
    }
}
