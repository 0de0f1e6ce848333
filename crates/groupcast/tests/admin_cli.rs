//! `groupcast admin` against a running manager: channels and viewers without hand-written
//! curl, tables for people and JSON for scripts, and `groupcast manager` printing the token.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const TOKEN: &str = "cli-test-admin-token-0123456789abcdef";

fn admin(base: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(["admin", "--manager", base])
        .args(args)
        .env("GROUPCAST_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn admin_creates_channels_and_viewers() {
    let db = std::env::temp_dir().join(format!("groupcast-admin-cli-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let m = groupcast_manager::start_in_thread(groupcast_manager::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: format!("sqlite://{}", db.display()),
        admin_token: Some(TOKEN.into()),
        ..groupcast_manager::Config::default()
    })
    .unwrap();
    let base = format!("http://{}", m.addr());
    let (ok, out, err) = admin(
        &base,
        &[
            "channel",
            "add",
            "news",
            "--group",
            "239.255.0.1:5004",
            "--metro-group",
            "lyon=239.255.1.1:5004",
            "--group-size",
            "4",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("news") && out.contains("lyon=239.255.1.1:5004"),
        "{out}"
    );
    let (ok, out, err) = admin(&base, &["user", "add", "alice", "--channel", "news"]);
    assert!(ok, "{err}");
    let token = out.rsplit(' ').next().unwrap().trim();
    assert_eq!(token.len(), 64, "{out}");
    let (_, out, _) = admin(&base, &["--json", "user", "list"]);
    let users: Vec<groupcast_api::User> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        users.iter().find(|u| u.name == "alice").unwrap().channels,
        ["news"]
    );
    let (ok, _, err) = admin(&base, &["grant", "alice", "nope"]);
    assert!(!ok && err.contains("no channel"), "a clear error: {err}");
    let (ok, out, _) = admin(&base, &["channel", "list"]);
    assert!(
        ok && out.starts_with("ID") && out.contains("239.255.0.1:5004"),
        "{out}"
    );
    let (ok, _, _) = admin(&base, &["channel", "rm", "news"]);
    assert!(ok);
    let (_, out, _) = admin(&base, &["--json", "channel", "list"]);
    assert_eq!(out.trim(), "[]");
    m.stop();
}

#[test]
fn manager_prints_a_random_admin_token_once() {
    let db = std::env::temp_dir().join(format!("groupcast-manager-cli-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(["manager", "--listen", "127.0.0.1:0", "--db"])
        .arg(format!("sqlite://{}", db.display()))
        .env_remove("GROUPCAST_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let token = line.strip_prefix("admin token: ").unwrap().trim();
    assert_eq!(token.len(), 64, "{line}");
}
