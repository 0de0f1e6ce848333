//! `GET /api/v1/overview`: everything the dashboard draws, in one answer.

use crate::App;
use crate::auth::Auth;
use crate::channels;
use crate::db::now_ms;
use crate::error::ApiErr;
use crate::sessions::views;
use crate::stats::BUCKET_MS;
use axum::Json;
use axum::extract::State;
use groupcast_api::{GroupId, GroupView, MemberInfo, MetroSample, MetroView, Overview};
use std::collections::BTreeMap;

/// How much history the charts get, ms.
const HISTORY_MS: i64 = 5 * 60 * 1000;

/// `GET /api/v1/overview` (admin).
pub(crate) async fn overview(
    State(app): State<App>,
    Auth(caller): Auth,
) -> Result<Json<Overview>, ApiErr> {
    caller.admin()?;
    let now = now_ms();
    let channels = channels::all(&app.db).await?;
    let sessions = views(&app).await?;
    let mut groups: BTreeMap<GroupId, GroupView> = BTreeMap::new();
    let mut viewers: BTreeMap<&str, u32> = BTreeMap::new();
    for s in &sessions {
        *viewers.entry(s.metro.as_str()).or_default() += 1;
        let g = groups.entry(s.group).or_insert_with(|| GroupView {
            channel: s.channel.clone(),
            group: s.group,
            epoch: s.epoch,
            members: Vec::new(),
        });
        g.members.push(MemberInfo {
            session: s.session,
            metro: s.metro.clone(),
            peer_addr: s.peer_addr.clone(),
        });
    }
    let metros = metro_views(&app, now, &viewers).await?;
    let channels = channels
        .into_iter()
        .map(|c| {
            let n = sessions.iter().filter(|s| s.channel == c.name).count() as u32;
            (c, n)
        })
        .collect();
    Ok(Json(Overview {
        now_ms: now,
        channels,
        groups: groups.into_values().collect(),
        sessions,
        metros,
    }))
}

/// Every metro with its recent samples (summed over instances) and the detector's verdict.
async fn metro_views(
    app: &App,
    now: i64,
    viewers: &BTreeMap<&str, u32>,
) -> Result<Vec<MetroView>, ApiErr> {
    let names: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM metros ORDER BY name")
        .fetch_all(&app.db)
        .await?;
    type Row = (i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT metro_id, at_ms, CAST(SUM(received) AS BIGINT), CAST(SUM(lost) AS BIGINT), \
         CAST(SUM(repaired) AS BIGINT), CAST(SUM(unrecovered) AS BIGINT) \
         FROM metro_samples WHERE at_ms > $1 GROUP BY metro_id, at_ms ORDER BY at_ms",
    )
    .bind(now - HISTORY_MS - BUCKET_MS)
    .fetch_all(&app.db)
    .await?;
    let stats = app.stats();
    Ok(names
        .into_iter()
        .map(|(id, name)| {
            let samples = rows
                .iter()
                .filter(|r| r.0 == id)
                .map(|r| MetroSample {
                    at_ms: r.1,
                    received: r.2 as u64,
                    lost: r.3 as u64,
                    repaired: r.4 as u64,
                    unrecovered: r.5 as u64,
                })
                .collect();
            let (shared_loss, flagged) = stats.flag(&name);
            MetroView {
                viewers: viewers.get(name.as_str()).copied().unwrap_or(0),
                name,
                samples,
                shared_loss,
                flagged,
            }
        })
        .collect())
}
