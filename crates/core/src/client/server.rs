//! The server: answers our peers' repair requests from the raw buffer.
//!
//! Per sender it keeps the anti-replay window over its message counters and its serving
//! budget (a token bucket at a multiple of the stream's measured rate, a buffer deep), and
//! over all senders our uplink budget (bytes per second); it decides which requested packets
//! to answer and builds the answers when the outbox writes them. It never answers anything unauthenticated: the caller
//! has checked the message before [`Server::serve`].

use super::gop::GopStore;
use super::outbox::{Outbox, PendingKind, RANGES_PER_REQUEST};
use super::repair::push_seq;
use super::rota;
use crate::config::Config;
use crate::raw::{RawBuffer, SlotState};
use crate::stats::Counters;
use groupcast_base::{Time, TokenBucket};
use groupcast_wire::proto::{GroupEpoch, Ranges, Repair, ReplayWindow, SenderId};
use groupcast_wire::{SeqNo, Ssrc};
use std::net::SocketAddr;
use std::time::Duration;

/// Most packet numbers one request is looked up for; the rest are counted as refused.
const MAX_SERVED_PER_REQUEST: u32 = 1024;
/// Bytes a repair adds to the datagram it carries (message header, repair header, UDP header,
/// tag), counted against the uplink budget.
const REPAIR_OVERHEAD: usize = 64;
/// The uplink budget's depth: this long at its rate.
const UPLINK_DEPTH: Duration = Duration::from_millis(200);
/// A backup (a member of another group that lists us as its backup) may draw this fraction
/// of a member's budget: it asks only for what its own group lacked, after it gave up.
const BACKUP_SHARE: u32 = 4;

/// What we keep about one member as a sender of messages to us.
#[derive(Debug)]
struct SenderState {
    /// Its session id.
    id: SenderId,
    /// Anti-replay window over its counters in the current epoch (a new key, a new window).
    replay: (GroupEpoch, ReplayWindow),
    /// The previous epoch's window, for its messages during the key's grace period.
    previous: Option<(GroupEpoch, ReplayWindow)>,
    /// Its budget for repairs we serve it.
    budget: TokenBucket,
}

/// One authenticated request to serve.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The requester's index in the member list.
    pub(crate) from: usize,
    /// The stream asked about.
    pub(crate) ssrc: Ssrc,
    /// The RTP sequence numbers asked for.
    pub(crate) ranges: &'a Ranges<'a>,
    /// How many members answer each packet, in rota order (0: all of them).
    pub(crate) answerers: u8,
}

/// What we hold of a requested packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// We hold it: our number for it and the datagram's length.
    Yes(SeqNo, usize),
    /// We lack it too, and not for a moment: it has been missing in our buffer for longer than
    /// our reorder hold (a loss, not a packet merely reordered) and is not repaired yet, or it
    /// came before our first packet of its stream (we tuned in after it: never ours).
    Lost,
    /// Not ours to say: not arrived yet, released already, or a stream we do not follow.
    Unknown,
}

/// Serving state per member, in the member list's order.
#[derive(Debug)]
pub(crate) struct Server {
    /// Our session id (our place in the rota).
    me: SenderId,
    /// One per member other than us, then one per backup, indexed like the member list.
    senders: Vec<SenderState>,
    /// How many of `senders` are members (the rota's); the rest are backups.
    members: usize,
    /// Whether requests are answered at all.
    enabled: bool,
    /// Repairs per second one peer may draw (from the stream's rate once measured).
    rate: u32,
    /// Token bucket depth for `rate`; new members start with a full bucket.
    burst: u32,
    /// The configured floors of `rate` and `burst`, and the multiple of the stream's rate.
    floor: (u32, u32, u32),
    /// Our whole serving upload: bytes per second (0: no cap) and its bucket.
    uplink: (u32, TokenBucket),
}

impl Server {
    /// A server with no members, budgets from `config`.
    pub(crate) fn new(config: &Config) -> Self {
        let depth = uplink_depth(config.uplink_bytes_per_sec);
        Server {
            me: config.sender,
            senders: Vec::new(),
            members: 0,
            enabled: config.serve_enabled,
            rate: config.serve_rate,
            burst: config.serve_burst,
            floor: (
                config.serve_rate,
                config.serve_burst,
                config.serve_rate_ratio,
            ),
            uplink: (config.uplink_bytes_per_sec, TokenBucket::full(depth)),
        }
    }

