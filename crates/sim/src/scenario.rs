//! What to simulate: audience, stream, links, faults and client settings.

use crate::model::LossModel;
use groupcast_core::{Config, RequestStrategy};
use groupcast_grouping::Policy;
use std::time::Duration;

/// A complete description of one run; the same scenario always gives the same report.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Number of clients.
    pub clients: usize,
    /// Clients per repair group.
    pub group_size: usize,
    /// Metro networks; client `i` lives in metro `i % metros`.
    pub metros: usize,
    /// How groups are formed (the real grouping module).
    pub grouping: Policy,
    /// Source packet rate.
    pub pps: u32,
    /// Packets the source sends.
    pub packets: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Loss on each client's multicast path (independent state per client).
    pub media_loss: LossModel,
    /// Loss on each metro's trunk: a packet lost there is lost for every client of the metro.
    pub metro_loss: LossModel,
    /// Metro outages: (metro, first packet index, end packet index) during which the metro's
    /// trunk drops everything.
    pub outages: Vec<(usize, u64, u64)>,
    /// Share of clients that leave each second (they come back a second later as new
    /// sessions, and the groups are re-formed around them).
    pub churn: f64,
    /// TS packets per datagram (7 is usual; fewer makes big simulations lighter).
    pub ts_per_datagram: usize,
    /// Check every player's output byte for byte (costly for very large audiences).
    pub check_output: bool,
    /// Loss on every peer-to-peer message.
    pub peer_loss: LossModel,
    /// Loss on every link, not only the multicast's: each peer message (request, repair,
    /// ping, burst...) also crosses its receiver's access link, and between metros its
    /// receiver's metro trunk, losing it at `media_loss`'s and `metro_loss`'s mean rates
    /// (independent draws), as a lossy access link and trunk drop all UDP (issue 12).
    pub loss_on_all_links: bool,
    /// The source as every viewer's last resort (its relay answers what a group cannot
    /// supply), or none.
    pub last_resort: Option<LastResortSettings>,
    /// One-way delay and uniform jitter, source → client.
    pub media_delay: (Duration, Duration),
    /// One-way delay and uniform jitter, client → client.
    pub peer_delay: (Duration, Duration),
    /// Probability that a media packet is held back by `reorder_delay` (reordering).
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a media packet is delivered twice.
    pub duplicate: f64,
    /// The source's first sequence number.
    pub first_seq: u16,
    /// Restart the source (new SSRC, new random sequence) before this packet index.
    pub restart_at: Option<u64>,
    /// Clients that stop sending anything to peers from the given packet index on.
    pub silent: Vec<(usize, u64)>,
    /// Client settings.
    pub client: ClientSettings,
    /// The manager's latency, heartbeat interval and outage.
    pub manager: ManagerSettings,
}

/// How the simulated manager behaves; every client reaches it through the real
/// [`ManagerLink`](groupcast_core::ManagerLink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManagerSettings {
    /// Delay of every answer. Requests made within a simulation window are answered at its end
    /// at the earliest (zero: at the next window boundary).
    pub latency: Duration,
    /// The heartbeat interval it asks clients for.
    pub heartbeat: Duration,
    /// A time during which it answers nothing.
    pub outage: Option<ManagerOutage>,
    /// Backups per member and neighbouring group (issue 12's second tier: members of the
    /// groups before and after its own in the ring, in other metros); 0: none.
    pub backups: usize,
}

impl Default for ManagerSettings {
    /// No latency, 1 s heartbeats (the real manager's default), no outage, no backups.
    fn default() -> Self {
        ManagerSettings {
            latency: Duration::ZERO,
            heartbeat: Duration::from_secs(1),
            outage: None,
            backups: 0,
        }
    }
}

/// The manager is away from `from` to `until` (from the start of the run): requests fail
/// and event streams break; clients play on with their last group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManagerOutage {
    /// When it goes away.
    pub from: Duration,
    /// When it is back.
    pub until: Duration,
    /// It comes back as a fresh process that forgot every session and group (clients
    /// reopen sessions and are grouped anew); otherwise it kept them (a network partition,
    /// or a restart with stored state).
    pub restart: bool,
}

