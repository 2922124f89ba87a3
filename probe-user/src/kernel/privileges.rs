//! Whether this process may load and attach tracing programs.

use anyhow::{Context, Result};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;
const CAP_DAC_READ_SEARCH: u32 = 2;

/// The capabilities that matter here, from this process's effective set.
#[derive(Debug, Clone, Copy)]
pub struct Privileges {
    effective: u64,
}

impl Privileges {
    /// Reads the effective capability set from `/proc/self/status`.
    pub fn current() -> Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")
            .context("cannot read /proc/self/status")?;
        Ok(Self::from_status(&status))
    }

    fn from_status(status: &str) -> Self {
        let effective = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        Self { effective }
    }

    fn has(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }

    /// Whether tracing programs can be loaded and attached.
    pub fn can_trace(&self) -> bool {
        self.has(CAP_SYS_ADMIN) || (self.has(CAP_BPF) && self.has(CAP_PERFMON))
    }

    /// Whether cgroups can be opened by id (`open_by_handle_at`), which is how
    /// the agent names them and reads their storage.
    pub fn can_open_by_handle(&self) -> bool {
        self.has(CAP_DAC_READ_SEARCH)
    }

    /// Whether everything the agent does is allowed.
    pub fn sufficient(&self) -> bool {
        self.can_trace() && self.can_open_by_handle()
    }

    /// Fails with what to do when the agent cannot work.
    pub fn require(&self) -> Result<()> {
        if self.sufficient() {
            return Ok(());
        }
        anyhow::bail!(
            "insufficient privileges: pressure-probe needs CAP_BPF and CAP_PERFMON to load \
             its eBPF programs and CAP_DAC_READ_SEARCH to open cgroups by id (or root); \
             run as root, e.g. `sudo pressure-probe run`"
        )
    }

    /// The relevant capabilities, for `check`.
    pub fn describe(&self) -> String {
        let names = [
            (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            (CAP_BPF, "CAP_BPF"),
            (CAP_PERFMON, "CAP_PERFMON"),
            (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
        ];
        let held: Vec<_> = names
            .iter()
            .filter(|(cap, _)| self.has(*cap))
            .map(|(_, name)| *name)
            .collect();
        if held.is_empty() {
            "none of CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH".into()
        } else {
            held.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_and_perfmon_suffice() {
        let p = Privileges::from_status("Name:\tx\nCapEff:\t000000c000000004\n");
        assert!(p.can_trace());
        assert!(p.sufficient());
        let p = Privileges::from_status("CapEff:\t000000c000000000\n");
        assert!(p.can_trace());
        assert!(!p.sufficient(), "CAP_DAC_READ_SEARCH is missing");
    }

    #[test]
    fn no_capabilities_is_refused_with_advice() {
        let p = Privileges::from_status("CapEff:\t0000000000000000\n");
        let err = p.require().unwrap_err().to_string();
        assert!(err.contains("CAP_BPF") && err.contains("root"), "{err}");
    }
}
