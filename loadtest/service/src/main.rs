//! `pp-demo`: the load test's demo service and its database.
//!
//! `pp-demo service` serves the seed's two endpoints, `GET /api/dashboard`
//! and `POST /api/events`, on a real async runtime; each knob makes one
//! kind of bottleneck (see `--help`). `pp-demo database` is the slow
//! downstream it calls: it answers each request line after a delay.
//! `pp-demo pool` serves the same endpoints on a fixed pool of worker
//! threads, each request holding one (requests wait for a worker).

mod database;
mod pool;
mod service;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The load test's demo service and its database.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The HTTP service (GET /api/dashboard, POST /api/events).
    Service(service::Options),
    /// A database that answers each line after --delay-ms.
    Database(database::Options),
    /// The same endpoints on a fixed pool of workers, each request holding
    /// one for --hold-ms without the CPU.
    Pool(pool::Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Service(options) => service::run(options),
        Command::Database(options) => database::run(options),
        Command::Pool(options) => pool::run(options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pp-demo: {err:#}");
            ExitCode::FAILURE
        }
    }
}
