//! The user-facing iterator: user keys and values as of a snapshot, within bounds.
//!
//! A [`DbIterator`] wraps an [`InternalIterator`] over the internal entries of every source
//! (usually a [`crate::merge::MergingIterator`]) and shows, for each user key, the newest
//! entry with sequence `<= seq`, hiding keys whose newest visible entry is a deletion and
//! every entry newer than the snapshot. Bounds are user keys: `lower` inclusive, `upper`
//! exclusive. This is LevelDB's `DBIter` (`FindNextUserEntry` / `FindPrevUserEntry`) with
//! RocksDB's bounds and `seek_for_prev`.
//!
//! # Positioning and errors
//!
//! Positioning calls return `()`, as in RocksDB: an error from the inner iterator, or an
//! internal key that does not parse ([`Error::Corruption`]), makes the iterator invalid and
//! is kept in [`DbIterator::status`]. The error sticks: later positioning calls do nothing
//! and `status()` keeps returning it. Nothing here panics on bad input. `next` / `prev` on an
//! invalid iterator do nothing.
//!
//! # Invariants (when valid)
//!
//! - Forward: `inner` is positioned at the entry that yields `key()` / `value()` (no copy).
//! - Reverse: `inner` is positioned just before every entry of `key()` (or is invalid when
//!   there is none); the key and value are held in `saved_key` / `saved_value`.
//! - In both directions `lower <= key() < upper`.
//!
//! # Thread safety and lifetime
//!
//! `Send`, not `Sync`: one thread drives it. Objects attached with [`DbIterator::with_pins`]
//! (the version, the memtables the inner iterator reads) are dropped after the inner iterator.

use std::any::Any;

use crate::error::{Error, Result};
use crate::iterator::InternalIterator;
use crate::keys::{
    append_internal_key, parse_internal_key, user_key, SequenceNumber, ValueKind, MAX_SEQUENCE, TAG_LEN,
};

/// Above this much spare capacity the saved value buffer is released rather than reused.
const MAX_SPARE_VALUE_CAPACITY: usize = 1 << 20;

/// Which side of the current entry `inner` sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// A snapshot iterator over user keys; see the module docs.
pub struct DbIterator {
    /// Internal entries of all sources. Declared first so it is dropped before `pins`.
    inner: Box<dyn InternalIterator>,
    /// The snapshot: entries with a larger sequence are invisible.
    seq: SequenceNumber,
    /// Inclusive lower bound (user key).
    lower: Option<Vec<u8>>,
    /// Exclusive upper bound (user key).
    upper: Option<Vec<u8>>,
    dir: Direction,
    valid: bool,
    /// Forward: the user key to skip past. Reverse: the current user key.
    saved_key: Vec<u8>,
    /// Reverse: the current value.
    saved_value: Vec<u8>,
    /// Reused buffer for internal seek keys.
    scratch: Vec<u8>,
    /// The sticky error.
    err: Option<Error>,
    /// Internal entries stepped over without being yielded.
    skipped: u64,
    /// Keep-alive objects; dropped after `inner`.
    pins: Vec<Box<dyn Any + Send + Sync>>,
}

/// Splits an internal key, reporting a malformed one as corruption.
#[inline]
fn parse(ikey: &[u8]) -> Result<crate::keys::ParsedKey<'_>> {
    parse_internal_key(ikey).ok_or_else(|| malformed(ikey))
}

#[cold]
fn malformed(ikey: &[u8]) -> Error {
    Error::corruption("", None, format!("malformed internal key ({} bytes) in iterator", ikey.len()))
}

