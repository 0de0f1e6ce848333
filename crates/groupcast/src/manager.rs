//! `groupcast manager`: runs the management server until SIGINT or SIGTERM.

use anyhow::Context;
use std::net::SocketAddr;

/// Options of `groupcast manager`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where the HTTP API and the dashboard listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database: `sqlite://PATH` (created on first start) or `postgres://USER:PASS@HOST/DB`.
    #[arg(long, default_value = "sqlite://groupcast.db")]
    db: String,
    /// The admin's token when this start creates the admin (empty database); otherwise a
    /// random one is printed once.
    #[arg(
        long,
        env = "GROUPCAST_ADMIN_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    admin_token: Option<String>,
    /// Heartbeat interval told to clients, ms.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u32,
    /// A session without heartbeat for this long is ended, ms.
    #[arg(long, default_value_t = 5000)]
    session_timeout_ms: u32,
    /// Callers in this network (ADDR/PREFIX, repeatable; e.g. viewers behind NAT or a proxy)
    /// may register a peer address other than their own IP. Everyone else may only register
    /// their own IP as the manager sees it (or 0.0.0.0, meaning that).
    #[arg(long = "peer-addr-from", value_name = "CIDR")]
    peer_addr_from: Vec<groupcast_manager::Network>,
    /// Most sessions one user may hold at once (default: no cap).
    #[arg(long)]
    max_sessions_per_user: Option<u32>,
    /// Most SSE event streams open at once on one session.
    #[arg(long, default_value_t = 4)]
    max_streams_per_session: u32,
    /// A metro viewers may name (repeatable). Without any, viewers may name new metros up to
    /// --max-metros.
    #[arg(long = "metro", value_name = "NAME")]
    metros: Vec<String>,
    /// Most metros registered when no --metro list is given; a session naming a new metro
    /// beyond this is refused (403).
    #[arg(long, default_value_t = 1000)]
    max_metros: u32,
    /// A connection that has not sent a whole request head this long after it opened or
    /// after its last response is closed (against slow and idle connections), ms.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u32,
    /// A bearer token (at least 32 characters) that may read /metrics and nothing else, for
    /// a Prometheus scrape; admins' tokens may always read it. Without one, only admins may.
    #[arg(long, env = "GROUPCAST_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first; rustls). Without it the
    /// manager speaks plain HTTP, and tokens and group keys cross the network in clear: use
    /// it (or a TLS proxy in front) anywhere but on loopback.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Requests per second one user may make, in bursts of twice that (429 beyond); 0 turns
    /// the limit off (e.g. a load test from one token).
    #[arg(long, default_value_t = 100)]
    rate_per_user: u32,
    /// Most connections one remote address may hold open; more are closed at once (0: no
    /// cap). Raise it for a proxy or a large NAT in front of many viewers.
    #[arg(long, default_value_t = 256)]
    max_connections_per_address: u32,
    /// A secret shared with the sources of encrypted channels (at least 32 characters; also
    /// from the environment). With it, every session gets its channel's media keys (the
    /// previous, current and next period's) with its open, heartbeats and group events.
    #[arg(long, env = "GROUPCAST_MEDIA_SECRET", hide_env_values = true)]
    media_secret: Option<String>,
    /// How long each media key is in force, seconds: the sources' --media-key-period-s. A
    /// revoked viewer decrypts until the end of the next period at most.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(10..=86_400))]
    media_key_period_s: u32,
    /// A secret shared with the relays of the unicast fallback (`source`/`edge`
    /// --unicast-secret; at least 32 characters; also from the environment). With it, every
    /// session of a channel with a relay gets a ticket that its relay checks.
    #[arg(long, env = "GROUPCAST_UNICAST_SECRET", hide_env_values = true)]
    unicast_secret: Option<String>,
    /// Backups each viewer gets per neighbouring group: members of the groups before and
    /// after its own, in other metros, asked for what its own group could not supply in
    /// time (0: none).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=4))]
    backups: u8,
}

/// Runs the manager.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let config = groupcast_manager::Config {
        listen: args.listen,
        db_url: args.db.clone(),
        admin_token: args.admin_token.clone(),
        heartbeat_ms: args.heartbeat_ms,
        session_timeout_ms: args.session_timeout_ms,
        peer_addr_from: args.peer_addr_from.clone(),
        max_sessions_per_user: args.max_sessions_per_user,
        max_streams_per_session: args.max_streams_per_session,
        metros: args.metros.clone(),
        max_metros: args.max_metros,
        header_timeout_ms: args.header_timeout_ms,
        metrics_token: args.metrics_token.clone(),
        rate_per_user: args.rate_per_user,
        max_connections_per_address: args.max_connections_per_address,
        media_secret: args.media_secret.clone(),
        media_key_period_ms: args.media_key_period_s * 1000,
        unicast_secret: args.unicast_secret.clone(),
        backups: args.backups,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(groupcast_manager::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping");
        };
        groupcast_manager::serve(config, shutdown)
            .await
            .context("manager")
    })
}
