use super::*;

#[test]
fn keys_round_trip_and_bad_ones_are_refused() {
    let key: [u8; 32] = std::array::from_fn(|i| (i * 9) as u8);
    assert_eq!(parse_key(&format_key(&key)), Some(key));
    assert_eq!(parse_key("00"), None);
    assert_eq!(parse_key(&"zz".repeat(32)), None);
    assert_eq!(parse_key(&"+1".repeat(32)), None);
    // Lower case, two digits a byte, as `{:02x}` writes them.
    let bytes = [0x00, 0x0f, 0xa0, 0xff, 0x5c];
    let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(format_hex(&bytes), expected);
    assert_eq!(format_hex(&[]), "");
}

#[test]
fn optional_fields_default() {
    let spec: ChannelSpec =
        serde_json::from_str(r#"{"name":"news","group":"239.255.0.1:5004"}"#).unwrap();
    assert_eq!(spec.group_size, None);
    assert!(spec.metro_groups.is_empty());
    let role: Role = serde_json::from_str(r#""viewer""#).unwrap();
    assert_eq!(role, Role::Viewer);
}

/// 64-bit ids (sessions, groups) are strings, the rest bare numbers.
#[test]
fn ids_serialize_as_strings_or_numbers() {
    let a = Assignment {
        group: GroupId((1 << 32) | 3),
        epoch: GroupEpoch(2),
        members: vec![
            MemberInfo {
                session: SessionId(9),
                metro: "paris".into(),
                peer_addr: "127.0.0.1:1".into(),
                key: String::new(),
            },
            MemberInfo {
                session: SessionId(10),
                metro: "lyon".into(),
                peer_addr: "127.0.0.1:2".into(),
                key: "ab".into(),
            },
        ],
        media_keys: Vec::new(),
        unicast: None,
        backups: Vec::new(),
    };
    let json = r#"{"group":"4294967299","epoch":2,"members":[{"session":"9","metro":"paris","peer_addr":"127.0.0.1:1"},{"session":"10","metro":"lyon","peer_addr":"127.0.0.1:2","key":"ab"}]}"#;
    assert_eq!(serde_json::to_string(&a).unwrap(), json);
    assert_eq!(serde_json::from_str::<Assignment>(json).unwrap(), a);
}

#[test]
fn heartbeat_round_trips() {
    let hb = Heartbeat {
        stats: ClientStats {
            received: 10,
            ..ClientStats::default()
        },
        ssrc: Ssrc(7),
        losses: vec![1, 65535],
        unicast: Some("192.0.2.1:7000".into()),
    };
    let json = serde_json::to_string(&hb).unwrap();
    assert!(
        json.contains(r#""ssrc":7,"#),
        "ids are bare numbers: {json}"
    );
    let back: Heartbeat = serde_json::from_str(&json).unwrap();
    assert_eq!(back, hb);
}
