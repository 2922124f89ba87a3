//! Running the programs' BPF iterators: the listener list (at every
//! sample) and, once at start, the follow iterator that takes up the
//! outbound connections established before the agent started.

use std::io::Read;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{Array, HashMap},
    programs::Iter,
};
use probe_common::{
    dependency::{FollowRecord, PENDING_MAP, RemoteKey, TAKE_UP_MAP, follow, take_up},
    programs::DEPENDENCY_FOLLOW,
};

/// Runs the loaded iterator `program` once; what it wrote.
pub fn run(ebpf: &mut Ebpf, program: &str) -> Result<Vec<u8>> {
    let iterator: &mut Iter = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} is missing"))?
        .try_into()?;
    let link_id = iterator
        .attach()
        .with_context(|| format!("cannot attach the iterator {program}"))?;
    let link = iterator.take_link(link_id)?;
    let mut file = link
        .into_file()
        .with_context(|| format!("cannot create the iterator {program}"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the iterator {program}"))?;
    Ok(bytes)
}

/// Runs the follow iterator once (`probe-ebpf`'s `dependency_follow`): it
/// counts the outbound TCP connections established before the agent
/// started (a connection pool older than the agent), which the programs
/// then take up at their next send (see `probe_common::dependency::follow`).
/// Nothing of the watched processes is held, locked or duplicated. Ends
/// the take-up's start: the programs' notes of connects are dropped. How
/// many connections had each outcome, by [`follow`] index.
pub fn follow_established(ebpf: &mut Ebpf) -> Result<[usize; follow::COUNT]> {
    let bytes = run(ebpf, DEPENDENCY_FOLLOW);
    let mut take_up: Array<_, u64> = Array::try_from(
        ebpf.map_mut(TAKE_UP_MAP)
            .with_context(|| format!("map {TAKE_UP_MAP} is missing"))?,
    )?;
    take_up.set(take_up::OVER, 1, 0)?;
    let mut pending: HashMap<_, u64, RemoteKey> = HashMap::try_from(
        ebpf.map_mut(PENDING_MAP)
            .with_context(|| format!("map {PENDING_MAP} is missing"))?,
    )?;
    let notes: Vec<u64> = pending
        .iter()
        .filter_map(|entry| entry.ok())
        .filter(|(_, key)| key.is_followed_note())
        .map(|(address, _)| address)
        .collect();
    for address in notes {
        // Gone already is fine: the socket closed.
        let _ = pending.remove(&address);
    }
    let mut outcomes = [0; follow::COUNT];
    for chunk in bytes?.chunks_exact(size_of::<FollowRecord>()) {
        // SAFETY: FollowRecord is plain old data and the chunk has its size.
        let record: FollowRecord = unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
        if let Some(count) = outcomes.get_mut(record.outcome as usize) {
            *count += 1;
        }
    }
    Ok(outcomes)
}
