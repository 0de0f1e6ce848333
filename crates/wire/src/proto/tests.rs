//! Round trips, hex fixtures and rejection of bad input for the repair protocol.

use super::*;
use std::net::SocketAddr;

fn key(b: u8) -> GroupKey {
    GroupKey::new(&[b; KEY_LEN])
}

fn header() -> Header {
    Header {
        channel: ChannelId(7),
        epoch: GroupEpoch(3),
        sender: SenderId(0x0102_0304_0506_0708),
        counter: 42,
        timestamp_us: 1_000_000,
    }
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 33];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&9000u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x47; 188]);
    p
}

fn round_trip(body: Body<'_>) {
    let msg = Message {
        header: header(),
        body,
    };
    let mut buf = [0u8; 1500];
    let n = msg.emit(&key(1), &mut buf).unwrap();
    let env = Envelope::parse(&buf[..n]).unwrap();
    assert_eq!((env.header, env.kind), (header(), body.kind()));
    assert_eq!(env.open(&key(1)).unwrap(), msg);
    assert_eq!(env.open(&key(2)), Err(ProtoError::BadTag));
}

#[test]
fn every_type_round_trips() {
    round_trip(Body::Ping {
        nonce: u64::MAX - 3,
    });
    round_trip(Body::Pong {
        echo_counter: 9,
        echo_timestamp_us: 77,
        echo_nonce: 0x0123_4567_89ab_cdef,
    });
    let ranges = [
        SeqRange {
            start: 65_534,
            len: 4,
        },
        SeqRange { start: 10, len: 1 },
    ];
    for answerers in [0, 1, MAX_ANSWERERS] {
        round_trip(Body::Request {
            ssrc: 0xdead_beef,
            answerers,
            ranges: Ranges::List(&ranges),
        });
    }
    round_trip(Body::Absent {
        ssrc: 0xdead_beef,
        ranges: Ranges::List(&ranges),
    });
    let data = rtp(65_535, 0xdead_beef);
    for (s, d) in [
        ("127.0.0.1:4000", "239.0.0.1:5004"),
        ("[fe80::1]:4000", "[ff35::1]:5004"),
    ] {
        let (src, dst): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
        round_trip(Body::Repair(Repair {
            ssrc: 0xdead_beef,
            sequence: 65_535,
            src,
            dst,
            rtp: &data,
        }));
    }
}

/// The exact bytes of a ping, so that other implementations can check themselves.
#[test]
fn ping_matches_fixture() {
    let mut buf = [0u8; 64];
    let n = Message {
        header: header(),
        body: Body::Ping {
            nonce: 0x1122_3344_5566_7788,
        },
    }
    .emit(&key(1), &mut buf)
    .unwrap();
    let hex: String = buf[..HEADER_LEN + 8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        "47430103000000070000000301020304050607080000000000\
         00002a00000000000f42401122334455667788"
    );
    assert_eq!(n, HEADER_LEN + 8 + TAG_LEN);
}

#[test]
fn range_iterates_across_wrap() {
    let r = SeqRange {
        start: 65_534,
        len: 3,
    };
    assert_eq!(r.iter().collect::<Vec<_>>(), vec![65_534, 65_535, 0]);
}

#[test]
fn rejects_malformed_envelopes() {
    let mut buf = [0u8; 80];
    let pong = Body::Pong {
        echo_counter: 1,
        echo_timestamp_us: 2,
        echo_nonce: 3,
    };
    let n = Message {
        header: header(),
        body: pong,
    }
    .emit(&key(1), &mut buf)
    .unwrap();
    assert_eq!(
        Envelope::parse(&buf[..n - 1]).unwrap().open(&key(1)),
        Err(ProtoError::BadTag)
    );
    assert!(matches!(
        Envelope::parse(&buf[..HEADER_LEN]),
        Err(ProtoError::Truncated)
    ));
    let mut b = buf;
    b[0] = b'X';
    assert!(matches!(
        Envelope::parse(&b[..n]),
        Err(ProtoError::BadMagic)
    ));
    let mut b = buf;
    b[2] = 9;
    assert!(matches!(
        Envelope::parse(&b[..n]),
        Err(ProtoError::BadVersion(9))
    ));
    let mut b = buf;
    b[3] = 99;
    assert!(matches!(
        Envelope::parse(&b[..n]),
        Err(ProtoError::BadType(99))
    ));
}

