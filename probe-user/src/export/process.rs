//! The agent's own process, as every Prometheus client library exports it
//! (`process_*`): CPU time, memory, file descriptors, start time.

use procfs::{
    WithCurrentSystemInfo,
    process::{LimitValue, Process},
};

use super::model::{Family, Kind, single};

/// The `process_*` families of this process (none of those it cannot read).
pub fn families() -> Vec<Family> {
    let Ok(me) = Process::myself() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        out.push(single(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            Kind::Counter,
            (stat.utime + stat.stime) as f64 / ticks,
        ));
        out.push(single(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Kind::Gauge,
            stat.rss_bytes().get() as f64,
        ));
        out.push(single(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Kind::Gauge,
            stat.vsize as f64,
        ));
        if let Ok(boot) = procfs::boot_time_secs() {
            out.push(single(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Kind::Gauge,
                boot as f64 + stat.starttime as f64 / ticks,
            ));
        }
    }
    if let Ok(count) = me.fd_count() {
        out.push(single(
            "process_open_fds",
            "Number of open file descriptors.",
            Kind::Gauge,
            count as f64,
        ));
    }
    if let Ok(limits) = me.limits()
        && let LimitValue::Value(max) = limits.max_open_files.soft_limit
    {
        out.push(single(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            Kind::Gauge,
            max as f64,
        ));
    }
    out
}
