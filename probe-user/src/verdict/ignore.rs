//! `--dependency-ignore`: remote endpoints an operator knows answer late by
//! design (long polls the probe cannot tell by their first bytes: a Kafka
//! fetch with a max wait, a long-polling HTTP API, a message broker's
//! consumer), whose response times the dependency pressure leaves out.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use anyhow::{Result, bail};

use crate::snapshot::remotes::Remote;

/// Remote endpoints to leave out: a host and port, a host, or a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// `IP:PORT` (`[IPv6]:PORT`).
    Endpoint(SocketAddr),
    /// `IP`: any port of it.
    Host(IpAddr),
    /// `:PORT`: that port of any host.
    Port(u16),
}

impl FromStr for Ignored {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        if let Some(port) = text.strip_prefix(':') {
            return match port.parse() {
                Ok(port) => Ok(Ignored::Port(port)),
                Err(_) => bail!("{text}: expected :PORT, IP or IP:PORT"),
            };
        }
        if let Ok(endpoint) = text.parse() {
            return Ok(Ignored::Endpoint(endpoint));
        }
        match text.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(host) => Ok(Ignored::Host(host)),
            Err(_) => bail!("{text}: expected :PORT, IP or IP:PORT"),
        }
    }
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::Endpoint(endpoint) => write!(f, "{endpoint}"),
            Ignored::Host(host) => write!(f, "{host}"),
            Ignored::Port(port) => write!(f, ":{port}"),
        }
    }
}

impl Ignored {
    /// Whether it covers `remote` (never the summed `other`).
    pub fn covers(&self, remote: &Remote) -> bool {
        let Remote::Endpoint(endpoint) = remote else {
            return false;
        };
        match self {
            Ignored::Endpoint(ignored) => ignored == endpoint,
            Ignored::Host(host) => *host == endpoint.ip(),
            Ignored::Port(port) => *port == endpoint.port(),
        }
    }

    /// The regular expression of the `remote` label values it covers, as
    /// the agent writes them (`IP:PORT`, `[IPv6]:PORT`).
    pub fn label_regex(&self) -> String {
        let escape = |text: String| {
            text.replace('.', "\\\\.")
                .replace('[', "\\\\[")
                .replace(']', "\\\\]")
        };
        match self {
            Ignored::Endpoint(endpoint) => escape(endpoint.to_string()),
            Ignored::Host(IpAddr::V4(host)) => format!("{}:[0-9]+", escape(host.to_string())),
            Ignored::Host(IpAddr::V6(host)) => format!("{}:[0-9]+", escape(format!("[{host}]"))),
            Ignored::Port(port) => format!(".+:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_what_they_name() {
        let remote = |text: &str| Remote::Endpoint(text.parse().unwrap());
        let port: Ignored = ":9092".parse().unwrap();
        let host: Ignored = "10.0.0.7".parse().unwrap();
        let endpoint: Ignored = "10.0.0.7:6379".parse().unwrap();
        assert!(port.covers(&remote("10.1.2.3:9092")) && !port.covers(&remote("10.1.2.3:9093")));
        assert!(host.covers(&remote("10.0.0.7:1")) && !host.covers(&remote("10.0.0.8:1")));
        assert!(
            endpoint.covers(&remote("10.0.0.7:6379")) && !endpoint.covers(&remote("10.0.0.7:6380"))
        );
        assert!(!port.covers(&Remote::Other));
        assert!(
            "[::1]:80"
                .parse::<Ignored>()
                .unwrap()
                .covers(&remote("[::1]:80"))
        );
        for wrong in ["", ":", ":x", "host", "10.0.0.7:x"] {
            assert!(wrong.parse::<Ignored>().is_err(), "{wrong}");
        }
        assert_eq!(endpoint.label_regex(), "10\\\\.0\\\\.0\\\\.7:6379");
        assert_eq!(port.label_regex(), ".+:9092");
    }
}
