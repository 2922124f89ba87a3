//! `--dependency-ignore`: remote endpoints an operator knows answer late by
//! design (long polls the probe cannot tell by their first bytes: a Kafka
//! fetch with a max wait, a long-polling HTTP API, a message broker's
//! consumer), whose response times the dependency pressure leaves out.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use anyhow::{Result, anyhow, bail};

use crate::signals::dependency::remotes::Remote;

/// Most endpoints `--dependency-ignore` takes (after duplicates are
/// dropped): each is a rule's regular expression term too.
pub const MAX_IGNORED: usize = 64;

/// Remote endpoints to leave out: a host and port, a host, or a port. An
/// address is kept as the `remote` label writes it: an IPv4 address an
/// IPv6 socket reached (`::ffff:a.b.c.d`) is that IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// `IP:PORT` (`[IPv6]:PORT`).
    Endpoint(SocketAddr),
    /// `IP` (`IPv6` or `[IPv6]`): any port of it.
    Host(IpAddr),
    /// `:PORT`: that port of any host.
    Port(u16),
}

const EXPECTED: &str = "expected :PORT, IP, IP:PORT or [IPv6]:PORT";

/// A port of 1 to 65535, in decimal digits only.
fn port(text: &str, whole: &str) -> Result<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{whole}: the port {text:?} is not a number ({EXPECTED})");
    }
    match text.parse() {
        Ok(0) | Err(_) => bail!("{whole}: the port {text} is not one of 1 to 65535"),
        Ok(port) => Ok(port),
    }
}

/// An IPv6 address (a scope id, `%2`, is refused: no label carries one).
fn ipv6(text: &str, whole: &str) -> Result<IpAddr> {
    if text.contains('%') {
        bail!("{whole}: a scope id never matches (the remote label has none)");
    }
    let ip: Ipv6Addr = text
        .parse()
        .map_err(|_| anyhow!("{whole}: {text:?} is no IPv6 address ({EXPECTED})"))?;
    Ok(normal(IpAddr::V6(ip)))
}

/// `ip` as the `remote` label writes it.
fn normal(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Ignored {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest
                .split_once(']')
                .ok_or_else(|| anyhow!("{text}: no closing ] ({EXPECTED})"))?;
            let ip = ipv6(address, text)?;
            return match after {
                "" => Ok(Ignored::Host(ip)),
                _ => match after.strip_prefix(':') {
                    Some(p) => Ok(Ignored::Endpoint(SocketAddr::new(ip, port(p, text)?))),
                    None => bail!("{text}: {after:?} after the address ({EXPECTED})"),
                },
            };
        }
        if text.matches(':').count() > 1 {
            return Ok(Ignored::Host(ipv6(text, text)?));
        }
        match text.split_once(':') {
            Some(("", p)) => Ok(Ignored::Port(port(p, text)?)),
            Some((host, p)) => {
                let ip: IpAddr = host
                    .parse()
                    .map_err(|_| anyhow!("{text}: {host:?} is no IP address ({EXPECTED})"))?;
                Ok(Ignored::Endpoint(SocketAddr::new(ip, port(p, text)?)))
            }
            None => text
                .parse()
                .map(|ip| Ignored::Host(normal(ip)))
                .map_err(|_| anyhow!("{text}: no IP address ({EXPECTED})")),
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
        for wrong in [
            "",
            ":",
            ":x",
            "host",
            "10.0.0.7:x",
            "[::1",
            "[[[::1]]]",
            ":+80",
            ":0",
            "10.0.0.7:65536",
            "[fe80::1%2]:80",
            "[::1]x",
            "10.0.0.7:80:1",
        ] {
            assert!(wrong.parse::<Ignored>().is_err(), "{wrong}");
        }
        // A bare IPv6 address is a host, with or without brackets.
        for host in ["::1", "[::1]"] {
            assert!(
                host.parse::<Ignored>()
                    .unwrap()
                    .covers(&remote("[::1]:5432")),
                "{host}"
            );
        }
        // An IPv4-mapped address is written as the label is: IPv4.
        let mapped: Ignored = "[::ffff:127.0.0.1]:6379".parse().unwrap();
        assert!(mapped.covers(&remote("127.0.0.1:6379")));
        assert_eq!(mapped.to_string(), "127.0.0.1:6379");
        // Refused by what is wrong.
        for (wrong, says) in [(":+80", "not a number"), ("::1x", "no IPv6 address")] {
            let error = wrong.parse::<Ignored>().unwrap_err().to_string();
            assert!(error.contains(says), "{wrong}: {error}");
        }
        assert_eq!(endpoint.label_regex(), "10\\\\.0\\\\.0\\\\.7:6379");
        assert_eq!(port.label_regex(), ".+:9092");
    }
}
