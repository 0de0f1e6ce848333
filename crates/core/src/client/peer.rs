//! Peer side: authenticating and dispatching peer messages, serving repairs from the raw
//! buffer under a per-peer budget, and writing queued messages.

use super::media::Via;
use super::{Client, Event, PendingKind, Transmit};
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::proto::{Body, Envelope, Header, Message, ProtoError, Ranges, Repair};
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::{SeqNo, Ssrc, ts};

/// Most packet numbers one request is looked up for; the rest are counted as refused.
const MAX_SERVED_PER_REQUEST: u32 = 1024;

impl Client {
    /// Takes one datagram received on the peer socket.
    ///
    /// Only authenticated messages from current members, for our channel and a known epoch,
    /// not replayed, are acted on; everything else is counted and dropped, never answered.
    pub fn handle_peer(&mut self, now: Time, datagram: &[u8]) {
        let c = &mut self.stats.counters;
        let Ok(env) = Envelope::parse(datagram) else {
            c.bad_peer_datagrams += 1;
            return;
        };
        let Some(idx) = self.peers.find(env.header.sender) else {
            c.unauthenticated += 1;
            return;
        };
        let key = match self.peers.key(env.header.epoch, now) {
            Some(k) if env.header.channel == self.config.channel => k,
            _ => {
                c.stale += 1;
                return;
            }
        };
        let msg = match env.open(key) {
            Ok(m) => m,
            Err(ProtoError::BadTag) => {
                c.unauthenticated += 1;
                return;
            }
            Err(_) => {
                c.malformed += 1;
                return;
            }
        };
        if self.peers.list[idx]
            .replay
            .accept(msg.header.counter)
            .is_err()
        {
            c.replayed += 1;
            return;
        }
        self.dispatch(now, idx, &msg);
    }

    fn dispatch(&mut self, now: Time, idx: usize, msg: &Message<'_>) {
        let from = self.peers.list[idx].id;
        match msg.body {
            Body::Request { ssrc, ranges } => self.serve(now, idx, Ssrc(ssrc), &ranges),
            Body::Repair(r) => self.on_repair(now, idx, &r),
            Body::Ping => {
                let h = msg.header;
                let echo = PendingKind::Pong {
                    echo_counter: h.counter,
                    echo_timestamp_us: h.timestamp_us,
                };
                self.enqueue(from, echo);
            }
            Body::Pong {
                echo_timestamp_us, ..
            } => {
                let limit = self.config.silent_after_pings;
                let p = &mut self.peers.list[idx];
                if echo_timestamp_us <= now.as_micros() {
                    p.sample_rtt(now.saturating_since(Time::from_micros(echo_timestamp_us)));
                }
                if p.silent(limit) {
                    self.events.push_back(Event::PeerAnswering(from));
                }
                p.unanswered = 0;
            }
        }
    }

    /// Queues repairs for the requested packets we hold, within the requester's budget.
    fn serve(&mut self, now: Time, idx: usize, ssrc: Ssrc, ranges: &Ranges<'_>) {
        self.stats.counters.requests_received += 1;
        let asked = ranges.iter().map(|r| u32::from(r.len)).sum::<u32>();
        if !self.config.serve_enabled || !self.follows(ssrc) {
            self.stats.counters.serve_missing += u64::from(asked);
            return;
        }
        let to = self.peers.list[idx].id;
        let (rate, burst) = (self.config.serve_rate, self.config.serve_burst);
        let mut looked = 0;
        for wire in ranges.iter().flat_map(|r| r.iter()) {
            looked += 1;
            if looked > MAX_SERVED_PER_REQUEST {
                self.stats.counters.serve_rate_limited += u64::from(asked - MAX_SERVED_PER_REQUEST);
                break;
            }
            let seq = self.resolve(ssrc, wire);
            let held = seq.filter(|&q| {
                self.raw
                    .get(q)
                    .is_some_and(|s| s.state == SlotState::Present)
            });
            let Some(seq) = held else {
                self.stats.counters.serve_missing += 1;
                continue;
            };
            if self.peers.list[idx].budget.take(now, rate, burst) {
                self.enqueue(to, PendingKind::Repair { ssrc, seq, wire });
            } else {
                self.stats.counters.serve_rate_limited += 1;
            }
        }
    }

