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

mod media;
mod peer;
mod release;
mod repair;

use crate::config::{Config, ConfigError};
use crate::peers::{Group, Peers};
use crate::playback::{PlaybackBuffer, Playout};
use crate::raw::RawBuffer;
use crate::stats::Stats;
use groupcast_base::Time;
use groupcast_wire::proto::{SenderId, SeqRange};
use groupcast_wire::{SeqNo, Ssrc};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Most ranges carried by one queued request (more make more messages).
const RANGES_PER_REQUEST: usize = 32;
/// Most messages waiting in the transmit queue.
const QUEUE_LIMIT: usize = 4096;
/// Most recent multicast losses kept for [`Client::drain_losses`].
pub const LOSS_LOG: usize = 512;

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
}

/// A datagram to send: `len` bytes written into the caller's buffer, to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (a member's registered peer address).
    pub dst: SocketAddr,
    /// Bytes written.
    pub len: usize,
}

/// A message waiting to be written by [`Client::poll_transmit`].
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Recipient; looked up when written, so a regroup in between cannot misdirect it.
    to: SenderId,
    /// What to write.
    what: PendingKind,
}

#[derive(Clone, Copy, Debug)]
enum PendingKind {
    Request {
        ssrc: Ssrc,
        ranges: [SeqRange; RANGES_PER_REQUEST],
        n: u8,
        tail_probe: bool,
    },
    Repair {
        ssrc: Ssrc,
        seq: SeqNo,
        wire: u16,
    },
    Ping,
    Pong {
        echo_counter: u64,
        echo_timestamp_us: u64,
    },
}

/// How one stream's RTP sequence numbers map into the client's single numbering space.
///
/// Each source (SSRC) gets its own 64-bit extension; adding `offset` (wrapping) places it after
/// the previous stream, so the raw and playback buffers run on without a break when the
/// source restarts, and the old stream's last packets can still be repaired and served.
#[derive(Clone, Copy, Debug)]
struct Numbering {
    /// The stream.
    ssrc: Ssrc,
    /// Added (wrapping) to the stream's extended sequence numbers.
    offset: u64,
}

impl Numbering {
    /// The RTP sequence number of our number `seq`.
    fn wire(&self, seq: SeqNo) -> u16 {
        seq.0.wrapping_sub(self.offset) as u16
    }

    /// Our number for RTP sequence number `wire`, taken nearest to our number `near`.
    fn resolve(&self, near: SeqNo, wire: u16) -> SeqNo {
        let ext = SeqNo(near.0.wrapping_sub(self.offset)).nearest(wire);
        SeqNo(ext.0.wrapping_add(self.offset))
    }
}

/// State of the stream currently followed.
#[derive(Debug)]
struct Stream {
    /// Its SSRC and place in the numbering space.
    numbering: Numbering,
    /// Extends its sequence numbers (before the offset).
    seq: groupcast_wire::SeqExtender,
    /// Extends its RTP timestamps.
    ts: groupcast_wire::TimestampExtender,
    /// Where its first packet goes, after a previous stream; `None` for the first stream.
    base: Option<SeqNo>,
    /// Our number of its first packet: lower numbers belong to the previous stream.
    start: SeqNo,
    /// Local time at which extended RTP timestamp `.1` was received (play-out anchor).
    anchor: (Time, u64),
    /// Highest number held or known missing.
    highest: SeqNo,
    /// First number not yet released to the playback buffer.
    release_next: SeqNo,
    /// Last multicast arrival.
    last_arrival: Time,
    /// Last time anything (media or repair) was added.
    last_progress: Time,
    /// Smoothed multicast inter-arrival time, µs.
    gap_us: u64,
    /// Earliest time of the next tail-loss probe.
    next_tail_probe: Time,
    /// Tail probes sent in the current quiet spell (for back-off).
    tail_round: u32,
    /// Highest number that arrived by multicast (tail probes estimate from it).
    arrival_highest: SeqNo,
}

impl Stream {
    /// The SSRC.
    fn ssrc(&self) -> Ssrc {
        self.numbering.ssrc
    }
}

/// The stream before the last source restart, still repaired and served until it plays out.
#[derive(Clone, Copy, Debug)]
struct Previous {
    /// Its SSRC and place in the numbering space.
    numbering: Numbering,
    /// Its highest number.
    highest: SeqNo,
}

/// A packet of a foreign SSRC held while deciding whether the source restarted.
#[derive(Debug)]
struct Candidate {
    /// Its SSRC, if one is held.
    ssrc: Option<Ssrc>,
    /// Its RTP sequence number: a restart needs the next one.
    seq: u16,
    /// The datagram.
    data: Vec<u8>,
    /// Where it came from.
    src: SocketAddr,
}

