//! The unicast fallback's messages between a viewer and a relay (an edge or the central) that
//! sends it the stream by unicast, for viewers whose network carries no multicast.
//!
//! The manager issues each entitled session a ticket: an expiry and the key
//! [`ticket_key`]`(secret, channel, session, expiry)`, derived from a secret it shares with
//! the relays. A viewer's message names its session and the expiry, so a relay derives the
//! same key and checks the tag without asking the manager; a stale or foreign ticket does not
//! verify, or has expired.
//!
//! As in AMT (RFC 7450), a relay sends no media to an address before that address has echoed
//! a nonce the relay sent it (CHALLENGE): a viewer that forges its source address gets at
//! most one challenge, as small as its own message, sent to the forged address.
//!
//! ```text
//! 0  2  magic "GU"          2  1  version = 1
//! 3  1  type: 1 JOIN (and refresh), 2 NACK, 3 LEAVE, 6 STANDBY (and refresh) (viewer to
//!             relay), 4 CHALLENGE, 5 FULL (relay to viewer)
//! 4  8  counter (strictly increasing per sender; replay window)
//! 12 8  session id          20 8  ticket expiry, Unix ms
//! 28 16 nonce: the relay's latest challenge (zeros before one); a CHALLENGE's new nonce
//! NACK body: SSRC (4), range count k (2, 1..=256), k x (start u16, length u16)
//! last 16: HMAC-SHA256(ticket key, everything before)[0..16]
//! ```
//! The relay sends media as plain RTP datagrams, byte for byte what it multicasts.
//!
//! STANDBY registers a viewer that receives multicast for retransmissions only (the last
//! resort behind its repair group): it is admitted like a JOIN but sent no media, and its
//! NACKs draw on a budget proportional to the stream.

use crate::proto::{GroupKey, KEY_LEN, ProtoError, Ranges, TAG_LEN};
use crate::relay::{append_tag, emit_nack, parse_nack};
use groupcast_base::SessionId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

/// Magic of unicast fallback messages.
pub const MAGIC: [u8; 2] = *b"GU";
/// Bytes of a nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes before the body.
const HEAD: usize = 28 + NONCE_LEN;

/// Separates ticket keys from any other use of the unicast secret.
const TICKET_LABEL: &[u8] = b"groupcast unicast ticket v1";

/// The key of the ticket for `session` of `channel` expiring at `expires_ms`:
/// HMAC-SHA256(secret, label | channel length u16 | channel | session | expiry).
pub fn ticket_key(
    secret: &[u8],
    channel: &str,
    session: SessionId,
    expires_ms: u64,
) -> [u8; KEY_LEN] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(TICKET_LABEL);
    mac.update(&(channel.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    mac.update(channel.as_bytes());
    mac.update(&session.0.to_be_bytes());
    mac.update(&expires_ms.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// A relay's own secret for its challenges: the nonce for `addr` and `session` in time slot
/// `slot` is HMAC-SHA256(secret, address | port | session | slot)[0..16], which nobody else
/// can predict, so an echo proves the viewer receives at that address.
#[derive(Clone, Debug)]
pub struct ChallengeKey(GroupKey);

impl ChallengeKey {
    /// Builds the key from 32 secret bytes (random per process).
    pub fn new(secret: &[u8; KEY_LEN]) -> Self {
        ChallengeKey(GroupKey::new(secret))
    }

    /// The nonce for `addr` and `session` in `slot`.
    pub fn nonce(&self, addr: SocketAddr, session: SessionId, slot: u64) -> [u8; NONCE_LEN] {
        let mut data = [0u8; 16 + 2 + 8 + 8];
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        data[..16].copy_from_slice(&ip.octets());
        data[16..18].copy_from_slice(&addr.port().to_be_bytes());
        data[18..26].copy_from_slice(&session.0.to_be_bytes());
        data[26..].copy_from_slice(&slot.to_be_bytes());
        self.0.tag(&data)
    }
}

/// What a message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnicastBody<'a> {
    /// Viewer: "send me the stream" (repeated as refresh; its absence ends the feed).
    Join,
    /// Viewer: "send these again".
    Nack {
        /// The stream.
        ssrc: u32,
        /// Missing RTP sequence numbers.
        ranges: Ranges<'a>,
    },
    /// Viewer: "stop sending".
    Leave,
    /// Relay: "echo this nonce from this address" (the message's nonce).
    Challenge,
    /// Relay: "I serve as many viewers as I may".
    Full,
    /// Viewer: "I receive multicast; keep me registered for retransmissions only" (repeated
    /// as refresh).
    Standby,
}

impl UnicastBody<'_> {
    fn code(&self) -> u8 {
        match self {
            UnicastBody::Join => 1,
            UnicastBody::Nack { .. } => 2,
            UnicastBody::Leave => 3,
            UnicastBody::Challenge => 4,
            UnicastBody::Full => 5,
            UnicastBody::Standby => 6,
        }
    }
}

/// A message of the unicast fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnicastMessage<'a> {
    /// The sender's counter.
    pub counter: u64,
    /// The viewer's session.
    pub session: SessionId,
    /// The ticket's expiry, Unix ms.
    pub expires_ms: u64,
    /// The echoed (viewer) or new (relay's CHALLENGE) nonce.
    pub nonce: [u8; NONCE_LEN],
    /// What it says.
    pub body: UnicastBody<'a>,
}

