//! The master's monotonic clock, injected so lease tests can move time by hand.
//!
//! Leases are judged on the master's *own* monotonic clock (docs/cluster.md): the time a
//! renewal was received and "now" are both readings of one [`Clock`], never wall time,
//! so a wall-clock step cannot make a live server look dead or a dead one look alive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonic clock in milliseconds since an arbitrary origin. `Send + Sync`.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the clock's origin; never decreases.
    fn now_ms(&self) -> u64;
}

/// The process's monotonic clock (`std::time::Instant`), origin at construction.
#[derive(Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock reading 0 now.
    pub fn new() -> Self {
        MonotonicClock { origin: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    // Relaxed is enough: the value is the only shared data, and tests read it from the
    // thread (or task) that set it, or after a synchronising handoff.
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        ManualClock { now: AtomicU64::new(start_ms) }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}
