//! A vector-backed [`InternalIterator`] for tests, with fault injection.
//!
//! Available under `cfg(test)` and the `testing` feature, so other modules' tests (and
//! out-of-crate tests) can feed merges and database iterators without real tables.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::iterator::{not_positioned, InternalIterator};
use crate::keys::compare_internal;

/// An iterator over an in-memory list of `(internal key, value)` entries.
///
/// It can be told to fail on its `n`th positioning call (counting from 1); from then on it
/// is invalid and every positioning call returns the same error, as the contract requires.
#[derive(Debug, Clone)]
pub struct VecIterator {
    /// Entries sorted by [`compare_internal`].
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Current index; `entries.len()` when not positioned.
    pos: usize,
    /// Positioning calls made so far.
    calls: u64,
    /// The positioning call (1-based) that fails, if any.
    fail_at: Option<u64>,
    /// The sticky error.
    err: Option<Error>,
}

impl VecIterator {
    /// An iterator over `entries` (any order; they are sorted here by internal key).
    pub fn new(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        entries.sort_by(|a, b| compare_internal(&a.0, &b.0));
        let pos = entries.len();
        VecIterator { entries, pos, calls: 0, fail_at: None, err: None }
    }

    /// Makes the `n`th positioning call from now on (1-based, counting every `seek*`,
    /// `next` and `prev`) fail with an I/O error.
    pub fn failing_at(mut self, n: u64) -> Self {
        self.fail_at = Some(self.calls + n);
        self
    }

    /// Positioning calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Counts a positioning call; returns the sticky or injected error, if any.
    fn enter(&mut self) -> Result<()> {
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            let e = Error::io("vec-iterator", std::io::Error::other("injected failure"));
            self.err = Some(e.clone());
            self.pos = self.entries.len();
            return Err(e);
        }
        Ok(())
    }

    fn entry(&self) -> Option<&(Vec<u8>, Vec<u8>)> {
        self.entries.get(self.pos)
    }
}

impl InternalIterator for VecIterator {
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.enter()?;
        self.pos = 0;
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.enter()?;
        self.pos = self.entries.len().checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.enter()?;
        self.pos = self.entries.partition_point(|e| compare_internal(&e.0, target) == Ordering::Less);
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.enter()?;
        let after = self.entries.partition_point(|e| compare_internal(&e.0, target) != Ordering::Greater);
        self.pos = after.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if !self.valid() && self.err.is_none() {
            return Err(not_positioned());
        }
        self.enter()?;
        self.pos += 1;
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        if !self.valid() && self.err.is_none() {
            return Err(not_positioned());
        }
        self.enter()?;
        self.pos = self.pos.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }
    fn key(&self) -> &[u8] {
        self.entry().map_or(&[], |e| &e.0)
    }
    fn value(&self) -> &[u8] {
        self.entry().map_or(&[], |e| &e.1)
    }
    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

/// A tiny deterministic PRNG (xorshift64*) for randomized tests with fixed seeds.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
}
