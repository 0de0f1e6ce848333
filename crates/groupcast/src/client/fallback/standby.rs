//! The last resort, client side: while multicast arrives, the client stays registered with
//! the relay its manager ticket names for retransmissions only ([`Standby`]), hands it what
//! the core escalates (packets its repair group could not supply in time), and gives the
//! relay's answers back to the core, with the relay's round trip once it has answered at
//! all: the core asks it up to four times, a round trip and 5 ms apart, and gives the group up
//! that long before each packet's deadline (at most half the buffer).
//!
//! While the unicast feed runs, the feed's own NACKs are the last resort and this side is
//! quiet (the relay knows a session at one address at a time).

use crate::dropper::Dropper;
use groupcast_api::{SessionId, UnicastTicket};
use groupcast_core::{Client, Time};
use groupcast_source::{Standby, StandbyStats};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};

/// Most datagrams taken from the relay in one go.
const BATCH: usize = 64;

/// The relay's socket and the registration with it.
pub(super) struct LastResort {
    /// `--no-last-resort` turns it off.
    enabled: bool,
    /// Connected to the relay, which the ticket names (as named, and resolved).
    socket: Option<(tokio::net::UdpSocket, SocketAddr, String)>,
    machine: Standby,
    /// Escalated numbers, between the core and the machine (reused).
    seqs: Vec<u16>,
    /// A relay that could not be reached is logged once.
    warned: bool,
    /// The stream last seen, to register at once when one starts.
    ssrc: Option<groupcast_wire::Ssrc>,
}

impl LastResort {
    /// Off unless `enabled`; registers once a ticket comes.
    pub(super) fn new(enabled: bool, session: SessionId) -> Self {
        LastResort {
            enabled,
            socket: None,
            machine: Standby::new(session, crate::driver::clock::wall_micros()),
            seqs: Vec::new(),
            warned: false,
            ssrc: None,
        }
    }

    /// The manager's latest ticket: its key for the registration; its relay, to open the
    /// socket (again, if the relay changed).
    pub(super) fn set_ticket(&mut self, t: &UnicastTicket, iface_v4: Option<Ipv4Addr>) {
        let Some(key) = groupcast_api::parse_key(&t.key).filter(|_| self.enabled) else {
            return;
        };
        self.machine.set_ticket(t.expires_ms, &key);
        if self.socket.as_ref().is_some_and(|s| s.2 == t.relay) {
            return;
        }
        let opened = crate::net::resolve("relay", &t.relay)
            .and_then(|relay| Ok((super::relay_socket(relay, iface_v4)?, relay)));
        match opened {
            Ok((socket, relay)) => {
                tracing::info!(
                    relay = t.relay,
                    "last resort: registering for retransmissions"
                );
                self.socket = Some((socket, relay, t.relay.clone()));
            }
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(error = %format!("{e:#}"), relay = t.relay, "last resort");
            }
            Err(_) => {}
        }
    }

    /// A new session: the registration starts over with its ticket.
    pub(super) fn set_session(&mut self, session: SessionId) {
        self.machine.set_session(session);
    }

    /// The relay's socket, if one is open.
    pub(super) fn socket(&self) -> Option<&tokio::net::UdpSocket> {
        self.socket.as_ref().map(|s| &s.0)
    }

    /// Passes the core's escalations to the relay and keeps the registration fresh; with
    /// `quiet` (the unicast feed runs) only tells the core there is no last resort.
    pub(super) fn poll(&mut self, now: Time, core: &mut Client, buf: &mut [u8], quiet: bool) {
        let Some((socket, _, _)) = self.socket.as_ref().filter(|_| !quiet) else {
            core.set_last_resort(None);
            return;
        };
        if core.ssrc() != self.ssrc {
            self.ssrc = core.ssrc();
            self.machine.stream_started(now);
        }
        core.drain_escalations(&mut self.seqs);
        if let Some(ssrc) = core.ssrc().filter(|_| !self.seqs.is_empty()) {
            self.machine.nack(ssrc, &self.seqs);
        }
        self.seqs.clear();
        while let Some(n) = self.machine.poll_transmit(now, buf) {
            let _ = crate::net::send_connected(socket, &buf[..n]);
        }
        core.set_last_resort(self.machine.usable_rtt());
    }

    /// Takes the relay's waiting datagrams (up to a batch): retransmissions go to the core.
    /// Returns how many `dropper` (`--drop-rate`, testing: a lossy access link) dropped.
    pub(super) fn take(
        &mut self,
        now: Time,
        core: &mut Client,
        buf: &mut [u8],
        dropper: &mut Dropper,
    ) -> u64 {
        let mut dropped = 0;
        let Some((socket, relay, _)) = &self.socket else {
            return dropped;
        };
        for _ in 0..BATCH {
            match socket.try_recv(buf) {
                Ok(_) if dropper.drop() => dropped += 1,
                Ok(n) => {
                    if self.machine.handle(now, &buf[..n]) {
                        core.handle_last_resort(now, *relay, &buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The relay is not up (ICMP port unreachable): registrations go on.
                Err(e) => {
                    tracing::debug!(error = %e, "last resort receive");
                    break;
                }
            }
        }
        dropped
    }

    /// When a registration refresh is due (`None` while `quiet` or without a relay).
    pub(super) fn poll_timeout(&self, quiet: bool) -> Option<Time> {
        self.socket.as_ref().filter(|_| !quiet)?;
        self.machine.poll_timeout()
    }

    /// Ends the registration at once (LEAVE).
    pub(super) fn leave(&mut self, buf: &mut [u8]) {
        if let Some((socket, _, _)) = &self.socket
            && let Some(n) = self.machine.leave(buf)
        {
            let _ = crate::net::send_connected(socket, &buf[..n]);
        }
    }

    /// The registration's figures.
    pub(super) fn stats(&self) -> &StandbyStats {
        self.machine.stats()
    }
}
