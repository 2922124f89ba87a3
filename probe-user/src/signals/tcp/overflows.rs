//! Accept-queue overflows per listener (and SYN-queue drops, where the
//! kernel counts them).
//!
//! Where every hook of probe-ebpf's `listen_drops` is attached, the kernel
//! counts both at the listener that drops, and those counts are the
//! listeners' (since the hooks were attached, or the listener opened).
//! Elsewhere (a kernel that refuses fentry) overflows are attributed in
//! proportion, as follows, and SYN-queue drops are not known.
//!
//! The kernel counts overflows per network namespace (`ListenOverflows` in
//! `/proc/net/netstat`, `LINUX_MIB_LISTENOVERFLOWS`), in `tcp_conn_request()`
//! (a SYN arrives at a full accept queue) and `tcp_v4_syn_recv_sock()` /
//! `tcp_v6_syn_recv_sock()` (the handshake's last ACK arrives at a full
//! queue). No tracepoint fires on either path, and no drop reason marks the
//! SYN (it is consumed, not freed with a reason), so events cannot count them
//! per socket. Both paths also call `tcp_listendrop()`, which bumps the
//! listening socket's own `sk_drops`.
//!
//! So the numbers come from the kernel's own counter: at every sample the
//! agent reads `ListenOverflows` of each namespace with a listener (from
//! `/proc/PID/net/netstat` of a process in it), and attributes the increase
//! to the listeners of that namespace whose `sk_drops` rose in the same
//! interval, in proportion to their rise. A namespace seen for the first
//! time has no previous reading: its listeners' own drop counts tell what
//! happened before, up to the namespace's count (for a pod born between
//! two samples, that is all of it). An overflow always raises the
//! socket's `sk_drops`, so when one listener of a namespace dropped (always
//! the case for a namespace with one listener, such as most pods) the
//! attribution is exact; the sum over a namespace, with what is carried
//! and unattributed, is always exactly the kernel's. The listeners are read before the counter, and the kernel
//! bumps the counter before `sk_drops`, so an overflow between the two reads
//! shows in the counter a sample before it shows in a listener: an increase
//! no listener explains is carried to the next sample, and only one that
//! the next sample still does not explain (its listener closed) is counted
//! as unattributed.
//!
//! A port's counter is the sum over its listeners, so a listener that closes
//! while its port lives on (one `SO_REUSEPORT` member recycled, a server
//! that reopens its socket) would take its overflows with it and the port's
//! counter would fall: Prometheus reads a reset and `increase()` counts the
//! whole total again. Its count is kept instead, retired to its (cgroup,
//! namespace, port), until that port has had no listener for
//! [`NETNS_GRACE`] (a port that comes back then starts again from zero:
//! a reset after a stale gap is a new series' start).

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    os::unix::fs::MetadataExt,
    time::{Duration, Instant},
};

use probe_common::tcp::{ListenerDrops, ListenerRecord};

use crate::signals::tcp::listeners::{ListenerId, PortId, port_of};

/// How long a namespace's baseline, and a port's retired overflows, are
/// kept after its last listener is gone.
const NETNS_GRACE: Duration = Duration::from_secs(600);

/// One sample's overflow counts.
#[derive(Debug, Default, PartialEq)]
pub struct Overflows {
    /// Per live listener.
    pub listeners: BTreeMap<ListenerId, u64>,
    /// Per port, those of its listeners that closed.
    pub retired: BTreeMap<PortId, u64>,
    /// SYN-queue drops, where the kernel counts them at each listener.
    pub syn_drops: Option<SynDrops>,
}

/// One sample's SYN-queue drop counts, kept as the overflows are.
#[derive(Debug, Default, PartialEq)]
pub struct SynDrops {
    /// Per live listener.
    pub listeners: BTreeMap<ListenerId, u64>,
    /// Per port, those of its listeners that closed.
    pub retired: BTreeMap<PortId, u64>,
}

