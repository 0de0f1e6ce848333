//! Serving from a fast start's held multicast.
//!
//! A member still asking for its own fast start has no stream yet: it holds back the multicast
//! that comes meanwhile, unnumbered (a burst may yet start the stream before it). Its members
//! may already be playing, and when a herd tunes in together (lab 13's 24 viewers, a second
//! after the channel went on air) their first losses are asked of members in that state, which
//! used to answer nothing until their own fast start ended. A member answers such requests
//! from the held datagrams instead: the queued repair carries [`HELD`] for a number and is
//! looked up by RTP number when it is written.

use super::fast_start::FastStart;
use super::server::repair;
use groupcast_wire::proto::Repair;
use groupcast_wire::rtp::RtpPacket;
use groupcast_wire::{SeqNo, Ssrc};
use std::net::SocketAddr;

/// The number a queued repair carries when its datagram lies in the held multicast.
pub(super) const HELD: SeqNo = SeqNo(u64::MAX);

impl FastStart {
    /// True while multicast is held back.
    pub(super) fn holding(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The held datagram that is packet `wire` of `ssrc`, with its source. The queue is in
    /// arrival order, so the datagram `k` numbers after the first lies at most `k` places
    /// after it (fewer by the losses between): the search walks back from there.
    pub(super) fn held(&self, ssrc: Ssrc, wire: u16) -> Option<(&[u8], SocketAddr)> {
        let first = RtpPacket::parse(&self.queue.front()?.2).ok()?;
        let k = usize::from(wire.wrapping_sub(first.sequence));
        let at = k.min(self.queue.len() - 1);
        for (_, src, datagram) in self.queue.range(..=at).rev() {
            let Ok(p) = RtpPacket::parse(datagram) else {
                continue;
            };
            let offset = usize::from(p.sequence.wrapping_sub(first.sequence));
            if offset == k && p.ssrc == ssrc {
                return Some((datagram, *src));
            }
            if offset < k {
                return None;
            }
        }
        None
    }

    /// The repair carrying held packet `wire` of `ssrc`, as sent to `group`; `None` once it is
    /// no longer held (the fast start ended meanwhile: the message is skipped).
    pub(super) fn answer_held(
        &self,
        group: SocketAddr,
        (ssrc, wire): (Ssrc, u16),
    ) -> Option<Repair<'_>> {
        Some(repair(group, (ssrc, wire), self.held(ssrc, wire)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_base::Time;

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut d = vec![0x80, 33];
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&ssrc.to_be_bytes());
        d.extend_from_slice(&[0x47; 188]);
        d
    }

    #[test]
    fn finds_held_packets_across_losses_and_the_wrap() {
        let mut f = FastStart::default();
        let src: SocketAddr = "198.18.0.1:5000".parse().unwrap();
        let lost = [65534u16, 2];
        for seq in (65530u16..=65535)
            .chain(0..=5)
            .filter(|s| !lost.contains(s))
        {
            f.queue.push_back((Time::ZERO, src, rtp(7, seq)));
        }
        f.queue.push_back((Time::ZERO, src, vec![1, 2, 3])); // not RTP: skipped
        let found = |wire| f.held(Ssrc(7), wire).map(|(d, _)| d[2..4].to_vec());
        for wire in [65530u16, 65533, 65535, 0, 1, 3, 5] {
            assert_eq!(found(wire), Some(wire.to_be_bytes().to_vec()), "{wire}");
        }
        for wire in [65534u16, 2, 6, 100, 65000] {
            assert_eq!(found(wire), None, "{wire}");
        }
        assert!(f.held(Ssrc(8), 65531).is_none(), "another stream");
        let group = "239.1.1.1:5004".parse().unwrap();
        let r = f.answer_held(group, (Ssrc(7), 3)).unwrap();
        assert_eq!((r.sequence, r.src, r.dst), (3, src, group));
        assert!(f.holding() && !FastStart::default().holding());
    }
}