impl UnicastMessage<'_> {
    /// Writes the message tagged under the ticket's `key` into `out`; returns its length.
    pub fn emit(&self, key: &GroupKey, out: &mut [u8]) -> Result<usize, ProtoError> {
        let head = out.get_mut(..HEAD).ok_or(ProtoError::TooLong)?;
        head[..2].copy_from_slice(&MAGIC);
        head[2] = 1;
        head[3] = self.body.code();
        head[4..12].copy_from_slice(&self.counter.to_be_bytes());
        head[12..20].copy_from_slice(&self.session.0.to_be_bytes());
        head[20..28].copy_from_slice(&self.expires_ms.to_be_bytes());
        head[28..].copy_from_slice(&self.nonce);
        let mut at = HEAD;
        if let UnicastBody::Nack { ssrc, ranges } = self.body {
            at += emit_nack(ssrc, ranges, out.get_mut(at..).ok_or(ProtoError::TooLong)?)?;
        }
        append_tag(key, out, at)
    }
}

/// A message's ticket, read before its tag is checked: the key to check it with comes from
/// these (see [`ticket_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The session named.
    pub session: SessionId,
    /// The expiry named, Unix ms.
    pub expires_ms: u64,
}

/// True when `bytes` starts like a unicast fallback message (RTP never does: its first byte
/// is 0x80..=0xbf).
pub fn looks_like(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Reads the ticket a message claims, without checking anything else.
pub fn claim(bytes: &[u8]) -> Result<Claim, ProtoError> {
    if bytes.len() < HEAD + TAG_LEN {
        return Err(ProtoError::Truncated);
    }
    if bytes[..2] != MAGIC {
        return Err(ProtoError::BadMagic);
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_be_bytes(b)
    };
    Ok(Claim {
        session: SessionId(u64_at(12)),
        expires_ms: u64_at(20),
    })
}

/// Checks the tag of `bytes` under the ticket's `key` and parses the message.
pub fn open<'a>(key: &GroupKey, bytes: &'a [u8]) -> Result<UnicastMessage<'a>, ProtoError> {
    let claimed = claim(bytes)?;
    if bytes[2] != 1 {
        return Err(ProtoError::BadVersion(bytes[2]));
    }
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !key.verify(signed, tag) {
        return Err(ProtoError::BadTag);
    }
    let rest = &signed[HEAD..];
    let body = match signed[3] {
        2 => {
            let (ssrc, ranges) = parse_nack(rest)?;
            UnicastBody::Nack { ssrc, ranges }
        }
        t @ (1 | 3 | 4 | 5 | 6) if rest.is_empty() => match t {
            1 => UnicastBody::Join,
            3 => UnicastBody::Leave,
            4 => UnicastBody::Challenge,
            5 => UnicastBody::Full,
            _ => UnicastBody::Standby,
        },
        1 | 3 | 4 | 5 | 6 => return Err(ProtoError::BadBody),
        t => return Err(ProtoError::BadType(t)),
    };
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&signed[4..12]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&signed[28..HEAD]);
    Ok(UnicastMessage {
        counter: u64::from_be_bytes(counter),
        session: claimed.session,
        expires_ms: claimed.expires_ms,
        nonce,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SeqRange;

    fn key(session: u64, expires: u64) -> GroupKey {
        GroupKey::new(&ticket_key(
            b"unicast secret",
            "news",
            SessionId(session),
            expires,
        ))
    }

    #[test]
    fn round_trips_under_the_tickets_key_only() {
        let ranges = [SeqRange { start: 9, len: 2 }];
        let mut buf = [0u8; 200];
        for body in [
            UnicastBody::Join,
            UnicastBody::Nack {
                ssrc: 7,
                ranges: Ranges::List(&ranges),
            },
            UnicastBody::Leave,
            UnicastBody::Challenge,
            UnicastBody::Full,
            UnicastBody::Standby,
        ] {
            let msg = UnicastMessage {
                counter: 3,
                session: SessionId(42),
                expires_ms: 1_000,
                nonce: [5; NONCE_LEN],
                body,
            };
            let n = msg.emit(&key(42, 1_000), &mut buf).unwrap();
            assert!(looks_like(&buf[..n]));
            let c = claim(&buf[..n]).unwrap();
            assert_eq!((c.session, c.expires_ms), (SessionId(42), 1_000));
            assert_eq!(open(&key(42, 1_000), &buf[..n]).unwrap(), msg);
            // Another session, expiry or channel gives another key.
            assert_eq!(open(&key(43, 1_000), &buf[..n]), Err(ProtoError::BadTag));
            assert_eq!(open(&key(42, 1_001), &buf[..n]), Err(ProtoError::BadTag));
            let other = ticket_key(b"unicast secret", "sport", SessionId(42), 1_000);
            assert_eq!(
                open(&GroupKey::new(&other), &buf[..n]),
                Err(ProtoError::BadTag)
            );
            assert!(open(&key(42, 1_000), &buf[..n - 1]).is_err());
        }
    }

    #[test]
    fn a_body_where_none_belongs_is_refused() {
        let k = key(1, 2);
        let mut buf = [0u8; 200];
        let msg = UnicastMessage {
            counter: 1,
            session: SessionId(1),
            expires_ms: 2,
            nonce: [0; NONCE_LEN],
            body: UnicastBody::Join,
        };
        let n = msg.emit(&k, &mut buf).unwrap();
        // Re-tag a JOIN with four extra bytes: the tag verifies, the body does not.
        let mut long = buf[..n - TAG_LEN].to_vec();
        long.extend_from_slice(&[0, 0, 0, 0]);
        let tag = k.tag(&long);
        long.extend_from_slice(&tag);
        assert_eq!(open(&k, &long), Err(ProtoError::BadBody));
        assert!(!looks_like(&[0x80, 33]));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let _ = claim(&bytes);
            let _ = open(&key(1, 1), &bytes);
        }
    }
}
