//! A concurrent skiplist of memtable entries, ordered by internal key, after LevelDB's
//! `db/skiplist.h`, with nodes and entries laid out inline in an [`Arena`].
//!
//! # Thread safety
//!
//! - Writes (`insert`) are serialised by the list's writer mutex. The engine already
//!   serialises writers (only the write-group leader inserts), so the mutex is uncontended; it
//!   is there so that misuse is a slowdown, never a data race.
//! - Reads (`seek`, `seek_for_prev`, `first`, `last`, `next`, `prev`, `entry`) take no lock
//!   and run concurrently with the writer and with each other. A reader needs only that the
//!   list is not dropped while it reads; iterators guarantee that by holding an `Arc` of the
//!   memtable that owns the list.
//!
//! # Invariants
//!
//! 1. Nodes are never freed or unlinked until the list drops; the arena that holds them is
//!    freed as a whole in `Drop`. So a node pointer a reader has obtained stays valid for as
//!    long as the list lives.
//! 2. A node's entry bytes (key, value, lengths) are written once, before the node is linked
//!    at any level, and never change afterwards. Only its tower of `next` pointers changes.
//! 3. A node is published by Release stores into its predecessors' towers, bottom level first.
//!    Its entry is written before the first of those stores, and its own slot `i` before the
//!    store that links it at level `i`. Readers load every `next` pointer with Acquire and read
//!    slot `i` of a node only after reaching it at level `i` or above, so they see the entry
//!    and every slot they read as written (invariant 2 makes the plain reads of the entry
//!    race-free).
//! 4. Every level is sorted by internal key ascending (user key ascending, tag descending);
//!    the list at level `i + 1` is a sublist of the list at level `i`. Because linking goes
//!    bottom-up, a node reachable at level `i` is already reachable at every level below.
//! 5. `max_height` only grows. It is read with Relaxed: a reader that sees the new height
//!    before the head's new tower entries finds them null and simply drops a level; a reader
//!    that sees the old height starts lower, which is merely slower.
//! 6. The head node has a tower of [`MAX_HEIGHT`] pointers and no entry; it sorts before
//!    every key and is never returned to callers as an entry (search results map it to null).
//! 7. The writer's splice (`Writer::splice`) only ever names nodes of this list: at each
//!    level, the last node with a key `<=` the last inserted key (or the head). It is a
//!    finger, never trusted blindly: a key below the splice's bottom node gets a full search
//!    from the head; a key above it is bracketed at every level from the lowest one whose
//!    successor is `>=` the key upwards (the first node after the last inserted key at level
//!    `i + 1` is at or after the one at level `i`, levels being sublists), checked at that
//!    level, and searched forward from the splice below it. Ascending keys, one after the
//!    other, cost O(1); keys a few nodes apart cost the levels of that distance, not of the
//!    whole list (why the engine inserts a group's entries sorted, `db/write.rs`).
//!
//! # Node layout
//!
//! ```text
//! base (8-aligned)                     node pointer
//! |                                    |
//! v                                    v
//! [next[h-1]] ... [next[1]] [next[0]]  varint ikey_len | ikey | varint vtag | value or address
//!  8 bytes each (AtomicPtr)            ikey = user_key ++ tag (8 bytes LE, see keys.rs)
//!                                      vtag = value_len << 1 | out_of_line
//! ```
//! The tower sits before the node pointer, so the entry starts at a fixed offset whatever the
//! node's height.
//!
//! A value of at most [`INLINE_VALUE_MAX`] bytes follows its key inline (`out_of_line` 0). A
//! longer one lives in a second arena of values only, and the node holds its address (8 bytes,
//! native endian, unaligned; `out_of_line` 1). Why: a search touches the key of every node it
//! passes and no value, so with 1000-byte values inline every step of a search was a cache
//! (and TLB) miss a kilobyte from the last; with the values apart the nodes of a 16 MiB
//! memtable of such values fit in about 1 MiB. Measurements in `docs/memtable.md`; the
//! limit keeps db_bench's 100-byte values inline, where moving them cost inserts more than
//! it saved lookups.

