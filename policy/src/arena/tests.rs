use std::alloc::{GlobalAlloc, Layout};

use proptest::prelude::*;

use super::Arena;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("a valid layout")
}

/// Whether the `len` bytes at `ptr` all hold `byte`.
///
/// # Safety
/// `ptr` must point at `len` readable bytes.
unsafe fn filled(ptr: *const u8, len: usize, byte: u8) -> bool {
    // SAFETY: the caller's.
    unsafe { std::slice::from_raw_parts(ptr, len) }
        .iter()
        .all(|&b| b == byte)
}

#[test]
fn freeing_the_last_block_gives_its_bytes_back() {
    let arena = Arena::<1024>::new();
    // SAFETY: non-zero layouts; each block freed once, with its layout.
    unsafe {
        let first = arena.alloc(layout(24, 8));
        let second = arena.alloc(layout(40, 8));
        assert!(arena.contains(first) && arena.contains(second));
        assert_eq!(arena.used(), 64);
        arena.dealloc(second, layout(40, 8));
        assert_eq!(arena.used(), 24);
        assert_eq!(arena.alloc(layout(40, 8)), second);
        // A block freed out of order keeps its bytes taken.
        arena.dealloc(first, layout(24, 8));
        assert_eq!(arena.used(), 64);
    }
}

#[test]
fn the_last_block_grows_where_it_is_and_an_earlier_one_moves() {
    let arena = Arena::<1024>::new();
    // SAFETY: as above; each pointer used only while its block is live.
    unsafe {
        let first = arena.alloc(layout(16, 1));
        first.write_bytes(7, 16);
        let grown = arena.realloc(first, layout(16, 1), 100);
        assert_eq!(grown, first);
        assert_eq!(arena.used(), 100);
        let second = arena.alloc(layout(8, 1));
        let moved = arena.realloc(grown, layout(100, 1), 200);
        assert_ne!(moved, grown);
        assert!(arena.contains(moved));
        assert!(filled(moved, 16, 7));
        arena.dealloc(second, layout(8, 1));
        arena.dealloc(moved, layout(200, 1));
        // The moved block was the last: its bytes come back, the hole it left does not.
        assert_eq!(arena.used(), 108);
    }
}

#[test]
fn a_full_arena_hands_on_to_the_system_allocator() {
    let arena = Arena::<64>::new();
    // SAFETY: as above.
    unsafe {
        let inside = arena.alloc(layout(48, 16));
        let outside = arena.alloc(layout(32, 16));
        assert!(arena.contains(inside));
        assert!(!arena.contains(outside));
        assert_eq!(outside as usize % 16, 0);
        outside.write_bytes(1, 32);
        // A block that outgrows the arena moves out of it, its bytes with it.
        inside.write_bytes(2, 48);
        let moved = arena.realloc(inside, layout(48, 16), 80);
        assert!(!arena.contains(moved));
        assert!(filled(moved, 48, 2));
        assert_eq!(arena.used(), 0);
        arena.dealloc(moved, layout(80, 16));
        arena.dealloc(outside, layout(32, 16));
    }
}

#[test]
fn an_instance_reused_for_many_calls_loses_at_most_the_arena() {
    // A runtime that kept one instance: every call leaves a block behind.
    let arena = Arena::<4096>::new();
    for _ in 0..1000 {
        // SAFETY: as above.
        unsafe {
            let kept = arena.alloc(layout(100, 8));
            let scratch = arena.alloc(layout(300, 8));
            assert!(!kept.is_null() && !scratch.is_null());
            arena.dealloc(scratch, layout(300, 8));
        }
        assert!(arena.used() <= 4096);
    }
}

/// What one step does to the arena.
#[derive(Debug, Clone)]
enum Step {
    Alloc { size: usize, align_log2: u32 },
    Free(usize),
    Realloc(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..700, 0u32..7).prop_map(|(size, align_log2)| Step::Alloc { size, align_log2 }),
        any::<usize>().prop_map(Step::Free),
        (any::<usize>(), 1usize..1500).prop_map(|(at, size)| Step::Realloc(at, size)),
    ]
}

