//! The web configuration file (`--web-config FILE`): TLS and basic
//! authentication in the format Prometheus exporters share
//! (`tls_server_config`, `basic_auth_users` with bcrypt hashes; see the
//! exporter-toolkit's `web-configuration.md`).
//!
//! What this agent does not do is refused with a clear error rather than
//! ignored: TLS versions below 1.2, Go cipher suite and curve names (rustls
//! chooses among safe ones), client certificates that are not verified.
//! Relative file names are relative to the file's folder. The file and the
//! files it names are read again when one of them changes (each new
//! connection looks), so certificates can be rotated without a restart; a
//! change that does not load is logged and the previous settings kept.

use std::{
    collections::BTreeMap,
    fs,
    io::Read,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::SystemTime,
};

use anyhow::{Context, Result, bail};
use rustls::{
    ServerConfig,
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
    version::{TLS12, TLS13},
};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::serve::{basic_auth::BasicAuth, certificate};

/// What the endpoint requires of a client, from one reading of the file.
pub struct Security {
    /// TLS, when the file has a `tls_server_config`.
    pub tls: Option<TlsAcceptor>,
    /// The served certificate's file and its `notAfter` (Unix seconds,
    /// where it could be read), with TLS.
    served: Option<(PathBuf, Option<i64>)>,
    /// Basic authentication, when the file has `basic_auth_users`.
    pub basic_auth: Option<BasicAuth>,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    http_server_config: Option<HttpServerConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<serde_yaml_ng::Value>,
    curve_preferences: Option<serde_yaml_ng::Value>,
    client_allowed_sans: Option<serde_yaml_ng::Value>,
    /// Accepted and ignored, as Go has done since 1.18.
    #[serde(rename = "prefer_server_cipher_suites")]
    _prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    http2: Option<bool>,
    headers: Option<serde_yaml_ng::Value>,
}

/// The files a configuration was read from, with what they were when read.
type Stamps = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// A web configuration file, read again when it or a file it names changes.
pub struct WebConfig {
    path: PathBuf,
    state: Mutex<(Stamps, Arc<Security>)>,
}

impl WebConfig {
    /// Reads `path`; an error says what is wrong with it.
    pub fn load(path: &Path) -> Result<WebConfig> {
        let mut stamped = Stamps::new();
        let security = read(path, &mut stamped)?;
        describe(&security, path);
        Ok(WebConfig {
            path: path.to_path_buf(),
            state: Mutex::new((stamped, Arc::new(security))),
        })
    }

    /// The settings for a new connection or request: the file's current
    /// ones, or the last that loaded.
    pub fn current(&self) -> Arc<Security> {
        // A panic elsewhere while holding the lock leaves valid settings.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (stamped, security) = &mut *state;
        let unchanged = stamped.iter().all(|(path, seen)| stamp(path) == *seen);
        if unchanged {
            return security.clone();
        }
        // Each file is stamped before it is read (a change during the read
        // is seen next time), and a reading that fails watches every file
        // it tried (one that does not exist yet loads when it appears).
        let mut fresh_stamps = Stamps::new();
        match read(&self.path, &mut fresh_stamps) {
            Ok(fresh) => {
                info!(path = %self.path.display(), "web configuration read again");
                describe(&fresh, &self.path);
                *security = Arc::new(fresh);
            }
            Err(err) => error!(
                path = %self.path.display(),
                "the changed web configuration does not load; keeping the previous one: {err:#}"
            ),
        }
        *stamped = fresh_stamps;
        security.clone()
    }
}

/// Logs what the endpoint requires (and warns of a served certificate that
/// has expired or soon will).
fn describe(security: &Security, path: &Path) {
    let served = security.served.as_ref();
    certificate::serving(
        served.map(|(file, _)| file.as_path()),
        served.and_then(|s| s.1),
    );
    match (&security.tls, &security.basic_auth) {
        (Some(_), Some(auth)) => {
            info!(path = %path.display(), users = auth.users(), "TLS and basic authentication on")
        }
        (Some(_), None) => info!(path = %path.display(), "TLS on, no authentication"),
        (None, Some(auth)) => tracing::warn!(
            path = %path.display(),
            users = auth.users(),
            "basic authentication without TLS: passwords cross the network in clear text"
        ),
        (None, None) => info!(path = %path.display(), "the web configuration asks for nothing"),
    }
}

