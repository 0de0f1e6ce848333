//! Loss models for simulated links, driven by the simulation's seeded generator.

use rand::{Rng, RngExt};

/// How a link drops packets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossModel {
    /// Loses nothing.
    None,
    /// Each packet is lost independently with probability `p` (Bernoulli).
    Independent {
        /// Loss probability, 0..=1.
        p: f64,
    },
    /// Gilbert–Elliott: a two-state Markov chain; bursts happen in the bad state.
    Burst {
        /// Probability of moving good → bad per packet.
        p_good_to_bad: f64,
        /// Probability of moving bad → good per packet.
        p_bad_to_good: f64,
        /// Loss probability in the bad state (the good state loses nothing).
        loss_in_bad: f64,
    },
}

impl LossModel {
    /// Gilbert–Elliott with mean burst length `burst` packets and overall loss `rate`
    /// (loss in the bad state is 1).
    pub fn bursty(rate: f64, burst: f64) -> LossModel {
        let p_bad_to_good = 1.0 / burst;
        LossModel::Burst {
            p_good_to_bad: rate * p_bad_to_good / (1.0 - rate),
            p_bad_to_good,
            loss_in_bad: 1.0,
        }
    }

    /// The long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Independent { p } => p,
            LossModel::Burst {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => loss_in_bad * p_good_to_bad / (p_good_to_bad + p_bad_to_good),
        }
    }
}

/// A link's loss state (the Markov chain's current state).
#[derive(Clone, Debug)]
pub struct LossState {
    /// The model.
    model: LossModel,
    /// In the bad state (burst models only).
    bad: bool,
}

impl LossState {
    /// Starts in the good state.
    pub fn new(model: LossModel) -> Self {
        LossState { model, bad: false }
    }

    /// Decides the fate of the next packet: true means lost.
    pub fn lose(&mut self, rng: &mut impl Rng) -> bool {
        match self.model {
            LossModel::None => false,
            LossModel::Independent { p } => rng.random_bool(p),
            LossModel::Burst {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => {
                let flip = if self.bad {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                };
                if rng.random_bool(flip) {
                    self.bad = !self.bad;
                }
                self.bad && rng.random_bool(loss_in_bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn empirical_rates_match_models() {
        let mut rng = SmallRng::seed_from_u64(1);
        for model in [
            LossModel::Independent { p: 0.05 },
            LossModel::bursty(0.05, 8.0),
        ] {
            let mut s = LossState::new(model);
            let lost = (0..200_000).filter(|_| s.lose(&mut rng)).count() as f64 / 200_000.0;
            assert!(
                (lost - model.mean_loss()).abs() < 0.006,
                "{model:?}: {lost}"
            );
        }
        assert!((LossModel::bursty(0.05, 8.0).mean_loss() - 0.05).abs() < 1e-12);
    }
}
