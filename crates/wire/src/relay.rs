//! The central-to-edge relay protocol: an edge's HELLO (registration and keep-alive) and NACK
//! (retransmission request), both authenticated with the edge token.
//!
//! The central sends media to a registered edge as plain RTP datagrams, byte for byte what
//! it multicasts; only the edge's messages need this format.
//!
//! ```text
//! 0  2  magic "GR"          3  1  type: 1 HELLO, 2 NACK
//! 2  1  version = 1         4  8  counter (strictly increasing per edge; replay window)
//! 12 1  name length n (1..=64)     13 n  edge name (UTF-8)
//! NACK body: SSRC (4), range count k (2, 1..=256), k x (start u16, length u16)
//! last 16: HMAC-SHA256(token, everything before)[0..16]
//! ```

use crate::proto::{GroupKey, MAX_RANGES, ProtoError, Ranges, SeqRange, TAG_LEN};

/// Magic of relay messages.
pub const MAGIC: [u8; 2] = *b"GR";
/// Longest edge name.
pub const MAX_NAME: usize = 64;

/// What an edge says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayBody<'a> {
    /// "Send me the stream" (repeated as keep-alive).
    Hello,
    /// "Send these again."
    Nack {
        /// The stream.
        ssrc: u32,
        /// Missing RTP sequence numbers.
        ranges: Ranges<'a>,
    },
}

/// An edge's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayMessage<'a> {
    /// The edge's name (for logs and statistics).
    pub name: &'a str,
    /// Per-edge counter for the replay window.
    pub counter: u64,
    /// What it asks.
    pub body: RelayBody<'a>,
}

impl RelayMessage<'_> {
    /// Writes the message tagged under `key` into `out`; returns its length.
    pub fn emit(&self, key: &GroupKey, out: &mut [u8]) -> Result<usize, ProtoError> {
        let name = self.name.as_bytes();
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ProtoError::BadBody);
        }
        let head_len = 13 + name.len();
        let head = out.get_mut(..head_len).ok_or(ProtoError::TooLong)?;
        head[..2].copy_from_slice(&MAGIC);
        head[2] = 1;
        head[3] = match self.body {
            RelayBody::Hello => 1,
            RelayBody::Nack { .. } => 2,
        };
        head[4..12].copy_from_slice(&self.counter.to_be_bytes());
        head[12] = name.len() as u8;
        head[13..].copy_from_slice(name);
        let mut at = head_len;
        if let RelayBody::Nack { ssrc, ranges } = self.body {
            at += emit_nack(ssrc, ranges, out.get_mut(at..).ok_or(ProtoError::TooLong)?)?;
        }
        append_tag(key, out, at)
    }
}

/// Checks the tag of `bytes` under `key` and parses it.
pub fn open<'a>(key: &GroupKey, bytes: &'a [u8]) -> Result<RelayMessage<'a>, ProtoError> {
    if bytes.len() < 14 + TAG_LEN {
        return Err(ProtoError::Truncated);
    }
    if bytes[..2] != MAGIC {
        return Err(ProtoError::BadMagic);
    }
    if bytes[2] != 1 {
        return Err(ProtoError::BadVersion(bytes[2]));
    }
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !key.verify(signed, tag) {
        return Err(ProtoError::BadTag);
    }
    let n = usize::from(signed[12]);
    let name = signed.get(13..13 + n).ok_or(ProtoError::Truncated)?;
    let name = std::str::from_utf8(name).map_err(|_| ProtoError::BadBody)?;
    if n == 0 || n > MAX_NAME {
        return Err(ProtoError::BadBody);
    }
    let counter = u64::from_be_bytes(
        signed[4..12]
            .try_into()
            .map_err(|_| ProtoError::Truncated)?,
    );
    let rest = &signed[13 + n..];
    let body = match (signed[3], rest.len()) {
        (1, 0) => RelayBody::Hello,
        (2, _) => {
            let (ssrc, ranges) = parse_nack(rest)?;
            RelayBody::Nack { ssrc, ranges }
        }
        (1, _) => return Err(ProtoError::BadBody),
        (t, _) => return Err(ProtoError::BadType(t)),
    };
    Ok(RelayMessage {
        name,
        counter,
        body,
    })
}