/// The client settings a scenario varies; the rest are [`Config`] defaults.
#[derive(Clone, Copy, Debug)]
pub struct ClientSettings {
    /// Play-out buffer.
    pub buffer: Duration,
    /// Packets per chunk.
    pub chunk_packets: usize,
    /// Request strategy.
    pub strategy: RequestStrategy,
    /// Whether repair requests are sent at all (false: the control run).
    pub repair_enabled: bool,
    /// How long packets stay for serving peers after play-out.
    pub retention: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            buffer: Duration::from_millis(300),
            chunk_packets: 16,
            strategy: RequestStrategy::All,
            repair_enabled: true,
            retention: Duration::from_millis(200),
        }
    }
}

impl ClientSettings {
    /// Applies these settings to a [`Config`].
    pub fn apply(&self, c: &mut Config, pps: u32) {
        c.buffer = self.buffer;
        c.chunk_packets = self.chunk_packets;
        c.strategy = self.strategy;
        c.repair_enabled = self.repair_enabled;
        c.retention = self.retention;
        c.expected_pps = pps;
    }
}

impl Scenario {
    /// Issue 12's operator model: `clients` viewers over 3 metros, 1,000 packets/s for 10 s,
    /// a 200 ms buffer, and 5 % loss per viewer and 3 % per metro trunk on every link
    /// (requests, repairs and pings as well as multicast).
    pub fn operator_model(clients: usize) -> Scenario {
        Scenario {
            clients,
            metros: 3,
            media_loss: LossModel::Independent { p: 0.05 },
            metro_loss: LossModel::Independent { p: 0.03 },
            loss_on_all_links: true,
            client: ClientSettings {
                buffer: Duration::from_millis(200),
                ..ClientSettings::default()
            },
            ..Scenario::default()
        }
    }

    /// Whether `metro`'s multicast is cut (an outage) while the source sends packet `n`.
    pub(crate) fn metro_cut(&self, metro: usize, n: u64) -> bool {
        self.outages
            .iter()
            .any(|o| o.0 == metro && (o.1..o.2).contains(&n))
    }
}

impl Default for Scenario {
    /// One group of 5 on a 1,000 packet/s stream for 10 s, 5 % independent loss, 5–15 ms
    /// peer links.
    fn default() -> Self {
        Scenario {
            clients: 5,
            group_size: 5,
            metros: 1,
            grouping: Policy::CrossMetro,
            pps: 1000,
            packets: 10_000,
            seed: 1,
            media_loss: LossModel::Independent { p: 0.05 },
            metro_loss: LossModel::None,
            outages: Vec::new(),
            churn: 0.0,
            ts_per_datagram: 7,
            check_output: true,
            peer_loss: LossModel::None,
            loss_on_all_links: false,
            last_resort: None,
            media_delay: (Duration::from_millis(2), Duration::from_micros(500)),
            peer_delay: (Duration::from_millis(5), Duration::from_millis(10)),
            reorder: 0.0,
            reorder_delay: Duration::from_millis(3),
            duplicate: 0.0,
            first_seq: 1000,
            restart_at: None,
            silent: Vec::new(),
            client: ClientSettings::default(),
            manager: ManagerSettings::default(),
        }
    }
}

/// Settings of the last resort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastResortSettings {
    /// One-way delay between a viewer and the relay.
    pub delay: Duration,
    /// What all viewers together may draw, in thousandths of the stream (the relay's
    /// `repair_permille`).
    pub permille: u64,
    /// Distinct viewers whose NACKs of one datagram make the relay resend it to the multicast
    /// group (the relay's `multicast_after`; 0: every answer by unicast).
    pub multicast_after: u8,
}

impl Default for LastResortSettings {
    fn default() -> Self {
        LastResortSettings {
            delay: Duration::from_millis(10),
            permille: 9,
            multicast_after: 2,
        }
    }
}
