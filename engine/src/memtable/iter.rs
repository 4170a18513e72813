//! [`MemTableIterator`]: an [`InternalIterator`] over a memtable.

use std::sync::Arc;

use super::skiplist::{Node, Target};
use super::MemTable;
use crate::error::Result;
use crate::iterator::{not_positioned, InternalIterator};

/// An iterator over a memtable's entries in internal-key order; `key()` is the internal key.
///
/// It holds an `Arc<MemTable>`, so it is `'static` and keeps the entries it points at alive.
/// Entries added after a positioning call may or may not be seen by later `next`/`prev`
/// calls; the entries seen are always in order. `prev` searches from the head (O(log n)).
/// Memtable iteration cannot fail on its own: the only error is `next`/`prev` when not
/// positioned, which (per the contract) sticks.
pub struct MemTableIterator {
    mem: Arc<MemTable>,
    /// The current node of `mem.list`, or null when not positioned.
    node: Node,
    /// Set by `next`/`prev` on an unpositioned iterator; the error then sticks.
    misused: bool,
}

// SAFETY: `node` points into the arena of `mem`, which this iterator keeps alive through the
// `Arc`; the skiplist is `Sync` (lock-free reads of published, immutable entries), so driving
// the iterator from another thread is as safe as reading the list from it.
unsafe impl Send for MemTableIterator {}

impl MemTableIterator {
    pub(super) fn new(mem: Arc<MemTable>) -> MemTableIterator {
        MemTableIterator { mem, node: Node::NULL, misused: false }
    }

    #[inline]
    fn entry(&self) -> (&[u8], &[u8]) {
        if self.node.is_null() {
            return (&[], &[]);
        }
        // SAFETY: a non-null `node` was returned by `self.mem.list` (never the head), and
        // the list lives as long as `self.mem`, hence at least as long as `&self`.
        unsafe { self.node.entry() }
    }

    /// Records a misuse: the iterator becomes invalid and the error sticks.
    #[cold]
    fn misuse(&mut self) -> Result<()> {
        self.misused = true;
        self.node = Node::NULL;
        Err(not_positioned())
    }
}

impl InternalIterator for MemTableIterator {
    #[inline]
    fn valid(&self) -> bool {
        !self.node.is_null()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.status()?;
        self.node = self.mem.list.first();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.status()?;
        self.node = self.mem.list.last();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.status()?;
        self.node = self.mem.list.seek(&Target::from_internal(target));
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.status()?;
        self.node = self.mem.list.seek_for_prev(&Target::from_internal(target));
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        if self.node.is_null() {
            return self.misuse();
        }
        // SAFETY: a non-null `node` was returned by `self.mem.list`.
        self.node = unsafe { self.mem.list.next(self.node) };
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if self.node.is_null() {
            return self.misuse();
        }
        // SAFETY: a non-null `node` was returned by `self.mem.list`.
        self.node = unsafe { self.mem.list.prev(self.node) };
        Ok(())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.entry().0
    }

    #[inline]
    fn value(&self) -> &[u8] {
        self.entry().1
    }

    #[inline]
    fn status(&self) -> Result<()> {
        if self.misused {
            return Err(not_positioned());
        }
        Ok(())
    }
}
