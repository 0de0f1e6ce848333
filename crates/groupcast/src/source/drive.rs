//! The source's run loop: the one driver shape (see [`crate::driver`]) around
//! [`SourceInput`] (what to send and when) and [`Central`] (the relay to edges). This file
//! owns only the file reads, the sockets and the clock.

use super::report::{RelayStats, Stats};
use crate::driver::clock::Clock;
use crate::driver::{self, Stop};
use crate::stats::write_json;
use anyhow::{Context, bail};
use groupcast_core::Time;
use groupcast_source::{Central, InputEvent, RtpStamper, SourceInput};
use std::io::{ErrorKind, Read};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

/// How often figures go to the log and `--stats-json`.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Most datagrams sent or received in one go before the loop looks at everything else.
const BATCH: usize = 64;
/// Bytes read from a file at a time.
const CHUNK: usize = 188 * 512;

/// A TS file being read.
pub(super) struct FileReader {
    /// Its path, to open it again and to name it in errors.
    path: PathBuf,
    /// The open file.
    file: std::fs::File,
    /// The last chunk read.
    chunk: Vec<u8>,
}

impl FileReader {
    /// Opens `path`.
    pub(super) fn open(path: PathBuf) -> anyhow::Result<FileReader> {
        let file =
            std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        Ok(FileReader {
            path,
            file,
            chunk: vec![0u8; CHUNK],
        })
    }

    /// Reads the next chunk; empty at the end.
    fn read(&mut self) -> anyhow::Result<&[u8]> {
        let n = self
            .file
            .read(&mut self.chunk)
            .with_context(|| format!("read {}", self.path.display()))?;
        Ok(&self.chunk[..n])
    }

    /// Starts again at the beginning (a looped file).
    fn reopen(&mut self) -> anyhow::Result<()> {
        *self = FileReader::open(std::mem::take(&mut self.path))?;
        Ok(())
    }
}

/// Where the TS comes from, as the loop sees it.
pub(super) enum Feed {
    /// A file, read as the input machine asks.
    File(FileReader),
    /// A live UDP socket.
    Live(UdpSocket),
}

/// Everything the run loop owns besides its sockets.
pub(super) struct Sender {
    /// What to send and when.
    pub(super) input: SourceInput,
    /// The multicast socket.
    pub(super) out: UdpSocket,
    /// A dual-stack channel's IPv6 multicast socket (`--group6`).
    pub(super) out6: Option<UdpSocket>,
    /// RTP headers.
    pub(super) stamper: RtpStamper,
    /// The relay to edges, if it runs.
    pub(super) central: Option<Central>,
    /// The clock's origin.
    pub(super) clock: Clock,
    /// Figures.
    pub(super) stats: Stats,
    /// `--stats-json`.
    pub(super) stats_json: Option<PathBuf>,
    /// When the figures are next reported.
    pub(super) next_report: Time,
    /// The RTP datagram being sent.
    pub(super) buf: Vec<u8>,
    /// The TS of the datagram being sent.
    pub(super) ts: Vec<u8>,
    /// Media encryption, when the channel is encrypted.
    pub(super) encrypt: Option<super::encrypt::Encrypt>,
    /// The unicast feed for viewers without multicast, if it runs.
    pub(super) feed: Option<crate::feed::Feed>,
    /// How long the relay and the feed go on answering retransmission requests after an
    /// unlooped file's last datagram (the last losses' repairs); zero without either.
    pub(super) linger: Duration,
}

impl Sender {
    /// A sender whose clock starts now.
    pub(super) fn new(input: SourceInput, out: UdpSocket, stamper: RtpStamper) -> Sender {
        Sender {
            input,
            out,
            out6: None,
            stamper,
            central: None,
            clock: Clock::start(),
            stats: Stats::default(),
            stats_json: None,
            next_report: Time::ZERO + REPORT_EVERY,
            buf: vec![0u8; 2048],
            ts: Vec::with_capacity(7 * 188),
            encrypt: None,
            feed: None,
            linger: Duration::ZERO,
        }
    }

