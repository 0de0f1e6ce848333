//! The relay side of the unicast fallback in the `source` and `edge` drivers: the options,
//! the socket viewers without multicast join on, and its figures, around the sans-IO
//! [`Fanout`]. Each driver records every datagram it multicasts into the fanout and flushes
//! what it queued.

use crate::driver::clock;
use anyhow::{Context, bail};
use groupcast_core::Time;
use groupcast_source::{Fanout, FanoutConfig};
use serde::Serialize;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Most datagrams taken from the socket in one go.
const BATCH: usize = 64;

/// Options of the unicast feed, shared by `groupcast source` and `groupcast edge`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct FeedArgs {
    /// Feed viewers whose network carries no multicast by unicast, on this address
    /// (HOST:PORT). Viewers come with a ticket from the manager for --channel; name this
    /// address to the manager as the channel's relay (or the metro's). Needs
    /// --unicast-secret.
    #[arg(long)]
    pub(crate) unicast_listen: Option<SocketAddr>,
    /// The secret shared with the manager (its --unicast-secret; at least 32 characters;
    /// also from the environment), from which the viewers' tickets are derived.
    #[arg(long, env = "GROUPCAST_UNICAST_SECRET", hide_env_values = true)]
    pub(crate) unicast_secret: Option<String>,
    /// Most viewers fed by unicast at once; the next one is told FULL.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) max_unicast_viewers: u32,
    /// Most viewers registered for retransmissions only (the last resort behind their repair
    /// groups; they receive multicast) at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub(crate) max_standby_viewers: u32,
    /// What those viewers may draw together, in thousandths of the stream sent so far (9: the
    /// relay's repairs stay under 0.9 % of the stream at any moment, and with its challenges
    /// its whole egress under 1.01x); each viewer at most 0.5 %.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub(crate) last_resort_permille: u32,
    /// A datagram this many of those viewers NACK is resent once to the multicast group
    /// rather than to each of them (it was lost upstream of them all); 0 never resends by
    /// multicast.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub(crate) multicast_resend_after: u32,
}

/// A unicast feed: its socket and the fanout.
pub(crate) struct Feed {
    /// Where viewers join and media leaves.
    pub(crate) socket: tokio::net::UdpSocket,
    /// The sans-IO side.
    pub(crate) fanout: Fanout,
    /// Sends the kernel refused (full buffers, unreachable viewers).
    send_errors: u64,
    /// A datagram being sent.
    buf: Vec<u8>,
}

impl Feed {
    /// The feed `args` ask for (none without `--unicast-listen`), for `channel`, keeping
    /// `keep` of history for NACKs. Call inside the runtime.
    pub(crate) fn open(
        args: &FeedArgs,
        channel: Option<&str>,
        keep: Duration,
    ) -> anyhow::Result<Option<Feed>> {
        let Some(addr) = args.unicast_listen else {
            return Ok(None);
        };
        let Some(secret) = args.unicast_secret.as_deref().map(str::trim) else {
            bail!("--unicast-listen needs --unicast-secret (or GROUPCAST_UNICAST_SECRET)");
        };
        if secret.len() < groupcast_manager::MIN_ADMIN_TOKEN {
            bail!(
                "the unicast secret has {} characters; it must have at least {}, the same as \
                 the manager's",
                secret.len(),
                groupcast_manager::MIN_ADMIN_TOKEN
            );
        }
        let Some(channel) = channel else {
            bail!("--unicast-listen needs --channel (the tickets name it)");
        };
        let mut challenge_secret = [0u8; 32];
        getrandom::fill(&mut challenge_secret).context("random challenge secret")?;
        let fanout = Fanout::new(FanoutConfig {
            channel: channel.to_owned(),
            secret: secret.as_bytes().to_vec(),
            max_viewers: args.max_unicast_viewers as usize,
            keep,
            challenge_secret,
            initial_counter: clock::wall_micros(),
            max_standby: args.max_standby_viewers as usize,
            repair_permille: u64::from(args.last_resort_permille),
            multicast_after: args.multicast_resend_after as usize,
        });
        let socket = UdpSocket::bind(addr).with_context(|| format!("--unicast-listen {addr}"))?;
        let socket = crate::net::roomy(socket)?;
        socket.set_nonblocking(true)?;
        tracing::info!(%addr, channel, "unicast feed listening");
        Ok(Some(Feed {
            socket: tokio::net::UdpSocket::from_std(socket)?,
            fanout,
            send_errors: 0,
            buf: vec![0u8; 65_536],
        }))
    }