/// Per-listener overflow counters, carried across scrapes.
#[derive(Default)]
pub struct OverflowLedger {
    namespaces: HashMap<u32, Namespace>,
    listeners: HashMap<ListenerId, Listener>,
    retired: HashMap<PortId, Retired>,
    unattributed: u64,
}

/// The drops of a port's closed listeners.
struct Retired {
    overflows: u64,
    syn_drops: u64,
    /// When the port last had a listener.
    last_live: Instant,
}

struct Namespace {
    overflows: u64,
    /// An increase the last sample's listeners did not explain yet.
    carried: u64,
    last_seen: Instant,
}

struct Listener {
    drops: u32,
    overflows: u64,
    syn_drops: u64,
    port: PortId,
}

impl OverflowLedger {
    /// Takes one sample's listeners (read just before) and, where the
    /// kernel counts them, their drops (and whether SYN-queue drops are
    /// among them); returns each listener's overflow count and the retired
    /// ones' per port.
    pub fn update(
        &mut self,
        listeners: &BTreeMap<ListenerId, ListenerRecord>,
        counted: Option<(&HashMap<ListenerId, ListenerDrops>, bool)>,
    ) -> Overflows {
        match counted {
            Some((counted, syn_drops)) => self.apply_counted(listeners, counted, syn_drops),
            None => self.apply(listeners, |netns, members| {
                members
                    .iter()
                    .find_map(|(_, r)| listen_overflows(r.tgid, netns))
            }),
        }
    }

    /// [`Self::update`] with the kernel's own counts at each listener:
    /// they are the listeners' counts.
    fn apply_counted(
        &mut self,
        listeners: &BTreeMap<ListenerId, ListenerRecord>,
        counted: &HashMap<ListenerId, ListenerDrops>,
        syn_drops: bool,
    ) -> Overflows {
        for (id, record) in listeners {
            let drops = counted.get(id).copied().unwrap_or_default();
            let listener = self.listeners.entry(*id).or_insert(Listener {
                drops: record.drops,
                overflows: 0,
                syn_drops: 0,
                port: port_of(record),
            });
            listener.drops = record.drops;
            listener.overflows = drops.overflows;
            listener.syn_drops = drops.syn_drops;
        }
        self.settle(listeners, syn_drops)
    }

    /// [`Self::update`] in proportion, with the namespace counter read by
    /// `total`.
    fn apply(
        &mut self,
        listeners: &BTreeMap<ListenerId, ListenerRecord>,
        total: impl Fn(u32, &[(&ListenerId, &ListenerRecord)]) -> Option<u64>,
    ) -> Overflows {
        let now = Instant::now();
        let mut by_netns: BTreeMap<u32, Vec<(&ListenerId, &ListenerRecord)>> = BTreeMap::new();
        for (id, record) in listeners {
            by_netns.entry(record.netns).or_default().push((id, record));
        }
        for (netns, members) in &by_netns {
            let Some(total) = total(*netns, members) else {
                continue;
            };
            let known = self
                .namespaces
                .get(netns)
                .map(|ns| (ns.overflows, ns.carried));
            // A listener seen for the first time: all its drops are new (for
            // a namespace seen before, since its last sample; for a new
            // one, since the listener opened).
            let rises: Vec<u64> = members
                .iter()
                .map(|(id, record)| match self.listeners.get(*id) {
                    Some(seen) => drops_rise(seen.drops, record.drops),
                    None => u64::from(record.drops),
                })
                .collect();
            let explained: u64 = rises.iter().sum();
            let (fresh, carried) = match known {
                Some((before, carried)) => (total.saturating_sub(before), carried),
                // A namespace seen for the first time: what its listeners
                // already dropped, as far as its own count goes (a new pod's
                // listener that overflowed before the first sample).
                None => (total.min(explained), 0),
            };
            // The listeners get what their drops explain, no more; what is
            // left waits one sample (the part just seen) or is unattributed
            // (the part already carried: its listener is gone).
            let pool = fresh + carried;
            let attributed = pool.min(explained);
            let shares = apportion(attributed, &rises);
            let left = pool - attributed;
            self.unattributed += left.saturating_sub(fresh);
            let carry = left.min(fresh);
            for ((id, record), share) in members.iter().zip(shares) {
                let listener = self.listeners.entry(**id).or_insert(Listener {
                    drops: record.drops,
                    overflows: 0,
                    syn_drops: 0,
                    port: port_of(record),
                });
                listener.drops = record.drops;
                listener.overflows += share;
            }
            self.namespaces.insert(
                *netns,
                Namespace {
                    overflows: total,
                    carried: carry,
                    last_seen: now,
                },
            );
        }
        // A namespace whose listeners are all gone explains nothing more.
        for (netns, namespace) in &mut self.namespaces {
            if !by_netns.contains_key(netns) {
                self.unattributed += std::mem::take(&mut namespace.carried);
            }
        }
        self.namespaces
            .retain(|_, ns| now.duration_since(ns.last_seen) < NETNS_GRACE);
        self.settle(listeners, false)
    }

