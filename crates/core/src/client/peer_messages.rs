//! Messages to and from peers: authenticating and dispatching what arrives on the peer socket
//! (requests go to the server, repairs to the receive path, pings and pongs to membership),
//! and writing what the outbox holds.

use super::held::HELD;
use super::media::{Arrival, Via};
use super::outbox::PendingKind;
use super::server::{Held, Request, Server};
use super::{Client, Event, Transmit};
use groupcast_base::Time;
use groupcast_wire::proto::{Body, Envelope, Header, Message, ProtoError, Ranges, Repair};
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::{SeqNo, Ssrc, ts};

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
        let key = match self.peers.key(idx, env.header.epoch, now) {
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
        if !self.server.fresh(idx, msg.header.epoch, msg.header.counter) {
            c.replayed += 1;
            return;
        }
        self.dispatch(now, idx, &msg);
        // A member whose address is not proven yet (still, after this message) is pinged now.
        if let Some((to, nonce)) = self.peers.challenge(idx, now) {
            let c = &mut self.stats.counters;
            self.outbox.push(to, PendingKind::Ping { nonce }, c);
        }
    }

    /// Acts on an authenticated message from member `idx`.
    ///
    /// What would make us send more than a pong (a request, a fast start) is acted on only
    /// once the member's address is proven (it echoed one of our ping nonces): until then a
    /// member that registered someone else's address cannot aim our repairs or bursts at it.
    fn dispatch(&mut self, now: Time, idx: usize, msg: &Message<'_>) {
        let from = self.peers.list[idx].id;
        let fast_start = matches!(msg.body, Body::FastStart | Body::Burst(_) | Body::NoBurst);
        if fast_start && self.peers.is_backup(idx) {
            // Fast starts are for members: a backup has its own group to ask.
            self.stats.counters.backup_refused += 1;
            return;
        }
        let asks = matches!(msg.body, Body::Request { .. } | Body::FastStart);
        if asks && !self.peers.verified(idx, now) {
            self.stats.counters.unverified_refused += 1;
            if matches!(msg.body, Body::FastStart) {
                self.defer_fast_start(now, idx);
            }
            return;
        }
        match msg.body {
            Body::Request {
                ssrc,
                answerers,
                ranges,
            } => self.serve(now, idx, (Ssrc(ssrc), answerers), &ranges),
            Body::Repair(r) => {
                if self.peers.answered(idx, self.config.silent_after_pings) {
                    self.events.push_back(Event::PeerAnswering(from));
                }
                self.on_repair(now, idx, &r)
            }
            Body::Absent { ssrc, ranges } => self.on_absent(now, idx, Ssrc(ssrc), &ranges),
            Body::FastStart => self.serve_fast_start(now, idx),
            Body::Burst(r) => self.on_burst(now, idx, &r),
            Body::NoBurst => self.on_no_burst(now, idx),
            Body::Ping { nonce } => {
                if !self.peers.may_pong(idx, now) {
                    self.stats.counters.unverified_refused += 1;
                    return;
                }
                let h = msg.header;
                let echo = PendingKind::Pong {
                    echo_counter: h.counter,
                    echo_timestamp_us: h.timestamp_us,
                    echo_nonce: nonce,
                };
                self.outbox.push(from, echo, &mut self.stats.counters);
            }
            Body::Pong {
                echo_timestamp_us,
                echo_nonce,
                ..
            } => {
                let limit = self.config.silent_after_pings;
                let was_proven = self.peers.verified(idx, now);
                match self
                    .peers
                    .pong(idx, now, (echo_timestamp_us, echo_nonce), limit)
                {
                    Some(answering) => {
                        if answering {
                            self.events.push_back(Event::PeerAnswering(from));
                        }
                        if !was_proven {
                            // A member just usable: what was asked for (of nobody usable, or
                            // of members that did not answer) is asked of it at once.
                            self.repair.rearm(now, &mut self.raw, true);
                            self.proven(now, idx);
                        }
                    }
                    None => self.stats.counters.unverified_refused += 1,
                }
            }
        }
    }

    /// Hands member `idx`'s request to the server.
    fn serve(&mut self, now: Time, idx: usize, (ssrc, answerers): (Ssrc, u8), ranges: &Ranges<'_>) {
        let req = Request {
            from: idx,
            ssrc,
            ranges,
            answerers,
        };
        let (raw, gop, receiver, fast) = (&self.raw, &self.gop, &self.receiver, &self.fast);
        let hold = (now, self.config.reorder_hold);
        let first = receiver.first_of(ssrc);
        // Not numbered yet, it may be in the multicast a fast start holds back.
        let held =
            |wire| match Server::held((raw, gop), (receiver.resolve(ssrc, wire), first), hold) {
                Held::Unknown => fast
                    .held(ssrc, wire)
                    .map_or(Held::Unknown, |(d, _)| Held::Yes(HELD, d.len())),
                known => known,
            };
        let c = &mut self.stats.counters;
        let lookup = (receiver.follows(ssrc) || fast.holding(), held);
        self.server.serve(now, req, lookup, &mut self.outbox, c);
    }

    /// Puts a repaired packet into its slot; the first copy wins.
    fn on_repair(&mut self, now: Time, idx: usize, r: &Repair<'_>) {
        let current = self.receiver.ssrc();
        let previous = self.receiver.previous_ssrc();
        let Ok(pkt) = RtpPacket::parse(r.rtp) else {
            self.stats.counters.malformed += 1;
            return;
        };
        let bad_payload = self.config.require_ts && ts::check_payload(pkt.payload).is_err();
        let a = Arrival {
            src: r.src,
            datagram: r.rtp,
            pkt: &pkt,
            via: Via::Repair(idx),
        };
        if bad_payload || r.rtp.len() > self.config.max_datagram {
            self.stats.counters.malformed += 1;
        } else if current == Some(pkt.ssrc) {
            self.accept(now, a);
        } else if previous == Some(pkt.ssrc) {
            self.accept_previous(now, a);
        } else {
            self.stats.counters.malformed += 1;
        }
    }

    /// Writes the next queued message into `buf`; returns where to send it.
    ///
    /// `buf` should hold a full datagram (1,500 bytes for repairs of 1,316-byte payloads).
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(p) = self.outbox.pop() {
            let Some(i) = self.peers.find(p.to) else {
                continue;
            };
            let Some(epoch) = self.peers.epoch_for(i) else {
                continue;
            };
            let small = matches!(
                p.what,
                PendingKind::Ping { .. } | PendingKind::Pong { .. } | PendingKind::FastStart
            );
            if !small && !self.peers.verified(i, now) {
                // Nothing but header-sized messages (pings, pongs, fast start asks, at most a
                // few per join) to an address not proven to be the member's.
                self.stats.counters.unverified_refused += 1;
                continue;
            }
            let header = Header {
                channel: self.config.channel,
                epoch,
                sender: self.config.sender,
                counter: self.outbox.counter(),
                timestamp_us: now.as_micros(),
            };
            let (raw, gop, fast, group) = (&self.raw, &self.gop, &self.fast, self.config.group);
            let Some(body) = p.what.body(|ssrc, seq, wire| match seq {
                HELD => fast.answer_held(group, (ssrc, wire)),
                _ => Server::answer((raw, gop), group, (ssrc, seq, wire)),
            }) else {
                continue;
            };
            let key = &self.peers.list[i].key;
            let Ok(len) = (Message { header, body }).emit(key, buf) else {
                self.stats.counters.transmit_dropped += 1;
                continue;
            };
            self.outbox.sent(&p.what, &mut self.stats.counters);
            return Some(Transmit {
                dst: self.peers.list[i].addr,
                len,
            });
        }
        self.poll_burst(now, buf)
    }

    /// True if a repair for `seq` is queued (used by tests of the serving side).
    #[doc(hidden)]
    pub fn repair_queued(&self, seq: SeqNo) -> bool {
        self.outbox.repair_queued(seq)
    }
}
