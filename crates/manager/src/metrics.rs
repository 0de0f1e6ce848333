//! Prometheus `/metrics`: a handful of atomic counters and one latency histogram, rendered in
//! the text exposition format (no exporter crate needed for so few series), plus gauges read
//! from the live state at scrape time.

use crate::App;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonically increasing counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// Adds `n`.
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Relaxed);
    }

    /// The value.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds of the heartbeat latency buckets, seconds.
const BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

/// Everything counted.
#[derive(Default)]
pub(crate) struct Metrics {
    /// Heartbeats answered.
    pub(crate) heartbeats: Counter,
    /// Heartbeat handling time, per bucket (cumulative at render).
    heartbeat_buckets: [Counter; BUCKETS.len()],
    /// Heartbeat handling time, sum in µs.
    heartbeat_us: Counter,
    /// Sessions opened.
    pub(crate) sessions_opened: Counter,
    /// Sessions closed by their client.
    pub(crate) sessions_closed: Counter,
    /// Sessions ended by timeout.
    pub(crate) sessions_expired: Counter,
    /// Groups whose membership changed.
    pub(crate) group_changes: Counter,
    /// Answers with a 4xx status.
    pub(crate) client_errors: Counter,
    /// Answers with a 5xx status.
    pub(crate) server_errors: Counter,
    /// Requests with a missing or unknown token.
    pub(crate) auth_failures: Counter,
    /// SSE group events sent.
    pub(crate) sse_events: Counter,
    /// Requests refused by a hardening check, by reason.
    pub(crate) refused: Refused,
}

/// Requests refused by the checks of issue 13, one counter per reason.
#[derive(Default)]
pub(crate) struct Refused {
    /// A `peer_addr` that is not unicast or not the caller's.
    pub(crate) peer_addr: Counter,
    /// Heartbeat counters that went back or beyond the plausible rate (clamped).
    pub(crate) counters: Counter,
    /// A session in a metro outside the configured list, or a new metro beyond the cap.
    pub(crate) metro: Counter,
    /// A request beyond its user's rate (429).
    pub(crate) rate: Counter,
    /// A connection beyond its address's cap (closed at once).
    pub(crate) connections: Counter,
}

impl Refused {
    fn render(&self, out: &mut String) {
        let name = "groupcast_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused by a hardening check, by reason.\n# TYPE {name} counter"
        );
        let reasons = [
            ("peer_addr", &self.peer_addr),
            ("counters", &self.counters),
            ("metro", &self.metro),
            ("rate", &self.rate),
            ("connections", &self.connections),
        ];
        for (reason, c) in reasons {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", c.get());
        }
    }
}

impl Metrics {
    /// Records one heartbeat's handling time.
    pub(crate) fn heartbeat_took(&self, micros: u64) {
        self.heartbeats.inc();
        self.heartbeat_us.0.fetch_add(micros, Relaxed);
        let secs = micros as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.heartbeat_buckets[i].inc();
        }
    }

    fn render_counters(&self, out: &mut String) {
        let counters = [
            (
                "groupcast_sessions_opened_total",
                "Sessions opened.",
                &self.sessions_opened,
            ),
            (
                "groupcast_sessions_closed_total",
                "Sessions closed by their client.",
                &self.sessions_closed,
            ),
            (
                "groupcast_sessions_expired_total",
                "Sessions ended by heartbeat timeout.",
                &self.sessions_expired,
            ),
            (
                "groupcast_group_changes_total",
                "Group membership changes (each bumps an epoch and issues a key).",
                &self.group_changes,
            ),
            (
                "groupcast_http_client_errors_total",
                "Answers with a 4xx status (bad input, auth, not found).",
                &self.client_errors,
            ),
            (
                "groupcast_http_server_errors_total",
                "Answers with a 5xx status.",
                &self.server_errors,
            ),
            (
                "groupcast_auth_failures_total",
                "Requests with an unknown token.",
                &self.auth_failures,
            ),
            (
                "groupcast_sse_events_total",
                "Group events pushed over SSE.",
                &self.sse_events,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
    }

    fn render_histogram(&self, out: &mut String) {
        let name = "groupcast_heartbeat_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Heartbeat handling time.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&self.heartbeat_buckets) {
            cumulative += c.get();
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.heartbeats.get();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.heartbeat_us.get() as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// `GET /metrics`.
///
/// Only for admins and for the operator's scrape token (`--metrics-token`): the figures name
/// metros and audiences (401 without a token, 403 for a viewer's).
pub(crate) async fn metrics(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, crate::error::ApiErr> {
    let hash = crate::db::hash_token(crate::auth::bearer(&headers)?);
    if app.metrics_token.as_deref() != Some(hash.as_str()) {
        crate::auth::caller(&app, &hash).await?.admin()?;
    }
    let mut out = String::new();
    app.metrics.render_counters(&mut out);
    app.metrics.render_histogram(&mut out);
    app.metrics.refused.render(&mut out);
    let (sessions, groups, metros, relays) = {
        let live = app.live();
        let mut metros = std::collections::BTreeMap::<String, u64>::new();
        let mut relays = std::collections::BTreeMap::<String, u64>::new();
        for s in live.sessions.values() {
            *metros.entry(s.metro.clone()).or_default() += 1;
            if let Some(r) = &s.unicast {
                *relays.entry(r.clone()).or_default() += 1;
            }
        }
        (live.sessions.len(), live.groups.len(), metros, relays)
    };
    let gauges = [
        (
            "groupcast_live_sessions",
            "Live sessions known to this instance.",
            sessions,
        ),
        ("groupcast_groups", "Non-empty repair groups.", groups),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let name = "groupcast_metro_viewers";
    let _ = writeln!(
        out,
        "# HELP {name} Live sessions per metro.\n# TYPE {name} gauge"
    );
    for (metro, n) in &metros {
        let _ = writeln!(out, "{name}{{metro=\"{metro}\"}} {n}");
    }
    // Relay names are the operator's (checked HOST:PORT), never a viewer's free text.
    let name = "groupcast_unicast_viewers";
    let _ = writeln!(
        out,
        "# HELP {name} Live sessions fed by unicast, per relay.\n# TYPE {name} gauge"
    );
    for (relay, n) in &relays {
        let _ = writeln!(out, "{name}{{relay=\"{relay}\"}} {n}");
    }
    let name = "groupcast_metro_failing_device";
    let _ = writeln!(
        out,
        "# HELP {name} 1 when a metro's viewers lose the same packets.\n# TYPE {name} gauge"
    );
    for metro in metros.keys() {
        let flagged = app.stats().flagged_by_name(metro);
        let _ = writeln!(out, "{name}{{metro=\"{metro}\"}} {}", u8::from(flagged));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
