//! The backup tier (issue 12, item 3a): a packet every member of a group lost is asked of
//! the backups the manager named (members of another group), once the group could not supply
//! it in time, and arrives before it plays. Backups are authenticated under the backup
//! pairing's key and epoch; they get a smaller serving budget and no fast start.
//!
//! Virtual time, one datagram per ms, 200 ms buffers; every datagram is delivered (or not) by
//! the test's bus, by destination port.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use groupcast_core::{Client, Config, Group, Time};
use groupcast_wire::proto::{
    Body, ChannelId, GroupEpoch, KEY_LEN, MessageType, SenderId, SeqRange, pair_key,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The channel's backup secret (the manager's, never a client's).
const BACKUP_SECRET: [u8; KEY_LEN] = [9; KEY_LEN];
/// The backup pairing's epoch.
const BACKUP_EPOCH: GroupEpoch = GroupEpoch(77);
/// Group A's secret (members 1 and 2); group B's (members 5 and 6) is [`KEY`].
const SECRET_A: [u8; KEY_LEN] = [1; KEY_LEN];

fn config(me: u64) -> Config {
    let mut c = Config::new(ChannelId(1), SenderId(me), group_addr());
    c.buffer = std::time::Duration::from_millis(200);
    c.chunk_packets = 8;
    c.expected_pps = 1000;
    c
}

/// Member `me`'s view of the group `ids` (epoch `epoch`, secret `secret`), with `backups`.
fn view(me: u64, (epoch, secret): (u32, &[u8; KEY_LEN]), ids: &[u64], backups: &[u64]) -> Group {
    let at = |&id: &u64| (SenderId(id), peer_addr(id));
    Group::derived(GroupEpoch(epoch), secret, SenderId(me), ids.iter().map(at)).with_backups(
        (BACKUP_EPOCH, &BACKUP_SECRET),
        SenderId(me),
        backups.iter().map(at),
    )
}

/// What each client counted after the run.
struct Outcome {
    clients: BTreeMap<u64, Client>,
    /// (client, RTP number) -> the ms it was first handed to the driver for the last resort.
    escalated_at: BTreeMap<(u64, u16), u64>,
}

impl Outcome {
    fn get(&self, id: u64) -> &groupcast_core::Counters {
        &self.clients[&id].stats().counters
    }
}

/// Group A = {1, 2} and group B = {5, 6}; with `backups`, 1 and 5 are each other's backup
/// (and 2 and 6). Both members of A lose datagrams 300..=302 and 600; B gets everything. Runs
/// 1 s and plays everything out; `drop(to, datagram)` drops a peer datagram on its way.
fn run(backups: bool, drop: impl FnMut(u64, &[u8]) -> bool) -> Outcome {
    run_with((backups, &[], None), drop)
}

/// [`run`], where B loses `lost_in_b` too and A's members have a last resort `relay` away
/// (that never answers: what is handed to it is recorded).
fn run_with(
    setup: (bool, &[u16], Option<Duration>),
    drop: impl FnMut(u64, &[u8]) -> bool,
) -> Outcome {
    run_late(setup, 0, drop)
}

/// [`run_with`], where member 2 tunes in at datagram `joins` (it gets nothing before).
fn run_late(
    (backups, lost_in_b, relay): (bool, &[u16], Option<Duration>),
    joins: u16,
    mut drop: impl FnMut(u64, &[u8]) -> bool,
) -> Outcome {
    let pair = |me: u64| -> Vec<u64> {
        match (backups, me) {
            (false, _) => vec![],
            (true, 1) => vec![5],
            (true, 5) => vec![1],
            (true, 2) => vec![6],
            (true, _) => vec![2],
        }
    };
    let mut clients: BTreeMap<u64, Client> = BTreeMap::new();
    for id in [1, 2, 5, 6] {
        let mut c = Client::new(config(id)).unwrap();
        let g = match id {
            1 | 2 => view(id, (1, &SECRET_A), &[1, 2], &pair(id)),
            _ => view(id, (3, &KEY), &[5, 6], &pair(id)),
        };
        c.set_group(Time::ZERO, &g);
        if id <= 2 {
            c.set_last_resort(relay);
        }
        clients.insert(id, c);
    }
    let lost_in_a = [300u16, 301, 302, 600];
    let mut escalated_at = BTreeMap::new();
    let mut asked = Vec::new();
    for ms in 0..1300u64 {
        let now = Time::from_millis(ms);
        for (&id, c) in clients.iter_mut() {
            if ms < 1000 {
                let seq = ms as u16;
                let lost = match id {
                    1 | 2 => &lost_in_a[..],
                    _ => lost_in_b,
                };
                if !lost.contains(&seq) && (id != 2 || seq >= joins) {
                    c.handle_media(now, source_addr(), &rtp(seq));
                }
            }
            c.handle_timeout(now);
            c.drain_escalations(&mut asked);
            for seq in asked.drain(..) {
                escalated_at.entry((id, seq)).or_insert(ms);
            }
            while c.poll_playout(now).is_some() {}
        }
        let mut mail = Vec::new();
        for c in clients.values_mut() {
            mail.extend(drain(c, now));
        }
        for (dst, bytes) in mail {
            let to = u64::from(dst.port() - 10_000);
            if !drop(to, &bytes) {
                clients.get_mut(&to).unwrap().handle_peer(now, &bytes);
            }
        }
    }
    Outcome {
        clients,
        escalated_at,
    }
}

/// True for an absent message (its type byte is in clear).
fn is_absent(bytes: &[u8]) -> bool {
    bytes.get(3) == Some(&(MessageType::Absent as u8))
}

#[test]
fn a_group_that_says_it_lacks_a_packet_hands_it_to_the_backups_at_once() {
    let told = run(true, |_, _| false);
    // The control: the same run with every absent message lost on the way.
    let untold = run(true, |_, b| is_absent(b));
    for id in [1, 2] {
        let (t, u) = (told.clients[&id].stats(), untold.clients[&id].stats());
        assert_eq!(
            t.counters.backup_repaired, 4,
            "client {id}: {:?}",
            t.counters
        );
        assert_eq!(
            u.counters.backup_repaired, 4,
            "client {id}: {:?}",
            u.counters
        );
        assert_eq!((t.counters.unrecovered, u.counters.unrecovered), (0, 0));
        assert!(t.counters.absent_all >= 4, "{:?}", t.counters);
        assert!(
            t.counters.absent_sent >= 2,
            "one per request: {:?}",
            t.counters
        );
        assert_eq!(u.counters.absent_all, 0);
        let worst = |s: &groupcast_core::Stats| s.repair_latency(1.0).unwrap();
        // The reorder hold (5 ms), one ask of the group, one of the backups.
        assert!(worst(t) <= Duration::from_millis(12), "{:?}", worst(t));
        // Without word from the group, its attempts are waited out first.
        assert!(worst(u) >= Duration::from_millis(30), "{:?}", worst(u));
    }
}

#[test]
fn a_datagram_the_backups_lack_too_goes_to_the_relay_at_once() {
    let setup = (true, &[600u16][..], Some(Duration::from_millis(2)));
    let told = run_with(setup, |_, _| false);
    let untold = run_with(setup, |_, b| is_absent(b));
    for id in [1, 2] {
        // 601 reveals the loss at 601 ms; the reorder hold, one ask of the group and one of
        // the backups, each answered ABSENT at once, and the relay is next.
        let at = |o: &Outcome| o.escalated_at.get(&(id, 600)).copied();
        assert!(
            at(&told).is_some_and(|ms| ms <= 615),
            "client {id}: {:?}",
            at(&told)
        );
        assert!(
            told.get(id).absent_all >= 2,
            "group, then backups: {:?}",
            told.get(id)
        );
        // Without the answers, the group's attempts and the backups' asks are waited out.
        assert!(
            at(&untold).is_some_and(|ms| ms >= 640),
            "client {id}: {:?}",
            at(&untold)
        );
        // The other holes are filled by the backups, as before.
        assert_eq!(told.get(id).backup_repaired, 3, "client {id}");
    }
}

#[test]
fn a_hole_the_whole_group_shares_is_filled_by_a_backup() {
    let r = run(true, |_, _| false);
    for id in [1, 2] {
        let c = r.get(id);
        assert_eq!((c.lost, c.unrecovered), (4, 0), "client {id}: {c:?}");
        assert_eq!(c.backup_repaired, 4, "client {id}");
        assert!(c.backup_asked >= 4, "client {id}");
        // Its own group was asked first (and had nothing).
        assert!(c.packets_requested >= 4, "client {id}");
    }
    for id in [5, 6] {
        let c = r.get(id);
        assert!(c.backup_served >= 4, "backup {id}: {c:?}");
        assert_eq!((c.lost, c.unrecovered, c.backup_asked), (0, 0, 0));
    }
    // Everything else was authenticated and fresh.
    for id in [1, 2, 5, 6] {
        let c = r.get(id);
        assert_eq!(
            (c.unauthenticated, c.stale, c.replayed, c.backup_refused),
            (0, 0, 0, 0),
            "client {id}"
        );
    }
}

#[test]
fn without_backups_the_shared_hole_stays() {
    let r = run(false, |_, _| false);
    for id in [1, 2] {
        let c = r.get(id);
        assert_eq!((c.lost, c.unrecovered), (4, 4), "client {id}: {c:?}");
        assert_eq!((c.backup_asked, c.backup_repaired), (0, 0));
    }
}

#[test]
fn a_lost_backup_request_or_repair_is_asked_again() {
    // 1's first request to its backup 5 is lost, and so is 5's first repair to 1.
    let (mut requests, mut repairs) = (0, 0);
    let r = run(true, |to, d| {
        let from = groupcast_wire::proto::Envelope::parse(d)
            .unwrap()
            .header
            .sender;
        match (from.0, to, d[3]) {
            (1, 5, 1) => requests += 1,
            (5, 1, 2) => repairs += 1,
            _ => return false,
        }
        requests == 1 && d[3] == 1 || repairs == 1 && d[3] == 2
    });
    assert!((requests, repairs) >= (2, 2), "{requests} {repairs}");
    let c = r.get(1);
    assert_eq!(c.unrecovered, 0, "{c:?}");
    // (One may come from member 2, which had it from its own backup by then.)
    assert_eq!(c.repaired, 4);
    assert!(c.backup_asked > 4, "nothing was asked twice: {c:?}");
}

/// A client (1) whose backup is 5, its backups' address proven.
fn client_with_backup() -> Client {
    let mut c = Client::new(config(1)).unwrap();
    c.set_group(Time::ZERO, &view(1, (1, &SECRET_A), &[1, 2], &[5]));
    for ms in 0..400u16 {
        c.handle_media(Time::from_millis(u64::from(ms)), source_addr(), &rtp(ms));
    }
    c
}

/// A message from `sender` to 1 under the backup pairing's key and `epoch`.
fn from_backup(sender: u64, counter: u64, epoch: GroupEpoch, body: Body<'_>) -> Vec<u8> {
    let key = pair_key(&BACKUP_SECRET, epoch, SenderId(sender), SenderId(1));
    message_keyed(sender, counter, epoch.0, &key, body)
}

#[test]
fn backups_are_checked_as_members_are_and_get_no_fast_start() {
    let mut c = client_with_backup();
    let now = Time::from_millis(400);
    // The group's epoch, or another pairing's, is stale for a backup; a stranger under the
    // backup secret is nobody; the group's key does not speak for a backup.
    c.handle_peer(now, &from_backup(5, 1, GroupEpoch(1), Body::FastStart));
    c.handle_peer(now, &from_backup(5, 2, GroupEpoch(76), Body::FastStart));
    c.handle_peer(now, &from_backup(8, 1, BACKUP_EPOCH, Body::FastStart));
    c.handle_peer(now, &message_to(1, 5, 3, 77, &SECRET_A, Body::FastStart));
    c.handle_peer(now, &from_backup(5, 4, BACKUP_EPOCH, Body::FastStart));
    let k = &c.stats().counters;
    assert_eq!(
        (
            k.stale,
            k.unauthenticated,
            k.backup_refused,
            k.fast_starts_served
        ),
        (2, 2, 1, 0)
    );
    // A proper message is taken once.
    c.handle_peer(now, &from_backup(5, 4, BACKUP_EPOCH, Body::FastStart));
    assert_eq!(c.stats().counters.replayed, 1);
}

#[test]
fn a_backup_draws_a_quarter_of_a_members_budget() {
    let mut c = client_with_backup();
    let now = Time::from_millis(400);
    prove(&mut c, now);
    let ranges = [SeqRange { start: 0, len: 400 }];
    let ask = |sender: u64, counter: u64, epoch: GroupEpoch, key: &[u8; KEY_LEN]| {
        let body = Body::Request {
            ssrc: SSRC,
            answerers: 0,
            ranges: groupcast_wire::proto::Ranges::List(&ranges),
        };
        let key = pair_key(key, epoch, SenderId(sender), SenderId(1));
        message_keyed(sender, counter, epoch.0, &key, body)
    };
    c.handle_peer(now, &ask(5, 10, BACKUP_EPOCH, &BACKUP_SECRET));
    let to_backup = drain(&mut c, now)
        .iter()
        .filter(|(dst, b)| *dst == peer_addr(5) && b[3] == 2)
        .count();
    c.handle_peer(now, &ask(2, 10, GroupEpoch(1), &SECRET_A));
    let to_member = drain(&mut c, now)
        .iter()
        .filter(|(dst, b)| *dst == peer_addr(2) && b[3] == 2)
        .count();
    assert!(to_backup > 0, "the backup got nothing");
    assert_eq!(to_backup * 4, to_member, "{to_backup} vs {to_member}");
    assert_eq!(c.stats().counters.backup_served, to_backup as u64);
}

/// Proves 2's and 5's addresses to `c`, as their pongs would.
fn prove(c: &mut Client, now: Time) {
    c.handle_timeout(now);
    for (dst, bytes) in drain(c, now) {
        let env = groupcast_wire::proto::Envelope::parse(&bytes).unwrap();
        let id = u64::from(dst.port() - 10_000);
        let (secret, epoch) = match id {
            5 => (BACKUP_SECRET, BACKUP_EPOCH),
            _ => (SECRET_A, GroupEpoch(1)),
        };
        let key = groupcast_wire::proto::GroupKey::new(&pair_key(
            &secret,
            epoch,
            SenderId(1),
            SenderId(id),
        ));
        let msg = env.open(&key).unwrap();
        if let Body::Ping { nonce } = msg.body {
            let pong = Body::Pong {
                echo_counter: msg.header.counter,
                echo_timestamp_us: msg.header.timestamp_us,
                echo_nonce: nonce,
            };
            let key = pair_key(&secret, epoch, SenderId(id), SenderId(1));
            c.handle_peer(now, &message_keyed(id, 1, epoch.0, &key, pong));
        }
    }
}

#[test]
fn a_member_that_tuned_in_after_a_packet_says_it_lacks_it() {
    // Member 2 tunes in at 303, after 300..=302, which member 1 lost (a herd joining as the
    // channel goes on air): 2 never had them, and says so.
    let told = run_late((true, &[], None), 303, |_, _| false);
    let untold = run_late((true, &[], None), 303, |_, b| is_absent(b));
    let (t, u) = (told.clients[&1].stats(), untold.clients[&1].stats());
    assert_eq!(t.counters.backup_repaired, 4, "{:?}", t.counters);
    assert_eq!((t.counters.unrecovered, u.counters.unrecovered), (0, 0));
    assert!(told.get(2).absent_sent >= 1, "{:?}", told.get(2));
    let worst = |s: &groupcast_core::Stats| s.repair_latency(1.0).unwrap();
    // The reorder hold, one ask of the group (answered ABSENT), one of the backups.
    assert!(worst(t) <= Duration::from_millis(12), "{:?}", worst(t));
    // Without the word, the group's attempts are waited out first.
    assert!(worst(u) >= Duration::from_millis(30), "{:?}", worst(u));
}