/// A file's modification time and size (none when it is gone).
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The largest file a web configuration reads (the file itself, or a
/// certificate, key or CA it names): a real one is a few kB.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Stamps `path` in `stamped`, then reads it: a regular file of at most
/// [`MAX_FILE_BYTES`], opened without blocking, so that a FIFO, a device
/// (`/dev/zero`) or a huge file put in its place can neither stall the
/// agent nor fill its memory.
fn read_stamped(path: &Path, stamped: &mut Stamps) -> Result<Vec<u8>> {
    stamped.push((path.to_path_buf(), stamp(path)));
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{} is over {} MiB: not a web configuration, certificate or key",
            path.display(),
            MAX_FILE_BYTES >> 20
        );
    }
    Ok(bytes)
}

/// The PEM sections of type `T` in `path` (stamped in `stamped` first); an
/// error for a file without one.
fn read_pem<T: PemObject>(path: &Path, stamped: &mut Stamps) -> Result<Vec<T>> {
    let pem = read_stamped(path, stamped)?;
    let items = T::pem_slice_iter(&pem)
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("{}: not PEM", path.display()))?;
    if items.is_empty() {
        bail!("{} holds none", path.display());
    }
    Ok(items)
}

/// Reads the file and what it names, stamping each in `stamped` first.
fn read(path: &Path, stamped: &mut Stamps) -> Result<Security> {
    let text = read_stamped(path, stamped).context("cannot read the web configuration")?;
    let text =
        String::from_utf8(text).with_context(|| format!("{}: not UTF-8 text", path.display()))?;
    let file: WebConfigFile = if text.trim().is_empty() {
        WebConfigFile::default()
    } else {
        serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{}: not a web configuration file", path.display()))?
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let in_file = |what: &str| format!("{}: {what}", path.display());
    if let Some(http) = &file.http_server_config {
        if http.headers.is_some() {
            bail!(in_file(
                "http_server_config.headers is not supported by pressure-probe"
            ));
        }
        if http.http2 == Some(true) {
            info!("http_server_config.http2: the agent serves HTTP/1.1 only");
        }
    }
    let (tls, served) = match &file.tls_server_config {
        Some(tls) => {
            let (acceptor, served) =
                tls_acceptor(tls, folder, stamped).with_context(|| in_file("tls_server_config"))?;
            (Some(acceptor), Some(served))
        }
        None => (None, None),
    };
    let basic_auth = if file.basic_auth_users.is_empty() {
        None
    } else {
        Some(BasicAuth::new(file.basic_auth_users).with_context(|| in_file("basic_auth_users"))?)
    };
    Ok(Security {
        tls,
        served,
        basic_auth,
    })
}

/// The TLS settings of `tls_server_config`, its files read relative to
/// `folder` (and added to `files`), and the served certificate's file and
/// `notAfter`.
fn tls_acceptor(
    tls: &TlsServerConfig,
    folder: &Path,
    stamped: &mut Stamps,
) -> Result<(TlsAcceptor, (PathBuf, Option<i64>))> {
    for (set, name, why) in [
        (
            tls.cipher_suites.is_some(),
            "cipher_suites",
            "rustls offers only its own safe suites",
        ),
        (
            tls.curve_preferences.is_some(),
            "curve_preferences",
            "rustls chooses among its own safe groups",
        ),
        (
            tls.client_allowed_sans.is_some(),
            "client_allowed_sans",
            "client certificates are verified against client_ca_file only",
        ),
    ] {
        if set {
            bail!("{name} is not supported by pressure-probe ({why}); remove it");
        }
    }
    let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) else {
        bail!("cert_file and key_file are both required");
    };
    let cert_file = folder.join(cert_file);
    let key_file = folder.join(key_file);
    let chain: Vec<CertificateDer<'static>> = read_pem(&cert_file, stamped)
        .with_context(|| format!("cannot read certificates from {}", cert_file.display()))?;
    // read_pem found at least one.
    let not_after = certificate::not_after(&chain[0])
        .inspect_err(|err| {
            tracing::warn!(
                cert_file = %cert_file.display(),
                "cannot read when the served certificate expires: {err:#}"
            )
        })
        .ok();
    // The first key (read_pem found at least one).
    let key = read_pem::<PrivateKeyDer<'static>>(&key_file, stamped)
        .map(|mut keys| keys.swap_remove(0))
        .with_context(|| {
            format!(
                "cannot read a private key (PEM, unencrypted) from {}",
                key_file.display()
            )
        })?;
    let versions = versions(tls.min_version.as_deref(), tls.max_version.as_deref())?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .context("rustls refused the TLS versions")?;
    let builder = match client_auth(tls, folder, stamped)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!(
            "the key {} does not go with the certificate {}",
            key_file.display(),
            cert_file.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), (cert_file, not_after)))
}

