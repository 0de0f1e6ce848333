//! TESTING ONLY: seeded loss on receipt, to show and test repair on loopback.

/// TESTING ONLY: drops a seeded share of received datagrams (`--drop-rate`, `--drop-seed`), to
/// show and test repair on loopback, where the network loses nothing.
pub(crate) struct Dropper {
    /// Share dropped, 0..1.
    rate: f64,
    /// Xorshift state (never 0).
    state: u64,
}

impl Dropper {
    /// Drops `rate` (at least 0, below 1) of datagrams, in an order fixed by `seed`.
    pub(crate) fn new(rate: f64, seed: u64) -> anyhow::Result<Dropper> {
        if !(0.0..1.0).contains(&rate) {
            anyhow::bail!("--drop-rate must be at least 0 and below 1, not {rate}");
        }
        // Spread small seeds over the state so that seeds 1, 2, 3 give unrelated sequences.
        let state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1);
        Ok(Dropper { rate, state })
    }

    /// True if the next datagram is to be dropped.
    pub(crate) fn drop(&mut self) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::Dropper;

    #[test]
    fn drops_about_the_share_asked_for() {
        for seed in 1..4 {
            let mut d = Dropper::new(0.05, seed).unwrap();
            let dropped = (0..100_000).filter(|_| d.drop()).count();
            assert!((4_500..5_500).contains(&dropped), "seed {seed}: {dropped}");
        }
        assert!(Dropper::new(1.0, 1).is_err());
        assert!(Dropper::new(-0.1, 1).is_err());
        let mut none = Dropper::new(0.0, 1).unwrap();
        assert!((0..1000).all(|_| !none.drop()));
    }
}
