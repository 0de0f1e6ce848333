//! The groupcast manager: users, channels, viewer sessions, repair groups and their keys,
//! statistics, a web dashboard and Prometheus metrics, over an HTTP/JSON API (`/api/v1`, the
//! contract is the `groupcast-api` crate, served as OpenAPI at `/api/v1/openapi.json`).
//!
//! What it does: keeps its state in SQLite (default, embedded) or PostgreSQL through one code
//! path (sqlx's `Any` driver, one migrations folder). Every membership change (join, leave,
//! timeout) is one transaction that first locks its channel row, rebuilds the channel's
//! [`groupcast_grouping::Grouping`], applies the change and writes the changed groups with a
//! new epoch and a fresh key: two instances on one PostgreSQL never assign a session twice.
//! Heartbeats, the hot path, are answered from memory and written behind in batches. Members
//! learn of group changes by server-sent events, at once for changes made by this instance and
//! within ~250 ms for changes made by another instance on the same database.
//!
//! What it deliberately does not do: carry media, talk to clients by anything but HTTP, or
//! keep the failing-device detector's loss window anywhere but in this instance's memory.
//!
//! ```no_run
//! let handle = groupcast_manager::start_in_thread(groupcast_manager::Config {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     db_url: "sqlite://groupcast.db".into(),
//!     ..groupcast_manager::Config::default()
//! })
//! .unwrap();
//! println!("manager on http://{} (admin token {:?})", handle.addr(), handle.admin_token());
//! handle.stop();
//! ```

mod access;
mod auth;
mod channels;
mod counters;
mod db;
mod error;
mod extras;
mod groups;
mod http;
mod limits;
mod live;
mod media;
mod metrics;
mod overview;
mod peer_addr;
mod rate;
mod routes;
mod sessions;
mod solo;
mod stats;
mod tasks;
mod tls;
mod unicast;
mod users;

pub use peer_addr::Network;
pub use routes::ROUTES;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// How to run a manager.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the HTTP server listens (port 0: any free port, see [`Handle::addr`]).
    pub listen: SocketAddr,
    /// `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    pub db_url: String,
    /// The admin's token when this start creates the admin (empty database); random if `None`.
    pub admin_token: Option<String>,
    /// How often clients are told to send heartbeats, ms.
    pub heartbeat_ms: u32,
    /// A session without heartbeat for this long is ended, ms.
    pub session_timeout_ms: u32,
    /// Callers in these networks (e.g. viewers behind NAT, or a proxy) may register a
    /// `peer_addr` other than their own IP; everyone else may only name their own.
    pub peer_addr_from: Vec<Network>,
    /// Most sessions one user may hold at once (`None`: no cap).
    pub max_sessions_per_user: Option<u32>,
    /// Most SSE event streams open at once on one session.
    pub max_streams_per_session: u32,
    /// The metros viewers may name (empty: any name, up to `max_metros`).
    pub metros: Vec<String>,
    /// Most metros registered; a session naming a new metro beyond this is refused.
    pub max_metros: u32,
    /// A connection that has not sent a whole request head this long after it opened, or
    /// after its last response, is closed (slowloris, idle connections), ms.
    pub header_timeout_ms: u32,
    /// A bearer token that may read `/metrics` and nothing else (a Prometheus scrape), at
    /// least [`MIN_ADMIN_TOKEN`] characters; admins may always read it.
    pub metrics_token: Option<String>,
    /// Serve HTTPS with this certificate and key (plain HTTP without).
    pub tls: Option<TlsFiles>,
    /// Requests per second one user may make (bursts of twice that); 0: no limit.
    pub rate_per_user: u32,
    /// Most connections one remote address may hold open (0: no cap); more are closed at once.
    pub max_connections_per_address: u32,
    /// The secret the manager shares with the sources of encrypted channels (at least
    /// [`MIN_ADMIN_TOKEN`] characters); with it, sessions get their channel's media keys.
    pub media_secret: Option<String>,
    /// How long each media key is in force, ms (the sources' `--media-key-period-s`).
    pub media_key_period_ms: u32,
    /// The secret the manager shares with the relays of the unicast fallback (edges and
    /// sources with `--unicast-listen`; at least [`MIN_ADMIN_TOKEN`] characters); with it,
    /// sessions of channels with a relay get a ticket.
    pub unicast_secret: Option<String>,
    /// Backups each session gets per neighbouring group (issue 12's second tier: members of
    /// the groups before and after its own, in other metros); 0: none.
    pub backups: u8,
}

/// The manager's certificate chain and private key, PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db_url: "sqlite://groupcast.db".into(),
            admin_token: None,
            heartbeat_ms: 1000,
            session_timeout_ms: 5000,
            peer_addr_from: Vec::new(),
            max_sessions_per_user: None,
            max_streams_per_session: 4,
            metros: Vec::new(),
            max_metros: 1000,
            header_timeout_ms: 10_000,
            metrics_token: None,
            tls: None,
            media_secret: None,
            media_key_period_ms: 60_000,
            unicast_secret: None,
            rate_per_user: 100,
            max_connections_per_address: 256,
            backups: 1,
        }
    }
}

/// Shortest admin token taken from the operator (`GROUPCAST_ADMIN_TOKEN`); shorter ones,
/// empty ones included, stop the start with a clear error. A token the manager makes itself has
/// 64 hex digits.
pub const MIN_ADMIN_TOKEN: usize = 32;

/// Why a manager could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or queried.
    Database(sqlx::Error),
    /// The schema could not be brought up to date.
    Migrate(sqlx::migrate::MigrateError),
    /// The listening socket or the runtime could not be set up.
    Io(std::io::Error),
    /// The configuration makes no sense.
    Config(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Database(e) => write!(f, "database: {e}"),
            Error::Migrate(e) => write!(f, "database migration: {e}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// A manager running on its own runtime in a background thread.
pub struct Handle {
    /// The bound address.
    addr: SocketAddr,
    /// The admin token, when this start created the admin.
    admin_token: Option<String>,
    /// Tells the server to stop.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The server thread.
    thread: std::thread::JoinHandle<()>,
}

impl Handle {
    /// The address the manager listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin's token, when this start created the admin (an empty database).
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// Stops the manager gracefully (pending writes flushed) and waits until it is down.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Starts a manager on its own tokio runtime in a background thread (for sync callers).
pub fn start_in_thread(config: Config) -> Result<Handle, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("manager")
        .build()?;
    let started = runtime.block_on(routes::Server::start(config))?;
    let addr = started.addr();
    let admin_token = started.admin_token.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("manager".into())
        .spawn(move || {
            let result = runtime.block_on(started.run(async {
                let _ = stopped.await;
            }));
            if let Err(e) = result {
                tracing::error!("manager stopped: {e}");
            }
        })?;
    Ok(Handle {
        addr,
        admin_token,
        stop,
        thread,
    })
}

/// Runs a manager until `shutdown` completes (the entry point of `groupcast manager`).
///
/// When this start creates the admin with a random token, the token is printed once to
/// stdout as `admin token: ...` (it is never logged).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let random_token = config.admin_token.is_none();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let started = routes::Server::start(config).await?;
    if let (Some(token), true) = (&started.admin_token, random_token) {
        println!("admin token: {token}");
    }
    tracing::info!("manager listening on {scheme}://{}", started.addr());
    started.run(shutdown).await
}

/// Shared by every handler and background task.
type App = Arc<live::AppState>;
