use super::*;

const IV: Iv = Iv {
    ssrc: 0x1234_5678,
    timestamp: 90_000,
    sequence: 7,
};

/// A TS packet of `pid`: a unit start with a PES start code when `pes`, else a PSI-like
/// section; `adaptation` bytes of adaptation field first.
fn packet(pid: u16, unit_start: bool, pes: bool, adaptation: u8) -> Vec<u8> {
    let mut p = vec![0u8; TS_PACKET_LEN];
    p[0] = TS_SYNC;
    p[1] = (pid >> 8) as u8 | if unit_start { 0x40 } else { 0 };
    p[2] = pid as u8;
    let mut at = 4;
    if adaptation > 0 {
        p[3] = 0x30;
        p[4] = adaptation - 1;
        at += usize::from(adaptation);
    } else {
        p[3] = 0x10;
    }
    for (i, b) in p[at..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if pes {
        p[at..at + 3].copy_from_slice(&[0, 0, 1]);
    } else {
        p[at..at + 3].copy_from_slice(&[0, 0x02, 0xb0]); // pointer, PMT table id
    }
    p
}

/// A datagram: PAT, PMT, a PES start on 0x100, a continuation on 0x100 with an adaptation
/// field, a packet of an unseen PID, a null packet and an audio PES start.
fn datagram() -> Vec<u8> {
    [
        packet(0, true, false, 0),
        packet(0x1000, true, false, 0),
        packet(0x100, true, true, 8),
        packet(0x100, false, false, 0),
        packet(0x200, false, false, 0),
        packet(0x1fff, false, false, 0),
        packet(0x101, true, true, 0),
    ]
    .concat()
}

fn key(b: u8) -> MediaKey {
    MediaKey::new(&[b; MEDIA_KEY_LEN])
}

fn packets(ts: &[u8]) -> Vec<&[u8]> {
    ts.chunks(TS_PACKET_LEN).collect()
}

#[test]
fn pes_payloads_are_encrypted_and_tables_headers_and_adaptation_stay_clear() {
    let clear = datagram();
    let mut ts = clear.clone();
    let n = Scrambler::default().scramble(&key(1), true, IV, &mut ts);
    assert_eq!(n, 3, "the two PES starts and the continuation");
    let (c, s) = (packets(&clear), packets(&ts));
    for i in [0, 1, 4, 5] {
        assert_eq!(c[i], s[i], "packet {i} is not PES and stays as it was");
    }
    for i in [2, 3, 6] {
        assert_eq!(s[i][3] & 0xc0, 0xc0, "packet {i} marked odd");
        assert_eq!(
            c[i][..3],
            s[i][..3],
            "packet {i}: sync and PID in the clear"
        );
        let start = payload_start(c[i]).unwrap();
        assert_eq!(
            c[i][4..start],
            s[i][4..start],
            "adaptation field in the clear"
        );
        assert_ne!(
            c[i][start..],
            s[i][start..],
            "packet {i}: payload encrypted"
        );
    }
    assert!(any_scrambled(&ts) && !any_scrambled(&clear));
}

#[test]
fn the_key_of_the_packets_parity_restores_them_exactly_and_another_key_does_not() {
    let clear = datagram();
    let mut ts = clear.clone();
    Scrambler::default().scramble(&key(1), false, IV, &mut ts);
    // Even packets: the odd key is of no use, and a missing even key leaves them scrambled.
    let only_odd = MediaKeys {
        even: None,
        odd: Some(key(1)),
    };
    let mut copy = ts.clone();
    assert_eq!(
        only_odd.descramble(IV, &mut copy),
        Descrambled {
            decrypted: 0,
            no_key: 3
        }
    );
    assert_eq!(copy, ts);
    let wrong = MediaKeys {
        even: Some(key(2)),
        odd: None,
    };
    let mut copy = ts.clone();
    wrong.descramble(IV, &mut copy);
    assert_ne!(copy, clear, "another key gives other bytes");
    let right = MediaKeys {
        even: Some(key(1)),
        odd: None,
    };
    let mut copy = ts.clone();
    assert_eq!(right.descramble(IV, &mut copy).decrypted, 3);
    assert_eq!(copy, clear, "byte for byte, scrambling bits cleared");
    // Another datagram's counter blocks: the same key stream never comes twice.
    let mut other = clear.clone();
    let next = Iv { sequence: 8, ..IV };
    Scrambler::default().scramble(&key(1), false, next, &mut other);
    assert_ne!(other[2 * TS_PACKET_LEN..], ts[2 * TS_PACKET_LEN..]);
}

#[test]
fn a_pid_is_scrambled_only_from_its_first_pes_start() {
    let mut s = Scrambler::default();
    let mut first = packet(0x300, false, false, 0);
    assert_eq!(s.scramble(&key(1), false, IV, &mut first), 0);
    let mut start = packet(0x300, true, true, 0);
    assert_eq!(s.scramble(&key(1), false, IV, &mut start), 1);
    let mut later = packet(0x300, false, false, 0);
    assert_eq!(s.scramble(&key(1), false, IV, &mut later), 1);
}

#[test]
fn keys_differ_by_secret_channel_and_index() {
    let k = media_key(b"secret", "news", 10);
    assert_eq!(k, media_key(b"secret", "news", 10));
    assert_ne!(k, media_key(b"secret", "news", 11));
    assert_ne!(k, media_key(b"secret", "sport", 10));
    assert_ne!(k, media_key(b"other", "news", 10));
}

#[test]
fn the_nearest_period_of_each_parity_is_chosen() {
    let held: Vec<(u64, MediaKey)> = (9..=11).map(|i| (i, key(i as u8))).collect();
    let pick = |now_ms| {
        let k = select(&held, 1000, now_ms);
        let mut ts = datagram();
        Scrambler::default().scramble(&key(10), false, IV, &mut ts);
        let clear = datagram();
        let even_ok = {
            let mut c = ts.clone();
            k.descramble(IV, &mut c);
            c == clear
        };
        let mut odd = datagram();
        Scrambler::default().scramble(&key(11), true, IV, &mut odd);
        let odd_is_11 = {
            k.descramble(IV, &mut odd);
            odd == clear
        };
        (even_ok, odd_is_11)
    };
    // Early in period 10, its odd neighbour is 9; late in it, 11. Even is 10 throughout.
    assert_eq!(pick(10_100), (true, false));
    assert_eq!(pick(10_900), (true, true));
    // A receiver clock 400 ms behind the source still picks 11 when the source moves to it.
    assert_eq!(pick(10_600), (true, true));
    assert!(!select(&[], 1000, 5).any());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1400)) {
        let mut a = bytes.clone();
        Scrambler::default().scramble(&key(3), false, IV, &mut a);
        let keys = MediaKeys { even: Some(key(3)), odd: None };
        let mut b = bytes.clone();
        keys.descramble(IV, &mut b);
        let _ = any_scrambled(&bytes);
    }
}
