//! Command-line interface.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    kernel::{btf::DEFAULT_BTF, cgroup_state::CgroupState, loader::Programs, signals::Signal},
    verdict::{
        STORAGE_CLASSES, Thresholds,
        ignore::{Ignored, MAX_IGNORED},
    },
};

/// Default address of the metrics endpoint.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9635";

/// eBPF host pressure probe: per container, which bottleneck it has (CPU,
/// a noisy neighbour, accept queue, dependency, storage, memory) and whether
/// more replicas would help, with the measurements behind it, for Prometheus.
#[derive(Debug, Parser)]
#[command(
    name = "pressure-probe",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PRESSURE_PROBE_REVISION"), ")"),
    about,
    long_about = "eBPF host pressure probe.\n\n\
        Measures, for every cgroup (container) on this host, how long runnable threads \
        wait for a CPU and who preempted them, how long syscalls take by class \
        (file, network, wait, sync, memory, process), how full each TCP listener's \
        accept queue is and how many connections it drops, and how long threads stall \
        reclaiming memory and how many are OOM-killed, with the kernel's own pressure \
        stall information, and how long the remote endpoints it calls take to answer \
        (and how often connects to them fail). From these it names each container's \
        bottleneck and whether more replicas would help, and serves it all as \
        Prometheus metrics, a JSON API and a live view (`pressure-probe top`). Needs root (or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH, \
        and CAP_SYS_PTRACE for the network namespaces of other users' listeners) and a kernel with BTF \
        (CONFIG_DEBUG_INFO_BTF=y).\n\n\
        Start with `pressure-probe check` to see whether this host supports it.\n\n\
        Every option can also be set from the environment: PRESSURE_PROBE_ and its name in \
        capitals, dashes as underscores (PRESSURE_PROBE_LISTEN for --listen); the command \
        line wins."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Agent log verbosity.
    #[arg(env = "PRESSURE_PROBE_LOG_LEVEL", long, global = true, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Log lines as text, or as JSON objects (one per line, for log shippers).
    #[arg(env = "PRESSURE_PROBE_LOG_FORMAT", long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the probe and serve /metrics and /healthz until SIGINT or SIGTERM.
    Run(Box<RunArgs>),
    /// Report what this host supports (kernel, BTF, privileges, cgroup2, hooks);
    /// exits non-zero when the probe cannot run here.
    Check(CheckArgs),
    /// Show the verdict on each container, live: which bottleneck it has and
    /// whether more replicas would help, worst first. Reads the agent on
    /// this node; with no agent there, loads the programs itself (as root).
    Top(TopArgs),
    /// Print the Prometheus recording and alerting rules of the verdict,
    /// made from the same window and thresholds as `run`'s (pass the same
    /// flags): deploy/prometheus/rules.yml is this with the defaults.
    Rules(RulesArgs),
}

impl Command {
    /// Its verdict options, if it has them.
    pub fn verdict(&self) -> Option<&VerdictArgs> {
        match self {
            Command::Run(args) => Some(&args.verdict),
            Command::Rules(args) => Some(&args.verdict),
            Command::Check(_) | Command::Top(_) => None,
        }
    }
}

/// Options of `rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The verdict's window and thresholds.
    #[command(flatten)]
    pub verdict: VerdictArgs,
    /// A Prometheus rule file, or a Prometheus Operator PrometheusRule.
    #[arg(env = "PRESSURE_PROBE_RULES_FORMAT", long = "format", value_enum, default_value_t = RulesFormat::Plain)]
    pub format: RulesFormat,
    /// The PrometheusRule's namespace.
    #[arg(
        env = "PRESSURE_PROBE_RULES_NAMESPACE",
        long = "namespace",
        value_name = "NAME",
        default_value = "pressure-probe"
    )]
    pub namespace: String,
    /// Where the runbooks are (docs/runbooks.md as your users can open it);
    /// each alert links its section.
    #[arg(env = "PRESSURE_PROBE_RUNBOOK_URL", long, value_name = "URL", default_value = DEFAULT_RUNBOOKS)]
    pub runbook_url: String,
    /// Your services' latency objective: the p95 response time, in
    /// seconds, of a listening port (the probe's pressure_request_seconds)
    /// over which the ScaleOutWouldHelp alert fires, for 5 minutes, when the
    /// container's verdict is one that more replicas fix.
    #[arg(env = "PRESSURE_PROBE_LATENCY_P95", long, value_name = "SECONDS", default_value_t = 0.5,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub latency_p95: f64,
}

