//! Atomic add on map memory shared between CPUs. `core::sync::atomic` offers
//! no read-modify-write operations on the BPF target, so this emits the BPF
//! `lock add` instruction itself.

/// Atomically adds `value` to the `u64` at `target`.
///
/// # Safety
/// `target` must point into a map value the program may write.
#[inline(always)]
pub unsafe fn atomic_add(target: *mut u64, value: u64) {
    // SAFETY: the caller's guarantee: a `u64` the program may write.
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({target} + 0) += {value}",
            target = in(reg) target,
            value = in(reg) value,
            options(nostack),
        );
    }
}
