//! A deterministic discrete-event simulator of groupcast.
//!
//! What it does: drives the very same [`groupcast_core::Client`] state machines a real client
//! runs, on virtual time, with one source, any number of clients in repair groups, and links
//! with delay, jitter, reordering, duplication and loss models ([`LossModel`]). Every random
//! choice comes from generators seeded by the scenario's seed (one shared, one per client), so
//! a [`Scenario`] always gives the same [`Report`].
//! Each client's player output is checked byte for byte against what the source sent.
//!
//! What it deliberately does not do: open sockets, sleep, or read clocks; model the manager
//! (groups are fixed per run) or the network below UDP.
//!
//! ```
//! use groupcast_sim::{Scenario, run};
//! let report = run(&Scenario { packets: 2_000, ..Scenario::default() });
//! assert_eq!(report.total(|c| c.unrecovered), 0);
//! ```

mod model;
mod net;
mod node;
mod report;
mod scenario;
pub mod source;

pub use model::{LossModel, LossState};
pub use net::run;
pub use report::{ClientReport, OutputCheck, Report, Summary};
pub use scenario::{ClientSettings, Scenario};
