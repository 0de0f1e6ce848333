//! The router (every route of the API, the dashboard and `/metrics`), its limits, and the
//! server's start and graceful stop.

use crate::error::ApiErr;
use crate::live::AppState;
use crate::{App, Config, Error, channels, db, metrics, overview, sessions, tasks, users};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted (a heartbeat with 512 losses is ~4 KiB).
const BODY_LIMIT: usize = 64 * 1024;
/// Longest time a request may take to produce its answer's head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The OpenAPI description of the API.
const OPENAPI: &str = include_str!("../openapi.json");
/// The dashboard.
const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The dashboard's script.
const APP_JS: &str = include_str!("../assets/app.js");
/// The dashboard's style sheet.
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Every API route as (method, path), in the router's order; the OpenAPI test checks that
/// `openapi.json` describes each.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("delete", "/api/v1/users/{name}"),
    ("put", "/api/v1/users/{name}/channels/{channel}"),
    ("delete", "/api/v1/users/{name}/channels/{channel}"),
    ("post", "/api/v1/channels"),
    ("get", "/api/v1/channels"),
    ("get", "/api/v1/channels/{name}"),
    ("delete", "/api/v1/channels/{name}"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions"),
    ("post", "/api/v1/sessions/{id}/heartbeat"),
    ("get", "/api/v1/sessions/{id}/events"),
    ("delete", "/api/v1/sessions/{id}"),
    ("get", "/api/v1/overview"),
    ("get", "/metrics"),
];

/// What the dashboard's page may load and who may frame it: its own script, style sheet and
/// API only (no inline script, no other origin), never inside another site's frame; inline
/// `style` attributes (the metro colours) are the one exception.
pub(crate) const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// A dashboard file with its type and the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

fn router(app: App) -> Router {
    let api = Router::new()
        .route("/health", get(|| async { axum::Json("ok") }))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/me", get(users::me))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{name}", delete(users::remove))
        .route(
            "/users/{name}/channels/{channel}",
            put(users::grant).delete(users::revoke),
        )
        .route("/channels", post(channels::create).get(channels::list))
        .route(
            "/channels/{name}",
            get(channels::show).delete(channels::remove),
        )
        .route("/sessions", post(sessions::open).get(sessions::list))
        .route("/sessions/{id}/heartbeat", post(sessions::heartbeat))
        .route("/sessions/{id}/events", get(sessions::events))
        .route("/sessions/{id}", delete(sessions::close))
        .route("/overview", get(overview::overview));
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::metrics))
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .fallback(|| async { ApiErr::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiErr::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .layer(middleware::from_fn_with_state(app.clone(), count_errors))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(app)
}

/// Counts 4xx and 5xx answers.
async fn count_errors(State(app): State<App>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status.is_client_error() {
        app.metrics.client_errors.inc();
    } else if status.is_server_error() {
        app.metrics.server_errors.inc();
    }
    response.into_response()
}

/// A manager whose database is open and whose socket is bound, not yet serving.
pub(crate) struct Server {
    app: App,
    listener: tokio::net::TcpListener,
    /// The admin token, when this start created the admin.
    pub(crate) admin_token: Option<String>,
    /// See [`crate::Config::header_timeout_ms`].
    header_timeout_ms: u32,
    /// HTTPS, when configured.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// See [`crate::Config::max_connections_per_address`].
    max_connections_per_address: u32,
}

impl Server {
    /// Opens the database, creates the admin if needed, loads the live state, binds.
    pub(crate) async fn start(config: Config) -> Result<Server, Error> {
        if config.media_secret.is_some() && config.media_key_period_ms < 10_000 {
            return Err(Error::Config(
                "the media key period must be at least 10 s (clocks and play-out lag must stay \
                 under half of it)"
                    .into(),
            ));
        }
        if config.heartbeat_ms == 0 || config.session_timeout_ms <= config.heartbeat_ms {
            return Err(Error::Config(
                "the session timeout must exceed the heartbeat interval".into(),
            ));
        }
        let short = |what: &str, t: &str| {
            Error::Config(format!(
                "the {what} has {} characters; it must have at least {} (a guessable token is \
                 the whole manager): make one with `openssl rand -hex 16`",
                t.trim().len(),
                crate::MIN_ADMIN_TOKEN
            ))
        };
        let tokens = [
            ("admin token (GROUPCAST_ADMIN_TOKEN)", &config.admin_token),
            (
                "metrics token (GROUPCAST_METRICS_TOKEN)",
                &config.metrics_token,
            ),
            (
                "media secret (GROUPCAST_MEDIA_SECRET)",
                &config.media_secret,
            ),
            (
                "unicast secret (GROUPCAST_UNICAST_SECRET)",
                &config.unicast_secret,
            ),
        ];
        for (what, token) in tokens {
            if let Some(t) = token
                && t.trim().len() < crate::MIN_ADMIN_TOKEN
            {
                return Err(short(what, t));
            }
        }
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let pool = db::open(&config.db_url).await?;
        let admin_token = db::bootstrap_admin(&pool, config.admin_token.clone()).await?;
        let app = Arc::new(AppState {
            db: pool,
            heartbeat_ms: config.heartbeat_ms,
            timeout_ms: config.session_timeout_ms,
            started_ms: db::now_ms(),
            live: Mutex::new(crate::live::Live {
                backups: crate::live::backups::Backups::new(usize::from(config.backups)),
                ..Default::default()
            }),
            channels: Mutex::default(),
            auth: Default::default(),
            stats: Mutex::default(),
            metrics: Default::default(),
            stopping: tokio::sync::watch::channel(false).0,
            peer_addr_from: config.peer_addr_from.clone(),
            max_sessions_per_user: config.max_sessions_per_user,
            metros: crate::limits::Metros::new(&config.metros, config.max_metros)
                .map_err(Error::Config)?,
            sse_slots: crate::limits::SseSlots::new(config.max_streams_per_session),
            metrics_token: config
                .metrics_token
                .as_deref()
                .map(|t| db::hash_token(t.trim())),
            rates: crate::rate::Rates::new(config.rate_per_user),
            media: config.media_secret.as_deref().map(|secret| {
                crate::media::Media::new(secret, u64::from(config.media_key_period_ms))
            }),
            unicast: config
                .unicast_secret
                .as_deref()
                .map(crate::unicast::Unicast::new),
            channel_cache: Mutex::default(),
        });
        tasks::load_all(&app)
            .await
            .map_err(|e| Error::Database(sqlx::Error::Protocol(e.message)))?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        Ok(Server {
            app,
            listener,
            admin_token,
            header_timeout_ms: config.header_timeout_ms,
            tls,
            max_connections_per_address: config.max_connections_per_address,
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then stops SSE streams and background tasks and
    /// writes what is pending.
    pub(crate) async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let app = self.app.clone();
        let background = tokio::spawn(tasks::run(app.clone()));
        let stopping = app.stopping.clone();
        let header_timeout = Duration::from_millis(u64::from(self.header_timeout_ms.max(1)));
        let per_address = crate::http::PerAddress::new(self.max_connections_per_address);
        let metrics = app.clone();
        let refused = move || metrics.metrics.refused.connections.inc();
        crate::http::serve(
            (self.listener, self.tls, per_address),
            router(app.clone()),
            header_timeout,
            (shutdown, refused),
            || {
                stopping.send_replace(true);
            },
        )
        .await;
        app.stopping.send_replace(true);
        let _ = background.await;
        app.db.close().await;
        Ok(())
    }
}
