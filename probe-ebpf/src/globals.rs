//! Read-only globals (`.rodata`) that the agent sets before load: kernel
//! struct offsets from BTF, slot masks, the syscall class table.
//!
//! The compiler sees such a global as an ordinary constant with its
//! compiled-in value. Left at that, LLVM may merge any identical constant
//! into it: a `&0` handed to a map insert once compiled to the address of a
//! zero offset global that the loader then set to 312, so every preemption
//! count started at 312. A global with an explicit section is never merged
//! (LLVM's constant merging skips them), so each is placed in `.rodata` by
//! name; and every build of the object is checked (`xtask`'s
//! `object_check`): a reference to one of these globals must be a load.

/// Declares load-time globals: `NAME: TYPE = compiled-in value;`, each read
/// with `.load()` (a volatile read, so the value set at load time is seen).
/// `NAME` must be a name of `probe_common::globals`, which the agent sets.
macro_rules! load_time_globals {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $value:expr;)*) => {
        $(
            $(#[$doc])*
            #[unsafe(link_section = ".rodata")]
            #[unsafe(no_mangle)]
            pub(crate) static $name: aya_ebpf::Global<$ty> = aya_ebpf::Global::new($value);
            crate::names::named!($name, probe_common::globals::$name);
        )*
    };
}
pub(crate) use load_time_globals;
