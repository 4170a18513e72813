//! A memory budget for the memtables of many databases in one process, after RocksDB's
//! `WriteBufferManager` (and the global memstore limit of an HBase region server).
//!
//! Each [`crate::Db`] still freezes its memtable when it reaches
//! [`crate::Options::write_buffer_size`]. With a shared [`WriteBufferManager`] in their
//! options, the databases also freeze their memtables when *all* of them together use too
//! much memory, so a process holding many databases (a tablet server holding many tablets)
//! can give each a large memtable, which cuts flushes and compaction work, without its
//! memory growing with the number of databases.
//!
//! # Accounting
//! A memtable charges the manager for its arena memory as it grows (in steps of
//! [`CHARGE_STEP`], 1 KiB, so small writes do not each touch the shared counters) and
//! releases the charge when it is dropped, which is after its flush and after the last
//! iterator reading it is gone. The charge counts as *mutable* while the memtable is a
//! database's active one and as *immutable* once it is frozen.
//!
//! # When a database freezes its memtable
//! Before a write group, the leader of a database asks [`WriteBufferManager::should_flush`]
//! (RocksDB's rule): yes when the mutable memtables use more than 7/8 of the budget, or when
//! all memtables together use the whole budget and the mutable ones at least half of it
//! (flushing more would then free memory). A yes freezes the writing database's memtable
//! if it holds anything; frozen memtables are flushed in the background as usual. The
//! budget is a target, not a hard cap: writes are never refused for it, and memory can pass
//! it by the writes of one group per database and by frozen memtables waiting for flushes.
//!
//! Thread safety: all state is atomic counters; any thread may charge, release or ask.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Memtable growth is charged in steps of this many bytes.
pub(crate) const CHARGE_STEP: usize = 1 << 10;

/// A memtable memory budget shared by databases; see the module docs. Create one, put
/// `Some(Arc<WriteBufferManager>)` in the [`crate::Options`] of every database that should
/// share it.
#[derive(Debug)]
pub struct WriteBufferManager {
    budget: usize,
    /// Bytes charged by all live memtables. Relaxed: a gauge for a heuristic; no other memory
    /// is published through it.
    total: AtomicUsize,
    /// Bytes charged by active (not frozen) memtables. Relaxed, as `total`.
    mutable: AtomicUsize,
}

impl WriteBufferManager {
    /// A manager that keeps the memtables of its databases near `budget_bytes` in total.
    pub fn new(budget_bytes: usize) -> Self {
        WriteBufferManager { budget: budget_bytes, total: AtomicUsize::new(0), mutable: AtomicUsize::new(0) }
    }

    /// The budget, in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes used by all live memtables of the databases sharing this manager (as charged:
    /// rounded down to [`CHARGE_STEP`] per memtable).
    pub fn memory_usage(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Bytes used by the active memtables alone.
    pub fn mutable_memory_usage(&self) -> usize {
        self.mutable.load(Ordering::Relaxed)
    }

    /// True when a database about to write should freeze its (non-empty) memtable.
    pub fn should_flush(&self) -> bool {
        flush_rule(self.budget, self.memory_usage(), self.mutable_memory_usage())
    }

    pub(crate) fn charge(&self, bytes: usize) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
        self.mutable.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Moves `bytes` of an active memtable's charge to the immutable side.
    pub(crate) fn freeze(&self, bytes: usize) {
        self.mutable.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Releases the `bytes` a memtable charged (`frozen`: whether it was frozen first).
    pub(crate) fn release(&self, bytes: usize, frozen: bool) {
        self.total.fetch_sub(bytes, Ordering::Relaxed);
        if !frozen {
            self.mutable.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

/// RocksDB's `ShouldFlush`: the mutable memtables past 7/8 of the budget, or everything at
/// the budget with the mutable half of it or more. A budget of 0 never asks for a flush.
fn flush_rule(budget: usize, total: usize, mutable: usize) -> bool {
    if budget == 0 {
        return false;
    }
    mutable > budget / 8 * 7 || (total >= budget && mutable >= budget / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flush_rule() {
        let mb = 1 << 20;
        // Mutable past 7/8 of the budget.
        assert!(!flush_rule(64 * mb, 56 * mb, 56 * mb));
        assert!(flush_rule(64 * mb, 57 * mb, 57 * mb));
        // At the budget: only if flushing would free at least half of it.
        assert!(flush_rule(64 * mb, 64 * mb, 32 * mb));
        assert!(!flush_rule(64 * mb, 64 * mb, 31 * mb));
        assert!(!flush_rule(64 * mb, 100 * mb, 8 * mb));
        // Below the budget with little mutable: no.
        assert!(!flush_rule(64 * mb, 40 * mb, 30 * mb));
        // No budget: never.
        assert!(!flush_rule(0, 100 * mb, 100 * mb));
    }

    #[test]
    fn charges_move_from_mutable_to_immutable_and_go() {
        let m = WriteBufferManager::new(1 << 20);
        m.charge(600 << 10);
        m.charge(300 << 10);
        assert_eq!((m.memory_usage(), m.mutable_memory_usage()), (900 << 10, 900 << 10));
        assert!(m.should_flush());
        m.freeze(600 << 10);
        assert_eq!((m.memory_usage(), m.mutable_memory_usage()), (900 << 10, 300 << 10));
        assert!(!m.should_flush());
        m.release(600 << 10, true);
        m.release(300 << 10, false);
        assert_eq!((m.memory_usage(), m.mutable_memory_usage()), (0, 0));
    }
}
