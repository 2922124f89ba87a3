//! `pressure-probe run`: checks the host, loads and attaches the programs,
//! serves metrics, and detaches on SIGINT or SIGTERM. [`Probe`] is the
//! part without the HTTP server (`top` runs it when no agent does).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, Result};
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::{
    cli::RunArgs,
    collect::{maps::KernelMaps, program_cost::ProgramStats},
    heap,
    identity::{
        Identity,
        cgroup_path::KubepodsRoots,
        cgroupfs::{CgroupResolver, cgroup2_root},
    },
    kernel::{
        btf::KernelBtf,
        cgroup_state::CgroupState,
        hooks::HookSupport,
        iterators,
        loader::{self, LoadOptions},
        lockdown,
        offsets::{DependencyOffsets, KernelOffsets, PayloadOffsets, SyscallOffsets, TcpOffsets},
        privileges::Privileges,
        signals::{self, Signal},
    },
    sampler::{Latest, Pipeline, SamplerThread, kernel_reader::KernelReader},
    serve,
    signals::tcp::{listen_drops::ListenDrops, overflows::OverflowLedger},
    snapshot::{Bounds, SnapshotBuilder},
    verdict::SYNC_ONLY,
    window::Window,
};

/// Raises the soft limit on open files to the hard one (as most daemons
/// do): the HTTP connection cap, not the limit, bounds the sockets, and
/// the pressure files kept open take at most a quarter of it.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the plain struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read == 0 && limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the plain struct it is given.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

/// The probe at work: its programs attached, its sampler reading them.
/// Stopping it (or dropping the sampler) detaches the programs.
pub struct Probe {
    /// The latest sample.
    pub latest: Arc<Latest>,
    /// Set to read cgroup labels and Kubernetes names again.
    pub reload: Arc<AtomicBool>,
    /// The cgroup2 mount it reads.
    pub mount: PathBuf,
    sampler: SamplerThread,
}

impl Probe {
    /// Checks the host, loads and attaches the programs `args` choose, and
    /// starts sampling; the first sample is taken before it returns.
    pub fn start(args: &RunArgs) -> Result<Probe> {
        let privileges = Privileges::current()?;
        privileges.require()?;
        let btf = KernelBtf::open(&args.kernel.btf)?;
        let support = HookSupport {
            btf: &btf,
            disabled: &args.kernel.disable_hooks,
        };
        let requested = args.signals.as_ref().map_or(&[][..], |list| &list.0[..]);
        let (chosen, plans): (Vec<Signal>, Vec<_>) =
            signals::choose(requested, &support)?.into_iter().unzip();
        let plans: Vec<_> = plans.into_iter().flatten().collect();
        let tcp_offsets = if [Signal::Tcp, Signal::Dependency, Signal::Requests]
            .iter()
            .any(|s| chosen.contains(s))
        {
            Some(TcpOffsets::resolve(&btf)?)
        } else {
            None
        };
        let dependency_offsets = if chosen.contains(&Signal::Dependency) {
            Some(DependencyOffsets::resolve(&btf)?)
        } else {
            None
        };
        let payload_offsets =
            if chosen.contains(&Signal::Dependency) || chosen.contains(&Signal::Requests) {
                PayloadOffsets::resolve(&btf)
                    .inspect_err(|err| {
                        warn!("{}: {err:#}", PayloadOffsets::LOSS);
                    })
                    .ok()
            } else {
                None
            };
        let syscall_offsets = if chosen.contains(&Signal::Syscall) {
            SyscallOffsets::resolve(&btf)
                .inspect_err(|err| {
                    warn!("{}: {err:#}", SyscallOffsets::LOSS);
                })
                .ok()
        } else {
            None
        };
        let kernel_reads = lockdown::kernel_reads_allowed();
        if !kernel_reads {
            for (signal, loss) in lockdown::LOSSES {
                warn!(%signal, "lockdown confidentiality: programs may not read kernel memory: {loss}");
            }
        }
        let offsets = KernelOffsets::resolve(&btf)?;
        let state = CgroupState::choose(args.cgroup_state.requested(), &btf)?;
        let mount = cgroup2_root(args.cgroup_root.as_deref())?;
        if !args.log_root.is_dir() {
            warn!(
                log_root = %args.log_root.display(),
                "--log-root is not a folder: Kubernetes namespace, pod and container names \
                 cannot be read (pods are still labelled with their pod_uid)"
            );
        }
        let resolver = CgroupResolver::new(&mount)?;
        raise_open_file_limit();
        heap::bound_arenas();
        // Everything is read from the parsed BTF; it is large, and the loader
        // parses the file again its own way: free it first, and give the heap
        // back to the system (glibc keeps freed memory otherwise), so that the
        // two never take memory at the same time.
        drop(btf);
        heap::trim();

        let slow = args.verdict.thresholds().slow_bounds();
        let load = LoadOptions {
            btf_path: &args.kernel.btf,
            offsets,
            signals: &chosen,
            plans: &plans,
            tcp_offsets,
            dependency_offsets,
            payload_offsets,
            syscall_offsets,
            kernel_remotes: args.kernel_remotes,
            kernel_remotes_per_container: args.kernel_remotes_per_container(),
            programs: args.programs.into(),
            ebpf_log: args.ebpf_log,
            kernel_cgroups: args.kernel_cgroups,
            state,
            syscall_slow_ns: slow.syscall_ns(),
            dependency_slow_ns: slow.dependency_ns(),
            queue_slow_ns: slow.queue_ns(),
            kernel_reads,
        };
        let classed_by_fd = load.reads_classed_by_fd();
        let mut ebpf = loader::load_and_attach(&load)?;
        // The loader's parsed BTF and object copies are gone too.
        heap::trim();
        if chosen.contains(&Signal::Dependency) {
            follow_established(&mut ebpf);
        }
        let listen_drops = if chosen.contains(&Signal::Tcp) {
            ListenDrops::attached(&mut ebpf, &plans, kernel_reads)?
        } else {
            None
        };
        match &listen_drops {
            Some(drops) => info!(
                syn_queue_drops = drops.syn_drops,
                "listen overflows are counted at each listener"
            ),
            None if chosen.contains(&Signal::Tcp) => warn!(
                "listen overflows are split between a namespace's listeners in proportion to \
                 their drop counts: the kernel did not take every hook that counts them at each \
                 listener (see check)"
            ),
            None => {}
        }
        let reload = Arc::new(AtomicBool::new(false));
        let reader = KernelReader {
            maps: KernelMaps::new(&mut ebpf, &chosen, state)?,
            ebpf,
            overflows: OverflowLedger::default(),
            listen_drops,
            identity: Identity::new(
                resolver,
                KubepodsRoots::at(&args.kubepods_root),
                &args.log_root,
            ),
            builder: SnapshotBuilder::new(
                Bounds {
                    cgroups: args.max_cgroups as usize,
                    remotes: args.max_remotes as usize,
                    ports: args.max_ports as usize,
                },
                args.interval,
            ),
            reload: reload.clone(),
            program_stats: args.program_stats.then(ProgramStats::enable).flatten(),
            slow,
        };
        let mut thresholds = args.verdict.thresholds();
        if !classed_by_fd {
            thresholds.storage_classes = &SYNC_ONLY;
        }
        let mut pipeline = Pipeline {
            reader,
            window: Window::new(args.verdict.window),
            thresholds,
        };
        let latest = Latest::new(pipeline.sample()?, args.interval);
        let sampler = latest.run(move || pipeline.sample());
        Ok(Probe {
            latest,
            reload,
            mount,
            sampler,
        })
    }

