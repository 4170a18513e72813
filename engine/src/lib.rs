//! An embeddable LSM-tree key-value engine.
//!
//! Layers, bottom up (a module uses only lower layers):
//! 1. [`error`], [`coding`], [`checksum`], [`fs`], [`cache`] (a generic sharded LRU)
//! 2. [`keys`]
//! 3. [`iterator`], [`memtable`]

pub mod cache;
pub mod checksum;
pub mod coding;
pub mod error;
pub mod fs;
pub mod iterator;
pub mod keys;
pub mod memtable;

pub use error::{Error, Result};
