//! Multicast resends. Standby viewers receive multicast, so a datagram that several of them
//! NACK was most likely lost upstream of them all (on the source's link, on a trunk, or by a
//! whole repair group): the relay sends it to the multicast group once more instead of once
//! to each of them, and one unit of its budget repairs every viewer downstream.
//!
//! Per packet number, the relay remembers which viewers asked:
//! - the first `after - 1` distinct viewers are answered by unicast, as before;
//! - the next one triggers the multicast resend;
//! - a viewer's first NACK within [`COVER`] of the resend is covered by it (its NACK crossed
//!   the resend in flight) and gets nothing more;
//! - any repeat of a viewer (it lost our answer, or the resend) and any NACK later than
//!   [`COVER`] get unicast: the multicast did not reach that viewer (a cut metro, a lossy
//!   access link);
//! - a viewer that asks again for two numbers resent by multicast within [`DEAF_FOR`] is taken
//!   as not receiving multicast for as long: its NACKs are answered by unicast and neither
//!   trigger nor wait for a resend (one lost copy is a lossy link's 5 %, not evidence) (the viewers of a metro whose multicast is cut all miss the same
//!   numbers, and a resend they trigger reaches none of them).

use groupcast_base::{SessionId, Time};
use groupcast_wire::SeqNo;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How long after a multicast resend a viewer's first NACK of the same number is taken as
/// sent before the resend could reach it, and so covered by it. Viewers repeat an unanswered
/// NACK after their round trip to the relay plus 5 ms, so a repeat is never covered.
pub(super) const COVER: Duration = Duration::from_millis(50);
/// How long a viewer that asked again after two multicast resends is answered by unicast
/// only (and how close together those must be).
const DEAF_FOR: Duration = Duration::from_secs(1);
/// How long the relay remembers who asked for a number.
const LIFE: Duration = Duration::from_secs(2);
/// Most numbers remembered (the oldest are forgotten first).
const LIMIT: usize = 4096;
/// Most viewers remembered per number.
const ASKERS: usize = 64;

/// How to answer one NACKed number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// Retransmit to the viewer.
    Unicast,
    /// Resend to the multicast group.
    Multicast,
    /// A multicast resend just went out: nothing more.
    Covered,
}

#[derive(Debug)]
struct Asked {
    /// Viewers that asked, in order (at most [`ASKERS`]).
    askers: Vec<SessionId>,
    /// When the number was resent by multicast.
    multicast: Option<Time>,
}

/// Who asked for which number lately.
#[derive(Debug)]
pub(super) struct Resends {
    /// Distinct viewers whose NACKs trigger a multicast resend (0: never).
    after: usize,
    asked: HashMap<SeqNo, Asked>,
    /// Numbers in the order first asked, for forgetting.
    order: VecDeque<(Time, SeqNo)>,
    /// Viewers that asked again after a resend: how many times, and until when that counts
    /// (twice: they are taken as not receiving multicast until then).
    deaf: HashMap<SessionId, (u8, Time)>,
}

impl Resends {
    /// Resends once `after` distinct viewers have asked for a number; 0 or 1 never resends
    /// (one viewer alone must not make the relay multicast).
    pub(super) fn new(after: usize) -> Self {
        Resends {
            after: if after < 2 { 0 } else { after },
            asked: HashMap::new(),
            order: VecDeque::new(),
            deaf: HashMap::new(),
        }
    }

    /// How to answer `session`'s NACK of `seq` at `now`.
    pub(super) fn answer(&mut self, now: Time, seq: SeqNo, session: SessionId) -> Answer {
        if self.after == 0 {
            return Answer::Unicast;
        }
        self.forget(now);
        if self
            .deaf
            .get(&session)
            .is_some_and(|&(strikes, until)| strikes >= 2 && now < until)
        {
            return Answer::Unicast;
        }
        let asked = self.asked.entry(seq).or_insert_with(|| {
            self.order.push_back((now, seq));
            Asked {
                askers: Vec::new(),
                multicast: None,
            }
        });
        let repeat = asked.askers.contains(&session);
        if !repeat && asked.askers.len() < ASKERS {
            asked.askers.push(session);
        }
        match asked.multicast {
            Some(_) if repeat => {
                if self.deaf.len() >= LIMIT {
                    self.deaf.retain(|_, (_, until)| now < *until);
                }
                let strikes = match self.deaf.get(&session) {
                    Some(&(n, until)) if now < until => n.saturating_add(1),
                    _ => 1,
                };
                if self.deaf.len() < LIMIT || strikes > 1 {
                    self.deaf.insert(session, (strikes, now + DEAF_FOR));
                }
                Answer::Unicast
            }
            _ if repeat => Answer::Unicast,
            Some(at) if now.saturating_since(at) <= COVER => Answer::Covered,
            Some(_) => Answer::Unicast,
            None if asked.askers.len() >= self.after => {
                asked.multicast = Some(now);
                Answer::Multicast
            }
            None => Answer::Unicast,
        }
    }