    /// The loop: input, relay and timers in; multicast, relay and reports out.
    pub(super) async fn drive(
        &mut self,
        feed: Feed,
        relay: Option<UdpSocket>,
        stop: &Stop,
    ) -> anyhow::Result<()> {
        let tokio_socket = |s: UdpSocket| -> anyhow::Result<tokio::net::UdpSocket> {
            s.set_nonblocking(true)?;
            Ok(tokio::net::UdpSocket::from_std(s)?)
        };
        let relay = relay.map(tokio_socket).transpose()?;
        let (mut file, live) = match feed {
            Feed::File(f) => (Some(f), None),
            Feed::Live(s) => (None, Some(tokio_socket(s)?)),
        };
        let mut stopped = stop.watch()?;
        let mut buf = vec![0u8; 65_536];
        // When an unlooped file's input ended, the time to stop answering requests.
        let mut ends: Option<Time> = None;
        loop {
            let busy = self.pump(file.as_mut(), relay.as_ref(), stop)?;
            if stop.now() {
                return Ok(());
            }
            if self.input.finished() {
                let now = self.clock.now();
                let until = *ends.get_or_insert_with(|| {
                    if !self.linger.is_zero() {
                        let ms = self.linger.as_millis() as u64;
                        tracing::info!(ms, "input ended: answering repair requests for {ms} ms");
                    }
                    now + self.linger
                });
                if now >= until {
                    return Ok(());
                }
            }
            let wake = if busy {
                Some(Time::ZERO)
            } else {
                let relay = self.central.as_ref().and_then(Central::poll_timeout);
                let feed = self.feed.as_ref().and_then(|f| f.fanout.poll_timeout());
                driver::earliest([
                    self.input.poll_timeout(),
                    relay,
                    feed,
                    Some(self.next_report),
                    ends,
                ])
            };
            tokio::select! {
                () = stopped.wait() => return Ok(()),
                r = driver::readable(live.as_ref()) => { r?; self.take_live(live.as_ref(), &mut buf)?; }
                r = driver::readable(relay.as_ref()) => { r?; self.take_relay(relay.as_ref(), &mut buf)?; }
                r = driver::readable(self.feed.as_ref().map(|f| &f.socket)) => {
                    r?;
                    let now = self.clock.now();
                    if let Some(f) = self.feed.as_mut() {
                        f.take(now, &mut buf);
                    }
                }
                () = driver::sleep_until_precise(&self.clock, wake) => self.handle_timeout(),
            }
        }
    }

    /// Reads the file as far as needed, sends what is due, serves the relay, logs and
    /// reports. True when there is more to do at once.
    fn pump(
        &mut self,
        file: Option<&mut FileReader>,
        relay: Option<&tokio::net::UdpSocket>,
        stop: &Stop,
    ) -> anyhow::Result<bool> {
        if let Some(f) = file {
            self.read_file(f, stop)?;
        }
        let sent = self.send_due()?;
        if let (Some(sock), Some(central)) = (relay, self.central.as_mut()) {
            while let Some((to, bytes)) = central.poll_transmit() {
                let _ = sock.try_send_to(bytes, to);
            }
        }
        if let Some(f) = self.feed.as_mut() {
            let (out, out6) = (&self.out, self.out6.as_ref());
            f.flush(|bytes| {
                let mut sent = out.send(bytes).is_ok();
                if let Some(o) = out6 {
                    sent &= o.send(bytes).is_ok();
                }
                sent
            });
        }
        self.log_events();
        if self.clock.now() >= self.next_report {
            self.next_report = self.next_report + REPORT_EVERY;
            self.report(false)?;
        }
        Ok(sent == BATCH || self.input.wants_data())
    }

    /// Feeds the file to the input machine until it has a datagram waiting (or the end).
    fn read_file(&mut self, file: &mut FileReader, stop: &Stop) -> anyhow::Result<()> {
        while self.input.wants_data() && !stop.now() {
            let now = self.clock.now();
            let chunk = file.read()?;
            let result = if chunk.is_empty() {
                self.input.handle_end(now)
            } else {
                self.input.handle_data(now, chunk).map(|()| false)
            };
            match result {
                Ok(true) => file.reopen()?,
                Ok(false) => {}
                Err(e) => bail!("{}: {e}", file.path.display()),
            }
        }
        Ok(())
    }

