//! Channels: create (admin), list, show, delete (admin).

use crate::App;
use crate::auth::Auth;
use crate::db::is_unique_violation;
use crate::error::{ApiErr, Body, check_name};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use groupcast_api::{Channel, ChannelId, ChannelSpec};
use sqlx::{AnyPool, AssertSqlSafe};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// A channel row: id, name, group, source, chunk, buffer, group size, uplink, relay, IPv6
/// group and source.
type ChannelRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);
/// A metro override row: channel, metro, group, SSM source, relay.
type MetroRow = (i64, String, String, Option<String>, Option<String>);

const SELECT: &str = "SELECT id, name, mgroup, source, chunk_packets, buffer_ms, group_size, \
                      uplink_kbps, relay, group6, source6 FROM channels";
const SELECT_METROS: &str = "SELECT channel_id, metro, mgroup, msource, mrelay FROM metro_groups";

/// The channel named `name`, if any.
pub(crate) async fn by_name(db: &AnyPool, name: &str) -> Result<Option<Channel>, sqlx::Error> {
    let row: Option<ChannelRow> =
        sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE name = $1")))
            .bind(name)
            .fetch_optional(db)
            .await?;
    match row {
        Some(row) => Ok(Some(with_metro_groups(db, row).await?)),
        None => Ok(None),
    }
}

/// The channel with id `id`, if any.
pub(crate) async fn by_id(db: &AnyPool, id: ChannelId) -> Result<Option<Channel>, sqlx::Error> {
    let row: Option<ChannelRow> = sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
        .bind(i64::from(id.0))
        .fetch_optional(db)
        .await?;
    match row {
        Some(row) => Ok(Some(with_metro_groups(db, row).await?)),
        None => Ok(None),
    }
}

/// Every channel, by id.
pub(crate) async fn all(db: &AnyPool) -> Result<Vec<Channel>, sqlx::Error> {
    let rows: Vec<ChannelRow> = sqlx::query_as(AssertSqlSafe(format!("{SELECT} ORDER BY id")))
        .fetch_all(db)
        .await?;
    let overrides: Vec<MetroRow> = sqlx::query_as(SELECT_METROS).fetch_all(db).await?;
    let mut channels: Vec<Channel> = rows.into_iter().map(from_row).collect();
    for row in overrides {
        if let Some(c) = channels.iter_mut().find(|c| i64::from(c.id.0) == row.0) {
            add_metro(c, row);
        }
    }
    Ok(channels)
}

async fn with_metro_groups(db: &AnyPool, row: ChannelRow) -> Result<Channel, sqlx::Error> {
    let mut c = from_row(row);
    let overrides: Vec<MetroRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_METROS} WHERE channel_id = $1"
    )))
    .bind(i64::from(c.id.0))
    .fetch_all(db)
    .await?;
    for row in overrides {
        add_metro(&mut c, row);
    }
    Ok(c)
}

/// Adds a stored metro override (group, SSM source and relay if any) to `c`.
fn add_metro(c: &mut Channel, (_, metro, group, source, relay): MetroRow) {
    if let Some(s) = source {
        c.metro_sources.insert(metro.clone(), s);
    }
    if let Some(r) = relay {
        c.metro_relays.insert(metro.clone(), r);
    }
    c.metro_groups.insert(metro, group);
}

fn from_row(
    (id, name, group, source, chunk, buffer, k, uplink, relay, group6, source6): ChannelRow,
) -> Channel {
    Channel {
        id: ChannelId(id as u32),
        name,
        group,
        source,
        metro_groups: BTreeMap::new(),
        metro_sources: BTreeMap::new(),
        chunk_packets: chunk as u32,
        buffer_ms: buffer as u32,
        group_size: k as u32,
        uplink_kbps: uplink.clamp(0, i64::from(u32::MAX)) as u32,
        relay,
        metro_relays: BTreeMap::new(),
        group6,
        source6,
    }
}

