//! Loads the embedded kernel object with this kernel's offsets and attaches
//! the programs of the chosen signals. Dropping the returned object detaches
//! everything.

use std::path::Path;

use anyhow::{Context, Result};
use aya::{
    Btf, Ebpf, EbpfLoader, Endianness,
    programs::{BtfTracePoint, FEntry, FExit, Iter, RawTracePoint},
};
use aya_log::EbpfLogger;
use probe_common::{
    cgroups, dependency, globals, memory, programs,
    runqueue::{self, WAKEUP_SLOTS},
    syscall, tcp,
};
use tokio::io::unix::AsyncFd;
use tracing::{debug, info, warn};

use crate::kernel::{
    cgroup_state::CgroupState,
    hooks::{self, Hook, HookKind, Planned},
    offsets::{DependencyOffsets, KernelOffsets, PayloadOffsets, SyscallOffsets, TcpOffsets},
    signals::Signal,
};

/// The kernel object built by `cargo xtask build` with per-cgroup state in
/// cgroup local storage (`probe_common::objects::STORAGE`).
static STORAGE_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("PRESSURE_PROBE_EBPF_STORAGE_OBJ"));
/// The same programs with per-cgroup state in hash maps (kernels before
/// 6.2; `probe_common::objects::HASH`).
static HASH_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("PRESSURE_PROBE_EBPF_HASH_OBJ"));

/// `aya_log_common::Level::Debug`: the most verbose level the programs use.
const EBPF_LOG_DEBUG: u8 = 4;

/// The build of the kernel object that keeps per-cgroup state in `state`.
fn object(state: CgroupState) -> Result<&'static [u8]> {
    let object = match state {
        CgroupState::Storage => STORAGE_OBJECT,
        CgroupState::Hash => HASH_OBJECT,
    };
    if object.is_empty() {
        anyhow::bail!(
            "this pressure-probe was built without its kernel programs (its build found no eBPF \
             object): build it with `cargo xtask build`"
        );
    }
    Ok(object)
}

/// Which programs go on the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programs {
    /// The measuring programs.
    Probe,
    /// Programs that do nothing, on the same hooks: the overhead any probe
    /// pays (for benchmarks).
    Floor,
}

/// What to load.
pub struct LoadOptions<'a> {
    /// Kernel BTF the programs attach against.
    pub btf_path: &'a Path,
    /// Struct offsets for this kernel.
    pub offsets: KernelOffsets,
    /// The signals that run (the others' maps are shrunk).
    pub signals: &'a [Signal],
    /// What to attach: the plan of each need of `signals`.
    pub plans: &'a [Planned],
    /// Offsets for the TCP programs, when the TCP or dependency signal runs.
    pub tcp_offsets: Option<TcpOffsets>,
    /// Offsets for the dependency programs, when that signal runs.
    pub dependency_offsets: Option<DependencyOffsets>,
    /// Where the dependency programs read the first bytes a client sends,
    /// when that signal runs and this kernel's BTF has it.
    pub payload_offsets: Option<PayloadOffsets>,
    /// Offsets for classing reads and writes by their file descriptor,
    /// when the syscall signal runs and this kernel's BTF has them.
    pub syscall_offsets: Option<SyscallOffsets>,
    /// Bound of the kernel's (cgroup, remote) map.
    pub kernel_remotes: u32,
    /// The pairs of that map one cgroup may hold.
    pub kernel_remotes_per_container: u32,
    /// Real programs or the empty floor.
    pub programs: Programs,
    /// Forward kernel diagnostics to the agent log.
    pub ebpf_log: bool,
    /// Bound of the kernel's cgroup list.
    pub kernel_cgroups: u32,
    /// Where per-cgroup state lives.
    pub state: CgroupState,
    /// Per syscall class, the duration (ns) above which a call is counted
    /// as slow (`u64::MAX`: not counted).
    pub syscall_slow_ns: [u64; syscall::CLASSES],
    /// The response time (ns) above which an answer is counted as slow.
    pub dependency_slow_ns: u64,
    /// The queue time (ns) above which a request is counted as slow.
    pub queue_slow_ns: u64,
    /// Whether programs may read kernel memory with `bpf_probe_read_kernel`
    /// (`lockdown::kernel_reads_allowed`).
    pub kernel_reads: bool,
}