    /// Sends the datagrams that are due (up to a batch); returns how many.
    fn send_due(&mut self) -> anyhow::Result<usize> {
        for sent in 0..BATCH {
            let now = self.clock.now();
            let Some(ready) = self.input.poll_datagram(now, &mut self.ts) else {
                return Ok(sent);
            };
            if let Some(late) = ready.late {
                self.stats.pacing_error.add(late.as_micros() as i64);
            }
            self.send(ready.ticks)?;
        }
        Ok(BATCH)
    }

    /// Stamps and multicasts one datagram's TS, and queues it for the edges.
    fn send(&mut self, ticks: u64) -> anyhow::Result<()> {
        let Some((seq, len)) = self.stamper.stamp(ticks, &self.ts, &mut self.buf) else {
            bail!("datagram too large")
        };
        if let Some(e) = self.encrypt.as_mut() {
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            e.apply(unix_ms, &mut self.buf[..len], self.ts.len());
            self.stats.scrambled_ts_packets = e.scrambled;
        }
        for out in std::iter::once(&self.out).chain(&self.out6) {
            match out.send(&self.buf[..len]) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("send to the multicast group"),
            }
        }
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        if let Some(central) = self.central.as_mut() {
            central.on_sent(self.clock.now(), seq, &self.buf[..len]);
        }
        if let Some(f) = self.feed.as_mut() {
            f.fanout
                .on_datagram(self.clock.now(), seq, &self.buf[..len]);
        }
        Ok(())
    }

    /// Takes waiting live input (up to a batch).
    fn take_live(
        &mut self,
        sock: Option<&tokio::net::UdpSocket>,
        buf: &mut [u8],
    ) -> anyhow::Result<()> {
        let Some(sock) = sock else { return Ok(()) };
        for _ in 0..BATCH {
            match sock.try_recv(buf) {
                Ok(n) => self.input.handle_data(self.clock.now(), &buf[..n])?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).context("receive input"),
            }
        }
        Ok(())
    }

    /// Takes waiting edge messages (up to a batch).
    fn take_relay(
        &mut self,
        sock: Option<&tokio::net::UdpSocket>,
        buf: &mut [u8],
    ) -> anyhow::Result<()> {
        let (Some(sock), Some(central)) = (sock, self.central.as_mut()) else {
            return Ok(());
        };
        for _ in 0..BATCH {
            match sock.try_recv_from(buf) {
                Ok((n, from)) => central.handle_edge(self.clock.now(), from, &buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(e).context("relay socket"),
            }
        }
        Ok(())
    }

    /// Runs the machines' timers.
    fn handle_timeout(&mut self) {
        let now = self.clock.now();
        self.input.handle_timeout(now);
        if let Some(central) = self.central.as_mut() {
            central.handle_timeout(now);
        }
        if let Some(f) = self.feed.as_mut() {
            f.fanout.handle_timeout(now);
        }
    }

    /// Logs what the input noticed.
    fn log_events(&mut self) {
        while let Some(e) = self.input.poll_event() {
            match e {
                InputEvent::Stalled => tracing::warn!("input stalled: no data for 1 s; waiting"),
                InputEvent::Resumed => tracing::info!("input resumed"),
                _ => tracing::info!(event = ?e, "input"),
            }
        }
    }

    /// Logs the figures and writes `--stats-json`.
    pub(super) fn report(&mut self, last: bool) -> anyhow::Result<()> {
        self.stats.seconds = self.clock.seconds();
        self.stats.set_input(&self.input.stats());
        if let Some(c) = &self.central {
            self.stats.relay = Some(RelayStats::of(c, self.clock.now()));
        }
        self.stats.unicast = self.feed.as_ref().map(crate::feed::Feed::stats);
        self.stats.log(last);
        match &self.stats_json {
            Some(path) => write_json(path, &self.stats),
            None => Ok(()),
        }
    }
}
