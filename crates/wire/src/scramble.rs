//! Optional media encryption: the payloads of a channel's PES packets, AES-128 in counter
//! mode under a channel key that rotates every period.
//!
//! The scheme follows what DVB does with its control words, with AES-CTR for the cipher:
//! - Only the payload of TS packets on elementary-stream PIDs is encrypted. The TS header, the
//!   adaptation field (PCR, random access flag) and the program tables (PAT, PMT, SI) stay in
//!   the clear, so a receiver without the key still sees a well-formed, "scrambled" stream.
//! - A key is [`media_key`]: HMAC-SHA256 of a secret the source and the manager share, over
//!   the channel's name and the key's index (wall-clock time divided by the period). The
//!   manager hands a session only the keys around now, and only while it may watch.
//! - The key's parity goes in each packet's `transport_scrambling_control` bits (`10` even,
//!   `11` odd), so a receiver holding two consecutive keys picks the right one with no other
//!   signal, as a DVB descrambler picks its even or odd control word.
//! - The counter block is SSRC | RTP timestamp | RTP sequence number | the packet's place in
//!   the datagram | a block counter. A source never sends two datagrams with the same SSRC,
//!   timestamp and sequence number under one key (its sequence number wraps every 65,536
//!   datagrams, its timestamp moves on with the stream's clock, and each period has its own key).
//!
//! Peers store, repair and burst the datagrams as received, so they carry ciphertext; only the
//! play-out is decrypted. The cipher gives confidentiality, not integrity: what proves a repair
//! came from a member is the peer protocol's own tag ([`crate::proto`]).

use crate::ts::{TS_PACKET_LEN, TS_SYNC};
use aes::Aes128;
use aes::cipher::{InnerIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// Bytes of a media key (AES-128).
pub const MEDIA_KEY_LEN: usize = 16;

/// Separates media-key derivations from any other use of the secret.
const MEDIA_LABEL: &[u8] = b"groupcast media key v1";

/// AES-128 in counter mode with a 128-bit big-endian counter.
type Aes128Ctr = ctr::Ctr128BE<Aes128>;
/// Its core, which starts from an already expanded key.
type Aes128CtrCore = ctr::CtrCore<Aes128, ctr::flavors::Ctr128BE>;

/// The key of `channel` for period `index`: the first 16 bytes of
/// HMAC-SHA256(secret, label | channel name length (u16) | channel name | index (u64)),
/// big-endian.
pub fn media_key(secret: &[u8], channel: &str, index: u64) -> [u8; MEDIA_KEY_LEN] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(MEDIA_LABEL);
    let name = channel.as_bytes();
    mac.update(&(name.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    mac.update(name);
    mac.update(&index.to_be_bytes());
    let full: [u8; 32] = mac.finalize().into_bytes().into();
    let mut key = [0u8; MEDIA_KEY_LEN];
    key.copy_from_slice(&full[..MEDIA_KEY_LEN]);
    key
}

/// A media key with its AES key schedule computed once. `Debug` never prints the key.
#[derive(Clone)]
pub struct MediaKey {
    /// The expanded key.
    aes: Aes128,
}

impl MediaKey {
    /// A key from its 16 bytes.
    pub fn new(key: &[u8; MEDIA_KEY_LEN]) -> MediaKey {
        MediaKey {
            aes: <Aes128 as aes::cipher::KeyInit>::new(key.into()),
        }
    }

    /// XORs the key stream for packet `at` of the datagram (SSRC, timestamp, sequence number)
    /// into `bytes`: encrypts and decrypts alike.
    fn apply(&self, iv: &Iv, at: usize, bytes: &mut [u8]) {
        let mut block = [0u8; 16];
        block[..4].copy_from_slice(&iv.ssrc.to_be_bytes());
        block[4..8].copy_from_slice(&iv.timestamp.to_be_bytes());
        block[8..10].copy_from_slice(&iv.sequence.to_be_bytes());
        block[10] = at as u8;
        let core = Aes128CtrCore::inner_iv_init(self.aes.clone(), &block.into());
        let mut ctr = Aes128Ctr::from_core(core);
        ctr.apply_keystream(bytes);
    }
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKey(..)")
    }
}

/// The RTP fields that make each datagram's counter blocks its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iv {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// The datagram's RTP timestamp.
    pub timestamp: u32,
    /// The datagram's RTP sequence number.
    pub sequence: u16,
}

/// The `transport_scrambling_control` bits of a TS header's fourth byte.
const SCRAMBLING: u8 = 0xc0;
/// `10`: scrambled with the even key.
const EVEN: u8 = 0x80;
/// `11`: scrambled with the odd key.
const ODD: u8 = 0xc0;

/// Where the payload of a well-formed TS packet starts, if it has one worth encrypting.
fn payload_start(p: &[u8]) -> Option<usize> {
    if p.len() != TS_PACKET_LEN || p[0] != TS_SYNC || p[3] & 0x10 == 0 {
        return None;
    }
    let start = if p[3] & 0x20 != 0 {
        5 + usize::from(p[4])
    } else {
        4
    };
    (start < TS_PACKET_LEN).then_some(start)
}

