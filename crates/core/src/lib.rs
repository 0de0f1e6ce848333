//! The sans-IO repair core of groupcast.
//!
//! What it does: the seed's client flow as a deterministic state machine, [`Client`]:
//! - a **raw buffer** of RTP datagrams as received, a ring of slots indexed by extended sequence
//!   number whose capacity is a whole number of chunks, sized from the buffer duration and the
//!   measured packet rate;
//! - **loss detection** by sequence number with a reorder hold, and tail-loss probes when the
//!   stream goes quiet;
//! - **repair requests** to all members of the group (or best peer first, by configuration) with
//!   RTT-aware retries until the packet's play-out deadline; the **first repair wins**, later
//!   copies are dropped and counted;
//! - a **playback buffer** fed with complete chunks (or, at their deadline, with counted holes)
//!   that depacketizes to MPEG-TS and releases it paced by RTP timestamp;
//! - the **serving side**: answers authenticated requests from the raw buffer under a per-peer
//!   rate budget, never anything unauthenticated;
//! - [`Stats`]: counters and a repair latency histogram;
//! - [`CleanStart`]: the gate that makes every player's output begin at a random access point.
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
mod peers;
mod playback;
mod raw;
mod stats;

pub use clean_start::{Chunk, CleanCounters, CleanStart, HOLD_CAP, Sink};
pub use client::{Client, Event, LOSS_LOG, Transmit};
pub use config::{Config, ConfigError, RequestStrategy};
pub use groupcast_base::{Time, TokenBucket};
pub use peers::{Group, Member};
pub use playback::Playout;
pub use stats::{Counters, Stats};
