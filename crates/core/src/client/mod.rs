//! The client state machine: the seed's flows 1 and 4 (buffer, detect loss, repair from the
//! group, serve the group, play).
//!
//! Inputs are pushed with the current time; outputs are pulled until they run dry:
//!
//! | push | pull |
//! |---|---|
//! | [`Client::handle_media`] (multicast datagram) | [`Client::poll_transmit`] (peer messages) |
//! | [`Client::handle_peer`] (peer datagram) | [`Client::poll_playout`] (TS for the player) |
//! | [`Client::handle_timeout`] (timers) | [`Client::poll_timeout`] (next timer) |
//! | [`Client::set_group`] (manager's assignment) | [`Client::poll_event`] (notable changes) |

mod absent;
mod decrypt;
mod fast_start;
mod gop;
mod held;
mod media;
mod outbox;
mod peer_messages;
mod receiver;
mod repair;
mod rota;
mod server;
mod sizing;

use self::decrypt::Decrypt;
use self::fast_start::FastStart;
use self::gop::GopStore;
use self::outbox::Outbox;
use self::receiver::StreamReceiver;
use self::repair::{RepairScheduler, Targets};
use self::server::Server;
use self::sizing::SizeCheck;
use crate::config::{Config, ConfigError};
use crate::membership::{Group, Membership};
use crate::playback::{PlaybackBuffer, Playout};
use crate::raw::{RawBuffer, Released, Sink};
use crate::stats::{Counters, Stats};
use groupcast_base::Time;
use groupcast_wire::proto::SenderId;
use groupcast_wire::{SeqNo, Ssrc};
use std::collections::VecDeque;
use std::net::SocketAddr;

pub use self::receiver::LOSS_LOG;

/// The earlier of two optional times (`None` is "no deadline").
fn earliest(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Something the driver may want to log or act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The source restarted with a new SSRC; buffers were flushed and tracking restarted.
    SourceRestarted {
        /// The old stream, if there was one.
        old: Option<Ssrc>,
        /// The new stream.
        new: Ssrc,
    },
    /// The first TS bytes went to the player.
    PlaybackStarted,
    /// A peer stopped answering pings; it is skipped until it answers again.
    PeerSilent(SenderId),
    /// A silent peer answered again.
    PeerAnswering(SenderId),
    /// A member's burst started the stream at its last random access point (a fast start).
    FastStarted {
        /// From the first ask to the burst's first packet.
        waited: std::time::Duration,
    },
    /// No member could give a fast start: the stream starts on multicast.
    FastStartFellBack,
}

/// A datagram to send: `len` bytes written into the caller's buffer, to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (a member's registered peer address).
    pub dst: SocketAddr,
    /// Bytes written.
    pub len: usize,
}

/// One viewer's repair and playback engine. Owns no socket and reads no clock.
#[derive(Debug)]
pub struct Client {
    /// Settings, validated.
    config: Config,
    /// Received datagrams by sequence number, and the release cursor.
    raw: RawBuffer,
    /// Depacketized TS awaiting play-out.
    playback: PlaybackBuffer,
    /// The group: members, keys, RTT and liveness of each peer.
    peers: Membership,
    /// Counters and latency histogram.
    stats: Stats,
    /// The stream followed, its numbering, source restarts, the loss log.
    receiver: StreamReceiver,
    /// Missing packets, request timers, tail probes.
    repair: RepairScheduler,
    /// Answers peers' requests: replay windows and serving budgets.
    server: Server,
    /// Messages to write, and our message counter.
    outbox: Outbox,
    /// Events to report.
    events: VecDeque<Event>,
    /// Whether playback has started.
    playing: bool,
    /// When the raw buffer size is next checked against the measured rate.
    sizing: SizeCheck,
    /// The stream since the last random access point, for members' fast starts.
    gop: GopStore,
    /// Fast starts, asked and served.
    fast: FastStart,
    /// The media keys in force, for an encrypted channel's play-out.
    decrypt: Decrypt,
}

