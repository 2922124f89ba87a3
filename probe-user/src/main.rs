//! pressure-probe: per-container pressure signals from eBPF, for Prometheus
//! (the agent is the library's `main`).

fn main() -> std::process::ExitCode {
    pressure_probe::main()
}
