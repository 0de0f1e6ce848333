//! What the simulated manager hands out: a group's roster, and the channel's backup pairing
//! (issue 12's second tier), from which each member's view is derived as the real manager
//! derives it.

use groupcast_core::Group;
use groupcast_wire::proto::{GroupEpoch, KEY_LEN, SenderId};
use std::net::SocketAddr;
use std::rc::Rc;

/// A group as the manager keeps it: epoch, secret and members, and the backup pairing. Each
/// member is handed its own view ([`Roster::view`]), with the keys it shares with the others
/// and with its backups, as the real manager does.
#[derive(Debug)]
pub(crate) struct Roster {
    /// Bumped on every membership change.
    pub(crate) epoch: GroupEpoch,
    /// The group's secret for this epoch (never handed to a member).
    pub(crate) secret: [u8; KEY_LEN],
    /// Members and their peer addresses.
    pub(crate) members: Vec<(SenderId, SocketAddr)>,
    /// The backup pairing in force when this roster was made.
    pub(crate) pairing: Rc<Pairing>,
}

/// The channel's backup pairs, under one epoch and secret.
#[derive(Debug, Default)]
pub(crate) struct Pairing {
    /// Bumped whenever the pairs change.
    pub(crate) epoch: GroupEpoch,
    /// The channel's backup secret for this epoch.
    pub(crate) secret: [u8; KEY_LEN],
    /// Each pair once, with both peer addresses.
    pub(crate) pairs: Vec<((SenderId, SocketAddr), (SenderId, SocketAddr))>,
}

impl Roster {
    /// Member `me`'s view of the group, with its backups.
    pub(crate) fn view(&self, me: SenderId) -> Group {
        let p = &self.pairing;
        let backups = groupcast_grouping::partners(&p.pairs, |a| a.0 == me);
        Group::derived(self.epoch, &self.secret, me, self.members.iter().copied()).with_backups(
            (p.epoch, &p.secret),
            me,
            backups,
        )
    }
}
