//! `groupcast sim`: runs the deterministic simulator and prints a table per client.

use anyhow::{Context, bail};
use clap::ValueEnum;
use groupcast_core::RequestStrategy;
use groupcast_sim::{ClientSettings, LossModel, Scenario, run as simulate};
use std::time::{Duration, Instant};

/// Options of `groupcast sim`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of clients.
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Clients per repair group.
    #[arg(long, default_value_t = 5)]
    group_size: usize,
    /// Multicast loss per client, in percent.
    #[arg(long, default_value_t = 5.0)]
    loss: f64,
    /// Mean burst length in packets (1 = independent loss; more = Gilbert–Elliott bursts).
    #[arg(long, default_value_t = 1.0)]
    burst: f64,
    /// Loss on peer-to-peer messages, in percent.
    #[arg(long, default_value_t = 0.0)]
    peer_loss: f64,
    /// Source packet rate.
    #[arg(long, default_value_t = 1000)]
    pps: u32,
    /// Stream length in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Play-out buffer in milliseconds.
    #[arg(long, default_value_t = 300)]
    buffer_ms: u64,
    /// Whom repair requests go to.
    #[arg(long, value_enum, default_value_t = Strategy::All)]
    strategy: Strategy,
    /// Detect and count loss but never request repairs (the control run).
    #[arg(long)]
    no_repair: bool,
    /// Seed of every random choice; the same seed gives the same table.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Strategy {
    /// Ask every member of the group (the seed's rule).
    All,
    /// Ask the best peer first, everyone on retries.
    Ranked,
}

fn percent(p: f64, what: &str) -> anyhow::Result<f64> {
    if !(0.0..100.0).contains(&p) {
        bail!("--{what} must be at least 0 and below 100, got {p}");
    }
    Ok(p / 100.0)
}

/// Runs the simulation described by `args` and prints its table.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let loss = percent(args.loss, "loss")?;
    let peer_loss = percent(args.peer_loss, "peer-loss")?;
    if args.burst < 1.0 || args.clients == 0 || args.group_size == 0 || args.pps == 0 {
        bail!("--burst must be at least 1; --clients, --group-size and --pps at least 1");
    }
    let media_loss = if loss == 0.0 {
        LossModel::None
    } else if args.burst == 1.0 {
        LossModel::Independent { p: loss }
    } else {
        LossModel::bursty(loss, args.burst)
    };
    let scenario = Scenario {
        clients: args.clients,
        group_size: args.group_size,
        pps: args.pps,
        packets: args
            .seconds
            .checked_mul(u64::from(args.pps))
            .context("stream too long")?,
        seed: args.seed,
        media_loss,
        peer_loss: if peer_loss == 0.0 {
            LossModel::None
        } else {
            LossModel::Independent { p: peer_loss }
        },
        client: ClientSettings {
            buffer: Duration::from_millis(args.buffer_ms),
            strategy: match args.strategy {
                Strategy::All => RequestStrategy::All,
                Strategy::Ranked => RequestStrategy::Ranked,
            },
            repair_enabled: !args.no_repair,
            ..ClientSettings::default()
        },
        ..Scenario::default()
    };
    let started = Instant::now();
    let report = simulate(&scenario);
    print!("{}", report.table());
    let dropped: u64 = report.clients.iter().map(|c| c.dropped_by_network).sum();
    println!(
        "network dropped {dropped} packets; unrecovered {}; player output faults {}; simulated {:.1} s in {:.2} s",
        report.total(|c| c.unrecovered),
        report.output_faults(),
        report.seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