/// A relay's `HOST:PORT` (an IP or a DNS name, and a non-zero port), checked.
fn relay_addr(what: &str, addr: &str) -> Result<String, ApiErr> {
    let bad = || {
        ApiErr::bad(format!(
            "{what}: {addr:?} is not HOST:PORT (an IP address or DNS name, and a port)"
        ))
    };
    if addr.parse::<SocketAddr>().is_ok_and(|a| a.port() != 0) {
        return Ok(addr.to_owned());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    match port.parse::<u16>() {
        Ok(p) if p != 0 && name_ok => Ok(addr.to_owned()),
        _ => Err(bad()),
    }
}

/// A multicast `IP:PORT`, checked.
fn multicast(what: &str, addr: &str) -> Result<String, ApiErr> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| ApiErr::bad(format!("{what}: {addr:?} is not IP:PORT")))?;
    if !parsed.ip().is_multicast() || parsed.port() == 0 {
        return Err(ApiErr::bad(format!(
            "{what}: {addr} is not a multicast group with a port"
        )));
    }
    Ok(parsed.to_string())
}

/// An SSM source address for `group` (checked `IP:PORT`): an IP of the group's family.
fn ssm_source(what: &str, s: &str, group: &str) -> Result<String, ApiErr> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| ApiErr::bad(format!("{what}: {s:?} is not an IP address")))?;
    let v4_group = group.parse::<SocketAddr>().is_ok_and(|g| g.is_ipv4());
    if ip.is_ipv4() != v4_group || ip.is_multicast() || ip.is_unspecified() {
        return Err(ApiErr::bad(format!(
            "{what}: {s} is not a unicast address of the family of {group}"
        )));
    }
    Ok(ip.to_string())
}

/// Checks a spec and fills in the defaults.
fn validate(spec: ChannelSpec) -> Result<Channel, ApiErr> {
    check_name("channel name", &spec.name)?;
    let group = multicast("group", &spec.group)?;
    let source = match spec.source.as_deref() {
        Some(s) => Some(ssm_source("source", s, &group)?),
        None => None,
    };
    let mut metro_groups = BTreeMap::new();
    for (metro, addr) in &spec.metro_groups {
        check_name("metro name", metro)?;
        metro_groups.insert(metro.clone(), multicast(&format!("metro {metro}"), addr)?);
    }
    let mut metro_sources = BTreeMap::new();
    for (metro, s) in &spec.metro_sources {
        let Some(mgroup) = metro_groups.get(metro) else {
            return Err(ApiErr::bad(format!(
                "metro_sources: metro {metro} has no metro group (its viewers join the channel's group)"
            )));
        };
        let what = format!("metro {metro} source");
        metro_sources.insert(metro.clone(), ssm_source(&what, s, mgroup)?);
    }
    // An edge sends from its own address: a viewer handed (central source, edge group) would
    // receive nothing, so an SSM channel names each edge's source.
    if source.is_some()
        && let Some(metro) = metro_groups
            .keys()
            .find(|m| !metro_sources.contains_key(*m))
    {
        return Err(ApiErr::bad(format!(
            "metro {metro}: a source-specific channel needs the source address its edge sends \
             from (metro_sources)"
        )));
    }
    // A dual-stack channel: an IPv4 group and an IPv6 one, each viewer joins its family's.
    let group6 = match spec.group6.as_deref() {
        Some(g6) => {
            let g6 = multicast("group6", g6)?;
            if g6.parse::<SocketAddr>().is_ok_and(|g| g.is_ipv4())
                || group.parse::<SocketAddr>().is_ok_and(|g| g.is_ipv6())
            {
                return Err(ApiErr::bad(
                    "a dual-stack channel has an IPv4 group and an IPv6 group6",
                ));
            }
            Some(g6)
        }
        None => None,
    };
    let source6 = match (spec.source6.as_deref(), &group6) {
        (Some(s), Some(g6)) => Some(ssm_source("source6", s, g6)?),
        (Some(_), None) => return Err(ApiErr::bad("source6 needs group6")),
        (None, _) => None,
    };
    let relay = spec
        .relay
        .as_deref()
        .map(|r| relay_addr("relay", r))
        .transpose()?;
    let mut metro_relays = BTreeMap::new();
    for (metro, r) in &spec.metro_relays {
        if !metro_groups.contains_key(metro) {
            return Err(ApiErr::bad(format!(
                "metro_relays: metro {metro} has no metro group (its relay is the edge that \
                 feeds it; name the central's in relay)"
            )));
        }
        metro_relays.insert(
            metro.clone(),
            relay_addr(&format!("metro {metro} relay"), r)?,
        );
    }
    let bounded =
        |what: &str, v: Option<u32>, default: u32, range: std::ops::RangeInclusive<u32>| {
            let v = v.unwrap_or(default);
            if range.contains(&v) {
                Ok(v)
            } else {
                Err(ApiErr::bad(format!(
                    "{what} must be in {}..={}",
                    range.start(),
                    range.end()
                )))
            }
        };
    Ok(Channel {
        id: ChannelId(0),
        name: spec.name,
        group,
        source,
        metro_groups,
        metro_sources,
        chunk_packets: bounded("chunk_packets", spec.chunk_packets, 32, 1..=1024)?,
        buffer_ms: bounded("buffer_ms", spec.buffer_ms, 1000, 50..=60_000)?,
        group_size: bounded("group_size", spec.group_size, 5, 2..=16)?,
        uplink_kbps: bounded("uplink_kbps", spec.uplink_kbps, 0, 0..=100_000_000)?,
        relay,
        metro_relays,
        group6,
        source6,
    })
}

