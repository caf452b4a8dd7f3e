//! The allocator: jemalloc, for every thread of the process (tests included), and what it
//! tells of memory.
//!
//! glibc's malloc kept what a load frees (the parsed records, the loader's tables) scattered
//! among what it keeps, and could give little of it back: a 200,000-name signed zone was served
//! at 955 MB of PSS with 475 MB in use, and `malloc_trim` returned nothing. jemalloc's slabs are
//! per size class and its freed pages are purged whole: the same zone is served at 470 MB and
//! loads faster, the unsigned 200,000-name zone at glibc's 85 MB (mimalloc, tried too, held
//! 528 and 107 MB). Nothing per query allocates either way (the fast path allocates nothing).

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Octets of the process resident in memory (`/proc/self/statm`, Linux): what a reload's peak
/// must return to.
pub fn resident() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * usize::try_from(page).ok()?)
}

/// Gives the memory freed so far back to the system now (after a load, which frees its scratch
/// work and the previous generation), rather than after jemalloc's decay of ten seconds.
pub fn release() {
    // `arena.<MALLCTL_ARENAS_ALL>.purge`: every arena's unused dirty pages, returned.
    let name = c"arena.4096.purge";
    // SAFETY: a purge takes and returns nothing: every pointer may be null and the length 0.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
