//! The Prometheus exposition of a sample, in the format the scraper asks
//! for: text (classic buckets) or protobuf (classic and native buckets),
//! gzipped when the scraper accepts it.

pub mod bottleneck;
pub mod histogram;
pub(crate) mod model;
pub mod probe;
mod process;
mod protobuf;
mod text;

use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Context, Result};
use bytes::Bytes;

use crate::sampler::{ENCODINGS, Sample};

/// An encoding of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text format 0.0.4.
    Text,
    /// Length-delimited protobuf, with native histograms.
    Protobuf,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 2] = [Format::Text, Format::Protobuf];

    /// The one a client asks for in its `Accept` header: protobuf when it
    /// lists it with a non-zero weight (as a Prometheus with native
    /// histograms on does), text otherwise.
    pub fn negotiate(accept: &str) -> Format {
        let protobuf = accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let mut proto_ok = true;
            let mut weight = 1.0f32;
            for parameter in parts {
                match parameter.split_once('=') {
                    Some(("proto", value)) => {
                        proto_ok = value == "io.prometheus.client.MetricFamily"
                    }
                    Some(("encoding", value)) => proto_ok &= value == "delimited",
                    Some(("q", value)) => weight = value.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            media.eq_ignore_ascii_case("application/vnd.google.protobuf")
                && proto_ok
                && weight > 0.0
        });
        if protobuf {
            Format::Protobuf
        } else {
            Format::Text
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus::TEXT_FORMAT,
            Format::Protobuf => protobuf::MEDIA_TYPE,
        }
    }

    /// Its slot among a sample's encodings.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `sample`'s exposition in `format`, gzipped if `gzip`: encoded once per
/// sample however many clients ask, then shared.
pub fn exposition(sample: &Sample, format: Format, gzip: bool) -> Result<Bytes, String> {
    const { assert!(Format::ALL.len() * 2 <= ENCODINGS) };
    let slot = format.index() * 2;
    let plain = |sample: &Sample| encode(sample, format).map_err(|e| format!("{e:#}"));
    if !gzip {
        return sample.encoding(slot, plain);
    }
    sample.encoding(slot + 1, |sample| {
        self::gzip(&sample.encoding(slot, plain)?).map_err(|e| format!("{e:#}"))
    })
}

/// `sample` in `format`, written one family at a time (the memory it
/// takes is the output and the largest family, whatever the number of
/// containers).
fn encode(sample: &Sample, format: Format) -> Result<Bytes> {
    write_families(model::families(sample).chain(process::families()), format)
}

/// `families` in `format`, one at a time.
pub fn write_families(
    families: impl Iterator<Item = model::Family>,
    format: Format,
) -> Result<Bytes> {
    let mut out = Vec::new();
    for family in families {
        match format {
            Format::Text => text::write(&family, &mut out)?,
            Format::Protobuf => protobuf::write(&family, &mut out)?,
        }
    }
    Ok(Bytes::from(out.into_boxed_slice()))
}

/// Unix time of the served certificate's `notAfter` (`i64::MIN`: no TLS).
static SERVED_NOT_AFTER: AtomicI64 = AtomicI64::new(i64::MIN);

/// Records the `notAfter` (Unix seconds) of the certificate the endpoint
/// serves now (none: no TLS), which the exposition gives.
pub fn served_certificate_expires(not_after: Option<i64>) {
    SERVED_NOT_AFTER.store(not_after.unwrap_or(i64::MIN), Ordering::Relaxed);
}

/// The served certificate's `notAfter`, as last recorded.
fn served_certificate_expiry() -> Option<i64> {
    match SERVED_NOT_AFTER.load(Ordering::Relaxed) {
        i64::MIN => None,
        at => Some(at),
    }
}

/// `body` gzipped.
pub fn gzip(body: &[u8]) -> Result<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(body)
        .context("compressing the exposition")?;
    Ok(Bytes::from(
        encoder.finish().context("compressing the exposition")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each format's exposition, plain and gzipped, is encoded once per
    /// sample and shared: the same bytes, not an equal copy.
    #[test]
    fn each_exposition_is_made_once_and_shared() {
        let sample = Sample::new(
            crate::snapshot::Snapshot::default(),
            std::time::Duration::ZERO,
            Vec::new(),
            std::time::Duration::from_secs(60),
        );
        for format in Format::ALL {
            for gzip in [false, true] {
                let first = exposition(&sample, format, gzip).unwrap();
                let again = exposition(&sample, format, gzip).unwrap();
                assert_eq!(first.as_ptr(), again.as_ptr(), "{format:?}, gzip {gzip}");
            }
            let plain = exposition(&sample, format, false).unwrap();
            let gzipped = exposition(&sample, format, true).unwrap();
            assert_ne!(plain.as_ptr(), gzipped.as_ptr(), "{format:?}");
        }
    }

    #[test]
    fn protobuf_is_negotiated_as_prometheus_asks_for_it() {
        let prometheus = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                          encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Format::negotiate(prometheus), Format::Protobuf);
        assert_eq!(Format::negotiate("text/plain;version=0.0.4"), Format::Text);
        assert_eq!(Format::negotiate(""), Format::Text);
        assert_eq!(
            Format::negotiate(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0"
            ),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(
                "application/vnd.google.protobuf;proto=other.Message;encoding=delimited"
            ),
            Format::Text
        );
    }
}
