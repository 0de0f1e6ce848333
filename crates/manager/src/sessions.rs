//! Viewer sessions: open (join a group), heartbeat (the hot path, answered from memory),
//! group events (SSE), close (leave), list.

use crate::App;
use crate::auth::{Auth, Caller};
use crate::channels;
use crate::db::{metro_id, new_session_id, now_ms};
use crate::error::{ApiErr, Body, check_name};
use crate::groups::{NewSession, Op, change, load_group};
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use groupcast_api::{
    Assignment, ChannelId, GroupEpoch, GroupId, Heartbeat, OpenSession, SessionId, SessionInfo,
    SessionView,
};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

/// A session id from the path, or 400.
fn session_id(raw: &str) -> Result<SessionId, ApiErr> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id < 1 << 63)
        .map(SessionId)
        .ok_or_else(|| ApiErr::bad(format!("{raw:?} is not a session id")))
}

/// `POST /api/v1/sessions`.
pub(crate) async fn open(
    State(app): State<App>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Auth(caller): Auth,
    Body(req): Body<OpenSession>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiErr> {
    check_name("metro", &req.metro)?;
    let peer = crate::peer_addr::check(&req.peer_addr, from.ip(), &app.peer_addr_from)
        .inspect_err(|_| app.metrics.refused.peer_addr.inc())?;
    let mut channel = channels::entitled(&app, &caller, &req.channel).await?;
    app.metros
        .admit(&app.db, &req.metro)
        .await
        .inspect_err(|_| app.metrics.refused.metro.inc())?;
    let metro = metro_id(&app.db, &req.metro).await?;
    let id = new_session_id();
    let new = NewSession {
        v6: peer.is_ipv6(),
        id,
        user: caller.name.clone(),
        metro_id: metro,
        peer_addr: peer.to_string(),
        now_ms: now_ms(),
        max_user_sessions: app.max_sessions_per_user,
        repair: req.repair,
    };
    change(&app, channel.id, Op::Join(new)).await?;
    app.metrics.sessions_opened.inc();
    let mut assignment = app
        .live()
        .assignment(id)
        .ok_or_else(|| ApiErr::not_found("session ended while opening"))?;
    crate::extras::fill(&app, &mut assignment, channel.id, id, &req.metro).await?;
    choose_group(&mut channel, &req.metro, peer.is_ipv6());
    let info = SessionInfo {
        session: id,
        channel,
        heartbeat_ms: app.heartbeat_ms,
        timeout_ms: app.timeout_ms,
        assignment,
    };
    Ok((StatusCode::CREATED, Json(info)))
}

/// Sets the group (and SSM source) a viewer of `metro` whose peer address is IPv6 (`v6`) or
/// IPv4 joins: its metro's group when an edge feeds the metro in its family (with the edge's
/// own source address for SSM), else the channel's group of its family (a dual-stack
/// channel's `group6` for IPv6).
fn choose_group(channel: &mut groupcast_api::Channel, metro: &str, v6: bool) {
    let family = |g: &str| g.parse::<SocketAddr>().is_ok_and(|g| g.is_ipv6() == v6);
    if let Some(group) = channel.metro_groups.get(metro).filter(|g| family(g)) {
        channel.group = group.clone();
        channel.source = channel.metro_sources.get(metro).cloned();
    } else if let (true, Some(g6)) = (v6, &channel.group6) {
        channel.group = g6.clone();
        channel.source = channel.source6.clone();
    }
}

/// Makes sure `session` is in the cache (it may have been opened through another instance a
/// moment ago) and belongs to `caller`; returns its channel.
async fn owned(app: &App, caller: &Caller, session: SessionId) -> Result<ChannelId, ApiErr> {
    let cached = app
        .live()
        .sessions
        .get(&session)
        .map(|s| (s.channel, s.user.clone()));
    let (channel, user) = match cached {
        Some(found) => found,
        None => {
            let row: Option<(i64, i64, String)> = sqlx::query_as(
                "SELECT channel_id, group_id, user_name FROM sessions WHERE id = $1",
            )
            .bind(session.0 as i64)
            .fetch_optional(&app.db)
            .await?;
            let (channel, group, user) = row.ok_or_else(gone)?;
            let channel = ChannelId(channel as u32);
            load_group(app, channel, GroupId(group as u64)).await?;
            (channel, user)
        }
    };
    if user != caller.name && !caller.is_admin() {
        return Err(ApiErr::forbidden("not your session"));
    }
    Ok(channel)
}

fn gone() -> ApiErr {
    ApiErr::not_found("no such session (ended): open a new one")
}

/// `POST /api/v1/sessions/{id}/heartbeat`.
pub(crate) async fn heartbeat(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    Body(mut hb): Body<Heartbeat>,
) -> Result<Json<Assignment>, ApiErr> {
    let started = Instant::now();
    let id = session_id(&raw)?;
    if hb.losses.len() > 512 {
        return Err(ApiErr::bad("at most 512 losses per heartbeat"));
    }
    if hb.unicast.as_ref().is_some_and(|r| r.len() > 300) {
        return Err(ApiErr::bad("unicast: at most 300 characters"));
    }
    let channel = owned(&app, &caller, id).await?;
    crate::access::check_cached(&caller, channel)?;
    let now = now_ms();
    let reported = hb.unicast.take();
    let (mut assignment, metro, metro_name, old) = {
        let mut live = app.live();
        let s = live.sessions.get_mut(&id).ok_or_else(gone)?;
        let clamped;
        (hb.stats, clamped) = crate::counters::admit(&s.stats, &hb.stats, now - s.opened_ms);
        if clamped {
            app.metrics.refused.counters.inc();
        }
        let old = std::mem::replace(&mut s.stats, hb.stats.clone());
        s.last_seen_ms = now;
        s.dirty = true;
        let metro = s.metro_id;
        let metro_name = s.metro.clone();
        (
            live.assignment(id).ok_or_else(gone)?,
            metro,
            metro_name,
            old,
        )
    };
    app.stats().record(metro, id, &old, &hb, now);
    crate::extras::fill(&app, &mut assignment, channel, id, &metro_name).await?;
    // The relay a session says feeds it counts only if it is the one its ticket names.
    let fed_by = reported.filter(|r| assignment.unicast.as_ref().is_some_and(|t| t.relay == *r));
    if let Some(s) = app.live().sessions.get_mut(&id) {
        s.unicast = fed_by;
    }
    app.metrics
        .heartbeat_took(started.elapsed().as_micros() as u64);
    Ok(Json(assignment))
}

/// `DELETE /api/v1/sessions/{id}`.
pub(crate) async fn close(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiErr> {
    let id = session_id(&raw)?;
    let channel = owned(&app, &caller, id).await?;
    if !change(&app, channel, Op::Leave(id, None)).await? {
        return Err(gone());
    }
    app.metrics.sessions_closed.inc();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/sessions/{id}/events`: the assignment at once, then on every change of it;
/// the stream ends when the session does.
pub(crate) async fn events(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiErr> {
    let id = session_id(&raw)?;
    let channel = owned(&app, &caller, id).await?;
    crate::access::check_cached(&caller, channel)?;
    let user: std::sync::Arc<str> = caller.name.as_str().into();
    let slot = app.sse_slots.take(id)?;
    let wake = app.sync(channel).wake.subscribe();
    let stopping = app.stopping.subscribe();
    let state = (
        (app, user, slot),
        wake,
        stopping,
        None::<(GroupId, GroupEpoch, Vec<(SessionId, GroupEpoch)>)>,
    );
    let stream = futures_util::stream::unfold(
        state,
        move |((app, user, slot), mut wake, mut stopping, last)| async move {
            loop {
                let mut current = app.live().assignment(id)?;
                // A new group, or new backups (a neighbouring group changed).
                let backups = current
                    .backups
                    .iter()
                    .map(|b| (b.session, b.epoch))
                    .collect();
                let key = (current.group, current.epoch, backups);
                if last.as_ref() != Some(&key) {
                    if !crate::access::may_watch_now(&app.db, &user, channel).await {
                        return None; // revoked: the stream ends, no new key
                    }
                    let metro = app.live().sessions.get(&id).map(|s| s.metro.clone())?;
                    crate::extras::fill(&app, &mut current, channel, id, &metro)
                        .await
                        .ok()?;
                    app.metrics.sse_events.inc();
                    let event = Event::default().event("group").json_data(&current).ok()?;
                    let state = ((app, user, slot), wake, stopping, Some(key));
                    return Some((Ok(event), state));
                }
                tokio::select! {
                    changed = wake.changed() => changed.ok()?,
                    _ = crate::live::stopped(&mut stopping) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Every session with its group (as stored; statistics are at most one flush old).
pub(crate) async fn views(app: &App) -> Result<Vec<SessionView>, ApiErr> {
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        String,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.user_name, c.name, m.name, s.peer_addr, s.channel_id, s.group_id, g.epoch, s.stats, s.last_seen_ms \
         FROM sessions s JOIN channels c ON c.id = s.channel_id JOIN metros m ON m.id = s.metro_id \
         JOIN repair_groups g ON g.channel_id = s.channel_id AND g.id = s.group_id ORDER BY s.id",
    )
    .fetch_all(&app.db)
    .await?;
    let live = app.live();
    Ok(rows
        .into_iter()
        .map(
            |(id, user, channel, metro, peer, ch, group, epoch, stats, seen)| {
                let id = SessionId(id as u64);
                let cached = live.sessions.get(&id);
                SessionView {
                    session: id,
                    user,
                    channel,
                    metro,
                    peer_addr: peer,
                    group: crate::live::global_group(ChannelId(ch as u32), GroupId(group as u64)),
                    epoch: GroupEpoch(epoch as u32),
                    stats: cached.map_or_else(
                        || serde_json::from_str(&stats).unwrap_or_default(),
                        |s| s.stats.clone(),
                    ),
                    last_seen_ms: cached.map_or(seen, |s| s.last_seen_ms.max(seen)),
                    unicast: cached.and_then(|s| s.unicast.clone()),
                }
            },
        )
        .collect())
}

/// `GET /api/v1/sessions` (admin).
pub(crate) async fn list(
    State(app): State<App>,
    Auth(caller): Auth,
) -> Result<Json<Vec<SessionView>>, ApiErr> {
    caller.admin()?;
    Ok(Json(views(&app).await?))
}
