//! Versions: which table files make up the tree at one moment.
//!
//! A [`Version`] is immutable; flushes and compactions make new ones through
//! [`set::VersionSet::log_and_apply`]. Readers and iterators hold an `Arc<Version>`, and a
//! table file is deleted only when no live version lists it.
//!
//! Invariants of a version:
//! 1. Level 0 files may overlap; they are kept newest first (descending file number, which
//!    is also descending sequence order, since flushes run one at a time).
//! 2. Files of levels 1 and up are sorted by smallest key and do not overlap.

pub mod edit;
pub mod level_iter;
pub mod set;
pub mod table_cache;

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::Result;
use crate::keys::{compare_internal, parse_internal_key, user_key, ValueKind};
use crate::sstable::TableReadOptions;
use edit::NUM_LEVELS;
use table_cache::Tables;

/// A table file in a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// File number (`NNNNNN.sst`).
    pub number: u64,
    /// Size in bytes.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest sequence number.
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
}

impl FileMeta {
    /// Smallest user key.
    pub fn smallest_user(&self) -> &[u8] {
        user_key(&self.smallest)
    }
    /// Largest user key.
    pub fn largest_user(&self) -> &[u8] {
        user_key(&self.largest)
    }
    /// True if the file's user-key range meets `[lo, hi]` (`None` = unbounded).
    pub fn overlaps(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
        let before = hi.is_some_and(|h| self.smallest_user() > h);
        let after = lo.is_some_and(|l| self.largest_user() < l);
        !before && !after
    }
}

/// The outcome of a point lookup in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The newest visible entry is a value.
    Found(Vec<u8>),
    /// The newest visible entry is a deletion.
    Deleted,
}

/// The set of table files at one moment. See the module docs for its invariants.
#[derive(Debug, Default, Clone)]
pub struct Version {
    /// Files per level.
    pub files: [Vec<Arc<FileMeta>>; NUM_LEVELS],
    /// Position in the sequence of versions a `VersionSet` installed (newer is larger);
    /// lets the database publish versions in order even when jobs finish out of order.
    pub generation: u64,
    /// Per level, the key after which the next size compaction starts (as recorded in the
    /// MANIFEST when this version was made).
    pub compact_pointers: [Vec<u8>; NUM_LEVELS],
}

impl Version {
    /// Total bytes of the files of `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.files.get(level).map_or(0, |f| f.iter().map(|f| f.size).sum())
    }

    /// Number of files in `level`.
    pub fn num_files(&self, level: usize) -> usize {
        self.files.get(level).map_or(0, Vec::len)
    }

    /// Files of `level` whose user-key range meets `[lo, hi]`. For level 0 the range is
    /// widened by every overlapping file, as a level-0 compaction must take them all.
    pub fn overlapping(&self, level: usize, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<Arc<FileMeta>> {
        let Some(files) = self.files.get(level) else { return Vec::new() };
        if level > 0 {
            return files.iter().filter(|f| f.overlaps(lo, hi)).cloned().collect();
        }
        let (mut lo, mut hi) = (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec));
        loop {
            let picked: Vec<_> = files.iter().filter(|f| f.overlaps(lo.as_deref(), hi.as_deref())).cloned().collect();
            let mut widened = false;
            for f in &picked {
                if lo.as_deref().is_some_and(|l| f.smallest_user() < l) {
                    lo = Some(f.smallest_user().to_vec());
                    widened = true;
                }
                if hi.as_deref().is_some_and(|h| f.largest_user() > h) {
                    hi = Some(f.largest_user().to_vec());
                    widened = true;
                }
            }
            if !widened {
                return picked;
            }
        }
    }

    /// Point lookup of `lookup_ikey` (user key + the reader's sequence, kind SEEK) through
    /// the table files, newest first.
    pub fn get(&self, tables: &Tables, lookup_ikey: &[u8], ro: &TableReadOptions) -> Result<Option<Lookup>> {
        let ukey = user_key(lookup_ikey);
        for f in self.files.first().into_iter().flatten() {
            if ukey < f.smallest_user() || ukey > f.largest_user() {
                continue;
            }
            if let Some(r) = get_in_file(tables, f, lookup_ikey, ro)? {
                return Ok(Some(r));
            }
        }
        for files in self.files.iter().skip(1) {
            // First file whose largest key is >= the lookup key.
            let i = files.partition_point(|f| compare_internal(&f.largest, lookup_ikey) == Ordering::Less);
            let Some(f) = files.get(i) else { continue };
            if ukey < f.smallest_user() {
                continue;
            }
            if let Some(r) = get_in_file(tables, f, lookup_ikey, ro)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// True if any file below `level` may hold `ukey` (tombstones for it must then be kept).
    pub fn key_may_exist_below(&self, level: usize, ukey: &[u8]) -> bool {
        self.files.iter().skip(level + 1).any(|files| {
            let i = files.partition_point(|f| f.largest_user() < ukey);
            files.get(i).is_some_and(|f| f.smallest_user() <= ukey)
        })
    }
}

fn get_in_file(tables: &Tables, f: &FileMeta, lookup_ikey: &[u8], ro: &TableReadOptions) -> Result<Option<Lookup>> {
    let table = tables.get(f.number, f.size)?;
    let hit = table.get(lookup_ikey, ro, |k, v| {
        parse_internal_key(k).map(|p| match p.kind {
            ValueKind::Value => Lookup::Found(v.to_vec()),
            ValueKind::Deletion => Lookup::Deleted,
        })
    })?;
    match hit {
        None => Ok(None),
        Some(Some(r)) => Ok(Some(r)),
        Some(None) => Err(crate::Error::corruption(table.path(), None, "malformed internal key in table")),
    }
}
