//! Row locks: striped reader-writer locks keyed by a hash of the row key.
//!
//! A read-modify-write of one row (a mutation list with deletions, check-and-mutate,
//! read-modify-write, dropping a row range) reads the row, then writes one batch; it holds
//! the row's lock *exclusively* across both, so no other writer of the row slips in
//! between. A mutation list of SetCells only reads nothing: it holds the lock *shared*,
//! which keeps it out of an exclusive holder's read-then-write but lets any number of such
//! writers of a stripe go at once (the engine applies each batch whole, and two concurrent
//! blind writes have no order to keep). Before, every write took its stripes exclusively,
//! and 32 clients writing 100 random rows per request queued on each other's stripes
//! instead of sharing one group commit (`BENCHMARKS.md`, run 10).
//!
//! Rows share stripes, so two rows may contend on one lock, but never deadlock: a thread
//! holds either one [`RowGuard`] ([`RowLocks::lock`], [`RowLocks::lock_shared`]: a request
//! touches rows one by one) or a set taken at once by [`RowLocks::lock_all`] or
//! [`RowLocks::lock_rows`], which take their stripes in ascending order (so two such sets
//! never wait on each other in a cycle, and a one-lock holder never waits while holding).
//! Readers take no lock: the engine shows them each batch whole.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Stripes of a tablet's row locks unless told otherwise.
pub const DEFAULT_STRIPES: usize = 1024;

/// A fixed set of reader-writer locks; a row's lock is stripe `hash(row) % stripes`.
#[derive(Debug)]
pub struct RowLocks {
    /// `parking_lot` locks: small, fair enough (a waiting exclusive holder stops new shared
    /// ones, so blind writers cannot starve a check-and-mutate), and no poisoning to handle
    /// (a panic while a row is locked cannot leave a half-written row: the batch is written
    /// whole or not).
    stripes: Box<[RwLock<()>]>,
}

/// How a guard holds its stripe.
#[derive(Debug)]
enum Held<'a> {
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// Proof that the caller holds the lock of the rows of one stripe, shared or exclusively;
/// released on drop.
#[derive(Debug)]
pub struct RowGuard<'a> {
    held: Held<'a>,
    stripe: usize,
    locks: &'a RowLocks,
}

impl RowLocks {
    /// `stripes` locks (at least one).
    pub fn new(stripes: usize) -> Self {
        RowLocks { stripes: (0..stripes.max(1)).map(|_| RwLock::new(())).collect() }
    }

    fn stripe_of(&self, row: &[u8]) -> usize {
        let mut h = DefaultHasher::new();
        row.hash(&mut h);
        // The modulo keeps the value below `stripes.len()`, which fits in usize.
        (h.finish() % self.stripes.len() as u64) as usize
    }

