//! [`ManagerLink`]: a client's link to the manager as a sans-IO state machine.
//!
//! It decides *when* to open a session, send a heartbeat, (re)connect the event stream or give
//! up for a while, and *which* group news is current; the driver does the talking (HTTP and
//! JSON, or a simulated manager) and answers with typed outcomes. While the manager is away
//! the client plays on with the last group it was given; the link notes since when, keeps
//! heartbeating so that it notices the manager's return, and reopens a lost session with
//! backoff.
//!
//! The group itself is opaque here (`G`): the real client passes the manager's assignment,
//! the simulator the core's [`Group`](crate::Group).
//!
//! ```
//! use groupcast_core::{LinkAction, LinkConfig, LinkEvent, ManagerLink, OpenOutcome, Time};
//! use groupcast_wire::proto::SenderId;
//! use std::time::Duration;
//!
//! let mut link: ManagerLink<&str> = ManagerLink::new(LinkConfig::default(), Time::ZERO);
//! assert_eq!(link.poll_action(), Some(LinkAction::Open));
//! let opened = OpenOutcome::Opened { session: SenderId(7), heartbeat: Duration::from_secs(1), group: "g1" };
//! link.handle_open(Time::ZERO, opened);
//! assert_eq!(link.poll_event(), Some(LinkEvent::Session(SenderId(7))));
//! assert_eq!(link.poll_event(), Some(LinkEvent::Group("g1")));
//! assert_eq!(link.poll_action(), Some(LinkAction::Follow(SenderId(7))));
//! assert_eq!(link.poll_timeout(), Some(Time::from_secs(1))); // the first heartbeat
//! ```

use crate::Time;
use groupcast_base::SessionId;
use std::collections::VecDeque;
use std::time::Duration;

/// The link's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// First wait after a failed open, and the wait before reconnecting the event stream.
    pub retry: Duration,
    /// Longest wait between open attempts (the wait doubles from `retry` up to this).
    pub max_backoff: Duration,
    /// Shortest heartbeat interval accepted from the manager.
    pub min_heartbeat: Duration,
    /// Longest heartbeat interval accepted from the manager.
    pub max_heartbeat: Duration,
}

impl Default for LinkConfig {
    /// Retries after 1 s, backing off to 8 s; heartbeats between 100 ms and 60 s.
    fn default() -> Self {
        LinkConfig {
            retry: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            min_heartbeat: Duration::from_millis(100),
            max_heartbeat: Duration::from_secs(60),
        }
    }
}

/// What the driver should do for the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAction {
    /// Open a session; answer with [`ManagerLink::handle_open`].
    Open,
    /// Send the session's figures; answer with [`ManagerLink::handle_heartbeat`].
    Heartbeat(SessionId),
    /// Follow the session's group changes (dropping any older stream); report each with
    /// [`ManagerLink::handle_group_event`] and the stream's end with
    /// [`ManagerLink::handle_stream_ended`].
    Follow(SessionId),
    /// End the session at the manager (best effort; no answer expected).
    Close(SessionId),
}

/// How an open attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenOutcome<G> {
    /// The session is open.
    Opened {
        /// Its id.
        session: SessionId,
        /// The heartbeat interval the manager asks for.
        heartbeat: Duration,
        /// Its group.
        group: G,
    },
    /// The manager could not be reached (or answered too late): try again later.
    Unreachable,
    /// The manager refused (bad token, unknown channel, not entitled): trying again will not help.
    Refused,
}

/// How a heartbeat went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BeatOutcome<G> {
    /// The session lives; its current group.
    Alive(G),
    /// The manager no longer knows the session.
    Gone,
    /// The manager could not be reached.
    Unreachable,
}

/// News for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent<G> {
    /// A session is open under this id (the first one, or a new one after the old one ended):
    /// peer messages go out under it from now on.
    Session(SessionId),
    /// The current group, from an open, a heartbeat or the event stream (possibly unchanged).
    Group(G),
    /// The manager stopped answering: play on with the last group.
    Away,
    /// The manager answers again after being away this long.
    Back(Duration),
    /// The first open was refused: the link has stopped.
    Refused,
}

/// Where the link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No session: an open attempt is due at `due` (or in flight).
    Opening {
        /// When the next attempt goes out.
        due: Time,
        /// An attempt awaits its answer.
        in_flight: bool,
    },
    /// A session is open.
    Open {
        /// Its id.
        session: SessionId,
        /// When the next heartbeat goes out (`Time::NEVER` while one is in flight).
        beat_due: Time,
        /// When the event stream is reconnected (`Time::NEVER` while it runs).
        follow_due: Time,
    },
    /// Closed or refused: nothing more to do.
    Done,
}

/// A client's link to the manager: open, heartbeat timing, group news, manager-away
/// behaviour and reopening with backoff (the timing rules are in `link/mod.rs`).
#[derive(Debug)]
pub struct ManagerLink<G> {
    /// Timing.
    config: LinkConfig,
    /// Where it stands.
    state: State,
    /// The heartbeat interval of the current session.
    heartbeat: Duration,
    /// The wait before the next open attempt after a failure (doubles up to the maximum).
    backoff: Duration,
    /// Whether a session was ever open (only the first open's refusal is final).
    ever_opened: bool,
    /// Since when the manager has not answered, if it is away.
    away_since: Option<Time>,
    /// Actions for the driver.
    actions: VecDeque<LinkAction>,
    /// News for the driver.
    events: VecDeque<LinkEvent<G>>,
}

