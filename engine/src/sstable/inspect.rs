//! Read-only inspection of a table, for the `sst-dump` tool and for paranoid checks:
//! the footer, the metaindex, every block with its stored and actual checksum, and
//! [`Table::verify`], which checks everything that can be checked.

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, parse_internal_key, ValueKind};
use crate::sstable::block::Block;
use crate::sstable::format::{block_checksums, decode_block_contents, BlockHandle, Footer};
use crate::sstable::table::{read_raw_block, Table};

/// What a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Entries.
    Data,
    /// The bloom filter.
    Filter,
    /// One entry per data block.
    Index,
    /// Table properties.
    Properties,
    /// Names of the meta blocks.
    Metaindex,
    /// A metaindex entry this code does not know.
    Unknown,
}

/// One block as stored, checked but not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// What the block holds.
    pub kind: BlockKind,
    /// Where it is (size without the trailer).
    pub handle: BlockHandle,
    /// The trailer's compression type byte.
    pub compression_type: u8,
    /// The CRC32C stored in the trailer (unmasked).
    pub stored_checksum: u32,
    /// The CRC32C of the bytes read.
    pub actual_checksum: u32,
}

impl BlockInfo {
    /// True when the stored and actual checksums agree.
    pub fn checksum_ok(&self) -> bool {
        self.stored_checksum == self.actual_checksum
    }
}

/// What [`Table::verify`] found in a sound table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Data blocks checked.
    pub data_blocks: u64,
    /// Entries checked.
    pub entries: u64,
    /// Deletion entries.
    pub deletions: u64,
    /// Sum of internal key lengths.
    pub raw_key_size: u64,
    /// Sum of value lengths.
    pub raw_value_size: u64,
    /// Whether a bloom filter was checked against every key.
    pub filter_checked: bool,
}

impl Table {
    /// The footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The metaindex: meta block names and handles.
    pub fn metaindex(&self) -> &[(String, BlockHandle)] {
        &self.metaindex
    }

    /// Every index entry: (separator key, data block handle), in order.
    pub fn index_entries(&self) -> Result<Vec<(Vec<u8>, BlockHandle)>> {
        let mut out = Vec::new();
        let mut it = self.index.iter();
        it.seek_to_first().map_err(|e| self.index_err(e))?;
        while it.valid() {
            let h = BlockHandle::decode_exact(it.value()).map_err(|e| self.index_err(e))?;
            out.push((it.key().to_vec(), h));
            it.next().map_err(|e| self.index_err(e))?;
        }
        Ok(out)
    }

    /// Reads one block's trailer and checksums without failing on a mismatch.
    pub fn block_info(&self, kind: BlockKind, handle: BlockHandle) -> Result<BlockInfo> {
        let raw = read_raw_block(&*self.file, &self.path, self.file_size, handle)?;
        let (stored, actual, ty) = block_checksums(&raw)
            .ok_or_else(|| Error::corruption(&self.path, Some(handle.offset), "block shorter than its trailer"))?;
        Ok(BlockInfo { kind, handle, compression_type: ty, stored_checksum: stored, actual_checksum: actual })
    }

    /// Every block of the file in file order: data blocks, then the meta blocks, the index
    /// and the metaindex.
    pub fn blocks(&self) -> Result<Vec<BlockInfo>> {
        let mut out = Vec::new();
        for (_, h) in self.index_entries()? {
            out.push(self.block_info(BlockKind::Data, h)?);
        }
        for (name, h) in &self.metaindex {
            let kind = match name.as_str() {
                super::format::FILTER_BLOCK_NAME => BlockKind::Filter,
                super::format::PROPERTIES_BLOCK_NAME => BlockKind::Properties,
                _ => BlockKind::Unknown,
            };
            out.push(self.block_info(kind, *h)?);
        }
        out.push(self.block_info(BlockKind::Index, self.footer.index)?);
        out.push(self.block_info(BlockKind::Metaindex, self.footer.metaindex)?);
        out.sort_by_key(|b| b.handle.offset);
        Ok(out)
    }