use std::cmp::Ordering;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as AtomicOrdering};

use parking_lot::Mutex;

use super::arena::{Arena, ALIGN};
use crate::coding::varint_len;
use crate::keys::{self, TAG_LEN};

/// The tallest tower.
pub(crate) const MAX_HEIGHT: usize = 12;

/// Longest value stored inline in its node; longer ones go to the value arena.
pub(crate) const INLINE_VALUE_MAX: usize = 128;

/// Size of an out-of-line value's address in a node.
const ADDR: usize = std::mem::size_of::<*const u8>();

/// Size of one tower slot.
const SLOT: usize = std::mem::size_of::<AtomicPtr<u8>>();
const _: () = assert!(SLOT == ALIGN);

/// A search key: an internal key split into user key and tag, ordered as
/// [`keys::compare_internal`] orders internal keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub user_key: &'a [u8],
    pub tag: u64,
}

impl<'a> Target<'a> {
    /// Splits an internal key (a slice shorter than a tag is all user key with tag 0, as in
    /// [`keys::compare_internal`]).
    #[inline]
    pub(crate) fn from_internal(ikey: &'a [u8]) -> Target<'a> {
        Target { user_key: keys::user_key(ikey), tag: keys::tag(ikey) }
    }
}

/// A pointer to a node of some list, or null. Only this module creates non-null ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node(*mut u8);

impl Node {
    pub(crate) const NULL: Node = Node(ptr::null_mut());

    #[inline]
    pub(crate) fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// Tower slot `level`.
    ///
    /// # Safety
    /// `self` is a non-null node of a live list whose height is greater than `level`.
    #[inline(always)]
    unsafe fn slot<'a>(self, level: usize) -> &'a AtomicPtr<u8> {
        // SAFETY: per the precondition, the tower has a slot `level`, 8-aligned, at
        // `node - 8 * (level + 1)`, inside the node's allocation; it is only ever accessed
        // atomically.
        unsafe { &*self.0.sub(SLOT * (level + 1)).cast::<AtomicPtr<u8>>() }
    }

    /// Initialises tower slot `level` of a node that is not yet reachable.
    ///
    /// # Safety
    /// `self` is a node whose allocation has a tower slot `level`, not yet linked anywhere
    /// (so no other thread can access it).
    #[inline(always)]
    unsafe fn init_slot(self, level: usize, next: Node) {
        // SAFETY: the slot is in bounds and 8-aligned (as in `slot`), possibly uninitialised
        // memory, and unshared, so a plain write of a fresh `AtomicPtr` is race-free.
        unsafe { self.0.sub(SLOT * (level + 1)).cast::<AtomicPtr<u8>>().write(AtomicPtr::new(next.0)) }
    }

    /// The successor at `level` (Acquire: see invariant 3).
    ///
    /// # Safety
    /// As for [`Node::slot`].
    #[inline(always)]
    unsafe fn next(self, level: usize) -> Node {
        // SAFETY: forwarded precondition.
        Node(unsafe { self.slot(level) }.load(AtomicOrdering::Acquire))
    }

    /// The internal key and value of a node (the value inline or in the value arena).
    ///
    /// # Safety
    /// `self` is a non-null, non-head node of a list that outlives `'a`.
    #[inline(always)]
    pub(crate) unsafe fn entry<'a>(self) -> (&'a [u8], &'a [u8]) {
        // SAFETY: the entry was fully written before the node became reachable (invariants
        // 2 and 3) and stays untouched and allocated while the list lives (invariant 1); the
        // lengths were written by `write_entry` and describe bytes inside the allocation.
        unsafe {
            let (klen, p) = read_varint(self.0);
            let key = std::slice::from_raw_parts(p, klen);
            let (vtag, v) = read_varint(p.add(klen));
            let v = if vtag & 1 == 1 { v.cast::<*const u8>().read_unaligned() } else { v };
            (key, std::slice::from_raw_parts(v, vtag >> 1))
        }
    }

