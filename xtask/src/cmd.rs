//! Running commands: echo them, fail with the command line in the error.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The cache of downloads kept across clones (pinned PyPI tools, kernel
/// packages): `$XDG_CACHE_HOME/pressure-probe`, else
/// `$HOME/.cache/pressure-probe`, else the workspace's `target/xtask/cache`.
pub fn download_cache() -> PathBuf {
    let home_cache = || std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache"));
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(home_cache)
        .map(|dir| dir.join("pressure-probe"))
        .unwrap_or_else(|| workspace_root().join("target/xtask/cache"))
}

/// Runs `command`, printing it first; an error names it and its exit status.
pub fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command`, printing it first, with its standard error shown; returns
/// its standard output. An error names it and its exit status.
pub fn run_for_output(command: &mut Command) -> Result<String> {
    eprintln!("xtask: running {}", describe(command));
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !out.status.success() {
        bail!("{} failed ({})", describe(command), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `command` quietly and returns its standard output, or `None` when it
/// cannot start or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a program is on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
