//! The one loop shape of every driver, and the pieces the drivers share: the [`clock`], the
//! [`Stop`] signal, timers and the runtime.
//!
//! A driver is the thin layer between sockets, files and the clock on one side and a sans-IO
//! state machine on the other (`groupcast_source::{SourceInput, Central, Edge}`,
//! `groupcast_core::Client`). The source, the edge and the client all run the same loop, on a
//! current-thread tokio runtime ([`runtime`]) (`client/mod.rs` `Driver::drive`,
//! `source/drive.rs` `Sender::drive`, `edge.rs` `drive`):
//!
//! ```text
//! loop {
//!     drain the machine: send what it queued, log its events, write reports;
//!     tokio::select! {
//!         () = stopped.wait() => break,                         // SIGINT, SIGTERM, --duration
//!         r = socket.readable() => take every waiting datagram: machine.handle_*(now, bytes),
//!         () = sleep_until(clock, machine.poll_timeout()) => machine.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! Why one style, and this one:
//! - the machine decides every deadline (`poll_timeout`), so the driver sleeps exactly until
//!   there is work: no fixed 2 ms read timeouts or sleep loops that wake for nothing, and no
//!   timer granularity chosen by the driver;
//! - one thread waits on every socket and timer at once, so the media path needs no lock, no
//!   channel and no second thread;
//! - the same shape in each role means a fix or a feature in one driver reads the same in the
//!   others, and the simulator drives the very same machines on virtual time.
//!
//! At channel rates above one datagram a millisecond the client pauses its loop between
//! drains of the media socket ([`Coalesce`]), so it wakes once a millisecond, not once a
//! datagram.
//!
//! tokio's timers have millisecond granularity. That is plenty for repair and relay timers,
//! but the source paces datagrams by the stream's PCR to tens of microseconds, so its timer
//! is [`sleep_until_precise`]: tokio up to the last millisecond, a thread sleep for the rest.

pub(crate) mod clock;
mod coalesce;
mod stop;

use clock::Clock;
pub(crate) use coalesce::Coalesce;
use groupcast_core::Time;
use std::time::Duration;
pub(crate) use stop::{Stop, StopWatch};

/// How much of a precise wait is left to a thread sleep (tokio's timer granularity).
const TIMER_GRANULARITY: Duration = Duration::from_millis(2);

/// The runtime every driver runs on: one thread, with I/O and timers.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The earliest of some deadlines, if any.
pub(crate) fn earliest(deadlines: impl IntoIterator<Item = Option<Time>>) -> Option<Time> {
    deadlines.into_iter().flatten().min()
}

/// Resolves at `at` (to tokio's millisecond granularity); never when `at` is `None`.
pub(crate) async fn sleep_until(clock: &Clock, at: Option<Time>) {
    match at {
        Some(t) => tokio::time::sleep_until(clock.instant(t)).await,
        None => std::future::pending().await,
    }
}

/// Resolves at `at` to within the kernel's timer slack (tens of microseconds): tokio sleeps
/// until a millisecond before, then the thread sleeps the rest (blocking this one-thread
/// runtime for at most about a millisecond). Never when `at` is `None`.
pub(crate) async fn sleep_until_precise(clock: &Clock, at: Option<Time>) {
    let Some(t) = at else {
        return std::future::pending().await;
    };
    let due = clock.instant(t);
    tokio::time::sleep_until(due.checked_sub(TIMER_GRANULARITY).unwrap_or(due)).await;
    let rest = due.saturating_duration_since(tokio::time::Instant::now());
    if !rest.is_zero() {
        std::thread::sleep(rest);
    }
}

/// Resolves when `socket` has a datagram waiting; never when there is no socket.
pub(crate) async fn readable(socket: Option<&tokio::net::UdpSocket>) -> std::io::Result<()> {
    match socket {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_skips_the_absent() {
        let t = Time::from_millis;
        assert_eq!(earliest([None, Some(t(5)), Some(t(3))]), Some(t(3)));
        assert_eq!(earliest([None, None]), None);
    }

    #[test]
    fn a_precise_sleep_ends_close_after_its_deadline() {
        let rt = runtime().unwrap();
        let clock = Clock::start();
        for ms in [0, 3, 7] {
            let at = clock.now() + Duration::from_millis(ms);
            rt.block_on(sleep_until_precise(&clock, Some(at)));
            let late = clock.now().saturating_since(at);
            assert!(clock.now() >= at);
            // Generous: a loaded 2-core test machine can preempt the thread.
            assert!(late < Duration::from_millis(20), "{late:?} late");
        }
    }

    #[test]
    fn no_deadline_and_no_socket_never_resolve() {
        let rt = runtime().unwrap();
        let clock = Clock::start();
        rt.block_on(async {
            tokio::select! {
                () = sleep_until(&clock, None) => panic!("no deadline"),
                () = sleep_until_precise(&clock, None) => panic!("no deadline"),
                _ = readable(None) => panic!("no socket"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        });
    }
}
