//! Bad input at a live client: garbage, truncated and forged datagrams at its peer port and
//! garbage at its multicast group. Nothing crashes, nothing forged is answered, the counters
//! show every one, and the stream still plays without holes.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, call, contiguous_run_of_sample, free_udp_port};
use groupcast_wire::proto::{
    Body, ChannelId, GroupEpoch, GroupKey, Header, Message, Ranges, SenderId, SeqRange,
};
use std::net::UdpSocket;
use std::time::Duration;

/// A REQUEST for 64 packets, signed with `key`, claiming to come from `sender`.
fn request(
    channel: u32,
    epoch: u32,
    sender: u64,
    key: &[u8; 32],
    ssrc: u32,
    counter: u64,
) -> Vec<u8> {
    let ranges = [SeqRange { start: 0, len: 64 }];
    let header = Header {
        channel: ChannelId(channel),
        epoch: GroupEpoch(epoch),
        sender: SenderId(sender),
        counter,
        timestamp_us: 0,
    };
    let body = Body::Request {
        ssrc,
        answerers: 0,
        ranges: Ranges::List(&ranges),
    };
    let mut buf = vec![0u8; 1600];
    let n = Message { header, body }
        .emit(&GroupKey::new(key), &mut buf)
        .unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn forged_and_garbage_datagrams_are_counted_never_answered() {
    let sys = System::start("forged", 2, 5000);
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let target = sys.client(0, "north", 0.0, 9, &["--peer-listen", &listen]);
    let others: Vec<_> = (1..3)
        .map(|i| sys.client(i, ["south", "east"][i - 1], 0.02, 9, &[]))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let _source = sys.source(10);
    std::thread::sleep(Duration::from_secs(3));

    // A real member's id and the channel id, from the manager, to forge convincing messages.
    let (_, sessions) = call(
        "GET",
        &format!("{}/api/v1/sessions", sys.url),
        &sys.admin,
        None,
    );
    let member: u64 = sessions[0]["session"].as_str().unwrap().parse().unwrap();
    let (_, ch) = call(
        "GET",
        &format!("{}/api/v1/channels/demo", sys.url),
        &sys.viewer,
        None,
    );
    let channel = ch["id"].as_u64().unwrap() as u32;
    let ssrc = sys.stats(0)["ssrc"].as_u64().unwrap() as u32;
    let epoch = sys.stats(0)["epoch"].as_u64().unwrap() as u32;
    assert_ne!(ssrc, 0, "the target plays the stream");

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let good_shape = request(channel, epoch, member, &[7u8; 32], ssrc, 1 << 60);
    let mut sent_forged = 0;
    for i in 0..50u64 {
        // Wrong key, claimed member; and a stranger's id.
        attacker
            .send_to(
                &request(channel, epoch, member, &[7u8; 32], ssrc, (1 << 60) + i),
                &listen,
            )
            .unwrap();
        attacker
            .send_to(
                &request(channel, epoch, 12_345 + i, &[7u8; 32], ssrc, 1),
                &listen,
            )
            .unwrap();
        sent_forged += 2;
        // Truncated and garbage.
        attacker
            .send_to(&good_shape[..good_shape.len() / 2], &listen)
            .unwrap();
        attacker.send_to(&[0xffu8; 100], &listen).unwrap();
        attacker.send_to(&[], &listen).unwrap();
    }
    let mut buf = [0u8; 2048];
    assert!(
        attacker.recv_from(&mut buf).is_err(),
        "a forged request was answered"
    );
    // Garbage at the multicast group, pinned to loopback with TTL 1.
    let mcast = common::loopback_sender();
    let sock = socket2::Socket::from(mcast);
    sock.set_multicast_if_v4(&std::net::Ipv4Addr::LOCALHOST)
        .unwrap();
    sock.set_multicast_ttl_v4(1).unwrap();
    let mcast: UdpSocket = sock.into();
    for len in [0usize, 3, 12, 200] {
        mcast.send_to(&vec![0x80u8; len], &sys.group).unwrap();
    }

    assert!(
        target.wait(Duration::from_secs(20)).success(),
        "target exit"
    );
    for c in others {
        c.wait(Duration::from_secs(20));
    }
    let s = sys.stats(0);
    // Forged under the current epoch: unauthenticated; under an epoch since replaced: stale.
    let refused = s["unauthenticated"].as_u64().unwrap() + s["stale"].as_u64().unwrap();
    assert!(refused >= sent_forged, "{s}");
    assert!(s["bad_datagrams"].as_u64().unwrap() >= 150 + 3, "{s}");
    assert_eq!(s["unrecovered"], 0, "{s}");
    contiguous_run_of_sample(&sys.output(0)).unwrap();
}
