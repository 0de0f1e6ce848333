//! Bearer-token authentication: the token's SHA-256 is looked up in a short-lived cache, then
//! in the database. Tokens are never logged or stored in clear.

use crate::App;
use crate::db::hash_token;
use crate::error::ApiErr;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use groupcast_api::{ChannelId, Role};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cached token stays valid: bounds how late another instance's revocation is seen.
const TTL: Duration = Duration::from_secs(5);

/// The authenticated caller of a request.
#[derive(Debug)]
pub(crate) struct Caller {
    /// User name.
    pub(crate) name: String,
    /// Role.
    pub(crate) role: Role,
    /// Channels (ids) the user is entitled to.
    pub(crate) channels: HashSet<ChannelId>,
}

impl Caller {
    /// True for admins.
    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Fails unless an admin.
    pub(crate) fn admin(&self) -> Result<(), ApiErr> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiErr::forbidden("admins only"))
        }
    }

    /// True when the caller may watch `channel`.
    pub(crate) fn may_watch(&self, channel: ChannelId) -> bool {
        self.is_admin() || self.channels.contains(&channel)
    }
}

/// Token hash to caller, with the time it was loaded; and the `auth_version` the cache
/// reflects (entries loaded while it moved are not kept).
#[derive(Default)]
pub(crate) struct AuthCache(Mutex<HashMap<String, (Arc<Caller>, Instant)>>, AtomicI64);

impl AuthCache {
    /// Forgets everything (after a change of users or entitlements).
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The `auth_version` this cache reflects.
    fn version(&self) -> i64 {
        self.1.load(SeqCst)
    }

    /// Records that `auth_version` is `v`: when it moved, everything cached is forgotten.
    pub(crate) fn advance(&self, v: i64) {
        if self.1.fetch_max(v, SeqCst) < v {
            self.clear();
        }
    }

    fn get(&self, hash: &str) -> Option<Arc<Caller>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, hash: String, caller: Arc<Caller>, loaded_at_version: i64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if self.version() != loaded_at_version {
            return; // users or entitlements changed while it was loaded
        }
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        map.insert(hash, (caller, Instant::now()));
    }
}

/// The authenticated caller, as an extractor.
pub(crate) struct Auth(pub(crate) Arc<Caller>);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let caller = caller(app, &hash_token(bearer(&parts.headers)?)).await?;
        if let Err(e) = app.rates.check(&caller.name) {
            app.metrics.refused.rate.inc();
            return Err(e);
        }
        Ok(Auth(caller))
    }
}

/// The bearer token of a request (401 without one).
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiErr> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("missing Authorization: Bearer TOKEN"))
}

/// The user whose token hashes to `hash`, from the cache or the database (401 if none).
pub(crate) async fn caller(app: &App, hash: &str) -> Result<Arc<Caller>, ApiErr> {
    if let Some(caller) = app.auth.get(hash) {
        return Ok(caller);
    }
    let version = app.auth.version();
    let caller = Arc::new(load(app, hash).await?);
    app.auth.put(hash.to_string(), caller.clone(), version);
    Ok(caller)
}

fn unauthorized(message: &str) -> ApiErr {
    ApiErr::new(StatusCode::UNAUTHORIZED, message)
}

/// The user whose token hashes to `hash`.
async fn load(app: &App, hash: &str) -> Result<Caller, ApiErr> {
    let user: Option<(String, String)> =
        sqlx::query_as("SELECT name, role FROM users WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&app.db)
            .await?;
    let Some((name, role)) = user else {
        app.metrics.auth_failures.inc();
        return Err(unauthorized("unknown token"));
    };
    let channels: Vec<(i64,)> =
        sqlx::query_as("SELECT channel_id FROM entitlements WHERE user_name = $1")
            .bind(&name)
            .fetch_all(&app.db)
            .await?;
    Ok(Caller {
        name,
        role: parse_role(&role),
        channels: channels
            .into_iter()
            .map(|(c,)| ChannelId(c as u32))
            .collect(),
    })
}

/// A role as stored.
pub(crate) fn parse_role(role: &str) -> Role {
    if role == "admin" {
        Role::Admin
    } else {
        Role::Viewer
    }
}

/// A role as stored.
pub(crate) fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    }
}
