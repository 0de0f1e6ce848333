//! Membership changes as database transactions, and the refresh of the in-memory cache.
//!
//! A change (join, leave, timeout) is one transaction: bump the channel's version first (a
//! row lock on PostgreSQL, the write lock on SQLite, so concurrent changes of one channel
//! through any number of instances run one after the other), rebuild the channel's
//! [`Grouping`] (reused from memory when nobody else changed the channel since), apply the
//! change, write every changed group with its new epoch and a fresh key and every member's
//! group and position, commit. Then the changed groups are re-read into the cache and the
//! channel's SSE streams are woken.

use crate::App;
use crate::db::{Tx, new_key};
use crate::error::ApiErr;
use crate::live::{CachedGroup, LiveSession, SyncState, global_group};
use crate::live::{Groupings, V6_GROUPS};
use groupcast_api::{
    Assignment, ChannelId, ClientStats, GroupEpoch, GroupId, MemberInfo, SessionId,
};
use groupcast_grouping::{Change, Grouping, MetroId, Policy, StoredGroup};
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A new session, as stored.
pub(crate) struct NewSession {
    /// Its peer address is IPv6: it is grouped with IPv6 viewers only.
    pub(crate) v6: bool,
    /// Its id.
    pub(crate) id: SessionId,
    /// Its user.
    pub(crate) user: String,
    /// Its metro's id.
    pub(crate) metro_id: MetroId,
    /// Its peer socket.
    pub(crate) peer_addr: String,
    /// Unix ms now.
    pub(crate) now_ms: i64,
    /// The user's session cap (`None`: none).
    pub(crate) max_user_sessions: Option<u32>,
    /// It repairs; if not, it gets a group of its own ([`crate::solo`]).
    pub(crate) repair: bool,
}

/// A membership change.
pub(crate) enum Op {
    /// A session opens.
    Join(NewSession),
    /// A session ends; with `Some(t)`, only if its last heartbeat is older than `t` (timeout).
    Leave(SessionId, Option<i64>),
}

/// How often a change the database rolled back as a deadlock's victim is run again.
const CONFLICT_RETRIES: u32 = 3;

/// Applies `op` to `channel`; returns false when there was nothing to do (unknown session,
/// or a timeout that a fresh heartbeat overtook).
pub(crate) async fn change(app: &App, channel: ChannelId, op: Op) -> Result<bool, ApiErr> {
    let sync = app.sync(channel);
    let mut state = sync.state.lock().await;
    let mut retries = 0;
    let done = loop {
        match transact(app, channel, &mut state, &op).await {
            // Rolled back whole (a deadlock with another instance's write-behind, which
            // updates the same session rows in another order): nothing was written.
            Err(e) if e.retry && retries < CONFLICT_RETRIES => retries += 1,
            done => break done?,
        }
    };
    let Some((version, changed)) = done else {
        return Ok(false);
    };
    app.metrics.group_changes.add(changed);
    refresh(app, channel, &mut state, version).await?;
    sync.wake.send_modify(|v| *v = version);
    Ok(true)
}

