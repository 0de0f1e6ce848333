//! The last resort in the simulator: the source as every viewer's relay, running the real
//! relay machine ([`Fanout`]), and each viewer's real registration with it ([`Standby`]),
//! under tickets as the manager would issue them.
//!
//! Messages to the relay are queued with their arrival time; between windows the relay takes
//! those that arrived before the next window ends, in time order, interleaved with the
//! source's packets of that window (its ring). Its answers arrive at least a one-way delay
//! later, which is never shorter than the window, so they land in a later window as every
//! peer message does.

use crate::feed::Sent;
use crate::scenario::LastResortSettings;
use groupcast_base::SessionId;
use groupcast_core::Time;
use groupcast_source::{Fanout, FanoutConfig, FanoutStats, Standby};
use groupcast_wire::SeqExtender;
use groupcast_wire::unicast::ticket_key;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The secret the simulated manager and relay share.
const SECRET: &[u8] = b"the simulator's unicast secret, shared by manager and relay";
/// The channel the tickets name.
const CHANNEL: &str = "sim";
/// Unix ms at virtual time zero (tickets expire by the wall clock).
const WALL_ZERO_MS: u64 = 1_800_000_000_000;
/// Tickets outlast any run.
const TICKET_MS: u64 = 400 * 24 * 3600 * 1000;

/// Where viewer `i` is, as the relay sees it.
fn addr_of(i: usize) -> SocketAddr {
    let [_, a, b, c] = (i as u32).to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, a, b, c), 7000))
}

/// The viewer at `addr`.
fn viewer_at(addr: SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(v4) => {
            let [_, a, b, c] = v4.ip().octets();
            u32::from_be_bytes([0, a, b, c]) as usize
        }
        SocketAddr::V6(_) => usize::MAX,
    }
}

/// Viewer `i`'s registration, with a ticket that outlasts the run.
pub(crate) fn standby_for(i: usize) -> Standby {
    let session = SessionId(i as u64 + 1);
    let mut s = Standby::new(session, 1);
    let expires = WALL_ZERO_MS + TICKET_MS;
    s.set_ticket(expires, &ticket_key(SECRET, CHANNEL, session, expires));
    s
}

/// The relay and the messages on their way to it.
pub(crate) struct Relay {
    fanout: Fanout,
    /// Settings.
    pub(crate) settings: LastResortSettings,
    /// (arrival, order sent, viewer, bytes) of messages not yet taken.
    inbound: Vec<(Time, u64, usize, Vec<u8>)>,
    order: u64,
    /// Extends the source's 16-bit numbers for the ring.
    seqs: SeqExtender,
    buf: Vec<u8>,
}

impl Relay {
    /// A relay for `clients` viewers keeping `keep` of the stream.
    pub(crate) fn new(settings: LastResortSettings, clients: usize, keep: Duration) -> Self {
        Relay {
            fanout: Fanout::new(FanoutConfig {
                channel: CHANNEL.into(),
                secret: SECRET.to_vec(),
                max_viewers: 0,
                keep,
                challenge_secret: [7; 32],
                initial_counter: 1,
                max_standby: clients,
                repair_permille: settings.permille,
                multicast_after: usize::from(settings.multicast_after),
            }),
            settings,
            inbound: Vec::new(),
            order: 0,
            seqs: SeqExtender::new(),
            buf: vec![0u8; 2048],
        }
    }

    /// Viewer `from` sent `bytes` to the relay; they arrive at `at`.
    pub(crate) fn send(&mut self, at: Time, from: usize, bytes: &[u8]) {
        self.order += 1;
        self.inbound.push((at, self.order, from, bytes.to_vec()));
    }

    /// The relay's figures.
    pub(crate) fn stats(&self) -> &FanoutStats {
        self.fanout.stats()
    }

    /// Takes the messages arriving before `until`, interleaved with the source's `window`
    /// (all of it is recorded); each answer goes to `deliver(Some(viewer), arrival, bytes)`,
    /// each resend to the multicast group to `deliver(None, sent, bytes)`.
    pub(crate) fn step(
        &mut self,
        until: Time,
        window: &[Sent],
        mut deliver: impl FnMut(Option<usize>, Time, &[u8]),
    ) {
        self.inbound.sort_by_key(|m| (m.0, m.1));
        let due = self.inbound.partition_point(|m| m.0 < until);
        let mut packets = window.iter().peekable();
        for (at, _, from, bytes) in self.inbound.drain(..due) {
            while let Some(p) = packets.next_if(|p| p.at <= at) {
                record(&mut self.fanout, &mut self.seqs, p);
            }
            let wall = WALL_ZERO_MS + at.as_micros() / 1000;
            self.fanout.handle_viewer(at, wall, addr_of(from), &bytes);
            while let Some((to, n)) = self.fanout.poll_transmit(&mut self.buf) {
                deliver(
                    Some(viewer_at(to)),
                    at + self.settings.delay,
                    &self.buf[..n],
                );
            }
            while let Some(n) = self.fanout.poll_multicast(&mut self.buf) {
                deliver(None, at, &self.buf[..n]);
            }
        }
        for p in packets {
            record(&mut self.fanout, &mut self.seqs, p);
        }
    }
}

/// The relay keeps the source's packet `p` in its ring.
fn record(fanout: &mut Fanout, seqs: &mut SeqExtender, p: &Sent) {
    if let Some(wire) = p.data.get(2..4) {
        let seq = seqs.extend(u16::from_be_bytes([wire[0], wire[1]]));
        fanout.on_datagram(p.at, seq, &p.data);
    }
}