impl Client {
    /// A client with no group and no stream yet.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let window = (config.buffer + config.retention).as_micros() as u64;
        let packets = (u64::from(config.expected_pps) * window).div_ceil(1_000_000) as usize;
        let chunks = packets.div_ceil(config.chunk_packets).max(2);
        let raw = RawBuffer::new(config.chunk_packets, chunks, config.max_datagram);
        let playback = PlaybackBuffer::new(raw.capacity() as usize);
        Ok(Client {
            receiver: StreamReceiver::new(config.max_datagram, config.group),
            repair: RepairScheduler::new(raw.capacity() as usize),
            server: Server::new(&config),
            outbox: Outbox::new(config.initial_counter),
            events: VecDeque::new(),
            raw,
            playback,
            peers: Membership::new(&config.nonce_secret),
            stats: Stats::default(),
            playing: false,
            sizing: SizeCheck::default(),
            gop: GopStore::new(config.gop_bytes),
            fast: FastStart::default(),
            decrypt: Decrypt::default(),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters and latency figures.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Raw buffer capacity in packets (a multiple of the chunk size).
    pub fn raw_capacity(&self) -> u64 {
        self.raw.capacity()
    }

    /// TS packets (RTP packets' payloads) waiting in the playback buffer.
    pub fn playback_len(&self) -> usize {
        self.playback.len()
    }

    /// Members currently in the group (other than us), without the backups.
    pub fn peer_count(&self) -> usize {
        self.peers.members
    }

    /// Backups the manager named (members of another group, asked when ours cannot supply a
    /// packet in time).
    pub fn backup_count(&self) -> usize {
        self.peers.list.len() - self.peers.members
    }

    /// Takes a new session id from the manager (after the old session was lost): our messages
    /// are signed with it from now on.
    pub fn set_sender(&mut self, sender: SenderId) {
        self.config.sender = sender;
    }

    /// The SSRC of the stream being followed, once one is.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.receiver.ssrc()
    }

    /// Sets the last resort: `Some(rtt)`, the relay's round trip, once the driver can ask a
    /// relay for packets the group cannot supply; `None` when it no longer can.
    ///
    /// A packet is asked of the relay up to four times, a round trip and 5 ms apart (an ask
    /// not answered by then was lost, on the way there or back), while an answer can still
    /// arrive before the packet's deadline. The group is given up that long before the
    /// deadline (four asks), at most half the buffer before it.
    ///
    /// When a last resort comes (the relay answered a registration sent as the stream
    /// started), packets the group is out of attempts for are escalated if still in time.
    pub fn set_last_resort(&mut self, rtt: Option<std::time::Duration>) {
        let (retry, reserve) = repair::last_resort_plan(rtt, &self.config);
        let came = self.config.last_resort.is_zero() && !reserve.is_zero();
        (self.config.last_resort_retry, self.config.last_resort) = (retry, reserve);
        if came {
            self.repair
                .reconsider_given_up(&mut self.raw, self.config.max_attempts);
        }
    }

    /// Moves the RTP sequence numbers (of the stream [`ssrc`](Self::ssrc) names) that the
    /// driver should ask the last resort for into `out`. Drivers call it after
    /// [`handle_timeout`](Self::handle_timeout); their retransmissions go to
    /// [`handle_last_resort`](Self::handle_last_resort).
    pub fn drain_escalations(&mut self, out: &mut Vec<u16>) {
        self.repair.drain_escalations(out);
    }

    /// Moves the RTP sequence numbers of multicast losses detected since the last call (the
    /// latest [`LOSS_LOG`] at most) into `out`.
    pub fn drain_losses(&mut self, out: &mut Vec<u16>) {
        self.receiver.drain_losses(out);
    }

    /// Installs the manager's group assignment (new members, epoch and key).
    ///
    /// Packets still missing and not yet due are asked of the new members at once, whatever
    /// their earlier attempts: those went to members that may be gone (a refilled group).
    pub fn set_group(&mut self, now: Time, group: &Group) {
        let c = &self.config;
        let newcomer = group
            .members
            .iter()
            .any(|m| m.id != c.sender && self.peers.find(m.id).is_none());
        self.peers.set(c.sender, group, now, c.key_grace);
        let peers = &self.peers;
        let epochs = (0..peers.list.len()).map(|i| peers.epoch_for(i).unwrap_or(group.epoch));
        let ids = peers.list.iter().map(|p| p.id).zip(epochs);
        self.server.set_members((c.sender, peers.members), ids);
        if newcomer {
            self.repair.rearm(now, &mut self.raw, false);
        }
        self.ask_fast_start(now);
    }

    /// Runs timers: repair requests and retries, tail-loss probes, pings, chunk deadlines.
    pub fn handle_timeout(&mut self, now: Time) {
        let stream = (self.tail_activity(), self.raw.chunk());
        let c = &self.config;
        let mut to = Targets {
            peers: &self.peers,
            silent_limit: c.silent_after_pings,
            out: &mut self.outbox,
            counters: &mut self.stats.counters,
        };
        self.repair
            .send_requests(now, &mut self.raw, &self.receiver, c, &mut to);
        self.repair.tail_probe(now, stream, c, &mut to);
        let (out, counters) = (&mut self.outbox, &mut self.stats.counters);
        let every = (c.ping_interval, c.silent_after_pings);
        let silenced = self
            .peers
            .ping_due(now, every, &mut self.events, |id, nonce| {
                out.push(id, outbox::PendingKind::Ping { nonce }, counters)
            });
        self.stats.counters.peers_silenced += silenced;
        self.fast_start_timeout(now);
        self.release(Release::Due(now));
        self.check_size(now);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work, if any.
    ///
    /// Play-out pacing is separate ([`next_playout`](Self::next_playout)): a driver feeding a
    /// real-time player waits for the earlier of the two; one writing a file need not.
    pub fn poll_timeout(&self) -> Option<Time> {
        // Pairwise rather than through an array: cheaper on the hot path of every input.
        // Backups count for requests (a group with nobody left still asks them), not for
        // tail probes (those go to the group).
        let (c, has_peers) = (&self.config, !self.peers.list.is_empty());
        let head = self
            .receiver
            .highest()
            .and_then(|h| self.raw.head_deadline(h));
        let t = earliest(self.repair.next_request_time(has_peers, c), head);
        let t = earliest(
            t,
            self.repair
                .tail_probe_time(self.tail_activity(), self.peers.members > 0, c),
        );
        let t = earliest(t, self.fast_start_deadline());
        earliest(t, self.peers.next_ping_time(c.ping_interval))
    }

    /// When the next TS payload is due for play-out, if one is waiting.
    pub fn next_playout(&self) -> Option<Time> {
        self.playback.next_due()
    }

    /// The next TS payload due for play-out at `now`.
    pub fn poll_playout(&mut self, now: Time) -> Option<Playout<'_>> {
        let mut skipped = false;
        let e = loop {
            let e = self.playback.pop(now)?;
            if self.raw.payload(e.seq, e.payload).is_some() {
                break e;
            }
            // Its slot was reused (kept from happening by `make_room`): never play stale bytes.
            self.stats.counters.playback_overflow += 1;
            skipped = true;
        };
        let datagram = self.raw.bytes(e.seq);
        let held = self.raw.payload(e.seq, e.payload).unwrap_or_default();
        let ts = self
            .decrypt
            .open(datagram, held, &mut self.stats.counters)
            .unwrap_or(held);
        if let Some(slot) = self.raw.get(e.seq).filter(|_| self.gop.enabled()) {
            self.gop.push(e.seq, slot.src, datagram, ts);
        }
        self.stats.counters.ts_packets_out +=
            u64::from(e.payload.1) / groupcast_wire::ts::TS_PACKET_LEN as u64;
        if !self.playing {
            self.playing = true;
            self.events.push_back(Event::PlaybackStarted);
        }
        Some(Playout {
            ts,
            seq: e.seq,
            rtp_seq: e.rtp_seq,
            discontinuity: e.discontinuity || skipped,
        })
    }

    /// Installs the media keys for now (an encrypted channel: see
    /// [`groupcast_wire::scramble::select`]); play-out decrypts with them from the next packet.
    pub fn set_media_keys(&mut self, keys: groupcast_wire::scramble::MediaKeys) {
        self.decrypt.keys = keys;
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Releases head chunks from the raw buffer into the playback buffer, as `how` says.
    pub(super) fn release(&mut self, how: Release) {
        let Some(highest) = self.receiver.highest() else {
            return;
        };
        let receiver = &self.receiver;
        let mut to = Sink {
            playback: &mut self.playback,
            wire: |seq| receiver.wire(seq),
        };
        let done = match how {
            Release::Complete => self.raw.release_complete(highest, &mut to),
            Release::Due(now) => self.raw.release_due(now, highest, &mut to),
            Release::Upto(upto) => self.raw.release_upto(upto, highest, &mut to),
        };
        count_release(&mut self.stats.counters, done);
    }

    /// Grows the raw and playback buffers when the measured rate needs more than they hold.
    fn check_size(&mut self, now: Time) {
        let c = &self.config;
        let window = c.buffer + c.retention;
        let received = self.stats.counters.received;
        let following = self.receiver.ssrc().is_some();
        let (capacity, chunk) = (self.raw.capacity(), self.raw.chunk());
        if let Some(chunks) =
            self.sizing
                .check(now, (received, following), window, (capacity, chunk))
        {
            self.raw.grow(chunks, self.raw.release_next());
            self.playback.grow(self.raw.capacity() as usize);
        }
        if let Some(pps) = self.sizing.pps() {
            self.server.follow_rate(pps, self.config.buffer);
        }
    }
}

/// Which head chunks a release takes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Release {
    /// Those that are complete.
    Complete,
    /// Those whose deadline has passed at this time (holes become unrecovered), and complete
    /// ones.
    Due(Time),
    /// Everything below this number, holes counted.
    Upto(SeqNo),
}

/// Counts what a release did.
fn count_release(c: &mut Counters, done: Released) {
    c.unrecovered += done.holes;
    c.lost += done.holes;
    c.playback_overflow += done.overflow;
}
