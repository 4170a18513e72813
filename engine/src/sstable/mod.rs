//! Sorted string tables: the immutable, sorted files of the LSM tree.
//!
//! A table is written once by a [`TableBuilder`] from entries in increasing internal-key
//! order and read by a [`Table`] (point lookups, [`TableIterator`], inspection). The byte
//! layout is in [`format`] and `docs/sstable_format.md`.
//!
//! Layering: this module knows nothing of memtables, versions or the database; it uses only
//! error, coding, checksum, fs, keys, iterator and cache.
//!
//! | file | holds |
//! |---|---|
//! | [`format`] | constants, block handle, trailer, footer, compression |
//! | [`block_builder`] / [`block`] | prefix-compressed blocks with restart points |
//! | [`filter`] | the table's bloom filter (builder and reader) |
//! | [`properties`] | the properties block |
//! | [`table_builder`] | the writer |
//! | [`table`] / [`table_iterator`] | the reader and its two-level iterator |
//! | [`inspect`] | read-only listing and full verification |

#![deny(clippy::indexing_slicing)]

pub mod block;
pub mod block_builder;
pub mod filter;
pub mod format;
pub mod inspect;
pub mod properties;
pub mod table;
pub mod table_builder;
pub mod table_iterator;

#[cfg(test)]
pub(crate) mod testutil;

pub use block::{Block, BlockIter};
pub use format::{BlockHandle, Compression, Footer};
pub use inspect::{BlockInfo, BlockKind, VerifyReport};
pub use properties::Properties;
pub use table::{BlockCache, Table, TableReadOptions};
pub use table_builder::{TableBuilder, TableBuilderOptions, TableSummary};
pub use table_iterator::TableIterator;