/// The cryptography: ring, named rather than left to rustls to pick (two
/// providers in the build would make it panic).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The TLS versions from `min_version` to `max_version` (Go's names).
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let rank = |name: &str, which: &str| match name {
        "TLS12" => Ok(0),
        "TLS13" => Ok(1),
        "TLS10" | "TLS11" => {
            bail!("{which} {name}: TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13")
        }
        _ => bail!("{which} {name}: expected TLS12 or TLS13"),
    };
    let low = min.map_or(Ok(0), |name| rank(name, "min_version"))?;
    let high = max.map_or(Ok(1), |name| rank(name, "max_version"))?;
    if low > high {
        bail!("min_version is above max_version");
    }
    Ok([&TLS12, &TLS13][low..=high].to_vec())
}

/// The client certificate verifier `client_auth_type` asks for.
fn client_auth(
    tls: &TlsServerConfig,
    folder: &Path,
    stamped: &mut Stamps,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>> {
    let kind = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let optional = match kind {
        "NoClientCert" => {
            if tls.client_ca_file.is_some() {
                bail!(
                    "client_ca_file is set but client_auth_type is NoClientCert: set \
                     client_auth_type to RequireAndVerifyClientCert or VerifyClientCertIfGiven"
                );
            }
            return Ok(None);
        }
        "RequireAndVerifyClientCert" => false,
        "VerifyClientCertIfGiven" => true,
        "RequestClientCert" | "RequireAnyClientCert" => bail!(
            "client_auth_type {kind} accepts certificates without verifying them, which \
             pressure-probe does not do; use RequireAndVerifyClientCert with client_ca_file"
        ),
        _ => bail!(
            "client_auth_type {kind}: expected NoClientCert, VerifyClientCertIfGiven or \
             RequireAndVerifyClientCert"
        ),
    };
    let Some(ca_file) = &tls.client_ca_file else {
        bail!(
            "client_auth_type {kind} needs client_ca_file, the CA that signs client certificates"
        );
    };
    let ca_file = folder.join(ca_file);
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_pem::<CertificateDer<'static>>(&ca_file, stamped)? {
        roots
            .add(cert)
            .with_context(|| format!("{}: not a CA certificate", ca_file.display()))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let verifier = builder
        .build()
        .with_context(|| format!("{}: no usable CA certificate", ca_file.display()))?;
    Ok(Some(Arc::new(certificate::Logged::new(verifier))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(yaml: &str) -> String {
        let dir = std::env::temp_dir().join(format!("pp-web-config-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        fs::write(&path, yaml).unwrap();
        let err = read(&path, &mut Stamps::new())
            .err()
            .map(|e| format!("{e:#}"));
        fs::remove_dir_all(&dir).unwrap();
        err.unwrap_or_default()
    }

    #[test]
    fn what_is_not_supported_is_refused_by_name() {
        assert!(
            error_of("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
                .contains("cipher_suites is not supported")
        );
        assert!(error_of("tls_server_config:\n  cert_file: a\n").contains("both required"));
        assert!(error_of("basic_auth_user:\n  a: b\n").contains("unknown field"));
        assert!(error_of("basic_auth_users:\n  alice: secret\n").contains("bcrypt"));
        assert!(
            error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n")
                .contains("cannot read certificates")
        );
        assert!(error_of("http_server_config:\n  headers:\n    X-A: b\n").contains("headers"));
    }

    #[test]
    fn an_empty_file_asks_for_nothing() {
        assert_eq!(error_of(""), "");
        assert_eq!(error_of("http_server_config:\n  http2: false\n"), "");
    }

    #[test]
    fn tls_versions() {
        assert_eq!(versions(None, None).unwrap().len(), 2);
        assert_eq!(versions(Some("TLS13"), None).unwrap(), vec![&TLS13]);
        assert_eq!(versions(None, Some("TLS12")).unwrap(), vec![&TLS12]);
        assert!(versions(Some("TLS10"), None).is_err());
        assert!(versions(Some("TLS13"), Some("TLS12")).is_err());
        assert!(versions(Some("tls13"), None).is_err());
    }
}
