//! Groups of one, for sessions that do not repair (`OpenSession::repair` false: a client run
//! with `--no-repair`, such as an operator's probe of what the network alone delivers).
//!
//! Such a session asks nobody for anything, and holds only what multicast brought it; in a
//! repair group it would take the place of a member that repairs and serves, and as a backup
//! it would answer "absent" to most of what it is asked. So it gets a group of its own,
//! numbered from [`SOLO_GROUPS`], outside both families' groupings and outside the rings of
//! backups. Its rows are those of any group, so the cache, the SSE stream, heartbeats and
//! timeouts treat it like every other session.

use crate::db::Tx;
use crate::error::ApiErr;
use groupcast_api::{ChannelId, GroupEpoch, GroupId, SessionId};
use groupcast_grouping::Change;

/// Groups of one are numbered from here (IPv4 groups from 1, IPv6 groups from
/// [`crate::live::V6_GROUPS`]): they are in neither family's grouping and in no ring of
/// backups.
pub(crate) const SOLO_GROUPS: u64 = 3 << 30;

/// Whether `group` (a channel's own number) is a group of one.
pub(crate) fn is_solo(group: GroupId) -> bool {
    group.0 >= SOLO_GROUPS
}

/// A group of one for `session` (already inserted, in `channel`'s locked row's transaction).
pub(crate) async fn open(
    tx: &mut Tx,
    channel: ChannelId,
    session: SessionId,
) -> Result<Change, ApiErr> {
    let (next,): (i64,) = sqlx::query_as("SELECT next_solo FROM channels WHERE id = $1")
        .bind(i64::from(channel.0))
        .fetch_one(&mut **tx)
        .await?;
    let group = GroupId((next as u64).max(SOLO_GROUPS));
    if group.0 >= 1 << 32 {
        // Group ids share a u64 with the channel's id (its upper half).
        return Err(ApiErr::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "this channel has used up its group numbers",
        ));
    }
    sqlx::query("UPDATE channels SET next_solo = $1 WHERE id = $2")
        .bind(group.0 as i64 + 1)
        .bind(i64::from(channel.0))
        .execute(&mut **tx)
        .await?;
    Ok(Change {
        group,
        epoch: GroupEpoch(1),
        members: vec![session],
    })
}

/// The end of `group`, the group of one of a session that left (its row is deleted).
pub(crate) async fn close(
    tx: &mut Tx,
    channel: ChannelId,
    group: GroupId,
) -> Result<Change, ApiErr> {
    let epoch: Option<(i64,)> =
        sqlx::query_as("SELECT epoch FROM repair_groups WHERE channel_id = $1 AND id = $2")
            .bind(i64::from(channel.0))
            .bind(group.0 as i64)
            .fetch_optional(&mut **tx)
            .await?;
    let epoch = epoch.map_or(1, |(e,)| e as u32);
    Ok(Change {
        group,
        epoch: GroupEpoch(epoch.saturating_add(1)),
        members: Vec::new(),
    })
}
