//! The memtable: recent writes held in memory, sorted by internal key, until a flush turns
//! them into an SSTable.
//!
//! A [`MemTable`] is a concurrent skiplist (see `skiplist.rs` for its thread-safety rules and
//! invariants) whose entries are internal keys (`user_key ++ tag`, see [`crate::keys`]) with
//! their values, stored inline in an arena of 1 MiB chunks: no heap allocation per entry.
//!
//! Thread safety: one writer at a time calls [`MemTable::add`] (the engine's write-group
//! leader); any number of readers call [`MemTable::get`] or drive a [`MemTableIterator`]
//! concurrently, lock-free. A full memtable simply stops receiving `add`s and becomes the
//! immutable memtable, read and flushed while a new one takes the writes. Its memory is freed
//! when the last `Arc<MemTable>` (iterators hold one) drops.

mod arena;
mod iter;
mod skiplist;
#[cfg(test)]
mod tests;

pub use iter::MemTableIterator;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::keys::{pack_tag, SequenceNumber, ValueKind, MAX_SEQUENCE};
use crate::write_buffer::{WriteBufferManager, CHARGE_STEP};
use skiplist::{SkipList, Target};

/// What a memtable knows about a key at a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemGet<'a> {
    /// The newest visible entry is a value.
    Found(&'a [u8]),
    /// The newest visible entry is a tombstone: the key is deleted as of this memtable, and
    /// older sources must not be consulted.
    Deleted,
}

/// An in-memory sorted table of recent writes. `Send + Sync`; see the module docs.
pub struct MemTable {
    list: SkipList,
    /// The shared budget this memtable's memory is charged to, if any.
    budget: Option<Arc<WriteBufferManager>>,
    /// Bytes charged to `budget` so far (a multiple of `CHARGE_STEP`). Relaxed: only the
    /// single inserter and `Drop` touch it.
    charged: AtomicUsize,
    /// Set by `freeze`; Relaxed, read by `Drop` (which has exclusive access).
    frozen: AtomicBool,
}

impl Default for MemTable {
    fn default() -> Self {
        MemTable::new()
    }
}

impl Drop for MemTable {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.release(*self.charged.get_mut(), *self.frozen.get_mut());
        }
    }
}

impl MemTable {
    /// An empty memtable.
    pub fn new() -> MemTable {
        MemTable::with_budget(None)
    }

    /// An empty memtable whose memory is charged to `budget` (see [`crate::write_buffer`])
    /// until it drops.
    pub fn with_budget(budget: Option<Arc<WriteBufferManager>>) -> MemTable {
        MemTable { list: SkipList::new(), budget, charged: AtomicUsize::new(0), frozen: AtomicBool::new(false) }
    }

    /// Marks the memtable as no longer the active one: its charge counts as immutable
    /// memory from now on. Call once, after its last `add`.
    pub fn freeze(&self) {
        if let Some(b) = &self.budget {
            if !self.frozen.swap(true, Ordering::Relaxed) {
                b.freeze(self.charged.load(Ordering::Relaxed));
            }
        }
    }

    /// Adds an entry: `user_key` at `seq` records `kind` (with `value`; empty for deletions).
    ///
    /// Preconditions: callers serialise `add`s (the engine's write-group leader is the only
    /// inserter; a concurrent `add` is still memory-safe, serialised by an internal mutex, but
    /// that lock is meant to be uncontended). Readers may run concurrently. `seq <=`
    /// [`MAX_SEQUENCE`], and no two entries share a user key and sequence number.
    pub fn add(&self, seq: SequenceNumber, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        debug_assert!(seq <= MAX_SEQUENCE);
        self.list.insert(user_key, pack_tag(seq.min(MAX_SEQUENCE), kind), value);
        if let Some(b) = &self.budget {
            let used = self.list.memory_usage();
            let charged = self.charged.load(Ordering::Relaxed);
            if used >= charged + CHARGE_STEP {
                let step = (used - charged) / CHARGE_STEP * CHARGE_STEP;
                self.charged.fetch_add(step, Ordering::Relaxed);
                b.charge(step);
            }
        }
    }

    /// The newest entry for `user_key` with sequence `<= seq`: `Some(Found(value))`,
    /// `Some(Deleted)`, or `None` when the memtable has no such entry. Lock-free.
    pub fn get(&self, user_key: &[u8], seq: SequenceNumber) -> Option<MemGet<'_>> {
        let t = Target { user_key, tag: pack_tag(seq.min(MAX_SEQUENCE), ValueKind::SEEK) };
        let n = self.list.seek(&t);
        if n.is_null() {
            return None;
        }
        // SAFETY: `n` is a non-null, non-head node of `self.list`, which outlives `&self`.
        let (ikey, value) = unsafe { n.entry() };
        let t = Target::from_internal(ikey);
        if t.user_key != user_key {
            return None;
        }
        match ValueKind::from_u8(t.tag as u8) {
            Some(ValueKind::Value) => Some(MemGet::Found(value)),
            _ => Some(MemGet::Deleted),
        }
    }

    /// Bytes of arena memory used so far (entries, towers, and chunk tails abandoned).
    /// Cheap: one atomic load. Grows monotonically.
    pub fn approximate_memory_usage(&self) -> usize {
        self.list.memory_usage()
    }

    /// Number of entries added.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no entry has been added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An iterator over all entries (those added later may or may not be seen). It holds
    /// the memtable alive.
    pub fn iter(self: &Arc<Self>) -> MemTableIterator {
        MemTableIterator::new(Arc::clone(self))
    }
}
