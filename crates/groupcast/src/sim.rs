//! `groupcast sim`: runs the deterministic simulator and prints a table (and JSON).

use crate::client::Strategy;
use anyhow::{Context, bail};
use clap::ValueEnum;
use groupcast_grouping::Policy;
use groupcast_sim::{
    ClientSettings, LastResortSettings, LossModel, ManagerOutage, ManagerSettings, Report,
    Scenario, run as simulate,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `groupcast sim`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of clients.
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Metro networks (client i lives in metro i mod M).
    #[arg(long, default_value_t = 1)]
    metros: usize,
    /// Clients per repair group.
    #[arg(long, default_value_t = 5)]
    group_size: usize,
    /// How groups are formed.
    #[arg(long, value_enum, default_value_t = Grouping::CrossMetro)]
    grouping: Grouping,
    /// Multicast loss per client, in percent.
    #[arg(long, default_value_t = 5.0)]
    loss: f64,
    /// Mean burst length in packets (1 = independent loss; more = Gilbert–Elliott bursts).
    #[arg(long, default_value_t = 1.0)]
    burst: f64,
    /// Loss on each metro's trunk (hits every client of the metro), in percent.
    #[arg(long, default_value_t = 0.0)]
    metro_loss: f64,
    /// A metro outage, METRO:FROM_S:TO_S (repeatable): that metro's trunk drops everything.
    #[arg(long)]
    outage: Vec<String>,
    /// The manager is away FROM_S:TO_S (seconds into the run); `FROM_S:TO_S:restart` brings it
    /// back empty (every session is reopened and regrouped).
    #[arg(long)]
    manager_outage: Option<String>,
    /// Delay of every manager answer, ms.
    #[arg(long, default_value_t = 0.0)]
    manager_latency_ms: f64,
    /// Share of clients leaving each second (they rejoin a second later), in percent.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Loss on peer-to-peer messages, in percent.
    #[arg(long, default_value_t = 0.0)]
    peer_loss: f64,
    /// Loss on every link, not only the multicast's: peer messages (requests, repairs, pings,
    /// bursts) also cross their receiver's access link (--loss) and, between metros, its
    /// metro trunk (--metro-loss), as a lossy link drops all UDP.
    #[arg(long)]
    loss_on_all_links: bool,
    /// The source's relay as every viewer's last resort: what a group cannot supply in time
    /// is NACKed there (the real relay and registration machines, under tickets).
    #[arg(long)]
    last_resort: bool,
    /// One-way delay between a viewer and the relay, ms (at least the shortest peer delay).
    #[arg(long, default_value_t = 10.0)]
    relay_delay_ms: f64,
    /// What all viewers together may draw from the relay, in thousandths of the stream.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u64).range(0..=1000))]
    last_resort_permille: u64,
    /// Distinct viewers whose NACKs of one datagram make the relay resend it once to the
    /// multicast group, across every metro's trunk and every viewer's access link (0: off).
    #[arg(long, default_value_t = 2)]
    multicast_resend_after: u8,
    /// Backups per viewer and neighbouring group (issue 12's second tier): members of the
    /// groups before and after its own, in other metros, asked for what its own group could
    /// not supply in time (0: none; 1, as the manager's default).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=4))]
    backups: u64,
    /// One-way peer delay, ms: a base plus uniform jitter of the same size.
    #[arg(long, default_value_t = 5.0)]
    peer_delay_ms: f64,
    /// Source packet rate.
    #[arg(long, default_value_t = 1000)]
    pps: u32,
    /// TS packets per datagram (7 is usual; 1 makes very large runs lighter).
    #[arg(long, default_value_t = 7)]
    ts_per_datagram: usize,
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
    /// Seed of every random choice; the same seed gives the same results, bit for bit.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the summary and per-metro figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print one row per client (default: per metro).
    #[arg(long)]
    per_client: bool,
    /// Do not check players' output byte for byte (saves memory traffic in very large runs).
    #[arg(long)]
    skip_output_check: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Grouping {
    /// Spread each group over distinct metros (the seed's rule).
    CrossMetro,
    /// Keep each group inside one metro.
    SameMetro,
    /// Any group with room.
    Random,
}

fn percent(p: f64, what: &str) -> anyhow::Result<f64> {
    if !(0.0..100.0).contains(&p) {
        bail!("--{what} must be at least 0 and below 100, got {p}");
    }
    Ok(p / 100.0)
}

fn loss_model(p: f64, burst: f64) -> LossModel {
    if p == 0.0 {
        LossModel::None
    } else if burst == 1.0 {
        LossModel::Independent { p }
    } else {
        LossModel::bursty(p, burst)
    }
}

fn outage(s: &str, pps: u32, metros: usize) -> anyhow::Result<(usize, u64, u64)> {
    let parts: Vec<&str> = s.split(':').collect();
    let [m, a, b] = parts[..] else {
        bail!("--outage {s}: expected METRO:FROM_S:TO_S")
    };
    let m: usize = m.parse().with_context(|| format!("--outage {s}: metro"))?;
    let (a, b): (f64, f64) = (
        a.parse().context("--outage: from")?,
        b.parse().context("--outage: to")?,
    );
    if m >= metros || a < 0.0 || b <= a {
        bail!("--outage {s}: metro must be below --metros and FROM before TO");
    }
    Ok((m, (a * f64::from(pps)) as u64, (b * f64::from(pps)) as u64))
}

fn manager_outage(s: &str) -> anyhow::Result<ManagerOutage> {
    let parts: Vec<&str> = s.split(':').collect();
    let (a, b, restart) = match parts[..] {
        [a, b] => (a, b, false),
        [a, b, "restart"] => (a, b, true),
        _ => bail!("--manager-outage {s}: expected FROM_S:TO_S or FROM_S:TO_S:restart"),
    };
    let (a, b): (f64, f64) = (
        a.parse().context("--manager-outage: from")?,
        b.parse().context("--manager-outage: to")?,
    );
    if a < 0.0 || b <= a {
        bail!("--manager-outage {s}: FROM must be at least 0 and before TO");
    }
    Ok(ManagerOutage {
        from: Duration::from_secs_f64(a),
        until: Duration::from_secs_f64(b),
        restart,
    })
}

/// The scenario `args` describe.
fn scenario(args: &Args) -> anyhow::Result<Scenario> {
    let loss = percent(args.loss, "loss")?;
    if args.burst < 1.0
        || args.clients == 0
        || args.group_size < 2
        || args.pps == 0
        || args.metros == 0
    {
        bail!(
            "--burst must be at least 1, --group-size at least 2; --clients, --metros and --pps at least 1"
        );
    }
    if args.clients > 60_000 {
        bail!("--clients is limited to 60000 (peer addresses are simulated as ports)");
    }
    let peer_delay = Duration::from_secs_f64(args.peer_delay_ms.max(0.0) / 1000.0);
    Ok(Scenario {
        clients: args.clients,
        metros: args.metros,
        group_size: args.group_size,
        grouping: match args.grouping {
            Grouping::CrossMetro => Policy::CrossMetro,
            Grouping::SameMetro => Policy::SameMetro,
            Grouping::Random => Policy::Random { seed: args.seed },
        },
        pps: args.pps,
        packets: args
            .seconds
            .checked_mul(u64::from(args.pps))
            .context("stream too long")?,
        seed: args.seed,
        media_loss: loss_model(loss, args.burst),
        metro_loss: loss_model(percent(args.metro_loss, "metro-loss")?, 1.0),
        outages: args
            .outage
            .iter()
            .map(|o| outage(o, args.pps, args.metros))
            .collect::<anyhow::Result<_>>()?,
        churn: percent(args.churn, "churn")?,
        peer_loss: loss_model(percent(args.peer_loss, "peer-loss")?, 1.0),
        loss_on_all_links: args.loss_on_all_links,
        last_resort: args.last_resort.then(|| LastResortSettings {
            delay: Duration::from_secs_f64(args.relay_delay_ms.max(0.0) / 1000.0).max(peer_delay),
            permille: args.last_resort_permille,
            multicast_after: args.multicast_resend_after,
        }),
        media_delay: (Duration::from_millis(2), Duration::ZERO),
        peer_delay: (peer_delay, peer_delay),
        ts_per_datagram: args.ts_per_datagram.clamp(1, 7),
        check_output: !args.skip_output_check,
        client: ClientSettings {
            buffer: Duration::from_millis(args.buffer_ms),
            strategy: args.strategy.into(),
            repair_enabled: !args.no_repair,
            ..ClientSettings::default()
        },
        manager: ManagerSettings {
            latency: Duration::from_secs_f64(args.manager_latency_ms.max(0.0) / 1000.0),
            outage: args
                .manager_outage
                .as_deref()
                .map(manager_outage)
                .transpose()?,
            backups: args.backups as usize,
            ..ManagerSettings::default()
        },
        ..Scenario::default()
    })
}

/// Runs the simulation described by `args` and prints its tables.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let scenario = scenario(args)?;
    let started = Instant::now();
    let report = simulate(&scenario);
    let wall = started.elapsed().as_secs_f64();
    if args.per_client {
        print!("{}", report.table());
    } else {
        print!("{}", metro_table(&report, args.metros));
    }
    let s = report.summary();
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    println!(
        "summary: clients {} packets {} network-loss {:.3}% residual-loss {:.5}% latency p50 {} ms p99 {} ms \
         dup/repair {:.2} upload {:.1} kbit/s (max {:.1}) requests/packet {:.4} last-resort {} \
         source-egress {:.4}x output faults {}",
        s.clients,
        s.packets,
        s.network_loss * 100.0,
        s.residual_loss * 100.0,
        ms(s.latency_ms.0),
        ms(s.latency_ms.1),
        s.duplicates_per_repair,
        s.upload_kbps.0,
        s.upload_kbps.1,
        s.requests_per_packet,
        s.last_resort_repaired,
        s.source_egress,
        if args.skip_output_check {
            "not checked".to_string()
        } else {
            report.output_faults().to_string()
        }
    );
    if scenario.manager.outage.is_some() {
        let c = &report.clients;
        let count =
            |f: fn(&groupcast_sim::LinkFigures) -> bool| c.iter().filter(|x| f(&x.link)).count();
        let longest = c
            .iter()
            .map(|x| x.link.longest_away)
            .max()
            .unwrap_or_default();
        println!(
            "manager outage: {} clients noticed, {} re-attached, {} opened a new session; longest away {:.1} s",
            count(|l| l.away > 0),
            count(|l| l.back > 0),
            count(|l| l.sessions > 1),
            longest.as_secs_f64()
        );
    }
    println!(
        "simulated {:.1} s of {} clients in {wall:.2} s",
        report.seconds, s.clients
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "clients": s.clients, "packets": s.packets, "network_loss": s.network_loss,
            "residual_loss": s.residual_loss, "latency_p50_ms": s.latency_ms.0, "latency_p99_ms": s.latency_ms.1,
            "duplicates_per_repair": s.duplicates_per_repair, "upload_kbps_mean": s.upload_kbps.0,
            "upload_kbps_max": s.upload_kbps.1, "requests_per_packet": s.requests_per_packet,
            "output_faults": report.output_faults(), "seed": args.seed,
            "last_resort_repaired": s.last_resort_repaired, "source_egress": s.source_egress,
            "escalated": report.total(|c| c.escalated),
            "last_resort_unused": report.total(|c| c.last_resort_unused),
            "peers_silenced": report.total(|c| c.peers_silenced),
            "backup_asked": report.total(|c| c.backup_asked),
            "backup_repaired": report.total(|c| c.backup_repaired),
            "backup_served": report.total(|c| c.backup_served),
            "relay_retransmitted": report.relay.as_ref().map(|r| r.standby_retransmitted),
            "relay_limited": report.relay.as_ref().map(|r| r.standby_limited),
            "relay_resent": report.relay.as_ref().map(|r| r.multicast_resent),
            "relay_covered": report.relay.as_ref().map(|r| r.multicast_covered),
            "per_metro": per_metro(&report, args.metros).iter().map(|m| serde_json::json!({
                "metro": m.0, "clients": m.1, "lost": m.2, "repaired": m.3, "unrecovered": m.4,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// (metro, clients, lost, repaired, unrecovered) per metro.
fn per_metro(report: &Report, metros: usize) -> Vec<(usize, usize, u64, u64, u64)> {
    (0..metros)
        .map(|m| {
            let cs: Vec<_> = report.clients.iter().filter(|c| c.metro == m).collect();
            let sum = |f: fn(&groupcast_core::Counters) -> u64| {
                cs.iter().map(|c| f(&c.counters)).sum::<u64>()
            };
            (
                m,
                cs.len(),
                sum(|k| k.lost),
                sum(|k| k.repaired),
                sum(|k| k.unrecovered),
            )
        })
        .collect()
}

fn metro_table(report: &Report, metros: usize) -> String {
    let mut s = format!(
        "{:>6} {:>8} {:>10} {:>10} {:>12}\n",
        "metro", "clients", "lost", "repaired", "unrecovered"
    );
    for (m, n, lost, rep, unrec) in per_metro(report, metros) {
        s += &format!("{m:>6} {n:>8} {lost:>10} {rep:>10} {unrec:>12}\n");
    }
    s
}
