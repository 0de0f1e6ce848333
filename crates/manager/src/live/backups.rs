//! Backups (issue 12's second tier) as the manager hands them out: for each session, a few
//! members of the neighbouring groups of its channel (the groups in id order form a ring, as
//! [`groupcast_grouping::pairs_among`] pairs them) in other metros, asked for what the
//! session's own group could not supply in time.
//!
//! Nothing is stored: the pairs follow from the cached groups, and are worked out again for a
//! channel whenever its groups are re-read. The key a session shares with a backup comes from
//! both groups' current secrets and epochs ([`backup_secret`]), so every manager instance
//! derives the same one and it changes whenever either group does: a member that left, or was
//! re-grouped, cannot talk to its old backups.

use super::{Live, V6_GROUPS};
use groupcast_api::{BackupInfo, ChannelId, GroupId, SessionId};
use groupcast_wire::proto::{backup_secret, pair_key};
use std::collections::HashMap;

/// One family's groups of a channel, each with its members and their metros.
type Ring = Vec<(GroupId, Vec<(SessionId, String)>)>;

/// The backups of every session of the live channels.
#[derive(Debug, Default)]
pub(crate) struct Backups {
    /// Backups per member and neighbouring group (0: none are assigned).
    pub(crate) per_pair: usize,
    /// Each session's backups, with their groups.
    by_session: HashMap<SessionId, Vec<(SessionId, GroupId)>>,
}

impl Backups {
    /// No backups yet; `per_pair` per member and neighbouring group once groups exist.
    pub(crate) fn new(per_pair: usize) -> Self {
        Backups {
            per_pair,
            by_session: HashMap::new(),
        }
    }
}

/// Works out the backups of `channel`'s sessions again from `live`'s groups: its IPv4 groups
/// and its IPv6 groups are two rings (the families cannot reach each other's peers).
pub(crate) fn repair(live: &mut Live, channel: ChannelId) {
    let per_pair = live.backups.per_pair;
    let mut rings: [Ring; 2] = Default::default();
    for (gid, g) in &live.groups {
        // Groups of one (sessions that do not repair) are nobody's backups and have none.
        if (gid.0 >> 32) as u32 != channel.0 || crate::solo::is_solo(GroupId(gid.0 & 0xffff_ffff)) {
            continue;
        }
        let members = g.assignment.members.iter();
        let ring = usize::from(gid.0 & 0xffff_ffff >= V6_GROUPS);
        rings[ring].push((
            *gid,
            members.map(|m| (m.session, m.metro.clone())).collect(),
        ));
    }
    let group_of: HashMap<SessionId, GroupId> = rings
        .iter()
        .flatten()
        .flat_map(|(gid, m)| m.iter().map(move |(s, _)| (*s, *gid)))
        .collect();
    live.backups
        .by_session
        .retain(|s, _| live.sessions.get(s).is_some_and(|l| l.channel != channel));
    for ring in &mut rings {
        ring.sort_unstable_by_key(|(gid, _)| *gid);
        let groups: Vec<Vec<(SessionId, String)>> = ring.drain(..).map(|(_, m)| m).collect();
        for (a, b) in groupcast_grouping::pairs_among(&groups, per_pair) {
            if let (Some(&ga), Some(&gb)) = (group_of.get(&a), group_of.get(&b)) {
                let by = &mut live.backups.by_session;
                by.entry(a).or_default().push((b, gb));
                by.entry(b).or_default().push((a, ga));
            }
        }
    }
}

/// The backups of `session` (in group `group`), each with the key the two share.
pub(crate) fn of(live: &Live, session: SessionId, group: GroupId) -> Vec<BackupInfo> {
    let Some(mine) = live.groups.get(&group) else {
        return Vec::new();
    };
    let Some(list) = live.backups.by_session.get(&session) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|&(b, bg)| {
            let theirs = live.groups.get(&bg)?;
            let info = theirs.assignment.members.iter().find(|m| m.session == b)?;
            let (secret, epoch) = backup_secret(
                (group.0, mine.assignment.epoch, &mine.secret),
                (bg.0, theirs.assignment.epoch, &theirs.secret),
            );
            Some(BackupInfo {
                session: b,
                metro: info.metro.clone(),
                peer_addr: info.peer_addr.clone(),
                epoch,
                key: groupcast_api::format_key(&pair_key(&secret, epoch, session, b)),
            })
        })
        .collect()
}
