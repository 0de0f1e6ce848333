//! Absent answers: a peer we asked tells us it lost the packets too.
//!
//! A packet that every member of the group lost cannot come from the group, however often it
//! is asked: without word from the members, the group's turn lasts its attempts (8 at a LAN's
//! 5 ms timer: 40 ms of a 200 ms buffer) before the backups and the relay are asked, and what
//! those tiers need comes out of the little time left. A member that lacks a packet it is
//! asked for says so in one [`Absent`](groupcast_wire::proto::Body::Absent) message per
//! request, for those missing longer than its reorder hold (lost, not merely late). Once
//! every live member has said so of a missing packet, its group attempts are spent at once;
//! once every live backup has, so are the backups' asks. The packet then goes straight to the
//! next tier. Without a next tier nothing changes: the group is asked as before (a member may
//! yet repair the packet from its own backups).
//!
//! The serving side is `Server::serve` (what we lost too, through [`Held`](super::server));
//! this is the requester's: `Client::on_absent` acts on an answer.
//!
//! A member can only speak for itself (the message is authenticated under its own key), so a
//! hostile one can do no more than a silent one: take itself out of the group's turn.

use super::Client;
use super::repair::MAX_BACKUP_ASKS;
use crate::raw::SlotState;
use groupcast_base::Time;
use groupcast_wire::Ssrc;
use groupcast_wire::proto::Ranges;

impl Client {
    /// Notes that peer `idx` lacks the packets `ranges` of `ssrc` too, and moves on at once
    /// the missing packets that every live member, or every live backup, now lacks.
    pub(super) fn on_absent(&mut self, now: Time, idx: usize, ssrc: Ssrc, ranges: &Ranges<'_>) {
        if idx >= 16 {
            return;
        }
        let (bit, max_attempts) = (1u16 << idx, self.config.max_attempts);
        let (members, backups) = self.peers.asked_masks(now, self.config.silent_after_pings);
        // Without a tier after it, the group is the only hope: keep asking it as before (a
        // member may yet repair the packet from its own backups).
        let relay = !self.config.last_resort.is_zero();
        if backups == 0 && !relay {
            return;
        }
        let mut moved = false;
        for wire in ranges.iter().flat_map(|r| r.iter()) {
            let Some(seq) = self.receiver.resolve(ssrc, wire) else {
                continue;
            };
            let Some(slot) = self.raw.get_mut(seq) else {
                continue;
            };
            if slot.state != SlotState::Missing || slot.next_request == Time::NEVER {
                continue;
            }
            let (group_before, tier2_before) =
                (slot.lacked_by_all(members), slot.lacked_by_all(backups));
            slot.absent |= bit;
            let group = slot.lacked_by_all(members) && !group_before;
            let tier2 = slot.lacked_by_all(backups) && !tier2_before;
            if group && slot.attempts < max_attempts {
                slot.attempts = max_attempts;
            } else if tier2 && relay && slot.backup_asks > 0 && slot.backup_asks < MAX_BACKUP_ASKS {
                slot.backup_asks = MAX_BACKUP_ASKS;
            } else {
                continue;
            }
            slot.next_request = slot.next_request.min(now);
            self.stats.counters.absent_all += 1;
            moved = true;
        }
        if moved {
            self.repair.wake(now);
        }
    }
}
