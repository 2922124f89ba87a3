//! Where a command's time goes: each step is timed as it runs, and the
//! command ends with one line per step (`xtask: took ...`), whether it
//! passed or not.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Result;

/// The steps timed so far: (name, time, whether it passed).
static TIMED: Mutex<Vec<(String, Duration, bool)>> = Mutex::new(Vec::new());

/// Runs `step` as the step `name` and records how long it took.
pub fn timed<T>(name: impl Into<String>, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let name = name.into();
    let started = Instant::now();
    let result = step();
    record(name, started.elapsed(), result.is_ok());
    result
}

/// Records a step that ran elsewhere (a guest's run, timed by its thread),
/// and says at once that it ended.
pub fn record(name: impl Into<String>, took: Duration, passed: bool) {
    let name = name.into();
    eprintln!(
        "xtask: {name}: {} in {}",
        if passed { "done" } else { "FAILED" },
        minutes(took).trim_start()
    );
    TIMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((name, took, passed));
}

/// Prints one line per step in the order they ended, and the command's
/// whole time since `started`.
pub fn report(started: Instant) {
    let timed = TIMED.lock().unwrap_or_else(|p| p.into_inner());
    if timed.is_empty() {
        return;
    }
    let width = timed.iter().map(|(name, ..)| name.len()).max().unwrap_or(0);
    for (name, took, passed) in timed.iter() {
        let line = format!(
            "xtask: took {}  {name:<width$}  {}",
            minutes(*took),
            if *passed { "" } else { "FAILED" }
        );
        eprintln!("{}", line.trim_end());
    }
    eprintln!("xtask: took {}  in all", minutes(started.elapsed()));
}

/// `m:ss`, right-aligned for a column.
fn minutes(took: Duration) -> String {
    let seconds = took.as_secs();
    format!("{:>3}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_line_up() {
        assert_eq!(minutes(Duration::from_secs(0)), "  0:00");
        assert_eq!(minutes(Duration::from_millis(61_900)), "  1:01");
        assert_eq!(minutes(Duration::from_secs(25 * 60 + 7)), " 25:07");
    }
}
