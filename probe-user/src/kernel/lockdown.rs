//! The kernel's lockdown mode: in `confidentiality` the kernel refuses
//! `bpf_probe_read_kernel` to every program (a program that calls it does
//! not load), so the features that need it are left out of the programs
//! (`KERNEL_READS`), and the signals run without them.

use std::fs;

use crate::kernel::signals::Signal;

/// What each signal loses where programs may not read kernel memory.
pub const LOSSES: [(Signal, &str); 4] = [
    (
        Signal::Syscall,
        "reads and writes classed file_io, not by what their fd is (storage pressure is \
         judged on sync alone)",
    ),
    (Signal::Tcp, "no SYN-queue depth"),
    (
        Signal::Dependency,
        "requests not classified: every exchange timed as an answer, and none on \
         connections older than the agent",
    ),
    (
        Signal::Requests,
        "responses not read: no http_5xx errors, and TLS handshakes and HTTP/2 servers' \
         exchanges timed as answers",
    ),
];

/// The text of `/sys/kernel/security/lockdown` (the modes, the one in
/// force in brackets); `None` without a lockdown LSM or securityfs.
pub fn modes() -> Option<String> {
    fs::read_to_string("/sys/kernel/security/lockdown")
        .ok()
        .map(|text| text.trim().to_string())
}

/// Whether programs may call `bpf_probe_read_kernel`: not in
/// `confidentiality` lockdown (no lockdown file: no refusal from it).
pub fn kernel_reads_allowed() -> bool {
    modes().is_none_or(|text| mode(&text) != Some("confidentiality"))
}

/// The mode in brackets of the lockdown file's text.
fn mode(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find_map(|word| word.strip_prefix('[')?.strip_suffix(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_in_brackets() {
        assert_eq!(
            mode("none [integrity] confidentiality\n"),
            Some("integrity")
        );
        assert_eq!(
            mode("none integrity [confidentiality]"),
            Some("confidentiality")
        );
        assert_eq!(mode("[none] integrity confidentiality"), Some("none"));
        assert_eq!(mode(""), None);
    }
}
