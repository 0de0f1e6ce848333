//! Wire formats of groupcast.
//!
//! What it does: parses and writes the bytes groupcast puts on the network, as types:
//! - [`rtp`]: RTP packets (RFC 3550) with CSRCs, header extension and padding;
//! - [`ts`]: MPEG-TS payload checks (188-byte packets, sync byte) and header fields;
//! - [`rap`]: random access points in a TS: PAT, PMT, PES headers and keyframes;
//! - [`seq`]: 64-bit extended sequence numbers ([`SeqNo`]) and timestamps across the wrap;
//! - [`udp`]: the UDP header with its pseudo-header checksum, rebuilt for repairs;
//! - [`proto`]: the peer repair protocol (request, repair, ping, pong), authenticated with a
//!   truncated HMAC-SHA256 under the group key, plus the anti-replay window;
//! - [`relay`]: the edge's HELLO and NACK to the central source, authenticated by its token;
//! - [`unicast`]: the unicast fallback between a viewer and a relay, under a manager ticket;
//! - [`scramble`]: optional media encryption, AES-128-CTR of PES payloads under a rotating
//!   channel key, with the key's parity in the TS scrambling bits.
//!
//! What it deliberately does not do: own sockets, read clocks, allocate per packet, or decide
//! anything (what to request, whom to answer): that is `groupcast-core`. Every parser borrows
//! from its input, checks every length and returns a typed error on bad bytes; none panics.
//!
//! ```
//! use groupcast_wire::proto::*;
//! let key = GroupKey::new(&[7; KEY_LEN]);
//! let header = Header {
//!     channel: ChannelId(1), epoch: GroupEpoch(1), sender: SenderId(9), counter: 1, timestamp_us: 0,
//! };
//! let ranges = [SeqRange { start: 100, len: 3 }];
//! let msg = Message { header, body: Body::Request { ssrc: 5, answerers: 0, ranges: Ranges::List(&ranges) } };
//! let mut buf = [0u8; 1500];
//! let n = msg.emit(&key, &mut buf)?;
//! let received = Envelope::parse(&buf[..n])?.open(&key)?;
//! assert_eq!(received, msg);
//! # Ok::<(), ProtoError>(())
//! ```

pub mod proto;
pub mod rap;
pub mod relay;
pub mod rtp;
pub mod scramble;
pub mod seq;
pub mod ts;
pub mod udp;
pub mod unicast;

pub use seq::{SeqExtender, SeqNo, Ssrc, TimestampExtender};