    /// The internal key of a node.
    ///
    /// # Safety
    /// As for [`Node::entry`].
    #[inline(always)]
    pub(crate) unsafe fn key<'a>(self) -> &'a [u8] {
        // SAFETY: as in `entry`.
        unsafe {
            let (klen, p) = read_varint(self.0);
            std::slice::from_raw_parts(p, klen)
        }
    }

    /// How this node's key compares with `t`.
    ///
    /// # Safety
    /// As for [`Node::entry`].
    #[inline(always)]
    unsafe fn compare(self, t: &Target<'_>) -> Ordering {
        // SAFETY: forwarded precondition.
        let k = unsafe { self.key() };
        // Every stored key is `user_key ++ tag` (written by `write_entry`), so it holds a tag.
        let (user, tag) = k.split_at(k.len() - TAG_LEN);
        match user.cmp(t.user_key) {
            Ordering::Equal => t.tag.cmp(&keys::tag(tag)),
            o => o,
        }
    }
}

/// Decodes a varint written by [`write_varint`]: the value and the first byte after it.
///
/// # Safety
/// `p` points to a complete varint written by `write_varint` in live memory.
#[inline(always)]
unsafe fn read_varint(mut p: *const u8) -> (usize, *const u8) {
    let mut shift = 0;
    let mut v = 0usize;
    loop {
        // SAFETY: per the precondition, every byte up to the one without the high bit is
        // part of the varint.
        let b = unsafe { *p };
        // SAFETY: as above; at most one past the varint's last byte.
        p = unsafe { p.add(1) };
        v |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (v, p);
        }
        shift += 7;
    }
}

/// Writes `v` as a varint at `p` and returns the byte after it.
///
/// # Safety
/// `p` is valid for `varint_len(v)` byte writes.
#[inline(always)]
unsafe fn write_varint(mut p: *mut u8, mut v: usize) -> *mut u8 {
    while v >= 0x80 {
        // SAFETY: within the `varint_len(v)` bytes the caller provided.
        unsafe {
            p.write(v as u8 | 0x80);
            p = p.add(1);
        }
        v >>= 7;
    }
    // SAFETY: the last byte of the varint.
    unsafe {
        p.write(v as u8);
        p.add(1)
    }
}

/// State only the writer touches, guarded by `SkipList::writer`.
struct Writer {
    /// Owns every node's memory (invariant 1).
    arena: Arena,
    /// Owns the bytes of every value longer than [`INLINE_VALUE_MAX`] (invariant 1 holds
    /// for them too: written once before their node is linked, freed with the list).
    values: Arena,
    /// xorshift64 state for tower heights; never zero.
    rng: u64,
    /// For each level, the last node at that level with key `<=` the last inserted key
    /// (the head before any insert). Makes ascending inserts O(1); see invariant 7.
    splice: [Node; MAX_HEIGHT],
}

// SAFETY: `Writer` owns the arena (itself `Send`); the splice pointers name nodes in that
// arena, which are plain memory with no thread affinity. It is only reached through the
// mutex, so it is never accessed by two threads at once.
unsafe impl Send for Writer {}

impl Writer {
    /// A height in `1..=MAX_HEIGHT`, each level above the first with probability 1/4.
    #[inline]
    fn random_height(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Two random bits per level: P(height > h) = 4^-h.
        (1 + (x.trailing_zeros() / 2) as usize).min(MAX_HEIGHT)
    }
}

/// The skiplist. See the module docs for thread safety and invariants.
pub(crate) struct SkipList {
    head: Node,
    /// Height of the tallest tower ever inserted (invariant 5).
    max_height: AtomicUsize,
    /// Number of entries; Relaxed, a statistic.
    len: AtomicUsize,
    /// Arena bytes consumed; Relaxed, a statistic.
    memory: AtomicUsize,
    writer: Mutex<Writer>,
}