/// The runbooks in the project's repository.
pub const DEFAULT_RUNBOOKS: &str =
    concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/runbooks.md");

/// How `rules` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// A Prometheus rule file (`rule_files:`).
    Plain,
    /// A `monitoring.coreos.com/v1` PrometheusRule.
    PrometheusRule,
}

/// Options of `top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The agent to read, as http://HOST:PORT or https://HOST:PORT. When
    /// nothing listens there and it is on this host (loopback), `top` loads
    /// the programs itself (needs root) and says so.
    #[arg(env = "PRESSURE_PROBE_FROM", long, value_name = "URL", default_value = DEFAULT_TOP_FROM)]
    pub from: String,
    /// For https://: the CA certificates (PEM) that sign the agent's
    /// certificate (default: Mozilla's roots).
    #[arg(env = "PRESSURE_PROBE_CA_FILE", long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// For an agent that verifies clients: this client's certificate (PEM),
    /// with --client-key.
    #[arg(
        env = "PRESSURE_PROBE_CLIENT_CERT",
        long,
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(
        env = "PRESSURE_PROBE_CLIENT_KEY",
        long,
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// For an agent that asks for a password: the user. The password is read
    /// from the environment variable PRESSURE_PROBE_PASSWORD, never from the
    /// command line (where every user of the host could read it).
    #[arg(env = "PRESSURE_PROBE_USER", long, value_name = "USER")]
    pub user: Option<String>,
    /// Print one plain table, worst first, and exit (for scripts and ssh).
    #[arg(env = "PRESSURE_PROBE_ONCE", long)]
    pub once: bool,
    /// Seconds between two refreshes (fractions allowed, from 0.01).
    #[arg(env = "PRESSURE_PROBE_INTERVAL", long, value_name = "SECONDS", default_value = "1", allow_negative_numbers = true,
          value_parser = parse_interval)]
    pub interval: Duration,
}

