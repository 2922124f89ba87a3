//! The sampler: reads the kernel on its own clock (every `--interval`), not
//! once per HTTP request, and publishes the latest [`Sample`]. Every scrape
//! and API call reads that sample; each encoding of it is made once, on
//! first use, and shared. N concurrent scrapes cost one kernel read and one
//! encoding, and memory does not grow with the number of clients.
//!
//! Health follows the sampler: `/healthz` fails when the last good sample
//! is too old (the kernel could not be read for a while) or the sampler
//! stopped (it panicked: its state is not to be trusted, and the agent
//! needs a restart).

pub mod kernel_reader;

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, OnceLock, RwLock},
    time::{Duration, Instant},
};

use anyhow::Result;
use bytes::Bytes;
use tracing::{debug, error, warn};

use self::kernel_reader::KernelReader;
use crate::{
    heap,
    snapshot::Snapshot,
    verdict::{self, Diagnosis, Thresholds},
    window::Window,
};

/// Everything a sample takes: the kernel reader, the window, the rule's
/// thresholds. Dropping it detaches the programs.
pub struct Pipeline {
    /// Reads the kernel.
    pub reader: KernelReader,
    /// Keeps the recent past.
    pub window: Window,
    /// The verdict's thresholds.
    pub thresholds: Thresholds,
}

impl Pipeline {
    /// One sample: the kernel read, and the verdict on each container over
    /// the window.
    pub fn sample(&mut self) -> Result<Sample> {
        let (snapshot, took) = self.reader.read()?;
        let diagnoses = self
            .window
            .observe(&snapshot, Instant::now())
            .into_iter()
            .map(|evidence| verdict::judge(evidence, &self.thresholds))
            .collect();
        Ok(Sample::new(snapshot, took, diagnoses, self.window.span())
            .judged_with(self.thresholds.clone()))
    }
}

/// Encodings a sample keeps once made.
pub const ENCODINGS: usize = 4;

/// One reading of the kernel, with its encodings made on demand.
pub struct Sample {
    /// What was read.
    pub snapshot: Snapshot,
    /// The verdict on each container over the window.
    pub diagnoses: Vec<Diagnosis>,
    /// The window the verdicts cover.
    pub window: Duration,
    /// The thresholds they judge with.
    pub thresholds: Thresholds,
    /// When.
    pub taken: Instant,
    /// How long the reading took.
    pub took: Duration,
    /// Its number: 1 for the first sample, then one more each.
    pub sequence: u64,
    /// Its expositions, per format: plain and gzipped.
    encodings: [OnceLock<Result<Bytes, String>>; ENCODINGS],
    /// Its API document.
    api: OnceLock<Bytes>,
}

impl Sample {
    /// A sample of `snapshot`, read in `took`, with the verdicts over `window`.
    pub fn new(
        snapshot: Snapshot,
        took: Duration,
        diagnoses: Vec<Diagnosis>,
        window: Duration,
    ) -> Sample {
        Sample {
            snapshot,
            diagnoses,
            window,
            thresholds: Thresholds::default(),
            taken: Instant::now(),
            took,
            sequence: 1,
            encodings: Default::default(),
            api: OnceLock::new(),
        }
    }

    /// The same, its verdicts judged with `thresholds` (the default ones
    /// otherwise).
    pub fn judged_with(mut self, thresholds: Thresholds) -> Sample {
        self.thresholds = thresholds;
        self
    }

    /// Its API document, made by `make` the first time it is asked for,
    /// then shared.
    pub fn api_document(&self, make: impl FnOnce(&Sample) -> Bytes) -> Bytes {
        self.api.get_or_init(|| make(self)).clone()
    }

    /// Its encoding in `slot` (below [`ENCODINGS`]; the exposition's
    /// formats, plain and gzipped, see `export::exposition`), made by `make`
    /// the first time it is asked for, then shared.
    pub fn encoding(
        &self,
        slot: usize,
        make: impl FnOnce(&Sample) -> Result<Bytes, String>,
    ) -> Result<Bytes, String> {
        self.encodings[slot].get_or_init(|| make(self)).clone()
    }
}

/// Whether the agent is sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Sampling on time.
    Ok,
    /// The last good sample is older than three intervals.
    Stale {
        /// Its age.
        age: Duration,
        /// The last error.
        error: String,
    },
    /// The sampler stopped.
    Failed(String),
}

/// The latest sample and the sampler's health, shared with the endpoints.
pub struct Latest {
    sample: RwLock<Arc<Sample>>,
    state: Mutex<State>,
    interval: Duration,
}

struct State {
    /// The last error since the last good sample.
    error: Option<String>,
    /// Why the sampler stopped.
    stopped: Option<String>,
}

impl Latest {
    /// Starts with `first` (taken before serving), sampling every `interval`.
    pub fn new(first: Sample, interval: Duration) -> Arc<Latest> {
        Arc::new(Latest {
            sample: RwLock::new(Arc::new(first)),
            state: Mutex::new(State {
                error: None,
                stopped: None,
            }),
            interval,
        })
    }

