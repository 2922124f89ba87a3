//! `pressure-probe top`: the verdict on each container, live, for a person
//! on the node, without Prometheus. It reads the API of the agent running
//! on the node; with no agent there, it loads the programs itself (and
//! says so). `--once` prints one plain table.

mod client;
mod overview;
mod screen;

use std::{
    io::ErrorKind,
    net::IpAddr,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, FromArgMatches};

use self::{client::Client, overview::Overview};
use crate::{
    cli::{RunArgs, TopArgs},
    run::Probe,
    serve::api,
};

/// Where the overview comes from.
enum Source {
    /// An agent's API.
    Agent { url: String, client: Client },
    /// Programs this process loaded.
    Local(Probe),
}

impl Source {
    /// Reads the latest overview.
    fn fetch(&self) -> Result<Overview> {
        match self {
            Source::Agent { url, client } => {
                let text = client.get(url)?;
                // serde's message may quote the answer: escaped as a cell is.
                serde_json::from_str(&text).map_err(|err| {
                    anyhow!(
                        "{url} did not answer a pressure-probe API document: {}",
                        overview::printable(&err.to_string())
                    )
                })
            }
            Source::Local(probe) => Ok(api::containers(&probe.latest.sample())),
        }
    }

    /// What it is, for the header.
    fn describe(&self) -> String {
        match self {
            Source::Agent { url, .. } => format!("agent {url}"),
            Source::Local(_) => "programs loaded by top (no agent)".into(),
        }
    }
}

/// The API address of the agent at `from` (`http://HOST:PORT`,
/// `https://HOST:PORT` or `HOST:PORT`), and whether that agent would be on
/// this host.
fn api_url(from: &str) -> Result<(String, bool)> {
    let (scheme, address) = match from.split_once("://") {
        Some((scheme @ ("http" | "https"), address)) => (scheme, address),
        Some((scheme, _)) => bail!("--from {from}: {scheme}:// is neither http:// nor https://"),
        None => ("http", from),
    };
    let address = address.trim_end_matches('/');
    if address.is_empty() || address.contains('/') {
        bail!("--from {from}: expected {scheme}://HOST:PORT");
    }
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => bail!("--from {from}: expected {scheme}://HOST:PORT (the port is missing)"),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok((format!("{scheme}://{address}/api/v1/containers"), local))
}

/// Whether `err` means nothing listens there.
fn nobody_there(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| match cause.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::ConnectionFailed) => true,
            Some(ureq::Error::Io(io)) => io.kind() == ErrorKind::ConnectionRefused,
            _ => cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == ErrorKind::ConnectionRefused),
        })
}

/// The options `run` has by default (`top` runs the probe that way).
fn default_run_args() -> RunArgs {
    let command = RunArgs::augment_args(clap::Command::new("run"));
    RunArgs::from_arg_matches(&command.get_matches_from(["run"])).expect("run's defaults parse")
}

/// Runs `top`.
pub fn run(args: TopArgs) -> Result<()> {
    let (url, local) = api_url(&args.from)?;
    let client = Client::new(&args)?;
    let agent = Source::Agent { url, client };
    let (source, first) = match agent.fetch() {
        Ok(first) => (agent, first),
        Err(err) if local && nobody_there(&err) => {
            eprintln!(
                "pressure-probe top: no agent answers at {}; loading the eBPF programs in this \
                 process (verdicts cover only the time since it started)",
                args.from
            );
            let mut run_args = default_run_args();
            run_args.interval = args.interval;
            let probe = Probe::start(&run_args).context(
                "no agent runs here, and top cannot load the programs itself (run it as root, \
                 or start `pressure-probe run`)",
            )?;
            // One interval of evidence (a second sample) before the first verdicts.
            let deadline = Instant::now() + args.interval * 3 + Duration::from_secs(1);
            while probe.latest.sample().sequence < 2 && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let source = Source::Local(probe);
            let first = source.fetch()?;
            (source, first)
        }
        Err(err) => return Err(err),
    };
    let result = if args.once {
        print!("{}", first.plain_table());
        Ok(())
    } else {
        screen::show(&source, first, args.interval)
    };
    if let Source::Local(probe) = source {
        probe.stop();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_takes_an_http_address() {
        assert_eq!(
            api_url("http://127.0.0.1:9635").unwrap(),
            ("http://127.0.0.1:9635/api/v1/containers".into(), true)
        );
        assert_eq!(
            api_url("[::1]:9635/").unwrap(),
            ("http://[::1]:9635/api/v1/containers".into(), true)
        );
        assert_eq!(
            api_url("http://node-7:9635").unwrap(),
            ("http://node-7:9635/api/v1/containers".into(), false)
        );
        assert_eq!(
            api_url("https://localhost:9635").unwrap(),
            ("https://localhost:9635/api/v1/containers".into(), true)
        );
        for wrong in ["ftp://x:1", "http://x", "x:port", "http://x:1/metrics", ""] {
            assert!(api_url(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn run_defaults_parse() {
        assert_eq!(default_run_args().verdict.window, Duration::from_secs(60));
    }
}
