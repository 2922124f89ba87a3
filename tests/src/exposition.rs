//! A parser for the Prometheus text exposition format, enough to check the
//! agent's numbers.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`, `_sum`, `_count` suffixes as written).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// `# HELP` text per family.
    pub help: BTreeMap<String, String>,
    /// `# TYPE` per family.
    pub types: BTreeMap<String, String>,
}

/// A histogram read back from a scrape.
#[derive(Debug, Clone)]
pub struct ScrapedHistogram {
    /// (upper bound in seconds, cumulative count), ascending; `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

impl ScrapedHistogram {
    /// Upper bound of the first bucket holding quantile `q` of the observations.
    pub fn quantile_upper_bound(&self, q: f64) -> f64 {
        let rank = q * self.count;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(le, _)| *le)
            .unwrap_or(f64::INFINITY)
    }

    /// The classic bucket `(lower, upper]` that holds the median.
    pub fn median_bucket(&self) -> (f64, f64) {
        let upper = self.quantile_upper_bound(0.5);
        let lower = self
            .buckets
            .iter()
            .map(|(le, _)| *le)
            .filter(|le| *le < upper)
            .fold(0.0, f64::max);
        (lower, upper)
    }
}

impl Exposition {
    /// Parses a whole exposition; panics on a malformed line.
    pub fn parse(text: &str) -> Exposition {
        let mut out = Exposition {
            samples: Vec::new(),
            help: BTreeMap::new(),
            types: BTreeMap::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                out.help.insert(name.into(), help.into());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("malformed TYPE line");
                out.types.insert(name.into(), kind.into());
            } else if !line.starts_with('#') {
                out.samples.push(parse_sample(line));
            }
        }
        out
    }

    /// Samples named `name` whose labels include all of `labels`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The verdict on `cgroup` in the metric: (bottleneck, detail) of its
    /// one `pressure_bottleneck` series at 1.
    pub fn verdict(&self, cgroup: &str) -> (String, String) {
        let labels = [("cgroup", cgroup)];
        let ones: Vec<_> = self
            .find("pressure_bottleneck", &labels)
            .filter(|s| s.value == 1.0)
            .collect();
        assert_eq!(
            ones.len(),
            1,
            "pressure_bottleneck{{cgroup=\"{cgroup}\"}} == 1 must be exactly one series: {ones:?}"
        );
        (
            ones[0].labels["bottleneck"].clone(),
            ones[0].labels["detail"].clone(),
        )
    }

    /// The value of the one sample that matches, if any.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.find(name, labels);
        let first = found.next()?.value;
        assert!(
            found.next().is_none(),
            "more than one {name} sample matches {labels:?}"
        );
        Some(first)
    }

    /// The histogram `name` with `labels`, if present.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<ScrapedHistogram> {
        let bucket_name = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .find(&bucket_name, labels)
            .map(|s| {
                let le = s.labels["le"].as_str();
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (bound, s.value)
            })
            .collect();
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        Some(ScrapedHistogram {
            buckets,
            sum: self.value(&format!("{name}_sum"), labels)?,
            count: self.value(&format!("{name}_count"), labels)?,
        })
    }
}

fn parse_sample(line: &str) -> Sample {
    let (name_and_labels, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("malformed sample: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("malformed value in: {line}")),
    };
    let (name, labels) = match name_and_labels.split_once('{') {
        None => (name_and_labels.to_string(), BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("malformed labels: {line}"));
            (name.to_string(), parse_labels(body, line))
        }
    };
    Sample {
        name,
        labels,
        value,
    }
}

fn parse_labels(mut body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body
            .split_once("=\"")
            .unwrap_or_else(|| panic!("malformed labels: {line}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("malformed escape: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        labels.insert(key.trim_start_matches(',').to_string(), value);
        body = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes() {
        let e = Exposition::parse("# TYPE x counter\nx{a=\"1\",b=\"q\\\"z\"} 3\ny 4.5\n");
        assert_eq!(e.value("x", &[("b", "q\"z")]), Some(3.0));
        assert_eq!(e.value("y", &[]), Some(4.5));
        assert_eq!(e.types["x"], "counter");
    }
}