impl<G> ManagerLink<G> {
    /// A link that opens its first session at `now`.
    pub fn new(config: LinkConfig, now: Time) -> Self {
        let mut link = ManagerLink {
            config,
            state: State::Opening {
                due: now,
                in_flight: false,
            },
            heartbeat: config.retry,
            backoff: config.retry,
            ever_opened: false,
            away_since: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        link.handle_timeout(now);
        link
    }

    /// The open session, if any.
    pub fn session(&self) -> Option<SessionId> {
        match self.state {
            State::Open { session, .. } => Some(session),
            _ => None,
        }
    }

    /// Since when the manager has been away, if it is.
    pub fn away_since(&self) -> Option<Time> {
        self.away_since
    }

    /// Queues whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        match &mut self.state {
            State::Opening { due, in_flight } if !*in_flight && *due <= now => {
                *in_flight = true;
                self.actions.push_back(LinkAction::Open);
            }
            State::Open {
                session,
                beat_due,
                follow_due,
            } => {
                if *beat_due <= now {
                    *beat_due = Time::NEVER;
                    self.actions.push_back(LinkAction::Heartbeat(*session));
                }
                if *follow_due <= now {
                    *follow_due = Time::NEVER;
                    self.actions.push_back(LinkAction::Follow(*session));
                }
            }
            _ => {}
        }
    }

    /// The answer to [`LinkAction::Open`].
    pub fn handle_open(&mut self, now: Time, outcome: OpenOutcome<G>) {
        if !matches!(
            self.state,
            State::Opening {
                in_flight: true,
                ..
            }
        ) {
            return;
        }
        match outcome {
            OpenOutcome::Opened {
                session,
                heartbeat,
                group,
            } => {
                self.reached(now);
                self.ever_opened = true;
                self.backoff = self.config.retry;
                self.heartbeat =
                    heartbeat.clamp(self.config.min_heartbeat, self.config.max_heartbeat);
                self.state = State::Open {
                    session,
                    beat_due: now + self.heartbeat,
                    follow_due: Time::NEVER,
                };
                self.events.push_back(LinkEvent::Session(session));
                self.events.push_back(LinkEvent::Group(group));
                self.actions.push_back(LinkAction::Follow(session));
            }
            OpenOutcome::Refused if !self.ever_opened => {
                self.state = State::Done;
                self.events.push_back(LinkEvent::Refused);
            }
            // A reopen refused (a token revoked since, say) is retried with backoff.
            OpenOutcome::Refused => self.retry_open(now),
            OpenOutcome::Unreachable => {
                self.unreachable(now);
                self.retry_open(now);
            }
        }
    }

    /// The answer to [`LinkAction::Heartbeat`] for `session`.
    pub fn handle_heartbeat(&mut self, now: Time, session: SessionId, outcome: BeatOutcome<G>) {
        let State::Open {
            session: current,
            beat_due,
            ..
        } = &mut self.state
        else {
            return;
        };
        if *current != session {
            return;
        }
        match outcome {
            BeatOutcome::Alive(group) => {
                *beat_due = now + self.heartbeat;
                self.reached(now);
                self.events.push_back(LinkEvent::Group(group));
            }
            BeatOutcome::Unreachable => {
                *beat_due = now + self.heartbeat;
                self.unreachable(now);
            }
            BeatOutcome::Gone => {
                // The manager answers but lost the session: open a new one at once, keeping
                // the last group meanwhile.
                self.reached(now);
                self.state = State::Opening {
                    due: now,
                    in_flight: false,
                };
                self.handle_timeout(now);
            }
        }
    }

    /// A group change for `session` from the event stream.
    pub fn handle_group_event(&mut self, now: Time, session: SessionId, group: G) {
        if self.session() == Some(session) {
            self.reached(now);
            self.events.push_back(LinkEvent::Group(group));
        }
    }

    /// The event stream of `session` ended or failed: reconnect after the retry wait.
    pub fn handle_stream_ended(&mut self, now: Time, session: SessionId) {
        if let State::Open {
            session: current,
            follow_due,
            ..
        } = &mut self.state
            && *current == session
            && *follow_due == Time::NEVER
        {
            *follow_due = now + self.config.retry;
        }
    }

    /// Stops the link; the open session, if any, is to be closed.
    pub fn close(&mut self) {
        if let Some(session) = self.session() {
            self.actions.push_back(LinkAction::Close(session));
        }
        self.state = State::Done;
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<LinkAction> {
        self.actions.pop_front()
    }

    /// The next piece of news, if any.
    pub fn poll_event(&mut self) -> Option<LinkEvent<G>> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        let t = match self.state {
            State::Opening {
                due,
                in_flight: false,
            } => due,
            State::Open {
                beat_due,
                follow_due,
                ..
            } => beat_due.min(follow_due),
            _ => Time::NEVER,
        };
        (t != Time::NEVER).then_some(t)
    }

    /// The next open attempt after the backoff, which then doubles.
    fn retry_open(&mut self, now: Time) {
        self.state = State::Opening {
            due: now + self.backoff,
            in_flight: false,
        };
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
    }

    /// The manager answered.
    fn reached(&mut self, now: Time) {
        if let Some(since) = self.away_since.take() {
            self.events
                .push_back(LinkEvent::Back(now.saturating_since(since)));
        }
    }

    /// The manager did not answer.
    fn unreachable(&mut self, now: Time) {
        if self.away_since.is_none() {
            self.away_since = Some(now);
            self.events.push_back(LinkEvent::Away);
        }
    }
}

#[cfg(test)]
mod tests;
