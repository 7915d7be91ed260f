//! What every fuzz target links: an allocator that aborts on any single
//! allocation over 64 MiB, so that a size read from a length field and
//! never touched (no RSS growth, so libFuzzer's own limit misses it) is a
//! crash.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation allowed.
const CAP: usize = 64 << 20;

struct Capped;

// SAFETY: every call goes to the system allocator unchanged, or aborts
// before reaching it.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            std::process::abort();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            std::process::abort();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
