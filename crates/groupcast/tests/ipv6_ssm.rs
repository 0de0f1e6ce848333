//! IPv6 end to end: a channel with an IPv6 group and a source address, viewers that join
//! (source, group) with MLDv2 and repair each other over IPv6 (manager and peers on `::1`), and
//! a stranger sending to the same group from another address of the same host, whose datagrams
//! no viewer may see.
//!
//! Everything runs inside a network namespace the test creates and deletes (root needed; CI
//! runs as root): the manager, the source, the stranger and four clients. Control in the same
//! run: a second channel on the same group without a source address (any-source), whose client
//! does see the stranger; so the others' silence about it is the SSM join's doing.

#![allow(clippy::unwrap_used)]

mod common;
use common::netns::Netns;
use common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const GROUP: &str = "[ff3e::4242]:5004";
const MANAGER: &str = "http://[::1]:8080";
const ADMIN: &str = "ssm-test-admin-token-0123456789abcdef";
/// The stranger: datagrams of its own SSRC to the group from fd00::3, 100 a second.
const STRANGER: &str = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("fd00::3", 0))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("v0"))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
for i in range(int(sys.argv[1])):
    rtp = struct.pack("!BBHII", 0x80, 33, i, i * 900, 0x5EC0DE)
    s.sendto(rtp + b"\x47\x1f\xff\x10" + b"\xff" * 184, ("ff3e::4242", 5004))
    time.sleep(0.01)
"#;

/// `groupcast admin ARGS` inside the namespace; its stdout.
fn admin(ns: &Netns, args: &[&str]) -> Result<String, String> {
    let out = ns
        .command(env!("CARGO_BIN_EXE_groupcast"))
        .args(["admin", "--manager", MANAGER, "--token", ADMIN])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Client `name` of `channel` inside the namespace, joining on `v1`, for 9 s, dropping `drop`
/// of its multicast.
fn client(ns: &Netns, dir: &Path, (name, channel): (&str, &str), token: &str, drop: &str) -> Proc {
    let out = format!("file:{}", dir.join(format!("{name}.ts")).display());
    let stats = dir.join(format!("{name}.json"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let seed = name.bytes().map(u64::from).sum::<u64>().to_string();
    let child = ns
        .command(env!("CARGO_BIN_EXE_groupcast"))
        .env("GROUPCAST_TOKEN", token)
        .args(["client", "--manager", MANAGER, "--channel", channel])
        .args([
            "--metro",
            "m",
            "--iface",
            "v1",
            "--quiet",
            "--duration",
            "9",
        ])
        .args(["--drop-rate", drop, "--drop-seed", &seed])
        .args(["--output", &out, "--stats-json", stats.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

#[test]
fn ssm_viewers_repair_each_other_over_ipv6_and_never_take_a_stranger_on_the_same_group() {
    let ns = Netns::new(&format!("gcssm-{}", std::process::id()));
    // The source's address, and the stranger's on the same link: deprecated (preferred
    // lifetime 0), so the kernel never picks it for the source, only for a socket bound to it.
    ns.ip(&["addr", "add", "fd00::1/64", "dev", "v0", "nodad"]);
    ns.ip(&[
        "addr",
        "add",
        "fd00::3/64",
        "dev",
        "v0",
        "nodad",
        "preferred_lft",
        "0",
    ]);
    ns.ip(&["addr", "add", "fd00::2/64", "dev", "v1", "nodad"]);
    let dir = tempdir("ipv6-ssm");
    let db = format!("sqlite://{}?mode=rwc", dir.join("m.db").display());
    // Killed when the test ends (the process is the manager itself: `ip netns exec` execs it).
    let _manager = Proc(
        ns.command(env!("CARGO_BIN_EXE_groupcast"))
            .env("GROUPCAST_ADMIN_TOKEN", ADMIN)
            .args(["manager", "--listen", "[::1]:8080", "--db", &db])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("manager.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut up = Err(String::new());
    for _ in 0..100 {
        up = admin(&ns, &["channel", "list"]);
        if up.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    up.expect("the manager in the namespace answers");
    admin(
        &ns,
        &[
            "channel", "add", "ssm", "--group", GROUP, "--source", "fd00::1",
        ],
    )
    .unwrap();
    admin(&ns, &["channel", "add", "asm", "--group", GROUP]).unwrap();
    let out = admin(
        &ns,
        &["user", "add", "v", "--channel", "ssm", "--channel", "asm"],
    )
    .unwrap();
    let token = out.rsplit(' ').next().unwrap().trim().to_owned();

    let viewers = ["v1", "v2", "v3"];
    let ssm: Vec<Proc> = viewers
        .iter()
        .map(|v| client(&ns, &dir, (v, "ssm"), &token, "0.03"))
        .collect();
    let asm = client(&ns, &dir, ("control", "asm"), &token, "0");
    std::thread::sleep(Duration::from_millis(800));
    let stranger = ns
        .command("python3")
        .args(["-c", STRANGER, "600"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sample = sample();
    let source = ns
        .command(env!("CARGO_BIN_EXE_groupcast"))
        .args(["source", "--input", sample.to_str().unwrap()])
        .args(["--group", GROUP, "--iface", "v0", "--duration", "5"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(Proc(source).wait(Duration::from_secs(15)).success());
    assert!(Proc(stranger).wait(Duration::from_secs(15)).success());
    for p in ssm {
        p.wait(Duration::from_secs(20));
    }
    asm.wait(Duration::from_secs(20));

    let a = stats(&dir.join("control.json"));
    // The control: on the same group, any-source, the stranger's datagrams arrive.
    assert!(
        a["ssrc_mismatch"].as_u64().unwrap() + a["source_restarts"].as_u64().unwrap() > 100,
        "the any-source client never saw the stranger: {a}"
    );
    // The SSM viewers: the stream (5 s of the 1.8 Mbit/s sample, about 850 datagrams) less
    // their 3 % drop, repaired from each other over IPv6 (a datagram all three dropped, about
    // one run in fifty, cannot be), nothing of the stranger, and a played output.
    let mut repaired = 0;
    for v in viewers {
        let s = stats(&dir.join(format!("{v}.json")));
        assert!(s["received"].as_u64().unwrap() > 700, "{v}: {s}");
        assert_eq!(s["ssrc_mismatch"], 0, "{v}: the stranger got through: {s}");
        assert_eq!(s["source_restarts"], 0, "{v}: {s}");
        assert_eq!(s["bad_rtp"], 0, "{v}: {s}");
        let lost = s["lost"].as_u64().unwrap();
        let unrecovered = s["unrecovered"].as_u64().unwrap();
        assert!(
            lost > 5 && unrecovered <= 1,
            "{v}: not repaired over IPv6: {s}"
        );
        repaired += s["repaired"].as_u64().unwrap();
        let played = std::fs::metadata(dir.join(format!("{v}.ts")))
            .unwrap()
            .len();
        assert!(played > 500_000, "{v}: {played} bytes played");
    }
    assert!(repaired > 30, "{repaired} repaired in all");
}
