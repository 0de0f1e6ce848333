//! Media keys for encrypted channels (see `groupcast_wire::scramble`): the manager and the
//! source share a secret; the manager hands each entitled session the keys of the period
//! around now, with its open, every heartbeat and every group event, and nobody else any.
//!
//! A session holds the previous, the current and the next period's key. A viewer whose
//! entitlement is revoked gets no more heartbeat answers, so it can decrypt at most until the
//! end of the next period; a viewer that loses the manager plays on as long.

use crate::App;
use crate::db::hex;
use crate::error::ApiErr;
use groupcast_api::{ChannelId, MediaKeyInfo};
use groupcast_wire::scramble::media_key;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The shared secret and the period, and channel names by id.
pub(crate) struct Media {
    /// Shared with the channels' sources (`GROUPCAST_MEDIA_SECRET`).
    secret: Vec<u8>,
    /// How long each key is in force, ms.
    period_ms: u64,
    /// Channel names by id (keys are derived from the name, the source's `--channel`).
    names: Mutex<HashMap<ChannelId, Arc<str>>>,
}

impl Media {
    /// Keys derived from `secret`, each in force for `period_ms`.
    pub(crate) fn new(secret: &str, period_ms: u64) -> Media {
        Media {
            secret: secret.trim().as_bytes().to_vec(),
            period_ms: period_ms.max(1),
            names: Mutex::default(),
        }
    }

    /// The keys of `channel` for the periods before, at and after `now_ms`.
    pub(crate) fn keys_for(&self, channel: &str, now_ms: i64) -> Vec<MediaKeyInfo> {
        let now = (now_ms.max(0) as u64) / self.period_ms;
        (now.saturating_sub(1)..=now + 1)
            .map(|index| MediaKeyInfo {
                index,
                period_ms: self.period_ms,
                key: hex(&media_key(&self.secret, channel, index)),
            })
            .collect()
    }

    /// Forgets a deleted channel's name.
    pub(crate) fn forget(&self, channel: ChannelId) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&channel);
    }
}

/// The media keys for a session of `channel` now: none when the manager has no media secret.
pub(crate) async fn keys(app: &App, channel: ChannelId) -> Result<Vec<MediaKeyInfo>, ApiErr> {
    let Some(media) = &app.media else {
        return Ok(Vec::new());
    };
    let cached = media
        .names
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&channel)
        .cloned();
    let name = match cached {
        Some(name) => name,
        None => {
            let (name,): (String,) = sqlx::query_as("SELECT name FROM channels WHERE id = $1")
                .bind(i64::from(channel.0))
                .fetch_optional(&app.db)
                .await?
                .ok_or_else(|| ApiErr::not_found("the session's channel is gone"))?;
            let name: Arc<str> = name.into();
            media
                .names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(channel, name.clone());
            name
        }
    };
    Ok(media.keys_for(&name, crate::db::now_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_around_now_are_the_sources_keys_for_those_periods() {
        let m = Media::new("a-secret-of-at-least-thirty-two-chars", 60_000);
        let keys = m.keys_for("news", 120_000 * 60_000 + 5);
        let indexes: Vec<u64> = keys.iter().map(|k| k.index).collect();
        assert_eq!(indexes, [119_999, 120_000, 120_001]);
        for k in &keys {
            let expected = media_key(b"a-secret-of-at-least-thirty-two-chars", "news", k.index);
            assert_eq!(k.key, hex(&expected));
            assert_eq!(k.period_ms, 60_000);
        }
        assert_ne!(m.keys_for("sport", 120_000 * 60_000)[1].key, keys[1].key);
    }
}