/// The source's side: learns which PIDs carry PES and encrypts their payloads.
#[derive(Clone)]
pub struct Scrambler {
    /// One bit per PID: set once a packet of it started a PES (payload `00 00 01`).
    pes: Box<[u64; 128]>,
}

impl Default for Scrambler {
    fn default() -> Self {
        Scrambler {
            pes: Box::new([0; 128]),
        }
    }
}

impl fmt::Debug for Scrambler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n: u32 = self.pes.iter().map(|w| w.count_ones()).sum();
        write!(f, "Scrambler({n} PES PIDs)")
    }
}

impl Scrambler {
    /// Encrypts, in place, the PES payloads among the TS packets in `ts` (an RTP payload of
    /// whole packets) under `key`, marking each with the key's parity (`odd` for an odd
    /// index). Program tables, the null PID and packets without payload stay as they are;
    /// so does anything that is not a well-formed TS packet. Returns how many it encrypted.
    pub fn scramble(&mut self, key: &MediaKey, odd: bool, iv: Iv, ts: &mut [u8]) -> usize {
        let mut done = 0;
        for (at, p) in ts.chunks_exact_mut(TS_PACKET_LEN).enumerate() {
            let Some(start) = payload_start(p) else {
                continue;
            };
            let pid = usize::from(u16::from_be_bytes([p[1] & 0x1f, p[2]]));
            let unit_start = p[1] & 0x40 != 0;
            if unit_start && p[start..].starts_with(&[0, 0, 1]) && pid != 0x1fff {
                self.pes[pid / 64] |= 1 << (pid % 64);
            }
            if self.pes[pid / 64] & (1 << (pid % 64)) == 0 || p[3] & SCRAMBLING != 0 {
                continue; // not (yet) known as PES, or scrambled upstream already
            }
            key.apply(&iv, at, &mut p[start..]);
            p[3] |= if odd { ODD } else { EVEN };
            done += 1;
        }
        done
    }
}

/// The two keys a receiver holds at a time: the current one and its neighbour, by parity.
#[derive(Clone, Debug, Default)]
pub struct MediaKeys {
    /// The key for packets marked even.
    pub even: Option<MediaKey>,
    /// The key for packets marked odd.
    pub odd: Option<MediaKey>,
}

/// What [`MediaKeys::descramble`] did with a datagram's TS packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descrambled {
    /// Packets decrypted.
    pub decrypted: u32,
    /// Scrambled packets left as they were: no key of their parity is held.
    pub no_key: u32,
}

impl MediaKeys {
    /// Whether a key of either parity is held.
    pub fn any(&self) -> bool {
        self.even.is_some() || self.odd.is_some()
    }

    /// Decrypts, in place, the scrambled TS packets in `ts` (an RTP payload of whole packets)
    /// with the key of each one's parity and marks them clear. Packets in the clear, malformed
    /// ones and those marked with the reserved `01` are left as they are.
    pub fn descramble(&self, iv: Iv, ts: &mut [u8]) -> Descrambled {
        let mut out = Descrambled::default();
        for (at, p) in ts.chunks_exact_mut(TS_PACKET_LEN).enumerate() {
            let key = match p.get(3).map(|b| b & SCRAMBLING) {
                Some(EVEN) => &self.even,
                Some(ODD) => &self.odd,
                _ => continue,
            };
            let Some(start) = payload_start(p) else {
                continue;
            };
            let Some(key) = key else {
                out.no_key += 1;
                continue;
            };
            key.apply(&iv, at, &mut p[start..]);
            p[3] &= !SCRAMBLING;
            out.decrypted += 1;
        }
        out
    }
}

/// Whether any TS packet in `ts` is marked scrambled (either parity).
pub fn any_scrambled(ts: &[u8]) -> bool {
    ts.chunks_exact(TS_PACKET_LEN)
        .any(|p| p[0] == TS_SYNC && p[3] & SCRAMBLING >= EVEN)
}

/// The keys to hold now: of the periods whose keys are in `held` (index and key), for each
/// parity the one whose period lies nearest to `now_ms` (milliseconds since the Unix epoch) on
/// a clock with periods of `period_ms`. A receiver's clock may then be off from the source's
/// by up to half a period, less its buffer, and still pick the key the source used.
pub fn select(held: &[(u64, MediaKey)], period_ms: u64, now_ms: u64) -> MediaKeys {
    let period = period_ms.max(1);
    // Distance, in milliseconds, from now to the middle of period `i`.
    let distance = |i: u64| {
        let middle = i.saturating_mul(period).saturating_add(period / 2);
        middle.abs_diff(now_ms)
    };
    let best = |odd: bool| {
        held.iter()
            .filter(|(i, _)| (i % 2 == 1) == odd)
            .min_by_key(|(i, _)| distance(*i))
            .map(|(_, k)| k.clone())
    };
    MediaKeys {
        even: best(false),
        odd: best(true),
    }
}

#[cfg(test)]
mod tests;
