//! The first bytes of a send, read from the sender's buffer: how the
//! dependency signal classes a request, and the request signal an HTTP
//! status line. Reading them needs `bpf_probe_read_user` (and, for a send
//! in several segments, `bpf_probe_read_kernel`): `PEEK_PAYLOAD` is 0 where
//! the offsets or kernel reads are missing, and then nothing is read.

use probe_common::dependency::{IOVEC_SIZE, request::PEEK};

use crate::kernel::{KernelPtr, offsets, probe_read};

offsets!(
    MSGHDR_ITER_OFFSET,
    ITER_TYPE_OFFSET,
    ITER_IOV_OFFSET_OFFSET,
    ITER_UBUF_OFFSET,
    ITER_IOV_OFFSET,
    ITER_COUNT_OFFSET,
    IOVEC_BASE_OFFSET,
    IOVEC_LEN_OFFSET,
    ITER_NR_SEGS_OFFSET,
);

crate::globals::load_time_globals! {
    /// 1 when the payload offsets are set and kernel reads allowed: the
    /// first bytes of sends are read.
    PEEK_PAYLOAD: u8 = 0;
    /// `ITER_UBUF` and `ITER_IOVEC` of this kernel's `enum iter_type`.
    ITER_UBUF_TYPE: u8 = 0;
    ITER_IOVEC_TYPE: u8 = 1;
}

/// The first bytes of the send `msg` (at most [`PEEK`], zero past what it
/// sends), in `buf`, and how many; `None` where they cannot be read.
#[inline(always)]
pub fn first_bytes(
    msg: KernelPtr,
    buf: &mut core::mem::MaybeUninit<[u8; 2 * PEEK]>,
) -> Option<(&[u8; PEEK], usize)> {
    // The first PEEK bytes are zeroed by word, not by a `memset` call (a
    // call with a stack pointer, which verifiers before 6.6 refuse); the
    // tail is only ever written, room for a last copy's bound.
    for word in 0..PEEK / 8 {
        // SAFETY: within the buffer's first PEEK bytes.
        unsafe { core::ptr::write_volatile(buf.as_mut_ptr().cast::<u64>().add(word), 0) };
    }
    // SAFETY: the bytes read back are the first PEEK, zeroed above and
    // then written by the copies; the rest is never read.
    let buf = unsafe { buf.assume_init_mut() };
    let len = gather(msg, buf)?;
    // SAFETY: the buffer's first PEEK bytes, as the array type.
    Some((unsafe { &*buf.as_ptr().cast::<[u8; PEEK]>() }, len))
}

/// Past this many bytes into a send's buffer, no request starts (1 MiB; a
/// bound the verifier needs, well under its 512 MiB for pointer offsets).
const MAX_SEND_OFFSET: u64 = 1 << 20;

/// Segments of an `ITER_IOVEC` send read for its first bytes: enough for a
/// command written in pieces (`*3\r\n`, `$5\r\n`, `BLPOP\r\n`, ...) to show
/// its name. Each costs the verifier some 18,000 instructions on 6.18
/// (four: 56,503 of its million).
const SEGMENTS: u64 = 4;

/// The first bytes of the send `msg`, gathered across its segments (an
/// `ITER_IOVEC` send's `iovec`s, empty ones skipped) up to
/// [`PEEK`], only within what is sent: into `buf`, how many.
/// `None` where they cannot be read (another kind of buffer, no offsets).
#[inline(always)]
fn gather(msg: KernelPtr, buf: &mut [u8; 2 * PEEK]) -> Option<usize> {
    if PEEK_PAYLOAD.load() == 0 || msg.is_null() {
        return None;
    }
    let at = MSGHDR_ITER_OFFSET.load();
    let iter_type: u8 = msg.read(at + ITER_TYPE_OFFSET.load());
    let offset: u64 = msg.read(at + ITER_IOV_OFFSET_OFFSET.load());
    let count: u64 = msg.read(at + ITER_COUNT_OFFSET.load());
    // A send starts at its buffer's first bytes: an offset this far in is
    // no request's start. The bound also lets verifiers that type the
    // buffer as a kernel pointer (6.1's: `iov`, not `ubuf`, comes first in
    // the union) add it.
    if offset >= MAX_SEND_OFFSET {
        return None;
    }
    let wanted = count.min(PEEK as u64);
    if iter_type == ITER_UBUF_TYPE.load() {
        let base = msg
            .read::<u64>(at + ITER_UBUF_OFFSET.load())
            .wrapping_add(offset);
        return copy_user(buf, 0, base, wanted).then_some(wanted as usize);
    }
    if iter_type != ITER_IOVEC_TYPE.load() {
        return None;
    }
    // Loaded before the loop: a global's address left in a register
    // across a call would reach it (xtask's object check).
    let (iov_base, iov_len) = (IOVEC_BASE_OFFSET.load(), IOVEC_LEN_OFFSET.load());
    let segments: u64 = msg.read(at + ITER_NR_SEGS_OFFSET.load());
    // `__iov` shares a union with user pointers: some verifiers type it
    // as a number, so the array's elements are read by address.
    let iov: u64 = msg.read(at + ITER_IOV_OFFSET.load());
    let mut filled = 0u64;
    let mut skip = offset;
    for i in 0..SEGMENTS {
        if i >= segments || filled >= wanted {
            break;
        }
        let element = iov.wrapping_add(i * IOVEC_SIZE);
        let base = probe_read::<u64>(element.wrapping_add(iov_base))?;
        let len = probe_read::<u64>(element.wrapping_add(iov_len))?;
        // The send's offset is into its first segment.
        let available = len.saturating_sub(skip);
        skip = 0;
        let n = available.min(wanted - filled);
        if n > 0 && !copy_user(buf, filled, base.wrapping_add(len - available), n) {
            return None;
        }
        filled += n;
    }
    Some(filled as usize)
}

/// Copies `n` (at most `PEEK`) bytes of user memory at `from` to
/// `buf[at..]` (`at` under `PEEK`); whether it could.
#[inline(always)]
fn copy_user(buf: &mut [u8; 2 * PEEK], mut at: u64, from: u64, mut n: u64) -> bool {
    const LIMIT: u64 = PEEK as u64;
    if at >= LIMIT || n == 0 || n > LIMIT {
        return n == 0;
    }
    // Bounded as well as compared, in instructions the compiler cannot
    // drop (it proves them redundant): 6.1's verifier loses the bounds of
    // `at` and `n` across the gathering loop's iterations. `at` to 0..PEEK,
    // `n` to 1..=PEEK (it is not 0 here).
    // SAFETY: arithmetic on two registers, with constants.
    unsafe {
        core::arch::asm!(
            "{at} &= {mask}",
            "{n} += -1",
            "{n} &= {mask}",
            "{n} += 1",
            at = inout(reg) at,
            n = inout(reg) n,
            mask = const LIMIT - 1,
            options(pure, nomem, nostack),
        );
    }
    // SAFETY: `at + n` is within the buffer (`at` under PEEK, `n` at most
    // PEEK, the buffer twice that); the helper writes `n` bytes there or
    // fails rather than fault.
    unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_user(
            buf.as_mut_ptr().add(at as usize).cast(),
            n as u32,
            from as *const core::ffi::c_void,
        ) == 0
    }
}