/// Bodies that are authentic but malformed are still refused.
#[test]
fn rejects_malformed_bodies() {
    let k = key(1);
    let mut buf = [0u8; 1500];
    let bad_range = [SeqRange { start: 1, len: 0 }];
    let req = Message {
        header: header(),
        body: Body::Request {
            ssrc: 1,
            answerers: 0,
            ranges: Ranges::List(&bad_range),
        },
    };
    assert_eq!(req.emit(&k, &mut buf), Err(ProtoError::BadBody));
    let one = [SeqRange { start: 1, len: 1 }];
    let request = |answerers| Message {
        header: header(),
        body: Body::Request {
            ssrc: 1,
            answerers,
            ranges: Ranges::List(&one),
        },
    };
    assert_eq!(
        request(MAX_ANSWERERS + 1).emit(&k, &mut buf),
        Err(ProtoError::BadBody)
    );
    // The count field's reserved bits (9 to 11) must be zero.
    let n = request(1).emit(&k, &mut buf).unwrap();
    buf[HEADER_LEN + 4] |= 0x02;
    let tag = k.tag(&buf[..n - TAG_LEN]);
    buf[n - TAG_LEN..n].copy_from_slice(&tag);
    assert_eq!(
        Envelope::parse(&buf[..n]).unwrap().open(&k),
        Err(ProtoError::BadBody)
    );
    // An absent body is laid out as a request's but names no answerers.
    let n = request(1).emit(&k, &mut buf).unwrap();
    buf[3] = MessageType::Absent as u8;
    let tag = k.tag(&buf[..n - TAG_LEN]);
    buf[n - TAG_LEN..n].copy_from_slice(&tag);
    assert_eq!(
        Envelope::parse(&buf[..n]).unwrap().open(&k),
        Err(ProtoError::BadBody)
    );
    let too_many = vec![SeqRange { start: 1, len: 1 }; MAX_RANGES + 1];
    let req = Message {
        header: header(),
        body: Body::Request {
            ssrc: 1,
            answerers: 0,
            ranges: Ranges::List(&too_many),
        },
    };
    assert_eq!(req.emit(&k, &mut buf), Err(ProtoError::TooLong));

    let data = rtp(5, 1);
    let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let dst: SocketAddr = "239.0.0.1:2".parse().unwrap();
    let repair = |sequence| Message {
        header: header(),
        body: Body::Repair(Repair {
            ssrc: 1,
            sequence,
            src,
            dst,
            rtp: &data,
        }),
    };
    // A repair whose RTP header names another packet.
    let n = repair(6).emit(&k, &mut buf).unwrap();
    assert_eq!(
        Envelope::parse(&buf[..n]).unwrap().open(&k),
        Err(ProtoError::BadBody)
    );
    // A corrupted datagram, re-signed so that only the UDP checksum catches it.
    let n = repair(5).emit(&k, &mut buf).unwrap();
    buf[HEADER_LEN + 16 + 8 + 20] ^= 0xff;
    let tag = k.tag(&buf[..n - TAG_LEN]);
    buf[n - TAG_LEN..n].copy_from_slice(&tag);
    assert_eq!(
        Envelope::parse(&buf[..n]).unwrap().open(&k),
        Err(ProtoError::BadDatagram)
    );
    // Mixed address families cannot be written.
    let v6: SocketAddr = "[::1]:2".parse().unwrap();
    let mixed = Message {
        header: header(),
        body: Body::Repair(Repair {
            ssrc: 1,
            sequence: 5,
            src,
            dst: v6,
            rtp: &data,
        }),
    };
    assert_eq!(mixed.emit(&k, &mut buf), Err(ProtoError::BadBody));
    // Output buffer too small.
    assert_eq!(
        repair(5).emit(&k, &mut buf[..100]),
        Err(ProtoError::TooLong)
    );
}

proptest::proptest! {
    /// Arbitrary bytes never panic the parser, and never authenticate under a key they were not
    /// made with.
    #[test]
    fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        if let Ok(env) = Envelope::parse(&bytes) {
            proptest::prop_assert!(env.open(&key(5)).is_err());
        }
    }
}

#[test]
fn the_rota_spreads_packets_over_members() {
    let ids = [SenderId(3), SenderId(9), SenderId(1_000_007), SenderId(42)];
    let mut first = [0u32; 4];
    for seq in 0..4000u16 {
        let best = (0..4)
            .min_by_key(|&i| (rota_key(77, seq, ids[i]), ids[i]))
            .unwrap();
        first[best] += 1;
    }
    // Each member comes first for about a quarter of the packets.
    assert!(first.iter().all(|&f| (800..1200).contains(&f)), "{first:?}");
    assert_ne!(rota_key(77, 1, ids[0]), rota_key(78, 1, ids[0]));
}
