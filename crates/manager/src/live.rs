//! What an instance keeps in memory: live sessions with their latest statistics, every
//! group's current [`Assignment`], and per channel the lock, the last database version seen
//! and the wake-up signal for SSE streams. The database stays the truth; this is a cache that
//! is refreshed after every membership change, local or (by polling) remote.

use crate::auth::AuthCache;
use crate::metrics::Metrics;
use crate::stats::Stats;
use groupcast_api::{Assignment, ChannelId, ClientStats, GroupId, SessionId};
use groupcast_grouping::{Grouping, MetroId};
use groupcast_wire::proto::{KEY_LEN, pair_key};
use sqlx::AnyPool;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

pub(crate) mod backups;

/// A live session as this instance knows it.
#[derive(Clone, Debug)]
pub(crate) struct LiveSession {
    /// Its user (only that user, or an admin, may use it).
    pub(crate) user: String,
    /// Its channel.
    pub(crate) channel: ChannelId,
    /// Its metro, by id (statistics) and by name (members lists).
    pub(crate) metro_id: MetroId,
    /// Its metro's name.
    pub(crate) metro: String,
    /// Its group, as the API numbers groups ([`global_group`]).
    pub(crate) group: GroupId,
    /// Its latest reported statistics.
    pub(crate) stats: ClientStats,
    /// Unix ms of its latest heartbeat (or of its opening).
    pub(crate) last_seen_ms: i64,
    /// The relay feeding it by unicast, as its latest heartbeat said.
    pub(crate) unicast: Option<String>,
    /// Unix ms of its opening: bounds how far its counters can have gone.
    pub(crate) opened_ms: i64,
    /// Changed since the last write-behind.
    pub(crate) dirty: bool,
}

/// IPv6 viewers' groups are numbered from here (IPv4 viewers' from 1): the two families are
/// grouped apart, since members of one cannot reach the other's peer sockets.
pub(crate) const V6_GROUPS: u64 = 1 << 31;

/// A channel's groupings: its IPv4 viewers' and its IPv6 viewers'.
pub(crate) struct Groupings {
    /// Viewers whose peer address is IPv4.
    pub(crate) v4: Grouping,
    /// Viewers whose peer address is IPv6 (group ids from [`V6_GROUPS`] to
    /// [`crate::solo::SOLO_GROUPS`]).
    pub(crate) v6: Grouping,
}

/// The live sessions and groups of every channel.
#[derive(Default)]
pub(crate) struct Live {
    /// Sessions by id.
    pub(crate) sessions: HashMap<SessionId, LiveSession>,
    /// Every non-empty group, by API group id (ordered: a channel's groups are one range,
    /// its id in the upper half).
    pub(crate) groups: BTreeMap<GroupId, Arc<CachedGroup>>,
    /// Every session's backups (worked out again whenever a channel's groups are re-read).
    pub(crate) backups: crate::live::backups::Backups,
}

/// A group as the manager keeps it: its secret for the current epoch and its members (with
/// no keys).
pub(crate) struct CachedGroup {
    /// The group's secret; it never leaves the manager.
    pub(crate) secret: [u8; KEY_LEN],
    /// Epoch and members.
    pub(crate) assignment: Assignment,
}

impl Live {
    /// The current assignment of `session`, as handed to it: each other member with the key
    /// the two share ([`pair_key`]), so that the session can authenticate as itself to each
    /// member and cannot speak for any other; and its backups, likewise.
    pub(crate) fn assignment(&self, session: SessionId) -> Option<Assignment> {
        let s = self.sessions.get(&session)?;
        let g = self.groups.get(&s.group)?;
        let mut a = g.assignment.clone();
        for m in a.members.iter_mut().filter(|m| m.session != session) {
            let key = pair_key(&g.secret, a.epoch, session, m.session);
            m.key = groupcast_api::format_key(&key);
        }
        a.backups = crate::live::backups::of(self, session, s.group);
        Some(a)
    }
}

/// The API's group id: channel id in the high half, the channel's own group number below, so
/// group ids are unique across channels.
pub(crate) fn global_group(channel: ChannelId, local: GroupId) -> GroupId {
    GroupId((u64::from(channel.0) << 32) | (local.0 & 0xffff_ffff))
}

/// The channel and the channel's own group number of an API group id ([`global_group`]'s
/// inverse).
pub(crate) fn split_group(group: GroupId) -> (ChannelId, GroupId) {
    (
        ChannelId((group.0 >> 32) as u32),
        GroupId(group.0 & 0xffff_ffff),
    )
}

