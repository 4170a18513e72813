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
//! # Checkpoints and key samples
//!
//! [`Db::checkpoint`] makes a directory a consistent, openable copy of a live database,
//! sharing its table files through hard links (copies across file systems);
//! [`checkpoint_closed`] does the same for a directory some other, dead or paused, process
//! may hold, without opening it (its WALs are copied and replayed when the copy opens).
//! [`Db::approximate_key_samples`] tells where the data lies in key space from the index
//! blocks alone, which is what a caller needs to pick a split point:
//!
//! ```
//! use engine::{Db, Options, WriteOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path().join("db"), Options::default())?;
//! for i in 0..1000u32 {
//!     db.put(&WriteOptions::default(), format!("key{i:04}").as_bytes(), &[7; 100])?;
//! }
//! db.checkpoint(dir.path().join("copy"))?; // flushes first
//! let samples = db.approximate_key_samples()?;
//! let half = samples.table_bytes / 2;
//! let middle = samples.samples.iter().find(|s| s.offset >= half).map(|s| s.key.clone());
//! assert!(middle.is_some());
//! let copy = Db::open(dir.path().join("copy"), Options::default())?;
//! assert!(copy.get(&Default::default(), b"key0999")?.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, bottom up (a module uses only lower layers):
//! 1. [`error`], [`coding`], [`checksum`], [`fs`], [`cache`] (a generic sharded LRU, used by
//!    the block cache in layer 3 and the table cache in layer 4)
//! 2. [`keys`], [`options`] (plain data), [`filename`]
//! 3. [`iterator`], [`merge`], [`db_iter`], [`memtable`], [`wal`], [`batch`], [`sstable`]
//! 4. [`version`] (versions, MANIFEST, table cache)
//! 5. [`compaction`] (the pure picker and the job), [`checkpoint`] (copies of a database
//!    directory sharing its tables through hard links)
//! 6. [`db`], [`pool`] — the only modules that start threads or hold the database's locks

pub mod batch;
pub mod cache;
pub mod checkpoint;
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
pub mod write_buffer;

pub use batch::WriteBatch;
pub use checkpoint::{checkpoint_closed, CheckpointStats};
pub use compaction::filter::{CompactionFilter, CompactionFilterFactory, Decision, FilterContext};
pub use db::samples::{KeySample, KeySamples, RangeSize};
pub use db::snapshot::Snapshot;
pub use db::stats::{DbStats, LevelStats};
pub use db::{Db, WriteFuture};
pub use db_iter::DbIterator;
pub use error::{Error, Result};
pub use fs::{FaultOp, Fs, MemFs, PosixFs};
pub use options::{BlockCache, Options, ReadOptions, WriteOptions};
pub use pool::BackgroundPool;
pub use sstable::Compression;
pub use version::table_cache::TableCache;
pub use write_buffer::WriteBufferManager;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