    /// Retires the counts of listeners that closed to their ports, and
    /// returns the sample's counts (with SYN-queue drops if `syn_drops`:
    /// the kernel counted them).
    fn settle(
        &mut self,
        listeners: &BTreeMap<ListenerId, ListenerRecord>,
        syn_drops: bool,
    ) -> Overflows {
        let now = Instant::now();
        let retired = &mut self.retired;
        self.listeners.retain(|id, listener| {
            let live = listeners.contains_key(id);
            if !live && (listener.overflows > 0 || listener.syn_drops > 0) {
                let port = retired.entry(listener.port).or_insert(Retired {
                    overflows: 0,
                    syn_drops: 0,
                    last_live: now,
                });
                port.overflows += listener.overflows;
                port.syn_drops += listener.syn_drops;
            }
            live
        });
        for record in listeners.values() {
            if let Some(port) = self.retired.get_mut(&port_of(record)) {
                port.last_live = now;
            }
        }
        self.retired
            .retain(|_, port| now.duration_since(port.last_live) < NETNS_GRACE);
        let listeners_by = |count: fn(&Listener) -> u64| {
            self.listeners
                .iter()
                .map(|(id, listener)| (*id, count(listener)))
                .collect()
        };
        let retired_by = |count: fn(&Retired) -> u64| {
            self.retired
                .iter()
                .map(|(port, retired)| (*port, count(retired)))
                .collect()
        };
        Overflows {
            listeners: listeners_by(|l| l.overflows),
            retired: retired_by(|r| r.overflows),
            syn_drops: syn_drops.then(|| SynDrops {
                listeners: listeners_by(|l| l.syn_drops),
                retired: retired_by(|r| r.syn_drops),
            }),
        }
    }

    /// Overflows that no live listener explained.
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }
}

/// How much a listener's `sk_drops` (a 32-bit counter that wraps) rose
/// between two readings.
fn drops_rise(before: u32, now: u32) -> u64 {
    u64::from(now.wrapping_sub(before))
}

/// Splits `total` in proportion to `weights` (largest remainder, so the
/// parts add up to `total` exactly); all zero when every weight is zero.
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(u64, u64)> = weights
        .iter()
        .map(|&w| {
            let product = u128::from(total) * u128::from(w);
            (
                (product / u128::from(sum)) as u64,
                (product % u128::from(sum)) as u64,
            )
        })
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|(q, _)| *q).collect();
    let mut left = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// `ListenOverflows` of network namespace `netns`, read through process
/// `tgid` if it still lives in it.
fn listen_overflows(tgid: u32, netns: u32) -> Option<u64> {
    let in_netns = fs::metadata(format!("/proc/{tgid}/ns/net")).ok()?.ino() == u64::from(netns);
    if !in_netns {
        return None;
    }
    parse_netstat(
        &fs::read_to_string(format!("/proc/{tgid}/net/netstat")).ok()?,
        "ListenOverflows",
    )
}