/// Completes when the server is stopping.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Per-channel synchronisation state (held across a membership transaction).
#[derive(Default)]
pub(crate) struct SyncState {
    /// The channel version this instance's cache reflects.
    pub(crate) known: i64,
    /// The channel's grouping as of `.0` (valid while nobody else changed the channel).
    pub(crate) grouping: Option<(i64, Groupings)>,
}

/// One channel's lock and wake-up signal.
pub(crate) struct ChannelSync {
    /// Serialises this instance's membership changes and refreshes of the channel.
    pub(crate) state: tokio::sync::Mutex<SyncState>,
    /// Bumped after every refresh; SSE streams of the channel wait on it.
    pub(crate) wake: watch::Sender<i64>,
}

/// Everything the handlers and background tasks share.
pub(crate) struct AppState {
    /// The database.
    pub(crate) db: AnyPool,
    /// Heartbeat interval told to clients, ms.
    pub(crate) heartbeat_ms: u32,
    /// Sessions silent for this long are ended, ms.
    pub(crate) timeout_ms: u32,
    /// When this instance started (no session expires in its first `timeout_ms`).
    pub(crate) started_ms: i64,
    /// Sessions and groups.
    pub(crate) live: Mutex<Live>,
    /// Per-channel sync state.
    pub(crate) channels: Mutex<HashMap<ChannelId, Arc<ChannelSync>>>,
    /// Authenticated tokens.
    pub(crate) auth: AuthCache,
    /// Per-metro statistics and loss windows.
    pub(crate) stats: Mutex<Stats>,
    /// Counters for `/metrics`.
    pub(crate) metrics: Metrics,
    /// Set when the server stops: SSE streams end.
    pub(crate) stopping: watch::Sender<bool>,
    /// Callers in these networks may register a `peer_addr` other than their own.
    pub(crate) peer_addr_from: Vec<crate::peer_addr::Network>,
    /// Most sessions per user (`None`: no cap).
    pub(crate) max_sessions_per_user: Option<u32>,
    /// The metros viewers may name, and the cap on metros when that list is empty.
    pub(crate) metros: crate::limits::Metros,
    /// SSE streams open per session, capped.
    pub(crate) sse_slots: crate::limits::SseSlots,
    /// SHA-256 (hex) of the token that may read `/metrics`, if one is configured.
    pub(crate) metrics_token: Option<String>,
    /// Per-user request rates.
    pub(crate) rates: crate::rate::Rates,
    /// Media keys for encrypted channels, when a media secret is configured.
    pub(crate) media: Option<crate::media::Media>,
    /// Tickets for the unicast fallback, when a unicast secret is configured.
    pub(crate) unicast: Option<crate::unicast::Unicast>,
    /// Channels by id, for [`crate::extras`].
    pub(crate) channel_cache: Mutex<HashMap<ChannelId, Arc<groupcast_api::Channel>>>,
}

impl AppState {
    /// The live state, locked (never held across an await).
    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The statistics, locked (never held across an await).
    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sync state of `channel`, created on first use.
    pub(crate) fn sync(&self, channel: ChannelId) -> Arc<ChannelSync> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(channel)
            .or_insert_with(|| {
                Arc::new(ChannelSync {
                    state: tokio::sync::Mutex::new(SyncState {
                        known: -1,
                        grouping: None,
                    }),
                    wake: watch::channel(0).0,
                })
            })
            .clone()
    }

    /// Forgets a deleted channel: its sessions and groups go, its SSE streams end.
    pub(crate) fn drop_channel(&self, channel: ChannelId) {
        let removed = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&channel);
        self.channel_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&channel);
        {
            let mut live = self.live();
            live.sessions.retain(|_, s| s.channel != channel);
            live.groups.retain(|g, _| split_group(*g).0 != channel);
            crate::live::backups::repair(&mut live, channel);
        }
        if let Some(sync) = removed {
            sync.wake.send_modify(|v| *v += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_group_ids_keep_the_channel_in_the_high_half() {
        let g = global_group(ChannelId(3), GroupId(7));
        assert_eq!(g, GroupId((3 << 32) | 7));
        assert_eq!(split_group(g), (ChannelId(3), GroupId(7)));
        // A local number never spills into the channel's half.
        assert_eq!(global_group(ChannelId(1), GroupId(u64::MAX)).0 >> 32, 1);
    }
}
