//! What `top` shows: the API's answer (`GET /api/v1/containers`), read
//! back into rows, sorted and filtered, and printed as a plain table.

use std::fmt::Write;

use crate::api::{self, Container};

/// The API's answer, as `top` reads it.
pub type Overview = api::Document;

impl Container {
    /// `namespace/pod container` for Kubernetes containers, else the cgroup.
    pub fn name(&self) -> String {
        let label = |name: &str| self.labels.get(name).filter(|v| !v.is_empty());
        match (label("namespace"), label("pod"), label("container")) {
            (Some(ns), Some(pod), Some(c)) => format!("{ns}/{pod} {c}"),
            (Some(ns), Some(pod), None) => format!("{ns}/{pod}"),
            _ => label("cgroup").cloned().unwrap_or_default(),
        }
    }

    /// How many times over its threshold the worst pressure is (0: none).
    pub fn score(&self) -> f64 {
        self.pressures.first().map_or(0.0, |p| p.score)
    }

    fn storage_p95(&self) -> f64 {
        ["sync", "file_io"]
            .iter()
            .filter_map(|class| self.evidence.syscalls.get(*class))
            .filter_map(|l| l.p95_seconds)
            .fold(0.0, f64::max)
    }

    fn dependency_p95(&self) -> f64 {
        let deps = &self.evidence.dependencies;
        deps.iter()
            .filter_map(|d| d.p95_seconds)
            .fold(0.0, f64::max)
    }

    /// Its listening ports' worst p95 response time (the symptom).
    fn request_p95(&self) -> f64 {
        let ports = &self.evidence.requests;
        ports
            .iter()
            .filter_map(|p| p.response.p95_seconds)
            .fold(0.0, f64::max)
    }

    fn memory_stall(&self) -> f64 {
        let psi = self
            .evidence
            .psi
            .as_ref()
            .and_then(|psi| psi.get("memory"))
            .map_or(0.0, |s| s.some_share);
        self.evidence.memory.reclaim_share.max(psi)
    }

    fn fill(&self) -> f64 {
        let ports = &self.evidence.accept_queue.ports;
        ports.iter().map(|p| p.fill_now).fold(0.0, f64::max)
    }

    fn drops(&self) -> u64 {
        self.evidence
            .accept_queue
            .ports
            .iter()
            .map(|p| p.dropped)
            .sum()
    }

    /// Whether `filter` (any case) is in its name, cgroup or verdict.
    pub fn matches(&self, filter: &str) -> bool {
        let filter = filter.to_lowercase();
        [
            self.name(),
            self.labels.get("cgroup").cloned().unwrap_or_default(),
            self.bottleneck.clone(),
        ]
        .iter()
        .any(|text| text.to_lowercase().contains(&filter))
    }

    /// Its cells, in [`COLUMNS`] order, each printable (see [`printable`]).
    pub fn cells(&self) -> [String; COLUMNS.len()] {
        let detail = if self.detail.is_empty() {
            "-".to_string()
        } else {
            printable(&self.detail)
        };
        [
            printable(&self.name()),
            printable(&self.bottleneck),
            detail,
            printable(&self.replicas_help),
            number(self.score(), 1, ""),
            seconds(self.request_p95()),
            share(self.evidence.runqueue.wait_share),
            seconds(self.evidence.runqueue.p95_seconds.unwrap_or(0.0)),
            number(self.fill(), 2, ""),
            number(self.drops() as f64, 0, ""),
            seconds(self.dependency_p95()),
            seconds(self.storage_p95()),
            share(self.memory_stall()),
            number(self.evidence.memory.oom_kills as f64, 0, ""),
        ]
    }
}

/// `text` with every control character (C0, DEL, C1) written as `\xHH`,
/// every bidirectional-text control as `\u{HHHH}`, and every backslash as
/// `\\`: a cgroup name or an answer from `--from` cannot move the cursor,
/// clear the screen, set the window title or reorder what an operator
/// reads, and no name can pass for an escaped one.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The table's columns.
pub const COLUMNS: [&str; 14] = [
    "CONTAINER",
    "VERDICT",
    "DETAIL",
    "REPLICAS?",
    "SCORE",
    "REQ P95",
    "CPU WAIT",
    "RUNQ P95",
    "FILL",
    "DROPS",
    "DEP P95",
    "DISK P95",
    "MEM STALL",
    "OOM",
];