/// The agent `top` reads by default: the address `run` listens on by default.
const DEFAULT_TOP_FROM: &str = "http://127.0.0.1:9635";

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to serve /metrics and /healthz on: IP:PORT, or :PORT for every
    /// IPv4 address.
    #[arg(env = "PRESSURE_PROBE_LISTEN", long, value_name = "ADDR", default_value = DEFAULT_LISTEN, value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Seconds between two readings of the kernel (fractions allowed, from
    /// 0.01). Every scrape serves the latest reading, so scrapes cost no
    /// kernel work of their own.
    #[arg(env = "PRESSURE_PROBE_INTERVAL", long, value_name = "SECONDS", default_value = "1", allow_negative_numbers = true,
          value_parser = parse_interval)]
    pub interval: Duration,
    /// Forward the kernel programs' diagnostics (map full, ...) to the agent log
    /// at debug level. Off by default: they cost nothing when off.
    #[arg(env = "PRESSURE_PROBE_EBPF_LOG", long)]
    pub ebpf_log: bool,
    /// Export what the probe's kernel programs cost (runs and run time per
    /// program). Off by default: while on, the kernel times every BPF
    /// program run on the host, two clock reads each.
    #[arg(env = "PRESSURE_PROBE_PROGRAM_STATS", long)]
    pub program_stats: bool,
    /// Signals to measure, comma-separated: runq (run-queue latency and
    /// preemptions), syscall (syscall latency and errors by class), tcp
    /// (accept-queue depth, limit, fill and overflows), dependency (response
    /// and connect times, connect failures, retransmits and connections per
    /// remote endpoint), memory (reclaim stalls and OOM kills), psi (the kernel's pressure stall information
    /// of each tracked cgroup). Default: every signal this kernel supports.
    /// A signal left out attaches nothing.
    #[arg(env = "PRESSURE_PROBE_SIGNALS", long, value_name = "LIST", value_parser = parse_signals)]
    pub signals: Option<SignalList>,
    /// How many cgroups the kernel side lists for export. Bounds its maps (one
    /// entry per cgroup, four preemption pairs per cgroup); past it, events are
    /// counted in pressure_probe_events_lost_total instead.
    #[arg(env = "PRESSURE_PROBE_KERNEL_CGROUPS", long, value_name = "N", default_value_t = probe_common::cgroups::MAX_CGROUPS,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub kernel_cgroups: u32,
    /// How many (cgroup, remote endpoint) pairs the kernel side keeps for
    /// the dependency signal; past it, events are counted in
    /// pressure_probe_events_lost_total{signal="dependency"}.
    #[arg(env = "PRESSURE_PROBE_KERNEL_REMOTES", long, value_name = "N", default_value_t = probe_common::dependency::MAX_REMOTES,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub kernel_remotes: u32,
    /// How many of those pairs one container (cgroup) may hold, so that a
    /// container that connects to thousands of remotes (a scan, a flood of
    /// connects to closed ports) cannot take the room of every other; past
    /// it, its new pairs' events are counted in
    /// pressure_probe_events_lost_total{reason="remotes_per_container"}.
    /// Default: a quarter of --kernel-remotes.
    #[arg(env = "PRESSURE_PROBE_KERNEL_REMOTES_PER_CONTAINER", long, value_name = "N",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub kernel_remotes_per_container: Option<u32>,
    /// At most this many remote endpoints per container get series of their
    /// own (the busiest over the last minutes); the rest are summed into
    /// remote="other".
    #[arg(env = "PRESSURE_PROBE_MAX_REMOTES", long, value_name = "N", default_value_t = 20, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_remotes: u32,
    /// At most this many listening ports per container get request series
    /// of their own (the busiest over the last minutes); the rest are
    /// summed into port="other".
    #[arg(env = "PRESSURE_PROBE_MAX_PORTS", long, value_name = "N", default_value_t = 8, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_ports: u32,
    /// At most this many cgroups get series of their own; the signals of the
    /// rest are summed into series labelled cgroup="other"
    /// (pressure_probe_cgroups_folded says how many).
    #[arg(env = "PRESSURE_PROBE_MAX_CGROUPS", long, value_name = "N", default_value_t = 1000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_cgroups: u32,
    /// The host's cgroup2 mount. Default: the first cgroup2 mount in
    /// /proc/self/mountinfo. In a container, point it at a read-only mount of
    /// the host's /sys/fs/cgroup (the container's own is its cgroup
    /// namespace only).
    #[arg(env = "PRESSURE_PROBE_CGROUP_ROOT", long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
    /// The kubelet's pods cgroup, as a path below the cgroup2 root, for a
    /// kubelet started with its own --cgroup-root (e.g.
    /// /kubelet.slice/kubelet-kubepods.slice); repeatable. Default:
    /// /kubepods.slice or /kubepods at the top of the hierarchy, where the
    /// kubelet puts pods by default. Cgroups elsewhere never get pod labels,
    /// whatever their names.
    #[arg(env = "PRESSURE_PROBE_KUBEPODS_ROOT", long, value_name = "PATH", value_parser = parse_cgroup_path)]
    pub kubepods_root: Vec<String>,
    /// Folder holding the kubelet's `pods/` and `containers/` log folders,
    /// where Kubernetes namespace, pod and container names are read from.
    #[arg(
        env = "PRESSURE_PROBE_LOG_ROOT",
        long,
        value_name = "DIR",
        default_value = "/var/log"
    )]
    pub log_root: PathBuf,
    /// Where the kernel keeps per-cgroup state: `storage` (cgroup local
    /// storage, Linux 6.2+: cheapest, freed with the cgroup), `hash` (hash
    /// maps keyed by cgroup id, any kernel), or `auto` (storage when the
    /// kernel has it).
    #[arg(env = "PRESSURE_PROBE_CGROUP_STATE", long, value_enum, value_name = "KIND", default_value_t = CgroupStateChoice::Auto)]
    pub cgroup_state: CgroupStateChoice,
    /// Which programs to attach: `probe` (the real ones) or `empty` (programs
    /// that do nothing, on the same hooks: the overhead floor, for benchmarks).
    #[arg(env = "PRESSURE_PROBE_PROGRAMS", long, value_enum, default_value_t = ProgramSet::Probe, hide = true)]
    pub programs: ProgramSet,
    /// Kernel options.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// HTTP endpoint bounds.
    #[command(flatten)]
    pub http: HttpArgs,
    /// The verdict's window and thresholds.
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

impl RunArgs {
    /// The pairs of the kernel's (cgroup, remote) map one cgroup may hold:
    /// as given, or a quarter of the map.
    pub fn kernel_remotes_per_container(&self) -> u32 {
        self.kernel_remotes_per_container
            .unwrap_or((self.kernel_remotes / 4).max(1))
    }
}

