//! Counters and the statistics report of a database.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::version::edit::NUM_LEVELS;

/// Running counters. Relaxed everywhere: they are statistics, read for reporting only.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub write_groups: AtomicU64,
    pub writes: AtomicU64,
    pub flush_bytes_written: AtomicU64,
    pub flushes: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub stall_micros: AtomicU64,
    pub stall_count: AtomicU64,
    pub slowdown_count: AtomicU64,
    pub budget_flushes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One level of the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Table files.
    pub files: usize,
    /// Bytes of table files.
    pub bytes: u64,
}

/// A report of a database's shape and work, from [`crate::Db::stats`].
#[derive(Debug, Clone, Default)]
pub struct DbStats {
    /// Per level.
    pub levels: [LevelStats; NUM_LEVELS],
    /// Bytes used by the active and frozen memtables.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Keys and values written by users.
    pub user_bytes_written: u64,
    /// Bytes appended to write-ahead logs.
    pub wal_bytes_written: u64,
    /// WAL fsyncs.
    pub wal_syncs: u64,
    /// User writes and the groups they were committed in (group commit merges writers).
    pub writes: u64,
    /// Group-commit groups.
    pub write_groups: u64,
    /// Table bytes written by flushes.
    pub flush_bytes_written: u64,
    /// Flushes done.
    pub flushes: u64,
    /// Table bytes read by compactions.
    pub compaction_bytes_read: u64,
    /// Table bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Compactions done (not counting trivial moves).
    pub compactions: u64,
    /// Files moved down a level without rewriting.
    pub trivial_moves: u64,
    /// Total time writers spent stopped or delayed, in microseconds.
    pub stall_micros: u64,
    /// Times a writer was stopped (memtables full or level 0 at the stop trigger).
    pub stall_count: u64,
    /// Times a writer was delayed by the level-0 slowdown trigger.
    pub slowdown_count: u64,
    /// Memtables frozen before they were full because the shared write buffer budget
    /// (`Options::write_buffer_manager`) was used up.
    pub budget_flushes: u64,
    /// Block cache lookups that hit.
    pub block_cache_hits: u64,
    /// Block cache lookups that missed.
    pub block_cache_misses: u64,
    /// Bytes held by the block cache (shared caches report their total).
    pub block_cache_usage: u64,
    /// Snapshots alive.
    pub live_snapshots: usize,
    /// Last sequence number visible to readers.
    pub last_sequence: u64,
}

impl DbStats {
    /// Bytes written to storage (WAL, flushes, compactions) per user byte written.
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes_written == 0 {
            return 0.0;
        }
        (self.wal_bytes_written + self.flush_bytes_written + self.compaction_bytes_written) as f64
            / self.user_bytes_written as f64
    }

    /// Table bytes (flushes and compactions, no WAL) per byte flushed: RocksDB's "W-Amp" sum.
    pub fn table_write_amplification(&self) -> f64 {
        if self.flush_bytes_written == 0 {
            return 0.0;
        }
        (self.flush_bytes_written + self.compaction_bytes_written) as f64 / self.flush_bytes_written as f64
    }

    /// Bytes of table files in all levels.
    pub fn total_table_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.bytes).sum()
    }
}

impl fmt::Display for DbStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Level  Files     Size(MB)")?;
        for (i, l) in self.levels.iter().enumerate() {
            if l.files > 0 {
                writeln!(f, "L{i:<5} {:>5} {:>12.2}", l.files, l.bytes as f64 / 1048576.0)?;
            }
        }
        writeln!(
            f,
            "memtables: {:.2} MB ({} frozen); snapshots: {}; last sequence: {}",
            self.memtable_bytes as f64 / 1048576.0,
            self.immutable_memtables,
            self.live_snapshots,
            self.last_sequence
        )?;
        writeln!(
            f,
            "writes: {} in {} groups; user {:.2} MB; WAL {:.2} MB, {} syncs",
            self.writes,
            self.write_groups,
            self.user_bytes_written as f64 / 1048576.0,
            self.wal_bytes_written as f64 / 1048576.0,
            self.wal_syncs
        )?;
        writeln!(
            f,
            "flush: {} x ({} for the shared budget), {:.2} MB; compaction: {} x (+{} moves), read {:.2} MB, wrote {:.2} MB",
            self.flushes,
            self.budget_flushes,
            self.flush_bytes_written as f64 / 1048576.0,
            self.compactions,
            self.trivial_moves,
            self.compaction_bytes_read as f64 / 1048576.0,
            self.compaction_bytes_written as f64 / 1048576.0
        )?;
        writeln!(
            f,
            "write amplification: {:.2} (tables only: {:.2}); stalls: {} stops, {} slowdowns, {:.3} s",
            self.write_amplification(),
            self.table_write_amplification(),
            self.stall_count,
            self.slowdown_count,
            self.stall_micros as f64 / 1e6
        )?;
        write!(
            f,
            "block cache: {} hits, {} misses, {:.2} MB used",
            self.block_cache_hits,
            self.block_cache_misses,
            self.block_cache_usage as f64 / 1048576.0
        )
    }
}
