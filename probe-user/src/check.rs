//! `pressure-probe check`: what this host supports, and whether the probe can run.

use std::{fmt::Display, io::Write, path::Path};

use anyhow::Result;

use crate::{
    identity::cgroupfs::cgroup2_root,
    kernel::{
        btf::KernelBtf,
        cgroup_state::CgroupState,
        hooks::{HookStatus, HookSupport},
        loader, lockdown,
        offsets::{KernelOffsets, PayloadOffsets, SyscallOffsets, TcpOffsets},
        privileges::Privileges,
        signals::Signal,
    },
};

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned lines for a person, written as they are found.
    Text,
    /// One JSON document for a program: `{"can_run": bool, "checks":
    /// [{"item", "verdict", "detail"}]}`.
    Json,
}

/// The report, line by line.
struct Report {
    format: Format,
    fatal: bool,
    checks: Vec<serde_json::Value>,
}

impl Report {
    fn line(&mut self, item: &str, verdict: Verdict, detail: impl Display) {
        if verdict == Verdict::Fail {
            self.fatal = true;
        }
        match self.format {
            // A reader that went away (`check | head`) is no reason to fail.
            Format::Text => {
                let _ = writeln!(
                    std::io::stdout(),
                    "{:<8} {item:<32} {detail}",
                    verdict.as_str()
                );
            }
            Format::Json => self.checks.push(serde_json::json!({
                "item": item,
                "verdict": verdict.as_str().to_lowercase(),
                "detail": detail.to_string(),
            })),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Info,
    Fail,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Info => "info",
            Verdict::Fail => "FAIL",
        }
    }
}

