//! pressure-probe: per-container pressure signals from eBPF, for Prometheus.
//! The agent is this library's [`main`]; its API document's types
//! ([`api`]) are public, for the tests that read it.

// The agent's pipeline, one stage per module, data flowing one way: each
// stage uses only those above it (no circle; `heap` and the commands
// aside):
//
//   kernel    what this kernel offers and how to use it: its BTF, the struct
//             offsets, how hooks are planned, where per-cgroup state lives,
//             privileges; loads and attaches the programs
//   collect   reads what the programs aggregated: the kernel maps
//   identity  cgroup id -> path -> owner (Kubernetes, Docker, systemd) and labels
//   snapshot  raw counts + identity -> per-cgroup statistics, reclaiming
//             removed cgroups; `fold` bounds their number
//   window    what each container did over the last --window seconds
//   verdict   the rule: evidence over the window -> which bottleneck, and
//             whether more replicas would help
//   sampler   runs kernel -> collect -> identity -> snapshot -> window ->
//             verdict every --interval and keeps the latest sample, which
//             every endpoint reads
//   export    a sample -> the Prometheus exposition (made once per sample)
//   api       the API document's types: `serve` writes them, `top` reads them
//   serve     the HTTP endpoints, within bounds
//
// Each signal's part of every stage is in its folder, `signals/<signal>/`
// (docs/layout.md, section Signals), each part held to its stage.
//
// `run`, `check`, `top` (the live view, from an agent's API or a probe of
// its own) and `rules` (the Prometheus rules of the verdict) are the
// commands; `cli` is the command line, resolved into the stages' own types;
// `heap` bounds the allocator.
pub mod api;
mod check;
mod cli;
mod collect;
mod export;
#[cfg(test)]
mod golden_tests;
mod heap;
mod identity;
mod kernel;
#[cfg(test)]
mod layout_tests;
mod rules;
mod run;
mod sampler;
mod serve;
mod signals;
mod snapshot;
#[cfg(test)]
mod test_support;
mod top;
mod verdict;
mod window;

use std::{io::IsTerminal, process::ExitCode};

use clap::{CommandFactory, Parser};
use tracing_subscriber::{filter::Targets, prelude::*};

use crate::cli::{Cli, Command};

/// The agent's command line: parses it, runs the command, says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Err(why)) = cli.command.verdict().map(cli::VerdictArgs::check) {
        Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, why)
            .exit();
    }
    init_logging(cli.log_level.into(), cli.log_format);
    let result = match cli.command {
        Command::Check(args) => check::run(
            &args.kernel.btf,
            &args.kernel.disable_hooks,
            args.format.into(),
        )
        .map(|can_run| {
            if can_run {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::Rules(args) => {
            let rules = rules::render(
                &args.verdict.thresholds(),
                args.verdict.window,
                &args.runbook_url,
                args.latency_p95,
            );
            match args.format {
                cli::RulesFormat::Plain => print!("{rules}"),
                cli::RulesFormat::PrometheusRule => {
                    print!("{}", rules::prometheus_rule(&rules, &args.namespace))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Top(args) => top::run(args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Encodings run on blocking threads; a burst of scrapes waits
            // for one encoding per sample, not for a thread each.
            .max_blocking_threads(4)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run::run(*args)))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, as text or JSON lines: the agent and its kernel programs
/// at `level`, libraries at most at warning level unless tracing.
fn init_logging(level: tracing::Level, format: cli::LogFormat) {
    let libraries = if level == tracing::Level::TRACE {
        level
    } else {
        level.min(tracing::Level::WARN)
    };
    let filter = Targets::new()
        .with_default(libraries)
        .with_target("pressure_probe", level)
        .with_target("probe_ebpf", level);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        cli::LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
        cli::LogFormat::Json => layer.json().with_ansi(false).boxed(),
    };
    tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .init();
}