// SAFETY: the list owns its nodes (through the arena in `writer`); its raw pointers point
// into that memory and carry no thread affinity, so it may move between threads.
unsafe impl Send for SkipList {}
// SAFETY: shared access is either (a) the writer path, serialised by the `writer` mutex, or
// (b) readers, which only do Acquire loads of tower slots and reads of entry bytes that are
// immutable once published (invariants 1-3). No `&self` method mutates non-atomic memory that
// another thread can reach, so concurrent `&SkipList` use is race-free.
unsafe impl Sync for SkipList {}

impl SkipList {
    pub(crate) fn new() -> SkipList {
        let memory = AtomicUsize::new(0);
        let mut arena = Arena::new();
        // The head: a tower of MAX_HEIGHT nulls and an empty entry (never read, invariant 6).
        let base = arena.alloc(SLOT * MAX_HEIGHT + 2, &memory);
        // SAFETY: `base` is valid for `SLOT * MAX_HEIGHT + 2` bytes, 8-aligned, and not
        // shared yet; we initialise every tower slot and the two entry bytes.
        let head = unsafe {
            for level in 0..MAX_HEIGHT {
                base.cast::<AtomicPtr<u8>>().add(level).write(AtomicPtr::new(ptr::null_mut()));
            }
            let node = base.add(SLOT * MAX_HEIGHT);
            node.write_bytes(0, 2);
            Node(node)
        };
        SkipList {
            head,
            max_height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            memory,
            writer: Mutex::new(Writer {
                arena,
                values: Arena::new(),
                rng: 0x9E37_79B9_7F4A_7C15,
                splice: [head; MAX_HEIGHT],
            }),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.memory.load(AtomicOrdering::Relaxed)
    }

    /// Inserts the entry (`user_key ++ tag`, `value`). An entry equal to an existing one is
    /// placed before it (the engine never inserts duplicates: sequences are unique).
    pub(crate) fn insert(&self, user_key: &[u8], tag: u64, value: &[u8]) {
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        let t = Target { user_key, tag };
        // Only the writer (we hold its lock) changes `max_height`.
        let max_height = self.max_height.load(AtomicOrdering::Relaxed);
        let mut prev = w.splice;
        // SAFETY: the splice names nodes of this list (invariant 7).
        if !unsafe { self.search_from_splice(&mut prev, max_height, &t) } {
            self.find_ge(&t, Some(&mut prev));
        }
        let height = w.random_height();
        if height > max_height {
            for p in prev.iter_mut().take(height).skip(max_height) {
                *p = self.head;
            }
            self.max_height.store(height, AtomicOrdering::Relaxed);
        }

        let klen = user_key.len() + TAG_LEN;
        let out_of_line = value.len() > INLINE_VALUE_MAX;
        let vtag = value.len() << 1 | usize::from(out_of_line);
        let stored = if out_of_line { ADDR } else { value.len() };
        let size = SLOT * height + varint_len(klen as u64) + klen + varint_len(vtag as u64) + stored;
        let base = w.arena.alloc(size, &self.memory);
        // A long value goes to the value arena first (its node is not reachable yet).
        let value_at = if out_of_line {
            let v = w.values.alloc(value.len(), &self.memory);
            // SAFETY: `v` is valid for `value.len()` bytes and unshared.
            unsafe { ptr::copy_nonoverlapping(value.as_ptr(), v, value.len()) };
            v.cast_const()
        } else {
            value.as_ptr()
        };
        // SAFETY: `base` is valid for `size` bytes, not yet reachable by anyone: the tower
        // occupies the first `SLOT * height` and the entry exactly the rest.
        let node = unsafe {
            let node = base.add(SLOT * height);
            let mut p = write_varint(node, klen);
            ptr::copy_nonoverlapping(user_key.as_ptr(), p, user_key.len());
            p = p.add(user_key.len());
            ptr::copy_nonoverlapping(tag.to_le_bytes().as_ptr(), p, TAG_LEN);
            p = write_varint(p.add(TAG_LEN), vtag);
            if out_of_line {
                p.cast::<*const u8>().write_unaligned(value_at);
            } else {
                ptr::copy_nonoverlapping(value_at, p, value.len());
            }
            Node(node)
        };
        for (level, &p) in prev.iter().enumerate().take(height) {
            // SAFETY: `node` has height `height > level` and is not reachable at `level` yet;
            // `p` is the head (height MAX_HEIGHT) or a node found at `level`, so its tower
            // reaches `level`. The Release store into `p` publishes the node with its entry and
            // its slots up to `level`, all written before it (invariant 3).
            unsafe {
                node.init_slot(level, p.next(level));
                p.slot(level).store(node.0, AtomicOrdering::Release);
            }
        }
        for s in prev.iter_mut().take(height) {
            *s = node;
        }
        w.splice = prev;
        self.len.fetch_add(1, AtomicOrdering::Relaxed);
    }

    /// Turns `splice` (invariant 7) into the predecessors of `t` at every level below
    /// `max_height` (the last node `< t`, or the head), searching forward from the splice;
    /// false, with `splice` unusable, when `t` sorts at or before the splice's bottom node or
    /// no level brackets it (then a full search must run).
    ///
    /// # Safety
    /// `splice` names nodes of this list, `splice[level]` of height `> level`, and is the
    /// writer's splice (invariant 7) unchanged since the last insert.
    #[inline]
    unsafe fn search_from_splice(&self, splice: &mut [Node; MAX_HEIGHT], max_height: usize, t: &Target<'_>) -> bool {
        let bottom = splice[0];
        // SAFETY: a node of this list (precondition); the head is handled by the check.
        if bottom != self.head && unsafe { bottom.compare(t) } != Ordering::Less {
            return false;
        }
        // Every splice node is now `< t` (a higher level's is at or before the bottom one).
        // The lowest level whose successor is `>= t` (or null) brackets `t`, and so does
        // every level above it (invariant 7).
        let mut level = 0;
        let mut known_less = Node::NULL;
        while level < max_height {
            // SAFETY: precondition.
            let next = unsafe { splice[level].next(level) };
            // SAFETY: a non-null successor is a published node of this list.
            if next.is_null() || (next != known_less && unsafe { next.compare(t) } != Ordering::Less) {
                break;
            }
            known_less = next;
            level += 1;
        }
        if level == max_height {
            return false;
        }
        debug_assert!((level..max_height).all(|l| {
            // SAFETY: as above.
            let next = unsafe { splice[l].next(l) };
            // SAFETY: as above.
            next.is_null() || unsafe { next.compare(t) } != Ordering::Less
        }));
        // Below it, search down as from the head, but starting from the splice: at each level
        // from the later of the splice node and the node found one level up. Until the search
        // has moved, that is the splice node (at or after every higher one); once it has, the
        // node found (after the last inserted key, so after every splice node).
        let mut known_ge = Node::NULL;
        let mut x = self.head;
        let mut moved = false;
        while level > 0 {
            level -= 1;
            if !moved {
                x = splice[level];
            }
            loop {
                // SAFETY: `x` is a splice node of height `> level` or a node reached at a
                // level `>= level`.
                let next = unsafe { x.next(level) };
                // SAFETY: a non-null successor is a published node of this list.
                if !next.is_null() && next != known_ge && unsafe { next.compare(t) } == Ordering::Less {
                    x = next;
                    moved = true;
                    continue;
                }
                known_ge = next;
                break;
            }
            splice[level] = x;
        }
        true
    }

    /// Checks invariant 4: every level sorted, and each level's nodes also on the level
    /// below. Returns the number of nodes per level.
    #[cfg(test)]
    pub(crate) fn check_levels(&self) -> Result<Vec<usize>, String> {
        let max_height = self.max_height.load(AtomicOrdering::Relaxed);
        let mut counts = Vec::new();
        let mut below: std::collections::HashSet<*mut u8> = std::collections::HashSet::new();
        for level in 0..max_height {
            let mut on_level = std::collections::HashSet::new();
            // SAFETY: the head has every level; nodes reached at `level` have it too.
            let mut x = unsafe { self.head.next(level) };
            let mut last: Option<&[u8]> = None;
            while !x.is_null() {
                // SAFETY: a published node of this list.
                let key = unsafe { x.key() };
                if let Some(prev) = last {
                    if keys::compare_internal(prev, key) != Ordering::Less {
                        return Err(format!("level {level}: {prev:?} before {key:?}"));
                    }
                }
                if level > 0 && !below.contains(&x.0) {
                    return Err(format!("level {level}: {key:?} is not on level {}", level - 1));
                }
                on_level.insert(x.0);
                last = Some(key);
                // SAFETY: as above.
                x = unsafe { x.next(level) };
            }
            counts.push(on_level.len());
            below = on_level;
        }
        Ok(counts)
    }

    /// The first node `>= t`, or null. With `prev`, also records at each level below
    /// `max_height` the last node `< t` (or the head).
    #[inline]
    fn find_ge(&self, t: &Target<'_>, mut prev: Option<&mut [Node; MAX_HEIGHT]>) -> Node {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        // A node already found `>= t` one level up: no need to compare it again.
        let mut known_ge = Node::NULL;
        loop {
            // SAFETY: `x` is the head or a node reached at `level` (so its tower reaches it).
            let next = unsafe { x.next(level) };
            // SAFETY: a non-null successor is a published node of this list.
            if !next.is_null() && next != known_ge && unsafe { next.compare(t) } == Ordering::Less {
                x = next;
                continue;
            }
            if let Some(p) = prev.as_deref_mut() {
                p[level] = x;
            }
            if level == 0 {
                return next;
            }
            known_ge = next;
            level -= 1;
        }
    }

    /// The last node `< t` (`<= t` with `or_equal`; the last node of all when `t` is
    /// `None`), or the head when there is none.
    #[inline]
    fn find_last_where(&self, t: Option<&Target<'_>>, or_equal: bool) -> Node {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            // SAFETY: `x` is the head or a node reached at `level`.
            let next = unsafe { x.next(level) };
            let advance = !next.is_null()
                && match t {
                    None => true,
                    // SAFETY: a non-null successor is a published node of this list.
                    Some(t) => match unsafe { next.compare(t) } {
                        Ordering::Less => true,
                        Ordering::Equal => or_equal,
                        Ordering::Greater => false,
                    },
                };
            if advance {
                x = next;
            } else if level == 0 {
                return x;
            } else {
                level -= 1;
            }
        }
    }

