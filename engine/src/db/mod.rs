//! The database: the only module that starts threads or holds the database's locks.
//!
//! # Locks (acquire in this order; never the reverse)
//! 1. `writers` — the group-commit queue. Held briefly to enqueue and hand over leadership.
//! 2. `log` — the WAL writer. Held by the write-group leader for the whole group: WAL append
//!    and fsync, memtable inserts, memtable switches. Only writers take it, so it is the
//!    writers' own serialisation, not a global lock: readers and background jobs never wait
//!    on it.
//! 3. `state` — memtables, the published [`SuperVersion`], background bookkeeping. Never held
//!    during file I/O.
//! 4. `versions` — the [`VersionSet`] and its MANIFEST. Held during MANIFEST appends and
//!    fsyncs by background jobs; readers and writers never take it.
//!
//! Readers take `state` only to clone the current `Arc<SuperVersion>` and then read without
//! locks: memtables are lock-free for readers, tables are immutable.

mod background;
mod checkpoint;
mod recovery;
pub mod samples;
pub mod snapshot;
pub mod stats;
mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::batch::WriteBatch;
use crate::db_iter::DbIterator;
use crate::error::{Error, Result};
use crate::fs::{FileLock, Fs};
use crate::iterator::InternalIterator;
use crate::keys::{append_internal_key, SequenceNumber, ValueKind, MAX_SEQUENCE};
use crate::memtable::{MemGet, MemTable};
use crate::merge::MergingIterator;
use crate::options::{Options, ReadOptions, WriteOptions};
use crate::pool::BackgroundPool;
use crate::sstable::TableReadOptions;
use crate::version::level_iter::LevelIterator;
use crate::version::set::VersionSet;
use crate::version::table_cache::Tables;
use crate::version::{Lookup, Version};
use snapshot::{Snapshot, SnapshotList};
use stats::{Counters, DbStats, LevelStats};
pub use write::WriteFuture;

/// WAL space is reserved in steps of this size, so that `sync` writes inside the reserved
/// space need not update the file size (see `wal::Writer::with_preallocation`).
pub(crate) const WAL_PREALLOCATION: u64 = 1 << 20;

/// What readers see: the memtables and the version, published together.
pub(crate) struct SuperVersion {
    pub mem: Arc<MemTable>,
    /// Frozen memtables, newest first.
    pub imm: Vec<Arc<MemTable>>,
    pub version: Arc<Version>,
}

/// A frozen memtable and the WAL that holds its writes.
pub(crate) struct Frozen {
    pub mem: Arc<MemTable>,
    pub log_number: u64,
}

/// State guarded by `DbInner::state`.
pub(crate) struct State {
    pub mem: Arc<MemTable>,
    /// The WAL that the active memtable's writes go to.
    pub mem_log_number: u64,
    /// Frozen memtables, oldest first.
    pub imm: Vec<Frozen>,
    pub sv: Arc<SuperVersion>,
    pub flush_running: bool,
    pub compactions_running: usize,
    /// Table files being compacted.
    pub busy: HashSet<u64>,
    /// Table numbers of outputs not yet in the MANIFEST (kept from the obsolete sweep).
    pub pending_outputs: HashSet<u64>,
    /// Jobs queued or running in the pool.
    pub jobs: usize,
    /// The first background error; writes are refused while it is set.
    pub bg_error: Option<Error>,
    /// A manual compaction is in progress.
    pub manual_compaction: bool,
}

/// The WAL and sequence allocation, guarded by `DbInner::log` (the write leader holds it).
pub(crate) struct LogState {
    pub writer: Option<crate::wal::Writer>,
    pub number: u64,
    /// Last sequence number handed out.
    pub last_seq: SequenceNumber,
}

pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub opts: Options,
    pub fs: Arc<dyn Fs>,
    pub tables: Arc<Tables>,
    pub pool: Arc<BackgroundPool>,
    pub lock: Mutex<Option<Box<dyn FileLock>>>,
    /// Last sequence number whose writes are in the memtable and visible to readers.
    /// Stored with Release after the memtable inserts; loaded with Acquire by readers.
    pub visible_seq: AtomicU64,
    pub writers: Mutex<write::WriteQueue>,
    /// Written batches kept for reuse by `batch_with_capacity`.
    pub batches: write::BatchPool,
    /// Signalled when the queue reaches the size a sleeping sync leader waits for.
    pub writers_grew: Condvar,
    /// Writers in the queue (a copy of its length, read without the lock by a yielding leader).
    pub writers_queued: std::sync::atomic::AtomicUsize,
    pub log: Mutex<LogState>,
    pub state: Mutex<State>,
    /// Signalled when background work finishes or fails, and when writes may resume.
    pub bg_cv: Condvar,
    pub versions: Mutex<VersionSet>,
    pub next_file: Arc<AtomicU64>,
    /// Set once by `close`; background jobs stop at the next check. Release/Acquire so a job
    /// that sees it also sees everything `close` did before.
    pub shutting_down: AtomicBool,
    pub snapshots: Arc<SnapshotList>,
    pub counters: Counters,
}