    /// Follows the stream's measured rate, `pps`: a peer may draw `serve_rate_ratio` times it,
    /// in bursts of a `buffer`'s worth (never less than the configured floors), so a member
    /// can serve a catch-up after an outage within the time the buffer leaves.
    pub(crate) fn follow_rate(&mut self, pps: u32, buffer: Duration) {
        let (rate, burst, ratio) = self.floor;
        self.rate = rate.max(pps.saturating_mul(ratio));
        let buffered = u64::from(pps) * buffer.as_millis() as u64 / 1000;
        self.burst = burst.max(buffered.min(u64::from(u32::MAX)) as u32);
    }

    /// Follows a new member list (`ids`, in the member list's order, without `me`, our own
    /// id: the `members` first, each with the epoch its messages carry, then the backups),
    /// keeping the budgets of senders that stay. Replay state is kept per (epoch, sender): a
    /// new epoch (a new key) starts a new window, and the old one is kept for the old key's
    /// grace.
    pub(crate) fn set_members(
        &mut self,
        (me, members): (SenderId, usize),
        ids: impl Iterator<Item = (SenderId, GroupEpoch)>,
    ) {
        self.me = me;
        self.members = members;
        let mut old = std::mem::take(&mut self.senders);
        for (i, (id, epoch)) in ids.enumerate() {
            let burst = match i < members {
                true => self.burst,
                false => self.burst / BACKUP_SHARE,
            };
            let kept = old
                .iter()
                .position(|s| s.id == id)
                .map(|i| old.swap_remove(i));
            self.senders.push(match kept {
                Some(s) if s.replay.0 == epoch => s,
                Some(s) => SenderState {
                    replay: (epoch, ReplayWindow::new()),
                    previous: Some(s.replay),
                    ..s
                },
                None => SenderState {
                    id,
                    replay: (epoch, ReplayWindow::new()),
                    previous: None,
                    budget: TokenBucket::full(burst),
                },
            });
        }
    }

    /// Checks member `idx`'s message counter in `epoch` against that epoch's replay window
    /// (the caller has authenticated the message under that epoch's key): true if fresh.
    pub(crate) fn fresh(&mut self, idx: usize, epoch: GroupEpoch, counter: u64) -> bool {
        let Some(s) = self.senders.get_mut(idx) else {
            return false;
        };
        let window = match &mut s.previous {
            _ if s.replay.0 == epoch => &mut s.replay.1,
            Some((e, w)) if *e == epoch => w,
            _ => return false,
        };
        window.accept(counter).is_ok()
    }

    /// Queues repairs for the requested packets we hold (`held` says, for an RTP sequence
    /// number of `req.ssrc`, whether we hold it, lost it too, or cannot tell), within the
    /// requester's budget and our uplink's, and one [`Absent`](PendingKind::Absent) for those
    /// we lost too (in at most as many ranges as the request has: never a longer message).
    /// `follows` says whether `req.ssrc` is a stream we follow.
    pub(crate) fn serve(
        &mut self,
        now: Time,
        req: Request<'_>,
        (follows, held): (bool, impl Fn(u16) -> Held),
        out: &mut Outbox,
        c: &mut Counters,
    ) {
        c.requests_received += 1;
        let asked = req.ranges.iter().map(|r| u32::from(r.len)).sum::<u32>();
        let Some(from) = self.senders.get(req.from).map(|s| s.id) else {
            return;
        };
        if !self.enabled || !follows {
            c.serve_missing += u64::from(asked);
            return;
        }
        let mut looked = 0;
        let room = req.ranges.len().min(RANGES_PER_REQUEST);
        let mut absent = Vec::new();
        for wire in req.ranges.iter().flat_map(|r| r.iter()) {
            looked += 1;
            if looked > MAX_SERVED_PER_REQUEST {
                c.serve_rate_limited += u64::from(asked - MAX_SERVED_PER_REQUEST);
                break;
            }
            let members = self.senders[..self.members].iter().map(|s| s.id);
            if !rota::answers((req.ssrc.0, wire), (self.me, from), members, req.answerers) {
                c.serve_deferred += 1;
                continue;
            }
            let sender = &mut self.senders[req.from];
            let (seq, len) = match held(wire) {
                Held::Yes(seq, len) => (seq, len),
                lost => {
                    c.serve_missing += 1;
                    if matches!(lost, Held::Lost) {
                        push_seq(&mut absent, wire);
                        absent.truncate(room);
                    }
                    continue;
                }
            };
            let (rate, burst) = match req.from < self.members {
                true => (self.rate, self.burst),
                false => (self.rate / BACKUP_SHARE, self.burst / BACKUP_SHARE),
            };
            if !sender.budget.take(now, rate, burst) {
                c.serve_rate_limited += 1;
                continue;
            }
            let (uplink, bucket) = &mut self.uplink;
            let bytes = (len + REPAIR_OVERHEAD).min(u32::MAX as usize) as u32;
            if *uplink > 0 && !bucket.take_n(now, bytes, *uplink, uplink_depth(*uplink)) {
                c.serve_uplink_limited += 1;
                continue;
            }
            let ssrc = req.ssrc;
            c.backup_served += u64::from(req.from >= self.members);
            out.push(sender.id, PendingKind::Repair { ssrc, seq, wire }, c);
        }
        if !absent.is_empty() {
            out.absent(from, (req.ssrc, &absent), c);
        }
    }