impl DbIterator {
    /// An unpositioned iterator over `inner` as of sequence `seq` (clamped to
    /// [`MAX_SEQUENCE`]), limited to user keys in `[lower, upper)`.
    pub fn new(
        inner: Box<dyn InternalIterator>,
        seq: SequenceNumber,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Self {
        DbIterator {
            inner,
            seq: seq.min(MAX_SEQUENCE),
            lower,
            upper,
            dir: Direction::Forward,
            valid: false,
            saved_key: Vec::new(),
            saved_value: Vec::new(),
            scratch: Vec::new(),
            err: None,
            skipped: 0,
            pins: Vec::new(),
        }
    }

    /// Attaches objects that must outlive the inner iterator (versions, memtables). They are
    /// dropped after it.
    pub fn with_pins(mut self, pins: Vec<Box<dyn Any + Send + Sync>>) -> Self {
        self.pins.extend(pins);
        self
    }

    /// True when positioned on a key.
    #[inline]
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current user key; empty when not valid. Borrows until the next positioning call.
    #[inline]
    pub fn key(&self) -> &[u8] {
        match (self.valid, self.dir) {
            (false, _) => &[],
            (true, Direction::Forward) => user_key(self.inner.key()),
            (true, Direction::Reverse) => &self.saved_key,
        }
    }

    /// The current value; empty when not valid. Borrows until the next positioning call.
    #[inline]
    pub fn value(&self) -> &[u8] {
        match (self.valid, self.dir) {
            (false, _) => &[],
            (true, Direction::Forward) => self.inner.value(),
            (true, Direction::Reverse) => &self.saved_value,
        }
    }

    /// The sticky error, if a positioning call failed.
    pub fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Internal entries stepped over without being yielded so far: entries newer than the
    /// snapshot, tombstones, and the older versions they or newer values hide. An entry may
    /// be counted again when the iterator changes direction.
    pub fn skipped_entries(&self) -> u64 {
        self.skipped
    }

    /// Positions at the first key `>= lower` (or the first key).
    pub fn seek_to_first(&mut self) {
        self.run(Self::seek_to_first_inner);
    }

    /// Positions at the last key `< upper` (or the last key).
    pub fn seek_to_last(&mut self) {
        self.run(Self::seek_to_last_inner);
    }

    /// Positions at the first key `>= user_key` (and `>= lower`).
    pub fn seek(&mut self, user_key: &[u8]) {
        self.run(|it| it.seek_inner(user_key));
    }

    /// Positions at the last key `<= user_key` (and `< upper`).
    pub fn seek_for_prev(&mut self, user_key: &[u8]) {
        self.run(|it| it.seek_for_prev_inner(user_key));
    }

    /// Moves to the next key. Does nothing when not valid.
    #[inline]
    pub fn next(&mut self) {
        if self.valid {
            self.run(Self::next_inner);
        }
    }

    /// Moves to the previous key. Does nothing when not valid.
    pub fn prev(&mut self) {
        if self.valid {
            self.run(Self::prev_inner);
        }
    }

    /// Runs a positioning step unless an error stuck; records a new error.
    #[inline]
    fn run(&mut self, step: impl FnOnce(&mut Self) -> Result<()>) {
        if self.err.is_some() {
            return;
        }
        if let Err(e) = step(self) {
            self.fail(e);
        }
    }

    #[cold]
    fn fail(&mut self, e: Error) {
        self.valid = false;
        self.saved_key.clear();
        self.saved_value.clear();
        self.err = Some(e);
    }

    fn clear_saved_value(&mut self) {
        if self.saved_value.capacity() > MAX_SPARE_VALUE_CAPACITY {
            self.saved_value = Vec::new();
        } else {
            self.saved_value.clear();
        }
    }

    fn seek_to_first_inner(&mut self) -> Result<()> {
        self.dir = Direction::Forward;
        self.clear_saved_value();
        match &self.lower {
            Some(lower) => {
                self.scratch.clear();
                append_internal_key(&mut self.scratch, lower, self.seq, ValueKind::SEEK);
                self.inner.seek(&self.scratch)?;
            }
            None => self.inner.seek_to_first()?,
        }
        self.find_next_user_entry(false)
    }

    fn seek_inner(&mut self, target: &[u8]) -> Result<()> {
        self.dir = Direction::Forward;
        self.clear_saved_value();
        let target = match &self.lower {
            Some(lower) if target < lower.as_slice() => lower.as_slice(),
            _ => target,
        };
        self.scratch.clear();
        append_internal_key(&mut self.scratch, target, self.seq, ValueKind::SEEK);
        self.inner.seek(&self.scratch)?;
        self.find_next_user_entry(false)
    }

    fn seek_to_last_inner(&mut self) -> Result<()> {
        self.dir = Direction::Reverse;
        self.clear_saved_value();
        match &self.upper {
            Some(upper) => {
                // `upper ++ [0xff; 8]` sorts after every key below `upper` and before every
                // entry of `upper` itself (its tag exceeds any real tag).
                self.scratch.clear();
                self.scratch.extend_from_slice(upper);
                self.scratch.extend_from_slice(&[0xff; TAG_LEN]);
                self.inner.seek_for_prev(&self.scratch)?;
            }
            None => self.inner.seek_to_last()?,
        }
        self.find_prev_user_entry()
    }

    fn seek_for_prev_inner(&mut self, target: &[u8]) -> Result<()> {
        if let Some(upper) = &self.upper {
            if target >= upper.as_slice() {
                return self.seek_to_last_inner();
            }
        }
        self.dir = Direction::Reverse;
        self.clear_saved_value();
        // Tag 0 (sequence 0, deletion) is the smallest tag: this key sorts after every entry
        // of `target`.
        self.scratch.clear();
        append_internal_key(&mut self.scratch, target, 0, ValueKind::Deletion);
        self.inner.seek_for_prev(&self.scratch)?;
        self.find_prev_user_entry()
    }

    fn next_inner(&mut self) -> Result<()> {
        if self.dir == Direction::Reverse {
            // `inner` sits just before the entries of the current key (held in `saved_key`):
            // step into them and let the skipping below pass over them.
            self.dir = Direction::Forward;
            if self.inner.valid() {
                self.inner.next()?;
            } else {
                self.inner.seek_to_first()?;
            }
        } else {
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user_key(self.inner.key()));
            self.inner.next()?;
        }
        self.find_next_user_entry(true)
    }

