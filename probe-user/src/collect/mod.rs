//! Reads what the kernel programs aggregated: raw ids and counts, no labels.

mod batch;
pub mod listen_drops;
pub mod listeners;
pub mod maps;
pub mod overflows;
pub mod program_cost;
pub mod psi;

/// A kernel value of zero bytes (an empty histogram, a zero counter).
pub fn zeroed<T: aya::Pod>() -> T {
    // SAFETY: `Pod` types are plain data, valid for any bytes.
    unsafe { std::mem::zeroed() }
}
