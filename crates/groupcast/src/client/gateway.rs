//! `groupcast client` without `--channel`: a local IPTV gateway, in the manner of udpxy.
//!
//! `--output http://ADDR` serves players:
//! - `GET /playlist.m3u`: an `#EXTM3U` playlist of every channel the viewer may watch, each
//!   entry `http://HOST/channel/NAME` (HOST from the player's `Host` header, else ADDR);
//! - `GET /channel/NAME`: the channel as raw MPEG-TS (HTTP/1.1, `Connection: close`, no
//!   chunking), starting at a random access point.
//!
//! The first player of a channel tunes it: a thread of its own opens a session, joins the
//! multicast group, repairs with its group and serves it, exactly as `--channel` does
//! ([`super::tune`]). Further players of that channel share the running tuning and start at
//! once from the stream held since the last keyframe. When no player watches a channel any
//! more, its loop ends: the multicast group is left (IGMP/MLD leave) and the session closed,
//! so the manager refills the group at once. A zap is the player closing one channel and
//! opening another.
//!
//! Answers other than a stream: 404 for an unknown channel or one the viewer may not watch
//! (the manager does not tell the two apart, on purpose), 403 when the manager refuses the
//! session (e.g. an unknown metro over its cap), 503 when `--max-channels` are tuned or too
//! many players are connected, 502/504 when the manager cannot be used.

use super::output::{self, Output, Viewer, Viewers};
use super::{Args, http};
use crate::api_client::{ApiClient, Refused, tls_config};
use crate::driver::{self, Stop};
use groupcast_api::Channel;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest wait for a channel's session before a player is answered 504.
const TUNE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most player connections open at once (each holds a thread).
const MAX_CONNECTIONS: usize = 64;
/// How often the accept loop looks at the stop signal.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Where a channel's tuning is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Its session is being opened.
    Opening,
    /// Its session is open: players get the stream.
    Playing,
    /// It ended: with the HTTP status and message a waiting player gets.
    Ended(u16, String),
}

/// One tuned channel.
struct Tuned {
    /// Its players.
    viewers: Viewers,
    /// Where it is, and a wake-up for players waiting on it.
    phase: (Mutex<Phase>, Condvar),
    /// Ends its loop early (set when its players gave up waiting for the session).
    quit: watch::Sender<bool>,
    /// Its thread.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Tuned {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_phase(&self, phase: Phase) {
        *self.phase() = phase;
        self.phase.1.notify_all();
    }

    /// Waits (bounded) until the session is open; else the status and message for the player.
    fn wait_open(&self) -> Result<(), (u16, String)> {
        let deadline = Instant::now() + TUNE_TIMEOUT;
        let mut phase = self.phase();
        while *phase == Phase::Opening {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err((504, "the manager did not answer in time".into()));
            }
            phase = self
                .phase
                .1
                .wait_timeout(phase, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match &*phase {
            Phase::Ended(status, message) => Err((*status, message.clone())),
            Phase::Opening | Phase::Playing => Ok(()),
        }
    }
}

/// The gateway's state, shared by the accept loop, the players' threads and the tunings.
struct Gateway {
    /// The command line.
    args: Args,
    /// The viewer's calls to the manager (the playlist).
    api: ApiClient,
    /// SIGINT, SIGTERM, `--duration`.
    stop: Stop,
    /// The tuned channels by name.
    tuned: Mutex<HashMap<String, Arc<Tuned>>>,
    /// Where players connect.
    local: SocketAddr,
    /// Player connections open.
    connections: AtomicUsize,
}

/// What a tuning's loop asks of the gateway: tell it the session opened, and whether any
/// player still watches.
pub(super) struct Tuning {
    /// The gateway.
    gateway: Arc<Gateway>,
    /// The channel's name.
    name: String,
    /// The channel's entry.
    tuned: Arc<Tuned>,
}

impl Tuning {
    /// The session is open: waiting players get the stream.
    pub(super) fn opened(&self) {
        self.tuned.set_phase(Phase::Playing);
    }

    /// Resolves the loop's stop watch when the tuning must end early.
    pub(super) fn quit(&self) -> watch::Receiver<bool> {
        self.tuned.quit.subscribe()
    }

    /// True (and the channel taken off the gateway's list) once no player watches it; a
    /// player that comes later tunes it afresh.
    pub(super) fn leave(&self) -> bool {
        if output::watched(&self.tuned.viewers) {
            return false;
        }
        let mut tuned = self.gateway.lock();
        // Players join under this lock: checked again, nobody can join in between.
        if output::watched(&self.tuned.viewers) {
            return false;
        }
        let ended = Phase::Ended(502, "the channel could not be tuned".into());
        Gateway::forget(&mut tuned, &self.name, &self.tuned, ended);
        true
    }
}