/// The verdict's window and thresholds (the rule is in the README, section
/// Verdict).
#[derive(Debug, Args, Clone)]
pub struct VerdictArgs {
    /// Seconds of recent past each verdict judges.
    #[arg(env = "PRESSURE_PROBE_WINDOW", long, value_name = "SECONDS", default_value = "60", allow_negative_numbers = true,
          value_parser = parse_seconds)]
    pub window: Duration,
    /// CPU pressure: the time a container's threads waited for a CPU over
    /// the window, summed over its threads, as a share of the window.
    #[arg(env = "PRESSURE_PROBE_CPU_WAIT_SHARE", long, value_name = "SHARE", default_value_t = Thresholds::default().cpu_wait_share,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub cpu_wait_share: f64,
    /// CPU pressure is `cpu` (its own doing, more replicas help) when at
    /// least this share of the time its threads waited behind someone was
    /// behind its own threads or throttled at its CPU quota; else
    /// `cpu_neighbour`.
    #[arg(env = "PRESSURE_PROBE_CPU_OWN_SHARE", long, value_name = "SHARE", default_value_t = Thresholds::default().cpu_own_share,
          allow_negative_numbers = true, value_parser = parse_share)]
    pub cpu_own_share: f64,
    /// Accept-queue pressure: a listener's fill (depth / limit), now or at
    /// the p95 of the connections queued over the window.
    #[arg(env = "PRESSURE_PROBE_ACCEPT_FILL", long, value_name = "FILL", default_value_t = Thresholds::default().accept_fill,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub accept_fill: f64,
    /// Storage pressure: the p95 duration, in seconds, of a container's
    /// sync (fsync...) or file_io syscalls over the window (over it when 5%
    /// or more of at least 20 calls take longer; the kernel counts them, so
    /// `run` and `rules` must be given the same value).
    #[arg(env = "PRESSURE_PROBE_STORAGE_P95", long, value_name = "SECONDS", default_value_t = Thresholds::default().storage_p95,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub storage_p95: f64,
    /// Dependency pressure: the p95 time, in seconds, a remote endpoint took
    /// to answer a container's requests over the window (over it when 5% or
    /// more of at least 20 answers take longer; the kernel counts them, so
    /// `run` and `rules` must be given the same value).
    #[arg(env = "PRESSURE_PROBE_DEPENDENCY_P95", long, value_name = "SECONDS", default_value_t = Thresholds::default().dependency_p95,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub dependency_p95: f64,
    /// Memory pressure: the time a container stalled on memory (reclaim, or
    /// the kernel's PSI), as a share of the window.
    #[arg(env = "PRESSURE_PROBE_MEMORY_STALL_SHARE", long, value_name = "SHARE", default_value_t = Thresholds::default().memory_stall_share,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub memory_stall_share: f64,
    /// Workers pressure: the p95 time, in seconds, requests waited for the
    /// application to read them (for a worker) on one of a container's
    /// listening ports over the window (over it when 5% or more of at
    /// least 20 requests wait longer; the kernel counts them, so `run` and
    /// `rules` must be given the same value). The default, 50 ms: a
    /// request read at once waits microseconds, and one that waits 50 ms
    /// for a worker has lost a large part of a typical latency objective
    /// before any work on it began.
    #[arg(env = "PRESSURE_PROBE_QUEUE_P95", long, value_name = "SECONDS", default_value_t = Thresholds::default().queue_p95,
          allow_negative_numbers = true, value_parser = parse_positive)]
    pub queue_p95: f64,
    /// Fewest observations (waits, syscalls, queued connections, a remote's
    /// answers or failed connects) over the window for a pressure to count
    /// at all (a p95 needs 20 whatever this says: with fewer, it is the
    /// largest of them).
    #[arg(env = "PRESSURE_PROBE_MIN_EVENTS", long, value_name = "N", default_value_t = Thresholds::default().min_events,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_events: u64,
    /// A remote endpoint that answers late by design (a long poll the probe
    /// cannot tell by its first bytes: a Kafka fetch with a max wait, a
    /// long-polling HTTP API, a broker's consumer): `IP:PORT` (`[IPv6]:PORT`),
    /// `IP` (any port) or `:PORT` (any host); an IPv4-mapped IPv6 address
    /// is its IPv4 address, as the `remote` label writes it. Its response
    /// times stay in the metrics and leave dependency pressure (its failed
    /// connects still count). Repeatable, at most 64 endpoints; the
    /// environment variable takes a comma-separated list.
    #[arg(
        env = "PRESSURE_PROBE_DEPENDENCY_IGNORE",
        long,
        value_name = "ENDPOINT",
        value_delimiter = ','
    )]
    pub dependency_ignore: Vec<Ignored>,
}

