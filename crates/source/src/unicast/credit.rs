//! Budgets that grow with the stream rather than with the clock: every datagram the relay
//! sends earns a fixed fraction of a packet, so a budget of 1 % of the stream is 1 % at
//! 170 packets/s and at 2,000, without measuring the rate.

/// Thousandths of a packet per packet.
const MILLI: u64 = 1_000;

/// A budget of packets earned per datagram of the stream, up to a depth.
#[derive(Clone, Copy, Debug)]
pub(super) struct Credit {
    /// Thousandths of a packet held.
    milli: u64,
    /// The stream's datagram count when `milli` was last brought up to date.
    at: u64,
}

impl Credit {
    /// A budget holding `packets` now, counting the stream from datagram `at`.
    pub(super) fn new(packets: u64, at: u64) -> Self {
        Credit {
            milli: packets * MILLI,
            at,
        }
    }

    /// Takes one packet if the budget holds one, after adding `permille` thousandths of a
    /// packet for every datagram since the last call (the stream is at datagram `count`), up
    /// to `depth` packets.
    pub(super) fn take(&mut self, count: u64, permille: u64, depth: u64) -> bool {
        let earned = count.saturating_sub(self.at).saturating_mul(permille);
        self.milli = self.milli.saturating_add(earned).min(depth * MILLI);
        self.at = count;
        if self.milli >= MILLI {
            self.milli -= MILLI;
            true
        } else {
            false
        }
    }

    /// As [`take`](Self::take), but only if `floor` packets stay in the budget afterwards.
    pub(super) fn take_above(&mut self, count: u64, permille: u64, depth: u64, floor: u64) -> bool {
        if !self.take(count, permille, depth) {
            return false;
        }
        if self.milli < floor * MILLI {
            self.refund();
            return false;
        }
        true
    }

    /// Gives back a packet taken but not used.
    pub(super) fn refund(&mut self) {
        self.milli += MILLI;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_of_the_stream_whatever_its_rate() {
        let mut c = Credit::new(0, 0);
        let mut taken = 0;
        for count in 1..=10_000u64 {
            // Ask for far more than the budget: one packet per datagram, twice.
            taken += u64::from(c.take(count, 10, 50)) + u64::from(c.take(count, 10, 50));
        }
        assert_eq!(taken, 100);
    }

    #[test]
    fn a_floor_keeps_packets_back() {
        let mut c = Credit::new(10, 0);
        let mut taken = 0;
        while c.take_above(0, 10, 50, 4) {
            taken += 1;
        }
        assert_eq!(taken, 6);
        assert!(
            c.take(0, 10, 50),
            "the floor is still there for plain takes"
        );
    }

    #[test]
    fn the_depth_caps_what_a_quiet_spell_saves() {
        let mut c = Credit::new(0, 0);
        assert!(!c.take(0, 10, 50));
        let mut burst = 0;
        while c.take(1_000_000, 10, 50) {
            burst += 1;
        }
        assert_eq!(burst, 50);
        c.refund();
        assert!(c.take(1_000_000, 10, 50));
    }
}