/// One viewer's repair and playback engine. Owns no socket and reads no clock.
#[derive(Debug)]
pub struct Client {
    /// Settings, validated.
    config: Config,
    /// Received datagrams by sequence number.
    raw: RawBuffer,
    /// Depacketized TS awaiting play-out.
    playback: PlaybackBuffer,
    /// The group and per-peer state.
    peers: Peers,
    /// Counters and latency histogram.
    stats: Stats,
    /// The stream being followed, once the first packet arrived.
    stream: Option<Stream>,
    /// Possible new source (SSRC change) under confirmation.
    candidate: Candidate,
    /// The stream before the last restart, if any.
    previous: Option<Previous>,
    /// Sequence numbers marked missing, ascending; entries already filled are pruned lazily.
    missing: Vec<SeqNo>,
    /// No missing packet's request timer fires before this (a lower bound).
    next_request_at: Time,
    /// Messages to write.
    queue: VecDeque<Pending>,
    /// Events to report.
    events: VecDeque<Event>,
    /// Our message counter (replay protection at the receivers).
    counter: u64,
    /// Ranges being gathered for requests (reused): for the current stream to all members,
    /// to the best one, then the same for the previous stream.
    scratch: [Vec<SeqRange>; 4],
    /// Whether playback has started.
    playing: bool,
    /// Next time the raw buffer size is checked against the measured rate.
    next_size_check: Time,
    /// Time and `received` count at the last size check (the rate is measured between checks).
    size_check_from: Option<(Time, u64)>,
    /// RTP sequence numbers of the latest multicast losses (oldest dropped beyond
    /// [`LOSS_LOG`]), for the manager's view of losses shared across a metro.
    loss_log: VecDeque<u16>,
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
            candidate: Candidate {
                ssrc: None,
                seq: 0,
                data: Vec::with_capacity(config.max_datagram),
                src: config.group,
            },
            counter: config.initial_counter,
            missing: Vec::with_capacity(raw.capacity() as usize),
            next_request_at: Time::NEVER,
            queue: VecDeque::with_capacity(256),
            events: VecDeque::new(),
            scratch: std::array::from_fn(|_| Vec::with_capacity(RANGES_PER_REQUEST * 4)),
            raw,
            playback,
            peers: Peers::default(),
            stats: Stats::default(),
            stream: None,
            previous: None,
            playing: false,
            next_size_check: Time::ZERO,
            size_check_from: None,
            loss_log: VecDeque::with_capacity(LOSS_LOG),
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

    /// Members currently in the group (other than us).
    pub fn peer_count(&self) -> usize {
        self.peers.list.len()
    }

    /// Takes a new session id from the manager (after the old session was lost): our messages
    /// are signed with it from now on.
    pub fn set_sender(&mut self, sender: SenderId) {
        self.config.sender = sender;
    }

    /// The SSRC of the stream being followed, once one is.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.stream.as_ref().map(Stream::ssrc)
    }

    /// Moves the RTP sequence numbers of multicast losses detected since the last call (the
    /// latest [`LOSS_LOG`] at most) into `out`.
    pub fn drain_losses(&mut self, out: &mut Vec<u16>) {
        out.extend(self.loss_log.drain(..));
    }

    /// Notes a multicast loss for [`drain_losses`](Self::drain_losses).
    fn log_loss(&mut self, wire: u16) {
        if self.loss_log.len() == LOSS_LOG {
            self.loss_log.pop_front();
        }
        self.loss_log.push_back(wire);
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
        self.peers
            .set(c.sender, group, now, c.key_grace, c.serve_burst);
        if newcomer {
            self.rearm_requests(now);
        }
    }

    /// Runs timers: repair requests and retries, tail-loss probes, pings, chunk deadlines.
    pub fn handle_timeout(&mut self, now: Time) {
        self.send_requests(now);
        self.tail_probe(now);
        self.ping_peers(now);
        self.release_due(now);
        self.check_size(now);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work, if any.
    ///
    /// Play-out pacing is separate ([`next_playout`](Self::next_playout)): a driver feeding a
    /// real-time player waits for the earlier of the two; one writing a file need not.
    pub fn poll_timeout(&self) -> Option<Time> {
        // Pairwise rather than through an array: cheaper on the hot path of every input.
        let t = earliest(self.next_request_time(), self.head_deadline());
        let t = earliest(t, self.tail_probe_time());
        earliest(t, self.next_ping_time())
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
        self.stats.counters.ts_packets_out +=
            u64::from(e.payload.1) / groupcast_wire::ts::TS_PACKET_LEN as u64;
        if !self.playing {
            self.playing = true;
            self.events.push_back(Event::PlaybackStarted);
        }
        Some(Playout {
            ts: self.raw.payload(e.seq, e.payload).unwrap_or_default(),
            seq: e.seq,
            rtp_seq: e.rtp_seq,
            discontinuity: e.discontinuity || skipped,
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The stream our number `seq` belongs to.
    fn numbering_of(&self, seq: SeqNo) -> Option<Numbering> {
        let s = self.stream.as_ref()?;
        match self.previous {
            Some(p) if seq < s.start => Some(p.numbering),
            _ => Some(s.numbering),
        }
    }

    /// True if `ssrc` is the current stream or the previous one.
    fn follows(&self, ssrc: Ssrc) -> bool {
        self.stream.as_ref().is_some_and(|s| s.ssrc() == ssrc)
            || self.previous.is_some_and(|p| p.numbering.ssrc == ssrc)
    }

    /// Our number for packet `wire` of stream `ssrc`, if that is the current stream or the
    /// previous one.
    fn resolve(&self, ssrc: Ssrc, wire: u16) -> Option<SeqNo> {
        let s = self.stream.as_ref()?;
        if s.ssrc() == ssrc {
            return Some(s.numbering.resolve(s.highest, wire));
        }
        let p = self.previous.filter(|p| p.numbering.ssrc == ssrc)?;
        Some(p.numbering.resolve(p.highest, wire)).filter(|&q| q < s.start)
    }

    /// Queues a message, counting it if the queue is full.
    fn enqueue(&mut self, to: SenderId, what: PendingKind) {
        if self.queue.len() >= QUEUE_LIMIT {
            self.stats.counters.transmit_dropped += 1;
        } else {
            self.queue.push_back(Pending { to, what });
        }
    }
}
