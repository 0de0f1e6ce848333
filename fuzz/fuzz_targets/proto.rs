//! The repair protocol: arbitrary datagrams never panic the envelope or body parsers, and
//! arbitrary bodies signed with the right key (so past authentication) never panic either;
//! whatever opens is re-emitted and opens to the same message.
#![no_main]

use groupcast_wire::proto::{Envelope, GroupKey, HEADER_LEN, KEY_LEN, TAG_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = GroupKey::new(&[9; KEY_LEN]);
    if let Ok(env) = Envelope::parse(data) {
        assert!(env.open(&key).is_err() || data.len() >= HEADER_LEN + TAG_LEN);
    }
    // Re-sign the input as a well-formed header + arbitrary body, so the body parsers run.
    if data.len() < 2 {
        return;
    }
    let mut msg = vec![b'G', b'C', 1, 1 + data[0] % 4];
    msg.extend_from_slice(&[0; HEADER_LEN - 4]);
    msg.extend_from_slice(&data[1..]);
    let tag = groupcast_wire::proto::__tag_for_fuzzing(&key, &msg);
    msg.extend_from_slice(&tag);
    let env = Envelope::parse(&msg).expect("header is well-formed");
    if let Ok(m) = env.open(&key) {
        let mut out = vec![0u8; msg.len() + 64];
        let n = m.emit(&key, &mut out).expect("re-emit fits");
        assert_eq!(Envelope::parse(&out[..n]).and_then(|e| e.open(&key)), Ok(m));
    }
});
