//! The write-ahead log: every write batch is appended here before it reaches the memtable,
//! so that a crash loses nothing acknowledged.
//!
//! The format is LevelDB's log format (32 KiB blocks of checksummed, possibly fragmented
//! records); [`mod@format`] holds the byte layout, [`Writer`] appends, [`Reader`] reads back and
//! tells a torn tail (the normal result of a crash: the log simply ends) from corruption in
//! the middle (an error). `docs/wal_format.md` documents the format and the recovery rules;
//! the payload of each record is a write batch ([`crate::batch`]), or several merged by group
//! commit.

pub mod format;
mod reader;
mod writer;

pub use reader::{Reader, Record, TornTail};
pub use writer::Writer;