    /// Whether the raw buffer or the GOP store holds packet `seq` (its number, if the stream
    /// is followed), with the datagram's length; or whether we lack it too: missing for at
    /// least the reorder `hold` at `now`, or before `first`, our first packet of its stream.
    pub(crate) fn held(
        (raw, gop): (&RawBuffer, &GopStore),
        (seq, first): (Option<SeqNo>, Option<SeqNo>),
        (now, hold): (Time, Duration),
    ) -> Held {
        let Some(q) = seq else {
            return Held::Unknown;
        };
        let slot = raw.get(q);
        if slot.is_some_and(|s| s.state == SlotState::Present) {
            return Held::Yes(q, raw.bytes(q).len());
        }
        // Tuned in after it (a herd of viewers joining as a channel goes on air): nobody who
        // asks us will ever get it from us.
        if first.is_some_and(|f| q < f) {
            return Held::Lost;
        }
        // Missing for longer than the reorder hold: lost, not merely late (whether or not we
        // ask for it: a viewer that does not repair lacks it as surely).
        let lost = slot
            .is_some_and(|s| s.state == SlotState::Missing && now.saturating_since(s.at) >= hold);
        match gop.get(q) {
            Some((bytes, _)) => Held::Yes(q, bytes.len()),
            None if lost => Held::Lost,
            None => Held::Unknown,
        }
    }

    /// The answer carrying packet `seq` (RTP number `wire` of `ssrc`), rebuilt as sent to
    /// `group`; `None` if the slot no longer holds it.
    pub(crate) fn answer<'a>(
        (raw, gop): (&'a RawBuffer, &'a GopStore),
        group: SocketAddr,
        (ssrc, seq, wire): (Ssrc, SeqNo, u16),
    ) -> Option<Repair<'a>> {
        let held = match raw.get(seq).filter(|s| s.state == SlotState::Present) {
            Some(slot) => (raw.bytes(seq), slot.src),
            None => gop.get(seq)?,
        };
        Some(repair(group, (ssrc, wire), held))
    }
}

/// The repair of packet `wire` of `ssrc`, the datagram `rtp` that came from `src`, as sent to
/// `group`.
pub(crate) fn repair(
    group: SocketAddr,
    (ssrc, wire): (Ssrc, u16),
    (rtp, src): (&[u8], SocketAddr),
) -> Repair<'_> {
    Repair {
        ssrc: ssrc.0,
        sequence: wire,
        src,
        dst: group,
        rtp,
    }
}

