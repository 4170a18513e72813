//! Row locks: striped mutexes keyed by a hash of the row key.
//!
//! A read-modify-write of one row (a mutation list with deletions, later check-and-mutate
//! and read-modify-write) reads the row, then writes one batch; the row's lock is held
//! across both so no other writer of the row slips in between. Rows share stripes, so two
//! rows may contend on one lock, but never deadlock: a thread holds either one
//! [`RowGuard`] ([`RowLocks::lock`]: a request touches rows one by one) or a set taken at
//! once by [`RowLocks::lock_all`], which takes its stripes in ascending order (so two such
//! sets never wait on each other in a cycle, and a one-lock holder never waits while
//! holding). Readers take no lock: the engine shows them each batch whole.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use parking_lot::{Mutex, MutexGuard};

/// Stripes of a tablet's row locks unless told otherwise.
pub const DEFAULT_STRIPES: usize = 1024;

/// A fixed set of mutexes; a row's lock is stripe `hash(row) % stripes`.
#[derive(Debug)]
pub struct RowLocks {
    /// `parking_lot` mutexes: small, fair enough, and no poisoning to handle (a panic while
    /// a row is locked cannot leave a half-written row: the batch is written whole or not).
    stripes: Box<[Mutex<()>]>,
}

/// Proof that the caller holds the lock of the rows of one stripe; released on drop.
#[derive(Debug)]
pub struct RowGuard<'a> {
    _guard: MutexGuard<'a, ()>,
    stripe: usize,
    locks: &'a RowLocks,
}

impl RowLocks {
    /// `stripes` mutexes (at least one).
    pub fn new(stripes: usize) -> Self {
        RowLocks { stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect() }
    }

    fn stripe_of(&self, row: &[u8]) -> usize {
        let mut h = DefaultHasher::new();
        row.hash(&mut h);
        // The modulo keeps the value below `stripes.len()`, which fits in usize.
        (h.finish() % self.stripes.len() as u64) as usize
    }

    /// Blocks until the lock of `row` is free and takes it.
    pub fn lock(&self, row: &[u8]) -> RowGuard<'_> {
        let stripe = self.stripe_of(row);
        // In bounds: `stripe_of` reduces modulo `stripes.len()`, which is at least 1.
        RowGuard { _guard: self.stripes[stripe].lock(), stripe, locks: self }
    }
}

impl RowLocks {
    /// Blocks until the locks of all `rows` are free and takes them, each stripe once, in
    /// ascending stripe order (the deadlock rule in the module docs). The caller must not
    /// hold any other guard of this set.
    pub fn lock_all<'r>(&self, rows: impl IntoIterator<Item = &'r [u8]>) -> Vec<RowGuard<'_>> {
        let mut stripes: Vec<usize> = rows.into_iter().map(|r| self.stripe_of(r)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .into_iter()
            // In bounds: `stripe_of` reduces modulo `stripes.len()`.
            .map(|stripe| RowGuard { _guard: self.stripes[stripe].lock(), stripe, locks: self })
            .collect()
    }
}

impl RowLocks {
    /// The guard of `guards` (as [`RowLocks::lock_all`] returns them: ascending stripes)
    /// that holds `row`'s lock, if any.
    pub fn guard_of<'g, 'l>(&self, guards: &'g [RowGuard<'l>], row: &[u8]) -> Option<&'g RowGuard<'l>> {
        let stripe = self.stripe_of(row);
        let i = guards.binary_search_by_key(&stripe, |g| g.stripe).ok()?;
        guards.get(i).filter(|g| std::ptr::eq(g.locks, self))
    }
}

impl RowGuard<'_> {
    /// True when this guard holds the lock of `row` in `locks`.
    pub fn covers(&self, locks: &RowLocks, row: &[u8]) -> bool {
        std::ptr::eq(self.locks, locks) && self.stripe == locks.stripe_of(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn guard_covers_its_row_only_in_its_lock_set() {
        let a = RowLocks::new(64);
        let b = RowLocks::new(64);
        let g = a.lock(b"row");
        assert!(g.covers(&a, b"row"));
        assert!(!g.covers(&b, b"row"));
        let other = (0..1000u32).map(|i| i.to_be_bytes()).find(|r| a.stripe_of(r) != a.stripe_of(b"row")).unwrap();
        assert!(!g.covers(&a, &other));
    }

    #[test]
    fn lock_all_takes_each_stripe_once_and_covers_every_row() {
        let locks = RowLocks::new(4);
        let rows: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let guards = locks.lock_all(rows.iter().map(|r| r.as_slice()));
        assert!(guards.len() <= 4);
        assert!(guards.windows(2).all(|w| w[0].stripe < w[1].stripe), "ascending, no repeats");
        for r in &rows {
            assert!(guards.iter().any(|g| g.covers(&locks, r)));
            assert!(locks.guard_of(&guards, r).unwrap().covers(&locks, r));
        }
        let other = RowLocks::new(4);
        assert!(other.guard_of(&guards, &rows[0]).is_none(), "another lock set's guards hold nothing of it");
        drop(guards);
        let few = locks.lock_all([rows[0].as_slice()]);
        let outside = rows.iter().find(|r| locks.stripe_of(r) != locks.stripe_of(&rows[0])).unwrap();
        assert!(locks.guard_of(&few, outside).is_none());
    }

    #[test]
    fn one_holder_per_row_at_a_time() {
        let locks = Arc::new(RowLocks::new(8));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (locks, inside) = (locks.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _g = locks.lock(b"hot");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