/// A live block: where, its layout, and the byte it was filled with.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    fill: u8,
}

fn holds(block: &Block) -> bool {
    // SAFETY: a live block of `layout.size()` bytes.
    unsafe { filled(block.ptr, block.layout.size(), block.fill) }
}

proptest! {
    /// Any sequence of allocations, frees and reallocations, partly past the arena: every block
    /// is aligned and keeps its bytes, so no two live blocks overlap.
    #[test]
    fn blocks_stay_aligned_and_apart(steps in prop::collection::vec(step(), 1..120)) {
        let arena = Arena::<4096>::new();
        let mut blocks: Vec<Block> = Vec::new();
        for (n, step) in steps.into_iter().enumerate() {
            let fill = (n % 251) as u8;
            match step {
                Step::Alloc { size, align_log2 } => {
                    let layout = layout(size, 1 << align_log2);
                    // SAFETY: a non-zero size; the block is written within its size.
                    let ptr = unsafe { arena.alloc(layout) };
                    prop_assert!(!ptr.is_null());
                    prop_assert_eq!(ptr as usize % layout.align(), 0);
                    unsafe { ptr.write_bytes(fill, size) };
                    blocks.push(Block { ptr, layout, fill });
                }
                Step::Free(at) if !blocks.is_empty() => {
                    let block = blocks.swap_remove(at % blocks.len());
                    // SAFETY: a live block, freed once with its layout.
                    unsafe { arena.dealloc(block.ptr, block.layout) };
                }
                Step::Realloc(at, size) if !blocks.is_empty() => {
                    let at = at % blocks.len();
                    let block = &mut blocks[at];
                    let kept = block.layout.size().min(size);
                    // SAFETY: a live block with its layout and a non-zero size; then written
                    // within the new size.
                    let ptr = unsafe { arena.realloc(block.ptr, block.layout, size) };
                    prop_assert!(!ptr.is_null());
                    prop_assert_eq!(ptr as usize % block.layout.align(), 0);
                    // SAFETY: the first `kept` bytes of the live block.
                    let intact = unsafe { filled(ptr, kept, block.fill) };
                    prop_assert!(intact, "bytes lost in a realloc");
                    unsafe { ptr.write_bytes(fill, size) };
                    *block = Block { ptr, layout: layout(size, block.layout.align()), fill };
                }
                Step::Free(_) | Step::Realloc(..) => {}
            }
            prop_assert!(arena.used() <= 4096);
            prop_assert!(blocks.iter().all(holds));
        }
        for block in blocks {
            // SAFETY: each remaining block, freed once.
            unsafe { arena.dealloc(block.ptr, block.layout) };
        }
    }
}

#[test]
fn a_value_is_forgotten_while_every_block_is_the_arenas_and_dropped_after_one_spills() {
    struct Counted<'a>(&'a std::cell::Cell<usize>);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = std::cell::Cell::new(0);
    let arena = Arena::<64>::new();
    // SAFETY: non-zero layouts; each block freed once, with its layout.
    unsafe {
        let first = arena.alloc(layout(48, 8));
        assert!(arena.contains(first));
        arena.discard(Counted(&drops));
        assert_eq!(drops.get(), 0, "dropped though every block was the arena's");
        // 32 more bytes do not fit: the system allocator's block, which a drop must give back.
        let spilled = arena.alloc(layout(32, 8));
        assert!(!arena.contains(spilled));
        arena.discard(Counted(&drops));
        assert_eq!(
            drops.get(),
            1,
            "forgotten though a block came from the system allocator"
        );
        // Freeing the system's block does not make the arena whole again.
        arena.dealloc(spilled, layout(32, 8));
        arena.discard(Counted(&drops));
        assert_eq!(drops.get(), 2);
        arena.dealloc(first, layout(48, 8));
    }
}