/// `value` with `decimals` and `unit`; `-` for none (zero, negative or
/// not a number); a million or more in exponent form (`1.2e308`), so no
/// answer can print a cell hundreds of digits wide.
fn number(value: f64, decimals: usize, unit: &str) -> String {
    if value.is_nan() || value <= 0.0 {
        "-".into()
    } else if value >= 1e6 {
        format!("{value:.1e}{unit}")
    } else {
        format!("{value:.decimals$}{unit}")
    }
}

fn share(value: f64) -> String {
    number(value * 100.0, 1, "%")
}

fn seconds(value: f64) -> String {
    if value >= 1.0 {
        number(value, 2, "s")
    } else if value >= 1e-3 {
        number(value * 1e3, 1, "ms")
    } else {
        number(value * 1e6, 0, "µs")
    }
}

/// The orders rows can be sorted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Worst pressure first (verdict `none` last).
    Worst,
    /// By name.
    Name,
    /// Slowest requests first.
    Requests,
    /// Most time waiting for a CPU first.
    CpuWait,
    /// Slowest dependency first.
    Dependency,
    /// Slowest storage first.
    Storage,
    /// Most memory stall first.
    Memory,
}

impl SortKey {
    const ALL: [SortKey; 7] = [
        SortKey::Worst,
        SortKey::Name,
        SortKey::Requests,
        SortKey::CpuWait,
        SortKey::Dependency,
        SortKey::Storage,
        SortKey::Memory,
    ];

    /// The next order (the `s` key).
    pub fn next(self) -> SortKey {
        let at = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }

    /// Its name on screen.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Worst => "worst first",
            SortKey::Name => "name",
            SortKey::Requests => "request p95",
            SortKey::CpuWait => "cpu wait",
            SortKey::Dependency => "dependency p95",
            SortKey::Storage => "disk p95",
            SortKey::Memory => "mem stall",
        }
    }
}

impl Overview {
    /// The containers that match `filter`, in `order` (ties by name).
    pub fn rows(&self, order: SortKey, filter: &str) -> Vec<&Container> {
        let mut rows: Vec<&Container> = self
            .containers
            .iter()
            .filter(|c| filter.is_empty() || c.matches(filter))
            .collect();
        let measure = |c: &Container| match order {
            SortKey::Worst => c.score(),
            SortKey::Name => 0.0,
            SortKey::Requests => c.request_p95(),
            SortKey::CpuWait => c.evidence.runqueue.wait_share,
            SortKey::Dependency => c.dependency_p95(),
            SortKey::Storage => c.storage_p95(),
            SortKey::Memory => c.memory_stall(),
        };
        rows.sort_by(|a, b| {
            measure(b)
                .total_cmp(&measure(a))
                .then_with(|| a.name().cmp(&b.name()))
        });
        rows
    }

