//! The internal iterator contract, shared by blocks, tables, memtables and merges.
//!
//! An [`InternalIterator`] walks entries in internal-key order (see [`crate::keys`]).
//!
//! - A fresh iterator is not positioned: `valid()` is false until a positioning call.
//! - Positioning calls (`seek_to_first`, `seek_to_last`, `seek`, `next`, `prev`) return
//!   `Result`. After an error the iterator is invalid and the error *sticks*: `status()`
//!   keeps returning it and further positioning calls return it again.
//! - `seek(target)` positions at the first entry `>= target`; `seek_for_prev(target)` at the
//!   last entry `<= target`.
//! - `next` / `prev` require `valid()`; calling them otherwise is a logic error that returns
//!   `Err(InvalidArgument)` rather than panicking.
//! - `key()` and `value()` require `valid()` and borrow until the next positioning call;
//!   on an invalid iterator they return empty slices.
//! - Iterators are `Send` but not `Sync`: one thread drives each.

use crate::error::Result;

/// A cursor over internal entries. See the module docs for the contract.
pub trait InternalIterator: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions at the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions at the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions at the first entry with key `>= target` (an internal key).
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Positions at the last entry with key `<= target` (an internal key).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.seek(target)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if crate::keys::compare_internal(self.key(), target) == std::cmp::Ordering::Greater {
            self.prev()?;
        }
        Ok(())
    }
    /// Moves to the next entry.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry.
    fn prev(&mut self) -> Result<()>;
    /// The current internal key.
    fn key(&self) -> &[u8];
    /// The current value.
    fn value(&self) -> &[u8];
    /// The sticky error, if one happened.
    fn status(&self) -> Result<()>;
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek(target)
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek_for_prev(target)
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn status(&self) -> Result<()> {
        (**self).status()
    }
}

/// The error returned by `next`/`prev` on an unpositioned iterator.
pub fn not_positioned() -> crate::error::Error {
    crate::error::Error::InvalidArgument("iterator is not positioned on an entry".into())
}
