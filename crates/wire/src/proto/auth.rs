//! Message authentication: truncated HMAC-SHA256 (RFC 2104, RFC 4868 §2.1) under the key two
//! members of a group share, derived by the manager from the group's secret.
//!
//! Keys are per pair, not per group: the manager keeps the group's secret and hands each
//! member only the keys it shares with each other member ([`pair_key`]). A member can then
//! authenticate as itself to each other member, and nobody else can: a message claiming to
//! come from Y that reaches X verifies only under K(X, Y), which only X and Y hold.

use groupcast_base::{GroupEpoch, SessionId};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of the truncated tag appended to every message (128 bits, as RFC 4868 does).
pub const TAG_LEN: usize = 16;
/// Bytes of a group key.
pub const KEY_LEN: usize = 32;

/// Separates pair-key derivations from any other use of a group secret.
const PAIR_LABEL: &[u8] = b"groupcast pair key v1";

/// The key members `a` and `b` of a group share during `epoch`:
/// HMAC-SHA256(secret, label | epoch | lower id | higher id), all big-endian. Symmetric in
/// `a` and `b`; a new epoch (a new secret) gives unrelated keys.
pub fn pair_key(
    secret: &[u8; KEY_LEN],
    epoch: GroupEpoch,
    a: SessionId,
    b: SessionId,
) -> [u8; KEY_LEN] {
    let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(PAIR_LABEL);
    mac.update(&epoch.0.to_be_bytes());
    mac.update(&lo.0.to_be_bytes());
    mac.update(&hi.0.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// Separates backup-secret derivations from any other use of a group secret.
const BACKUP_LABEL: &[u8] = b"groupcast backup secret v1";

/// Separates the backup epoch's derivation from the backup keys'.
const BACKUP_EPOCH_LABEL: &[u8] = b"groupcast backup epoch v1";

/// A group as [`backup_secret`] takes it: its id, its epoch and its secret for that epoch.
pub type GroupSecret<'a> = (u64, GroupEpoch, &'a [u8; KEY_LEN]);

/// The secret and epoch from which members of groups `a` and `b` derive the keys they share
/// as each other's backups ([`pair_key`] under them): HMAC-SHA256(lower id's secret, label |
/// lower id | its epoch | higher id | its epoch | higher id's secret), all big-endian; the
/// epoch is the first four bytes of HMAC-SHA256(that secret, another label), so that what
/// headers carry in clear tells nothing of the secret. Symmetric in `a` and `b`, computable only with both
/// secrets (a member of either group alone learns nothing), and unrelated after either group
/// changes epoch: a member that left cannot talk to its old backups.
pub fn backup_secret(a: GroupSecret<'_>, b: GroupSecret<'_>) -> ([u8; KEY_LEN], GroupEpoch) {
    let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(lo.2)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(BACKUP_LABEL);
    for (id, epoch) in [(lo.0, lo.1), (hi.0, hi.1)] {
        mac.update(&id.to_be_bytes());
        mac.update(&epoch.0.to_be_bytes());
    }
    mac.update(hi.2);
    let secret: [u8; KEY_LEN] = mac.finalize().into_bytes().into();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(BACKUP_EPOCH_LABEL);
    let e = mac.finalize().into_bytes();
    (
        secret,
        GroupEpoch(u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
    )
}

/// A message key: the key two members share (from [`pair_key`]), or an edge's token.
///
/// The HMAC key schedule is computed once here and cloned per message. `Debug` never prints
/// the key.
#[derive(Clone)]
pub struct GroupKey {
    /// HMAC state already keyed with the secret.
    mac: Hmac<Sha256>,
}

impl GroupKey {
    /// Builds a key from its 32 secret bytes.
    pub fn new(secret: &[u8; KEY_LEN]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        GroupKey { mac }
    }

    /// Builds a key from a secret of any length (an edge token, say).
    pub fn from_secret(secret: &[u8]) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        GroupKey { mac }
    }

    /// The truncated tag over `data`.
    pub(crate) fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Checks a truncated tag over `data` in constant time.
    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(data);
        tag.len() == TAG_LEN && mac.verify_truncated_left(tag).is_ok()
    }
}

/// A member's own secret for the nonces of its pings (return routability): a nonce is
/// HMAC-SHA256(secret, peer id | n)[0..8], which nobody else can predict, the peer included.
#[derive(Clone)]
pub struct NonceKey {
    /// HMAC state already keyed with the secret.
    mac: Hmac<Sha256>,
}

impl NonceKey {
    /// Builds the key from 32 secret bytes (random per process).
    pub fn new(secret: &[u8; KEY_LEN]) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        NonceKey { mac }
    }

    /// The nonce of the `n`th ping to `peer`.
    pub fn nonce(&self, peer: SessionId, n: u64) -> u64 {
        let mut mac = self.mac.clone();
        mac.update(&peer.0.to_be_bytes());
        mac.update(&n.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&full[..8]);
        u64::from_be_bytes(first)
    }
}

impl core::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl core::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GroupKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc4231_case_2_truncated() {
        // RFC 4231 test case 2 uses the key "Jefe"; our keys are 32 bytes, so pad per RFC 2104
        // (HMAC pads short keys with zeros, giving the same MAC).
        let mut secret = [0u8; KEY_LEN];
        secret[..4].copy_from_slice(b"Jefe");
        let key = GroupKey::new(&secret);
        let tag = key.tag(b"what do ya want for nothing?");
        let expected = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7,
        ];
        assert_eq!(tag, expected);
        assert!(key.verify(b"what do ya want for nothing?", &expected));
        assert!(!key.verify(b"what do ya want for nothing!", &expected));
        assert!(!key.verify(b"what do ya want for nothing?", &expected[..8]));
        assert_eq!(format!("{key:?}"), "GroupKey(..)");
    }

    #[test]
    fn pair_keys_are_symmetric_and_differ_per_pair_epoch_and_secret() {
        let (s, e) = ([7u8; KEY_LEN], GroupEpoch(3));
        let k = |a, b| pair_key(&s, e, SessionId(a), SessionId(b));
        assert_eq!(k(1, 2), k(2, 1));
        assert_ne!(k(1, 2), k(1, 3));
        assert_ne!(k(1, 2), k(2, 3));
        assert_ne!(
            k(1, 2),
            pair_key(&s, GroupEpoch(4), SessionId(1), SessionId(2))
        );
        assert_ne!(
            k(1, 2),
            pair_key(&[8; KEY_LEN], e, SessionId(1), SessionId(2))
        );
        assert_ne!(k(1, 2), s, "not the secret itself");
    }

    #[test]
    fn backup_secrets_are_symmetric_and_change_with_either_group() {
        let (sa, sb) = ([1u8; KEY_LEN], [2u8; KEY_LEN]);
        let a = (5, GroupEpoch(3), &sa);
        let b = (9, GroupEpoch(7), &sb);
        let (secret, epoch) = backup_secret(a, b);
        assert_eq!(backup_secret(b, a), (secret, epoch));
        assert_ne!(secret, sa);
        assert_ne!(secret, sb);
        assert_ne!(backup_secret((5, GroupEpoch(4), &sa), b).0, secret);
        assert_ne!(
            backup_secret(a, (9, GroupEpoch(7), &[3; KEY_LEN])).0,
            secret
        );
        assert_ne!(backup_secret(a, (8, GroupEpoch(7), &sb)).0, secret);
        assert_ne!(
            epoch.0.to_be_bytes(),
            secret[..4],
            "the epoch shows nothing of it"
        );
        assert_ne!(backup_secret((5, GroupEpoch(4), &sa), b).1, epoch);
    }
}
