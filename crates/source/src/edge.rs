//! The edge's side of the relay: forwards every datagram from the central unchanged (the
//! driver re-multicasts it), finds gaps by sequence number and NACKs them with RTT-aware
//! retries, and keeps itself registered with HELLOs.
//!
//! A viewer fed by unicast ([`Edge::viewer`]) runs the same machine against its relay (an edge
//! or the central), speaking the unicast fallback's messages under its manager ticket: JOIN
//! for HELLO, the same NACKs, the nonce of the relay's latest CHALLENGE echoed, and LEAVE.

use groupcast_base::SessionId;
use groupcast_base::Time;
use groupcast_wire::proto::{GroupKey, Ranges, SeqRange};
use groupcast_wire::relay::{self, RelayBody, RelayMessage};
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::unicast::{self, NONCE_LEN, UnicastBody, UnicastMessage};
use groupcast_wire::{SeqExtender, SeqNo, Ssrc};
use std::collections::VecDeque;
use std::time::Duration;

/// Edge settings.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Name shown at the central.
    pub name: String,
    /// How often to say HELLO while the stream flows (ten times as often while it does not).
    pub hello_interval: Duration,
    /// How long a gap may be reordering before it is NACKed.
    pub reorder_hold: Duration,
    /// Give up on a missing packet after this long (the central's ring is about this long).
    pub give_up: Duration,
    /// First value of the message counter (drivers pass wall-clock microseconds).
    pub initial_counter: u64,
}

impl EdgeConfig {
    /// Defaults for an edge named `name`.
    pub fn new(name: &str) -> Self {
        EdgeConfig {
            name: name.into(),
            hello_interval: Duration::from_secs(1),
            reorder_hold: Duration::from_millis(3),
            give_up: Duration::from_millis(1500),
            initial_counter: 1,
        }
    }
}

/// What an edge counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeStats {
    /// Datagrams from the central, first copies, forwarded to the metro.
    pub forwarded: u64,
    /// Of those, packets that came as retransmissions after a NACK.
    pub recovered: u64,
    /// Packets given up on.
    pub unrecovered: u64,
    /// Copies of packets already forwarded.
    pub duplicates: u64,
    /// Datagrams from upstream that are not RTP.
    pub bad: u64,
    /// NACK messages sent.
    pub nacks_sent: u64,
    /// Packet numbers NACKed, summed over messages.
    pub packets_nacked: u64,
    /// Source restarts (SSRC changes) followed.
    pub source_restarts: u64,
    /// Viewer only: challenges from the relay that verified.
    pub challenges: u64,
    /// Viewer only: the relay said it feeds as many viewers as it may.
    pub refused_full: u64,
}

/// How the machine authenticates to its upstream.
#[derive(Debug)]
enum Auth {
    /// An edge: the central's token.
    Token(GroupKey),
    /// A viewer: its session's tickets (none yet: it sends nothing).
    Ticket(Box<Tickets>),
}

/// A viewer's tickets and its relay's latest challenge.
#[derive(Debug)]
struct Tickets {
    session: SessionId,
    /// The latest ticket (expiry, key) and the one before (a challenge may answer it).
    current: Option<(u64, GroupKey)>,
    previous: Option<(u64, GroupKey)>,
    /// The nonce to echo.
    nonce: [u8; NONCE_LEN],
}

/// A missing packet.
#[derive(Clone, Copy, Debug)]
struct Miss {
    /// The packet.
    seq: SeqNo,
    /// When the gap was seen.
    detected: Time,
    /// When it may be NACKed (again).
    next_nack: Time,
    /// When it was last NACKed.
    last_nack: Time,
    /// NACKs sent for it.
    attempts: u32,
}

/// The edge state machine.
#[derive(Debug)]
pub struct Edge {
    config: EdgeConfig,
    auth: Auth,
    counter: u64,
    /// Current stream: SSRC and sequence extension.
    stream: Option<(Ssrc, SeqExtender)>,
    /// Bit per sequence number (ring of 65,536): forwarded already.
    seen: Vec<u64>,
    /// Lowest number still tracked in `seen`.
    floor: SeqNo,
    /// Missing packets, oldest first.
    missing: VecDeque<Miss>,
    /// Smoothed NACK round trip.
    srtt: Option<Duration>,
    /// Next HELLO.
    next_hello: Time,
    /// Last datagram from the central.
    last_data: Option<Time>,
    /// A NACK is due to be written.
    nack_due: bool,
    stats: EdgeStats,
    scratch: Vec<SeqRange>,
}

const SEEN_BITS: u64 = 1 << 16;