/// Runs the gateway until SIGINT, SIGTERM or `--duration`.
pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let Some(addr) = args.output.strip_prefix("http://") else {
        anyhow::bail!(
            "--output {:?}: without --channel the client is a gateway and needs http://ADDR",
            args.output
        );
    };
    let addr = addr.trim_end_matches('/');
    let listener =
        TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("listen on http://{addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    let gateway = Arc::new(Gateway {
        args: args.clone(),
        api: ApiClient::new(&args.manager, &args.token, tls_config(args.ca.as_deref())?),
        stop: Stop::new(args.duration)?,
        tuned: Mutex::new(HashMap::new()),
        local: listener.local_addr()?,
        connections: AtomicUsize::new(0),
    });
    tracing::info!(
        playlist = %format!("http://{}/playlist.m3u", gateway.local),
        "gateway: players may connect"
    );
    while !gateway.stop.now() {
        match listener.accept() {
            Ok((conn, _)) => {
                let g = Arc::clone(&gateway);
                std::thread::spawn(move || g.connection(conn));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                tracing::debug!(error = %e, "accept");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
    // Every tuning sees the same stop and closes its session; wait for them to do it.
    let threads: Vec<_> = gateway
        .lock()
        .values()
        .filter_map(|t| t.thread.lock().ok()?.take())
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

impl Gateway {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Tuned>>> {
        self.tuned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `entry` off the list (if it is still the one listed); players still waiting for
    /// its session get `ended`.
    fn forget(
        tuned: &mut HashMap<String, Arc<Tuned>>,
        name: &str,
        entry: &Arc<Tuned>,
        ended: Phase,
    ) {
        if tuned.get(name).is_some_and(|t| Arc::ptr_eq(t, entry)) {
            tuned.remove(name);
        }
        if *entry.phase() != Phase::Playing {
            entry.set_phase(ended);
        }
    }

    /// One player connection: its request, then a playlist, a stream or an error.
    fn connection(self: Arc<Self>, mut conn: TcpStream) {
        let open = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = conn.set_nonblocking(false);
        if open > MAX_CONNECTIONS {
            http::refuse(&mut conn, 503, "too many players connected");
        } else {
            self.answer(conn);
        }
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    fn answer(self: &Arc<Self>, mut conn: TcpStream) {
        let request = match http::read_request(&mut conn) {
            Ok(r) => r,
            Err(http::HeadError::Gone) => return,
            Err(http::HeadError::Bad(why)) => return http::refuse(&mut conn, 400, why),
        };
        let head_only = match request.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => return http::refuse(&mut conn, 405, "only GET and HEAD"),
        };
        if request.path == "/playlist.m3u" {
            return self.playlist(conn, request.host.as_deref());
        }
        match request.path.strip_prefix("/channel/") {
            Some(name) if valid_name(name) => self.watch(conn, name, head_only),
            _ => http::refuse(&mut conn, 404, "try /playlist.m3u or /channel/NAME"),
        }
    }

    /// `GET /playlist.m3u`: the viewer's channels, as the manager lists them now.
    fn playlist(&self, mut conn: TcpStream, host: Option<&str>) {
        let channels: Vec<Channel> = match self.api.get("/channels") {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "playlist: the manager's channel list");
                return http::refuse(&mut conn, 502, "the manager's channel list is unavailable");
            }
        };
        let host = host
            .filter(|h| valid_host(h))
            .map_or_else(|| self.local.to_string(), str::to_owned);
        let body = m3u(&host, &channels);
        http::reply(&mut conn, 200, "audio/x-mpegurl; charset=utf-8", &body);
    }

    /// `GET /channel/NAME`: joins the channel's tuning (starting it if needed), then streams.
    fn watch(self: &Arc<Self>, mut conn: TcpStream, name: &str, head_only: bool) {
        let (viewer, feed) = Viewer::new();
        let entry = {
            let mut tuned = self.lock();
            let entry = match tuned.get(name) {
                Some(t) => Arc::clone(t),
                None if tuned.len() >= self.args.max_channels as usize => {
                    drop(tuned);
                    return http::refuse(&mut conn, 503, "too many channels tuned at once");
                }
                None => {
                    let t = self.start(name);
                    tuned.insert(name.to_owned(), Arc::clone(&t));
                    t
                }
            };
            output::lock(&entry.viewers).push(viewer);
            entry
        };
        match entry.wait_open() {
            Ok(()) => {
                let sent = http::stream(conn, &feed.rx, head_only);
                tracing::info!(channel = %name, bytes = sent, "player left");
            }
            Err((status, message)) => {
                drop(feed);
                if status == 504 && !output::watched(&entry.viewers) {
                    let _ = entry.quit.send(true); // nobody waits for this session any more
                }
                http::refuse(&mut conn, status, &message);
            }
        }
    }

    /// Starts tuning `name` on a thread of its own.
    fn start(self: &Arc<Self>, name: &str) -> Arc<Tuned> {
        let entry = Arc::new(Tuned {
            viewers: Arc::new(Mutex::new(Vec::new())),
            phase: (Mutex::new(Phase::Opening), Condvar::new()),
            quit: watch::Sender::new(false),
            thread: Mutex::new(None),
        });
        let tuning = Tuning {
            gateway: Arc::clone(self),
            name: name.to_owned(),
            tuned: Arc::clone(&entry),
        };
        let handle = std::thread::spawn(move || tuning.run());
        if let Ok(mut t) = entry.thread.lock() {
            *t = Some(handle);
        }
        entry
    }
}

impl Tuning {
    /// The tuning's thread: the channel's loop on a runtime of its own.
    fn run(self) {
        tracing::info!(channel = %self.name, "gateway: tuning");
        let output = Output::shared(Arc::clone(&self.tuned.viewers));
        let g = &self.gateway;
        let result = driver::runtime().and_then(|rt| {
            let r = rt.block_on(super::tune(
                &g.args,
                &self.name,
                &g.stop,
                output,
                Some(&self),
            ));
            rt.shutdown_background();
            r
        });
        let ended = match &result {
            Ok(()) => Phase::Ended(503, "the gateway is stopping".into()),
            Err(e) => {
                tracing::warn!(channel = %self.name, error = %format!("{e:#}"), "gateway: tuning failed");
                match e.downcast_ref::<Refused>() {
                    Some(r) if matches!(r.status, 403 | 404) => {
                        Phase::Ended(r.status, r.message.clone())
                    }
                    Some(r) => Phase::Ended(502, format!("the manager refused: {}", r.message)),
                    None => Phase::Ended(502, "the channel could not be tuned".into()),
                }
            }
        };
        Gateway::forget(&mut g.lock(), &self.name, &self.tuned, ended);
        // Players still connected see their stream end.
        output::lock(&self.tuned.viewers).clear();
        tracing::info!(channel = %self.name, "gateway: channel left");
    }
}

/// The playlist of `channels`, reached at `host`.
fn m3u(host: &str, channels: &[Channel]) -> String {
    let mut body = String::from("#EXTM3U\n");
    for c in channels.iter().filter(|c| valid_name(&c.name)) {
        let n = &c.name;
        body.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"{n}\" tvg-name=\"{n}\",{n}\nhttp://{host}/channel/{n}\n"
        ));
    }
    body
}

