//! The guest's allocator on wasm32: a bump arena in front of the system allocator (wasi-libc's
//! dlmalloc).
//!
//! One evaluation allocates a few dozen to a few hundred blocks, 8 to 30 KB in all for the bench
//! fixtures, and frees nearly all of them only when it ends. pullthrough runs each evaluation in
//! a fresh instance, and so does Kubewarden's policy-server (1.31 rehydrates a `PolicyEvaluator`
//! per request, `src/evaluation/evaluation_environment.rs`). The call's memory goes with its
//! instance, and dlmalloc's bookkeeping, a sixth of the guest's time, buys nothing.
//!
//! An allocation takes the arena's next bytes. A free returns them only when it is the last
//! allocation, the order a growing `Vec` and a short-lived temporary follow; otherwise they stay
//! taken until the instance goes. Once the arena is used up, allocations go to the system
//! allocator as before. A runtime that reused one instance for many calls would so lose at most
//! the arena, [`ARENA_BYTES`], and then run on dlmalloc alone.
//!
//! For the same reason a call need not drop what it built: [`Arena::discard`] forgets a value
//! while every block so far came from the arena (walking a tree only to give back bytes that go
//! with the instance is a twentieth of a call on a patched pod), and drops it once one came from
//! the system allocator, whose blocks a reused instance needs back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr;

/// The arena's size: several times what a call on a large pod (the 2.8 KB one of the bench
/// fixtures takes 27 KB) allocates; it comes out of the 2 MiB the module starts with
/// (`policy/build.rs`), as zeroed static memory that adds nothing to the module's size.
#[cfg(target_arch = "wasm32")]
pub(crate) const ARENA_BYTES: usize = 256 * 1024;

/// A bump arena of `N` bytes in front of [`System`]. Not thread-safe: the wasm guest has one
/// thread, and the native tests keep each arena on one thread.
#[derive(Debug)]
pub(crate) struct Arena<const N: usize> {
    space: Space<N>,
    // Bytes of the space handed out, from its start; the next allocation starts at or after it.
    used: Cell<usize>,
    // Whether a block ever went to the system allocator.
    spilled: Cell<bool>,
}

// Aligned for every type the guest allocates, so that alignment costs no padding in practice.
#[derive(Debug)]
#[repr(C, align(16))]
struct Space<const N: usize>(UnsafeCell<[u8; N]>);

impl<const N: usize> Arena<N> {
    /// An empty arena.
    pub(crate) const fn new() -> Self {
        Self {
            space: Space(UnsafeCell::new([0; N])),
            used: Cell::new(0),
            spilled: Cell::new(false),
        }
    }

    /// Ends the life of `value`: forgets it while every block handed out came from the arena
    /// (a drop would give back only a block freed last, and the rest go with the instance);
    /// drops it once the system allocator has handed out one, so that its blocks come back.
    pub(crate) fn discard<T>(&self, value: T) {
        if self.spilled.get() {
            drop(value);
        } else {
            std::mem::forget(value);
        }
    }

    /// Bytes of the arena handed out so far (freed ones included, unless freed last).
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.get()
    }

    fn start(&self) -> usize {
        self.space.0.get() as usize
    }

    /// Whether `ptr` was handed out by the arena rather than by [`System`].
    pub(crate) fn contains(&self, ptr: *const u8) -> bool {
        (ptr as usize).wrapping_sub(self.start()) < N
    }

    // The arena's bytes for `layout`, or `None` when they do not fit in what is left.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.start();
        let mask = layout.align() - 1;
        let aligned = (start + self.used.get()).checked_add(mask)? & !mask;
        let end = (aligned - start).checked_add(layout.size())?;
        (end <= N).then(|| {
            self.used.set(end);
            // The address computed from the space's own pointer, to keep its provenance.
            self.space
                .0
                .get()
                .cast::<u8>()
                .wrapping_add(aligned - start)
        })
    }

    // Whether the block at `ptr` of `size` bytes is the last one handed out.
    fn is_last(&self, ptr: *mut u8, size: usize) -> bool {
        ptr as usize + size == self.start() + self.used.get()
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block is either the arena's (disjoint from every other live block, since `used`
// only moves back over the last block, once it is freed) or the system allocator's, and each
// call below goes to the allocator the block came from.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(block) => block,
            None => {
                self.spilled.set(true);
                // SAFETY: the caller's layout, passed on.
                unsafe { System.alloc(layout) }
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.contains(ptr) {
            // SAFETY: a block of the system allocator's, with the layout it was given.
            unsafe { System.dealloc(ptr, layout) };
        } else if self.is_last(ptr, layout.size()) {
            self.used.set(ptr as usize - self.start());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.contains(ptr) {
            // SAFETY: a block of the system allocator's, with its layout and the caller's size.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let offset = ptr as usize - self.start();
        if self.is_last(ptr, layout.size())
            && offset.checked_add(new_size).is_some_and(|end| end <= N)
        {
            // The last block grows or shrinks where it is.
            self.used.set(offset + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `layout.align()` is a valid alignment and the caller guarantees that
        // `new_size`, rounded up to it, does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (larger than the old one).
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: two live blocks, disjoint, each at least `layout.size()` bytes long.
            unsafe { ptr::copy_nonoverlapping(ptr, moved, layout.size()) };
            // SAFETY: the old block, with its layout, no longer used.
            unsafe { self.dealloc(ptr, layout) };
        }
        moved
    }
}

/// The guest's global allocator: one arena of [`ARENA_BYTES`].
#[cfg(target_arch = "wasm32")]
#[derive(Debug)]
pub(crate) struct Guest(pub(crate) Arena<ARENA_BYTES>);

// SAFETY: wasm32-wasip1 has no threads: the arena's cell is never touched by two at once.
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for Guest {}

#[cfg(target_arch = "wasm32")]
// SAFETY: the arena's, forwarded.
unsafe impl GlobalAlloc for Guest {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.alloc(layout) }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests;
