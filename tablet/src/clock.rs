//! The time source of the data model: server timestamps (`-1` in a SetCell) and the "now"
//! that max-age GC rules measure against. Injected so tests can fix and advance it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in microseconds since the Unix epoch. `Send + Sync`: one clock is shared
/// by a tablet's writers, readers and compaction filters.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since 1970-01-01T00:00:00Z.
    fn now_micros(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            // A clock set before 1970: report the epoch rather than a negative time.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    /// Relaxed is enough: the value is the whole state, and tests set it before the calls
    /// that read it on the same thread or hand it over through a join or a lock.
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock showing `micros`.
    pub fn new(micros: i64) -> Self {
        ManualClock { micros: AtomicI64::new(micros) }
    }

    /// Sets the time.
    pub fn set(&self, micros: i64) {
        self.micros.store(micros, Ordering::Relaxed);
    }

    /// Moves the time forward (or back, for a negative `delta`).
    pub fn advance(&self, delta_micros: i64) {
        self.micros.fetch_add(delta_micros, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.micros.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5_000);
        assert_eq!(c.now_micros(), 5_000);
        c.advance(1_500);
        assert_eq!(c.now_micros(), 6_500);
        c.set(42);
        assert_eq!(c.now_micros(), 42);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_micros() > 1_577_836_800_000_000);
    }
}
