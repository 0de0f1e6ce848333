//! The stop signal: SIGINT, SIGTERM or the end of `--duration`; polled by threads
//! ([`Stop::now`]) or awaited in a driver's loop ([`Stop::watch`]).

use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

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

    /// Something a driver's loop can await: resolves when the loop should end. Needs a tokio
    /// runtime.
    pub(crate) fn watch(&self) -> anyhow::Result<StopWatch> {
        Ok(StopWatch {
            signalled: Arc::clone(&self.signalled),
            deadline: self.deadline.map(tokio::time::Instant::from),
            interrupt: signal(SignalKind::interrupt()).context("watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("watch SIGTERM")?,
            quit: None,
        })
    }
}

/// The stop signal as a future, for `tokio::select!`.
pub(crate) struct StopWatch {
    /// Set by a signal that came before the watch began.
    signalled: Arc<AtomicBool>,
    /// When `--duration` runs out, if given.
    deadline: Option<tokio::time::Instant>,
    /// SIGINT, seen by tokio.
    interrupt: Signal,
    /// SIGTERM, seen by tokio.
    terminate: Signal,
    /// Another thread's request to end this loop alone (a gateway leaving a channel).
    quit: Option<watch::Receiver<bool>>,
}

impl StopWatch {
    /// Also resolves once `quit` holds `true` (or its sender is gone).
    pub(crate) fn or_quit(mut self, quit: watch::Receiver<bool>) -> StopWatch {
        self.quit = Some(quit);
        self
    }

    /// Resolves at a signal, at the end of `--duration`, or on quit (cancel-safe).
    pub(crate) async fn wait(&mut self) {
        if self.signalled.load(Ordering::Relaxed) {
            return;
        }
        let quit = self.quit.as_mut();
        let quit = async {
            match quit {
                Some(q) => {
                    let _ = q.wait_for(|quit| *quit).await;
                }
                None => std::future::pending().await,
            }
        };
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            () = deadline => {}
            () = quit => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_resolves_at_the_end_of_the_duration() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stop = Stop::new(Some(0.05)).unwrap();
        assert!(!stop.now());
        let started = Instant::now();
        rt.block_on(async { stop.watch().unwrap().wait().await });
        assert!(started.elapsed() >= Duration::from_millis(45));
        assert!(stop.now());
    }

    #[test]
    fn a_watch_resolves_on_quit() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stop = Stop::new(None).unwrap();
        let (tx, rx) = watch::channel(false);
        rt.block_on(async {
            let mut w = stop.watch().unwrap().or_quit(rx);
            let early = tokio::time::timeout(Duration::from_millis(20), w.wait()).await;
            assert!(early.is_err(), "resolved before quit");
            tx.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(5), w.wait())
                .await
                .expect("quit did not end the wait");
        });
    }
}
