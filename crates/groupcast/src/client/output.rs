//! Where the played TS goes: a file, standard output, UDP datagrams for a player
//! (`vlc udp://@:1234`, `ffplay udp://127.0.0.1:1234`), or an HTTP stream that players open
//! (`vlc http://127.0.0.1:8090/`), several at once.
//!
//! Every output starts clean: the TS passes a [`CleanStart`] gate, so a player's stream begins
//! with the PAT, the PMT and a keyframe, never inside a PES. A new HTTP connection starts at
//! once from the stream held since the last keyframe; after a source restart every output
//! resumes at the new stream's first random access point.

use super::http;
use anyhow::{Context, bail};
use groupcast_core::{Chunk, CleanStart, Sink};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Datagram size for `udp://`: 7 TS packets, the usual IPTV payload.
const UDP_PAYLOAD: usize = 7 * 188;
/// Chunks queued for one HTTP viewer before it counts as too slow and loses data.
const HTTP_QUEUE: usize = 1024;

/// One connected HTTP viewer, as the output sees it.
pub(super) struct Viewer {
    /// Its connection thread's queue.
    tx: SyncSender<Arc<[u8]>>,
    /// Where it is in the stream: waiting for a random access point, or started.
    sink: Sink,
    /// Set once its connection thread has ended.
    gone: Arc<AtomicBool>,
}

/// The connection thread's end of a [`Viewer`]: the queue it streams from.
pub(super) struct Feed {
    /// Chunks for the player.
    pub(super) rx: Receiver<Arc<[u8]>>,
    /// Set when the feed is dropped (the connection thread ended).
    gone: Arc<AtomicBool>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::Relaxed);
    }
}

impl Viewer {
    /// A viewer waiting for a random access point, and its connection thread's feed.
    pub(super) fn new() -> (Viewer, Feed) {
        let (tx, rx) = sync_channel(HTTP_QUEUE);
        let gone = Arc::new(AtomicBool::new(false));
        let viewer = Viewer {
            tx,
            sink: Sink::default(),
            gone: Arc::clone(&gone),
        };
        (viewer, Feed { rx, gone })
    }
}

/// The connected HTTP viewers of one stream.
pub(super) type Viewers = Arc<Mutex<Vec<Viewer>>>;

/// Locks a viewer list (a panicked holder's list is still consistent: entries only).
pub(super) fn lock(viewers: &Viewers) -> MutexGuard<'_, Vec<Viewer>> {
    viewers.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True while some viewer on the list is still connected (the others are dropped).
pub(super) fn watched(viewers: &Viewers) -> bool {
    let mut v = lock(viewers);
    v.retain(|v| !v.gone.load(Ordering::Relaxed));
    !v.is_empty()
}

/// An opened output: the clean start gate, then the sink(s).
pub(super) struct Output {
    /// Makes every sink start at a random access point.
    gate: CleanStart,
    /// The sink(s).
    kind: Kind,
}

/// The kinds of output.
enum Kind {
    /// `file:PATH`.
    File(BufWriter<File>, Sink),
    /// `-`.
    Stdout(std::io::Stdout, Sink),
    /// `udp://HOST:PORT`.
    Udp {
        /// Sending socket.
        socket: UdpSocket,
        /// The player.
        dst: SocketAddr,
        /// TS gathered into the next datagram.
        pending: Vec<u8>,
        /// Whether the player's stream has started.
        sink: Sink,
    },
    /// `http://ADDR`: every connected viewer gets the stream from a random access point.
    Http(Viewers),
}

impl Output {
    /// Opens `spec`: `file:PATH`, `-`, `udp://HOST:PORT` or `http://ADDR`.
    pub(super) fn open(spec: &str) -> anyhow::Result<Output> {
        let kind = if spec == "-" {
            Kind::Stdout(std::io::stdout(), Sink::default())
        } else if let Some(path) = spec.strip_prefix("file:") {
            let f = File::create(path).with_context(|| format!("create {path}"))?;
            Kind::File(BufWriter::with_capacity(1 << 16, f), Sink::default())
        } else if let Some(addr) = spec.strip_prefix("udp://") {
            udp(addr)?
        } else if let Some(addr) = spec.strip_prefix("http://") {
            http(addr.trim_end_matches('/'))?
        } else {
            bail!("--output {spec:?}: expected file:PATH, -, udp://HOST:PORT or http://ADDR")
        };
        Ok(Output {
            gate: CleanStart::default(),
            kind,
        })
    }

    /// An HTTP output whose viewers someone else connects (the gateway's channel).
    pub(super) fn shared(viewers: Viewers) -> Output {
        Output {
            gate: CleanStart::default(),
            kind: Kind::Http(viewers),
        }
    }

    /// Writes played TS bytes: what the gate releases, to each sink that has started.
    pub(super) fn write(&mut self, ts: &[u8]) -> anyhow::Result<()> {
        if let Kind::Http(viewers) = &self.kind {
            let mut v = lock(viewers);
            start_from_held(&mut self.gate, &mut v);
            self.gate.push(ts);
            while let Some(chunk) = self.gate.poll_chunk() {
                send(&mut self.gate, &mut v, &chunk);
            }
            return Ok(());
        }
        self.gate.push(ts);
        while let Some(chunk) = self.gate.poll_chunk() {
            self.write_chunk(&chunk)?;
        }
        Ok(())
    }

