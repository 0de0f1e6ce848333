//! The client's link to the manager: a thin executor of [`groupcast_core::ManagerLink`].
//!
//! The state machine decides when to open, heartbeat, follow the event stream or back off;
//! this file carries its actions out with the blocking HTTP client, each in
//! `tokio::task::spawn_blocking`, and brings the outcomes back over a tokio channel into the
//! run loop's `select!` ([`Link::recv`]), so a slow or absent manager never holds up the media
//! path. The event stream is one blocking task feeding the same channel.

use super::report::Report;
use crate::api_client::{ApiClient, Beat, Refused};
use crate::driver::clock::Clock;
use crate::driver::{self, StopWatch};
use groupcast_api::{Assignment, Heartbeat, OpenSession, SessionInfo};
use groupcast_core::{
    BeatOutcome, Client, LOSS_LOG, LinkAction, LinkConfig, LinkEvent, ManagerLink, OpenOutcome,
    Time,
};
use groupcast_wire::proto::SenderId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// An outcome of a blocking call, on its way back to the run loop.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // rare, and boxed on its way into the loop
pub(super) enum Reply {
    /// The answer to an open.
    Open(anyhow::Result<SessionInfo>),
    /// The answer to a heartbeat of the session.
    Beat(SenderId, anyhow::Result<Beat>),
    /// A group change from the session's event stream.
    Group(SenderId, Assignment),
    /// The session's event stream ended.
    StreamEnded(SenderId),
}

/// The manager link as the run loop sees it.
pub(super) struct Link {
    /// The decisions.
    machine: ManagerLink<Assignment>,
    /// The manager.
    api: ApiClient,
    /// What an open asks for.
    request: OpenSession,
    /// Handed to each blocking call.
    tx: UnboundedSender<Reply>,
    /// Their outcomes.
    rx: UnboundedReceiver<Reply>,
    /// The next heartbeat's content, refreshed by [`publish`](Self::publish).
    heartbeat: Heartbeat,
    /// Set to end the running event stream when another replaces it.
    stream_stop: Arc<AtomicBool>,
    /// The last session opened.
    info: Option<SessionInfo>,
    /// Why the first open was refused.
    refused: Option<anyhow::Error>,
}

impl Link {
    /// A link that opens a session as soon as it is [`pump`](Self::pump)ed.
    pub(super) fn new(api: ApiClient, request: OpenSession, now: Time) -> Link {
        let (tx, rx) = unbounded_channel();
        Link {
            machine: ManagerLink::new(LinkConfig::default(), now),
            api,
            request,
            tx,
            rx,
            heartbeat: Heartbeat::default(),
            stream_stop: Arc::new(AtomicBool::new(false)),
            info: None,
            refused: None,
        }
    }

    /// Drives the link until its first session is open (its group stays queued for the run
    /// loop), the manager refuses, or `stopped` resolves.
    pub(super) async fn open(
        &mut self,
        stopped: &mut StopWatch,
        clock: Clock,
    ) -> anyhow::Result<Option<SessionInfo>> {
        loop {
            self.pump(clock.now());
            while let Some(e) = self.poll_event() {
                match e {
                    LinkEvent::Session(_) => return Ok(self.info.clone()),
                    LinkEvent::Refused => {
                        return Err(self
                            .refused
                            .take()
                            .unwrap_or_else(|| anyhow::anyhow!("manager refused the session")));
                    }
                    LinkEvent::Away => tracing::warn!("manager unreachable; retrying"),
                    LinkEvent::Back(_) | LinkEvent::Group(_) => {}
                }
            }
            let wake = self.poll_timeout();
            tokio::select! {
                () = stopped.wait() => return Ok(None),
                r = self.recv() => if let Some(r) = r { self.handle(clock.now(), r) },
                () = driver::sleep_until(&clock, wake) => {}
            }
        }
    }

    /// The next outcome of a blocking call (cancel-safe, for `select!`).
    pub(super) async fn recv(&mut self) -> Option<Reply> {
        self.rx.recv().await
    }

    /// When [`pump`](Self::pump) is next due.
    pub(super) fn poll_timeout(&self) -> Option<Time> {
        self.machine.poll_timeout()
    }

    /// The next piece of news for the run loop.
    pub(super) fn poll_event(&mut self) -> Option<LinkEvent<Assignment>> {
        self.machine.poll_event()
    }

