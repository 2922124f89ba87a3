//! pressure-probe kernel programs. One module per signal; every program
//! aggregates into bounded maps that the agent reads on scrape.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

mod atomic;
mod cgroup_state;
mod cgroups;
mod counters;
mod dependency;
mod floor;
mod globals;
mod hash_entry;
mod kernel;
mod listen_drops;
mod memory;
mod names;
mod observe;
mod payload;
mod requests;
mod runqueue;
mod socket_storage;
mod syscall;
mod task_storage;
mod tcp;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel checks the licence to decide which helpers a program may call;
/// the programs are GPL-2.0 (LICENSE-GPL-2.0), as the crate says.
#[unsafe(no_mangle)]
#[unsafe(link_section = "license")]
pub static LICENSE: [u8; 4] = *b"GPL\0";