impl VerdictArgs {
    /// What is wrong with them together (each value was checked alone).
    pub fn check(&self) -> Result<(), String> {
        let ignored = self.thresholds().dependency_ignore.len();
        if ignored > MAX_IGNORED {
            return Err(format!(
                "--dependency-ignore names {ignored} endpoints; at most {MAX_IGNORED} \
                 (each is a term of the rules' regular expressions)"
            ));
        }
        Ok(())
    }

    /// The rule's thresholds (the ignored endpoints without duplicates).
    pub fn thresholds(&self) -> Thresholds {
        let mut dependency_ignore = Vec::new();
        for ignored in &self.dependency_ignore {
            if !dependency_ignore.contains(ignored) {
                dependency_ignore.push(*ignored);
            }
        }
        Thresholds {
            cpu_wait_share: self.cpu_wait_share,
            cpu_own_share: self.cpu_own_share,
            accept_fill: self.accept_fill,
            storage_p95: self.storage_p95,
            dependency_p95: self.dependency_p95,
            memory_stall_share: self.memory_stall_share,
            queue_p95: self.queue_p95,
            min_events: self.min_events,
            dependency_ignore,
            storage_classes: &STORAGE_CLASSES,
        }
    }
}

/// Bounds on the HTTP endpoint.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Most HTTP connections open at once. At the bound, a new connection
    /// replaces one with no request in progress: the oldest that never had
    /// an answer, else the one idle longest. So /healthz and /metrics answer
    /// even when many idle or slow clients hold connections, and a flood of
    /// connections that send nothing does not close a scraper's.
    #[arg(env = "PRESSURE_PROBE_HTTP_MAX_CONNECTIONS", long = "http-max-connections", value_name = "N", default_value_t = 128,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers (from connecting, or
    /// from the end of its previous request on a kept-alive connection);
    /// then the connection is closed.
    #[arg(env = "PRESSURE_PROBE_HTTP_HEADER_TIMEOUT", long = "http-header-timeout", value_name = "SECONDS", default_value = "10",
          allow_negative_numbers = true, value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// A web configuration file in the format Prometheus exporters share:
    /// TLS (`tls_server_config`: cert_file, key_file, client_ca_file,
    /// client_auth_type, min_version, max_version) and basic authentication
    /// (`basic_auth_users`: user: bcrypt hash, as `htpasswd -nBC 10 USER`
    /// makes). Relative names are relative to the file's folder; the file
    /// and the certificates are read again when they change. /healthz needs
    /// no password. Without it: plain HTTP, no authentication.
    #[arg(
        env = "PRESSURE_PROBE_WEB_CONFIG",
        long = "web-config",
        value_name = "FILE"
    )]
    pub web_config: Option<PathBuf>,
    /// Seconds a request may take before it is answered 503; and seconds a
    /// client has to read an answer once it is ready, after which the
    /// connection is closed (a client that stops reading holds no answer,
    /// nor the memory of the sample it was encoded from, past it).
    #[arg(env = "PRESSURE_PROBE_HTTP_REQUEST_TIMEOUT", long = "http-request-timeout", value_name = "SECONDS", default_value = "30",
          allow_negative_numbers = true, value_parser = parse_seconds)]
    pub request_timeout: Duration,
}

/// Options of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Kernel options.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// `text` for a person, `json` for a program.
    #[arg(env = "PRESSURE_PROBE_FORMAT", long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `--format` of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned lines.
    Text,
    /// One JSON document.
    Json,
}

impl From<ReportFormat> for crate::check::Format {
    fn from(format: ReportFormat) -> Self {
        match format {
            ReportFormat::Text => crate::check::Format::Text,
            ReportFormat::Json => crate::check::Format::Json,
        }
    }
}

