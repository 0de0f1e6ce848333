//! What the grouping tells and is told: the changes a join or leave makes, and groups as
//! stored outside (to rebuild a grouping from), with why they may not restore.

use crate::{GroupEpoch, GroupId, MetroId, SessionId};

/// A group whose membership changed: its new epoch and members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The group.
    pub group: GroupId,
    /// Its epoch after the change (1 for a new group).
    pub epoch: GroupEpoch,
    /// Its members now (empty: the group is gone).
    pub members: Vec<SessionId>,
}

/// One group as stored outside, the input of [`Grouping::restore`](crate::Grouping::restore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGroup {
    /// The group.
    pub id: GroupId,
    /// Its current epoch.
    pub epoch: GroupEpoch,
    /// Its members and their metros, in joining order.
    pub members: Vec<(SessionId, MetroId)>,
}

/// Why stored groups could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// This session is in two groups.
    TwoGroups(SessionId),
    /// This group has more than `k` members.
    TooLarge(GroupId),
    /// This group id appears twice or is not below `next`.
    BadGroupId(GroupId),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::TwoGroups(s) => write!(f, "session {s} is in two groups"),
            RestoreError::TooLarge(g) => write!(f, "group {g} has more than k members"),
            RestoreError::BadGroupId(g) => write!(f, "group id {g} repeated or not below next"),
        }
    }
}

impl std::error::Error for RestoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids print as plain numbers, so the manager's log lines read as before.
    #[test]
    fn restore_errors_name_the_ids() {
        let e = RestoreError::TwoGroups(SessionId(7));
        assert_eq!(e.to_string(), "session 7 is in two groups");
        let e = RestoreError::BadGroupId(GroupId(3));
        assert_eq!(e.to_string(), "group id 3 repeated or not below next");
    }
}