/// An open database. `Send + Sync`: share it between threads by reference or in an `Arc`.
///
/// Dropping it closes it (waiting for background work); [`Db::close`] does the same and
/// reports errors.
pub struct Db {
    inner: Arc<DbInner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (or creates, with `create_if_missing`) the database in directory `path`,
    /// replaying its write-ahead logs. Fails with [`Error::Locked`] if another handle has
    /// it open, and with a corruption error naming file and offset if its files are damaged.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        recovery::open(path.as_ref(), opts).map(|inner| Db { inner })
    }

    /// Stores `value` under `key`.
    pub fn put(&self, wo: &WriteOptions, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(wo, b)
    }

    /// Deletes `key` (a no-op if absent).
    pub fn delete(&self, wo: &WriteOptions, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(wo, b)
    }

    /// An empty batch with room for about `bytes` bytes of operations, like
    /// [`WriteBatch::with_capacity`], but reusing the buffer of a batch this database has
    /// already written when one is large enough: [`Db::write`] keeps written batches (up to
    /// 64 of at most 2 MiB) for this. Programs that build a large batch per request, from
    /// many threads, should take their batches here; the allocator then hands out no fresh
    /// memory per write.
    pub fn batch_with_capacity(&self, bytes: usize) -> WriteBatch {
        self.inner.batches.take(bytes)
    }

    /// Applies every operation of `batch` atomically: readers see all of it or none.
    pub fn write(&self, wo: &WriteOptions, batch: WriteBatch) -> Result<()> {
        write::write(&self.inner, wo.sync, Some(batch), false)
    }

    /// [`Db::write`] for async callers: queues `batch` in the group commit and gives a
    /// future of its result, so that a task waiting for a leader to commit its write does
    /// not hold its thread meanwhile. When no write is under way the batch is committed
    /// before this returns (the future is then ready); otherwise the future resolves when
    /// a leader has committed it with its group, or, when its turn to lead comes, by
    /// committing a group itself in `poll`. A poll can therefore take as long as one group
    /// commit, including any memtable switch or stall it needs (check
    /// [`Db::writes_may_stall`] first where that matters). Dropping the future does not
    /// withdraw the write. See [`WriteFuture`].
    pub fn write_async(&self, wo: &WriteOptions, batch: WriteBatch) -> WriteFuture {
        write::write_async(&self.inner, wo.sync, batch)
    }

    /// True when a write now might wait for background work: the frozen memtables are at
    /// `max_immutable_memtables` (a memtable switch would wait for a flush) or level 0 is at
    /// `l0_slowdown_trigger` or beyond (each write is delayed, or stopped at the stop
    /// trigger). A hint for callers that must not block for long, such as a server applying
    /// writes on its async worker threads: it can change right after it is read, and
    /// writes are not affected by it.
    pub fn writes_may_stall(&self) -> bool {
        write::may_stall(&self.inner)
    }

    /// The value of `key`, as of `ro.snapshot` or now.
    pub fn get(&self, ro: &ReadOptions, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = &self.inner;
        inner.check_open()?;
        let (seq, sv) = inner.read_point(ro);
        match sv.mem.get(key, seq) {
            Some(MemGet::Found(v)) => return Ok(Some(v.to_vec())),
            Some(MemGet::Deleted) => return Ok(None),
            None => {}
        }
        for m in &sv.imm {
            match m.get(key, seq) {
                Some(MemGet::Found(v)) => return Ok(Some(v.to_vec())),
                Some(MemGet::Deleted) => return Ok(None),
                None => {}
            }
        }
        let mut lookup = Vec::with_capacity(key.len() + 8);
        append_internal_key(&mut lookup, key, seq, ValueKind::SEEK);
        match sv.version.get(&inner.tables, &lookup, &table_read_options(ro))? {
            Some(Lookup::Found(v)) => Ok(Some(v)),
            Some(Lookup::Deleted) | None => Ok(None),
        }
    }

    /// An iterator over the database as of `ro.snapshot` (or now), within `ro`'s bounds.
    /// It keeps the files and memtables it reads alive until dropped.
    pub fn iter(&self, ro: &ReadOptions) -> Result<DbIterator> {
        let inner = &self.inner;
        inner.check_open()?;
        let (seq, sv) = inner.read_point(ro);
        let tro = table_read_options(ro);
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        children.push(Box::new(sv.mem.iter()));
        for m in &sv.imm {
            children.push(Box::new(m.iter()));
        }
        for f in &sv.version.files[0] {
            let t = inner.tables.get(f.number, f.size)?;
            children.push(Box::new(t.iter(tro)));
        }
        for files in sv.version.files.iter().skip(1) {
            if !files.is_empty() {
                children.push(Box::new(LevelIterator::new(inner.tables.clone(), files.clone(), tro)));
            }
        }
        let merged = MergingIterator::new(children);
        let pins: Vec<Box<dyn std::any::Any + Send + Sync>> = vec![Box::new(sv)];
        Ok(DbIterator::new(Box::new(merged), seq, ro.lower_bound.clone(), ro.upper_bound.clone()).with_pins(pins))
    }

    /// A snapshot of the current state; reads through it see exactly the writes before it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(&self.inner.snapshots, self.inner.visible_seq.load(Ordering::Acquire))
    }

    /// Writes the memtable to a level-0 table and waits until it is durable.
    pub fn flush(&self) -> Result<()> {
        write::write(&self.inner, false, None, true)?;
        background::wait_for_flushes(&self.inner)
    }

    /// Compacts the key range `[start, end]` (`None` = unbounded) down through every level
    /// holding it, dropping deleted and overwritten data no snapshot needs. Waits for it.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.flush()?;
        background::compact_range(&self.inner, start, end)
    }

    /// Like [`Db::compact_range`], but returns at once: the compaction runs on a thread of
    /// its own (counted as background work, so [`Db::wait_for_compactions`] waits for it and
    /// [`Db::close`] stops it). Its failure, like any background failure, stops writes.
    /// Useful after a compaction filter starts dropping more (a tablet split).
    pub fn compact_range_in_background(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        background::spawn_compact_range(&self.inner, start.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec))
    }

    /// Makes `dir` (absent or empty) a consistent, openable copy of this database, as
    /// RocksDB's `Checkpoint` does: flushes the memtable, then hard-links the live tables
    /// (copying when a link fails, e.g. across file systems) and writes a fresh MANIFEST and
    /// `CURRENT` there, all fsynced, `CURRENT` last. Every write acknowledged before the call
    /// is in the copy; writes, flushes and compactions go on meanwhile (the tables being
    /// linked are kept from the obsolete-file sweep). The copy is independent: later writes
    /// and compactions on either side do not reach the other. See [`crate::checkpoint`].
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<crate::checkpoint::CheckpointStats> {
        self.inner.check_open()?;
        self.flush()?;
        checkpoint::checkpoint(&self.inner, dir.as_ref())
    }

    /// Where the data lies in key space: one sample per data block of every live table
    /// (all levels, merged in key order) with the approximate bytes at or below it, plus
    /// the memtables' approximate size. Reads index blocks only (they stay in memory while
    /// a table is open), so it is cheap; memtable contents are not sampled by key.
    pub fn approximate_key_samples(&self) -> Result<samples::KeySamples> {
        self.inner.check_open()?;
        samples::key_samples(&self.inner)
    }

    /// Approximate bytes the database holds in `[start, end)` of user keys (`end` `None`:
    /// no upper end), RocksDB's `GetApproximateSizes`: table files wholly inside count
    /// whole, files that straddle an end count the data blocks inside (from their index
    /// blocks); plus the memtables' approximate size, which is not measured by key. Cheap
    /// when the files lie inside the range: the version's metadata only.
    pub fn approximate_size_in(&self, start: &[u8], end: Option<&[u8]>) -> Result<samples::RangeSize> {
        self.inner.check_open()?;
        samples::size_in(&self.inner, start, end)
    }

    /// Statistics: files and bytes per level, memtable bytes, write amplification, stalls,
    /// block cache hits and misses.
    pub fn stats(&self) -> DbStats {
        self.inner.stats()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Waits for background work to stop, syncs the WAL and releases the directory lock.
    /// Later calls on this handle fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Waits until no flush or compaction is queued or running and none is needed.
    pub fn wait_for_compactions(&self) -> Result<()> {
        background::wait_idle(&self.inner)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.inner.close();
    }
}

