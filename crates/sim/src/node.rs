//! One simulated viewer: its repair core, its manager link, its inbox of delayed datagrams and
//! manager answers, its own random generator and its results. It knows nothing of the other
//! viewers nor of the event loop ([`crate::net`]) that runs it.

use crate::manager::{LinkFigures, LinkReply, SimGroup};
use crate::model::LossState;
use crate::report::ClientReport;
use crate::scenario::Scenario;
use groupcast_core::{
    Client, Config, Counters, LinkAction, LinkConfig, LinkEvent, ManagerLink, Stats, Time,
};
use groupcast_wire::proto::{ChannelId, GroupEpoch, SenderId};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::rc::Rc;

/// A datagram on its way to a client.
pub(crate) enum Inbound {
    /// A multicast datagram (links with jitter, reordering or duplication).
    Media(Rc<[u8]>),
    /// A peer datagram.
    Peer(Vec<u8>),
    /// An answer from the manager.
    Link(LinkReply),
    /// A datagram from the relay (the last resort).
    Relay(Vec<u8>),
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
    /// The repair core (a fresh one for each churn rejoin).
    pub(crate) core: Client,
    /// The real manager link state machine.
    pub(crate) link: ManagerLink<SimGroup>,
    /// Its metro.
    pub(crate) metro: usize,
    /// Watching now (false between a churn leave and the rejoin).
    pub(crate) active: bool,
    /// Packet index at which it comes back after leaving.
    pub(crate) rejoin_at: Option<u64>,
    /// When the core next wants `handle_timeout`, as of its last input.
    pub(crate) timer: Option<Time>,
    /// Datagrams and manager answers on their way to it.
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
    /// How its manager link went.
    pub(crate) figures: LinkFigures,
    /// Repair latencies of its earlier sessions (churn).
    past: Stats,
    /// Counters of its earlier sessions (churn).
    past_counters: Counters,
    /// The epochs of the group and of the backup pairing installed in the core (each change
    /// of either has a new one).
    applied: Option<(GroupEpoch, GroupEpoch)>,
    /// Its registration with the relay, when the scenario has a last resort.
    pub(crate) standby: Option<groupcast_source::Standby>,
}

/// A client core for the scenario. Its sender id is set when its session opens; until then
/// it has no group and sends nothing.
fn new_core(s: &Scenario) -> Client {
    let group: SocketAddr = SocketAddr::from(([239, 255, 0, 1], 5004));
    let mut c = Config::new(ChannelId(1), SenderId(0), group);
    s.client.apply(&mut c, s.pps);
    c.max_datagram = 12 + s.ts_per_datagram.clamp(1, 7) * 188;
    Client::new(c).unwrap_or_else(|e| panic!("scenario config: {e}"))
}

impl Node {
    /// Client `i` of scenario `s`, with its own generator seeded by `seed`, opening its
    /// session at `now`.
    pub(crate) fn new(s: &Scenario, i: usize, seed: u64, now: Time) -> Node {
        let metro = i % s.metros.max(1);
        Node {
            core: new_core(s),
            link: ManagerLink::new(LinkConfig::default(), now),
            metro,
            active: true,
            rejoin_at: None,
            timer: None,
            inbox: BinaryHeap::new(),
            rng: SmallRng::seed_from_u64(seed),
            silent_from: s.silent.iter().find(|x| x.0 == i).map(|x| x.1),
            loss: LossState::new(s.media_loss),
            peer_loss: LossState::new(s.peer_loss),
            report: ClientReport::new(metro),
            figures: LinkFigures::default(),
            past: Stats::default(),
            past_counters: Counters::default(),
            applied: None,
            standby: s.last_resort.map(|_| crate::relay::standby_for(i)),
        }
    }

    /// The earliest thing it has to do: an arrival, its core's timer or its link's.
    pub(crate) fn wake(&self) -> Time {
        let inbox = self.inbox.peek().map_or(Time::NEVER, |a| a.at);
        let link = self.link.poll_timeout().unwrap_or(Time::NEVER);
        inbox.min(self.timer.unwrap_or(Time::NEVER)).min(link)
    }

    /// Hands a manager answer to the link.
    pub(crate) fn handle_link(&mut self, now: Time, reply: LinkReply) {
        match reply {
            LinkReply::Open(o) => self.link.handle_open(now, o),
            LinkReply::Beat(s, b) => self.link.handle_heartbeat(now, s, b),
            LinkReply::Group(s, g) => self.link.handle_group_event(now, s, g),
            LinkReply::StreamEnded(s) => self.link.handle_stream_ended(now, s),
        }
    }

    /// The link's next request for the manager.
    pub(crate) fn poll_action(&mut self) -> Option<LinkAction> {
        self.link.poll_action()
    }

    /// Acts on the link's news as the real client does: a new session id, a changed group
    /// installed in the core; the manager's comings and goings noted.
    pub(crate) fn take_link_news(&mut self, now: Time) {
        while let Some(e) = self.link.poll_event() {
            match e {
                LinkEvent::Session(id) => {
                    self.core.set_sender(id);
                    self.figures.sessions += 1;
                }
                LinkEvent::Group(Some(g)) if self.applied != Some((g.epoch, g.pairing.epoch)) => {
                    let view = g.view(self.core.config().sender);
                    self.core.set_group(now, &view);
                    self.applied = Some((g.epoch, g.pairing.epoch));
                }
                LinkEvent::Group(_) | LinkEvent::Refused => {}
                LinkEvent::Away => self.figures.away += 1,
                LinkEvent::Back(d) => {
                    self.figures.back += 1;
                    self.figures.longest_away = self.figures.longest_away.max(d);
                }
            }
        }
    }

    /// It stops watching: its session is closed.
    pub(crate) fn leave(&mut self, rejoin_at: u64) {
        self.active = false;
        self.rejoin_at = Some(rejoin_at);
        self.link.close();
    }

    /// It comes back with a fresh core and a new link opening a new session at `now`.
    pub(crate) fn rejoin(&mut self, s: &Scenario, now: Time) {
        let old = std::mem::replace(&mut self.core, new_core(s));
        self.past.merge_latencies(old.stats());
        self.past_counters += &old.stats().counters;
        self.link = ManagerLink::new(LinkConfig::default(), now);
        self.applied = None;
        self.active = true;
        self.rejoin_at = None;
        self.report.output.new_session();
    }

    /// Adds its repair latencies, over all its sessions, to `all`.
    pub(crate) fn merge_latencies(&self, all: &mut Stats) {
        all.merge_latencies(self.core.stats());
        all.merge_latencies(&self.past);
    }

    /// Its results over all its sessions.
    pub(crate) fn finish(self) -> ClientReport {
        let stats = self.core.stats();
        let mut merged = self.past;
        merged.merge_latencies(stats);
        ClientReport {
            counters: &self.past_counters + &stats.counters,
            latency: (merged.repair_latency(0.5), merged.repair_latency(0.99)),
            link: self.figures,
            ..self.report
        }
    }
}
