//! Options for opening a database, writing, and reading.

use std::fmt;
use std::sync::Arc;

use crate::cache::Cache;
use crate::compaction::filter::CompactionFilterFactory;
use crate::db::snapshot::Snapshot;
use crate::fs::{Fs, PosixFs};
use crate::pool::BackgroundPool;
use crate::sstable::{Block, Compression};
use crate::version::table_cache::TableCache;
use crate::write_buffer::WriteBufferManager;

/// A block cache that many databases in one process can share. Bounded in bytes of decoded
/// blocks; cheap to clone (a handle).
#[derive(Clone, Debug)]
pub struct BlockCache(pub(crate) Arc<Cache<Arc<Block>>>);

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of decoded blocks.
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache(Arc::new(Cache::new(capacity_bytes)))
    }
    /// Bytes of blocks cached now.
    pub fn usage(&self) -> usize {
        self.0.usage()
    }
    /// The configured capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
    /// Lookups served from the cache.
    pub fn hits(&self) -> u64 {
        self.0.hits()
    }
    /// Lookups that had to read from disk.
    pub fn misses(&self) -> u64 {
        self.0.misses()
    }
}

/// How to open a database.
#[derive(Clone)]
pub struct Options {
    /// Create the database if the directory holds none. Default `true`.
    pub create_if_missing: bool,
    /// Fail if a database already exists. Default `false`.
    pub error_if_exists: bool,
    /// Refuse to open on any sign of corruption (a damaged WAL record anywhere but a torn
    /// tail, a table that fails to open, a checksum mismatch on read) instead of reporting it
    /// per read. Default `false`.
    pub paranoid_checks: bool,
    /// Bytes of writes buffered in the memtable before it is frozen and flushed. Default 64 MiB.
    pub write_buffer_size: usize,
    /// A memtable memory budget shared with other databases: when their memtables together
    /// pass it, a writing database freezes its memtable early (see [`crate::write_buffer`]).
    /// `None` (the default): only `write_buffer_size` limits the memtable.
    pub write_buffer_manager: Option<Arc<WriteBufferManager>>,
    /// Frozen memtables allowed to wait for flush before writes stop. Default 2.
    pub max_immutable_memtables: usize,
    /// Uncompressed size of a data block. Default 4 KiB.
    pub block_size: usize,
    /// Keys between restart points in a block. Default 16.
    pub block_restart_interval: usize,
    /// Block compression. Default LZ4.
    pub compression: Compression,
    /// Bloom filter bits per key; 0 disables filters. Default 10 (about 1% false positives).
    pub bloom_bits_per_key: u32,
    /// The block cache; `None` gives the database a private 8 MiB cache.
    pub block_cache: Option<BlockCache>,
    /// Open table readers kept by a private table cache (ignored when `table_cache` is set).
    /// Default 1000.
    pub max_open_files: usize,
    /// A table cache shared with other databases; `None` gives a private one.
    pub table_cache: Option<Arc<TableCache>>,
    /// Target size of a compaction output file. Default 64 MiB.
    pub target_file_size: u64,
    /// Size target of level 1; level n+1 targets `fanout` times level n. Default 256 MiB.
    pub level1_max_bytes: u64,
    /// Growth factor between levels. Default 10.
    pub level_fanout: u64,
    /// Level-0 file count that triggers a compaction. Default 4.
    pub l0_compaction_trigger: usize,
    /// Level-0 file count at which each write is delayed by about a millisecond. Default 20.
    pub l0_slowdown_trigger: usize,
    /// Level-0 file count at which writes stop until compaction catches up. Default 36.
    pub l0_stop_trigger: usize,
    /// Threads of the private background pool (ignored when `background_pool` is set). Default 2.
    pub background_threads: usize,
    /// A background pool shared with other databases; `None` gives a private one.
    pub background_pool: Option<Arc<BackgroundPool>>,
    /// Compactions of this database that may run at once. Default 1.
    pub max_background_compactions: usize,
    /// Creates a filter for each compaction (and flush) that may drop entries.
    pub compaction_filter_factory: Option<Arc<dyn CompactionFilterFactory>>,
    /// A new MANIFEST is started when the current one passes this size. Default 64 MiB.
    pub max_manifest_size: u64,
    /// How long a writer waiting in the group commit (for its group's leader, or as a sync
    /// leader for its group to fill) yields the CPU in a loop before it sleeps on a lock;
    /// 0 sleeps at once. Waking a sleeping thread costs tens of microseconds on a virtual
    /// machine whose cores went idle during an fsync; yielding keeps the turnaround short.
    /// The loop stops early when other threads want the CPU. Default 500 µs.
    pub write_yield_micros: u64,
    /// The OS is asked to start writing the WAL to the device each time this many bytes
    /// were appended since it last was (as RocksDB's `wal_bytes_per_sync`; 0: never). No
    /// durability promise (that is `WriteOptions::sync`); it keeps the WAL's dirty pages
    /// few, so the sync of the old WAL at a memtable switch, which the writers of that
    /// moment wait for, has about this much left to write instead of the whole WAL (with
    /// 64 MiB memtables, about 100 ms on our test machine). Default 1 MiB.
    pub wal_bytes_per_sync: u64,
    /// The file system. Default: the real one.
    pub fs: Arc<dyn Fs>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            paranoid_checks: false,
            write_buffer_size: 64 << 20,
            write_buffer_manager: None,
            max_immutable_memtables: 2,
            block_size: 4096,
            block_restart_interval: 16,
            compression: Compression::Lz4,
            bloom_bits_per_key: 10,
            block_cache: None,
            max_open_files: 1000,
            table_cache: None,
            target_file_size: 64 << 20,
            level1_max_bytes: 256 << 20,
            level_fanout: 10,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 20,
            l0_stop_trigger: 36,
            background_threads: 2,
            background_pool: None,
            max_background_compactions: 1,
            compaction_filter_factory: None,
            max_manifest_size: 64 << 20,
            write_yield_micros: 500,
            wal_bytes_per_sync: 1 << 20,
            fs: Arc::new(PosixFs::new()),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("create_if_missing", &self.create_if_missing)
            .field("error_if_exists", &self.error_if_exists)
            .field("paranoid_checks", &self.paranoid_checks)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("write_buffer_manager", &self.write_buffer_manager.as_ref().map(|m| m.budget()))
            .field("max_immutable_memtables", &self.max_immutable_memtables)
            .field("block_size", &self.block_size)
            .field("compression", &self.compression)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("target_file_size", &self.target_file_size)
            .field("level1_max_bytes", &self.level1_max_bytes)
            .field("l0_triggers", &(self.l0_compaction_trigger, self.l0_slowdown_trigger, self.l0_stop_trigger))
            .field("write_yield_micros", &self.write_yield_micros)
            .field("wal_bytes_per_sync", &self.wal_bytes_per_sync)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Checks that the options make sense together.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::InvalidArgument(m.to_string()));
        if self.write_buffer_size < 4096 {
            return bad("write_buffer_size must be at least 4096");
        }
        if self.block_size < 64 || self.block_size > (1 << 30) {
            return bad("block_size must be between 64 bytes and 1 GiB");
        }
        if self.block_restart_interval == 0 {
            return bad("block_restart_interval must be at least 1");
        }
        if self.max_immutable_memtables == 0 {
            return bad("max_immutable_memtables must be at least 1");
        }
        if self.level_fanout < 2 {
            return bad("level_fanout must be at least 2");
        }
        if !(self.l0_compaction_trigger >= 1
            && self.l0_compaction_trigger <= self.l0_slowdown_trigger
            && self.l0_slowdown_trigger <= self.l0_stop_trigger)
        {
            return bad("need 1 <= l0_compaction_trigger <= l0_slowdown_trigger <= l0_stop_trigger");
        }
        if self.background_threads == 0 && self.background_pool.is_none() {
            return bad("background_threads must be at least 1");
        }
        if self.max_background_compactions == 0 {
            return bad("max_background_compactions must be at least 1");
        }
        if self.max_open_files < 10 {
            return bad("max_open_files must be at least 10");
        }
        if self.target_file_size < 4096 || self.level1_max_bytes < 4096 {
            return bad("target_file_size and level1_max_bytes must be at least 4096");
        }
        Ok(())
    }
}

/// Options of one write.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// `false` (default): the write reached the OS before the call returns and survives a
    /// process crash. `true`: the WAL is fsync'd before the call returns, so the write
    /// survives a machine crash.
    pub sync: bool,
}

/// Options of one read or iterator.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Read as of this snapshot; `None` reads the latest state.
    pub snapshot: Option<Snapshot>,
    /// Verify block checksums on every read, also of cached blocks' first reads. Default `true`.
    pub verify_checksums: bool,
    /// Put blocks read into the block cache. Default `true` (turn off for big scans).
    pub fill_cache: bool,
    /// Iterators: smallest key returned (inclusive).
    pub lower_bound: Option<Vec<u8>>,
    /// Iterators: keys returned are below this (exclusive).
    pub upper_bound: Option<Vec<u8>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { snapshot: None, verify_checksums: true, fill_cache: true, lower_bound: None, upper_bound: None }
    }
}
