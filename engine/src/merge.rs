//! The merging iterator: one sorted view over several sorted sources.
//!
//! A [`MergingIterator`] walks the union of its children's entries in internal-key order
//! (see [`crate::keys`]), in both directions. Children are ordered by *age*: index 0 is the
//! newest source (the active memtable), higher indices are older (immutable memtables, then
//! level 0 files newest first, then deeper levels). Entries with equal internal keys (which
//! only happen when two sources hold a copy of the same write) come out lowest index first
//! going forward and highest index first going backward, so a backward walk is exactly the
//! reverse of a forward walk.
//!
//! # Invariants
//!
//! 1. `heap` holds exactly the indices of the children that are valid, arranged as a binary
//!    heap under the current direction's order: `(key, index)` ascending when forward,
//!    descending when backward. `heap[0]` is the current child.
//! 2. Forward: every child in the heap is positioned at its first entry `>= current` in
//!    `(key, index)` order. Backward: at its last entry `<= current`. A direction switch
//!    repositions every non-current child to restore this, as LevelDB's MergingIterator does.
//! 3. After a child reports an error the heap is empty, `err` holds the error, and every
//!    positioning call returns it again (it sticks).
//!
//! # Cost
//!
//! `next`/`prev` without a direction switch advance one child and sift the heap top down:
//! `O(log n)` key comparisons through [`compare_internal`], no allocation, no key copies.
//! A direction switch copies the current key once and repositions every child.
//!
//! Like LevelDB's and RocksDB's `IteratorWrapper`, the merge remembers where each child's
//! current key lives (a pointer and length taken from `key()` right after the child moved),
//! so heap comparisons make no virtual calls. This relies on the [`InternalIterator`]
//! contract that `key()` stays valid until the child's next positioning call: a child must
//! not change its key bytes from a `&self` method (no interior mutability of the key).
//!
//! # Thread safety
//!
//! `Send`, not `Sync`, like every [`InternalIterator`]: one thread drives it.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::iterator::{not_positioned, InternalIterator};
use crate::keys::compare_internal;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// Which way the iterator last moved; decides the heap order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// Where a child's current key lives: the slice its `key()` returned after it last moved.
#[derive(Clone, Copy)]
struct KeyRef {
    ptr: *const u8,
    len: usize,
}

impl KeyRef {
    const EMPTY: KeyRef = KeyRef { ptr: std::ptr::NonNull::dangling().as_ptr(), len: 0 };
}

/// A heap-based merge of child iterators; see the module docs for ordering and invariants.
pub struct MergingIterator {
    /// The sources, newest first. Never reordered.
    children: Vec<Box<dyn InternalIterator>>,
    /// `keys[i]` is child `i`'s current key while `i` is in the heap (refreshed after every
    /// positioning call on child `i`); meaningless otherwise.
    keys: Vec<KeyRef>,
    /// Indices of the valid children, as a heap under `dir`'s order; `heap[0]` is current.
    heap: Vec<usize>,
    /// The direction of the last positioning call.
    dir: Direction,
    /// The first error any child reported; sticky.
    err: Option<Error>,
    /// Reused buffer holding the current key during a direction switch.
    scratch: Vec<u8>,
    /// Heap position (1 or 2) of the better child of the top, when known. Stays correct
    /// while the top child keeps winning (positions 1 and 2 do not change), so a walk that
    /// stays in one child costs one comparison per step.
    runner_up: Option<usize>,
}

/// Merges `children` (newest first) into one iterator. With exactly one child the child
/// itself is returned (no merging layer at all); with none, an always-empty iterator.
pub fn merge(mut children: Vec<Box<dyn InternalIterator>>) -> Box<dyn InternalIterator> {
    if children.len() == 1 {
        if let Some(only) = children.pop() {
            return only;
        }
    }
    Box::new(MergingIterator::new(children))
}

