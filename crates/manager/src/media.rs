//! Media keys for encrypted channels (see `groupcast_wire::scramble`): the manager and the
//! source share a secret; the manager hands each entitled session the keys of the period
//! around now, with its open, every heartbeat and every group event, and nobody else any.
//!
//! A session holds the previous, the current and the next period's key. A viewer whose
//! entitlement is revoked gets no more heartbeat answers, so it can decrypt at most until the
//! end of the next period; a viewer that loses the manager plays on as long.

use crate::db::hex;
use groupcast_api::MediaKeyInfo;
use groupcast_wire::scramble::media_key;

/// The shared secret and the period.
pub(crate) struct Media {
    /// Shared with the channels' sources (`GROUPCAST_MEDIA_SECRET`).
    secret: Vec<u8>,
    /// How long each key is in force, ms.
    period_ms: u64,
}

impl Media {
    /// Keys derived from `secret`, each in force for `period_ms`.
    pub(crate) fn new(secret: &str, period_ms: u64) -> Media {
        Media {
            secret: secret.trim().as_bytes().to_vec(),
            period_ms: period_ms.max(1),
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
