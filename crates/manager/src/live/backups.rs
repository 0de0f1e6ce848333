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

use super::{Live, V6_GROUPS, global_group, split_group};
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
    /// Per channel, each session's backups, with their groups.
    by_channel: HashMap<ChannelId, HashMap<SessionId, Vec<(SessionId, GroupId)>>>,
}

impl Backups {
    /// No backups yet; `per_pair` per member and neighbouring group once groups exist.
    pub(crate) fn new(per_pair: usize) -> Self {
        Backups {
            per_pair,
            by_channel: HashMap::new(),
        }
    }
}

/// Works out the backups of `channel`'s sessions again from `live`'s groups: its IPv4 groups
/// and its IPv6 groups are two rings (the families cannot reach each other's peers). It
/// reads that channel's groups only (one range of the ordered map): its cost is the
/// channel's, however many other channels the manager carries.
pub(crate) fn repair(live: &mut Live, channel: ChannelId) {
    let per_pair = live.backups.per_pair;
    let mut rings: [Ring; 2] = Default::default();
    let first = global_group(channel, GroupId(0));
    let last = global_group(channel, GroupId(u64::MAX));
    for (gid, g) in live.groups.range(first..=last) {
        // Groups of one (sessions that do not repair) are nobody's backups and have none.
        let local = split_group(*gid).1;
        if crate::solo::is_solo(local) {
            continue;
        }
        let members = g.assignment.members.iter();
        let ring = usize::from(local.0 >= V6_GROUPS);
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
    let mut by: HashMap<SessionId, Vec<(SessionId, GroupId)>> = HashMap::new();
    for ring in &mut rings {
        // In id order already (a range of the ordered map).
        let groups: Vec<Vec<(SessionId, String)>> = ring.drain(..).map(|(_, m)| m).collect();
        for (a, b) in groupcast_grouping::pairs_among(&groups, per_pair) {
            if let (Some(&ga), Some(&gb)) = (group_of.get(&a), group_of.get(&b)) {
                by.entry(a).or_default().push((b, gb));
                by.entry(b).or_default().push((a, ga));
            }
        }
    }
    if by.is_empty() {
        live.backups.by_channel.remove(&channel);
    } else {
        live.backups.by_channel.insert(channel, by);
    }
}

/// The backups of `session` (in group `group`), each with the key the two share.
pub(crate) fn of(live: &Live, session: SessionId, group: GroupId) -> Vec<BackupInfo> {
    let Some(mine) = live.groups.get(&group) else {
        return Vec::new();
    };
    let by = live.backups.by_channel.get(&split_group(group).0);
    let Some(list) = by.and_then(|by| by.get(&session)) else {
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
