//! The kernel's lockdown mode: in `confidentiality` the kernel refuses
//! `bpf_probe_read_kernel` to every program (a program that calls it does
//! not load), so the features that need it are left out of the programs
//! (`KERNEL_READS`), and the signals run without them.

use std::fs;

/// What the signals lose where programs may not read kernel memory.
pub const LOSS: &str = "no SYN-queue depth, reads and writes classed file_io (not by what their \
     fd is), requests not classified (every exchange timed as an answer)";

/// Whether programs may call `bpf_probe_read_kernel`: not in
/// `confidentiality` lockdown (the mode in brackets in
/// `/sys/kernel/security/lockdown`; no file: no lockdown LSM, or securityfs
/// not mounted, and no refusal from it).
pub fn kernel_reads_allowed() -> bool {
    fs::read_to_string("/sys/kernel/security/lockdown")
        .map_or(true, |text| mode(&text) != Some("confidentiality"))
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