    /// Takes stripe `stripe` (in bounds: callers reduce modulo `stripes.len()`).
    fn take(&self, stripe: usize, exclusive: bool) -> RowGuard<'_> {
        let lock = &self.stripes[stripe];
        let held = if exclusive { Held::Exclusive(lock.write()) } else { Held::Shared(lock.read()) };
        RowGuard { held, stripe, locks: self }
    }

    /// Blocks until nobody else holds the lock of `row` and takes it exclusively.
    pub fn lock(&self, row: &[u8]) -> RowGuard<'_> {
        self.take(self.stripe_of(row), true)
    }

    /// Blocks until no exclusive holder has the lock of `row` and takes it shared.
    pub fn lock_shared(&self, row: &[u8]) -> RowGuard<'_> {
        self.take(self.stripe_of(row), false)
    }

    /// Blocks until the locks of all `rows` are free and takes them exclusively, each
    /// stripe once, in ascending stripe order (the deadlock rule in the module docs). The
    /// caller must not hold any other guard of this set.
    pub fn lock_all<'r>(&self, rows: impl IntoIterator<Item = &'r [u8]>) -> Vec<RowGuard<'_>> {
        self.lock_rows(rows.into_iter().map(|r| (r, true)))
    }

    /// [`RowLocks::lock_all`] with a mode per row: `(row, exclusive)`. A stripe is taken
    /// exclusively when any of its rows asks for that, shared otherwise.
    pub fn lock_rows<'r>(&self, rows: impl IntoIterator<Item = (&'r [u8], bool)>) -> Vec<RowGuard<'_>> {
        self.stripe_modes(rows).into_iter().map(|(stripe, exclusive)| self.take(stripe, exclusive)).collect()
    }

    /// The stripes of `(row, exclusive)` pairs, ascending, each once: exclusive when any
    /// of its rows asks for that.
    fn stripe_modes<'r>(&self, rows: impl IntoIterator<Item = (&'r [u8], bool)>) -> Vec<(usize, bool)> {
        let mut stripes: Vec<(usize, bool)> = rows.into_iter().map(|(r, x)| (self.stripe_of(r), x)).collect();
        // Exclusive (true) after shared for one stripe, so the last of each run decides.
        stripes.sort_unstable();
        stripes.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 |= later.1;
            }
            same
        });
        stripes
    }

    /// [`RowLocks::lock_rows`] without waiting: `None` (holding nothing) when any stripe is
    /// held in a conflicting mode or an exclusive holder waits for it. For callers that
    /// must not block (a request applied on an async worker thread).
    pub fn try_lock_rows<'r>(&self, rows: impl IntoIterator<Item = (&'r [u8], bool)>) -> Option<Vec<RowGuard<'_>>> {
        let stripes = self.stripe_modes(rows);
        let mut guards: Vec<RowGuard<'_>> = Vec::with_capacity(stripes.len());
        for (stripe, exclusive) in stripes {
            let lock = self.stripes.get(stripe)?;
            let held = if exclusive { Held::Exclusive(lock.try_write()?) } else { Held::Shared(lock.try_read()?) };
            guards.push(RowGuard { held, stripe, locks: self });
        }
        Some(guards)
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
    /// True when this guard holds the lock of `row` in `locks` (in either mode).
    pub fn covers(&self, locks: &RowLocks, row: &[u8]) -> bool {
        std::ptr::eq(self.locks, locks) && self.stripe == locks.stripe_of(row)
    }

    /// True when the lock is held exclusively (nobody else holds the stripe).
    pub fn is_exclusive(&self) -> bool {
        matches!(self.held, Held::Exclusive(_))
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
    fn shared_holders_share_a_stripe_and_keep_an_exclusive_one_out() {
        let locks = Arc::new(RowLocks::new(4));
        let a = locks.lock_shared(b"row");
        let b = locks.lock_shared(b"row");
        assert!(!a.is_exclusive() && !b.is_exclusive());
        assert!(a.covers(&locks, b"row"));
        let taken = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (locks, taken) = (locks.clone(), taken.clone());
            std::thread::spawn(move || {
                let g = locks.lock(b"row");
                assert!(g.is_exclusive());
                taken.store(1, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(taken.load(Ordering::SeqCst), 0, "exclusive lock taken while shared holders remain");
        drop((a, b));
        writer.join().unwrap();
        assert_eq!(taken.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn lock_rows_takes_a_stripe_exclusively_when_any_of_its_rows_asks() {
        let locks = RowLocks::new(4);
        let rows: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let exclusive_row = &rows[7];
        let guards = locks.lock_rows(rows.iter().map(|r| (r.as_slice(), r == exclusive_row)));
        assert!(guards.len() <= 4);
        assert!(guards.windows(2).all(|w| w[0].stripe < w[1].stripe), "ascending, no repeats");
        for g in &guards {
            assert_eq!(g.is_exclusive(), g.covers(&locks, exclusive_row), "stripe {}", g.stripe);
        }
        assert!(rows.iter().all(|r| locks.guard_of(&guards, r).is_some()));
    }

    #[test]
    fn try_lock_rows_takes_what_is_free_and_holds_nothing_when_it_cannot() {
        let locks = RowLocks::new(64);
        let rows: Vec<Vec<u8>> = (0..20u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let shared: Vec<(&[u8], bool)> = rows.iter().map(|r| (r.as_slice(), false)).collect();
        // Free: like lock_rows.
        let guards = locks.try_lock_rows(shared.clone()).unwrap();
        assert!(rows.iter().all(|r| locks.guard_of(&guards, r).is_some()));
        // Shared holders let other shared requests in, not exclusive ones.
        assert!(locks.try_lock_rows(shared.clone()).is_some());
        assert!(locks.try_lock_rows([(rows[3].as_slice(), true)]).is_none());
        drop(guards);
        // An exclusive holder of one row's stripe keeps the whole request out, and the
        // refused request holds nothing afterwards (every stripe is free again).
        let held = locks.lock(&rows[5]);
        assert!(locks.try_lock_rows(shared.clone()).is_none());
        drop(held);
        assert!(locks.try_lock_rows(rows.iter().map(|r| (r.as_slice(), true))).is_some());
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
