//! Where the played TS goes: a file, standard output, UDP datagrams for a player
//! (`vlc udp://@:1234`, `ffplay udp://127.0.0.1:1234`), or an HTTP stream that players open
//! (`vlc http://127.0.0.1:8090/`), several at once.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

/// Datagram size for `udp://`: 7 TS packets, the usual IPTV payload.
const UDP_PAYLOAD: usize = 7 * 188;
/// Chunks queued for one HTTP viewer before it counts as too slow and loses data.
const HTTP_QUEUE: usize = 1024;

/// The queues of the connected HTTP viewers.
type Viewers = Arc<Mutex<Vec<SyncSender<Arc<[u8]>>>>>;

/// An opened output.
pub(super) enum Output {
    /// `file:PATH`.
    File(BufWriter<File>),
    /// `-`.
    Stdout(std::io::Stdout),
    /// `udp://HOST:PORT`.
    Udp {
        /// Sending socket.
        socket: UdpSocket,
        /// The player.
        dst: SocketAddr,
        /// TS gathered into the next datagram.
        pending: Vec<u8>,
    },
    /// `http://ADDR`: every connected viewer gets the stream from the moment it connects.
    Http(Viewers),
}

impl Output {
    /// Opens `spec`: `file:PATH`, `-`, `udp://HOST:PORT` or `http://ADDR`.
    pub(super) fn open(spec: &str) -> anyhow::Result<Output> {
        if spec == "-" {
            return Ok(Output::Stdout(std::io::stdout()));
        }
        if let Some(path) = spec.strip_prefix("file:") {
            let f = File::create(path).with_context(|| format!("create {path}"))?;
            return Ok(Output::File(BufWriter::with_capacity(1 << 16, f)));
        }
        if let Some(addr) = spec.strip_prefix("udp://") {
            return udp(addr);
        }
        if let Some(addr) = spec.strip_prefix("http://") {
            return http(addr.trim_end_matches('/'));
        }
        bail!("--output {spec:?}: expected file:PATH, -, udp://HOST:PORT or http://ADDR")
    }

    /// Writes TS bytes.
    pub(super) fn write(&mut self, ts: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::File(f) => f.write_all(ts).context("write output file"),
            Output::Stdout(out) => out.lock().write_all(ts).context("write to stdout"),
            Output::Udp {
                socket,
                dst,
                pending,
            } => {
                pending.extend_from_slice(ts);
                while pending.len() >= UDP_PAYLOAD {
                    // A player that is not running yet refuses datagrams; that is no error.
                    let _ = socket.send_to(&pending[..UDP_PAYLOAD], *dst);
                    pending.drain(..UDP_PAYLOAD);
                }
                Ok(())
            }
            Output::Http(viewers) => {
                let chunk: Arc<[u8]> = Arc::from(ts);
                let mut v = viewers.lock().unwrap_or_else(PoisonError::into_inner);
                v.retain(|tx| match tx.try_send(Arc::clone(&chunk)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        tracing::warn!("an HTTP viewer is too slow; disconnected");
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                });
                Ok(())
            }
        }
    }

    /// Pushes buffered bytes out.
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Output::File(f) => f.flush().context("write output file"),
            Output::Stdout(out) => match out.lock().flush() {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => bail!("the player closed stdout"),
                r => r.context("write to stdout"),
            },
            Output::Udp { .. } | Output::Http(_) => Ok(()),
        }
    }
}

fn udp(addr: &str) -> anyhow::Result<Output> {
    let dst = addr
        .to_socket_addrs()
        .with_context(|| format!("udp://{addr}"))?
        .next()
        .with_context(|| format!("udp://{addr}: no address"))?;
    if dst.ip().is_multicast() {
        bail!("udp://{addr}: give the player's unicast address (multicast output is not offered)");
    }
    let local: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    Ok(Output::Udp {
        socket: UdpSocket::bind(local)?,
        dst,
        pending: Vec::with_capacity(UDP_PAYLOAD * 2),
    })
}

fn http(addr: &str) -> anyhow::Result<Output> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listen on http://{addr}"))?;
    tracing::info!(url = %format!("http://{}/", listener.local_addr()?), "players may connect");
    let viewers: Viewers = Arc::new(Mutex::new(Vec::new()));
    let list = Arc::clone(&viewers);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (tx, rx) = sync_channel(HTTP_QUEUE);
            list.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
            std::thread::spawn(move || serve_viewer(conn, &rx));
        }
    });
    Ok(Output::Http(viewers))
}

/// Reads the viewer's request head, then streams TS until it goes away.
fn serve_viewer(mut conn: TcpStream, rx: &Receiver<Arc<[u8]>>) {
    let mut head = [0u8; 4096];
    let mut got = 0;
    while !head[..got].windows(4).any(|w| w == b"\r\n\r\n") && got < head.len() {
        match conn.read(&mut head[got..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => got += n,
        }
    }
    let reply = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    if conn.write_all(reply).is_err() {
        return;
    }
    while let Ok(chunk) = rx.recv() {
        if conn.write_all(&chunk).is_err() {
            return;
        }
    }
}
