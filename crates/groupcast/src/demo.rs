//! `groupcast demo`: the whole system on loopback in one command. An embedded manager (SQLite
//! in a temporary directory), a source sending the built-in sample, and N clients spread over
//! several metros, each dropping a share of its multicast on purpose; a live table per client
//! and a summary at the end; one client's output is kept as a file that plays in VLC.
//!
//! All traffic stays on 127.0.0.1: the source sends with `--iface 127.0.0.1 --ttl 1`, clients
//! join on 127.0.0.1, and every process stops by itself after `--seconds`.

use crate::api_client::ApiClient;
use crate::driver::Stop;
use anyhow::{Context, bail};
use groupcast_api::{Channel, ChannelSpec, CreatedUser, NewUser, Role};
use serde::Deserialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The committed sample (12 s of H.264 + AAC), built into the binary so the demo runs anywhere.
const SAMPLE: &[u8] = include_bytes!("../../../assets/sample.ts");
/// Metro names clients are spread over.
const METROS: [&str; 4] = ["north", "south", "east", "west"];

/// Options of `groupcast demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of viewers.
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Share of multicast each viewer drops on purpose, in percent.
    #[arg(long, default_value_t = 5.0)]
    loss: f64,
    /// How long the viewers watch.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Metro networks the viewers are spread over (1..=4).
    #[arg(long, default_value_t = 3)]
    metros: usize,
    /// Where the first viewer's output goes (an MPEG-TS file VLC plays).
    #[arg(long, default_value = "groupcast-demo.ts")]
    output: PathBuf,
    /// Switch peer repair off (to see what multicast alone delivers).
    #[arg(long)]
    no_repair: bool,
}

/// One client's figures, as its `--stats-json` has them.
#[derive(Clone, Debug, Default, Deserialize)]
struct Figures {
    group: u64,
    peers: u32,
    received: u64,
    lost: u64,
    repaired: u64,
    unrecovered: u64,
    duplicates: u64,
    test_dropped: u64,
    repair_p50_us: u64,
    repair_p99_us: u64,
    ts_packets_out: u64,
    peer_bytes_sent: u64,
}

