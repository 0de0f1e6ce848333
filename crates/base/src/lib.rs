//! The ground vocabulary of groupcast, under every other crate.
//!
//! What it does: the few types that every layer (wire, core, source, grouping, api) speaks:
//! - [`Time`]: time as an input, microseconds on a clock the driver chooses;
//! - [`TokenBucket`]: a rate budget refilled from input time;
//! - the ids as newtypes: [`ChannelId`], [`SessionId`] (also [`MemberId`]), [`GroupId`],
//!   [`GroupEpoch`], [`MetroId`] and [`Ssrc`].
//!
//! What it deliberately does not do: read a clock, touch the network, or know any wire format.
//! It has no dependency but an optional `serde` (feature `serde`, for the manager's JSON API).
//!
//! ```
//! use groupcast_base::{Time, TokenBucket};
//! use std::time::Duration;
//!
//! let mut budget = TokenBucket::full(2);
//! let t0 = Time::from_secs(1);
//! assert!(budget.take(t0, 10, 2) && budget.take(t0, 10, 2));
//! assert!(!budget.take(t0, 10, 2)); // spent; 10 per second come back
//! assert!(budget.take(t0 + Duration::from_millis(100), 10, 2));
//! ```

mod bucket;
mod ids;
mod time;

pub use bucket::TokenBucket;
pub use ids::{ChannelId, GroupEpoch, GroupId, MemberId, MetroId, SessionId, Ssrc};
pub use time::Time;