    /// Stops sampling and detaches the programs.
    pub fn stop(self) {
        // The sampler's reader owns the programs: stopping it detaches them.
        self.sampler.stop();
    }
}

/// Takes up the outbound connections established before the agent
/// started, and says how it went.
fn follow_established(ebpf: &mut aya::Ebpf) {
    match iterators::follow_established(ebpf) {
        Ok(outcomes) => {
            let [taken_up, followed_already, no_room, full, closed] = outcomes;
            info!(
                taken_up,
                followed_already,
                no_room,
                full,
                closed,
                "outbound TCP connections established before the agent started"
            );
            if no_room + full > 0 {
                warn!(
                    no_room,
                    full,
                    "some connections established before the agent started are not followed: \
                     no room for their (cgroup, remote) pair (--kernel-remotes, \
                     --kernel-remotes-per-container), or more connections waiting than the \
                     take-up holds (65,536, a quarter of them per container)"
                );
            }
        }
        Err(err) => {
            warn!("connections established before the agent started are not followed: {err:#}")
        }
    }
}

/// Runs the agent until a termination signal.
pub async fn run(args: RunArgs) -> Result<()> {
    Privileges::current()?.require()?;
    // Bind and read the web configuration before loading: a taken port or a
    // wrong file is the user's mistake to hear about first.
    let listener = serve::bind(args.listen).await?;
    let web_config = args
        .http
        .web_config
        .as_deref()
        .map(serve::WebConfig::load)
        .transpose()?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut user1 = signal(SignalKind::user_defined1()).context("cannot handle SIGUSR1")?;
    let probe = Probe::start(&args)?;
    let listen = listener.local_addr()?;
    info!(%listen, cgroup2 = %probe.mount.display(), "serving /metrics and /healthz");
    // Readiness for systemd (Type=notify) and for anything else that sets
    // NOTIFY_SOCKET: tests and benchmarks read the address from LISTEN=.
    if let Err(err) = sd_notify::notify(
        false,
        &[
            NotifyState::Ready,
            NotifyState::Status(&format!("serving on {listen}")),
            NotifyState::Custom(&format!("LISTEN={listen}")),
        ],
    ) {
        warn!("cannot tell the service manager that the agent is ready: {err}");
    }
    let reload = probe.reload.clone();
    let shutdown = async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => break info!("SIGTERM received"),
                _ = interrupt.recv() => break info!("SIGINT received"),
                _ = hangup.recv() => {
                    info!("SIGHUP received: cgroup labels and Kubernetes names will be read again");
                    reload.store(true, Ordering::Relaxed);
                }
                _ = user1.recv() => info!(
                    "SIGUSR1 received and ignored (SIGHUP reads labels again, SIGTERM stops)"
                ),
            }
        }
    };
    serve::serve(
        listener,
        probe.latest.clone(),
        serve::Limits {
            max_connections: args.http.max_connections as usize,
            header_timeout: args.http.header_timeout,
            answer_timeout: args.http.request_timeout,
        },
        args.http.request_timeout,
        web_config,
        shutdown,
    )
    .await?;
    probe.stop();
    info!("eBPF programs detached; exiting");
    Ok(())
}
