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

#[test]
fn sim_repairs_everything_and_says_so() {
    let (ok, out, _) = groupcast(&["sim", "--seconds", "3", "--seed", "4"]);
    assert!(ok);
    assert!(
        out.contains("unrecovered 0; player output faults 0"),
        "{out}"
    );
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
        let (_, out, _) = groupcast(&["sim", "--seconds", "2", "--seed", seed]);
        out.lines()
            .filter(|l| !l.starts_with("network"))
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
    assert!(!out.contains("unrecovered 0;"), "{out}");
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
}
