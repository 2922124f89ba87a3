//! Reads what the kernel programs aggregated: raw ids and counts, no labels.

pub mod batch;
pub mod kept;
pub mod maps;
pub mod program_cost;

/// A kernel value of zero bytes (an empty histogram, a zero counter).
pub fn zeroed<T: aya::Pod>() -> T {
    // SAFETY: `Pod` types are plain data, valid for any bytes.
    unsafe { std::mem::zeroed() }
}
