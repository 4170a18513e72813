//! A bump allocator of large chunks that hands out 8-byte-aligned raw memory for skiplist
//! nodes.
//!
//! Memory is never freed piecemeal: every chunk lives until the [`Arena`] drops, which is what
//! lets lock-free readers hold raw pointers into it (see the invariants in `skiplist.rs`).
//!
//! Chunks grow from 64 KiB to 1 MiB; an allocation larger than a
//! quarter of a chunk gets a chunk of its own so it wastes no tail.
//!
//! Full-size chunks of a dropped arena go to a [`ChunkPool`] shared by the process (at
//! most [`POOL_CHUNKS`] of them) and the next arenas take them from there: a memtable
//! freed by a flush gives its memory to the memtables filling meanwhile. Without it, the
//! allocator had returned that memory to the OS by the time it was asked again, and every
//! byte a memtable took was a fresh page to fault in and zero (in a tablet server under
//! random writes, 75% of its page faults; docs/memtable.md has the measurements).
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

/// Most chunks the process-wide pool keeps (64 MiB: one tablet server memtable's worth).
pub(crate) const POOL_CHUNKS: usize = 64;

/// The layout of a full-size chunk.
fn chunk_layout() -> Layout {
    // CHUNK_SIZE is a non-zero multiple of ALIGN, a power of two.
    Layout::from_size_align(CHUNK_SIZE, ALIGN).unwrap_or(Layout::new::<u64>())
}

/// Full-size chunks kept for reuse after their arena dropped.
pub(crate) struct ChunkPool {
    chunks: parking_lot::Mutex<Vec<PooledChunk>>,
    max: usize,
}

/// A full-size chunk (allocated with [`chunk_layout`]) owned by no arena.
struct PooledChunk(NonNull<u8>);

// SAFETY: a pooled chunk is plain heap memory owned by the pool alone (no arena or node
// points into it any more: its arena dropped, and so did its list); ownership may move
// between threads.
unsafe impl Send for PooledChunk {}

impl ChunkPool {
    /// An empty pool keeping at most `max` chunks.
    pub(crate) const fn new(max: usize) -> ChunkPool {
        ChunkPool { chunks: parking_lot::Mutex::new(Vec::new()), max }
    }

    /// The pool of the process, which every memtable's arenas use.
    pub(crate) fn global() -> &'static ChunkPool {
        static GLOBAL: ChunkPool = ChunkPool::new(POOL_CHUNKS);
        &GLOBAL
    }

    /// A full-size chunk from the pool, if it holds one.
    fn take(&self) -> Option<NonNull<u8>> {
        self.chunks.lock().pop().map(|c| c.0)
    }

    /// Keeps `chunk` (a full-size chunk no one points into) or, when full, frees it.
    fn give(&self, chunk: NonNull<u8>) {
        let mut chunks = self.chunks.lock();
        if chunks.len() < self.max {
            chunks.push(PooledChunk(chunk));
            return;
        }
        drop(chunks);
        // SAFETY: a full-size chunk was allocated with `chunk_layout()`, and the caller
        // passes its ownership here.
        unsafe { std::alloc::dealloc(chunk.as_ptr(), chunk_layout()) };
    }

    /// Chunks the pool holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chunks.lock().len()
    }
}

impl Drop for ChunkPool {
    fn drop(&mut self) {
        for c in self.chunks.get_mut().drain(..) {
            // SAFETY: as in `give`: full-size chunks the pool owns.
            unsafe { std::alloc::dealloc(c.0.as_ptr(), chunk_layout()) };
        }
    }
}

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
    /// Where full-size chunks come from (when it has some) and go back to.
    pool: &'static ChunkPool,
}

// SAFETY: the arena exclusively owns its chunks (plain heap memory with no thread affinity);
// the raw pointers are addresses into that memory. Moving the arena to another thread moves
// that ownership along; nothing in it is tied to the creating thread.
unsafe impl Send for Arena {}

impl Arena {
    /// An empty arena on the process's chunk pool; the first allocation allocates the
    /// first chunk.
    pub(crate) fn new() -> Arena {
        Arena::with_pool(ChunkPool::global())
    }

    /// An empty arena taking full-size chunks from `pool` and giving them back to it.
    pub(crate) fn with_pool(pool: &'static ChunkPool) -> Arena {
        Arena {
            chunks: Vec::new(),
            cursor: NonNull::<u64>::dangling().as_ptr().cast(),
            remaining: 0,
            chunk_size: 0,
            pool,
        }
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
        if bytes == CHUNK_SIZE {
            if let Some(ptr) = self.pool.take() {
                self.chunks.push(Chunk { ptr, layout });
                return ptr.as_ptr();
            }
        }
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
            if c.layout == chunk_layout() {
                // Nothing points into it once the arena drops (invariant 1 of the list).
                self.pool.give(c.ptr);
                continue;
            }
            // SAFETY: `c.ptr` was returned by `alloc(c.layout)` in `new_chunk` and is
            // freed once: `drain` removes it from the list.
            unsafe { std::alloc::dealloc(c.ptr.as_ptr(), c.layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of its own for a test (the global one is shared with every other test).
    fn test_pool(max: usize) -> &'static ChunkPool {
        Box::leak(Box::new(ChunkPool::new(max)))
    }

    /// Starts of the full-size chunks of `a`.
    fn full_chunks(a: &Arena) -> Vec<usize> {
        a.chunks.iter().filter(|c| c.layout.size() == CHUNK_SIZE).map(|c| c.ptr.as_ptr() as usize).collect()
    }

    /// Allocates 1000-byte pieces, writing each, until `a` has `n` full-size chunks.
    fn fill(a: &mut Arena, n: usize, usage: &AtomicUsize) {
        while full_chunks(a).len() < n {
            let p = a.alloc(1000, usage);
            // SAFETY: `p` is valid for 1000 bytes.
            unsafe { p.write_bytes(0x5A, 1000) };
        }
    }

    #[test]
    fn full_chunks_of_a_dropped_arena_are_reused_up_to_the_pool_limit() {
        let pool = test_pool(3);
        let usage = AtomicUsize::new(0);
        let mut first = Arena::with_pool(pool);
        fill(&mut first, 5, &usage);
        // A big allocation gets a chunk of its own, not of full size: freed, not pooled.
        first.alloc(CHUNK_SIZE / 2, &usage);
        let given = full_chunks(&first);
        assert_eq!(given.len(), 5);
        drop(first);
        let pooled: Vec<usize> = pool.chunks.lock().iter().map(|c| c.0.as_ptr() as usize).collect();
        assert_eq!(pooled.len(), 3, "the pool keeps at most its limit");
        assert!(pooled.iter().all(|c| given.contains(c)));
        // The next arena takes the pooled chunks (once its chunks reached full size), then
        // new ones.
        let mut second = Arena::with_pool(pool);
        fill(&mut second, 4, &usage);
        let reused = full_chunks(&second);
        assert_eq!(pool.len(), 0);
        assert!(pooled.iter().all(|c| reused.contains(c)), "{reused:x?} vs {pooled:x?}");
        // Reused memory is handed out like new: writable, disjoint, counted.
        let p = second.alloc(5000, &usage);
        // SAFETY: `p` is valid for 5000 bytes.
        unsafe { p.write_bytes(1, 5000) };
        drop(second);
        assert_eq!(pool.len(), 3);
    }

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
