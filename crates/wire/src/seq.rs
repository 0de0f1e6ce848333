//! Sequence numbers and stream identity.
//!
//! RTP carries 16-bit sequence numbers and 32-bit timestamps that wrap. Everything above the
//! wire works on [`SeqNo`], a 64-bit extended number produced by [`SeqExtender`], so no code
//! ever does bare `u16` arithmetic.

use core::fmt;

/// An RTP sequence number extended to 64 bits (RFC 3550 appendix A.1 style).
///
/// The low 16 bits are the wire value; the high bits count wraps as seen by one receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The 16-bit value carried on the wire.
    pub fn wire(self) -> u16 {
        self.0 as u16
    }

    /// The next sequence number.
    pub fn next(self) -> SeqNo {
        SeqNo(self.0 + 1)
    }

    /// Resolves a 16-bit wire value to the extended number closest to `self`.
    ///
    /// Used for values that refer to packets near a known position, such as the sequence
    /// numbers in a peer's repair request.
    pub fn nearest(self, wire: u16) -> SeqNo {
        let delta = wire.wrapping_sub(self.wire()) as i16 as i64;
        SeqNo(self.0.saturating_add_signed(delta))
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub use groupcast_base::Ssrc;

/// Extends wrapping 16-bit sequence numbers to [`SeqNo`].
///
/// The first value seen is placed at `2^16` so that packets slightly older than the first one
/// (reordering at start-up) still get a valid, smaller extended number.
#[derive(Clone, Debug, Default)]
pub struct SeqExtender {
    /// Highest extended value seen so far; `None` until the first packet.
    highest: Option<SeqNo>,
}

impl SeqExtender {
    /// A fresh extender that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Extends `wire`, treating values within half the space of the highest as near it.
    pub fn extend(&mut self, wire: u16) -> SeqNo {
        let ext = match self.highest {
            None => SeqNo((1 << 16) | u64::from(wire)),
            Some(h) => h.nearest(wire),
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// The highest extended value seen.
    pub fn highest(&self) -> Option<SeqNo> {
        self.highest
    }
}

/// Extends wrapping 32-bit RTP timestamps to 64 bits the same way [`SeqExtender`] does.
#[derive(Clone, Debug, Default)]
pub struct TimestampExtender {
    /// Highest extended timestamp seen; `None` until the first packet.
    highest: Option<u64>,
}

impl TimestampExtender {
    /// A fresh extender.
    pub fn new() -> Self {
        Self::default()
    }

    /// Extends a 32-bit timestamp to the value nearest the highest seen.
    pub fn extend(&mut self, wire: u32) -> u64 {
        let ext = match self.highest {
            None => (1 << 32) | u64::from(wire),
            Some(h) => {
                let delta = wire.wrapping_sub(h as u32) as i32 as i64;
                h.saturating_add_signed(delta)
            }
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_wrap() {
        let mut e = SeqExtender::new();
        let a = e.extend(65534);
        let b = e.extend(65535);
        let c = e.extend(0);
        let d = e.extend(1);
        assert_eq!((b.0 - a.0, c.0 - b.0, d.0 - c.0), (1, 1, 1));
        assert_eq!(d.wire(), 1);
    }

    #[test]
    fn reordered_packets_across_wrap_get_smaller_numbers() {
        let mut e = SeqExtender::new();
        let first = e.extend(2);
        let late = e.extend(65533);
        assert_eq!(first.0 - late.0, 5);
        assert_eq!(e.highest(), Some(first));
    }

    #[test]
    fn nearest_resolves_both_directions() {
        let at = SeqNo(3 << 16 | 10);
        assert_eq!(at.nearest(5), SeqNo(at.0 - 5));
        assert_eq!(at.nearest(65530), SeqNo(at.0 - 16));
        assert_eq!(SeqNo(3 << 16 | 65530).nearest(3), SeqNo((4 << 16) | 3));
    }

    #[test]
    fn timestamps_wrap() {
        let mut e = TimestampExtender::new();
        let a = e.extend(u32::MAX - 100);
        let b = e.extend(200);
        assert_eq!(b - a, 301);
        assert_eq!(e.extend(u32::MAX - 50), a + 50);
    }

    proptest::proptest! {
        /// Any stream that moves forward by less than half the space extends to the running sum.
        #[test]
        fn forward_steps_extend_to_running_sum(
            start in proptest::num::u16::ANY,
            steps in proptest::collection::vec(1u16..32_768, 1..500),
        ) {
            let mut e = SeqExtender::new();
            let first = e.extend(start);
            let (mut wire, mut expect) = (start, first.0);
            for step in steps {
                wire = wire.wrapping_add(step);
                expect += u64::from(step);
                proptest::prop_assert_eq!(e.extend(wire).0, expect);
            }
        }
    }
}