/// One transaction of [`change`]: the channel's new version and how many groups changed, or
/// `None` when there was nothing to do. On an error the transaction is rolled back and the
/// cached grouping dropped (the next change rebuilds it from the rows).
async fn transact(
    app: &App,
    channel: ChannelId,
    state: &mut SyncState,
    op: &Op,
) -> Result<Option<(i64, usize)>, ApiErr> {
    let mut tx = app.db.begin().await?;
    let bumped = sqlx::query("UPDATE channels SET version = version + 1 WHERE id = $1")
        .bind(i64::from(channel.0))
        .execute(&mut *tx)
        .await?;
    if bumped.rows_affected() == 0 {
        return Err(ApiErr::not_found("no such channel"));
    }
    let (version, next, next6, k): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT version, next_group, next_group6, group_size FROM channels WHERE id = $1",
    )
    .bind(i64::from(channel.0))
    .fetch_one(&mut *tx)
    .await?;
    let next = (GroupId(next as u64), GroupId((next6 as u64).max(V6_GROUPS)));
    let mut grouping = match state.grouping.take() {
        Some((at, g)) if at == version - 1 => g,
        _ => load(&mut tx, channel, k as usize, next).await?,
    };
    let changes = match apply(&mut tx, channel, &mut grouping, op).await? {
        Some(changes) => changes,
        None => {
            // Nothing changed: keep the cache, undo the version bump.
            tx.rollback().await?;
            state.grouping = Some((version - 1, grouping));
            return Ok(None);
        }
    };
    let gone = match op {
        Op::Leave(id, _) => Some(*id),
        Op::Join(_) => None,
    };
    write(&mut tx, channel, version, &changes, gone).await?;
    sqlx::query("UPDATE channels SET next_group = $1, next_group6 = $2 WHERE id = $3")
        .bind(grouping.v4.next_group_id().0 as i64)
        .bind(grouping.v6.next_group_id().0 as i64)
        .bind(i64::from(channel.0))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.grouping = Some((version, grouping));
    Ok(Some((version, changes.len())))
}

/// Applies the op to the rows and to `g`; `None` when there is nothing to do.
async fn apply(
    tx: &mut Tx,
    channel: ChannelId,
    g: &mut Groupings,
    op: &Op,
) -> Result<Option<Vec<Change>>, ApiErr> {
    match op {
        Op::Join(s) => {
            crate::access::check_in(tx, &s.user, channel).await?;
            crate::limits::check_sessions(tx, &s.user, s.max_user_sessions).await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_name, channel_id, metro_id, peer_addr, group_id, pos, stats, last_seen_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, 0, 0, '{}', $6, $6)",
            )
            .bind(s.id.0 as i64)
            .bind(&s.user)
            .bind(i64::from(channel.0))
            .bind(i64::from(s.metro_id.0))
            .bind(&s.peer_addr)
            .bind(s.now_ms)
            .execute(&mut **tx)
            .await?;
            if !s.repair {
                return Ok(Some(vec![crate::solo::open(tx, channel, s.id).await?]));
            }
            let family = if s.v6 { &mut g.v6 } else { &mut g.v4 };
            Ok(Some(family.join(s.id, s.metro_id)))
        }
        Op::Leave(id, stale_before) => {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT last_seen_ms, group_id FROM sessions WHERE id = $1 AND channel_id = $2",
            )
            .bind(id.0 as i64)
            .bind(i64::from(channel.0))
            .fetch_optional(&mut **tx)
            .await?;
            let group = match (row, *stale_before) {
                (None, _) => return Ok(None),
                (Some((seen, _)), Some(t)) if seen >= t => return Ok(None),
                (Some((_, group)), _) => GroupId(group as u64),
            };
            // The row is deleted by `write`, in session id order with the other rows.
            if crate::solo::is_solo(group) {
                return Ok(Some(vec![crate::solo::close(tx, channel, group).await?]));
            }
            let family = if g.v6.group_of(*id).is_some() {
                &mut g.v6
            } else {
                &mut g.v4
            };
            Ok(Some(family.leave(*id)))
        }
    }
}

