//! Certificates in the web configuration: when the served one expires
//! (warned of at every reading, and exported as a metric), and why a client
//! certificate was refused (logged).

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Result, anyhow};
use rustls::{
    DigitallySignedStruct, DistinguishedName, Error, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    pki_types::{CertificateDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use tracing::warn;

/// How long before its expiry a served certificate is warned of.
const WARN_BEFORE: Duration = Duration::from_secs(14 * 86_400);

/// The Unix time after which the certificate `der` is no longer valid.
pub fn not_after(der: &CertificateDer<'_>) -> Result<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| anyhow!("not an X.509 certificate: {err}"))?;
    Ok(cert.validity().not_after.timestamp())
}

/// Records that the endpoint serves the certificate of `cert_file`, valid
/// until `not_after` (none: no TLS), and warns when it has expired or soon
/// will.
pub fn serving(cert_file: Option<&Path>, not_after: Option<i64>) {
    crate::export::served_certificate_expires(not_after);
    let (Some(cert_file), Some(not_after)) = (cert_file, not_after) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let days = |secs: i64| secs as f64 / 86_400.0;
    if not_after <= now {
        warn!(
            cert_file = %cert_file.display(),
            "the served certificate expired {:.1} days ago: clients that verify it refuse \
             every connection; replace it (the file is read again when it changes)",
            days(now - not_after)
        );
    } else if not_after - now < WARN_BEFORE.as_secs() as i64 {
        warn!(
            cert_file = %cert_file.display(),
            "the served certificate expires in {:.1} days; replace it before then (the file \
             is read again when it changes)",
            days(not_after - now)
        );
    }
}

/// A client certificate verifier that logs why it refuses a certificate:
/// at most one line a second, with how many refusals went unlogged, so that
/// a flood of bad handshakes cannot flood the log.
#[derive(Debug)]
pub struct Logged {
    inner: Arc<dyn ClientCertVerifier>,
    /// When a refusal was last logged, and how many since were not.
    last: Mutex<(Option<Instant>, u64)>,
}

impl Logged {
    /// Logs the refusals of `inner`.
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> Self {
        Self {
            inner,
            last: Mutex::new((None, 0)),
        }
    }

    fn refused(&self, err: &Error) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, unlogged) = &mut *last;
        if at.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            *unlogged += 1;
            return;
        }
        warn!(
            unlogged_since = *unlogged,
            "a client certificate was refused: {err} (accepted: X.509 version 3, signed by \
             client_ca_file, within its validity, for client authentication)"
        );
        *at = Some(Instant::now());
        *unlogged = 0;
    }
}

impl ClientCertVerifier for Logged {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|err| self.refused(err))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}
