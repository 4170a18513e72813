//! `sst-dump`: read-only inspection of the engine's files — tables, write-ahead logs,
//! MANIFESTs and whole database directories — as text or JSON.
//!
//! Everything is read through the engine's own inspection API (`engine::sstable::Table`,
//! `engine::wal::Reader`, `engine::WriteBatch::from_data`, `VersionEdit::decode`,
//! `VersionSet::recover`), so the tool accepts and rejects exactly what the engine does and
//! reports damage with the engine's errors (file and offset). Files are opened read-only
//! and the database LOCK is never taken, so it can look at a live database.
//!
//! | module | command |
//! |---|---|
//! | [`sst`] | `sst-dump [sst] FILE [--scan] [--verify]` |
//! | [`wal`] | `sst-dump wal FILE` |
//! | [`manifest`] | `sst-dump manifest FILE` |
//! | [`db`] | `sst-dump db DIR [--verify]` |
//!
//! Every command takes `--decode tablet` to show user keys as tablet cell keys, decoded with
//! `tablet::keys::decode_cell_key` (the one dependency beyond `engine`; see [`show::KeyDecode`]).
//!
//! [`show`] holds the byte and key formats, [`report`] the one text/JSON output path,
//! [`progress`] the progress bars (stderr, terminals only).

pub mod db;
pub mod error;
pub mod manifest;
pub mod progress;
pub mod report;
pub mod show;
pub mod sst;
pub mod wal;

pub use error::{Error, Result};
