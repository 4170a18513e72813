//! An embeddable LSM-tree key-value engine.
//!
//! Byte-string keys ordered bytewise; atomic write batches; snapshots; forward and reverse
//! iterators with bounds; a write-ahead log with group commit and per-write `sync`; leveled
//! compaction in background threads with write stalls; bloom filters; LZ4 blocks; CRC32C on
//! every block and record; block and table caches that many databases can share; a
//! compaction-filter hook; and an [`fs::Fs`] seam through which every byte of I/O passes.
//!
//! ```
//! use engine::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put(&WriteOptions::default(), b"apple", b"red")?;
//! let mut batch = WriteBatch::new();
//! batch.put(b"banana", b"yellow");
//! batch.delete(b"apple");
//! db.write(&WriteOptions { sync: true }, batch)?;
//! assert_eq!(db.get(&ReadOptions::default(), b"apple")?, None);
//!
//! let mut it = db.iter(&ReadOptions::default())?;
//! it.seek_to_first();
//! while it.valid() {
//!     println!("{:?} = {:?}", it.key(), it.value());
//!     it.next();
//! }
//! it.status()?;
//! db.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, bottom up (a module uses only lower layers):
//! 1. [`error`], [`coding`], [`checksum`], [`fs`], [`cache`] (a generic sharded LRU, used by
//!    the block cache in layer 3 and the table cache in layer 4)
//! 2. [`keys`], [`options`] (plain data), [`filename`]
//! 3. [`iterator`], [`merge`], [`db_iter`], [`memtable`], [`wal`], [`batch`], [`sstable`]
//! 4. [`version`] (versions, MANIFEST, table cache)
//! 5. [`compaction`] (the pure picker and the job)
//! 6. [`db`], [`pool`] — the only modules that start threads or hold the database's locks

pub mod batch;
pub mod cache;
pub mod checksum;
pub mod coding;
pub mod compaction;
pub mod db;
pub mod db_iter;
pub mod error;
pub mod filename;
pub mod fs;
pub mod iterator;
pub mod keys;
pub mod memtable;
pub mod merge;
pub mod options;
pub mod pool;
pub mod sstable;
pub mod version;
pub mod wal;

pub use batch::WriteBatch;
pub use compaction::filter::{CompactionFilter, CompactionFilterFactory, Decision, FilterContext};
pub use db::snapshot::Snapshot;
pub use db::stats::{DbStats, LevelStats};
pub use db::Db;
pub use db_iter::DbIterator;
pub use error::{Error, Result};
pub use fs::{FaultOp, Fs, MemFs, PosixFs};
pub use options::{BlockCache, Options, ReadOptions, WriteOptions};
pub use pool::BackgroundPool;
pub use sstable::Compression;
pub use version::table_cache::TableCache;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