/// The manager's rule for names: 1 to 64 of `[A-Za-z0-9._-]` (so a name needs no escaping in
/// a URL or a playlist).
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A `Host` header fit to be written back into URLs: a name or address and a port.
fn valid_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_api::ChannelId;

    fn channel(name: &str) -> Channel {
        Channel {
            id: ChannelId(1),
            name: name.into(),
            group: "239.1.1.1:5000".into(),
            source: None,
            metro_groups: Default::default(),
            metro_sources: Default::default(),
            chunk_packets: 8,
            buffer_ms: 300,
            group_size: 5,
            uplink_kbps: 0,
            relay: None,
            metro_relays: Default::default(),
            group6: None,
            source6: None,
        }
    }

    #[test]
    fn the_playlist_lists_each_channel_at_the_gateway() {
        let body = m3u("127.0.0.1:8090", &[channel("news"), channel("sport.hd")]);
        assert_eq!(
            body,
            "#EXTM3U\n\
             #EXTINF:-1 tvg-id=\"news\" tvg-name=\"news\",news\nhttp://127.0.0.1:8090/channel/news\n\
             #EXTINF:-1 tvg-id=\"sport.hd\" tvg-name=\"sport.hd\",sport.hd\nhttp://127.0.0.1:8090/channel/sport.hd\n"
        );
    }

    #[test]
    fn names_and_hosts_that_would_break_a_url_are_refused() {
        assert!(valid_name("news-1.hd"));
        assert!(!valid_name("../x") && !valid_name("") && !valid_name("a b"));
        assert!(valid_host("[::1]:8090") && valid_host("tv.local:80"));
        assert!(!valid_host("x\"/><script>") && !valid_host("a b"));
    }
}