/// A child process, killed if still running when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `groupcast demo`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    check(args)?;
    let stop = Stop::new(None)?;
    let dir = std::env::temp_dir().join(format!("groupcast-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = demo(args, &dir, &stop);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn check(args: &Args) -> anyhow::Result<()> {
    if !(1..=64).contains(&args.clients) {
        bail!("--clients must be 1..=64");
    }
    if !(0.0..50.0).contains(&args.loss) {
        bail!("--loss must be at least 0 and below 50 (percent)");
    }
    if !(1..=4).contains(&args.metros) {
        bail!("--metros must be 1..=4");
    }
    if !(3..=3600).contains(&args.seconds) {
        bail!("--seconds must be 3..=3600");
    }
    Ok(())
}

fn demo(args: &Args, dir: &Path, stop: &Stop) -> anyhow::Result<()> {
    let sample = dir.join("sample.ts");
    std::fs::write(&sample, SAMPLE)?;
    let admin_token = format!("{:016x}{:016x}", getrandom::u64()?, getrandom::u64()?);
    let manager = groupcast_manager::start_in_thread(groupcast_manager::Config {
        listen: "127.0.0.1:0".parse()?,
        db_url: format!("sqlite://{}?mode=rwc", dir.join("manager.db").display()),
        admin_token: Some(admin_token.clone()),
        ..groupcast_manager::Config::default()
    })?;
    let url = format!("http://{}", manager.addr());
    let (channel, viewer) = provision(&url, &admin_token)?;
    println!(
        "manager {url}  channel {} on {}  {} viewers in {} metros, each dropping {} % of its multicast{}",
        channel.name,
        channel.group,
        args.clients,
        args.metros,
        args.loss,
        if args.no_repair { ", repair OFF" } else { "" }
    );
    let exe = std::env::current_exe()?;
    let mut clients = Vec::new();
    for i in 0..args.clients {
        clients.push(spawn_client(&exe, args, dir, &url, &viewer, i)?);
    }
    // Let the viewers open their sessions and join before the first packet is sent.
    std::thread::sleep(Duration::from_millis(800));
    let source = spawn_source(&exe, args, dir, &sample, &channel.group)?;
    let figures = watch(args, dir, &mut clients, stop);
    drop(source);
    let figures = figures?;
    summary(args, &figures, &dir.join("source.json"));
    manager.stop();
    Ok(())
}

/// Creates the demo channel and a viewer entitled to it; returns the channel and its token.
fn provision(url: &str, admin_token: &str) -> anyhow::Result<(Channel, String)> {
    let admin = ApiClient::new(url, admin_token, crate::api_client::tls_config(None)?);
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let channel: Channel = admin.post(
        "/channels",
        &ChannelSpec {
            name: "demo".into(),
            group: format!("239.255.42.1:{port}"),
            source: None,
            metro_groups: Default::default(),
            metro_sources: Default::default(),
            chunk_packets: None,
            buffer_ms: None,
            group_size: None,
            uplink_kbps: None,
            relay: None,
            metro_relays: Default::default(),
            group6: None,
            source6: None,
        },
    )?;
    let viewer: CreatedUser = admin.post(
        "/users",
        &NewUser {
            name: "viewer".into(),
            role: Role::Viewer,
            channels: vec![channel.name.clone()],
        },
    )?;
    Ok((channel, viewer.token))
}

fn spawn_client(
    exe: &Path,
    args: &Args,
    dir: &Path,
    url: &str,
    token: &str,
    i: usize,
) -> anyhow::Result<Kid> {
    let output = if i == 0 {
        args.output.clone()
    } else {
        dir.join(format!("client-{i}.ts"))
    };
    let mut cmd = Command::new(exe);
    cmd.arg("client")
        .args(["--manager", url, "--channel", "demo"])
        .args(["--metro", METROS[i % args.metros]])
        .args(["--iface", "127.0.0.1", "--quiet"])
        .arg("--output")
        .arg(format!("file:{}", output.display()))
        .args(["--duration", &args.seconds.to_string()])
        .arg("--stats-json")
        .arg(dir.join(format!("client-{i}.json")))
        .args(["--drop-rate", &(args.loss / 100.0).to_string()])
        .args(["--drop-seed", &(i + 1).to_string()])
        .env("GROUPCAST_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(dir, &format!("client-{i}.log"))?);
    if args.no_repair {
        cmd.arg("--no-repair");
    }
    Ok(Kid(cmd.spawn().context("start a client")?))
}

fn spawn_source(
    exe: &Path,
    args: &Args,
    dir: &Path,
    sample: &Path,
    group: &str,
) -> anyhow::Result<Kid> {
    let child = Command::new(exe)
        .arg("source")
        .arg("--input")
        .arg(sample)
        .args([
            "--loop",
            "--group",
            group,
            "--iface",
            "127.0.0.1",
            "--ttl",
            "1",
        ])
        .args(["--duration", &(args.seconds + 2).to_string()])
        .arg("--stats-json")
        .arg(dir.join("source.json"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(dir, "source.log")?)
        .spawn()
        .context("start the source")?;
    Ok(Kid(child))
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    Ok(std::fs::File::create(dir.join(name))?)
}

/// Shows the live table until every client has exited (or a signal); returns final figures.
fn watch(
    args: &Args,
    dir: &Path,
    clients: &mut [Kid],
    stop: &Stop,
) -> anyhow::Result<Vec<Figures>> {
    let tty = std::io::stdout().is_terminal();
    let limit = Instant::now() + Duration::from_secs(args.seconds + 15);
    let mut drawn = 0;
    let mut last_print = Instant::now();
    loop {
        let done = clients
            .iter_mut()
            .all(|k| matches!(k.0.try_wait(), Ok(Some(_))));
        let figures = read_figures(dir, args.clients);
        if tty {
            drawn = draw(args, &figures, drawn);
        } else if last_print.elapsed() >= Duration::from_secs(5) || done {
            last_print = Instant::now();
            draw(args, &figures, 0);
        }
        if done {
            return Ok(figures);
        }
        if stop.now() || Instant::now() > limit {
            for k in clients.iter_mut() {
                // SIGTERM would be kinder, but `kill` is what std offers; the stats file is
                // rewritten every 500 ms, so at most that much is missing from the summary.
                let _ = k.0.kill();
            }
            return Ok(read_figures(dir, args.clients));
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

fn read_figures(dir: &Path, n: usize) -> Vec<Figures> {
    (0..n)
        .map(|i| {
            std::fs::read(dir.join(format!("client-{i}.json")))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        })
        .collect()
}

/// Prints the table, first moving up over the `drawn` lines of the previous one.
fn draw(args: &Args, figures: &[Figures], drawn: usize) -> usize {
    let mut out = std::io::stdout().lock();
    if drawn > 0 {
        let _ = write!(out, "\x1b[{drawn}A");
    }
    let mut lines = vec![format!(
        "{:>6} {:>6} {:>6} {:>5} {:>9} {:>8} {:>8} {:>8} {:>11} {:>5} {:>8} {:>8}",
        "client",
        "metro",
        "group",
        "peers",
        "received",
        "dropped",
        "lost",
        "repaired",
        "unrecovered",
        "dup",
        "p50 ms",
        "p99 ms"
    )];
    for (i, f) in figures.iter().enumerate() {
        lines.push(format!(
            "{:>6} {:>6} {:>6} {:>5} {:>9} {:>8} {:>8} {:>8} {:>11} {:>5} {:>8.1} {:>8.1}",
            i,
            METROS[i % args.metros],
            f.group % 1_000_000,
            f.peers,
            f.received,
            f.test_dropped,
            f.lost,
            f.repaired,
            f.unrecovered,
            f.duplicates,
            f.repair_p50_us as f64 / 1000.0,
            f.repair_p99_us as f64 / 1000.0
        ));
    }
    for l in &lines {
        let _ = writeln!(out, "\x1b[2K{l}");
    }
    let _ = out.flush();
    lines.len()
}

/// The closing lines: loss in, what repair made of it, what the source sent.
fn summary(args: &Args, figures: &[Figures], source_json: &Path) {
    let sum = |f: fn(&Figures) -> u64| figures.iter().map(f).sum::<u64>();
    let (dropped, received) = (sum(|f| f.test_dropped), sum(|f| f.received));
    let (lost, repaired, unrecovered) =
        (sum(|f| f.lost), sum(|f| f.repaired), sum(|f| f.unrecovered));
    let in_pct = 100.0 * dropped as f64 / (dropped + received).max(1) as f64;
    let out_pct = 100.0 * unrecovered as f64 / (received + lost).max(1) as f64;
    let p99 = figures.iter().map(|f| f.repair_p99_us).max().unwrap_or(0);
    println!();
    println!(
        "loss in: {in_pct:.2} % ({dropped} of {} multicast packets dropped on purpose)",
        dropped + received
    );
    println!(
        "repaired by peers: {repaired} of {lost} lost; unrecovered out: {unrecovered} ({out_pct:.3} %); duplicates {}; worst p99 repair latency {:.1} ms",
        sum(|f| f.duplicates),
        p99 as f64 / 1000.0
    );
    let upload = sum(|f| f.peer_bytes_sent) as f64 * 8.0 / args.seconds as f64 / 1000.0;
    println!(
        "peer upload: {:.1} kbit/s per viewer on average",
        upload / figures.len().max(1) as f64
    );
    if let Some((packets, bytes)) = source_sent(source_json) {
        println!(
            "source sent {packets} packets ({:.1} MB) once, whatever the audience",
            bytes as f64 / 1e6
        );
    }
    println!(
        "first viewer's output: {} ({} TS packets) -- play it: vlc {}",
        args.output.display(),
        figures.first().map_or(0, |f| f.ts_packets_out),
        args.output.display()
    );
}

fn source_sent(path: &Path) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some((v.get("packets")?.as_u64()?, v.get("bytes")?.as_u64()?))
}
