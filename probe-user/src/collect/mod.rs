//! Reads what the kernel programs aggregated: raw ids and counts, no labels.

pub mod listen_drops;
pub mod listeners;
pub mod maps;
pub mod overflows;
pub mod program_cost;
pub mod psi;