    /// The stream restarted (a new SSRC): every sink waits for the new stream's first random
    /// access point.
    pub(super) fn restart(&mut self) {
        self.gate.reset();
        match &mut self.kind {
            Kind::File(_, sink) | Kind::Stdout(_, sink) | Kind::Udp { sink, .. } => sink.restart(),
            Kind::Http(viewers) => {
                let mut v = lock(viewers);
                v.iter_mut().for_each(|v| v.sink.restart());
            }
        }
    }

    /// Writes a released chunk to the one sink of a file, stdout or UDP output.
    fn write_chunk(&mut self, chunk: &Chunk) -> anyhow::Result<()> {
        let sink = match &mut self.kind {
            Kind::File(_, sink) | Kind::Stdout(_, sink) | Kind::Udp { sink, .. } => sink,
            Kind::Http(_) => return Ok(()),
        };
        for part in self.gate.admit(sink, chunk) {
            if !part.is_empty() {
                self.kind.write_raw(part)?;
            }
        }
        Ok(())
    }

    /// Pushes buffered bytes out.
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        match &mut self.kind {
            Kind::File(f, _) => f.flush().context("write output file"),
            Kind::Stdout(out, _) => match out.lock().flush() {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => bail!("the player closed stdout"),
                r => r.context("write to stdout"),
            },
            Kind::Udp { .. } | Kind::Http(_) => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let c = self.gate.counters();
        tracing::info!(
            random_access_points = c.random_access_points,
            starts = c.starts,
            starts_from_held = c.starts_from_held,
            gated_bytes = c.gated_bytes,
            held_overflows = c.held_overflows,
            restarts = c.resets,
            "clean start"
        );
    }
}

impl Kind {
    /// Writes TS bytes to a file, stdout or UDP sink.
    fn write_raw(&mut self, ts: &[u8]) -> anyhow::Result<()> {
        match self {
            Kind::File(f, _) => f.write_all(ts).context("write output file"),
            Kind::Stdout(out, _) => out.lock().write_all(ts).context("write to stdout"),
            Kind::Udp {
                socket,
                dst,
                pending,
                ..
            } => {
                pending.extend_from_slice(ts);
                while pending.len() >= UDP_PAYLOAD {
                    // A player that is not running yet refuses datagrams; that is no error.
                    let _ = socket.send_to(&pending[..UDP_PAYLOAD], *dst);
                    pending.drain(..UDP_PAYLOAD);
                }
                Ok(())
            }
            Kind::Http(_) => Ok(()),
        }
    }
}

/// Starts waiting HTTP viewers at once from the stream held since the last random access point.
fn start_from_held(gate: &mut CleanStart, viewers: &mut Vec<Viewer>) {
    viewers.retain_mut(|v| match gate.start_from_held(&mut v.sink) {
        Some(held) => offer(&v.tx, Arc::from(held)),
        None => true,
    });
}

/// Sends a released chunk to every HTTP viewer that has started or starts here.
fn send(gate: &mut CleanStart, viewers: &mut Vec<Viewer>, chunk: &Chunk) {
    let ts: Arc<[u8]> = Arc::from(chunk.ts.as_slice());
    viewers.retain_mut(|v| {
        let [head, body] = gate.admit(&mut v.sink, chunk);
        (head.is_empty() || offer(&v.tx, Arc::from(head)))
            && (body.is_empty() || offer(&v.tx, Arc::clone(&ts)))
    });
}

/// Queues bytes for one viewer; false when it is gone or too slow (it is then dropped).
fn offer(tx: &SyncSender<Arc<[u8]>>, bytes: Arc<[u8]>) -> bool {
    match tx.try_send(bytes) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            tracing::warn!("an HTTP viewer is too slow; disconnected");
            false
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

fn udp(addr: &str) -> anyhow::Result<Kind> {
    let dst = addr
        .to_socket_addrs()
        .with_context(|| format!("udp://{addr}"))?
        .next()
        .with_context(|| format!("udp://{addr}: no address"))?;
    if dst.ip().is_multicast() {
        bail!("udp://{addr}: give the player's unicast address (multicast output is not offered)");
    }
    let local: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    Ok(Kind::Udp {
        socket: UdpSocket::bind(local)?,
        dst,
        pending: Vec::with_capacity(UDP_PAYLOAD * 2),
        sink: Sink::default(),
    })
}

fn http(addr: &str) -> anyhow::Result<Kind> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listen on http://{addr}"))?;
    tracing::info!(url = %format!("http://{}/", listener.local_addr()?), "players may connect");
    let viewers: Viewers = Arc::new(Mutex::new(Vec::new()));
    let list = Arc::clone(&viewers);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let list = Arc::clone(&list);
            std::thread::spawn(move || serve_viewer(conn, &list));
        }
    });
    Ok(Kind::Http(viewers))
}

/// Reads the player's request head, then streams TS until it goes away (any path plays).
fn serve_viewer(mut conn: TcpStream, viewers: &Viewers) {
    let request = match http::read_request(&mut conn) {
        Ok(r) => r,
        Err(http::HeadError::Gone) => return,
        Err(http::HeadError::Bad(why)) => return http::refuse(&mut conn, 400, why),
    };
    let (viewer, feed) = Viewer::new();
    lock(viewers).push(viewer);
    let sent = http::stream(conn, &feed.rx, request.method == "HEAD");
    tracing::info!(bytes = sent, "player left");
}