impl LoadOptions<'_> {
    /// Whether reads and writes are classed by what their fd is: the
    /// programs follow the fd only with the offsets and kernel reads.
    pub fn reads_classed_by_fd(&self) -> bool {
        self.syscall_offsets.is_some() && self.kernel_reads
    }
}

/// A loader that relocates against the BTF at `path`, parsed into `slot`
/// (returned too, for the programs' attach targets). Making an
/// `EbpfLoader` parses the running kernel's BTF; that copy is dropped
/// before `path` is parsed, so that two (about 15 MB each) never coexist.
fn loader_with_btf<'a>(
    path: &Path,
    slot: &'a mut Option<Btf>,
) -> Result<(EbpfLoader<'a>, &'a Btf)> {
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    // Task storage (the syscall and reclaim entries): aya has no user-side
    // type for it, and the agent never reads it.
    loader.allow_unsupported_maps();
    let parsed = Btf::parse_file(path, Endianness::default())
        .with_context(|| format!("cannot parse kernel BTF at {}", path.display()))?;
    let btf: &'a Btf = slot.insert(parsed);
    loader.btf(Some(btf));
    Ok((loader, btf))
}

/// Loads the object and attaches one program per hook (iterators are only
/// loaded: the agent runs them at scrape time). Must
/// run inside a tokio runtime when `ebpf_log` is set (the log reader is a task).
pub fn load_and_attach(options: &LoadOptions<'_>) -> Result<Ebpf> {
    let mut btf_slot = None;
    let (mut loader, btf) = loader_with_btf(options.btf_path, &mut btf_slot)?;
    // One entry per cgroup.
    for map in [
        cgroups::CGROUPS_MAP,
        runqueue::STATE_MAP,
        syscall::STATE_MAP,
        memory::STATE_MAP,
        tcp::FILL_MAP,
        dependency::PAIRS_MADE_MAP,
        dependency::PAIRS_DROPPED_MAP,
    ] {
        loader.map_max_entries(map, options.kernel_cgroups);
    }
    loader.map_max_entries(
        runqueue::PREEMPTIONS_MAP,
        options
            .kernel_cgroups
            .saturating_mul(runqueue::PREEMPTION_PAIRS_PER_CGROUP),
    );
    loader.map_max_entries(dependency::REMOTES_MAP, options.kernel_remotes);
    for signal in Signal::ALL.iter().filter(|s| !options.signals.contains(s)) {
        for map in signal.sized_maps() {
            loader.map_max_entries(map, 1);
        }
    }
    let offsets = options.offsets.globals();
    for (name, value) in &offsets {
        loader.override_global(name, value, true);
    }
    let tcp_globals: Vec<(&str, u64)> = options
        .tcp_offsets
        .iter()
        .flat_map(|t| t.globals())
        .chain(options.dependency_offsets.iter().flat_map(|d| d.globals()))
        .chain(options.syscall_offsets.iter().flat_map(|s| s.globals()))
        .chain(options.payload_offsets.iter().flat_map(|p| p.globals()))
        .collect();
    for (name, value) in &tcp_globals {
        loader.override_global(name, value, true);
    }
    let use_rq_clock = options.offsets.use_rq_clock();
    loader.override_global(globals::USE_RQ_CLOCK, &use_rq_clock, true);
    let throttle_check = options.offsets.throttle_check();
    loader.override_global(globals::THROTTLE_CHECK, &throttle_check, true);
    let wakeup_mask = WAKEUP_SLOTS - 1;
    loader.override_global(globals::WAKEUP_SLOT_MASK, &wakeup_mask, true);
    let (ubuf, iovec) = options.payload_offsets.map_or((0, 1), |p| p.types());
    let syscall_mask = syscall::SLOTS - 1;
    loader.override_global(globals::SYSCALL_SLOT_MASK, &syscall_mask, true);
    let kernel_reads = u8::from(options.kernel_reads);
    loader.override_global(globals::KERNEL_READS, &kernel_reads, true);
    let peek = u8::from(options.payload_offsets.is_some() && options.kernel_reads);
    loader.override_global(globals::ITER_UBUF_TYPE, &ubuf, true);
    loader.override_global(globals::ITER_IOVEC_TYPE, &iovec, true);
    loader.override_global(globals::PEEK_PAYLOAD, &peek, true);
    let compat_mask = options.syscall_offsets.map_or(0, |s| s.compat_mask());
    loader.override_global(globals::SYSCALL_COMPAT_MASK, &compat_mask, true);
    let by_fd = options.reads_classed_by_fd();
    let table = syscall::host_arch().map(|arch| syscall::class_table(arch, by_fd));
    if let Some(table) = &table {
        loader.override_global(globals::SYSCALL_CLASSES, table, true);
    }
    loader.override_global(globals::SYSCALL_SLOW_NS, &options.syscall_slow_ns, true);
    loader.override_global(
        globals::DEPENDENCY_SLOW_NS,
        &options.dependency_slow_ns,
        true,
    );
    loader.override_global(
        globals::REQUESTS_QUEUE_SLOW_NS,
        &options.queue_slow_ns,
        true,
    );
    let syn_queue_hooked = u8::from(hooks::planned(options.plans, programs::TCP_SYN_QUEUE_FULL));
    loader.override_global(globals::SYN_QUEUE_HOOKED, &syn_queue_hooked, true);
    let per_cgroup = u64::from(options.kernel_remotes_per_container);
    loader.override_global(globals::REMOTES_PER_CGROUP, &per_cgroup, true);
    let log_level = if options.ebpf_log { EBPF_LOG_DEBUG } else { 0 };
    loader.override_global(aya_log::LEVEL, &log_level, false);
    let mut ebpf = loader
        .load(object(options.state)?)
        .context("cannot load the eBPF object into the kernel")?;
    if options.ebpf_log {
        spawn_log_reader(&mut ebpf)?;
    }
    for planned in options.plans {
        attach_first(&mut ebpf, btf, planned, options.programs)?;
    }
    info!(
        signals = ?options.signals,
        programs = ?options.programs,
        clock = options.offsets.clock_description(),
        cgroup_state = options.state.describe(),
        "eBPF programs attached"
    );
    Ok(ebpf)
}