/// Prints the report on the kernel BTF at `btf_path`, without the hooks
/// `disabled`; `Ok(true)` when the probe can run here (with at least one
/// signal).
pub fn run(btf_path: &Path, disabled: &[String], format: Format) -> Result<bool> {
    let mut report = Report {
        format,
        fatal: false,
        checks: Vec::new(),
    };
    report.line("kernel", Verdict::Info, kernel_release());

    let can_trace = Privileges::current().is_ok_and(|p| p.can_trace());
    // What the kernel offers is one thing, what this process may use another.
    let unprivileged = if can_trace {
        ""
    } else {
        " in the kernel (this process lacks the privileges to use it)"
    };
    match Privileges::current() {
        Ok(p) if p.sufficient() => report.line("privileges", Verdict::Ok, p.describe()),
        Ok(p) => report.line(
            "privileges",
            Verdict::Fail,
            format!(
                "{}: needs CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH, or root",
                p.describe()
            ),
        ),
        Err(err) => report.line("privileges", Verdict::Fail, format!("{err:#}")),
    }

    let modes = lockdown::modes().unwrap_or_else(|| "unknown (securityfs not mounted)".into());
    report.line("lockdown", Verdict::Info, modes);

    match cgroup2_root(None) {
        Ok(mount) => report.line("cgroup2 mount", Verdict::Ok, mount.display()),
        Err(err) => report.line("cgroup2 mount", Verdict::Fail, format!("{err:#}")),
    }

    let btf = match KernelBtf::open(btf_path) {
        Ok(btf) => {
            report.line("btf", Verdict::Ok, btf_path.display());
            btf
        }
        Err(err) => {
            report.line("btf", Verdict::Fail, format!("{err:#}"));
            return Ok(finish(report));
        }
    };
    // `auto` always resolves.
    let state = CgroupState::choose(None, &btf)?;
    let mut globals = Vec::new();
    match KernelOffsets::resolve(&btf) {
        Ok(offsets) => {
            globals = offsets.globals();
            let list: Vec<String> = globals
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            report.line("struct offsets", Verdict::Ok, list.join(" "));
            report.line(
                "run-queue clock",
                Verdict::Info,
                offsets.clock_description(),
            );
            report.line(
                "throttled tasks",
                Verdict::Info,
                offsets.throttle_description(),
            );
            report.line("per-cgroup state", Verdict::Info, state.describe());
        }
        Err(err) => report.line("struct offsets", Verdict::Fail, format!("{err:#}")),
    }
    // The TCP hooks without a floor program read sockets: trial-loaded
    // with the offsets the agent would set.
    if let Ok(tcp) = TcpOffsets::resolve(&btf) {
        globals.extend(tcp.globals());
    }
    // Offsets a signal runs without, with less.
    let optional = [
        (
            Signal::Dependency,
            PayloadOffsets::LOSS,
            PayloadOffsets::resolve(&btf).err(),
        ),
        (
            Signal::Syscall,
            SyscallOffsets::LOSS,
            SyscallOffsets::resolve(&btf).err(),
        ),
    ];
    for (signal, loss, err) in optional {
        if let Some(err) = err {
            report.line(
                &format!("signal {signal}"),
                Verdict::Info,
                format!("degraded: {loss}: {err:#}"),
            );
        }
    }
    if !lockdown::kernel_reads_allowed() {
        for (signal, loss) in lockdown::LOSSES {
            report.line(
                &format!("signal {signal}"),
                Verdict::Info,
                format!("degraded: {loss}: lockdown confidentiality refuses bpf_probe_read_kernel"),
            );
        }
    }
    // The maps every program shares: a kernel that cannot make one (task
    // local storage before 5.11) refuses the whole object, every signal.
    if can_trace {
        match loader::trial_load(btf_path, state, &globals) {
            Ok(()) => report.line("maps", Verdict::Ok, "the kernel makes every map"),
            Err(err) => report.line("maps", Verdict::Fail, format!("{err:#}")),
        }
    }
    let support = HookSupport {
        btf: &btf,
        disabled,
    };
    let mut available = 0;
    for signal in Signal::ALL {
        for need in signal.needs() {
            // The first hook the kernel takes is the one the agent attaches.
            let mut chosen = false;
            for hook in need.hooks {
                let status = support.status(hook);
                let (verdict, detail) = if status != HookStatus::Available {
                    (Verdict::Info, status.to_string())
                } else if !hook.kind.is_trampoline() {
                    (Verdict::Ok, format!("{status}{unprivileged}"))
                } else if !can_trace {
                    (
                        Verdict::Info,
                        "present; whether the kernel allows fentry is unknown: finding out \
                         means loading a program, which needs CAP_BPF and CAP_PERFMON (or root)"
                            .to_string(),
                    )
                } else {
                    match loader::trial_attach(btf_path, hook, state, &globals) {
                        Ok(()) => (Verdict::Ok, "available (attached)".to_string()),
                        Err(err) => (Verdict::Info, format!("refused by the kernel: {err:#}")),
                    }
                };
                let detail = match verdict {
                    Verdict::Ok if need.hooks.len() > 1 && chosen => {
                        format!("{detail}; not needed, an earlier alternative is chosen")
                    }
                    Verdict::Ok if need.hooks.len() > 1 => format!("{detail}; chosen"),
                    _ => detail,
                };
                chosen |= verdict == Verdict::Ok;
                report.line(&format!("hook {hook}"), verdict, detail);
            }
            if let Some(loss) = need.without
                && !chosen
            {
                report.line(
                    &format!("signal {signal}"),
                    Verdict::Info,
                    format!("degraded: {loss}"),
                );
            }
        }
        match signal.plan(&support) {
            Ok(_) => {
                available += usize::from(!signal.companion());
                report.line(
                    &format!("signal {signal}"),
                    Verdict::Ok,
                    format!("available{unprivileged}"),
                );
            }
            Err(reason) => report.line(
                &format!("signal {signal}"),
                Verdict::Info,
                format!("unavailable: {reason}"),
            ),
        }
    }
    if available == 0 {
        report.line("signals", Verdict::Fail, "no signal can run on this kernel");
    }
    Ok(finish(report))
}

fn finish(report: Report) -> bool {
    if report.format == Format::Json {
        let document = serde_json::json!({ "can_run": !report.fatal, "checks": report.checks });
        let _ = writeln!(std::io::stdout(), "{document}");
        return !report.fatal;
    }
    if report.fatal {
        let _ = writeln!(
            std::io::stdout(),
            "pressure-probe cannot run on this host: see the FAIL lines above"
        );
    } else {
        let _ = writeln!(std::io::stdout(), "pressure-probe can run on this host");
    }
    !report.fatal
}

fn kernel_release() -> String {
    // SAFETY: utsname is plain data; all zeroes is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct it is given.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} ({})",
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.machine)
    )
}
