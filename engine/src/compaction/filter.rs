//! The compaction-filter hook: user code that may drop entries while they are rewritten.
//!
//! A [`CompactionFilterFactory`] makes one [`CompactionFilter`] per compaction (and per
//! flush); the filter is stateful and sees, in ascending key order, the newest value of each
//! key whose sequence number is at or below the oldest live snapshot (so no reader holding a
//! snapshot can tell the difference between before and after the filter ran, except that the
//! entry is gone). Tombstones and entries protected by snapshots are not shown to it.
//!
//! When the filter says [`Decision::Remove`], the engine drops the entry if no deeper level
//! can hold an older version of the key, and otherwise writes a tombstone in its place so
//! the older version cannot resurface.

/// What to do with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep the entry.
    Keep,
    /// Drop the entry (see the module docs for how).
    Remove,
}

/// Where a filter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterContext {
    /// True for a memtable flush, false for a compaction.
    pub is_flush: bool,
    /// The level the output is written to.
    pub output_level: usize,
    /// True when the output is the deepest data for its key range (a full view of it).
    pub bottommost: bool,
}

/// One filter instance; runs on one background thread, sees keys in ascending order.
pub trait CompactionFilter: Send {
    /// Decides the fate of `key` (a user key) holding `value`.
    fn filter(&mut self, key: &[u8], value: &[u8]) -> Decision;
}

/// Creates filters. Shared by all background threads, hence `Send + Sync`.
pub trait CompactionFilterFactory: Send + Sync {
    /// A new filter for one flush or compaction; `None` disables filtering for it.
    fn create(&self, ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>>;
}