impl MergingIterator {
    /// A merge of `children`, ordered newest first (lower index wins ties). The result is not
    /// positioned. Children need not be positioned; they are all repositioned on first use.
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        let n = children.len();
        MergingIterator {
            children,
            keys: vec![KeyRef::EMPTY; n],
            heap: Vec::with_capacity(n),
            dir: Direction::Forward,
            err: None,
            scratch: Vec::new(),
            runner_up: None,
        }
    }

    /// Records where child `i`'s current key lives. Call after every positioning call on
    /// child `i` that leaves it valid.
    #[inline]
    fn refresh(&mut self, i: usize) {
        let key = self.children[i].key();
        self.keys[i] = KeyRef { ptr: key.as_ptr(), len: key.len() };
    }

    /// Child `i`'s current key, without a virtual call. `i` must be in the heap.
    #[inline]
    fn key_of(&self, i: usize) -> &[u8] {
        let k = self.keys[i];
        // SAFETY: `k` was taken from `self.children[i].key()` after the child's last
        // positioning call (`refresh`, invariant of the heap). The child is owned by `self`,
        // and only `self` (through `&mut self`) moves it, so no positioning call happened
        // since; by the `InternalIterator` contract the slice is still valid and unchanged.
        // The child lives in a `Box`, so moving `self` does not move it. The returned
        // borrow is tied to `&self`, which excludes any positioning call while it lives.
        unsafe { std::slice::from_raw_parts(k.ptr, k.len) }
    }

    /// The number of children.
    pub fn num_children(&self) -> usize {
        self.children.len()
    }

    /// True when child `a` comes out before child `b` in the current direction.
    #[inline]
    fn before(&self, a: usize, b: usize) -> bool {
        let ord = compare_internal(self.key_of(a), self.key_of(b)).then(a.cmp(&b));
        match self.dir {
            Direction::Forward => ord == Ordering::Less,
            Direction::Backward => ord == Ordering::Greater,
        }
    }

    /// Restores the heap property below `pos`.
    #[inline]
    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                return;
            }
            let right = left + 1;
            let mut best = left;
            if right < n && self.before(self.heap[right], self.heap[left]) {
                best = right;
            }
            if !self.before(self.heap[best], self.heap[pos]) {
                return;
            }
            self.heap.swap(best, pos);
            pos = best;
        }
    }

    /// Restores the heap after the top child moved (or was replaced).
    #[inline]
    fn fix_top(&mut self) {
        let n = self.heap.len();
        if n < 2 {
            return;
        }
        let runner_up = match self.runner_up {
            Some(pos) => pos,
            None => {
                let pos = if n > 2 && self.before(self.heap[2], self.heap[1]) { 2 } else { 1 };
                self.runner_up = Some(pos);
                pos
            }
        };
        if self.before(self.heap[runner_up], self.heap[0]) {
            self.runner_up = None;
            self.heap.swap(0, runner_up);
            self.sift_down(runner_up);
        }
    }

    /// Rebuilds the heap from scratch over the valid children, ordered for `dir`.
    fn rebuild(&mut self, dir: Direction) {
        self.dir = dir;
        self.heap.clear();
        self.runner_up = None;
        for i in 0..self.children.len() {
            if self.children[i].valid() {
                self.refresh(i);
                self.heap.push(i);
            }
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// Records `e` as the sticky error and makes the iterator invalid.
    #[cold]
    fn fail(&mut self, e: Error) -> Error {
        self.heap.clear();
        self.err = Some(e.clone());
        e
    }

    /// The sticky error, if any, as an `Err`.
    #[inline]
    fn check(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Positions every child with `op`, then rebuilds the heap for `dir`.
    fn position_all(
        &mut self,
        dir: Direction,
        mut op: impl FnMut(&mut dyn InternalIterator) -> Result<()>,
    ) -> Result<()> {
        self.check()?;
        for child in &mut self.children {
            if let Err(e) = op(child.as_mut()) {
                return Err(self.fail(e));
            }
        }
        self.rebuild(dir);
        Ok(())
    }

    /// Repositions every child other than `cur` for a walk in direction `to` from the current
    /// key (invariant 2), then rebuilds the heap; `cur` ends up on top.
    #[cold]
    fn switch_direction(&mut self, cur: usize, to: Direction) -> Result<()> {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        key.extend_from_slice(self.children[cur].key());
        let result = self.reposition_others(cur, to, &key);
        self.scratch = key;
        result?;
        self.rebuild(to);
        Ok(())
    }

    fn reposition_others(&mut self, cur: usize, to: Direction, key: &[u8]) -> Result<()> {
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == cur {
                continue;
            }
            match to {
                // Entries after (key, cur): for i < cur keys > key, for i > cur keys >= key.
                Direction::Forward => {
                    child.seek(key)?;
                    if i < cur && child.valid() && compare_internal(child.key(), key) == Ordering::Equal {
                        child.next()?;
                    }
                }
                // Entries before (key, cur): for i < cur keys <= key, for i > cur keys < key.
                Direction::Backward => {
                    if i < cur {
                        child.seek_for_prev(key)?;
                    } else {
                        child.seek(key)?;
                        if child.valid() {
                            child.prev()?;
                        } else {
                            child.seek_to_last()?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves the current child one step in direction `dir`, switching direction first if
    /// needed, and restores the heap.
    #[inline]
    fn step(&mut self, dir: Direction) -> Result<()> {
        self.check()?;
        let Some(&cur) = self.heap.first() else {
            return Err(not_positioned());
        };
        if self.dir != dir {
            if let Err(e) = self.switch_direction(cur, dir) {
                return Err(self.fail(e));
            }
        }
        let child = &mut self.children[cur];
        let moved = match dir {
            Direction::Forward => child.next(),
            Direction::Backward => child.prev(),
        };
        if let Err(e) = moved {
            return Err(self.fail(e));
        }
        if self.children[cur].valid() {
            self.refresh(cur);
        } else {
            // `cur` is heap[0] (the switch keeps it on top): drop it, move the last one up.
            self.heap.swap_remove(0);
            self.runner_up = None;
        }
        self.fix_top();
        Ok(())
    }
}

// SAFETY: the only non-`Send` fields are the `KeyRef` pointers, which point into data owned
// by the children (themselves `Send` and owned by `self`) and move with them; they are only
// dereferenced through `&self`.
unsafe impl Send for MergingIterator {}

impl InternalIterator for MergingIterator {
    #[inline]
    fn valid(&self) -> bool {
        !self.heap.is_empty()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.position_all(Direction::Forward, |c| c.seek_to_first())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.position_all(Direction::Backward, |c| c.seek_to_last())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.position_all(Direction::Forward, |c| c.seek(target))
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.position_all(Direction::Backward, |c| c.seek_for_prev(target))
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        self.step(Direction::Forward)
    }

    #[inline]
    fn prev(&mut self) -> Result<()> {
        self.step(Direction::Backward)
    }

    #[inline]
    fn key(&self) -> &[u8] {
        match self.heap.first() {
            Some(&cur) => self.key_of(cur),
            None => &[],
        }
    }

    #[inline]
    fn value(&self) -> &[u8] {
        match self.heap.first() {
            Some(&cur) => self.children[cur].value(),
            None => &[],
        }
    }

    fn status(&self) -> Result<()> {
        self.check()
    }
}

#[cfg(test)]
mod tests;
