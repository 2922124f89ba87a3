//! Task local storage (`BPF_MAP_TYPE_TASK_STORAGE`, Linux 5.11 and later):
//! one value per thread, found from the thread itself and freed by the
//! kernel with it. No slot is shared, so no thread's entry can evict
//! another's, and nothing outlives its thread. aya-ebpf defines no such map;
//! this is one, in the BTF form the loader reads.

use core::{ffi::c_void, ptr};

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_LOCAL_STORAGE_GET_F_CREATE, bpf_map_type},
    helpers::generated::bpf_task_storage_get,
};

use crate::kernel::KernelPtr;

/// A task storage map of `T` (a `#[btf_map]` static).
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are placeholders the loader reads from BTF; they are
// never dereferenced.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    /// The map's definition.
    pub const fn new() -> Self {
        TaskStorage {
            r#type: ptr::null(),
            key: ptr::null(),
            value: ptr::null(),
            max_entries: ptr::null(),
            map_flags: ptr::null(),
        }
    }

    #[inline(always)]
    fn lookup(&self, task: KernelPtr, flags: u64) -> Option<*mut T> {
        // SAFETY: `task` is a BTF-typed `task_struct` (the current task),
        // which the helper requires and the verifier checks; no initial
        // value is passed (a new one is zeroed).
        let value = unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast::<c_void>(),
                task.as_ptr().cast_mut().cast(),
                ptr::null_mut(),
                flags,
            )
        };
        (!value.is_null()).then_some(value.cast())
    }

    /// `task`'s value, if it has one.
    #[inline(always)]
    pub fn get(&self, task: KernelPtr) -> Option<*mut T> {
        self.lookup(task, 0)
    }

    /// `task`'s value, made (zeroed) if it has none; `None` if the kernel
    /// cannot allocate it.
    #[inline(always)]
    pub fn get_or_create(&self, task: KernelPtr) -> Option<*mut T> {
        self.lookup(task, BPF_LOCAL_STORAGE_GET_F_CREATE.into())
    }
}
