//! Background work: write-behind of heartbeats, statistics buckets and the failing-device
//! detector, expiry of silent sessions, and watching the database for other instances'
//! changes. Each loop ticks at a fixed period and ends when the server stops.

use crate::App;
use crate::counters::to_db;
use crate::db::now_ms;
use crate::groups::{Op, change, refresh};
use crate::stats::BUCKET_MS;
use groupcast_api::{ChannelId, SessionId};
use groupcast_grouping::MetroId;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How often heartbeats are written behind, ms.
const FLUSH_MS: u64 = 500;
/// How often the channels' versions are polled, ms.
const POLL_MS: u64 = 250;

/// Loads every channel's groups (a restart: sessions re-attach where they were).
pub(crate) async fn load_all(app: &App) -> Result<(), crate::error::ApiErr> {
    poll(app).await?;
    // The sessions' last heartbeats are as old as the downtime: count from now, so that
    // clients that kept playing have a full timeout to come back.
    let now = now_ms();
    for s in app.live().sessions.values_mut() {
        s.last_seen_ms = s.last_seen_ms.max(now);
    }
    Ok(())
}

/// Runs every loop until `stopping` is set, then flushes once more.
pub(crate) async fn run(app: App) {
    let mut stopping = app.stopping.subscribe();
    let mut flush = tokio::time::interval(Duration::from_millis(FLUSH_MS));
    let mut poll_tick = tokio::time::interval(Duration::from_millis(POLL_MS));
    let mut bucket = tokio::time::interval(Duration::from_millis(BUCKET_MS as u64));
    let reap_ms = u64::from(app.timeout_ms / 4).clamp(50, 1000);
    let mut reap = tokio::time::interval(Duration::from_millis(reap_ms));
    // A slow database delays the next round rather than causing a burst of them.
    for timer in [&mut flush, &mut poll_tick, &mut bucket, &mut reap] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let result = tokio::select! {
            _ = crate::live::stopped(&mut stopping) => break,
            _ = flush.tick() => flush_sessions(&app).await,
            _ = poll_tick.tick() => poll(&app).await.map_err(|e| sqlx::Error::Protocol(e.message)),
            _ = bucket.tick() => flush_buckets(&app).await,
            _ = reap.tick() => expire(&app).await,
        };
        if let Err(e) = result {
            tracing::warn!("background task: {e}");
        }
    }
    let _ = flush_sessions(&app).await;
    let _ = flush_buckets(&app).await;
}

/// Writes changed sessions' last heartbeat and statistics, in one transaction, in session id
/// order (so that two instances' write-behinds lock rows in one order). When it fails, the
/// sessions are marked changed again, so the next round writes them: a heartbeat's time is
/// never lost (a lost one could expire a session that is alive).
async fn flush_sessions(app: &App) -> Result<(), sqlx::Error> {
    let mut dirty: Vec<(SessionId, i64, String)> = {
        let mut live = app.live();
        live.sessions
            .iter_mut()
            .filter(|(_, s)| s.dirty)
            .map(|(id, s)| {
                s.dirty = false;
                let stats = serde_json::to_string(&s.stats).unwrap_or_default();
                (*id, s.last_seen_ms, stats)
            })
            .collect()
    };
    if dirty.is_empty() {
        return Ok(());
    }
    dirty.sort_unstable_by_key(|d| d.0);
    let written = write_sessions(app, &dirty).await;
    if written.is_err() {
        let mut live = app.live();
        for (id, _, _) in &dirty {
            if let Some(s) = live.sessions.get_mut(id) {
                s.dirty = true;
            }
        }
    }
    written
}

/// The transaction of [`flush_sessions`].
async fn write_sessions(app: &App, dirty: &[(SessionId, i64, String)]) -> Result<(), sqlx::Error> {
    let mut tx = app.db.begin().await?;
    for (id, seen, stats) in dirty {
        sqlx::query("UPDATE sessions SET last_seen_ms = $1, stats = $2 WHERE id = $3")
            .bind(*seen)
            .bind(stats)
            .bind(id.0 as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Writes the statistics buckets and re-runs the failing-device detector.
async fn flush_buckets(app: &App) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let at = now - now.rem_euclid(BUCKET_MS) + BUCKET_MS;
    let mut metros: HashMap<MetroId, (String, u32)> = HashMap::new();
    for s in app.live().sessions.values() {
        metros
            .entry(s.metro_id)
            .or_insert_with(|| (s.metro.clone(), 0))
            .1 += 1;
    }
    let samples = {
        let mut stats = app.stats();
        stats.refresh_flags(&metros, now);
        stats.take_buckets()
    };
    if samples.is_empty() {
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    for (metro, s) in samples {
        sqlx::query(
            "INSERT INTO metro_samples (metro_id, at_ms, received, lost, repaired, unrecovered) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(i64::from(metro.0))
        .bind(at)
        .bind(to_db(s.received))
        .bind(to_db(s.lost))
        .bind(to_db(s.repaired))
        .bind(to_db(s.unrecovered))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM metro_samples WHERE at_ms < $1")
        .bind(now - 3_600_000)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Ends sessions silent for longer than the timeout (not in the first timeout after start).
async fn expire(app: &App) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let timeout = i64::from(app.timeout_ms);
    if now - app.started_ms < timeout {
        return Ok(());
    }
    flush_sessions(app).await?;
    let threshold = now - timeout;
    let stale: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, channel_id FROM sessions WHERE last_seen_ms < $1 LIMIT 1000")
            .bind(threshold)
            .fetch_all(&app.db)
            .await?;
    for (id, channel) in stale {
        let (channel, session) = (ChannelId(channel as u32), SessionId(id as u64));
        match change(app, channel, Op::Leave(session, Some(threshold))).await {
            Ok(true) => {
                app.metrics.sessions_expired.inc();
                tracing::info!("session {id} timed out");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("expiring session {id}: {}", e.message),
        }
    }
    Ok(())
}

/// Refreshes every channel whose version moved (another instance changed it), and forgets
/// deleted channels.
async fn poll(app: &App) -> Result<(), crate::error::ApiErr> {
    crate::access::poll(app).await?;
    let versions: Vec<(i64, i64)> = sqlx::query_as("SELECT id, version FROM channels")
        .fetch_all(&app.db)
        .await?;
    let present: HashSet<ChannelId> = versions.iter().map(|v| ChannelId(v.0 as u32)).collect();
    let known: Vec<ChannelId> = app
        .channels
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .copied()
        .collect();
    for gone in known.into_iter().filter(|c| !present.contains(c)) {
        app.drop_channel(gone);
    }
    for (channel, version) in versions {
        let channel = ChannelId(channel as u32);
        let sync = app.sync(channel);
        if let Ok(mut state) = sync.state.try_lock()
            && version > state.known
        {
            refresh(app, channel, &mut state, version).await?;
            sync.wake.send_modify(|v| *v = version);
        }
        // Locked: a local change is running and refreshes the channel itself.
    }
    Ok(())
}