/// Rebuilds a channel's groupings from its rows; `next` is the next group id of each family.
async fn load(
    tx: &mut Tx,
    channel: ChannelId,
    k: usize,
    next: (GroupId, GroupId),
) -> Result<Groupings, ApiErr> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.id, s.metro_id, s.group_id, g.epoch FROM sessions s \
         JOIN repair_groups g ON g.channel_id = s.channel_id AND g.id = s.group_id \
         WHERE s.channel_id = $1 ORDER BY s.group_id, s.pos",
    )
    .bind(i64::from(channel.0))
    .fetch_all(&mut **tx)
    .await?;
    let mut groups: BTreeMap<GroupId, StoredGroup> = BTreeMap::new();
    for (session, metro, group, epoch) in rows {
        let group = GroupId(group as u64);
        let stored = groups.entry(group).or_insert_with(|| StoredGroup {
            id: group,
            epoch: GroupEpoch(epoch as u32),
            members: Vec::new(),
        });
        stored
            .members
            .push((SessionId(session as u64), MetroId(metro as u32)));
    }
    // Groups of one are in neither family's grouping.
    let (v6, v4): (Vec<StoredGroup>, Vec<StoredGroup>) = groups
        .into_values()
        .filter(|g| !crate::solo::is_solo(g.id))
        .partition(|g| g.id.0 >= V6_GROUPS);
    let restore = |groups: Vec<StoredGroup>, next| {
        Grouping::restore(k, Policy::CrossMetro, groups, next).map_err(|e| {
            tracing::error!("channel {channel}: stored groups are inconsistent: {e}");
            ApiErr::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "inconsistent groups",
            )
        })
    };
    Ok(Groupings {
        v4: restore(v4, next.0)?,
        v6: restore(v6, next.1)?,
    })
}

/// Writes the changed groups (new epoch, fresh key), their members' places, and deletes the
/// row of the session that left (`gone`). Session rows are written in session id order, the
/// order the write-behind of heartbeats locks them in (`tasks::flush_sessions`), so that a
/// change through one instance and a write-behind through another cannot deadlock.
async fn write(
    tx: &mut Tx,
    channel: ChannelId,
    version: i64,
    changes: &[Change],
    gone: Option<SessionId>,
) -> Result<(), ApiErr> {
    let mut rows: Vec<(SessionId, Option<(GroupId, usize)>)> =
        gone.map(|s| (s, None)).into_iter().collect();
    for c in changes {
        let key = if c.members.is_empty() {
            String::new()
        } else {
            new_key()
        };
        sqlx::query(
            "INSERT INTO repair_groups (channel_id, id, epoch, gkey, changed_version) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel_id, id) DO UPDATE SET epoch = excluded.epoch, gkey = excluded.gkey, changed_version = excluded.changed_version",
        )
        .bind(i64::from(channel.0))
        .bind(c.group.0 as i64)
        .bind(i64::from(c.epoch.0))
        .bind(key)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        rows.extend(
            c.members
                .iter()
                .enumerate()
                .map(|(pos, s)| (*s, Some((c.group, pos)))),
        );
    }
    rows.sort_unstable_by_key(|r| r.0);
    for (s, place) in rows {
        let query = match place {
            Some((group, pos)) => {
                sqlx::query("UPDATE sessions SET group_id = $1, pos = $2 WHERE id = $3")
                    .bind(group.0 as i64)
                    .bind(pos as i64)
            }
            None => sqlx::query("DELETE FROM sessions WHERE id = $1"),
        };
        query.bind(s.0 as i64).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Which groups a refresh re-reads.
enum Which {
    /// Those changed after this channel version.
    ChangedAfter(i64),
    /// This one (the channel's own number).
    Group(GroupId),
}

/// Re-reads the groups of `channel` changed since the cache's version into the cache, then
/// records `version` as known.
pub(crate) async fn refresh(
    app: &App,
    channel: ChannelId,
    state: &mut SyncState,
    version: i64,
) -> Result<(), ApiErr> {
    if version <= state.known {
        return Ok(());
    }
    reload(app, channel, Which::ChangedAfter(state.known)).await?;
    state.known = version;
    Ok(())
}

/// Loads one group (a session this instance has not seen yet, e.g. opened through another
/// instance a moment ago).
pub(crate) async fn load_group(
    app: &App,
    channel: ChannelId,
    group: GroupId,
) -> Result<(), ApiErr> {
    reload(app, channel, Which::Group(group)).await
}

/// A member row: session, user, metro id, metro, peer, group, stats JSON, last seen, opened.
type MemberRow = (i64, String, i64, String, String, i64, String, i64, i64);

async fn reload(app: &App, channel: ChannelId, which: Which) -> Result<(), ApiErr> {
    // The filter is one of two constants: no input reaches the SQL text.
    let (filter, arg) = match which {
        Which::ChangedAfter(v) => ("changed_version > $2", v),
        Which::Group(g) => ("id = $2", g.0 as i64),
    };
    // Both reads in one snapshot: with a second instance committing in between, the members
    // would name a group the first read did not see, and the cache would lose their sessions.
    let mut tx = crate::db::snapshot(&app.db).await?;
    let groups: Vec<(i64, i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, epoch, gkey FROM repair_groups WHERE channel_id = $1 AND {filter}"
    )))
    .bind(i64::from(channel.0))
    .bind(arg)
    .fetch_all(&mut *tx)
    .await?;
    let members: Vec<MemberRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT s.id, s.user_name, s.metro_id, m.name, s.peer_addr, s.group_id, s.stats, s.last_seen_ms, s.created_ms \
         FROM sessions s JOIN metros m ON m.id = s.metro_id \
         WHERE s.channel_id = $1 AND s.group_id IN (SELECT id FROM repair_groups WHERE channel_id = $1 AND {filter}) \
         ORDER BY s.group_id, s.pos"
    )))
    .bind(i64::from(channel.0))
    .bind(arg)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    install(app, channel, &groups, members);
    Ok(())
}

