//! The client's link to the manager, on its own threads so that a slow or absent manager never
//! holds up the media path: heartbeats carry the figures and bring back the group; a
//! server-sent event stream brings group changes at once; a lost session is reopened.
//! While the manager is unreachable the client plays on with the last group it was given.

use super::report::Report;
use crate::api_client::{ApiClient, Beat, Refused};
use crate::driver::Stop;
use groupcast_api::{Assignment, Heartbeat, OpenSession, SessionId, SessionInfo, Ssrc};
use groupcast_core::{Client, LOSS_LOG};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Wait between attempts to reach the manager.
const RETRY: Duration = Duration::from_secs(1);

/// News from the manager for the run loop.
#[derive(Debug)]
pub(super) enum LinkEvent {
    /// The session's group (possibly unchanged).
    Group(Assignment),
    /// The old session had ended; this is the new one.
    Session(SessionInfo),
}

/// What the link threads share with the run loop.
struct Shared {
    /// The next heartbeat's content, refreshed by the run loop.
    heartbeat: Mutex<Heartbeat>,
    /// The current session id (changes when a lost session is reopened).
    session: AtomicU64,
    /// Set when the client stops.
    closing: AtomicBool,
    /// Wakes the run loop when news arrives.
    notify: Arc<Notify>,
    /// News for the run loop.
    tx: Mutex<Sender<LinkEvent>>,
}

impl Shared {
    fn send(&self, e: LinkEvent) {
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(e);
        self.notify.notify_one();
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Sleeps `d` in small steps, returning early (false) if the client is closing.
    fn sleep(&self, d: Duration) -> bool {
        let step = Duration::from_millis(50);
        let mut left = d;
        while !left.is_zero() {
            if self.closing() {
                return false;
            }
            std::thread::sleep(step.min(left));
            left = left.saturating_sub(step);
        }
        !self.closing()
    }
}

/// The manager link as the run loop sees it.
pub(super) struct Link {
    /// Shared with the threads.
    shared: Arc<Shared>,
    /// News from the threads.
    rx: Receiver<LinkEvent>,
    /// For closing the session at exit.
    api: ApiClient,
    /// Wakes the run loop when news arrives.
    notify: Arc<Notify>,
}

/// Opens a session, retrying every second while the manager is unreachable, until `stop`.
/// A refusal (bad token, unknown channel, not entitled) is not retried: it is reported.
pub(crate) fn open_session(
    api: &ApiClient,
    req: &OpenSession,
    stop: &Stop,
) -> anyhow::Result<Option<SessionInfo>> {
    let mut warned = false;
    loop {
        match api.open_session(req) {
            Ok(info) => return Ok(Some(info)),
            Err(e) if e.downcast_ref::<Refused>().is_some() => return Err(e),
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %format!("{e:#}"), "manager unreachable; retrying");
                    warned = true;
                }
            }
        }
        let until = std::time::Instant::now() + RETRY;
        while std::time::Instant::now() < until {
            if stop.now() {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Link {
    /// Starts the heartbeat and event threads for the session `info`.
    pub(super) fn start(api: ApiClient, req: OpenSession, info: &SessionInfo) -> Link {
        let (tx, rx) = channel();
        let notify = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            heartbeat: Mutex::new(Heartbeat::default()),
            session: AtomicU64::new(info.session.0),
            closing: AtomicBool::new(false),
            notify: Arc::clone(&notify),
            tx: Mutex::new(tx),
        });
        let every = Duration::from_millis(u64::from(info.heartbeat_ms.clamp(100, 60_000)));
        let (s, a) = (Arc::clone(&shared), api.clone());
        std::thread::spawn(move || heartbeats(&a, &req, &s, every));
        let (s, a) = (Arc::clone(&shared), api.clone());
        std::thread::spawn(move || events(&a, &s));
        Link {
            shared,
            rx,
            api,
            notify,
        }
    }

    /// Notified when news may be waiting (see [`try_next`](Self::try_next)).
    pub(super) fn notify(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// The next piece of news, if any.
    pub(super) fn try_next(&self) -> Option<LinkEvent> {
        self.rx.try_recv().ok()
    }

    /// Refreshes the next heartbeat from the core's figures and its newly detected losses.
    pub(super) fn publish(&self, core: &mut Client, report: &Report) {
        let mut hb = self
            .shared
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        hb.stats = report.client_stats();
        hb.ssrc = Ssrc(report.ssrc);
        core.drain_losses(&mut hb.losses);
        let excess = hb.losses.len().saturating_sub(LOSS_LOG);
        hb.losses.drain(..excess);
    }

    /// Stops the threads and ends the session at the manager (best effort, bounded).
    pub(super) fn close(&self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        let session = self.shared.session.load(Ordering::Relaxed);
        if let Err(e) = self.api.delete(&format!("/sessions/{session}")) {
            tracing::debug!(error = %format!("{e:#}"), "closing the session");
        }
    }
}

/// The heartbeat thread: every `every`, sends the figures; reopens a session the manager lost.
fn heartbeats(api: &ApiClient, req: &OpenSession, shared: &Shared, every: Duration) {
    let mut reachable = true;
    while shared.sleep(every) {
        let session = shared.session.load(Ordering::Relaxed);
        let hb = std::mem::take(
            &mut *shared
                .heartbeat
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        match api.heartbeat(SessionId(session), &hb) {
            Ok(Beat::Alive(a)) => {
                if !reachable {
                    tracing::info!(session, "manager reachable again; session re-attached");
                }
                reachable = true;
                shared.send(LinkEvent::Group(a));
            }
            Ok(Beat::Gone) => reopen(api, req, shared),
            Err(e) => {
                if reachable {
                    tracing::warn!(
                        error = %format!("{e:#}"),
                        "manager unreachable; playing on with the last group"
                    );
                }
                reachable = false;
            }
        }
    }
}

/// Opens a new session after the manager ended the old one.
fn reopen(api: &ApiClient, req: &OpenSession, shared: &Shared) {
    match api.open_session(req) {
        Ok(info) => {
            shared.session.store(info.session.0, Ordering::Relaxed);
            shared.send(LinkEvent::Session(info));
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "reopening the session"),
    }
}

/// The event thread: follows the current session's group changes, reconnecting as needed.
fn events(api: &ApiClient, shared: &Shared) {
    loop {
        let session = shared.session.load(Ordering::Relaxed);
        let result = api.follow_events(SessionId(session), |a| {
            let current = shared.session.load(Ordering::Relaxed) == session;
            if current && !shared.closing() {
                shared.send(LinkEvent::Group(a));
            }
            current && !shared.closing()
        });
        if let Err(e) = result {
            tracing::debug!(error = %format!("{e:#}"), "group events");
        }
        if !shared.sleep(RETRY) {
            return;
        }
    }
}
