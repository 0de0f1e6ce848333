//! Shared helpers for the core's integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use groupcast_core::{Client, Config, Group, Time};
use groupcast_wire::proto::{
    Body, ChannelId, Envelope, GroupEpoch, GroupKey, Header, KEY_LEN, Message, SenderId, pair_key,
};
use std::net::SocketAddr;

pub const KEY: [u8; KEY_LEN] = [42; KEY_LEN];
pub const SSRC: u32 = 0x1234_5678;

pub fn group_addr() -> SocketAddr {
    "239.255.0.1:5004".parse().unwrap()
}

pub fn source_addr() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

pub fn peer_addr(id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + id as u16))
}

/// An RTP/TS datagram (7 TS packets) for `seq` at 1 ms per packet.
pub fn rtp(seq: u16) -> Vec<u8> {
    rtp_with(SSRC, seq, u32::from(seq) * 90)
}

pub fn rtp_with(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 33];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for j in 0..7u8 {
        let mut ts = [seq as u8 ^ j; 188];
        ts[0] = 0x47;
        p.extend_from_slice(&ts);
    }
    p
}

/// Client `me` in a group with members 1..=n, epoch 1.
pub fn client_in_group(me: u64, n: u64, tweak: impl FnOnce(&mut Config)) -> Client {
    let mut c = Config::new(ChannelId(1), SenderId(me), group_addr());
    c.buffer = std::time::Duration::from_millis(200);
    c.chunk_packets = 8;
    c.expected_pps = 1000;
    tweak(&mut c);
    let mut client = Client::new(c).unwrap();
    client.set_group(Time::ZERO, &group_for(me, 1, KEY, n));
    prove_members(&mut client, me, Time::ZERO);
    client
}

/// Proves the other members' addresses to `client` (member `me`, group secret [`KEY`]) as
/// their pongs would: the last ping it has queued for each member (running its timers at
/// `now` first) is answered from that member, echoing counter, timestamp and nonce (counter
/// 0: later test messages count up from 1). Everything else queued is dropped.
pub fn prove_members(client: &mut Client, me: u64, now: Time) {
    client.handle_timeout(now);
    let mut last = std::collections::BTreeMap::new();
    for (dst, bytes) in drain(client, now) {
        let env = Envelope::parse(&bytes).unwrap();
        let epoch = env.header.epoch.0;
        let msg = env.open(&key_between(me, dst, epoch)).unwrap();
        if let Body::Ping { nonce } = msg.body {
            let h = msg.header;
            last.insert(dst, (epoch, h.counter, h.timestamp_us, nonce));
        }
    }
    for (dst, (epoch, echo_counter, echo_timestamp_us, echo_nonce)) in last {
        let pong = Body::Pong {
            echo_counter,
            echo_timestamp_us,
            echo_nonce,
        };
        let from = u64::from(dst.port() - 10_000);
        client.handle_peer(now, &message_to(me, from, 0, epoch, &KEY, pong));
    }
}

/// Member 1's view of the group of members 1..=n whose secret is `secret`.
pub fn group(epoch: u32, secret: [u8; KEY_LEN], n: u64) -> Group {
    group_for(1, epoch, secret, n)
}

/// Member `me`'s view of the group of members 1..=n whose secret is `secret`: each member
/// with the key `me` shares with it, as the manager hands it out.
pub fn group_for(me: u64, epoch: u32, secret: [u8; KEY_LEN], n: u64) -> Group {
    let members = (1..=n).map(|id| (SenderId(id), peer_addr(id)));
    Group::derived(GroupEpoch(epoch), &secret, SenderId(me), members)
}

/// The key member `from` uses for what it sends to the member listening at `to`, in a group
/// whose secret is [`KEY`].
pub fn key_between(from: u64, to: SocketAddr, epoch: u32) -> GroupKey {
    let to = u64::from(to.port() - 10_000);
    GroupKey::new(&pair_key(
        &KEY,
        GroupEpoch(epoch),
        SenderId(from),
        SenderId(to),
    ))
}

/// A message from `sender` to member 1, under the key the two share in a group whose secret
/// is `secret`.
pub fn message(
    sender: u64,
    counter: u64,
    epoch: u32,
    secret: &[u8; KEY_LEN],
    body: Body<'_>,
) -> Vec<u8> {
    message_to(1, sender, counter, epoch, secret, body)
}

/// A message from `sender` to member `to` (see [`message`]).
pub fn message_to(
    to: u64,
    sender: u64,
    counter: u64,
    epoch: u32,
    secret: &[u8; KEY_LEN],
    body: Body<'_>,
) -> Vec<u8> {
    let key = pair_key(secret, GroupEpoch(epoch), SenderId(sender), SenderId(to));
    message_keyed(sender, counter, epoch, &key, body)
}

/// A message from `sender` under exactly `key` (a forger's attempt, say).
pub fn message_keyed(
    sender: u64,
    counter: u64,
    epoch: u32,
    key: &[u8; KEY_LEN],
    body: Body<'_>,
) -> Vec<u8> {
    let header = Header {
        channel: ChannelId(1),
        epoch: GroupEpoch(epoch),
        sender: SenderId(sender),
        counter,
        timestamp_us: 0,
    };
    let mut buf = vec![0u8; 1600];
    let n = Message { header, body }
        .emit(&GroupKey::new(key), &mut buf)
        .unwrap();
    buf.truncate(n);
    buf
}

/// Everything the client wants to send now: (destination, bytes).
pub fn drain(client: &mut Client, now: Time) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1600];
    while let Some(t) = client.poll_transmit(now, &mut buf) {
        out.push((t.dst, buf[..t.len].to_vec()));
    }
    out
}

/// Feeds packets `from..to` (skipping `skip`) at 1 ms spacing starting at `t0_ms`.
pub fn feed(client: &mut Client, from: u16, to: u16, skip: &[u16], t0_ms: u64) {
    for s in from..to {
        if !skip.contains(&s) {
            client.handle_media(
                Time::from_millis(t0_ms + u64::from(s - from)),
                source_addr(),
                &rtp(s),
            );
        }
    }
}
