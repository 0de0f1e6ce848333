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
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long connections still open at shutdown are waited for (SSE streams end at once).
const DRAIN: Duration = Duration::from_secs(5);

/// Open connections per remote address, capped (issue 13, finding 5): one address cannot hold
/// every socket and task of the manager, however it paces its requests.
#[derive(Clone)]
pub(crate) struct PerAddress {
    /// Most connections one address may hold open (0: no cap).
    max: usize,
    /// Open connections by address (addresses with none are removed).
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; uncounted when dropped.
pub(crate) struct Slot(PerAddress, IpAddr);

impl PerAddress {
    /// At most `max` connections per address; 0: no cap.
    pub(crate) fn new(max: u32) -> PerAddress {
        PerAddress {
            max: max as usize,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` when it holds `max` already.
    pub(crate) fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` (through TLS when an acceptor is given) until `shutdown`
/// resolves, then stops accepting, calls `stopping` and waits up to [`DRAIN`] for open
/// connections. A connection beyond `per_address`'s cap is closed at once and counted by
/// `refused`.
pub(crate) async fn serve(
    (listener, tls, per_address): (TcpListener, Option<TlsAcceptor>, PerAddress),
    router: Router,
    header_timeout: Duration,
    (shutdown, refused): (impl Future<Output = ()>, impl Fn()),
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
        let Some(slot) = per_address.take(from.ip()) else {
            refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().layer(axum::Extension(ConnectInfo(from)));
        let (watcher, tls) = (graceful.watcher(), tls.clone());
        // The handshake runs in the connection's task, bounded like a request head, so a slow
        // or silent TLS client holds up nobody else.
        tokio::spawn(async move {
            let _slot = slot;
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