    /// The latest good sample.
    pub fn sample(&self) -> Arc<Sample> {
        match self.sample.read() {
            Ok(sample) => sample.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The agent's health now.
    pub fn health(&self) -> Health {
        let state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(why) = &state.stopped {
            return Health::Failed(why.clone());
        }
        let age = self.sample().taken.elapsed();
        if age > self.interval * 3 + Duration::from_secs(1) {
            return Health::Stale {
                age,
                error: state.error.clone().unwrap_or_else(|| "none".into()),
            };
        }
        Health::Ok
    }

    /// Marks the agent failed for good (a bug: a panic), with why; the
    /// first reason stays.
    pub fn fail(&self, why: String) {
        error!("{why}; restart the agent");
        self.with_state(|state| {
            state.stopped.get_or_insert(why);
        });
    }

    fn publish(&self, mut sample: Sample) {
        let mut latest = match self.sample.write() {
            Ok(latest) => latest,
            Err(poisoned) => poisoned.into_inner(),
        };
        sample.sequence = latest.sequence + 1;
        *latest = Arc::new(sample);
        drop(latest);
        self.with_state(|state| state.error = None);
    }

    fn with_state(&self, change: impl FnOnce(&mut State)) {
        match self.state.lock() {
            Ok(mut state) => change(&mut state),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    /// Takes a sample with `read` every interval on a thread of its own,
    /// until it is stopped or `read` panics (then the agent is marked
    /// failed). `read` is dropped on that thread when it ends.
    pub fn run(
        self: &Arc<Self>,
        mut read: impl FnMut() -> Result<Sample> + Send + 'static,
    ) -> SamplerThread {
        let latest = self.clone();
        let interval = self.interval;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                let mut trims = heap::TrimOnShrink::default();
                loop {
                    match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    next += interval;
                    match std::panic::catch_unwind(AssertUnwindSafe(&mut read)) {
                        Ok(Ok(sample)) => {
                            debug!(took = ?sample.took, cgroups = sample.snapshot.cgroups.len(), "sampled");
                            let listed = sample.snapshot.cgroups.len() + sample.snapshot.folded;
                            latest.publish(sample);
                            // The last sample is dropped now (or with its last client).
                            trims.after_sample(listed);
                        }
                        Ok(Err(err)) => {
                            warn!("cannot sample the kernel: {err:#}");
                            latest.with_state(|state| state.error = Some(format!("{err:#}")));
                        }
                        Err(panic) => {
                            latest.fail(format!("the sampler panicked: {}", panic_message(&*panic)));
                            return;
                        }
                    }
                    // A sampler that falls behind skips ticks rather than bursts.
                    if next < Instant::now() {
                        next = Instant::now() + interval;
                    }
                }
            })
            .expect("cannot start the sampler thread");
        SamplerThread { stop, thread }
    }
}

/// What a panic said, from its payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// The sampler's thread.
pub struct SamplerThread {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl SamplerThread {
    /// Stops it and waits until it has ended (and dropped what it read with).
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample::new(
            Snapshot::default(),
            Duration::ZERO,
            Vec::new(),
            Duration::ZERO,
        )
    }

    fn wait_for(latest: &Latest, health: impl Fn(&Health) -> bool) -> Health {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = latest.health();
            if health(&now) || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn samples_are_published() {
        let latest = Latest::new(sample(), Duration::from_millis(20));
        let first = latest.sample().taken;
        let _thread = latest.run(|| Ok(sample()));
        std::thread::sleep(Duration::from_millis(200));
        assert!(latest.sample().taken > first);
        assert_eq!(latest.health(), Health::Ok);
    }

    #[test]
    fn a_panicking_sampler_fails_health_and_keeps_its_last_sample() {
        let latest = Latest::new(sample(), Duration::from_millis(10));
        let mut calls = 0;
        let _thread = latest.run(move || {
            calls += 1;
            if calls == 3 {
                panic!("a bug");
            }
            Ok(sample())
        });
        let health = wait_for(&latest, |h| matches!(h, Health::Failed(_)));
        assert_eq!(health, Health::Failed("the sampler panicked: a bug".into()));
        // The endpoints can still read the last sample (and refuse to serve it).
        let _ = latest.sample();
    }

    #[test]
    fn a_sampler_that_keeps_failing_goes_stale() {
        let latest = Latest::new(sample(), Duration::from_millis(10));
        let _thread = latest.run(|| anyhow::bail!("map read failed"));
        let health = wait_for(&latest, |h| matches!(h, Health::Stale { .. }));
        match health {
            Health::Stale { error, .. } => assert_eq!(error, "map read failed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_encoding_is_made_once_and_shared() {
        let sample = sample();
        let document = sample.api_document(|_| Bytes::from_static(b"{}"));
        let again = sample.api_document(|_| panic!("made twice"));
        assert_eq!(document.as_ptr(), again.as_ptr());
        for slot in 0..ENCODINGS {
            let first = sample.encoding(slot, |_| Ok(Bytes::from(vec![slot as u8; 8])));
            let again = sample.encoding(slot, |_| panic!("made twice"));
            // The same bytes, not an equal copy.
            assert_eq!(first.unwrap().as_ptr(), again.unwrap().as_ptr());
        }
    }
}