    /// Feeds an outcome to the state machine.
    pub(super) fn handle(&mut self, now: Time, reply: Reply) {
        match reply {
            Reply::Open(r) => {
                let outcome = self.open_outcome(r);
                self.machine.handle_open(now, outcome);
            }
            Reply::Beat(session, r) => {
                let outcome = match r {
                    Ok(Beat::Alive(a)) => BeatOutcome::Alive(a),
                    Ok(Beat::Gone) => {
                        tracing::info!(session = session.0, "the manager lost the session");
                        BeatOutcome::Gone
                    }
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "heartbeat");
                        BeatOutcome::Unreachable
                    }
                };
                self.machine.handle_heartbeat(now, session, outcome);
            }
            Reply::Group(session, a) => self.machine.handle_group_event(now, session, a),
            Reply::StreamEnded(session) => self.machine.handle_stream_ended(now, session),
        }
    }

    fn open_outcome(&mut self, r: anyhow::Result<SessionInfo>) -> OpenOutcome<Assignment> {
        match r {
            Ok(info) => {
                let outcome = OpenOutcome::Opened {
                    session: info.session,
                    heartbeat: Duration::from_millis(u64::from(info.heartbeat_ms)),
                    group: info.assignment.clone(),
                };
                self.info = Some(info);
                outcome
            }
            Err(e) if e.downcast_ref::<Refused>().is_some() => {
                tracing::warn!(error = %format!("{e:#}"), "opening a session");
                self.refused = Some(e);
                OpenOutcome::Refused
            }
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "opening a session");
                OpenOutcome::Unreachable
            }
        }
    }

    /// Queues what is due at `now` and starts the calls it asks for.
    pub(super) fn pump(&mut self, now: Time) {
        self.machine.handle_timeout(now);
        while let Some(action) = self.machine.poll_action() {
            self.start(action);
        }
    }

    /// Starts one call on a blocking thread; its outcome comes back through [`recv`](Self::recv).
    fn start(&mut self, action: LinkAction) {
        let (api, tx) = (self.api.clone(), self.tx.clone());
        match action {
            LinkAction::Open => {
                let request = self.request.clone();
                spawn(move || {
                    let _ = tx.send(Reply::Open(api.open_session(&request)));
                });
            }
            LinkAction::Heartbeat(session) => {
                let hb = std::mem::take(&mut self.heartbeat);
                spawn(move || {
                    let _ = tx.send(Reply::Beat(session, api.heartbeat(session, &hb)));
                });
            }
            LinkAction::Follow(session) => {
                self.stream_stop.store(true, Ordering::Relaxed);
                let stop = Arc::new(AtomicBool::new(false));
                self.stream_stop = Arc::clone(&stop);
                spawn(move || follow(&api, session, &stop, &tx));
            }
            LinkAction::Close(session) => {
                if let Err(e) = self.api.delete(&format!("/sessions/{}", session.0)) {
                    tracing::debug!(error = %format!("{e:#}"), "closing the session");
                }
            }
        }
    }

    /// Refreshes the next heartbeat from the core's figures and its newly detected losses.
    pub(super) fn publish(&mut self, core: &mut Client, report: &Report) {
        let hb = &mut self.heartbeat;
        hb.stats = report.client_stats();
        hb.ssrc = groupcast_api::Ssrc(report.ssrc);
        hb.unicast.clone_from(&report.unicast_relay);
        core.drain_losses(&mut hb.losses);
        let excess = hb.losses.len().saturating_sub(LOSS_LOG);
        hb.losses.drain(..excess);
    }

    /// Stops the link and ends the session at the manager (a blocking call, bounded by the
    /// client's call timeout), so the group is refilled at once.
    pub(super) fn close(&mut self) {
        self.stream_stop.store(true, Ordering::Relaxed);
        self.machine.close();
        while let Some(action) = self.machine.poll_action() {
            self.start(action);
        }
    }
}

fn spawn(f: impl FnOnce() + Send + 'static) {
    drop(tokio::task::spawn_blocking(f));
}

/// The event stream of `session`: each group change goes to the run loop until the stream
/// ends, `stop` is set or the run loop is gone; then the end is reported.
fn follow(api: &ApiClient, session: SenderId, stop: &AtomicBool, tx: &UnboundedSender<Reply>) {
    let result = api.follow_events(session, |a| {
        !stop.load(Ordering::Relaxed) && tx.send(Reply::Group(session, a)).is_ok()
    });
    if let Err(e) = result {
        tracing::debug!(error = %format!("{e:#}"), "group events");
    }
    let _ = tx.send(Reply::StreamEnded(session));
}