/// Attaches the first candidate of `planned` that the kernel takes. A need
/// the signal cannot do without fails the load when none does; otherwise
/// what is lost is logged.
fn attach_first(ebpf: &mut Ebpf, btf: &Btf, planned: &Planned, programs: Programs) -> Result<()> {
    for hook in &planned.candidates {
        match attach(ebpf, btf, hook, programs) {
            Ok(()) if planned.need.hooks.len() > 1 => {
                info!(%hook, "hook attached (the first of its alternatives the kernel took)");
                return Ok(());
            }
            Ok(()) => return Ok(()),
            Err(err) if planned.need.without.is_none() => return Err(err),
            Err(err) => {
                warn!(%hook, "hook refused by the kernel: {err:#}");
            }
        }
    }
    if let Some(loss) = planned.need.without {
        warn!("{loss}: no hook for it could be attached on this kernel");
    }
    Ok(())
}

fn attach(ebpf: &mut Ebpf, btf: &Btf, hook: &Hook, programs: Programs) -> Result<()> {
    let name = match programs {
        Programs::Probe => hook.program,
        Programs::Floor => hook.floor_program,
    };
    let program = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} is missing from the eBPF object"))?;
    // BTF-typed programs (tracepoint or fentry) load against the kernel's
    // BTF by name and attach where they loaded.
    macro_rules! load_and_attach_typed {
        ($kind:ty) => {{
            let program: &mut $kind = program.try_into()?;
            program
                .load(hook.tracepoint, btf)
                .with_context(|| format!("cannot load {name} for {hook}"))?;
            if let Err(err) = program.attach() {
                // Unloaded, so that a loaded program is an attached one
                // (`attached` tells).
                let _ = program.unload();
                return Err(err).with_context(|| format!("cannot attach {name} to {hook}"));
            }
        }};
    }
    match hook.kind {
        HookKind::BtfTracepoint => load_and_attach_typed!(BtfTracePoint),
        HookKind::Fentry => load_and_attach_typed!(FEntry),
        HookKind::Fexit => load_and_attach_typed!(FExit),
        HookKind::Iterator => {
            let program: &mut Iter = program.try_into()?;
            program
                .load(hook.tracepoint, btf)
                .with_context(|| format!("cannot load {name} for {hook}"))?;
        }
        HookKind::RawTracepoint => {
            let program: &mut RawTracePoint = program.try_into()?;
            program
                .load()
                .with_context(|| format!("cannot load {name} for {hook}"))?;
            program
                .attach(hook.tracepoint)
                .with_context(|| format!("cannot attach {name} to {hook}"))?;
        }
    }
    debug!(program = name, %hook, "attached");
    Ok(())
}

