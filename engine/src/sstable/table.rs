//! The table reader: opens a table file, answers point lookups, makes iterators.
//!
//! At [`Table::open`] the footer, metaindex, index, filter and properties are read, checked
//! and kept for the table's lifetime (the index block and filter are pinned, not cached).
//! Data blocks are read on demand through the shared [`BlockCache`], keyed by
//! (the table's cache id, block offset) and charged by decoded size.
//!
//! # Checksums
//! Every block read from the file has its CRC32C verified before it is used or cached,
//! whatever [`TableReadOptions::verify_checksums`] says (the CRC costs far less than the
//! read); blocks found in the cache were verified when they were read. So corrupt bytes are
//! always reported as [`Error::ChecksumMismatch`] / [`Error::Corruption`] naming the file and
//! the block's offset, never returned.
//!
//! # Thread safety
//! `Table` is immutable after open and `Send + Sync`; share it as `Arc<Table>`. Lookups from
//! many threads only contend on the block cache's shard locks.

#![deny(clippy::indexing_slicing)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::fs::RandomAccessFile;
use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, user_key};
use crate::sstable::block::{Block, BlockCursor};
use crate::sstable::filter::BloomFilter;
use crate::sstable::format::{
    decode_block_contents, BlockHandle, Footer, BLOCK_TRAILER_LEN, FILTER_BLOCK_NAME, FOOTER_LEN, PROPERTIES_BLOCK_NAME,
};
use crate::sstable::properties::Properties;
use crate::sstable::table_iterator::TableIterator;

/// The process-wide cache of decoded data blocks, shared by many tables and databases.
pub type BlockCache = Cache<Arc<Block>>;

/// Per-read options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableReadOptions {
    /// Kept for API compatibility: blocks read from disk are always verified (module docs).
    pub verify_checksums: bool,
    /// Insert blocks read from disk into the block cache (false for compaction scans).
    pub fill_cache: bool,
}

impl Default for TableReadOptions {
    fn default() -> Self {
        TableReadOptions { verify_checksums: true, fill_cache: true }
    }
}

/// An open table. See the module docs.
pub struct Table {
    pub(crate) file: Arc<dyn RandomAccessFile>,
    pub(crate) path: PathBuf,
    pub(crate) file_size: u64,
    cache: Option<Arc<BlockCache>>,
    cache_id: u64,
    pub(crate) footer: Footer,
    pub(crate) metaindex: Vec<(String, BlockHandle)>,
    pub(crate) index: Arc<Block>,
    /// Where the data blocks end: the offset of the first meta or index block.
    data_end: u64,
    pub(crate) filter: Option<BloomFilter>,
    properties: Properties,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("path", &self.path).field("file_size", &self.file_size).finish_non_exhaustive()
    }
}

thread_local! {
    /// Key buffer lent to point lookups, so a `get` does not allocate.
    static KEY_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Largest key buffer kept between lookups.
const MAX_KEPT_KEY_BUF: usize = 64 * 1024;

/// Reads a block and its trailer (bounds-checked against the file), without verifying it.
pub(crate) fn read_raw_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    file_size: u64,
    handle: BlockHandle,
) -> Result<Vec<u8>> {
    let limit = file_size.saturating_sub(FOOTER_LEN as u64);
    let len = handle
        .end()
        .filter(|&end| end <= limit)
        .and_then(|_| usize::try_from(handle.size).ok())
        .map(|s| s + BLOCK_TRAILER_LEN)
        .ok_or_else(|| {
            Error::corruption(
                path,
                Some(handle.offset),
                format!(
                    "block handle (offset {}, size {}) points past the end of the file",
                    handle.offset, handle.size
                ),
            )
        })?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(handle.offset, &mut buf)?;
    Ok(buf)
}

/// Reads, verifies and decompresses a block.
fn read_block_contents(
    file: &dyn RandomAccessFile,
    path: &Path,
    file_size: u64,
    handle: BlockHandle,
) -> Result<Vec<u8>> {
    let raw = read_raw_block(file, path, file_size, handle)?;
    decode_block_contents(raw).map_err(|e| e.in_file(path).at_offset(handle.offset))
}

