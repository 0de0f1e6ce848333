//! A blocking client of the manager's HTTP/JSON API (`groupcast_api`), used by
//! `groupcast client`, `groupcast admin` and `groupcast demo`.

use anyhow::Context;
use groupcast_api::{ApiError, Assignment, Heartbeat, OpenSession, SessionId, SessionInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;
use ureq::http::StatusCode;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// Longest time one ordinary call may take; a manager slower than this counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The manager answered with an error status: retrying the same call will not help.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The manager's message.
    pub(crate) message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "manager refused: {} ({})", self.message, self.status)
    }
}

impl std::error::Error for Refused {}

/// What a heartbeat found.
#[derive(Debug)]
pub(crate) enum Beat {
    /// The session lives; its current group.
    Alive(Assignment),
    /// The manager no longer knows the session: open a new one.
    Gone,
}

/// A manager's base URL and the bearer token of the user calling it.
#[derive(Clone)]
pub(crate) struct ApiClient {
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    base: String,
    /// `Bearer TOKEN`.
    auth: String,
    /// Calls with [`CALL_TIMEOUT`].
    agent: ureq::Agent,
    /// How the manager's certificate is checked (for the event stream's own agent).
    tls: TlsConfig,
}

/// How an `https://` manager's certificate is checked: against the CA certificates (PEM) in
/// `ca`, or else against the system's roots (rustls-platform-verifier). Verification is never
/// turned off.
pub(crate) fn tls_config(ca: Option<&Path>) -> anyhow::Result<TlsConfig> {
    let roots = match ca {
        None => RootCerts::PlatformVerifier,
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("--ca {}", path.display()))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let PemItem::Certificate(c) =
                    item.with_context(|| format!("--ca {}: not PEM", path.display()))?
                {
                    certs.push(c);
                }
            }
            anyhow::ensure!(
                !certs.is_empty(),
                "--ca {}: no certificate in it",
                path.display()
            );
            RootCerts::new_with_certs(&certs)
        }
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

impl ApiClient {
    /// A client of the manager at `base` (e.g. `https://manager.example:8443`) acting with
    /// `token`, checking an `https` manager's certificate as `tls` says.
    pub(crate) fn new(base: &str, token: &str, tls: TlsConfig) -> ApiClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(CALL_TIMEOUT))
            .http_status_as_error(false)
            .tls_config(tls.clone())
            .build()
            .into();
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
            agent,
            tls,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// `GET path`, answer parsed as `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", &self.auth)
            .call();
        parse(path, resp)
    }

    /// `POST path` with a JSON body, answer parsed as `T`.
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let resp = self
            .agent
            .post(self.url(path))
            .header("Authorization", &self.auth)
            .send_json(body);
        parse(path, resp)
    }

    /// `PUT path` without a body; the answer's body is ignored.
    pub(crate) fn put(&self, path: &str) -> anyhow::Result<()> {
        let resp = self
            .agent
            .put(self.url(path))
            .header("Authorization", &self.auth)
            .send_empty();
        check(path, resp).map(drop)
    }

    /// `DELETE path`; the answer's body is ignored.
    pub(crate) fn delete(&self, path: &str) -> anyhow::Result<()> {
        let resp = self
            .agent
            .delete(self.url(path))
            .header("Authorization", &self.auth)
            .call();
        check(path, resp).map(drop)
    }

    /// Opens a viewing session.
    pub(crate) fn open_session(&self, req: &OpenSession) -> anyhow::Result<SessionInfo> {
        self.post("/sessions", req)
    }

    /// Sends one heartbeat.
    pub(crate) fn heartbeat(&self, session: SessionId, hb: &Heartbeat) -> anyhow::Result<Beat> {
        let path = format!("/sessions/{session}/heartbeat");
        let resp = self
            .agent
            .post(self.url(&path))
            .header("Authorization", &self.auth)
            .send_json(hb);
        match resp {
            Ok(r) if r.status() == StatusCode::NOT_FOUND => Ok(Beat::Gone),
            other => parse(&path, other).map(Beat::Alive),
        }
    }

    /// Follows the session's group changes (server-sent events), calling `on_group` for each
    /// assignment until the stream ends, fails, or `on_group` returns false.
    pub(crate) fn follow_events(
        &self,
        session: SessionId,
        mut on_group: impl FnMut(Assignment) -> bool,
    ) -> anyhow::Result<()> {
        let path = format!("/sessions/{session}/events");
        // No overall timeout: the stream stays open; the manager's keep-alives keep it moving.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CALL_TIMEOUT))
            .timeout_recv_body(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .tls_config(self.tls.clone())
            .build()
            .into();
        let resp = agent
            .get(self.url(&path))
            .header("Authorization", &self.auth)
            .header("Accept", "text/event-stream")
            .call();
        let resp = check(&path, resp)?;
        let reader = BufReader::new(resp.into_body().into_reader());
        let mut event = String::new();
        for line in reader.lines() {
            let line = line.context("event stream")?;
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if event == "group" {
                    let a: Assignment =
                        serde_json::from_str(data.trim()).context("bad group event")?;
                    if !on_group(a) {
                        return Ok(());
                    }
                }
            } else if line.is_empty() {
                event.clear();
            }
        }
        Ok(())
    }
}

/// The response if its status is a success, else the manager's error message.
fn check(
    what: &str,
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
    let mut resp = resp.with_context(|| format!("manager unreachable ({what})"))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let message = resp
        .body_mut()
        .read_json::<ApiError>()
        .map_or_else(|_| status.to_string(), |e| e.error);
    Err(anyhow::Error::new(Refused {
        status: status.as_u16(),
        message,
    })
    .context(what.to_owned()))
}

/// The response's JSON body as `T`, or the manager's error.
fn parse<T: DeserializeOwned>(
    what: &str,
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> anyhow::Result<T> {
    check(what, resp)?
        .body_mut()
        .read_json()
        .with_context(|| format!("bad answer to {what}"))
}
