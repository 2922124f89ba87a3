//! Helpers the unit tests share.

use std::net::{IpAddr, SocketAddr};

use probe_common::{
    dependency::RemoteKey,
    histogram::{Histogram, bucket_index},
    tcp::{AF_INET, AF_INET6},
};

/// A kernel histogram of `values` (nanoseconds), as the programs record them.
pub fn histogram_of(values: &[u64]) -> Histogram {
    let mut hist = Histogram::ZERO;
    for &v in values {
        hist.buckets[bucket_index(v)] += 1;
        hist.sum_ns += v;
    }
    hist
}

/// The kernel key of remote `addr` (`IP:port`) for cgroup 0.
pub fn remote_key(addr: &str) -> RemoteKey {
    let addr: SocketAddr = addr.parse().expect("IP:port");
    let mut key = RemoteKey {
        port: addr.port(),
        ..RemoteKey::default()
    };
    match addr.ip() {
        IpAddr::V4(ip) => {
            key.family = AF_INET;
            key.addr[..4].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            key.family = AF_INET6;
            key.addr = ip.octets();
        }
    }
    key
}