/// Options shared by `run` and `check`.
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// Kernel BTF to read types, field offsets and tracepoints from.
    #[arg(env = "PRESSURE_PROBE_BTF", long, value_name = "PATH", default_value = DEFAULT_BTF)]
    pub btf: PathBuf,
    /// Never use this kernel hook (repeatable), e.g. `tp_btf/sk_data_ready`
    /// to take its alternative `fentry/sock_def_readable` instead: to work
    /// around a kernel bug in one hook, or to compare hooks. A signal that
    /// needs a disabled hook does not run (or, named in --signals, stops the
    /// agent from starting). `check` lists every hook.
    #[arg(env = "PRESSURE_PROBE_DISABLE_HOOK", long = "disable-hook", value_name = "HOOK", value_parser = parse_hook)]
    pub disable_hooks: Vec<String>,
}

/// `--cgroup-state`: where per-cgroup state lives in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CgroupStateChoice {
    /// Local storage where the kernel has it, else hash maps.
    Auto,
    /// Cgroup local storage (Linux 6.2+).
    Storage,
    /// Hash maps keyed by cgroup id.
    Hash,
}

impl CgroupStateChoice {
    /// The state asked for; `None` lets the kernel decide.
    pub fn requested(self) -> Option<CgroupState> {
        match self {
            CgroupStateChoice::Auto => None,
            CgroupStateChoice::Storage => Some(CgroupState::Storage),
            CgroupStateChoice::Hash => Some(CgroupState::Hash),
        }
    }
}

/// `--programs`: which programs to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgramSet {
    /// The measuring programs.
    Probe,
    /// Empty programs on the same hooks (benchmark floor).
    Empty,
}

impl From<ProgramSet> for Programs {
    fn from(set: ProgramSet) -> Programs {
        match set {
            ProgramSet::Probe => Programs::Probe,
            ProgramSet::Empty => Programs::Floor,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Start-up, shutdown and degraded features.
    Info,
    /// Per-scrape details and kernel diagnostics.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// `IP:PORT`, or `:PORT` for every IPv4 address (as other exporters take it).
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_string(),
    };
    full.parse().map_err(|_| {
        "expected IP:PORT or :PORT, for example 0.0.0.0:9635, [::1]:9635 or :9635".to_string()
    })
}

/// The signals named in `--signals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalList(pub Vec<Signal>);

fn parse_signals(value: &str) -> Result<SignalList, String> {
    let known = || {
        Signal::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    value
        .split(',')
        .map(|name| match name.trim() {
            "" => Err(format!(
                "an empty signal name in {value:?} (a stray comma?); known: {}",
                known()
            )),
            name => Signal::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| format!("unknown signal {name:?}; known: {}", known())),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(SignalList)
}

fn parse_positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("expected a number above 0".into()),
    }
}

fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) && v > 0.0 => Ok(v),
        _ => Err("expected a share above 0 and at most 1, such as 0.3".into()),
    }
}

fn parse_interval(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(seconds) if (0.01..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err("expected seconds from 0.01 to 3600, such as 1 or 0.25".into()),
    }
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(seconds @ 1..=3600) => Ok(Duration::from_secs(seconds)),
        _ => Err("expected a whole number of seconds from 1 to 3600".into()),
    }
}

fn parse_cgroup_path(value: &str) -> Result<String, String> {
    if value.starts_with('/') && value.len() > 1 {
        Ok(value.to_string())
    } else {
        Err("expected a cgroup path below the cgroup2 root, such as /kubepods.slice".into())
    }
}

fn parse_hook(value: &str) -> Result<String, String> {
    let known: Vec<String> = Signal::ALL
        .iter()
        .flat_map(|signal| signal.needs())
        .flat_map(|need| need.hooks)
        .map(ToString::to_string)
        .collect();
    if known.iter().any(|name| name == value) {
        Ok(value.to_string())
    } else {
        Err(format!("unknown hook; known: {}", known.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn verdict_of(ignored: &str) -> VerdictArgs {
        let cli = Cli::try_parse_from(["pressure-probe", "rules", "--dependency-ignore", ignored])
            .unwrap();
        cli.command.verdict().unwrap().clone()
    }

    #[test]
    fn ignored_endpoints_are_bounded_and_kept_once() {
        let many: Vec<String> = (1..=MAX_IGNORED + 1).map(|p| format!(":{p}")).collect();
        assert!(verdict_of(&many.join(",")).check().is_err());
        assert!(verdict_of(&many[..MAX_IGNORED].join(",")).check().is_ok());
        let twice = verdict_of(":80,:80,[::ffff:10.0.0.1]:5432,10.0.0.1:5432");
        assert_eq!(twice.thresholds().dependency_ignore.len(), 2);
        assert!(twice.check().is_ok());
    }
}
