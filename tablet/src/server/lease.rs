//! The server's lease, by its own monotonic clock (docs/cluster.md, "Leases").
//!
//! A lease granted for a renewal sent at `t_send` runs until `t_send + lease`. While it
//! runs, [`Lease::is_valid`] is true; from the deadline on it is false, whatever the
//! renewal task is doing, so no data RPC is answered and no write acknowledged after it —
//! every check reads the clock afresh. A static server (no master) holds a lease forever.
//!
//! The clock is injected ([`MonotonicClock`]) so tests can move it by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A clock that never goes back: time since an arbitrary origin.
pub trait MonotonicClock: Send + Sync + std::fmt::Debug {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
}

/// `std::time::Instant`, measured from when the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct SystemMonotonic {
    origin: Instant,
}

impl SystemMonotonic {
    /// A clock reading zero now.
    pub fn new() -> Self {
        SystemMonotonic { origin: Instant::now() }
    }
}

impl Default for SystemMonotonic {
    fn default() -> Self {
        SystemMonotonic::new()
    }
}

impl MonotonicClock for SystemMonotonic {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A monotonic clock that moves only when told; for tests.
#[derive(Debug, Default)]
pub struct ManualMonotonic {
    /// Nanoseconds. Relaxed: the value is the whole state.
    nanos: AtomicU64,
}

impl ManualMonotonic {
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl MonotonicClock for ManualMonotonic {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

/// Whether, and until when, the server may serve. Shared by the renewal task (which
/// grants and revokes) and every request (which checks).
#[derive(Debug)]
pub struct Lease {
    clock: Arc<dyn MonotonicClock>,
    /// `None`: static mode, always valid.
    /// `Some(deadline)`: nanoseconds on `clock` at which the lease ends; 0 = no lease.
    /// SeqCst: a revocation must be seen by every later check, and it is cheap here.
    deadline: Option<AtomicU64>,
}

impl Lease {
    /// The lease of a server without a master: always valid.
    pub fn forever() -> Self {
        Lease { clock: Arc::new(SystemMonotonic::new()), deadline: None }
    }

    /// The lease of a server under a master: none until [`Lease::grant`].
    pub fn from_master(clock: Arc<dyn MonotonicClock>) -> Self {
        Lease { clock, deadline: Some(AtomicU64::new(0)) }
    }

    /// The clock the lease is measured on.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Records a granted renewal that was sent at `sent_at` (a reading of [`Lease::now`]
    /// taken before sending) for `length`.
    pub fn grant(&self, sent_at: Duration, length: Duration) {
        if let Some(d) = &self.deadline {
            let end = u64::try_from(sent_at.saturating_add(length).as_nanos()).unwrap_or(u64::MAX).max(1);
            d.store(end, Ordering::SeqCst);
        }
    }

    /// Ends the lease now (the master refused a renewal).
    pub fn revoke(&self) {
        if let Some(d) = &self.deadline {
            d.store(0, Ordering::SeqCst);
        }
    }

    /// True while the server may answer data RPCs and acknowledge writes.
    pub fn is_valid(&self) -> bool {
        self.remaining().is_some_and(|r| !r.is_zero())
    }

    /// Time left on the lease: `Some(Duration::MAX)` forever in static mode, `None` when no
    /// lease was ever granted or it was revoked, `Some(ZERO)` once it has run out.
    pub fn remaining(&self) -> Option<Duration> {
        let Some(d) = &self.deadline else { return Some(Duration::MAX) };
        let end = d.load(Ordering::SeqCst);
        if end == 0 {
            return None;
        }
        Some(Duration::from_nanos(end).saturating_sub(self.clock.now()))
    }

    /// True for a server without a master.
    pub fn is_static(&self) -> bool {
        self.deadline.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lease_never_ends() {
        let l = Lease::forever();
        assert!(l.is_valid() && l.is_static());
        l.revoke();
        assert!(l.is_valid());
    }

    #[test]
    fn lease_runs_from_the_send_time_and_ends_by_the_clock() {
        let clock = Arc::new(ManualMonotonic::default());
        let l = Lease::from_master(clock.clone());
        assert!(!l.is_valid(), "no lease before the first grant");
        assert_eq!(l.remaining(), None);

        clock.advance(Duration::from_secs(10));
        let sent = l.now();
        clock.advance(Duration::from_secs(1)); // the renewal took a second
        l.grant(sent, Duration::from_secs(4));
        assert!(l.is_valid());
        assert_eq!(l.remaining(), Some(Duration::from_secs(3)), "counted from the send, not the answer");

        clock.advance(Duration::from_millis(2999));
        assert!(l.is_valid());
        clock.advance(Duration::from_millis(1));
        assert!(!l.is_valid(), "invalid exactly at the deadline");
        assert_eq!(l.remaining(), Some(Duration::ZERO));

        let sent = l.now();
        l.grant(sent, Duration::from_secs(4));
        assert!(l.is_valid());
        l.revoke();
        assert!(!l.is_valid());
    }
}
