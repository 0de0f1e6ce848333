//! The `groupcast` command: one binary, one subcommand per role.

mod admin;
mod api_client;
mod client;
mod config;
mod demo;
mod driver;
mod dropper;
mod edge;
mod feed;
mod logging;
mod manager;
mod net;
mod sim;
mod source;
mod stats;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Live IP video carried by multicast and repaired by a small group of peer viewers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Read options from this TOML file: table `[SUBCOMMAND]` holds defaults for that
    /// subcommand's long options (given before the subcommand; the command line wins).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send MPEG-TS (a file paced by its PCR, or live UDP/RTP) as RTP multicast; relay to edges.
    Source(source::Args),
    /// Receive the central's stream by unicast and re-multicast it unchanged in a metro.
    Edge(edge::Args),
    /// Watch a channel: join its multicast group, repair losses from the group, feed a player.
    Client(client::Args),
    /// The whole system on loopback in one command: manager, source and clients with loss.
    Demo(demo::Args),
    /// Simulate a source and an audience of clients on virtual time, with the real repair core.
    Sim(sim::Args),
    /// The management server: users, channels, sessions, repair groups and keys, dashboard.
    Manager(manager::Args),
    /// Manage channels, users and entitlements on a running manager.
    Admin(admin::Args),
}

fn main() -> ExitCode {
    logging::init_logging();
    let cli = match config::expand(std::env::args_os().collect()) {
        Ok(args) => Cli::parse_from(args),
        Err(e) => {
            eprintln!("groupcast: error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Source(args) => source::run(&args),
        Command::Edge(args) => edge::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Manager(args) => manager::run(&args),
        Command::Admin(args) => admin::run(&args),
        Command::Client(args) => client::run(&args),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("groupcast: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