/// Appends the tag of `out[..at]` under `key` at `at`; returns the whole message's length.
pub(crate) fn append_tag(key: &GroupKey, out: &mut [u8], at: usize) -> Result<usize, ProtoError> {
    let tag = key.tag(out.get(..at).ok_or(ProtoError::TooLong)?);
    out.get_mut(at..at + TAG_LEN)
        .ok_or(ProtoError::TooLong)?
        .copy_from_slice(&tag);
    Ok(at + TAG_LEN)
}

/// Writes a NACK body (SSRC, range count, ranges) into `out`; returns its length.
pub(crate) fn emit_nack(
    ssrc: u32,
    ranges: Ranges<'_>,
    out: &mut [u8],
) -> Result<usize, ProtoError> {
    let n = ranges.len();
    if n == 0 || n > MAX_RANGES {
        return Err(ProtoError::BadBody);
    }
    let body = out.get_mut(..6 + 4 * n).ok_or(ProtoError::TooLong)?;
    body[..4].copy_from_slice(&ssrc.to_be_bytes());
    body[4..6].copy_from_slice(&(n as u16).to_be_bytes());
    for (r, slot) in ranges.iter().zip(body[6..].chunks_exact_mut(4)) {
        if r.len == 0 {
            return Err(ProtoError::BadBody);
        }
        slot[..2].copy_from_slice(&r.start.to_be_bytes());
        slot[2..].copy_from_slice(&r.len.to_be_bytes());
    }
    Ok(body.len())
}

/// Parses a NACK body that makes up all of `rest`: the SSRC and the checked ranges.
pub(crate) fn parse_nack(rest: &[u8]) -> Result<(u32, Ranges<'_>), ProtoError> {
    if rest.len() < 6 {
        return Err(ProtoError::BadBody);
    }
    let k = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
    let ranges = Ranges::Wire(&rest[6..]);
    if k == 0 || k > MAX_RANGES || rest.len() != 6 + 4 * k || ranges.iter().any(|r| r.len == 0) {
        return Err(ProtoError::BadBody);
    }
    Ok((
        u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
        ranges,
    ))
}

/// Builds the range list for `Ranges::List` from a sorted run of sequence numbers.
pub fn ranges_of(seqs: impl IntoIterator<Item = u16>, out: &mut Vec<SeqRange>) {
    out.clear();
    for s in seqs {
        match out.last_mut() {
            Some(last) if last.start.wrapping_add(last.len) == s && last.len < u16::MAX => {
                last.len += 1
            }
            _ => out.push(SeqRange { start: s, len: 1 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_wrong_token() {
        let key = GroupKey::from_secret(b"edge-token-1");
        let mut buf = [0u8; 200];
        let mut ranges = Vec::new();
        ranges_of([65_535u16, 0, 1, 9], &mut ranges);
        assert_eq!(
            ranges,
            vec![
                SeqRange {
                    start: 65_535,
                    len: 3
                },
                SeqRange { start: 9, len: 1 }
            ]
        );
        for body in [
            RelayBody::Hello,
            RelayBody::Nack {
                ssrc: 7,
                ranges: Ranges::List(&ranges),
            },
        ] {
            let msg = RelayMessage {
                name: "metro-a",
                counter: 5,
                body,
            };
            let n = msg.emit(&key, &mut buf).unwrap();
            assert_eq!(open(&key, &buf[..n]).unwrap(), msg);
            assert_eq!(
                open(&GroupKey::from_secret(b"other"), &buf[..n]),
                Err(ProtoError::BadTag)
            );
            assert!(open(&key, &buf[..n - 1]).is_err());
        }
    }

    #[test]
    fn refuses_bad_names_and_bodies() {
        let key = GroupKey::from_secret(b"t");
        let mut buf = [0u8; 200];
        let long = "x".repeat(MAX_NAME + 1);
        let msg = RelayMessage {
            name: &long,
            counter: 1,
            body: RelayBody::Hello,
        };
        assert_eq!(msg.emit(&key, &mut buf), Err(ProtoError::BadBody));
        let msg = RelayMessage {
            name: "",
            counter: 1,
            body: RelayBody::Hello,
        };
        assert_eq!(msg.emit(&key, &mut buf), Err(ProtoError::BadBody));
        assert_eq!(
            open(&key, b"GR\x01\x01 too short"),
            Err(ProtoError::Truncated)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let _ = open(&GroupKey::from_secret(b"k"), &bytes);
        }
    }
}
