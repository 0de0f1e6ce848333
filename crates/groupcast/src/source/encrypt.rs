//! `groupcast source --media-secret`: scrambles each datagram's PES payloads with the channel's
//! key for the current period (see `groupcast_wire::scramble`), read from the wall clock.

use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::scramble::{Iv, MediaKey, Scrambler, media_key};

/// The secret, the channel and the key in force.
pub(super) struct Encrypt {
    /// Shared with the manager.
    secret: Vec<u8>,
    /// The channel's name, as the manager knows it.
    channel: String,
    /// How long each key is in force, ms.
    period_ms: u64,
    /// Which PIDs carry PES.
    scrambler: Scrambler,
    /// The current period and its key.
    current: Option<(u64, MediaKey)>,
    /// TS packets encrypted so far.
    pub(super) scrambled: u64,
}

impl Encrypt {
    /// Keys from `secret` for `channel`, each in force for `period_ms`.
    pub(super) fn new(secret: &str, channel: &str, period_ms: u64) -> Encrypt {
        Encrypt {
            secret: secret.trim().as_bytes().to_vec(),
            channel: channel.to_owned(),
            period_ms: period_ms.max(1),
            scrambler: Scrambler::default(),
            current: None,
            scrambled: 0,
        }
    }

    /// Scrambles the RTP datagram in place at wall-clock time `unix_ms`; its payload is the
    /// last `payload_len` bytes (the source adds no padding).
    pub(super) fn apply(&mut self, unix_ms: u64, datagram: &mut [u8], payload_len: usize) {
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            return;
        };
        let iv = Iv {
            ssrc: pkt.ssrc.0,
            timestamp: pkt.timestamp,
            sequence: pkt.sequence,
        };
        let index = unix_ms / self.period_ms;
        let key = match &self.current {
            Some((i, key)) if *i == index => key,
            _ => {
                let key = MediaKey::new(&media_key(&self.secret, &self.channel, index));
                tracing::debug!(index, "media key period");
                &self.current.insert((index, key)).1
            }
        };
        let start = datagram.len().saturating_sub(payload_len);
        let n = self
            .scrambler
            .scramble(key, index % 2 == 1, iv, &mut datagram[start..]);
        self.scrambled += n as u64;
    }
}