    fn prev_inner(&mut self) -> Result<()> {
        if self.dir == Direction::Forward {
            // Step back past every entry of the current key.
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user_key(self.inner.key()));
            loop {
                self.inner.prev()?;
                if !self.inner.valid() {
                    self.valid = false;
                    self.saved_key.clear();
                    self.clear_saved_value();
                    return Ok(());
                }
                if user_key(self.inner.key()) < self.saved_key.as_slice() {
                    break;
                }
            }
            self.dir = Direction::Reverse;
        }
        self.find_prev_user_entry()
    }

    /// Forward scan from the current entry to the first visible value, skipping entries of
    /// user keys `<= saved_key` when `skipping`. Stops (invalid) at `upper` or the end.
    #[inline]
    fn find_next_user_entry(&mut self, mut skipping: bool) -> Result<()> {
        while self.inner.valid() {
            let p = parse(self.inner.key())?;
            if let Some(upper) = &self.upper {
                if p.user_key >= upper.as_slice() {
                    break;
                }
            }
            if p.seq <= self.seq {
                match p.kind {
                    ValueKind::Deletion => {
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(p.user_key);
                        skipping = true;
                    }
                    ValueKind::Value => {
                        if !skipping || p.user_key > self.saved_key.as_slice() {
                            self.valid = true;
                            return Ok(());
                        }
                    }
                }
            }
            self.skipped += 1;
            self.inner.next()?;
        }
        self.valid = false;
        self.saved_key.clear();
        Ok(())
    }

    /// Backward scan from the current entry: collects the newest visible entry of the first
    /// user key (going down) whose newest visible entry is a value, leaving `inner` just
    /// before that key's entries. Stops at `lower` or the start.
    fn find_prev_user_entry(&mut self) -> Result<()> {
        let mut kind = ValueKind::Deletion;
        let mut visited = 0u64;
        while self.inner.valid() {
            let p = parse(self.inner.key())?;
            if let Some(lower) = &self.lower {
                if p.user_key < lower.as_slice() {
                    break;
                }
            }
            if p.seq <= self.seq {
                if kind != ValueKind::Deletion && p.user_key < self.saved_key.as_slice() {
                    // A visible entry of a smaller key: the saved one is the answer.
                    break;
                }
                kind = p.kind;
                match kind {
                    ValueKind::Deletion => {
                        self.saved_key.clear();
                        self.saved_value.clear();
                    }
                    ValueKind::Value => {
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(p.user_key);
                        self.saved_value.clear();
                        self.saved_value.extend_from_slice(self.inner.value());
                    }
                }
            }
            visited += 1;
            self.inner.prev()?;
        }
        if kind == ValueKind::Deletion {
            self.skipped += visited;
            self.valid = false;
            self.saved_key.clear();
            self.clear_saved_value();
            self.dir = Direction::Forward;
        } else {
            self.skipped += visited.saturating_sub(1);
            self.valid = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
