//! The HTTP server loop: each accepted connection served by hyper's HTTP/1.1 connection with a
//! header-read timeout, which `axum::serve` does not set (issue 13, finding 5: idle connections
//! and connections sending a request head byte by byte stayed open past 75 s).
//!
//! hyper starts the timer whenever the connection waits for a request head: when it opens, and
//! after each response on a kept-alive connection. A head not complete in time closes the
//! connection, so a slow or silent client holds a socket and a task for that long at most.
//! Responses under way (SSE streams) are not cut by it.

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long connections still open at shutdown are waited for (SSE streams end at once).
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` (through TLS when an acceptor is given) until `shutdown`
/// resolves, then stops accepting, calls `stopping` and waits up to [`DRAIN`] for open
/// connections.
pub(crate) async fn serve(
    (listener, tls): (TcpListener, Option<TlsAcceptor>),
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    stopping: impl FnOnce(),
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, from) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().layer(axum::Extension(ConnectInfo(from)));
        let (watcher, tls) = (graceful.watcher(), tls.clone());
        // The handshake runs in the connection's task, bounded like a request head, so a slow
        // or silent TLS client holds up nobody else.
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(TokioIo::new(stream), service, header_timeout, watcher).await;
            };
            match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    connection(TokioIo::new(stream), service, header_timeout, watcher).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, %from, "TLS handshake"),
                Err(_) => tracing::debug!(%from, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    stopping();
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// Serves one connection (plain or TLS) with the header-read timeout until it closes.
async fn connection<I>(io: I, service: Router, header_timeout: Duration, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection");
    }
}