    /// Checks the whole table: every block checksum, key order inside and across blocks,
    /// that every restart point of the index and data blocks starts a whole-key entry,
    /// that each index key is `>=` its block's last key and `<` the next block's first key,
    /// that the bloom filter reports every key, and that the properties agree with the data.
    /// Reads everything from the file (the block cache is bypassed). The first problem is
    /// returned as an error naming the file and the offset of the bad block.
    pub fn verify(&self) -> Result<VerifyReport> {
        for (_, h) in &self.metaindex {
            self.verify_checksum(*h)?;
        }
        self.verify_checksum(self.footer.index)?;
        self.verify_checksum(self.footer.metaindex)?;

        self.index.check_restart_points().map_err(|e| self.index_err(e))?;
        let mut report = VerifyReport { filter_checked: self.filter.is_some(), ..Default::default() };
        let mut prev_key: Vec<u8> = Vec::new();
        let mut first_key: Option<Vec<u8>> = None;
        let mut prev_sep: Option<Vec<u8>> = None;
        for (sep, h) in self.index_entries()? {
            let bad = |reason: String| Error::corruption(&self.path, Some(h.offset), reason);
            let raw = read_raw_block(&*self.file, &self.path, self.file_size, h)?;
            let contents = decode_block_contents(raw).map_err(|e| e.in_file(&self.path).at_offset(h.offset))?;
            let block = Arc::new(Block::decode(contents).map_err(|e| e.in_file(&self.path).at_offset(h.offset))?);
            let located = |e: Error| e.in_file(&self.path).at_offset(h.offset);
            block.check_restart_points().map_err(located)?;
            let mut it = block.iter();
            it.seek_to_first().map_err(located)?;
            if !it.valid() {
                return Err(bad("empty data block".into()));
            }
            if let Some(ps) = &prev_sep {
                if compare_internal(ps, it.key()) != Ordering::Less {
                    return Err(bad("previous index key is not below this block's first key".into()));
                }
            }
            while it.valid() {
                let key = it.key();
                let p = parse_internal_key(key).ok_or_else(|| bad("malformed internal key".into()))?;
                if report.entries > 0 && compare_internal(&prev_key, key) != Ordering::Less {
                    return Err(bad(format!("keys out of order at block byte {}", it.entry_offset())));
                }
                if !self.may_contain(p.user_key) {
                    return Err(bad("bloom filter does not report a key the block holds".into()));
                }
                if first_key.is_none() {
                    first_key = Some(key.to_vec());
                }
                report.entries += 1;
                report.deletions += u64::from(p.kind == ValueKind::Deletion);
                report.raw_key_size += key.len() as u64;
                report.raw_value_size += it.value().len() as u64;
                prev_key.clear();
                prev_key.extend_from_slice(key);
                it.next().map_err(located)?;
            }
            if compare_internal(&sep, &prev_key) == Ordering::Less {
                return Err(bad("index key is below the block's last key".into()));
            }
            prev_sep = Some(sep);
            report.data_blocks += 1;
        }
        self.check_properties(&report, first_key.as_deref().unwrap_or_default(), &prev_key)?;
        Ok(report)
    }

    fn verify_checksum(&self, h: BlockHandle) -> Result<()> {
        let info = self.block_info(BlockKind::Unknown, h)?;
        if !info.checksum_ok() {
            return Err(Error::ChecksumMismatch {
                file: self.path.clone(),
                offset: Some(h.offset),
                expected: info.stored_checksum,
                actual: info.actual_checksum,
            });
        }
        Ok(())
    }

    fn check_properties(&self, r: &VerifyReport, smallest: &[u8], largest: &[u8]) -> Result<()> {
        let p = self.properties();
        let found = (r.entries, r.deletions, r.data_blocks, r.raw_key_size, r.raw_value_size);
        let claimed = (p.num_entries, p.num_deletions, p.num_data_blocks, p.raw_key_size, p.raw_value_size);
        let at = self.metaindex.iter().find(|(n, _)| n == super::format::PROPERTIES_BLOCK_NAME).map(|(_, h)| h.offset);
        if (smallest, largest) != (&p.smallest_key[..], &p.largest_key[..]) {
            return Err(Error::corruption(
                &self.path,
                at,
                "properties disagree with the table's smallest or largest key",
            ));
        }
        if found != claimed {
            return Err(Error::corruption(
                &self.path,
                at,
                format!(
                    "properties claim (entries, deletions, blocks, key bytes, value bytes) = {claimed:?}, found {found:?}"
                ),
            ));
        }
        Ok(())
    }
}