    /// One plain table of every container, worst first (`top --once`).
    pub fn plain_table(&self) -> String {
        let rows: Vec<[String; COLUMNS.len()]> = self
            .rows(SortKey::Worst, "")
            .iter()
            .map(|c| c.cells())
            .collect();
        let mut widths = COLUMNS.map(|c| c.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header = COLUMNS.map(String::from);
        for row in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{
      "window_seconds": 60.0, "sample": 7,
      "containers": [
        {"labels": {"cgroup": "/idle"}, "bottleneck": "none", "detail": "",
         "replicas_help": "n/a", "pressures": [],
         "evidence": {"runqueue": {"p95_seconds": 0.0, "wait_share": 0.0}}},
        {"labels": {"cgroup": "/kubepods.slice/x", "namespace": "shop", "pod": "web-1",
                    "container": "nginx"},
         "bottleneck": "accept_queue", "detail": "8080", "replicas_help": "yes",
         "pressures": [{"bottleneck": "accept_queue", "score": 2.0, "detail": "8080"}],
         "evidence": {"runqueue": {"p95_seconds": 0.0002, "wait_share": 0.01},
                      "accept_queue": {"ports": [{"port": 8080, "dropped": 12, "fill_now": 1.125}]},
                      "syscalls": {"sync": {"p95_seconds": 0.004}},
                      "memory": {"reclaim_share": 0.0, "oom_kills": 0},
                      "requests": [{"port": "8080", "response": {"p95_seconds": 0.31}},
                                   {"port": "9090", "response": {"p95_seconds": 0.02}}],
                      "psi": {"memory": {"some_share": 0.02, "full_share": 0.0}}}},
        {"labels": {"cgroup": "/batch"}, "bottleneck": "cpu", "detail": "",
         "replicas_help": "yes",
         "pressures": [{"bottleneck": "cpu", "score": 31.5, "detail": ""}],
         "evidence": {"runqueue": {"p95_seconds": 0.012, "wait_share": 3.15}}}
      ]}"#;

    fn overview() -> Overview {
        serde_json::from_str(ANSWER).unwrap()
    }

    #[test]
    fn worst_first_then_by_name() {
        let overview = overview();
        let names: Vec<String> = overview
            .rows(SortKey::Worst, "")
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(names, ["/batch", "shop/web-1 nginx", "/idle"]);
        let by_name: Vec<String> = overview
            .rows(SortKey::Name, "")
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(by_name, ["/batch", "/idle", "shop/web-1 nginx"]);
    }

    #[test]
    fn the_filter_matches_name_cgroup_or_verdict() {
        let overview = overview();
        assert_eq!(overview.rows(SortKey::Worst, "NGINX").len(), 1);
        assert_eq!(overview.rows(SortKey::Worst, "kubepods").len(), 1);
        assert_eq!(overview.rows(SortKey::Worst, "cpu").len(), 1);
        assert!(overview.rows(SortKey::Worst, "nothing").is_empty());
    }

    #[test]
    fn cells_show_the_evidence_behind_the_verdict() {
        let overview = overview();
        let rows = overview.rows(SortKey::Worst, "");
        assert_eq!(
            rows[1].cells(),
            [
                "shop/web-1 nginx",
                "accept_queue",
                "8080",
                "yes",
                "2.0",
                "310.0ms",
                "1.0%",
                "200µs",
                "1.12",
                "12",
                "-",
                "4.0ms",
                "2.0%",
                "-"
            ]
        );
        assert_eq!(rows[2].cells()[2], "-");
    }

    #[test]
    fn terminal_controls_are_escaped() {
        let evil = "rt-\u{1b}[2J\u{1b}[31mRED\u{1b}]0;pwned\u{7}\r\u{1b}[1A\u{9b}x\u{202e}abc\\x1b";
        let shown = printable(evil);
        assert_eq!(
            shown,
            "rt-\\x1b[2J\\x1b[31mRED\\x1b]0;pwned\\x07\\x0d\\x1b[1A\\x9bx\\u{202e}abc\\\\x1b"
        );
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(printable("shop/web-1 nginx µs"), "shop/web-1 nginx µs");
        let mut answer: serde_json::Value = serde_json::from_str(ANSWER).unwrap();
        let container = &mut answer["containers"][1];
        container["labels"]["namespace"] = evil.into();
        container["detail"] = evil.into();
        container["bottleneck"] = evil.into();
        container["replicas_help"] = evil.into();
        let overview: Overview = serde_json::from_value(answer).unwrap();
        let table = overview.plain_table();
        assert!(
            !table.chars().any(|c| c.is_control() && c != '\n'),
            "{table:?}"
        );
        assert_eq!(table.matches("pwned").count(), 4, "{table}");
    }

    #[test]
    fn huge_numbers_print_in_exponent_form() {
        assert_eq!(number(1e308, 1, ""), "1.0e308");
        assert_eq!(seconds(1e300), "1.0e300s");
        assert_eq!(share(1e10), "1.0e12%");
        assert_eq!(number(999_999.0, 1, ""), "999999.0");
        assert_eq!(number(f64::NAN, 1, ""), "-");
        assert_eq!(number(-1.0, 1, ""), "-");
        assert_eq!(seconds(0.0002), "200µs");
    }

    #[test]
    fn the_plain_table_lines_up() {
        let table = overview().plain_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("CONTAINER"));
        let verdict_at = lines[0].find("VERDICT").unwrap();
        assert_eq!(&lines[1][verdict_at..verdict_at + 3], "cpu");
        assert_eq!(&lines[3][verdict_at..verdict_at + 4], "none");
    }
}
