//! The allocator's settings, shared by the node binary and the benchmarks
//! that measure it (so they measure what ships).

/// `mi_option_purge_delay` in mimalloc.h (not exported as a constant by
/// libmimalloc-sys): how long freed memory waits before it is given back.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed memory before giving it back to the OS.
/// Its default, 10 ms, cost the display fan-out's p99 ~8 ms under a
/// connection flood: the fan-out frees and reallocates its frames on every
/// change. One second keeps them (RSS stays far under the 96 MB goal;
/// docs/PERFORMANCE.md).
const PURGE_DELAY_MS: std::ffi::c_long = 1_000;

/// Applies the node's mimalloc settings. For a program whose global
/// allocator is `mimalloc::MiMalloc`.
///
/// # Safety
/// Call first in `main`, before any other thread exists: mimalloc's options
/// are plain globals that other threads read without synchronisation.
pub unsafe fn configure() {
    // SAFETY: the caller guarantees no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}
