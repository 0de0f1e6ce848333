//! What every long-running command shares: stopping on SIGINT/SIGTERM or after `--duration`,
//! logging, and writing statistics as JSON.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Tells a run loop when to stop.
pub(crate) struct Stop {
    /// Set by SIGINT or SIGTERM.
    signalled: Arc<AtomicBool>,
    /// When `--duration` runs out, if given.
    deadline: Option<Instant>,
}

impl Stop {
    /// Registers the signal handlers; stops after `duration` seconds if given.
    pub(crate) fn new(duration: Option<f64>) -> anyhow::Result<Stop> {
        let signalled = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&signalled))
                .context("install signal handler")?;
        }
        let deadline = duration.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
        Ok(Stop {
            signalled,
            deadline,
        })
    }

    /// True when the loop should end.
    pub(crate) fn now(&self) -> bool {
        self.signalled.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Starts logging to stderr (`RUST_LOG` filters; `info` by default).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Writes `stats` to `path` as pretty JSON (atomically: a temporary file, then a rename).
pub(crate) fn write_json(path: &Path, stats: &impl Serialize) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(stats)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// Running minimum, mean and maximum of a quantity (pacing error, say), in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Spread {
    /// Samples taken.
    pub(crate) count: u64,
    /// Sum of samples.
    #[serde(skip)]
    sum: i64,
    /// Mean.
    pub(crate) mean_us: f64,
    /// Largest.
    pub(crate) max_us: i64,
}

impl Spread {
    /// Adds a sample.
    pub(crate) fn add(&mut self, us: i64) {
        self.count += 1;
        self.sum += us;
        self.mean_us = self.sum as f64 / self.count as f64;
        self.max_us = if self.count == 1 {
            us
        } else {
            self.max_us.max(us)
        };
    }
}

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
