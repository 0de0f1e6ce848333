//! Caps against resource exhaustion (issue 13, finding 5, in part): sessions per user
//! (operator-configured, off by default) and SSE streams per session.

use crate::db::Tx;
use crate::error::ApiErr;
use axum::http::StatusCode;
use groupcast_api::SessionId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
