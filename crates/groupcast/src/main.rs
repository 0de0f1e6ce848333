//! The `groupcast` command: one binary, one subcommand per role.

mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Live IP video carried by multicast and repaired by a small group of peer viewers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a source and an audience of clients on virtual time, with the real repair core.
    Sim(sim::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Sim(args) => sim::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("groupcast: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
