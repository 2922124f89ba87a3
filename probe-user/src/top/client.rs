//! How `top` reaches an agent: plain HTTP, or HTTPS trusting `--ca-file`
//! (Mozilla's roots without it) with an optional client certificate, and
//! basic authentication (`--user`, the password from
//! `PRESSURE_PROBE_PASSWORD`, never the command line).

use std::{fs, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use super::overview::printable;
use crate::cli::TopArgs;

/// The environment variable that holds the password of `--user`.
pub const PASSWORD_VARIABLE: &str = "PRESSURE_PROBE_PASSWORD";

/// The largest API answer `top` reads: about 3 KiB per container is
/// 30 MB at 10,000 containers (ten times `--max-cgroups`' default).
pub const MAX_BODY: u64 = 32 << 20;

/// An HTTP client for the agent, and the `Authorization` header to send.
pub struct Client {
    pub agent: ureq::Agent,
    pub authorization: Option<String>,
}

impl Client {
    /// The client `args` ask for.
    pub fn new(args: &TopArgs) -> Result<Client> {
        let mut tls = TlsConfig::builder();
        let plain = !args.from.starts_with("https://");
        if plain && (args.ca_file.is_some() || args.client_cert.is_some()) {
            bail!(
                "--from {}: --ca-file and --client-cert are for https:// agents",
                args.from
            );
        }
        if let Some(ca_file) = &args.ca_file {
            let roots = certificates(ca_file, "--ca-file")?;
            tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
        }
        // The command line requires both or neither.
        if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
            let chain = certificates(cert, "--client-cert")?;
            let key = PrivateKey::from_pem(&read(key)?)
                .with_context(|| format!("--client-key {}", key.display()))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let authorization = match &args.user {
            Some(user) => {
                let Ok(password) = std::env::var(PASSWORD_VARIABLE) else {
                    bail!("--user {user}: set the password in {PASSWORD_VARIABLE}");
                };
                Some(format!(
                    "Basic {}",
                    STANDARD.encode(format!("{user}:{password}"))
                ))
            }
            None => None,
        };
        if plain && authorization.is_some() {
            eprintln!(
                "pressure-probe top: --user over plain HTTP: the password crosses the network \
                 in clear text"
            );
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            // A redirect is refused, not followed: an agent answered, and
            // following `https://` to `http://` would drop its protection.
            .max_redirects(0)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Client {
            agent,
            authorization,
        })
    }

    /// The body of `url`, up to [`MAX_BODY`] bytes.
    pub fn get(&self, url: &str) -> Result<String> {
        let mut request = self.agent.get(url);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().map_err(|err| match err {
            ureq::Error::StatusCode(401) if self.authorization.is_some() => anyhow::anyhow!(
                "{url} refused the user and password given (--user, with the password in \
                 {PASSWORD_VARIABLE})"
            ),
            ureq::Error::StatusCode(401) => anyhow::anyhow!(
                "{url} asks for a user and password (the agent's --web-config): pass --user, \
                 with the password in {PASSWORD_VARIABLE}"
            ),
            ureq::Error::StatusCode(503) => anyhow::anyhow!(
                "{url} answered 503: the agent is busy or its sample is stale; try again"
            ),
            err => anyhow::Error::new(err).context(format!("cannot read {url}")),
        })?;
        if response.status().is_redirection() {
            let to = response
                .headers()
                .get("location")
                .and_then(|to| to.to_str().ok())
                .map(printable)
                .unwrap_or_default();
            bail!(
                "{url} answered {} (a redirect to {to:?}); top follows no redirect: pass the \
                 agent's own address as --from",
                response.status()
            );
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .with_context(|| {
                format!("cannot read {url} (an agent's answer is under {MAX_BODY} bytes)")
            })
    }
}

/// Every certificate of a PEM file given as `flag`.
fn certificates(path: &Path, flag: &str) -> Result<Vec<Certificate<'static>>> {
    let pem = read(path)?;
    let certificates = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(err) => Some(Err(err)),
        })
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: not PEM", path.display()))?;
    if certificates.is_empty() {
        bail!("{flag} {}: holds no certificate", path.display());
    }
    Ok(certificates)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