/// The uplink bucket's depth for a rate of `bytes_per_sec`, at least one large datagram.
fn uplink_depth(bytes_per_sec: u32) -> u32 {
    let depth = u64::from(bytes_per_sec) * UPLINK_DEPTH.as_millis() as u64 / 1000;
    depth.clamp(65_536, u64::from(u32::MAX / 2)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_wire::proto::{ChannelId, SeqRange};

    fn server(burst: u32) -> Server {
        let mut config = Config::new(ChannelId(1), SenderId(1), "239.1.1.1:5004".parse().unwrap());
        config.serve_burst = burst;
        let mut s = Server::new(&config);
        let e = GroupEpoch(1);
        s.set_members(
            (SenderId(1), 2),
            [(SenderId(2), e), (SenderId(3), e)].into_iter(),
        );
        s
    }

    /// A request from member `from` for `ranges` of stream 9, every member answering.
    fn request<'a>(from: usize, ranges: &'a Ranges<'a>) -> Request<'a> {
        Request {
            from,
            ssrc: Ssrc(9),
            ranges,
            answerers: 0,
        }
    }

    #[test]
    fn replay_state_is_kept_per_epoch_and_sender() {
        let (e1, e2) = (GroupEpoch(1), GroupEpoch(2));
        let mut s = server(10);
        assert!(s.fresh(0, e1, 5));
        assert!(!s.fresh(0, e1, 5), "replayed");
        s.set_members(
            (SenderId(1), 2),
            [(SenderId(3), e1), (SenderId(2), e1)].into_iter(),
        );
        assert!(!s.fresh(1, e1, 5), "same epoch: member 2 kept its window");
        s.set_members(
            (SenderId(1), 2),
            [(SenderId(4), e2), (SenderId(2), e2)].into_iter(),
        );
        assert!(s.fresh(1, e2, 5), "a new key starts a new window");
        assert!(!s.fresh(1, e2, 5), "replayed in the new epoch");
        assert!(
            !s.fresh(1, e1, 5),
            "the old epoch's window is kept for its grace"
        );
        assert!(s.fresh(1, e1, 6));
        assert!(s.fresh(0, e2, 5), "member 4 is new");
        assert!(
            !s.fresh(0, e1, 9),
            "member 4 has no window in the old epoch"
        );
        assert!(!s.fresh(1, GroupEpoch(7), 9), "unknown epoch");
        assert!(!s.fresh(7, e2, 1), "no such member");
    }

    #[test]
    fn serves_held_packets_within_budget() {
        let (mut s, mut out, mut c) = (server(2), Outbox::new(1), Counters::default());
        let list = [SeqRange { start: 10, len: 4 }];
        let ranges = Ranges::List(&list);
        let req = request(1, &ranges);
        let held = |w: u16| match w {
            11 => Held::Lost,
            _ => Held::Yes(SeqNo(u64::from(w)), 1328),
        };
        s.serve(Time::ZERO, req, (true, held), &mut out, &mut c);
        assert_eq!(
            (c.requests_received, c.serve_missing, c.serve_rate_limited),
            (1, 1, 1)
        );
        assert!(out.repair_queued(SeqNo(10)) && out.repair_queued(SeqNo(12)));
        assert!(!out.repair_queued(SeqNo(13)));
        assert_eq!(out.pop().map(|p| p.to), Some(SenderId(3)));
        out.pop();
        let absent = out.pop().map(|p| p.what);
        assert!(
            matches!(absent, Some(PendingKind::Absent { n: 1, ranges, .. })
                if ranges[0] == SeqRange { start: 11, len: 1 }),
            "the packet we lost too is said absent: {absent:?}"
        );
        assert!(out.pop().is_none());
        s.serve(Time::ZERO, req, (false, held), &mut out, &mut c);
        assert_eq!(c.serve_missing, 5, "a stream we do not follow");
        assert!(
            out.pop().is_none(),
            "nothing said of a stream we do not follow"
        );
    }

    #[test]
    fn absent_answers_are_never_longer_than_the_request() {
        let (mut s, mut out, mut c) = (server(100), Outbox::new(1), Counters::default());
        let list = [SeqRange { start: 0, len: 40 }];
        let ranges = Ranges::List(&list);
        let req = request(0, &ranges);
        // Every other packet lost here too, the rest not arrived yet: one range only.
        let held = |w: u16| match w % 2 {
            0 => Held::Lost,
            _ => Held::Unknown,
        };
        s.serve(Time::ZERO, req, (true, held), &mut out, &mut c);
        let Some(PendingKind::Absent { n, ranges, .. }) = out.pop().map(|p| p.what) else {
            panic!("an absent answer is queued");
        };
        assert_eq!((n, ranges[0]), (1, SeqRange { start: 0, len: 1 }));
        assert!(out.pop().is_none());
        // Packets not arrived yet are not said absent.
        let unknown = |_: u16| Held::Unknown;
        s.serve(Time::ZERO, req, (true, unknown), &mut out, &mut c);
        assert!(out.pop().is_none());
        assert_eq!(c.serve_missing, 80);
    }
}
