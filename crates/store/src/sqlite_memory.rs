//! SQLite allocates through the server's allocator (mimalloc), not glibc's malloc.
//!
//! Each sqlx SQLite connection runs on a thread of its own, and glibc gives every such
//! thread its own malloc arena. The page caches of 16 readers were freed into those
//! arenas when their connections closed, and the arenas kept the memory: the server
//! stayed at 83-102 MB after a quiet minute, against 26-31 MB on PostgreSQL. mimalloc
//! gives freed pages back to the operating system, and is faster at SQLite's many small
//! allocations as well.
//!
//! mimalloc frees a page back to the operating system a little after it empties, but it
//! does that work on the thread that owned the page, at its next allocation; a reader
//! thread that ended with its connection never comes back to it. So while the store
//! is open, its housekeeping (`sqlite.rs`) asks mimalloc every idle timeout to collect
//! what ended threads left behind (`collect_abandoned`).
//!
//! `sqlite3_config` must run before SQLite initialises, and while no other thread uses
//! SQLite; `install` runs once, before the first connection this process opens. If
//! SQLite is already initialised (something opened it first), SQLite refuses the
//! change and keeps its own allocator, which is only a matter of memory.

use libsqlite3_sys as ffi;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

unsafe extern "C" fn allocate(size: c_int) -> *mut c_void {
    // SQLite never asks for a negative size; a zero-sized request may return null.
    match usize::try_from(size) {
        Ok(size) if size > 0 => unsafe { libmimalloc_sys::mi_malloc(size) },
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn free(p: *mut c_void) {
    unsafe { libmimalloc_sys::mi_free(p) }
}

unsafe extern "C" fn reallocate(p: *mut c_void, size: c_int) -> *mut c_void {
    match usize::try_from(size) {
        Ok(size) if size > 0 => unsafe { libmimalloc_sys::mi_realloc(p, size) },
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn size_of(p: *mut c_void) -> c_int {
    let size = unsafe { libmimalloc_sys::mi_usable_size(p) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn round_up(size: c_int) -> c_int {
    let good = usize::try_from(size).map(|s| unsafe { libmimalloc_sys::mi_good_size(s) });
    good.ok()
        .and_then(|s| c_int::try_from(s).ok())
        .unwrap_or(size)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// The methods SQLite calls; it copies them, and nothing ever writes through the null
/// `pAppData`, so sharing them between threads is sound.
struct Methods(ffi::sqlite3_mem_methods);

// SAFETY: see above: the only pointer in it is null and never dereferenced.
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods(ffi::sqlite3_mem_methods {
    xMalloc: Some(allocate),
    xFree: Some(free),
    xRealloc: Some(reallocate),
    xSize: Some(size_of),
    xRoundup: Some(round_up),
    xInit: Some(init),
    xShutdown: Some(shutdown),
    pAppData: std::ptr::null_mut(),
});

/// Puts SQLite on mimalloc, once per process; returns whether SQLite took it.
pub(crate) fn install() -> bool {
    static TAKEN: OnceLock<bool> = OnceLock::new();
    *TAKEN.get_or_init(|| {
        // SAFETY: runs once (other callers wait for it), before this process opens its
        // first SQLite connection (every open goes through `SqliteStore::connect`,
        // which calls this first), so no other thread is inside SQLite. `METHODS` is
        // static. SQLite answers SQLITE_MISUSE if it is already initialised.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &METHODS.0) };
        rc == ffi::SQLITE_OK
    })
}

/// Gives back to the operating system what threads that ended left in mimalloc's
/// heap (see above). Blocks for a moment: call it off the async threads.
pub(crate) fn collect_abandoned() {
    // SAFETY: `mi_collect` may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_allocates_from_mimalloc() {
        assert!(super::install(), "SQLite took the allocator");
        assert!(super::install(), "and a second call says so again");
        let p = unsafe { libsqlite3_sys::sqlite3_malloc(1000) };
        assert!(!p.is_null());
        assert!(
            unsafe { libmimalloc_sys::mi_is_in_heap_region(p) },
            "SQLite's memory comes from mimalloc's heap"
        );
        assert!(unsafe { libsqlite3_sys::sqlite3_msize(p) } >= 1000);
        unsafe { libsqlite3_sys::sqlite3_free(p) };
    }
}
