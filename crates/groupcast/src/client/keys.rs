//! The media keys of an encrypted channel: taken from the manager's answers, and the even and
//! odd ones for the wall clock's now installed in the core (see `groupcast_wire::scramble`).

use groupcast_api::MediaKeyInfo;
use groupcast_core::Client;
use groupcast_wire::scramble::{MEDIA_KEY_LEN, MediaKey, select};

/// Most periods' keys held (the manager hands three around now).
const HOLD: usize = 4;

/// The keys held, by period.
#[derive(Default)]
pub(super) struct Keyring {
    /// Period index and key, oldest first.
    held: Vec<(u64, MediaKey)>,
    /// Length of a period, ms (from the manager).
    period_ms: u64,
    /// Keys from the manager that were not 32 hex digits (left out).
    pub(super) bad: u64,
}

impl Keyring {
    /// Takes the keys of a manager answer and installs the ones for now in `core`.
    pub(super) fn take(&mut self, keys: &[MediaKeyInfo], core: &mut Client) {
        if keys.is_empty() {
            return;
        }
        for k in keys {
            let Some(bytes) = groupcast_api::parse_hex::<MEDIA_KEY_LEN>(&k.key) else {
                self.bad += 1;
                tracing::warn!(index = k.index, "a media key that is not 32 hex digits");
                continue;
            };
            self.period_ms = k.period_ms.max(1);
            if !self.held.iter().any(|(i, _)| *i == k.index) {
                self.held.push((k.index, MediaKey::new(&bytes)));
            }
        }
        self.held.sort_by_key(|(i, _)| *i);
        let extra = self.held.len().saturating_sub(HOLD);
        self.held.drain(..extra);
        self.refresh(core);
    }

    /// Installs in `core` the even and odd keys nearest to now (called as time passes).
    pub(super) fn refresh(&self, core: &mut Client) {
        if self.held.is_empty() {
            return;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        core.set_media_keys(select(&self.held, self.period_ms, now_ms));
    }
}

#[cfg(test)]
mod tests {
    fn parse(hex: &str) -> Option<[u8; 16]> {
        groupcast_api::parse_hex(hex)
    }

    #[test]
    fn keys_are_32_hex_digits() {
        assert_eq!(parse("000102030405060708090a0b0c0d0e0f").unwrap()[15], 15);
        assert!(parse("00").is_none());
        assert!(parse("zz0102030405060708090a0b0c0d0e0f").is_none());
        assert!(parse("+f0102030405060708090a0b0c0d0e0f").is_none());
        assert!(parse("é00102030405060708090a0b0c0d0e").is_none());
    }
}
