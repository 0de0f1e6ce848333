//! Caps against resource exhaustion (issue 13, finding 5, in part): sessions per user
//! (operator-configured, off by default), SSE streams per session, and metros (a configured
//! list, or a cap on how many a viewer's session may register).

use crate::db::Tx;
use crate::error::{ApiErr, check_name};
use axum::http::StatusCode;
use groupcast_api::SessionId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which metros a session may name: those of a configured list, or any up to a number of
/// registered metros (each new name is a row, and a viewer chooses the name).
#[derive(Debug)]
pub(crate) struct Metros {
    /// The configured names (empty: any name).
    listed: Vec<String>,
    /// Most metros registered when no list is configured.
    max: u32,
}

impl Metros {
    /// The configured list (checked names) and cap.
    pub(crate) fn new(listed: &[String], max: u32) -> Result<Metros, String> {
        if let Some(bad) = listed.iter().find(|m| check_name("metro", m).is_err()) {
            return Err(format!("--metro {bad:?}: not a metro name"));
        }
        Ok(Metros {
            listed: listed.to_vec(),
            max,
        })
    }

    /// Fails with 403 for a metro outside the list, or for a new metro once `max` are
    /// registered (racing instances may each admit one more).
    pub(crate) async fn admit(&self, db: &sqlx::AnyPool, name: &str) -> Result<(), ApiErr> {
        if !self.listed.is_empty() {
            return if self.listed.iter().any(|m| m == name) {
                Ok(())
            } else {
                Err(ApiErr::forbidden(format!(
                    "metro {name} is not one of this manager's metros"
                )))
            };
        }
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM metros WHERE name = $1")
            .bind(name)
            .fetch_optional(db)
            .await?;
        if known.is_some() {
            return Ok(());
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM metros")
            .fetch_one(db)
            .await?;
        if n >= i64::from(self.max) {
            return Err(ApiErr::forbidden(format!(
                "metro {name} is new and this manager already has {n} metros (its limit)"
            )));
        }
        Ok(())
    }
}

/// Fails with 429 when `user` already has `max` sessions (checked inside the join's
/// transaction; `None`: no cap).
pub(crate) async fn check_sessions(
    tx: &mut Tx,
    user: &str,
    max: Option<u32>,
) -> Result<(), ApiErr> {
    let Some(max) = max else { return Ok(()) };
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_name = $1")
        .bind(user)
        .fetch_one(&mut **tx)
        .await?;
    if n >= i64::from(max) {
        return Err(ApiErr::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("at most {max} sessions per user: close one first"),
        ));
    }
    Ok(())
}

/// Open SSE streams per session, capped.
pub(crate) struct SseSlots {
    /// Streams open, by session.
    open: Arc<Mutex<HashMap<SessionId, u32>>>,
    /// Most streams per session.
    max: u32,
}

impl SseSlots {
    /// At most `max` streams per session.
    pub(crate) fn new(max: u32) -> Self {
        SseSlots {
            open: Arc::default(),
            max,
        }
    }

    /// A slot for one more stream of `session` (released when the guard drops), or 429.
    pub(crate) fn take(&self, session: SessionId) -> Result<SseSlot, ApiErr> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(session).or_default();
        if *n >= self.max {
            return Err(ApiErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("at most {} event streams per session", self.max),
            ));
        }
        *n += 1;
        Ok(SseSlot {
            open: self.open.clone(),
            session,
        })
    }
}

/// One stream's slot; frees it on drop.
pub(crate) struct SseSlot {
    open: Arc<Mutex<HashMap<SessionId, u32>>>,
    session: SessionId,
}

impl Drop for SseSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_slots_are_capped_and_released() {
        let slots = SseSlots::new(2);
        let a = slots.take(SessionId(7)).unwrap();
        let _b = slots.take(SessionId(7)).unwrap();
        assert_eq!(
            slots.take(SessionId(7)).err().map(|e| e.status.as_u16()),
            Some(429)
        );
        assert!(slots.take(SessionId(8)).is_ok(), "per session");
        drop(a);
        assert!(slots.take(SessionId(7)).is_ok());
    }
}
