//! `pressure-probe check`: what this host supports, and whether the probe can run.

use std::{fmt::Display, io::Write};

use anyhow::Result;

use crate::{
    cli::KernelArgs,
    identity::cgroupfs::cgroup2_root,
    kernel::{
        btf::KernelBtf,
        cgroup_state::CgroupState,
        hooks::{HookKind, HookStatus, HookSupport},
        loader,
        offsets::KernelOffsets,
        privileges::Privileges,
        signals::Signal,
    },
};

/// The report, line by line.
struct Report {
    fatal: bool,
}

impl Report {
    fn line(&mut self, item: &str, verdict: Verdict, detail: impl Display) {
        if verdict == Verdict::Fail {
            self.fatal = true;
        }
        // A reader that went away (`check | head`) is no reason to fail.
        let _ = writeln!(
            std::io::stdout(),
            "{:<8} {item:<32} {detail}",
            verdict.as_str()
        );
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

/// Prints the report; `Ok(true)` when the probe can run here (with at least
/// one signal).
pub fn run(args: &KernelArgs) -> Result<bool> {
    let mut report = Report { fatal: false };
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

    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown (securityfs not mounted)".into());
    report.line("lockdown", Verdict::Info, lockdown);

    match cgroup2_root(None) {
        Ok(mount) => report.line("cgroup2 mount", Verdict::Ok, mount.display()),
        Err(err) => report.line("cgroup2 mount", Verdict::Fail, format!("{err:#}")),
    }

    let btf = match KernelBtf::open(&args.btf) {
        Ok(btf) => {
            report.line("btf", Verdict::Ok, args.btf.display());
            btf
        }
        Err(err) => {
            report.line("btf", Verdict::Fail, format!("{err:#}"));
            return Ok(finish(report));
        }
    };
    // `auto` always resolves.
    let state = CgroupState::choose(None, &btf)?;
    match KernelOffsets::resolve(&btf) {
        Ok(offsets) => {
            let list: Vec<String> = offsets
                .globals()
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            report.line("struct offsets", Verdict::Ok, list.join(" "));
            report.line(
                "run-queue clock",
                Verdict::Info,
                offsets.clock_description(),
            );
            report.line("per-cgroup state", Verdict::Info, state.describe());
        }
        Err(err) => report.line("struct offsets", Verdict::Fail, format!("{err:#}")),
    }
    let support = HookSupport {
        btf: &btf,
        disabled: &args.disable_hooks,
    };
    let mut available = 0;
    for signal in Signal::ALL {
        let mut covered: Vec<&str> = Vec::new();
        for hook in signal.hooks() {
            let status = support.status(hook);
            let (verdict, detail) = if status != HookStatus::Available {
                (Verdict::Info, status.to_string())
            } else if hook.kind != HookKind::Fentry {
                (Verdict::Ok, format!("{status}{unprivileged}"))
            } else if !can_trace {
                (
                    Verdict::Info,
                    "present; whether the kernel allows fentry is unknown: finding out means \
                     loading a program, which needs CAP_BPF and CAP_PERFMON (or root)"
                        .to_string(),
                )
            } else {
                match loader::trial_load(&args.btf, hook, state) {
                    Ok(()) => (Verdict::Ok, "available (loaded)".to_string()),
                    Err(err) => (Verdict::Info, format!("refused by the kernel: {err:#}")),
                }
            };
            let detail = match (hook.optional, verdict) {
                (Some(loss), Verdict::Ok) if covered.contains(&loss) => {
                    format!("{detail}; not needed, an earlier alternative is chosen")
                }
                (Some(loss), Verdict::Ok) => {
                    covered.push(loss);
                    format!("{detail}; chosen")
                }
                _ => detail,
            };
            report.line(&format!("hook {hook}"), verdict, detail);
        }
        for hook in signal.hooks() {
            if let Some(loss) = hook.optional
                && !covered.contains(&loss)
            {
                report.line(
                    &format!("signal {signal}"),
                    Verdict::Info,
                    format!("degraded: {loss}"),
                );
                covered.push(loss);
            }
        }
        match signal.unavailable_because(&support) {
            None => {
                available += 1;
                report.line(
                    &format!("signal {signal}"),
                    Verdict::Ok,
                    format!("available{unprivileged}"),
                );
            }
            Some(reason) => report.line(
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
    // SAFETY: utsname is plain data, filled in by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
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