    /// Puts a repaired packet into its slot; the first copy wins.
    fn on_repair(&mut self, now: Time, idx: usize, r: &Repair<'_>) {
        let current = self.stream.as_ref().map(|s| s.ssrc());
        let previous = self.previous.map(|p| p.numbering.ssrc);
        let Ok(pkt) = RtpPacket::parse(r.rtp) else {
            self.stats.counters.malformed += 1;
            return;
        };
        let bad_payload = self.config.require_ts && ts::check_payload(pkt.payload).is_err();
        if bad_payload || r.rtp.len() > self.config.max_datagram {
            self.stats.counters.malformed += 1;
        } else if current == Some(pkt.ssrc) {
            self.accept(now, r.src, r.rtp, &pkt, Via::Repair(idx));
        } else if previous == Some(pkt.ssrc) {
            self.accept_previous(now, r.src, r.rtp, &pkt, Via::Repair(idx));
        } else {
            self.stats.counters.malformed += 1;
        }
    }

    /// Writes the next queued message into `buf`; returns where to send it.
    ///
    /// `buf` should hold a full datagram (1,500 bytes for repairs of 1,316-byte payloads).
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(p) = self.queue.pop_front() {
            let (Some((epoch, key)), Some(i)) =
                (self.peers.current.as_ref(), self.peers.find(p.to))
            else {
                continue;
            };
            let header = Header {
                channel: self.config.channel,
                epoch: *epoch,
                sender: self.config.sender,
                counter: self.counter,
                timestamp_us: now.as_micros(),
            };
            let ranges_buf;
            let body = match &p.what {
                PendingKind::Request {
                    ssrc, ranges, n, ..
                } => {
                    ranges_buf = *ranges;
                    Body::Request {
                        ssrc: ssrc.0,
                        ranges: Ranges::List(&ranges_buf[..usize::from(*n)]),
                    }
                }
                PendingKind::Repair { ssrc, seq, wire } => match self.raw.get(*seq) {
                    Some(slot) if slot.state == SlotState::Present => Body::Repair(Repair {
                        ssrc: ssrc.0,
                        sequence: *wire,
                        src: slot.src,
                        dst: self.config.group,
                        rtp: self.raw.bytes(*seq),
                    }),
                    _ => continue,
                },
                PendingKind::Ping => Body::Ping,
                PendingKind::Pong {
                    echo_counter,
                    echo_timestamp_us,
                } => Body::Pong {
                    echo_counter: *echo_counter,
                    echo_timestamp_us: *echo_timestamp_us,
                },
            };
            let Ok(len) = (Message { header, body }).emit(key, buf) else {
                self.stats.counters.transmit_dropped += 1;
                continue;
            };
            self.counter += 1;
            self.count_sent(&p.what);
            return Some(Transmit {
                dst: self.peers.list[i].addr,
                len,
            });
        }
        None
    }

    fn count_sent(&mut self, what: &PendingKind) {
        let c = &mut self.stats.counters;
        match what {
            PendingKind::Request {
                ranges,
                n,
                tail_probe,
                ..
            } => {
                c.requests_sent += 1;
                c.tail_probes += u64::from(*tail_probe);
                c.packets_requested += ranges[..usize::from(*n)]
                    .iter()
                    .map(|r| u64::from(r.len))
                    .sum::<u64>();
            }
            PendingKind::Repair { .. } => c.repairs_served += 1,
            PendingKind::Ping => c.pings_sent += 1,
            PendingKind::Pong { .. } => {}
        }
    }

    /// True if a repair for `seq` is queued (used by tests of the serving side).
    #[doc(hidden)]
    pub fn repair_queued(&self, seq: SeqNo) -> bool {
        self.queue
            .iter()
            .any(|p| matches!(p.what, PendingKind::Repair { seq: s, .. } if s == seq))
    }
}
