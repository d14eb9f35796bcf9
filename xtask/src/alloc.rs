//! The global allocator of the `cargo xtask` binary: mimalloc, or the system allocator when the
//! environment sets `NOETHER_ALLOCATOR=system`.
//!
//! A training step allocates and frees buffers of megabytes hundreds of times; glibc's malloc
//! returns large blocks to the kernel (`mmap` / `munmap`) and the kernel zeroes every fresh page
//! on first touch, which profiles showed at about 15% of a ResNet step. mimalloc keeps freed
//! pages for reuse, and [`configure`] turns its purging of freed pages off (`purge_delay` -1;
//! the default returns them to the kernel after 10 ms, and a step then pays for zeroing them
//! again: +7% images per second on the ResNet-18 step of `cargo xtask bench` without purging).
//! The choice is made once, at the first allocation (before `main`), by reading
//! the environment without allocating; `cargo xtask bench` runs its worker under both to measure
//! the difference.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

/// The allocator in use, fixed by the first allocation.
static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The environment variable that selects the system allocator (`system`).
pub const ENV: &str = "NOETHER_ALLOCATOR";

/// Reads [`ENV`] without allocating (`getenv` on Unix; mimalloc elsewhere).
#[allow(unsafe_code)]
fn decide() -> u8 {
    #[cfg(unix)]
    {
        // SAFETY: `getenv` takes a NUL-terminated name and returns NULL or a pointer to a
        // NUL-terminated value owned by the environment, read at once and not kept. Nothing in
        // this program calls `setenv` while allocating.
        let value = unsafe { libc::getenv(c"NOETHER_ALLOCATOR".as_ptr()) };
        if !value.is_null() && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == b"system" {
            return SYSTEM;
        }
    }
    MIMALLOC
}

fn mode() -> u8 {
    match MODE.load(Ordering::Relaxed) {
        UNDECIDED => {
            let m = decide();
            match MODE.compare_exchange(UNDECIDED, m, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => m,
                Err(first) => first,
            }
        }
        m => m,
    }
}

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_e` in the v2 and v3
/// headers; `libmimalloc-sys` names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Settings for a training process, called first thing in `main`: with mimalloc, freed pages
/// are kept for reuse rather than purged (unless `MIMALLOC_PURGE_DELAY` is set, which wins).
#[allow(unsafe_code)]
pub fn configure() {
    if mode() == MIMALLOC && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// The name of the allocator in use (`mimalloc` or `system`), for reports.
pub fn name() -> &'static str {
    match mode() {
        SYSTEM => "system",
        _ => "mimalloc",
    }
}

/// Dispatches every call to the allocator chosen once by [`mode`]; since the choice never
/// changes, every block is freed by the allocator that made it.
struct Switch;

// SAFETY: each method forwards its arguments unchanged to one of two `GlobalAlloc`s, always the
// same one, so their contracts carry over.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match mode() {
            SYSTEM => unsafe { System.alloc(layout) },
            _ => unsafe { MiMalloc.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match mode() {
            SYSTEM => unsafe { System.alloc_zeroed(layout) },
            _ => unsafe { MiMalloc.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match mode() {
            SYSTEM => unsafe { System.dealloc(ptr, layout) },
            _ => unsafe { MiMalloc.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match mode() {
            SYSTEM => unsafe { System.realloc(ptr, layout, new_size) },
            _ => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;
