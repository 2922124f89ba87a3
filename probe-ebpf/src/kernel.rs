//! Reads of kernel structures through BTF-typed pointers. Every offset is a
//! read-only global the agent resolves from the running kernel's BTF before
//! load; the verifier sees it as a constant and checks each access against
//! the kernel's own type information.

use aya_ebpf::Global;

#[unsafe(no_mangle)]
static TASK_PID_OFFSET: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
static TASK_CGROUPS_OFFSET: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
static CSS_SET_DFL_CGRP_OFFSET: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
static CGROUP_KN_OFFSET: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
static KERNFS_NODE_ID_OFFSET: Global<u64> = Global::new(0);

/// An opaque kernel object reached through a BTF pointer.
pub type KernelPtr = *const u8;

/// Reads a `T` at byte `offset` inside the object at `base`.
#[inline(always)]
unsafe fn read_at<T: Copy>(base: KernelPtr, offset: u64) -> T {
    unsafe { core::ptr::read_volatile(base.add(offset as usize) as *const T) }
}

/// `task->pid`: the thread id (0 for the idle task).
#[inline(always)]
pub fn task_tid(task: KernelPtr) -> u32 {
    unsafe { read_at::<i32>(task, TASK_PID_OFFSET.load()) as u32 }
}

/// `task->cgroups->dfl_cgrp->kn->id`: the id of the task's cgroup v2, which is
/// the inode number of its directory. `None` if a pointer on the way is null.
#[inline(always)]
pub fn task_cgroup_id(task: KernelPtr) -> Option<u64> {
    unsafe {
        let css_set: KernelPtr = read_at(task, TASK_CGROUPS_OFFSET.load());
        if css_set.is_null() {
            return None;
        }
        let cgroup: KernelPtr = read_at(css_set, CSS_SET_DFL_CGRP_OFFSET.load());
        if cgroup.is_null() {
            return None;
        }
        let kn: KernelPtr = read_at(cgroup, CGROUP_KN_OFFSET.load());
        if kn.is_null() {
            return None;
        }
        Some(read_at(kn, KERNFS_NODE_ID_OFFSET.load()))
    }
}
