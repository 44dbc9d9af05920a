//! The binary's allocator, jemalloc (`main.rs` installs it): what the library asks of it.

/// Returns the pages jemalloc holds free to the kernel now, instead of after its ten-second
/// decay. Cranelift's compilation of a module leaves about 13 MiB of them behind, which would
/// otherwise stay in the server's resident set through the first load (BENCHMARKS.md, "Peak
/// RSS"). Takes a few milliseconds; where jemalloc is not the global allocator (the library's
/// tests) it purges jemalloc's own, empty, arenas.
pub(crate) fn release_free_pages() {
    // `arena.<MALLCTL_ARENAS_ALL>.purge`: every arena's dirty and muzzy pages.
    const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: a purge reads and writes no value, so the pointers may be null and the length 0.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if status != 0 {
        tracing::debug!(status, "jemalloc did not purge its free pages");
    }
}