/// Whether program `name` is attached (a program whose attach failed is
/// unloaded; iterators are loaded only).
pub fn attached(ebpf: &Ebpf, name: &str) -> bool {
    ebpf.program(name)
        .is_some_and(|program| program.fd().is_ok())
}

/// Forwards the programs' aya-log records to the agent log.
fn spawn_log_reader(ebpf: &mut Ebpf) -> Result<()> {
    let logger = EbpfLogger::init(ebpf).context("cannot set up the eBPF log reader")?;
    // SAFETY: the logger owns the ring buffer fd and moves into the AsyncFd, so the
    // fd stays open for as long as it is registered.
    let mut logger = unsafe { AsyncFd::register(logger) }
        .map_err(|err| err.into_parts().1)
        .context("cannot poll the eBPF log")?;
    tokio::spawn(async move {
        loop {
            match logger.readable_mut().await {
                Ok(mut guard) => {
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
                Err(err) => {
                    warn!(%err, "eBPF log reader stopped");
                    return;
                }
            }
        }
    });
    Ok(())
}

/// Loads the object as the agent would, its maps made but no program
/// loaded (with `globals` set): whether this kernel makes every map the
/// programs share (task local storage arrived in Linux 5.11).
pub fn trial_load(btf_path: &Path, state: CgroupState, globals: &[(&str, u64)]) -> Result<()> {
    let mut btf_slot = None;
    trial_object(btf_path, state, globals, &mut btf_slot).map(drop)
}

/// The object loaded (maps made, programs not) with `globals` set, and the
/// BTF it was relocated against (parsed into `slot`).
fn trial_object<'a>(
    btf_path: &Path,
    state: CgroupState,
    globals: &[(&str, u64)],
    slot: &'a mut Option<Btf>,
) -> Result<(Ebpf, &'a Btf)> {
    let (mut loader, btf) = loader_with_btf(btf_path, slot)?;
    for (name, value) in globals {
        loader.override_global(name, value, true);
    }
    let ebpf = loader
        .load(object(state)?)
        .context("cannot load the eBPF object")?;
    Ok((ebpf, btf))
}

/// Loads and attaches, for a moment, the floor program of `hook`: the only
/// way to know whether the kernel allows an fentry or fexit hook (lockdown
/// and kernels without BPF trampolines refuse it at load; a function without
/// an ftrace site refuses it at attach, as 6.1 does `tcp_v4_syn_recv_sock`).
/// Rare hooks have no floor and use their measuring program, which reads
/// kernel structs: `globals` (the struct offsets) are set as the agent sets
/// them, or the verifier would judge reads at offset 0. Dropping the object
/// detaches it.
pub fn trial_attach(
    btf_path: &Path,
    hook: &Hook,
    state: CgroupState,
    globals: &[(&str, u64)],
) -> Result<()> {
    let mut btf_slot = None;
    let (mut ebpf, btf) = trial_object(btf_path, state, globals, &mut btf_slot)?;
    let program = ebpf
        .program_mut(hook.floor_program)
        .with_context(|| format!("program {} is missing", hook.floor_program))?;
    match hook.kind {
        HookKind::Fentry => {
            let program: &mut FEntry = program.try_into()?;
            program.load(hook.tracepoint, btf)?;
            program.attach()?;
        }
        HookKind::Fexit => {
            let program: &mut FExit = program.try_into()?;
            program.load(hook.tracepoint, btf)?;
            program.attach()?;
        }
        _ => anyhow::bail!("{hook} needs no trial load"),
    }
    Ok(())
}
