//! Sans-IO logic of groupcast's multicast source and its edges.
//!
//! What it does:
//! - [`TsSync`]: finds TS packet boundaries in files and datagrams;
//! - [`Pacer`]: times TS packets by their PCR (or a fixed bitrate) into 7-packet datagrams,
//!   with a monotonic stream clock across PCR wraps, discontinuities and file loops;
//! - [`RtpStamper`]: RTP (RFC 3550/2250, PT 33) headers with the source's SSRC, sequence
//!   numbers and 90 kHz timestamps from stream time;
//! - [`SourceInput`]: the source's input as a state machine: a file paced by its clock
//!   (pacing origin, due times, loops) or live UDP/RTP input (regrouping, partial flush
//!   after a lull, stall detection);
//! - [`Ring`]: the retransmission ring the central keeps for its edges;
//! - [`Central`] and [`Edge`]: the two ends of the central-to-edge unicast relay, with
//!   token-authenticated HELLO/NACK and retransmission, so an edge re-multicasts the very same
//!   packets (same SSRC, same sequence numbers) in its metro.
//!
//! What it deliberately does not do: open sockets, read clocks or draw random numbers (the
//! SSRC and initial timestamp are inputs). The `groupcast source` and `groupcast edge`
//! commands are the thin drivers around it.

mod central;
mod edge;
mod input;
mod outbox;
mod pacer;
mod ring;
mod stamp;
mod standby;
mod sync;
mod unicast;

pub use central::{Central, CentralStats, EdgeInfo};
pub use edge::{Edge, EdgeConfig, EdgeStats};
pub use input::{FLUSH_AFTER, InputEvent, InputStats, Ready, STALL_AFTER, SourceInput};
pub use pacer::{PaceError, Pacer, TICKS_PER_SEC, TsBytes};
pub use ring::Ring;
pub use stamp::RtpStamper;
pub use standby::{REFRESH as STANDBY_REFRESH, Standby, StandbyStats};
pub use sync::TsSync;
pub use unicast::{
    CHALLENGE_RATE, Fanout, FanoutConfig, FanoutStats, OFF_AIR_GAP, ON_AIR_HOLD, STANDBY_PERMILLE,
    VIEWER_TIMEOUT, ViewerInfo,
};
