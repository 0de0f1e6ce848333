//! A deterministic discrete-event simulator of groupcast.
//!
//! What it does: drives the very same [`groupcast_core::Client`] state machines a real client
//! runs, on virtual time, with one source, any number of clients in repair groups, and links
//! with delay, jitter, reordering, duplication and loss models ([`LossModel`]). Every random
//! choice comes from generators seeded by the scenario's seed (one shared, one per client), so
//! a [`Scenario`] always gives the same [`Report`].
//! Each client's player output is checked byte for byte against what the source sent.
//! Every client reaches a simulated manager (the real grouping module, with a virtual latency
//! and an optional outage, [`ManagerSettings`]) through the very same
//! [`groupcast_core::ManagerLink`] the real client drives.
//!
//! Layout, each module using only those after it: `net` (the event loop: windows, churn,
//! the manager's turns) → `network` (the clients and the links between them; one client
//! through one window) → `node` (one client's state) → `manager`, `feed` (the source's
//! packets and the metro trunks), `relay` (the source as the last resort), `report`,
//! `scenario`, `model`, `source`.
//!
//! What it deliberately does not do: open sockets, sleep, or read clocks; model the network
//! below UDP, or the manager's HTTP.
//!
//! ```
//! use groupcast_sim::{Scenario, run};
//! let report = run(&Scenario { packets: 2_000, ..Scenario::default() });
//! assert_eq!(report.total(|c| c.unrecovered), 0);
//! ```

mod feed;
mod manager;
mod model;
mod net;
mod network;
mod node;
mod relay;
mod report;
mod roster;
mod scenario;
pub mod source;

pub use manager::LinkFigures;
pub use model::{LossModel, LossState};
pub use net::run;
pub use report::{ClientReport, OutputCheck, Report, Summary};
pub use scenario::{ClientSettings, LastResortSettings, ManagerOutage, ManagerSettings, Scenario};