/// The `TcpExt` field `name` of a `/proc/net/netstat` text.
fn parse_netstat(text: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let values = lines.next()?;
        if let (Some(names), Some(values)) = (
            header.strip_prefix("TcpExt:"),
            values.strip_prefix("TcpExt:"),
        ) {
            let index = names.split_whitespace().position(|n| n == name)?;
            return values.split_whitespace().nth(index)?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(netns: u32, inode: u64, drops: u32, port: u16) -> ListenerRecord {
        ListenerRecord {
            inode,
            cgroup: 1,
            netns,
            tgid: std::process::id(),
            drops,
            port,
            ..ListenerRecord::default()
        }
    }

    #[test]
    fn a_new_namespace_starts_from_its_listeners_drops() {
        // This process's own namespace stands in for a new pod's: its
        // ListenOverflows is whatever it is; the listeners dropped 3 and 2.
        let netns = fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
        let total = listen_overflows(std::process::id(), netns).unwrap();
        let listeners: BTreeMap<ListenerId, ListenerRecord> = [(1, 3), (2, 2)]
            .into_iter()
            .map(|(inode, drops)| ((netns, inode), record(netns, inode, drops, 80)))
            .collect();
        let mut ledger = OverflowLedger::default();
        let counts = ledger.update(&listeners, None);
        let sum: u64 = counts.listeners.values().sum();
        assert_eq!(sum, total.min(5), "ListenOverflows {total}");
        // Nothing new since: nothing more.
        assert_eq!(ledger.update(&listeners, None), counts);
    }

    #[test]
    fn an_overflow_between_the_two_reads_is_carried_to_the_next_sample() {
        let at = |drops| -> BTreeMap<ListenerId, ListenerRecord> {
            [((7, 1), record(7, 1, drops, 80))].into_iter().collect()
        };
        let mut ledger = OverflowLedger::default();
        // First sample: nothing yet.
        assert_eq!(ledger.apply(&at(0), |_, _| Some(100)).listeners[&(7, 1)], 0);
        // 21 overflows after the listener was read, before the counter.
        assert_eq!(ledger.apply(&at(0), |_, _| Some(121)).listeners[&(7, 1)], 0);
        assert_eq!(ledger.unattributed(), 0);
        // The next sample sees the listener's drops: all 21 are its own.
        assert_eq!(
            ledger.apply(&at(21), |_, _| Some(121)).listeners[&(7, 1)],
            21
        );
        // An increase no listener explains twice is unattributed.
        ledger.apply(&at(21), |_, _| Some(125));
        let counts = ledger.apply(&at(21), |_, _| Some(125));
        assert_eq!((counts.listeners[&(7, 1)], ledger.unattributed()), (21, 4));
        // A carried increase goes to no listener beyond what its drops
        // explain: 5 carried, then 1 more overflow and 1 drop: 1 to the
        // listener, 4 unattributed (of the 5 left, 1 may be the new one:
        // carried).
        ledger.apply(&at(21), |_, _| Some(130));
        let counts = ledger.apply(&at(22), |_, _| Some(131));
        assert_eq!((counts.listeners[&(7, 1)], ledger.unattributed()), (22, 8));
        // A carry whose namespace has no listener left is unattributed.
        ledger.apply(&at(22), |_, _| Some(133));
        assert_eq!(ledger.unattributed(), 9);
        ledger.apply(&BTreeMap::new(), |_, _| None);
        assert_eq!(ledger.unattributed(), 11);
    }

    #[test]
    fn a_closed_listeners_overflows_stay_with_its_port() {
        let listener = |inode, port, drops| ((7, inode), record(7, inode, drops, port));
        let mut ledger = OverflowLedger::default();
        // Two SO_REUSEPORT members of port 80; the first overflows 5 times.
        let both = BTreeMap::from([listener(1, 80, 0), listener(2, 80, 0)]);
        ledger.apply(&both, |_, _| Some(0));
        let both = BTreeMap::from([listener(1, 80, 5), listener(2, 80, 0)]);
        assert_eq!(ledger.apply(&both, |_, _| Some(5)).listeners[&(7, 1)], 5);
        // It closes: its 5 stay with port 80, none with port 81.
        let one = BTreeMap::from([listener(2, 80, 0), listener(3, 81, 0)]);
        let counts = ledger.apply(&one, |_, _| Some(5));
        assert_eq!(counts.retired, BTreeMap::from([((1, 7, 80), 5)]));
        assert_eq!(counts.listeners.values().sum::<u64>(), 0);
        // The survivor overflows twice: 5 retired, 2 live.
        let one = BTreeMap::from([listener(2, 80, 2), listener(3, 81, 0)]);
        let counts = ledger.apply(&one, |_, _| Some(7));
        assert_eq!(
            (counts.retired[&(1, 7, 80)], counts.listeners[&(7, 2)]),
            (5, 2)
        );
        assert_eq!(ledger.unattributed(), 0);
    }

    #[test]
    fn counted_drops_are_the_listeners_and_stay_with_the_port() {
        let listener = |inode, port| ((7, inode), record(7, inode, 0, port));
        let drops = |overflows, syn_drops| ListenerDrops {
            overflows,
            syn_drops,
        };
        let mut ledger = OverflowLedger::default();
        let both = BTreeMap::from([listener(1, 80), listener(2, 81)]);
        // Listener 2 has no entry: it dropped nothing.
        let counted = HashMap::from([((7, 1), drops(5, 3))]);
        let counts = ledger.update(&both, Some((&counted, true)));
        assert_eq!(counts.listeners, BTreeMap::from([((7, 1), 5), ((7, 2), 0)]));
        let syn = counts.syn_drops.unwrap();
        assert_eq!(syn.listeners, BTreeMap::from([((7, 1), 3), ((7, 2), 0)]));
        // Listener 1 closes: its counts stay with port 80.
        let one = BTreeMap::from([listener(2, 81)]);
        let counts = ledger.update(&one, Some((&HashMap::new(), true)));
        assert_eq!(counts.retired, BTreeMap::from([((1, 7, 80), 5)]));
        let syn = counts.syn_drops.unwrap();
        assert_eq!(syn.retired, BTreeMap::from([((1, 7, 80), 3)]));
        // Without the kernel's counts, or its SYN-queue program, no
        // SYN-queue drops are known.
        assert_eq!(ledger.apply(&one, |_, _| Some(0)).syn_drops, None);
        let counts = ledger.update(&one, Some((&HashMap::new(), false)));
        assert_eq!(counts.syn_drops, None);
    }

    #[test]
    fn apportion_adds_up() {
        assert_eq!(apportion(7, &[3, 0]), vec![7, 0]);
        assert_eq!(apportion(10, &[1, 1, 1]).iter().sum::<u64>(), 10);
        assert_eq!(apportion(5, &[0, 0]), vec![0, 0]);
        assert_eq!(apportion(0, &[4, 2]), vec![0, 0]);
        assert_eq!(apportion(3, &[2, 1]), vec![2, 1]);
    }

    #[test]
    fn drops_rise_across_the_wrap() {
        assert_eq!(drops_rise(5, 9), 4);
        assert_eq!(drops_rise(u32::MAX - 1, 2), 4);
        assert_eq!(drops_rise(7, 7), 0);
    }

    #[test]
    fn netstat_field() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 12 14\n\
                    IpExt: InNoRoutes\n\
                    IpExt: 0\n";
        assert_eq!(parse_netstat(text, "ListenOverflows"), Some(12));
        assert_eq!(parse_netstat(text, "Missing"), None);
    }

    #[test]
    fn reads_this_hosts_counter() {
        let netns = fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
        assert!(listen_overflows(std::process::id(), netns).is_some());
        assert_eq!(
            listen_overflows(std::process::id(), netns.wrapping_add(1)),
            None
        );
    }
}
