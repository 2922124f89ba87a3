//! Socket local storage (`BPF_MAP_TYPE_SK_STORAGE`): one value per socket,
//! found from the socket itself and freed by the kernel with it; the
//! dependency signal keeps its outbound sockets' state there, the request
//! signal its inbound ones'.

use core::ptr;

use aya_ebpf::{
    bindings::BPF_SK_STORAGE_GET_F_CREATE, btf_maps::SkStorage,
    helpers::generated::bpf_sk_storage_get,
};

use crate::kernel::KernelPtr;

/// `sk`'s value in `map`: its own, or (with `create`) a new one, zeroed or
/// a copy of `initial` (null, or a `T` on the caller's stack); `None` when
/// it has none, or the kernel cannot allocate one.
#[inline(always)]
pub fn get<T>(
    map: &SkStorage<T>,
    sk: KernelPtr,
    create: bool,
    initial: *mut T,
) -> Option<&'static mut T> {
    let flags = if create {
        u64::from(BPF_SK_STORAGE_GET_F_CREATE)
    } else {
        0
    };
    // SAFETY: `sk` is a BTF-typed socket the kernel handed over; `map` is
    // one of this object's socket storages; `initial` is null or a value of
    // its size; the helper returns the socket's value or null, live for
    // this program's run.
    unsafe {
        bpf_sk_storage_get(
            ptr::from_ref(map).cast_mut().cast(),
            sk.as_ptr() as *mut _,
            initial.cast(),
            flags,
        )
        .cast::<T>()
        .as_mut()
    }
}
