//! A relay's answers to NACKs: from its ring, within the viewer's budget and (for standby
//! viewers) the relay's, by unicast or, for a number several standby viewers lost, by one
//! multicast resend (see [`resend`](super::resend)).

use super::resend::Answer;
use super::{Fanout, REPAIR_DEPTH, STANDBY_DEPTH, STANDBY_PERMILLE};
use groupcast_base::Time;
use groupcast_wire::SeqNo;
use groupcast_wire::proto::Ranges;

/// Packets of the relay's budget that unicast answers to standby viewers leave for multicast
/// resends, when those are on.
const MULTICAST_RESERVE: u64 = 8;
/// Most multicast resends waiting to be sent.
const MULTICAST_LIMIT: usize = 256;
/// Datagrams of the stream a number may lag the newest and still be resent by multicast:
/// older ones would reach every viewer after its deadline (2 s at 1,000 datagrams/s).
const MULTICAST_REACH: u64 = 2_000;

impl Fanout {
    /// Viewer `i` NACKed `ranges` (at most 4,096 numbers are looked at).
    pub(super) fn retransmit_all(&mut self, now: Time, i: usize, ranges: Ranges<'_>) {
        for wire in ranges.iter().flat_map(|r| r.iter()).take(4096) {
            self.retransmit(now, i, wire);
        }
    }

    fn retransmit(&mut self, now: Time, i: usize, wire: u16) {
        let Some((seq, len)) = self.out.held_len(wire) else {
            self.stats.nack_missed += 1;
            return;
        };
        let v = &mut self.viewers[i];
        let mut answer = Answer::Unicast;
        if v.info.standby {
            if self.newest.0.saturating_sub(seq.0) <= MULTICAST_REACH
                && self.multicast.len() < MULTICAST_LIMIT
            {
                answer = self.resends.answer(now, seq, v.info.session);
            }
            if answer == Answer::Covered {
                self.stats.multicast_covered += 1;
                return;
            }
            let count = self.datagrams;
            let paid = v.credit.take(count, STANDBY_PERMILLE, STANDBY_DEPTH);
            // A resend repairs every viewer that lost the datagram for one packet of the
            // budget, an answer one viewer: answers leave the last few packets to resends.
            let floor = match answer {
                Answer::Unicast if self.config.multicast_after >= 2 => MULTICAST_RESERVE,
                _ => 0,
            };
            let permille = self.config.repair_permille;
            if !paid
                || !self
                    .repair_credit
                    .take_above(count, permille, REPAIR_DEPTH, floor)
            {
                if paid {
                    v.credit.refund();
                }
                if answer == Answer::Multicast {
                    self.resends.cancel(seq);
                }
                self.stats.standby_limited += 1;
                return;
            }
        } else if !v.budget.take(now, super::NACK_RATE, super::NACK_BURST) {
            self.stats.nack_limited += 1;
            return;
        }
        if answer == Answer::Multicast {
            self.multicast.push_back(seq);
            self.stats.multicast_resent += 1;
            self.stats.repair_bytes += len as u64;
        } else if self.out.queue(v.info.addr, seq) {
            v.info.retransmitted += 1;
            self.stats.retransmitted += 1;
            self.stats.standby_retransmitted += u64::from(v.info.standby);
            self.stats.repair_bytes += len as u64;
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Copies the next datagram to resend to the multicast group into `buf`, returning its
    /// length. The driver sends it on its multicast socket(s), exactly as it sent the first
    /// copy; numbers the ring no longer holds, or longer than `buf`, are skipped.
    pub fn poll_multicast(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let seq: SeqNo = self.multicast.pop_front()?;
            let Some(bytes) = self.out.datagram(seq) else {
                continue;
            };
            if let Some(slot) = buf.get_mut(..bytes.len()) {
                slot.copy_from_slice(bytes);
                return Some(bytes.len());
            }
        }
    }
}