/// Puts re-read groups and members into the cache; members of those groups that are in no
/// re-read group any more have left.
fn install(app: &App, channel: ChannelId, groups: &[(i64, i64, String)], members: Vec<MemberRow>) {
    let mut live = app.live();
    let changed: HashSet<GroupId> = groups
        .iter()
        .map(|g| global_group(channel, GroupId(g.0 as u64)))
        .collect();
    let mut by_group: BTreeMap<GroupId, Vec<MemberInfo>> = BTreeMap::new();
    let mut present = HashSet::new();
    for (id, user, metro_id, metro, peer, group, stats, seen, opened) in members {
        let (id, group) = (
            SessionId(id as u64),
            global_group(channel, GroupId(group as u64)),
        );
        present.insert(id);
        by_group.entry(group).or_default().push(MemberInfo {
            session: id,
            metro: metro.clone(),
            peer_addr: peer,
            key: String::new(),
        });
        let entry = live.sessions.entry(id).or_insert_with(|| LiveSession {
            user,
            channel,
            metro_id: MetroId(metro_id as u32),
            metro,
            group,
            stats: serde_json::from_str::<ClientStats>(&stats).unwrap_or_default(),
            last_seen_ms: seen,
            unicast: None,
            opened_ms: opened,
            dirty: false,
        });
        entry.group = group;
    }
    live.sessions
        .retain(|id, s| !changed.contains(&s.group) || present.contains(id));
    for (id, epoch, key) in groups {
        let gid = global_group(channel, GroupId(*id as u64));
        match by_group.remove(&gid) {
            Some(members) => {
                let a = Assignment {
                    group: gid,
                    epoch: GroupEpoch(*epoch as u32),
                    members,
                    media_keys: Vec::new(),
                    unicast: None,
                    backups: Vec::new(),
                };
                // A stored secret that is not 64 hex digits (never written so) gives a group
                // nobody can talk in, rather than a panic.
                let secret = groupcast_api::parse_key(key).unwrap_or_else(|| {
                    tracing::error!("group {gid}: stored key is not 64 hex digits");
                    crate::db::random_bytes::<32>()
                });
                live.groups.insert(
                    gid,
                    Arc::new(CachedGroup {
                        secret,
                        assignment: a,
                    }),
                );
            }
            None => {
                live.groups.remove(&gid);
            }
        }
    }
    crate::live::backups::repair(&mut live, channel);
}
