//! A bump allocator of large chunks that hands out 8-byte-aligned raw memory for skiplist
//! nodes.
//!
//! Memory is never freed piecemeal: every chunk lives until the [`Arena`] drops, which is what
//! lets lock-free readers hold raw pointers into it (see the invariants in `skiplist.rs`).
//!
//! Chunks grow from 64 KiB to 1 MiB; an allocation larger than a
//! quarter of a chunk gets a chunk of its own so it wastes no tail.
//!
//! Thread safety: `alloc` takes `&mut self`, so the arena sits inside the skiplist's writer
//! mutex. The bytes it has handed out are shared with readers by raw pointer; the arena itself
//! never reads or writes them after handing them out.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Size of the first chunk. Chunks double up to [`CHUNK_SIZE`], so a memtable that stays
/// small (one of many tablets) stays small.
const FIRST_CHUNK_SIZE: usize = 64 << 10;

/// Size of a full-grown chunk. (Advising transparent huge pages for chunks was measured: random
/// inserts and lookups got 15-25% faster, sequential inserts 4x slower from huge-page fault
/// stalls, so chunks use ordinary pages.)
pub(crate) const CHUNK_SIZE: usize = 1 << 20;

/// Alignment of every allocation (that of `AtomicPtr`, `u64`).
pub(crate) const ALIGN: usize = 8;

/// One owned chunk, freed when the arena drops.
struct Chunk {
    /// Start of an allocation made with `layout` by the global allocator.
    ptr: NonNull<u8>,
    layout: Layout,
}

/// The bump allocator. Owns its chunks; pointers it returns stay valid until it drops.
pub(crate) struct Arena {
    chunks: Vec<Chunk>,
    /// Next free byte of the current chunk (dangling when `remaining == 0`).
    cursor: *mut u8,
    /// Free bytes left after `cursor` in the current chunk.
    remaining: usize,
    /// Size of the current chunk (0 before the first).
    chunk_size: usize,
}

// SAFETY: the arena exclusively owns its chunks (plain heap memory with no thread affinity);
// the raw pointers are addresses into that memory. Moving the arena to another thread moves
// that ownership along; nothing in it is tied to the creating thread.
unsafe impl Send for Arena {}

impl Arena {
    /// An empty arena; the first allocation allocates the first chunk.
    pub(crate) fn new() -> Arena {
        Arena { chunks: Vec::new(), cursor: NonNull::<u64>::dangling().as_ptr().cast(), remaining: 0, chunk_size: 0 }
    }

    /// Returns `size` bytes (rounded up to a multiple of [`ALIGN`]), aligned to [`ALIGN`],
    /// valid for reads and writes until the arena drops, and disjoint from every other
    /// allocation. The bytes are *uninitialised*: the caller writes every byte it later
    /// reads. Adds the bytes consumed (including any abandoned chunk tail) to `usage`.
    pub(crate) fn alloc(&mut self, size: usize, usage: &AtomicUsize) -> *mut u8 {
        let size = size.next_multiple_of(ALIGN);
        if size > self.remaining {
            let next_size = (self.chunk_size * 2).clamp(FIRST_CHUNK_SIZE, CHUNK_SIZE);
            if size > next_size / 4 {
                // Keep the current chunk's tail for later small allocations.
                usage.fetch_add(size, Ordering::Relaxed);
                return self.new_chunk(size);
            }
            // Abandon the tail of the current chunk; count it as used.
            usage.fetch_add(self.remaining, Ordering::Relaxed);
            self.cursor = self.new_chunk(next_size);
            self.remaining = next_size;
            self.chunk_size = next_size;
        }
        let p = self.cursor;
        // SAFETY: `size <= remaining`, so `cursor + size` stays inside (or one past the end
        // of) the current chunk, the same allocation `cursor` points into.
        self.cursor = unsafe { self.cursor.add(size) };
        self.remaining -= size;
        usage.fetch_add(size, Ordering::Relaxed);
        p
    }

    /// Allocates a chunk of `bytes` bytes (a non-zero multiple of 8) and returns its start.
    fn new_chunk(&mut self, bytes: usize) -> *mut u8 {
        let Ok(layout) = Layout::from_size_align(bytes, ALIGN) else {
            // Only a size near `isize::MAX` gets here: treat it as the allocation failure
            // it is.
            std::alloc::handle_alloc_error(Layout::new::<u64>());
        };
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        self.chunks.push(Chunk { ptr, layout });
        raw
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for c in self.chunks.drain(..) {
            // SAFETY: `c.ptr` was returned by `alloc(c.layout)` in `new_chunk` and is
            // freed once: `drain` removes it from the list.
            unsafe { std::alloc::dealloc(c.ptr.as_ptr(), c.layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_disjoint_and_counted() {
        let usage = AtomicUsize::new(0);
        let mut a = Arena::new();
        let mut last_end = 0usize;
        for size in [1usize, 7, 8, 9, 100, 3] {
            let p = a.alloc(size, &usage) as usize;
            assert_eq!(p % ALIGN, 0);
            assert!(p >= last_end);
            last_end = p + size;
        }
        assert_eq!(usage.load(Ordering::Relaxed), 8 + 8 + 8 + 16 + 104 + 8);
        assert_eq!(a.chunk_size, FIRST_CHUNK_SIZE);
        // Chunks grow to full size.
        while a.chunk_size < CHUNK_SIZE {
            let p = a.alloc(1000, &usage);
            // SAFETY: `p` is valid for 1000 bytes.
            unsafe { p.write_bytes(0xCD, 1000) };
        }
        let chunks = a.chunks.len();
        while a.remaining >= CHUNK_SIZE / 4 {
            a.alloc(1000, &usage);
        }
        // A big allocation that does not fit gets its own chunk and keeps the cursor.
        let before = (a.cursor, a.remaining);
        let used = usage.load(Ordering::Relaxed);
        let big = a.alloc(CHUNK_SIZE / 4 + 1, &usage);
        assert_eq!((a.cursor, a.remaining), before);
        assert_eq!(usage.load(Ordering::Relaxed), used + CHUNK_SIZE / 4 + 8);
        assert_eq!(a.chunks.len(), chunks + 1);
        // SAFETY: `big` is valid for CHUNK_SIZE / 4 + 1 bytes.
        unsafe { big.add(CHUNK_SIZE / 4).write(0xAB) };
        // Usage counts every byte handed out or abandoned, never more than the chunks hold.
        let total: usize = a.chunks.iter().map(|c| c.layout.size()).sum();
        assert_eq!(usage.load(Ordering::Relaxed), total - a.remaining);
    }
}
