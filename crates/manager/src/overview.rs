//! `GET /api/v1/overview`: everything the dashboard draws, in one answer.

use crate::App;
use crate::auth::Auth;
use crate::channels;
use crate::counters::from_db;
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
            key: String::new(),
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

/// The recent samples by (metro id, bucket), summed over instances in Rust with saturation
/// (an SQL `SUM` of large client-supplied counts overflowed and failed the overview).
async fn summed_samples(app: &App, now: i64) -> Result<BTreeMap<(i64, i64), MetroSample>, ApiErr> {
    type Row = (i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT metro_id, at_ms, received, lost, repaired, unrecovered \
         FROM metro_samples WHERE at_ms > $1",
    )
    .bind(now - HISTORY_MS - BUCKET_MS)
    .fetch_all(&app.db)
    .await?;
    let mut sums: BTreeMap<(i64, i64), MetroSample> = BTreeMap::new();
    for (metro, at_ms, received, lost, repaired, unrecovered) in rows {
        let s = sums.entry((metro, at_ms)).or_insert_with(|| MetroSample {
            at_ms,
            ..MetroSample::default()
        });
        s.received = s.received.saturating_add(from_db(received));
        s.lost = s.lost.saturating_add(from_db(lost));
        s.repaired = s.repaired.saturating_add(from_db(repaired));
        s.unrecovered = s.unrecovered.saturating_add(from_db(unrecovered));
    }
    Ok(sums)
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
    let rows = summed_samples(app, now).await?;
    let stats = app.stats();
    Ok(names
        .into_iter()
        .map(|(id, name)| {
            let samples = rows
                .range((id, i64::MIN)..=(id, i64::MAX))
                .map(|(_, s)| s.clone())
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
