//! `Db::approximate_key_samples`: where the data lies in key space, from index blocks only.

use super::{DbInner, SuperVersion};
use crate::error::Result;
use crate::keys::user_key;
use crate::sstable::format::BLOCK_TRAILER_LEN;
use crate::version::FileMeta;

/// One sample: a user key and the approximate bytes of table data at or below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySample {
    /// A user key from an index block: at or above the last key of its data block, below
    /// the first key of the next one. Index keys may be shortened separators, so the key
    /// need not be one that was written.
    pub key: Vec<u8>,
    /// Approximate bytes of table files (all levels) at or below `key`: the sizes of every
    /// data block whose index key is at or below it, each file's index, filter and footer
    /// spread over its blocks in proportion. Non-decreasing along the samples.
    pub offset: u64,
}

/// The result of [`crate::Db::approximate_key_samples`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySamples {
    /// One sample per data block of every live table, in key order (ties in no particular
    /// order; L0 tables overlap, so several samples may share a key).
    pub samples: Vec<KeySample>,
    /// Bytes of all live table files (the last sample's offset, when there are samples).
    pub table_bytes: u64,
    /// Approximate bytes in the memtables (not sampled by key).
    pub memtable_bytes: u64,
}

/// The result of [`crate::Db::approximate_size_in`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeSize {
    /// Approximate bytes of table files (all levels) holding keys of the range.
    pub table_bytes: u64,
    /// Approximate bytes in the memtables (all of them: not measured by key).
    pub memtable_bytes: u64,
}

/// The data blocks of table `f`, each as its index key (a user key) and its share of the
/// file's bytes: the whole file (index, filter and footer included) spread over its data
/// blocks in proportion to their sizes, so the shares add up to the bytes on disk.
fn block_shares(db: &DbInner, f: &FileMeta) -> Result<Vec<(Vec<u8>, u64)>> {
    let table = db.tables.get(f.number, f.size)?;
    let entries = table.index_entries()?;
    let data: u64 = entries.iter().map(|(_, h)| h.size + BLOCK_TRAILER_LEN as u64).sum();
    let mut given = 0u64;
    let n = entries.len();
    let mut out = Vec::with_capacity(n);
    for (i, (sep, handle)) in entries.into_iter().enumerate() {
        let share = if i + 1 == n {
            f.size.saturating_sub(given)
        } else {
            let b = u128::from(handle.size + BLOCK_TRAILER_LEN as u64);
            u64::try_from(b * u128::from(f.size) / u128::from(data.max(1))).unwrap_or(u64::MAX)
        };
        given = given.saturating_add(share);
        out.push((user_key(&sep).to_vec(), share));
    }
    Ok(out)
}

fn memtable_bytes(sv: &SuperVersion) -> u64 {
    (sv.mem.approximate_memory_usage() + sv.imm.iter().map(|m| m.approximate_memory_usage()).sum::<usize>()) as u64
}

pub(crate) fn key_samples(db: &DbInner) -> Result<KeySamples> {
    let sv = db.super_version();
    let mut blocks: Vec<(Vec<u8>, u64)> = Vec::new();
    for f in sv.version.files.iter().flatten() {
        blocks.extend(block_shares(db, f)?);
    }
    blocks.sort_by(|a, b| a.0.cmp(&b.0));
    let mut offset = 0u64;
    let samples = blocks
        .into_iter()
        .map(|(key, size)| {
            offset += size;
            KeySample { key, offset }
        })
        .collect();
    Ok(KeySamples { samples, table_bytes: offset, memtable_bytes: memtable_bytes(&sv) })
}

/// Bytes of the tables' data in `[start, end)` (`end` `None`: no upper end). A file whose
/// keys all lie inside counts whole and one whose keys all lie outside not at all, both
/// from the version's metadata; only a file that straddles an end reads its index, and
/// counts the shares of the blocks whose index key is inside (as [`key_samples`] would).
pub(crate) fn size_in(db: &DbInner, start: &[u8], end: Option<&[u8]>) -> Result<RangeSize> {
    let sv = db.super_version();
    let inside = |k: &[u8]| k >= start && end.is_none_or(|e| k < e);
    let mut table_bytes = 0u64;
    for f in sv.version.files.iter().flatten() {
        let (lo, hi) = (user_key(&f.smallest), user_key(&f.largest));
        if hi < start || end.is_some_and(|e| lo >= e) {
            continue;
        }
        if inside(lo) && inside(hi) {
            table_bytes += f.size;
            continue;
        }
        table_bytes += block_shares(db, f)?.iter().filter(|(k, _)| inside(k)).map(|(_, s)| s).sum::<u64>();
    }
    Ok(RangeSize { table_bytes, memtable_bytes: memtable_bytes(&sv) })
}
