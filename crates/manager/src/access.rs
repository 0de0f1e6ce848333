//! Revocation that ends access (issue 13, finding 3).
//!
//! Entitlements are checked where access is granted, against the database, and ordered with
//! revocation by the channel's row lock:
//! - a join checks the user's entitlement inside its membership transaction, which holds the
//!   channel's row (PostgreSQL) or the write lock (SQLite);
//! - a revocation deletes the entitlement under the same lock, then ends the user's sessions
//!   of that channel as leaves (their groups get a new epoch and key), so no join can slip
//!   between the check and the end of the sessions;
//! - a heartbeat (which hands out the group key) checks the caller's entitlements, and an
//!   SSE stream re-checks them in the database before every event;
//! - every change of users or entitlements bumps `auth_version` in its transaction; each
//!   instance polls it with the channels' versions and drops its token cache when it moved,
//!   and a token loaded while it moved is not cached.

use crate::App;
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::ApiErr;
use groupcast_api::ChannelId;
use sqlx::AnyPool;

/// Takes the channel's lock for the rest of `tx` without changing it: the row lock on
/// PostgreSQL, the database's write lock on SQLite. False when the channel does not exist.
pub(crate) async fn lock_channel(tx: &mut Tx, channel: ChannelId) -> Result<bool, ApiErr> {
    let locked = sqlx::query("UPDATE channels SET version = version WHERE id = $1")
        .bind(i64::from(channel.0))
        .execute(&mut **tx)
        .await?;
    Ok(locked.rows_affected() > 0)
}

/// SQL true when user `$1` exists and is an admin or entitled to channel `$2`.
const MAY_WATCH: &str = "SELECT COUNT(*) FROM users u WHERE u.name = $1 AND (u.role = 'admin' \
     OR EXISTS (SELECT 1 FROM entitlements e WHERE e.user_name = u.name AND e.channel_id = $2))";

/// Fails with 404 unless `user` may watch `channel` as of `tx` (a join's own transaction): to
/// a viewer, a channel it may not watch is one that does not exist.
pub(crate) async fn check_in(tx: &mut Tx, user: &str, channel: ChannelId) -> Result<(), ApiErr> {
    let (n,): (i64,) = sqlx::query_as(MAY_WATCH)
        .bind(user)
        .bind(i64::from(channel.0))
        .fetch_one(&mut **tx)
        .await?;
    if n == 0 {
        return Err(ApiErr::not_found("no such channel"));
    }
    Ok(())
}

/// True when `user` may watch `channel` now (read from the database, not the token cache).
pub(crate) async fn may_watch_now(db: &AnyPool, user: &str, channel: ChannelId) -> bool {
    let found: Result<(i64,), _> = sqlx::query_as(MAY_WATCH)
        .bind(user)
        .bind(i64::from(channel.0))
        .fetch_one(db)
        .await;
    matches!(found, Ok((n,)) if n > 0)
}

/// Fails with 403 unless the (cached, at most one poll old) caller may watch `channel`.
pub(crate) fn check_cached(caller: &Caller, channel: ChannelId) -> Result<(), ApiErr> {
    if caller.may_watch(channel) {
        Ok(())
    } else {
        Err(revoked())
    }
}

fn revoked() -> ApiErr {
    ApiErr::forbidden("not entitled to this channel (revoked?)")
}

/// Bumps `auth_version` in `tx`; returns the new version.
pub(crate) async fn bump(tx: &mut Tx) -> Result<i64, ApiErr> {
    sqlx::query("UPDATE auth_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM auth_version WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    Ok(v)
}

/// Reads `auth_version` and drops the token cache when it moved (another instance changed
/// users or entitlements).
pub(crate) async fn poll(app: &App) -> Result<(), ApiErr> {
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM auth_version WHERE id = 1")
        .fetch_one(&app.db)
        .await?;
    app.auth.advance(v);
    Ok(())
}

/// Deletes `user`'s entitlement to `channel` under the channel's lock and bumps
/// `auth_version`; the caller then ends the user's sessions there.
pub(crate) async fn revoke(app: &App, user: &str, channel: ChannelId) -> Result<(), ApiErr> {
    let mut tx = app.db.begin().await?;
    lock_channel(&mut tx, channel).await?;
    sqlx::query("DELETE FROM entitlements WHERE user_name = $1 AND channel_id = $2")
        .bind(user)
        .bind(i64::from(channel.0))
        .execute(&mut *tx)
        .await?;
    let v = bump(&mut tx).await?;
    tx.commit().await?;
    app.auth.advance(v);
    Ok(())
}

/// Bumps `auth_version` in a transaction of its own (after a grant or a user's deletion).
pub(crate) async fn bumped(app: &App) -> Result<(), ApiErr> {
    let mut tx = app.db.begin().await?;
    let v = bump(&mut tx).await?;
    tx.commit().await?;
    app.auth.advance(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_api::Role;

    #[test]
    fn cached_check_follows_the_callers_channels() {
        let viewer = Caller {
            name: "v".into(),
            role: Role::Viewer,
            channels: [ChannelId(3)].into(),
        };
        assert!(check_cached(&viewer, ChannelId(3)).is_ok());
        let refused = check_cached(&viewer, ChannelId(4))
            .err()
            .map(|e| e.status.as_u16());
        assert_eq!(refused, Some(403));
        let admin = Caller {
            name: "a".into(),
            role: Role::Admin,
            channels: Default::default(),
        };
        assert!(check_cached(&admin, ChannelId(4)).is_ok());
    }
}