impl Edge {
    /// An edge authenticating with `token`.
    pub fn new(config: EdgeConfig, token: &[u8]) -> Self {
        Self::with_auth(config, Auth::Token(GroupKey::from_secret(token)))
    }

    /// A unicast viewer of `session`; it sends nothing before [`set_ticket`](Self::set_ticket).
    pub fn viewer(config: EdgeConfig, session: SessionId) -> Self {
        let tickets = Tickets {
            session,
            current: None,
            previous: None,
            nonce: [0; NONCE_LEN],
        };
        Self::with_auth(config, Auth::Ticket(Box::new(tickets)))
    }

    /// A viewer's new ticket from the manager: its expiry (Unix ms) and key.
    pub fn set_ticket(&mut self, expires_ms: u64, key: &[u8; 32]) {
        if let Auth::Ticket(t) = &mut self.auth
            && t.current.as_ref().is_none_or(|c| c.0 != expires_ms)
        {
            t.previous = t.current.replace((expires_ms, GroupKey::new(key)));
        }
    }

    fn with_auth(config: EdgeConfig, auth: Auth) -> Self {
        Edge {
            auth,
            counter: config.initial_counter,
            config,
            stream: None,
            seen: vec![0; (SEEN_BITS / 64) as usize],
            floor: SeqNo(0),
            missing: VecDeque::new(),
            srtt: None,
            next_hello: Time::ZERO,
            last_data: None,
            nack_due: false,
            stats: EdgeStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &EdgeStats {
        &self.stats
    }

    fn bit(&mut self, seq: SeqNo) -> (usize, u64) {
        let i = seq.0 % SEEN_BITS;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Takes a datagram from upstream. Returns its number when the driver should pass it on
    /// (multicast it, or play it), unchanged: the first copy of every packet, in arrival
    /// order.
    pub fn handle_upstream(&mut self, now: Time, datagram: &[u8]) -> Option<SeqNo> {
        if unicast::looks_like(datagram) {
            self.handle_control(now, datagram);
            return None;
        }
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            self.stats.bad += 1;
            return None;
        };
        self.last_data = Some(now);
        if self.stream.as_ref().is_none_or(|s| s.0 != pkt.ssrc) {
            if self.stream.is_some() {
                self.stats.source_restarts += 1;
            }
            self.stream = Some((pkt.ssrc, SeqExtender::new()));
            self.seen.fill(0);
            self.missing.clear();
            self.floor = SeqNo(0);
        }
        let (_, ext) = self.stream.as_mut()?;
        let highest = ext.highest();
        let seq = ext.extend(pkt.sequence);
        if highest.is_none() {
            self.floor = seq;
        }
        if seq < self.floor {
            self.stats.duplicates += 1;
            return None;
        }
        let (w, b) = self.bit(seq);
        if self.seen[w] & b != 0 {
            self.stats.duplicates += 1;
            return None;
        }
        if let Some(h) = highest.filter(|&h| seq > h) {
            self.note_gap(now, h, seq);
            self.advance_floor(seq);
        }
        let (w, b) = self.bit(seq);
        self.seen[w] |= b;
        if let Some(i) = self.missing.iter().position(|m| m.seq == seq) {
            let m = self.missing.remove(i).unwrap_or_else(|| unreachable!());
            self.stats.recovered += 1;
            if m.attempts == 1 {
                let sample = now.saturating_since(m.last_nack);
                self.srtt = Some(self.srtt.map_or(sample, |s| (s * 7 + sample) / 8));
            }
        }
        self.stats.forwarded += 1;
        Some(seq)
    }

    /// A viewer's relay spoke: a challenge is answered by the next JOIN, at once.
    fn handle_control(&mut self, now: Time, bytes: &[u8]) {
        let Auth::Ticket(t) = &mut self.auth else {
            self.stats.bad += 1;
            return;
        };
        let msg = [&t.current, &t.previous]
            .into_iter()
            .flatten()
            .find_map(|(_, key)| unicast::open(key, bytes).ok())
            .filter(|m| m.session == t.session);
        match msg.map(|m| (m.body, m.nonce)) {
            Some((UnicastBody::Challenge, nonce)) => {
                t.nonce = nonce;
                self.stats.challenges += 1;
                self.next_hello = now;
            }
            Some((UnicastBody::Full, _)) => self.stats.refused_full += 1,
            _ => self.stats.bad += 1,
        }
    }

    /// Keeps the `seen` window at most half the sequence space wide.
    fn advance_floor(&mut self, seq: SeqNo) {
        while seq.0 - self.floor.0 >= SEEN_BITS / 2 {
            let (w, b) = self.bit(self.floor);
            self.seen[w] &= !b;
            self.floor = self.floor.next();
        }
    }

    fn note_gap(&mut self, now: Time, highest: SeqNo, seq: SeqNo) {
        let first = SeqNo(highest.0 + 1).max(SeqNo(seq.0.saturating_sub(8192)));
        for m in first.0..seq.0 {
            self.missing.push_back(Miss {
                seq: SeqNo(m),
                detected: now,
                next_nack: now + self.config.reorder_hold,
                last_nack: now,
                attempts: 0,
            });
        }
    }

    /// The NACK retry interval: twice the smoothed round trip, 10..200 ms, 50 ms at first.
    fn retry(&self) -> Duration {
        self.srtt.map_or(Duration::from_millis(50), |s| {
            (s * 2).clamp(Duration::from_millis(10), Duration::from_millis(200))
        })
    }

    /// Runs timers: gives up on old gaps, schedules NACKs and HELLOs.
    pub fn handle_timeout(&mut self, now: Time) {
        let give_up = self.config.give_up;
        let before = self.missing.len();
        self.missing.retain(|m| m.detected + give_up > now);
        self.stats.unrecovered += (before - self.missing.len()) as u64;
        self.nack_due = self.missing.iter().any(|m| m.next_nack <= now);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Time {
        let nack = self
            .missing
            .iter()
            .map(|m| m.next_nack.min(m.detected + self.config.give_up))
            .min();
        nack.map_or(self.next_hello, |n| n.min(self.next_hello))
    }

    /// Writes the next message for the central into `buf`; returns its length.
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<usize> {
        if self.nack_due {
            self.nack_due = false;
            if let Some(n) = self.write_nack(now, buf) {
                return Some(n);
            }
        }
        if now >= self.next_hello {
            // Until the central answers (first start, or after it restarted), ask often.
            let fed = self
                .last_data
                .is_some_and(|t| t + Duration::from_secs(1) > now);
            let interval = if fed {
                self.config.hello_interval
            } else {
                self.config.hello_interval / 10
            };
            self.next_hello = now + interval;
            return self.write(RelayBody::Hello, buf);
        }
        None
    }

    fn write_nack(&mut self, now: Time, buf: &mut [u8]) -> Option<usize> {
        let ssrc = self.stream.as_ref()?.0;
        let retry = self.retry();
        let mut due: Vec<u16> = Vec::new();
        for m in self
            .missing
            .iter_mut()
            .filter(|m| m.next_nack <= now)
            .take(1024)
        {
            m.attempts += 1;
            m.last_nack = now;
            m.next_nack = now + retry;
            due.push(m.seq.wire());
        }
        let mut ranges = std::mem::take(&mut self.scratch);
        relay::ranges_of(due.iter().copied(), &mut ranges);
        ranges.truncate(groupcast_wire::proto::MAX_RANGES);
        let n = (!ranges.is_empty())
            .then(|| {
                self.write(
                    RelayBody::Nack {
                        ssrc: ssrc.0,
                        ranges: Ranges::List(&ranges),
                    },
                    buf,
                )
            })
            .flatten();
        if n.is_some() {
            self.stats.nacks_sent += 1;
            self.stats.packets_nacked += due.len() as u64;
        }
        self.scratch = ranges;
        n
    }

    fn write(&mut self, body: RelayBody<'_>, buf: &mut [u8]) -> Option<usize> {
        let n = match &self.auth {
            Auth::Token(key) => RelayMessage {
                name: &self.config.name,
                counter: self.counter,
                body,
            }
            .emit(key, buf)
            .ok()?,
            Auth::Ticket(t) => {
                let body = match body {
                    RelayBody::Hello => UnicastBody::Join,
                    RelayBody::Nack { ssrc, ranges } => UnicastBody::Nack { ssrc, ranges },
                };
                self.write_viewer(t, body, buf)?
            }
        };
        self.counter += 1;
        Some(n)
    }

    /// A viewer's message under its latest ticket.
    fn write_viewer(&self, t: &Tickets, body: UnicastBody<'_>, buf: &mut [u8]) -> Option<usize> {
        let (expires_ms, key) = t.current.as_ref()?;
        UnicastMessage {
            counter: self.counter,
            session: t.session,
            expires_ms: *expires_ms,
            nonce: t.nonce,
            body,
        }
        .emit(key, buf)
        .ok()
    }

    /// A viewer's LEAVE, to end its feed at once; `None` for an edge or without a ticket.
    pub fn leave(&mut self, buf: &mut [u8]) -> Option<usize> {
        let Auth::Ticket(t) = &self.auth else {
            return None;
        };
        let n = self.write_viewer(t, UnicastBody::Leave, buf)?;
        self.counter += 1;
        Some(n)
    }
}
