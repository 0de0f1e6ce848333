//! Play-out of an encrypted channel (see [`groupcast_wire::scramble`]): the raw buffer keeps
//! each datagram as received, ciphertext, for members' repairs and fast starts; its TS is
//! decrypted into a scratch copy on its way to the player and to the GOP store's keyframe scan.

use crate::stats::Counters;
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::scramble::{Iv, MediaKeys, any_scrambled};

/// The keys in force and the copy decrypted last.
#[derive(Debug, Default)]
pub(super) struct Decrypt {
    /// The even and odd keys the manager's schedule gives for now.
    pub(super) keys: MediaKeys,
    /// The last datagram's TS, decrypted.
    clear: Vec<u8>,
}

impl Decrypt {
    /// Decrypts `ts`, the payload of `datagram`, into the scratch copy if any of its packets
    /// is scrambled, and returns the copy; `None` for a clear datagram (play `ts` itself).
    /// Scrambled packets with no key of their parity are counted and played as they are (a
    /// player shows nothing for them, as for any scrambled stream without its key).
    pub(super) fn open(&mut self, datagram: &[u8], ts: &[u8], c: &mut Counters) -> Option<&[u8]> {
        if !any_scrambled(ts) {
            return None;
        }
        let pkt = RtpPacket::parse(datagram).ok()?;
        let iv = Iv {
            ssrc: pkt.ssrc.0,
            timestamp: pkt.timestamp,
            sequence: pkt.sequence,
        };
        self.clear.clear();
        self.clear.extend_from_slice(ts);
        let done = self.keys.descramble(iv, &mut self.clear);
        c.media_decrypted += u64::from(done.decrypted);
        c.media_no_key += u64::from(done.no_key);
        Some(&self.clear)
    }
}