    /// Takes the viewers' waiting messages (up to a batch).
    pub(crate) fn take(&mut self, now: Time, buf: &mut [u8]) {
        for _ in 0..BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, from)) => {
                    let wall_ms = clock::wall_micros() / 1000;
                    self.fanout.handle_viewer(now, wall_ms, from, &buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // An ICMP error from a viewer that went away: the next datagram is fine.
                Err(e) => {
                    tracing::debug!(error = %e, "unicast feed receive");
                    break;
                }
            }
        }
    }

    /// Sends what the fanout queued: answers and media to viewers on the feed's socket, and
    /// multicast resends through `multicast`, which sends to the channel's group on the
    /// driver's multicast socket(s) (its interface and TTL) and says whether it could.
    pub(crate) fn flush(&mut self, mut multicast: impl FnMut(&[u8]) -> bool) {
        while let Some((to, n)) = self.fanout.poll_transmit(&mut self.buf) {
            if self.socket.try_send_to(&self.buf[..n], to).is_err() {
                self.send_errors += 1;
            }
        }
        while let Some(n) = self.fanout.poll_multicast(&mut self.buf) {
            if !multicast(&self.buf[..n]) {
                self.send_errors += 1;
            }
        }
    }

    /// The figures.
    pub(crate) fn stats(&self) -> FeedStats {
        let s = self.fanout.stats();
        FeedStats {
            viewers: self.fanout.viewers().filter(|v| !v.standby).count(),
            joined: s.joined,
            sent: s.sent,
            bytes_sent: s.bytes_sent,
            retransmitted: s.retransmitted,
            nack_missed: s.nack_missed,
            nack_limited: s.nack_limited,
            unauthenticated: s.unauthenticated,
            expired: s.expired,
            replayed: s.replayed,
            challenges: s.challenges,
            challenge_limited: s.challenge_limited,
            refused_full: s.refused_full,
            left: s.left,
            timed_out: s.timed_out,
            dropped: s.dropped,
            held: s.held,
            send_errors: self.send_errors,
            standby: self.fanout.viewers().filter(|v| v.standby).count(),
            standby_joined: s.standby_joined,
            standby_retransmitted: s.standby_retransmitted,
            standby_limited: s.standby_limited,
            repair_bytes: s.repair_bytes,
            multicast_resent: s.multicast_resent,
            multicast_covered: s.multicast_covered,
        }
    }
}

/// The unicast feed's figures (see `groupcast_source::FanoutStats`).
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct FeedStats {
    /// Viewers fed now (standby viewers apart).
    pub(crate) viewers: usize,
    joined: u64,
    sent: u64,
    bytes_sent: u64,
    retransmitted: u64,
    nack_missed: u64,
    nack_limited: u64,
    unauthenticated: u64,
    expired: u64,
    replayed: u64,
    challenges: u64,
    challenge_limited: u64,
    refused_full: u64,
    left: u64,
    timed_out: u64,
    dropped: u64,
    held: u64,
    send_errors: u64,
    /// Viewers registered for retransmissions only, now (also in `viewers`).
    pub(crate) standby: usize,
    standby_joined: u64,
    standby_retransmitted: u64,
    standby_limited: u64,
    /// Bytes retransmitted to viewers or resent to the group (the relay's repair egress).
    pub(crate) repair_bytes: u64,
    multicast_resent: u64,
    multicast_covered: u64,
}
