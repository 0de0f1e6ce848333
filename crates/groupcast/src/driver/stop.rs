//! The stop signal: SIGINT, SIGTERM or the end of `--duration`.

use anyhow::Context;
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
