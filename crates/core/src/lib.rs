//! The sans-IO repair core of groupcast.
//!
//! What it does: the seed's client flow as a deterministic state machine, [`Client`], a thin
//! composition that routes each `handle_*` / `poll_*` call to the component that owns the
//! decision:
//!
//! | component | file | owns |
//! |---|---|---|
//! | stream receiver | `client/receiver.rs` | which SSRC is followed (a restart is confirmed by two consecutive packets while the old stream is quiet), the numbering of each stream into one sequence space, arrival figures, the loss log |
//! | raw buffer | `raw.rs`, `raw/release.rs` | the datagrams as received, in a ring of slots (a whole number of chunks) indexed by our number, with each missing slot's repair state; the release cursor: complete chunks go to the playback buffer at once, others at their play-out time, each hole at its own (counted) |
//! | playback buffer | `playback.rs` | what waits for its play-out time (paced by RTP timestamp), as references into raw slots |
//! | repair scheduler | `client/repair.rs` | the missing set, the reorder hold, RTT-aware retries until the deadline, tail-loss probes; whom to ask ([`RequestStrategy`]); `step` decides per packet, and escalates to the driver's last resort (the relay) what the group cannot supply in time |
//! | server | `client/server.rs` | per-sender replay windows and serving budgets; which requested packets to answer, and the answers, built from the raw buffer |
//! | absent answers | `client/absent.rs` | saying which requested packets we lost too, and moving a packet on to the next tier at once when every live member (or backup) said so |
//! | rota | `client/rota.rs` | who answers a request for a packet: the members' order per packet (a hash), how many a request names, whether we are among them |
//! | outbox | `client/outbox.rs` | queued peer messages, written when pulled, and our message counter |
//! | membership | `membership.rs` | the group the manager assigned, its keys (the previous one during its grace), each peer's RTT, liveness and usefulness |
//! | sizing | `client/sizing.rs` | growing the ring when the measured packet rate needs it |
//!
//! The receive path (`client/media.rs`) and the peer path (`client/peer_messages.rs`) are the
//! glue: they authenticate and route inputs and count outcomes in [`Stats`] (the [`Counters`]
//! and a repair latency histogram). The first repair wins; later copies are dropped and
//! counted; nothing unauthenticated is ever answered.
//!
//! Beside the client: [`ManagerLink`] (`link.rs`) decides when to open a session, heartbeat,
//! follow the manager's events and back off; [`CleanStart`] (`clean_start/`) makes every
//! player's output begin at a random access point.
//!
//! What it deliberately does not do: own a socket, read a clock, spawn, or draw random numbers.
//! Time comes in as [`Time`]; datagrams come in as byte slices and go out into the caller's
//! buffer. The same code therefore runs under the real driver and under the simulator.
//!
//! The run loop of a driver:
//!
//! ```
//! use groupcast_core::{Client, Config, Time};
//! use groupcast_wire::proto::{ChannelId, SenderId};
//!
//! let group = "239.255.0.1:5004".parse().unwrap();
//! let mut client = Client::new(Config::new(ChannelId(1), SenderId(7), group)).unwrap();
//! let mut buf = [0u8; 1500];
//! let now = Time::from_millis(0);
//! // On a multicast datagram: client.handle_media(now, src, &datagram);
//! // On a peer datagram:      client.handle_peer(now, &datagram);
//! client.handle_timeout(now);
//! while let Some(t) = client.poll_transmit(now, &mut buf) {
//!     // peer_socket.send_to(&buf[..t.len], t.dst)
//!     let _ = t;
//! }
//! while let Some(out) = client.poll_playout(now) {
//!     // player.write_all(out.ts)
//!     let _ = out;
//! }
//! // Sleep until the earlier of these (the second only when pacing a real-time player):
//! let _timers = client.poll_timeout();
//! let _playout = client.next_playout();
//! ```

mod clean_start;
mod client;
mod config;
mod link;
mod membership;
mod playback;
mod raw;
mod stats;

pub use clean_start::{Chunk, CleanCounters, CleanStart, HOLD_CAP, Sink};
pub use client::{Client, Event, LOSS_LOG, Transmit};
pub use config::{Config, ConfigError, RequestStrategy};
pub use groupcast_base::{Time, TokenBucket};
pub use link::{BeatOutcome, LinkAction, LinkConfig, LinkEvent, ManagerLink, OpenOutcome};
pub use membership::{Backup, Group, Member};
pub use playback::Playout;
pub use stats::{Counters, Stats};
