//! What to do about one missing packet when its request timer fires ([`step`]): wait, ask
//! the group, ask the backups, escalate to the last resort, or give up; and how the last
//! resort's asks are spaced ([`last_resort_plan`]).

use crate::config::{Config, RequestStrategy};
use crate::raw::Slot;
use groupcast_base::Time;
use std::time::Duration;

/// Most times one packet is asked of the last resort (a lost NACK or retransmission is
/// retried, within the deadline). Each ask fails about one time in seven with 5 % loss on the
/// viewer's link and 3 % on its trunk, both ways; three asks left 6.2e-7 to 2.7e-6 of
/// client-packets unrecovered in issue 12's model, four 9.0e-8 to 4.7e-7 (docs/simulation.md).
pub(crate) const MAX_ESCALATIONS: u8 = 4;
/// Most times one packet is asked of the backups (members of another group), each a backup
/// retry timer apart, before the relay is (or, without one, the group again).
pub(crate) const MAX_BACKUP_ASKS: u8 = 2;
/// Added to the relay's (or the backups') round trip between two asks of it for one packet.
pub(crate) const ESCALATION_MARGIN: Duration = Duration::from_millis(5);

/// The last resort's (retry interval, reserve) for a relay `rtt` away (zeros without one):
/// asks [`MAX_ESCALATIONS`] times a round trip and [`ESCALATION_MARGIN`] apart, so the
/// group is given up that many intervals before the deadline (at most half the buffer).
pub(crate) fn last_resort_plan(rtt: Option<Duration>, c: &Config) -> (Duration, Duration) {
    let Some(rtt) = rtt else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let retry = (rtt + ESCALATION_MARGIN).max(c.rto_min);
    let reserve = (retry * u32::from(MAX_ESCALATIONS)).clamp(c.rto_min, c.buffer / 2);
    (retry, reserve)
}

/// What to do about one missing packet when its request timer is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Not due yet (in its reorder hold, or a request not yet timed out): wake at this time.
    Wait(Time),
    /// Too close to its deadline for an answer to arrive (or out of attempts with no member
    /// to ask), and no last resort left: stop asking.
    GiveUp,
    /// The group cannot supply it in time: ask the last resort.
    Escalate,
    /// The group cannot supply it in time: ask the backups, again after `retry`.
    Backup {
        /// The backups' retry timer.
        retry: Duration,
    },
    /// Ask now; `ranked` asks the best peer only (a first attempt under the ranked strategy).
    Ask {
        /// Ask the best-ranked peer rather than every member.
        ranked: bool,
    },
}

/// Most doublings of the retry timer for asks past `max_attempts`.
const MAX_BACKOFF: u8 = 4;

/// How long after an ask (the `attempts`-th, counted before it) the next one goes: `rto`,
/// doubling past `c.max_attempts` (up to 16 times `rto`).
pub(crate) fn retry_after(attempts: u8, rto: Duration, c: &Config) -> Duration {
    let over = attempts.saturating_add(1).saturating_sub(c.max_attempts);
    rto * (1u32 << over.min(MAX_BACKOFF))
}

/// The step for a missing packet's `slot` at `now`, with retry timer `rto` and, if a backup
/// is live, the backups' retry timer `backup`; `has_peers` is false when the group has
/// nobody to ask.
///
/// The group is given up after `c.max_attempts` or when only the later tiers' time is left
/// before the deadline (the backups' is at most a quarter of the buffer). Backups come next:
/// asked at most [`MAX_BACKUP_ASKS`] times while an answer can come before the last resort's
/// turn. With a last resort, the packet is then escalated (at most [`MAX_ESCALATIONS`] times,
/// while the deadline is ahead); without one, or once its asks are spent, the group is asked
/// until the deadline.
pub(crate) fn step(
    slot: &Slot,
    now: Time,
    (rto, backup): (Duration, Option<Duration>),
    c: &Config,
    has_peers: bool,
) -> Step {
    // At most a quarter of the buffer: the group keeps the most of it.
    let backups = backup.map_or(Duration::ZERO, |b| {
        (b * u32::from(MAX_BACKUP_ASKS)).min(c.buffer / 4)
    });
    let reserve = c.last_resort;
    if slot.next_request > now {
        Step::Wait(slot.next_request)
    } else if !has_peers
        || slot.escalations > 0
        || slot.backup_asks > 0
        || slot.attempts >= c.max_attempts
        || now + rto / 2 + reserve + backups >= slot.due
    {
        if let Some(retry) = backup
            && slot.backup_asks < MAX_BACKUP_ASKS
            && slot.escalations == 0
            && !slot.speculative
            && now + retry / 2 + reserve < slot.due
        {
            return Step::Backup { retry };
        }
        // A repeated ask only while its answer (most of an interval away) can be in time.
        let in_time = match slot.escalations {
            0 => now < slot.due,
            _ => now + c.last_resort_retry * 3 / 4 < slot.due,
        };
        let escalate = !reserve.is_zero()
            && slot.escalations < MAX_ESCALATIONS
            && !slot.speculative
            && in_time;
        if escalate {
            Step::Escalate
        } else if has_peers && !slot.speculative && now + rto / 2 < slot.due {
            // Out of attempts but not of time, and no last resort (or its asks spent: it may
            // be over its budget): the group again, on a backed-off timer ([`retry_after`]).
            // A member stalled for longer than the attempts last (8 at a 5 ms LAN timer:
            // 40 ms of a 200 ms buffer) or one that lost the packet too and repairs it later
            // still fills it.
            Step::Ask { ranked: false }
        } else {
            Step::GiveUp
        }
    } else {
        Step::Ask {
            ranked: c.strategy == RequestStrategy::Ranked && slot.attempts == 0,
        }
    }
}