pub(crate) fn table_read_options(ro: &ReadOptions) -> TableReadOptions {
    TableReadOptions { verify_checksums: ro.verify_checksums, fill_cache: ro.fill_cache }
}

impl DbInner {
    pub(crate) fn super_version(&self) -> Arc<SuperVersion> {
        self.state.lock().sv.clone()
    }

    /// The sequence a read sees and the sources it reads. The sequence is loaded *before*
    /// the super version: every write at or below it is then in those memtables or tables
    /// (a memtable switch happens before the writes that follow it are published).
    pub(crate) fn read_point(&self, ro: &ReadOptions) -> (SequenceNumber, Arc<SuperVersion>) {
        let seq = match &ro.snapshot {
            Some(s) => s.sequence(),
            None => self.visible_seq.load(Ordering::Acquire),
        };
        (seq, self.super_version())
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Rebuilds the published super version from `st` (call after changing memtables or
    /// installing a version).
    pub(crate) fn install_super_version(st: &mut State, version: Option<Arc<Version>>) {
        // Jobs may publish out of order; never replace a version by an older one.
        let version = match version {
            Some(v) if v.generation >= st.sv.version.generation => v,
            _ => st.sv.version.clone(),
        };
        let imm = st.imm.iter().rev().map(|f| f.mem.clone()).collect();
        st.sv = Arc::new(SuperVersion { mem: st.mem.clone(), imm, version });
    }

    /// The sequence below which no reader can tell versions apart.
    pub(crate) fn smallest_snapshot(&self) -> SequenceNumber {
        let visible = self.visible_seq.load(Ordering::Acquire);
        self.snapshots.oldest().map_or(visible, |s| s.min(visible)).min(MAX_SEQUENCE)
    }

    pub(crate) fn stats(&self) -> DbStats {
        let (sv, imm_count) = {
            let st = self.state.lock();
            (st.sv.clone(), st.imm.len())
        };
        let mut levels = [LevelStats::default(); crate::version::edit::NUM_LEVELS];
        for (i, l) in levels.iter_mut().enumerate() {
            *l = LevelStats { files: sv.version.num_files(i), bytes: sv.version.level_bytes(i) };
        }
        let c = &self.counters;
        let bc = &self.tables.block_cache;
        DbStats {
            levels,
            memtable_bytes: (sv.mem.approximate_memory_usage()
                + sv.imm.iter().map(|m| m.approximate_memory_usage()).sum::<usize>())
                as u64,
            immutable_memtables: imm_count,
            user_bytes_written: Counters::get(&c.user_bytes_written),
            wal_bytes_written: Counters::get(&c.wal_bytes_written),
            wal_syncs: Counters::get(&c.wal_syncs),
            writes: Counters::get(&c.writes),
            write_groups: Counters::get(&c.write_groups),
            flush_bytes_written: Counters::get(&c.flush_bytes_written),
            flushes: Counters::get(&c.flushes),
            compaction_bytes_read: Counters::get(&c.compaction_bytes_read),
            compaction_bytes_written: Counters::get(&c.compaction_bytes_written),
            compactions: Counters::get(&c.compactions),
            trivial_moves: Counters::get(&c.trivial_moves),
            stall_micros: Counters::get(&c.stall_micros),
            stall_count: Counters::get(&c.stall_count),
            slowdown_count: Counters::get(&c.slowdown_count),
            budget_flushes: Counters::get(&c.budget_flushes),
            block_cache_hits: bc.hits(),
            block_cache_misses: bc.misses(),
            block_cache_usage: bc.usage() as u64,
            live_snapshots: self.snapshots.count(),
            last_sequence: self.visible_seq.load(Ordering::Acquire),
        }
    }

    fn close(&self) -> Result<()> {
        if self.shutting_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Let queued writers finish or fail; then wait for background jobs.
        {
            let mut st = self.state.lock();
            self.bg_cv.notify_all();
            while st.jobs > 0 {
                self.bg_cv.wait(&mut st);
            }
        }
        // Files that iterators or reads kept alive past the last sweep.
        background::delete_obsolete_files(self);
        let mut result = Ok(());
        {
            let mut log = self.log.lock();
            if let Some(w) = log.writer.as_mut() {
                result = w.flush();
            }
            log.writer = None;
        }
        self.lock.lock().take();
        result
    }
}