/// `POST /api/v1/channels`.
pub(crate) async fn create(
    State(app): State<App>,
    Auth(caller): Auth,
    Body(spec): Body<ChannelSpec>,
) -> Result<(StatusCode, Json<Channel>), ApiErr> {
    caller.admin()?;
    let mut channel = validate(spec)?;
    for _ in 0..5 {
        match insert(&app.db, &channel).await {
            Ok(id) => {
                channel.id = id;
                return Ok((StatusCode::CREATED, Json(channel)));
            }
            Err(e) if is_unique_violation(&e) => {
                if by_name(&app.db, &channel.name).await?.is_some() {
                    return Err(ApiErr::conflict(format!("channel {} exists", channel.name)));
                }
                // Another instance took the same id at the same time: try the next one.
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiErr::conflict(
        "could not allocate a channel id, try again",
    ))
}

async fn insert(db: &AnyPool, c: &Channel) -> Result<ChannelId, sqlx::Error> {
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM channels")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO channels (id, name, mgroup, source, chunk_packets, buffer_ms, group_size, \
         uplink_kbps, relay, group6, source6) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(&c.name)
    .bind(&c.group)
    .bind(c.source.clone())
    .bind(i64::from(c.chunk_packets))
    .bind(i64::from(c.buffer_ms))
    .bind(i64::from(c.group_size))
    .bind(i64::from(c.uplink_kbps))
    .bind(c.relay.clone())
    .bind(c.group6.clone())
    .bind(c.source6.clone())
    .execute(&mut *tx)
    .await?;
    for (metro, group) in &c.metro_groups {
        sqlx::query(
            "INSERT INTO metro_groups (channel_id, metro, mgroup, msource, mrelay) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(metro)
        .bind(group)
        .bind(c.metro_sources.get(metro).cloned())
        .bind(c.metro_relays.get(metro).cloned())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ChannelId(id as u32))
}

/// `GET /api/v1/channels`: all for admins, the entitled ones for viewers.
pub(crate) async fn list(
    State(app): State<App>,
    Auth(caller): Auth,
) -> Result<Json<Vec<Channel>>, ApiErr> {
    let mut channels = all(&app.db).await?;
    channels.retain(|c| caller.may_watch(c.id));
    Ok(Json(channels))
}

/// The channel named `name`, or 404, also when the caller may not watch it: a viewer cannot
/// tell a channel it is not entitled to from one that does not exist (issue 13, finding 7).
pub(crate) async fn entitled(
    app: &App,
    caller: &crate::auth::Caller,
    name: &str,
) -> Result<Channel, ApiErr> {
    by_name(&app.db, name)
        .await?
        .filter(|c| caller.may_watch(c.id))
        .ok_or_else(|| ApiErr::not_found(format!("no channel {name:?}")))
}

/// `GET /api/v1/channels/{name}`.
pub(crate) async fn show(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> Result<Json<Channel>, ApiErr> {
    Ok(Json(entitled(&app, &caller, &name).await?))
}

/// `DELETE /api/v1/channels/{name}`: its sessions end with it.
pub(crate) async fn remove(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiErr> {
    caller.admin()?;
    let channel = by_name(&app.db, &name)
        .await?
        .ok_or_else(|| ApiErr::not_found(format!("no channel {name:?}")))?;
    sqlx::query("DELETE FROM channels WHERE id = $1")
        .bind(i64::from(channel.id.0))
        .execute(&app.db)
        .await?;
    app.drop_channel(channel.id);
    app.auth.clear();
    Ok(StatusCode::NO_CONTENT)
}
