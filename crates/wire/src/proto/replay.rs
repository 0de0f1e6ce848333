//! Anti-replay window over per-sender message counters (the IPsec/DTLS sliding bitmap).

/// How many counters below the highest are still accepted (once each).
pub const WINDOW: u64 = 128;

/// Why a counter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Older than the window: could be a replay, can no longer be told apart.
    TooOld,
    /// Seen before.
    Duplicate,
}

/// The window for one sender.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    /// Highest counter accepted; `None` before the first.
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window that has accepted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `counter` without recording it.
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        let Some(high) = self.highest else {
            return Ok(());
        };
        if counter > high {
            return Ok(());
        }
        let back = high - counter;
        if back >= WINDOW {
            Err(ReplayError::TooOld)
        } else if self.seen & (1 << back) != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Checks and records `counter`; call only for authenticated messages.
    pub fn accept(&mut self, counter: u64) -> Result<(), ReplayError> {
        self.check(counter)?;
        match self.highest {
            Some(high) if counter <= high => self.seen |= 1 << (high - counter),
            Some(high) => {
                let shift = counter - high;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(counter);
            }
            None => {
                self.seen = 1;
                self.highest = Some(counter);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_counter_once_within_window() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(1000), Ok(()));
        assert_eq!(w.accept(1000), Err(ReplayError::Duplicate));
        assert_eq!(w.accept(998), Ok(()));
        assert_eq!(w.accept(998), Err(ReplayError::Duplicate));
        assert_eq!(w.accept(1000 - WINDOW), Err(ReplayError::TooOld));
        assert_eq!(w.accept(1001 - WINDOW), Ok(()));
        assert_eq!(w.accept(5000), Ok(()));
        assert_eq!(w.accept(1001), Err(ReplayError::TooOld));
        assert_eq!(w.accept(4999), Ok(()));
        assert_eq!(w.check(4999), Err(ReplayError::Duplicate));
    }

    proptest::proptest! {
        /// No counter is ever accepted twice, whatever the arrival order.
        #[test]
        fn never_accepts_twice(counters in proptest::collection::vec(0u64..400, 1..300)) {
            let mut w = ReplayWindow::new();
            let mut accepted = std::collections::HashSet::new();
            for c in counters {
                if w.accept(c).is_ok() {
                    proptest::prop_assert!(accepted.insert(c));
                }
            }
        }
    }
}