    /// Maps the head to null.
    #[inline]
    fn not_head(&self, n: Node) -> Node {
        if n == self.head {
            Node::NULL
        } else {
            n
        }
    }

    /// The first node `>= t`, or null.
    pub(crate) fn seek(&self, t: &Target<'_>) -> Node {
        self.find_ge(t, None)
    }

    /// The last node `<= t`, or null.
    pub(crate) fn seek_for_prev(&self, t: &Target<'_>) -> Node {
        self.not_head(self.find_last_where(Some(t), true))
    }

    /// The first node, or null.
    pub(crate) fn first(&self) -> Node {
        // SAFETY: the head's tower has every level.
        unsafe { self.head.next(0) }
    }

    /// The last node, or null.
    pub(crate) fn last(&self) -> Node {
        self.not_head(self.find_last_where(None, false))
    }

    /// The node after `n`, or null.
    ///
    /// # Safety
    /// `n` is a non-null node returned by this list.
    pub(crate) unsafe fn next(&self, n: Node) -> Node {
        // SAFETY: every node has level 0.
        unsafe { n.next(0) }
    }

    /// The last node before `n`, or null (a search from the head, as in LevelDB). Of
    /// several entries equal to `n`'s (which the engine never inserts) all are skipped.
    ///
    /// # Safety
    /// `n` is a non-null node returned by this list.
    pub(crate) unsafe fn prev(&self, n: Node) -> Node {
        // SAFETY: forwarded precondition; the key lives as long as the list.
        let t = Target::from_internal(unsafe { n.key() });
        self.not_head(self.find_last_where(Some(&t), false))
    }
}
