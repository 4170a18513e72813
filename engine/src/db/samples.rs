//! `Db::approximate_key_samples`: where the data lies in key space, from index blocks only.

use super::DbInner;
use crate::error::Result;
use crate::keys::user_key;
use crate::sstable::format::BLOCK_TRAILER_LEN;

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

pub(crate) fn key_samples(db: &DbInner) -> Result<KeySamples> {
    let sv = db.super_version();
    let mut blocks: Vec<(Vec<u8>, u64)> = Vec::new();
    for f in sv.version.files.iter().flatten() {
        let table = db.tables.get(f.number, f.size)?;
        let entries = table.index_entries()?;
        // Spread the whole file (index, filter and footer included) over its data blocks
        // in proportion to their sizes, so the samples add up to the bytes on disk.
        let data: u64 = entries.iter().map(|(_, h)| h.size + BLOCK_TRAILER_LEN as u64).sum();
        let mut given = 0u64;
        let n = entries.len();
        for (i, (sep, handle)) in entries.into_iter().enumerate() {
            let share = if i + 1 == n {
                f.size.saturating_sub(given)
            } else {
                let b = u128::from(handle.size + BLOCK_TRAILER_LEN as u64);
                u64::try_from(b * u128::from(f.size) / u128::from(data.max(1))).unwrap_or(u64::MAX)
            };
            given = given.saturating_add(share);
            blocks.push((user_key(&sep).to_vec(), share));
        }
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
    let memtable_bytes =
        (sv.mem.approximate_memory_usage() + sv.imm.iter().map(|m| m.approximate_memory_usage()).sum::<usize>()) as u64;
    Ok(KeySamples { samples, table_bytes: offset, memtable_bytes })
}
