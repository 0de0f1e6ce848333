//! What an instance keeps in memory: live sessions with their latest statistics, every
//! group's current [`Assignment`], and per channel the lock, the last database version seen
//! and the wake-up signal for SSE streams. The database stays the truth; this is a cache that
//! is refreshed after every membership change, local or (by polling) remote.

use crate::auth::AuthCache;
use crate::metrics::Metrics;
use crate::stats::Stats;
use groupcast_api::{Assignment, ClientStats};
use groupcast_grouping::Grouping;
use sqlx::AnyPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// A live session as this instance knows it.
#[derive(Clone, Debug)]
pub(crate) struct LiveSession {
    /// Its user (only that user, or an admin, may use it).
    pub(crate) user: String,
    /// Its channel.
    pub(crate) channel: u32,
    /// Its metro, by id (statistics) and by name (members lists).
    pub(crate) metro_id: u32,
    /// Its metro's name.
    pub(crate) metro: String,
    /// Its group, as the API numbers groups ([`global_group`]).
    pub(crate) group: u64,
    /// Its latest reported statistics.
    pub(crate) stats: ClientStats,
    /// Unix ms of its latest heartbeat (or of its opening).
    pub(crate) last_seen_ms: i64,
    /// Unix ms of its opening: bounds how far its counters can have gone.
    pub(crate) opened_ms: i64,
    /// Changed since the last write-behind.
    pub(crate) dirty: bool,
}

/// The live sessions and groups of every channel.
#[derive(Default)]
pub(crate) struct Live {
    /// Sessions by id.
    pub(crate) sessions: HashMap<u64, LiveSession>,
    /// Current assignment of every non-empty group, by API group id.
    pub(crate) groups: HashMap<u64, Arc<Assignment>>,
}

impl Live {
    /// The current assignment of `session`.
    pub(crate) fn assignment(&self, session: u64) -> Option<Arc<Assignment>> {
        let s = self.sessions.get(&session)?;
        self.groups.get(&s.group).cloned()
    }
}

/// The API's group id: channel id in the high half, the channel's own group number below, so
/// group ids are unique across channels.
pub(crate) fn global_group(channel: u32, local: u64) -> u64 {
    (u64::from(channel) << 32) | (local & 0xffff_ffff)
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
    pub(crate) grouping: Option<(i64, Grouping)>,
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
    pub(crate) channels: Mutex<HashMap<u32, Arc<ChannelSync>>>,
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
    /// SSE streams open per session, capped.
    pub(crate) sse_slots: crate::limits::SseSlots,
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
    pub(crate) fn sync(&self, channel: u32) -> Arc<ChannelSync> {
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
    pub(crate) fn drop_channel(&self, channel: u32) {
        let removed = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&channel);
        {
            let mut live = self.live();
            live.sessions.retain(|_, s| s.channel != channel);
            live.groups.retain(|g, _| (g >> 32) as u32 != channel);
        }
        if let Some(sync) = removed {
            sync.wake.send_modify(|v| *v += 1);
        }
    }
}
