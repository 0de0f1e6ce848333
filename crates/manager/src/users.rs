//! Users and entitlements: create (the token is shown once), list, delete, grant, revoke, me.

use crate::App;
use crate::auth::{Auth, parse_role, role_str};
use crate::channels;
use crate::db::{hash_token, is_unique_violation, new_token, now_ms};
use crate::error::{ApiErr, Body, check_name};
use crate::groups::{Op, change};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use groupcast_api::{ChannelId, CreatedUser, NewUser, SessionId, User};

/// Every user with its channels' names.
async fn all(app: &App) -> Result<Vec<User>, ApiErr> {
    let users: Vec<(String, String)> = sqlx::query_as("SELECT name, role FROM users ORDER BY name")
        .fetch_all(&app.db)
        .await?;
    let grants: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.user_name, c.name FROM entitlements e JOIN channels c ON c.id = e.channel_id ORDER BY c.name",
    )
    .fetch_all(&app.db)
    .await?;
    Ok(users
        .into_iter()
        .map(|(name, role)| User {
            channels: grants
                .iter()
                .filter(|g| g.0 == name)
                .map(|g| g.1.clone())
                .collect(),
            name,
            role: parse_role(&role),
        })
        .collect())
}

/// `GET /api/v1/me`.
pub(crate) async fn me(State(app): State<App>, Auth(caller): Auth) -> Result<Json<User>, ApiErr> {
    let user = all(&app).await?.into_iter().find(|u| u.name == caller.name);
    user.map(Json).ok_or_else(|| ApiErr::not_found("user gone"))
}

/// `GET /api/v1/users`.
pub(crate) async fn list(
    State(app): State<App>,
    Auth(caller): Auth,
) -> Result<Json<Vec<User>>, ApiErr> {
    caller.admin()?;
    Ok(Json(all(&app).await?))
}

/// `POST /api/v1/users`.
pub(crate) async fn create(
    State(app): State<App>,
    Auth(caller): Auth,
    Body(new): Body<NewUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiErr> {
    caller.admin()?;
    check_name("user name", &new.name)?;
    let mut ids = Vec::new();
    for name in &new.channels {
        let c = channels::by_name(&app.db, name)
            .await?
            .ok_or_else(|| ApiErr::bad(format!("no channel {name:?}")))?;
        ids.push(c.id);
    }
    let token = new_token();
    let mut tx = app.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO users (name, role, token_hash, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(&new.name)
    .bind(role_str(new.role))
    .bind(hash_token(&token))
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiErr::conflict(format!("user {} exists", new.name)));
        }
        other => other?,
    };
    for id in ids {
        sqlx::query("INSERT INTO entitlements (user_name, channel_id) VALUES ($1, $2)")
            .bind(&new.name)
            .bind(i64::from(id.0))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let user = User {
        name: new.name,
        role: new.role,
        channels: new.channels,
    };
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

/// `DELETE /api/v1/users/{name}`: its sessions end first (as leaves, so groups refill).
pub(crate) async fn remove(
    State(app): State<App>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiErr> {
    caller.admin()?;
    if name == caller.name {
        return Err(ApiErr::bad("an admin cannot delete itself"));
    }
    // Its entitlements go first, under each channel's lock: no session opens meanwhile.
    let granted: Vec<(i64,)> =
        sqlx::query_as("SELECT channel_id FROM entitlements WHERE user_name = $1")
            .bind(&name)
            .fetch_all(&app.db)
            .await?;
    for (channel,) in granted {
        crate::access::revoke(&app, &name, ChannelId(channel as u32)).await?;
    }
    let sessions: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, channel_id FROM sessions WHERE user_name = $1")
            .bind(&name)
            .fetch_all(&app.db)
            .await?;
    for (id, channel) in sessions {
        change(
            &app,
            ChannelId(channel as u32),
            Op::Leave(SessionId(id as u64), None),
        )
        .await?;
    }
    let done = sqlx::query("DELETE FROM users WHERE name = $1")
        .bind(&name)
        .execute(&app.db)
        .await?;
    crate::access::bumped(&app).await?;
    if done.rows_affected() == 0 {
        return Err(ApiErr::not_found(format!("no user {name:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The user and channel of a grant or revoke, checked.
async fn grant_target(app: &App, user: &str, channel: &str) -> Result<ChannelId, ApiErr> {
    let found: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE name = $1")
        .bind(user)
        .fetch_optional(&app.db)
        .await?;
    if found.is_none() {
        return Err(ApiErr::not_found(format!("no user {user:?}")));
    }
    let c = channels::by_name(&app.db, channel)
        .await?
        .ok_or_else(|| ApiErr::not_found(format!("no channel {channel:?}")))?;
    Ok(c.id)
}

/// `PUT /api/v1/users/{name}/channels/{channel}`.
pub(crate) async fn grant(
    State(app): State<App>,
    Auth(caller): Auth,
    Path((user, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiErr> {
    caller.admin()?;
    let id = grant_target(&app, &user, &channel).await?;
    let result = sqlx::query("INSERT INTO entitlements (user_name, channel_id) VALUES ($1, $2)")
        .bind(&user)
        .bind(i64::from(id.0))
        .execute(&app.db)
        .await;
    match result {
        Err(e) if is_unique_violation(&e) => {} // already granted: PUT is idempotent
        other => {
            other?;
        }
    }
    crate::access::bumped(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/{name}/channels/{channel}`: the user's sessions there end.
pub(crate) async fn revoke(
    State(app): State<App>,
    Auth(caller): Auth,
    Path((user, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiErr> {
    caller.admin()?;
    let id = grant_target(&app, &user, &channel).await?;
    crate::access::revoke(&app, &user, id).await?;
    // Its sessions on that channel end (as leaves, so their groups refill).
    let sessions: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM sessions WHERE user_name = $1 AND channel_id = $2")
            .bind(&user)
            .bind(i64::from(id.0))
            .fetch_all(&app.db)
            .await?;
    for (session,) in sessions {
        change(&app, id, Op::Leave(SessionId(session as u64), None)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