    /// The multicast resend of `seq` just decided could not be paid for: later askers count
    /// towards another.
    pub(super) fn cancel(&mut self, seq: SeqNo) {
        if let Some(asked) = self.asked.get_mut(&seq) {
            asked.multicast = None;
        }
    }

    fn forget(&mut self, now: Time) {
        while let Some(&(at, seq)) = self.order.front() {
            if now.saturating_since(at) <= LIFE && self.order.len() <= LIMIT {
                break;
            }
            self.order.pop_front();
            self.asked.remove(&seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Time::ZERO;

    fn ms(n: u64) -> Time {
        T0 + Duration::from_millis(n)
    }

    #[test]
    fn the_second_viewer_triggers_one_resend_that_covers_the_rest() {
        let mut r = Resends::new(2);
        let seq = SeqNo(7);
        assert_eq!(r.answer(ms(0), seq, SessionId(1)), Answer::Unicast);
        assert_eq!(r.answer(ms(1), seq, SessionId(2)), Answer::Multicast);
        for s in 3..30 {
            assert_eq!(r.answer(ms(2), seq, SessionId(s)), Answer::Covered);
        }
        // Repeats: those viewers did not get the resend (or the first answer).
        assert_eq!(r.answer(ms(25), seq, SessionId(3)), Answer::Unicast);
        assert_eq!(r.answer(ms(25), seq, SessionId(2)), Answer::Unicast);
        // A first NACK long after the resend: it did not reach that viewer.
        assert_eq!(r.answer(ms(80), seq, SessionId(40)), Answer::Unicast);
        // Another number starts over.
        assert_eq!(r.answer(ms(80), SeqNo(8), SessionId(40)), Answer::Unicast);
    }

    #[test]
    fn viewers_the_resend_missed_are_answered_by_unicast_for_a_while() {
        let mut r = Resends::new(2);
        // Two viewers of a cut metro miss numbers 6 and 7; the resends they trigger miss
        // them (one missed resend is not enough: a lossy link loses one in twenty).
        for n in [6, 7] {
            r.answer(ms(0), SeqNo(n), SessionId(1));
            assert_eq!(r.answer(ms(0), SeqNo(n), SessionId(2)), Answer::Multicast);
            assert_eq!(r.answer(ms(20), SeqNo(n), SessionId(1)), Answer::Unicast);
            assert_eq!(r.answer(ms(20), SeqNo(n), SessionId(2)), Answer::Unicast);
        }
        // Their next shared miss triggers no resend, and a third viewer's is not covered.
        assert_eq!(r.answer(ms(30), SeqNo(8), SessionId(1)), Answer::Unicast);
        assert_eq!(r.answer(ms(30), SeqNo(8), SessionId(2)), Answer::Unicast);
        assert_eq!(r.answer(ms(30), SeqNo(8), SessionId(3)), Answer::Unicast);
        // A second later they count again.
        r.answer(ms(1_100), SeqNo(9), SessionId(1));
        assert_eq!(
            r.answer(ms(1_100), SeqNo(9), SessionId(2)),
            Answer::Multicast
        );
    }

    #[test]
    fn one_viewer_alone_never_makes_the_relay_multicast() {
        let mut r = Resends::new(2);
        for t in 0..10 {
            assert_eq!(r.answer(ms(t), SeqNo(7), SessionId(1)), Answer::Unicast);
        }
        let mut off = Resends::new(1);
        assert_eq!(off.answer(ms(0), SeqNo(7), SessionId(1)), Answer::Unicast);
        assert_eq!(off.answer(ms(0), SeqNo(7), SessionId(2)), Answer::Unicast);
    }

    #[test]
    fn a_cancelled_resend_is_tried_again_by_the_next_viewer() {
        let mut r = Resends::new(2);
        r.answer(ms(0), SeqNo(7), SessionId(1));
        assert_eq!(r.answer(ms(0), SeqNo(7), SessionId(2)), Answer::Multicast);
        r.cancel(SeqNo(7));
        assert_eq!(r.answer(ms(1), SeqNo(7), SessionId(3)), Answer::Multicast);
    }

    #[test]
    fn memory_is_bounded_in_numbers_and_time() {
        let mut r = Resends::new(2);
        for n in 0..10_000u64 {
            r.answer(ms(0), SeqNo(n), SessionId(1));
        }
        assert!(r.asked.len() <= LIMIT + 1);
        r.answer(ms(5_000), SeqNo(1), SessionId(1));
        assert_eq!(r.asked.len(), 1);
    }
}
