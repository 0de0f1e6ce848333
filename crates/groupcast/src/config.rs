//! `groupcast --config FILE SUBCOMMAND ...`: options from a TOML file. The table named after the
//! subcommand gives defaults for its long options; an option given on the command line replaces
//! the file's.
//!
//! ```toml
//! [client]
//! manager = "http://manager.example:8080"
//! channel = "news"
//! metro = "north"
//! output = "udp://127.0.0.1:1234"
//! no-repair = false      # booleans are flags: true adds --no-repair
//! ```

use anyhow::{Context, bail};
use std::ffi::OsString;

/// The command line with the config file's options put in front of the subcommand's own, or
/// unchanged when there is no `--config`.
pub(crate) fn expand(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(at) = args.iter().position(|a| a == "--config") else {
        return Ok(args);
    };
    let Some(path) = args.get(at + 1) else {
        bail!("--config needs a file");
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}", path.to_string_lossy()))?;
    let mut rest: Vec<OsString> = args[..at].to_vec();
    rest.extend_from_slice(&args[at + 2..]);
    let Some(sub) = rest.get(1).and_then(|s| s.to_str()).map(str::to_owned) else {
        bail!("--config must be followed by a subcommand");
    };
    let options =
        options_for(&text, &sub).with_context(|| format!("--config {}", path.to_string_lossy()))?;
    let given = |key: &str| {
        rest[2..].iter().any(|a| {
            a.to_str()
                .and_then(|a| a.strip_prefix("--"))
                .is_some_and(|a| a == key || a.starts_with(&format!("{key}=")))
        })
    };
    let mut out = rest[..2].to_vec();
    for (key, words) in options {
        if !given(&key) {
            out.extend(words.into_iter().map(OsString::from));
        }
    }
    out.extend_from_slice(&rest[2..]);
    Ok(out)
}

/// The options that table `[sub]` of `text` stands for: each key with its `--key value` words.
fn options_for(text: &str, sub: &str) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let doc: toml::Table = text.parse().context("not valid TOML")?;
    let Some(table) = doc.get(sub) else {
        return Ok(Vec::new());
    };
    let Some(table) = table.as_table() else {
        bail!("[{sub}] must be a table");
    };
    let mut out = Vec::new();
    for (key, value) in table {
        let mut words = Vec::new();
        push(&mut words, key, value)?;
        out.push((key.clone(), words));
    }
    Ok(out)
}

fn push(out: &mut Vec<String>, key: &str, value: &toml::Value) -> anyhow::Result<()> {
    let flag = format!("--{key}");
    match value {
        toml::Value::Boolean(true) => out.push(flag),
        toml::Value::Boolean(false) => {}
        toml::Value::String(s) => out.extend([flag, s.clone()]),
        toml::Value::Integer(i) => out.extend([flag, i.to_string()]),
        toml::Value::Float(f) => out.extend([flag, f.to_string()]),
        toml::Value::Array(items) => {
            for item in items {
                push(out, key, item)?;
            }
        }
        other => bail!("{key}: unsupported value {other}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_options_are_defaults_and_the_command_line_wins() {
        let text = "[client]\nmetro = \"north\"\nbuffer-ms = 800\nno-repair = true\nquiet = false\n\
                    [source]\nttl = 4\n";
        let words: Vec<String> = options_for(text, "client")
            .unwrap()
            .into_iter()
            .flat_map(|o| o.1)
            .collect();
        assert_eq!(
            words,
            ["--buffer-ms", "800", "--metro", "north", "--no-repair"]
        );
        assert!(options_for(text, "edge").unwrap().is_empty());
        let dir = std::env::temp_dir().join(format!("gc-config-{}.toml", std::process::id()));
        std::fs::write(&dir, text).unwrap();
        let out = expand(args(&[
            "groupcast",
            "--config",
            dir.to_str().unwrap(),
            "source",
            "--ttl",
            "1",
        ]))
        .unwrap();
        assert_eq!(
            out,
            args(&["groupcast", "source", "--ttl", "1"]),
            "the command line wins"
        );
        let out = expand(args(&[
            "groupcast",
            "--config",
            dir.to_str().unwrap(),
            "source",
        ]))
        .unwrap();
        assert_eq!(out, args(&["groupcast", "source", "--ttl", "4"]));
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert!(options_for("[client", "client").is_err());
        assert!(options_for("client = 3", "client").is_err());
        assert!(options_for("[client]\nx = { a = 1 }", "client").is_err());
        assert!(expand(args(&["groupcast", "--config"])).is_err());
        assert!(
            expand(args(&[
                "groupcast",
                "--config",
                "/nonexistent.toml",
                "client"
            ]))
            .is_err()
        );
    }
}