impl Table {
    /// Opens the table in `file` (of `file_size` bytes), named `path` in errors. With
    /// `paranoid`, also checks every index entry (order, handles inside the data area).
    pub fn open(
        file: Arc<dyn RandomAccessFile>,
        path: PathBuf,
        file_size: u64,
        block_cache: Option<Arc<BlockCache>>,
        paranoid: bool,
    ) -> Result<Arc<Table>> {
        if file_size < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                &path,
                Some(0),
                format!("file of {file_size} bytes is too short for a table"),
            ));
        }
        let footer_at = file_size - FOOTER_LEN as u64;
        let mut fbuf = [0u8; FOOTER_LEN];
        file.read_exact_at(footer_at, &mut fbuf)?;
        let footer = Footer::decode(&fbuf).map_err(|e| e.in_file(&path).at_offset(footer_at))?;

        let read = |h: BlockHandle| read_block_contents(&*file, &path, file_size, h);
        let block = |h: BlockHandle| -> Result<Block> {
            Block::decode(read(h)?).map_err(|e| e.in_file(&path).at_offset(h.offset))
        };

        let meta_block = Arc::new(block(footer.metaindex)?);
        let metaindex =
            decode_metaindex(&meta_block).map_err(|e| e.in_file(&path).at_offset(footer.metaindex.offset))?;
        let index = Arc::new(block(footer.index)?);

        let find = |name: &str| metaindex.iter().find(|(n, _)| n == name).map(|(_, h)| *h);
        let props_handle = find(PROPERTIES_BLOCK_NAME)
            .ok_or_else(|| Error::corruption(&path, Some(footer.metaindex.offset), "no properties block"))?;
        let properties =
            Properties::decode(&read(props_handle)?).map_err(|e| e.in_file(&path).at_offset(props_handle.offset))?;
        let filter = match find(FILTER_BLOCK_NAME) {
            Some(h) => Some(BloomFilter::decode(read(h)?).map_err(|e| e.in_file(&path).at_offset(h.offset))?),
            None => None,
        };

        let data_end = metaindex
            .iter()
            .map(|(_, h)| h.offset)
            .chain([footer.index.offset, footer.metaindex.offset])
            .min()
            .unwrap_or(0);
        let cache_id = block_cache.as_ref().map_or(0, |c| c.new_id());
        let table = Table {
            file,
            path,
            file_size,
            cache: block_cache,
            cache_id,
            footer,
            metaindex,
            index,
            data_end,
            filter,
            properties,
        };
        if paranoid {
            table.check_index()?;
        }
        Ok(Arc::new(table))
    }

    /// Checks that index keys ascend strictly and every handle lies before the meta blocks.
    fn check_index(&self) -> Result<()> {
        let mut it = self.index.iter();
        let mut prev: Option<Vec<u8>> = None;
        it.seek_to_first().map_err(|e| self.index_err(e))?;
        while it.valid() {
            let h = BlockHandle::decode_exact(it.value()).map_err(|e| self.index_err(e))?;
            if h.end().is_none_or(|end| end > self.data_end) {
                return Err(self.index_err(Error::corruption("", None, "index entry points outside the data blocks")));
            }
            if prev.as_deref().is_some_and(|p| compare_internal(p, it.key()) != std::cmp::Ordering::Less) {
                return Err(self.index_err(Error::corruption("", None, "index keys out of order")));
            }
            prev = Some(it.key().to_vec());
            it.next().map_err(|e| self.index_err(e))?;
        }
        Ok(())
    }

    /// Maps an error from the index block to the file and the index block's offset.
    pub(crate) fn index_err(&self, e: Error) -> Error {
        e.in_file(&self.path).at_offset(self.footer.index.offset)
    }

    /// Reads a data block through the cache; errors name the file and the block offset.
    pub(crate) fn read_data_block(&self, handle: BlockHandle, ro: &TableReadOptions) -> Result<Arc<Block>> {
        let key = (self.cache_id, handle.offset);
        if let Some(cache) = &self.cache {
            if let Some(b) = cache.get(&key) {
                return Ok(b);
            }
        }
        let contents = read_block_contents(&*self.file, &self.path, self.file_size, handle)?;
        let block = Arc::new(Block::decode(contents).map_err(|e| e.in_file(&self.path).at_offset(handle.offset))?);
        if ro.fill_cache {
            if let Some(cache) = &self.cache {
                cache.insert(key, Arc::clone(&block), block.charge());
            }
        }
        Ok(block)
    }

    /// Point lookup. Checks the bloom filter on `user_key(lookup_ikey)`; if it may match,
    /// finds the first entry `>= lookup_ikey` and, if its user key equals the lookup's, returns
    /// `Some(f(ikey, value))` (the slices borrow the block; copy what you keep).
    ///
    /// Only the block the index points at is searched: an index key `s` of block `i` is
    /// either block `i`'s last key or a user key strictly below block `i + 1`'s first user
    /// key, so when block `i` holds no entry `>= lookup_ikey`, no entry with its user key
    /// exists.
    pub fn get<R>(
        &self,
        lookup_ikey: &[u8],
        ro: &TableReadOptions,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Result<Option<R>> {
        let ukey = user_key(lookup_ikey);
        if !self.may_contain(ukey) {
            return Ok(None);
        }
        let mut ic = BlockCursor::default();
        ic.seek(&self.index, lookup_ikey).map_err(|e| self.index_err(e))?;
        if !ic.valid() {
            return Ok(None);
        }
        let handle = BlockHandle::decode_exact(ic.value(&self.index)).map_err(|e| self.index_err(e))?;
        let block = self.read_data_block(handle, ro)?;
        let mut dc = BlockCursor::with_buffer(KEY_BUF.with(Cell::take));
        let out = match dc.seek(&block, lookup_ikey) {
            Ok(()) if dc.valid() && user_key(dc.key(&block)) == ukey => Ok(Some(f(dc.key(&block), dc.value(&block)))),
            Ok(()) => Ok(None),
            Err(e) => Err(e.in_file(&self.path).at_offset(handle.offset)),
        };
        let buf = dc.into_buffer();
        if buf.capacity() <= MAX_KEPT_KEY_BUF {
            KEY_BUF.with(|c| c.set(buf));
        }
        out
    }

    /// False only if the table certainly holds no entry for `user_key` (bloom filter).
    #[inline]
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(user_key))
    }

    /// An iterator over the whole table; it keeps the table alive.
    pub fn iter(self: &Arc<Self>, ro: TableReadOptions) -> TableIterator {
        TableIterator::new(Arc::clone(self), ro)
    }

    /// The table's properties.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// The approximate file offset where entries `>= ikey` begin (the offset of the data
    /// block that would hold `ikey`, or the end of the data blocks).
    pub fn approximate_offset_of(&self, ikey: &[u8]) -> u64 {
        let mut ic = BlockCursor::default();
        if ic.seek(&self.index, ikey).is_ok() && ic.valid() {
            if let Ok(h) = BlockHandle::decode_exact(ic.value(&self.index)) {
                return h.offset;
            }
        }
        self.data_end
    }

    /// The table's file name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }
}

/// Decodes the metaindex: (name, handle) pairs.
fn decode_metaindex(block: &Arc<Block>) -> Result<Vec<(String, BlockHandle)>> {
    let mut out = Vec::new();
    let mut it = block.iter();
    it.seek_to_first()?;
    while it.valid() {
        let name = std::str::from_utf8(it.key())
            .map_err(|_| Error::corruption("", None, "metaindex name is not UTF-8"))?
            .to_owned();
        out.push((name, BlockHandle::decode_exact(it.value())?));
        it.next()?;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
