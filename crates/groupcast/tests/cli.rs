//! The `groupcast` binary as a user runs it.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn groupcast(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn residual(out: &str) -> f64 {
    out.split("residual-loss ")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn sim_repairs_everything_and_says_so() {
    let (ok, out, _) = groupcast(&["sim", "--seconds", "3", "--seed", "4", "--per-client"]);
    assert!(ok);
    assert_eq!(residual(&out), 0.0, "{out}");
    assert!(out.contains("output faults 0"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        5
    );
}

#[test]
fn sim_is_deterministic_per_seed() {
    let table = |seed: &str| {
        let (_, out, _) = groupcast(&["sim", "--seconds", "2", "--seed", seed, "--per-client"]);
        out.lines()
            .filter(|l| !l.starts_with("simulated"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table("8"), table("8"));
    assert_ne!(table("8"), table("9"));
}

#[test]
fn sim_without_repair_shows_the_loss() {
    let (ok, out, _) = groupcast(&["sim", "--seconds", "3", "--no-repair"]);
    assert!(ok);
    assert!(
        residual(&out) > 4.0,
        "about the 5 % the network lost: {out}"
    );
}

#[test]
fn sim_writes_json_with_the_summary() {
    let dir = std::env::temp_dir().join(format!("groupcast-cli-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sim.json");
    let args = [
        "sim",
        "--seconds",
        "2",
        "--clients",
        "12",
        "--metros",
        "3",
        "--json",
        path.to_str().unwrap(),
    ];
    let (ok, _, _) = groupcast(&args);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["clients"], 12);
    assert_eq!(v["per_metro"].as_array().unwrap().len(), 3);
    assert!(v["network_loss"].as_f64().unwrap() > 0.03);
}

#[test]
fn bad_flags_get_a_clear_error() {
    let (ok, _, err) = groupcast(&["sim", "--loss", "150"]);
    assert!(!ok);
    assert!(
        err.contains("--loss must be at least 0 and below 100"),
        "{err}"
    );
    let (ok, _, err) = groupcast(&["sim", "--strategy", "nope"]);
    assert!(!ok && err.contains("invalid value 'nope'"), "{err}");
    let (ok, _, err) = groupcast(&["sim", "--outage", "9:1:2", "--metros", "2"]);
    assert!(!ok && err.contains("metro must be below --metros"), "{err}");
}
