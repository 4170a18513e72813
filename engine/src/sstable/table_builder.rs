//! Writes a table file from internal entries given in strictly increasing order.
//!
//! Blocks are written in file order: data blocks as they fill up, then at
//! [`TableBuilder::finish`] the filter, index, properties and metaindex blocks and the footer
//! (layout: [`super::format`]). The index entry of a data block is written when the next
//! block's first key is known, so its key can be a short separator (see [`index_separator`]).
//!
//! Not thread-safe: one thread drives a builder. After any error the builder is poisoned:
//! every later call returns the same error; the caller deletes the partial file.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::WritableFile;
use crate::keys::{
    compare_internal, pack_tag, parse_internal_key, short_successor, shortest_separator, user_key, ValueKind,
    MAX_SEQUENCE,
};
use crate::sstable::block_builder::BlockBuilder;
use crate::sstable::filter::BloomBuilder;
use crate::sstable::format::{
    block_trailer, compress_block, BlockHandle, CompressScratch, Compression, Footer, BLOCK_TRAILER_LEN,
    FILTER_BLOCK_NAME, FORMAT_VERSION, PROPERTIES_BLOCK_NAME,
};
use crate::sstable::properties::Properties;

/// How a table is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableBuilderOptions {
    /// Target uncompressed size of a data block; a block is cut once it reaches this.
    pub block_size: usize,
    /// Entries between restart points in data blocks.
    pub restart_interval: usize,
    /// Compression of data and index blocks.
    pub compression: Compression,
    /// Bloom filter bits per user key; 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// Unix seconds recorded in the properties (passed in so tests are deterministic).
    pub creation_time: u64,
}

impl Default for TableBuilderOptions {
    fn default() -> Self {
        TableBuilderOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::default(),
            bloom_bits_per_key: 10,
            creation_time: 0,
        }
    }
}

/// What a finished table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Entries written.
    pub num_entries: u64,
    /// Smallest internal key (empty if no entry).
    pub smallest_key: Vec<u8>,
    /// Largest internal key (empty if no entry).
    pub largest_key: Vec<u8>,
    /// Smallest sequence number.
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
    /// The properties written into the table.
    pub properties: Properties,
}

/// Restart interval of index blocks: every key stored whole, so lookups binary-search all
/// entries and never rebuild a key.
const INDEX_RESTART_INTERVAL: usize = 1;

/// The index key for a data block whose last key is `last`, when the next block starts at
/// `next` (`None` for the table's last block). The result `s` satisfies `last <= s < next`
/// in internal-key order: a shorter user key `u` with `user(last) < u < user(next)` gets the
/// largest tag (the smallest internal key for `u`); otherwise `last` itself is used.
pub fn index_separator(last: &[u8], next: Option<&[u8]>) -> Vec<u8> {
    let ul = user_key(last);
    let short = match next {
        Some(n) => shortest_separator(ul, user_key(n)),
        None => short_successor(ul),
    };
    if short.len() < ul.len() && ul < short.as_slice() {
        let mut k = short;
        k.extend_from_slice(&pack_tag(MAX_SEQUENCE, ValueKind::SEEK).to_le_bytes());
        k
    } else {
        last.to_vec()
    }
}

/// Builds one table. See the module docs.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    opts: TableBuilderOptions,
    /// Bytes written to the file so far.
    offset: u64,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// The last flushed data block, whose index entry waits for the next key.
    pending_handle: Option<BlockHandle>,
    last_key: Vec<u8>,
    filter: Option<BloomBuilder>,
    props: Properties,
    scratch: CompressScratch,
    handle_buf: Vec<u8>,
    error: Option<Error>,
}

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder").field("path", &self.path).field("offset", &self.offset).finish_non_exhaustive()
    }
}

/// Compresses (maybe) and appends one block with its trailer; advances `offset`.
fn write_block(
    file: &mut dyn WritableFile,
    offset: &mut u64,
    raw: &[u8],
    compression: Compression,
    scratch: &mut CompressScratch,
) -> Result<BlockHandle> {
    let (contents, ty) = compress_block(raw, compression, scratch);
    file.append(contents)?;
    file.append(&block_trailer(contents, ty))?;
    let handle = BlockHandle { offset: *offset, size: contents.len() as u64 };
    *offset += (contents.len() + BLOCK_TRAILER_LEN) as u64;
    Ok(handle)
}

impl TableBuilder {
    /// A builder writing to `file` (empty, freshly created), named `path` in errors.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, opts: TableBuilderOptions) -> Self {
        let filter = (opts.bloom_bits_per_key > 0).then(|| BloomBuilder::new(opts.bloom_bits_per_key));
        let props = Properties {
            format_version: FORMAT_VERSION,
            compression: opts.compression,
            bloom_bits_per_key: opts.bloom_bits_per_key,
            creation_time: opts.creation_time,
            ..Properties::default()
        };
        TableBuilder {
            file,
            path,
            data_block: BlockBuilder::new(opts.restart_interval),
            index_block: BlockBuilder::new(INDEX_RESTART_INTERVAL),
            opts,
            offset: 0,
            pending_handle: None,
            last_key: Vec::new(),
            filter,
            props,
            scratch: CompressScratch::default(),
            handle_buf: Vec::with_capacity(20),
            error: None,
        }
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn poison<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    /// Adds an entry. `ikey` must be a well-formed internal key strictly greater (in
    /// [`compare_internal`] order) than the previous one: debug builds assert it, release
    /// builds return `InvalidArgument` (which does not poison the builder).
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        self.check()?;
        let parsed = parse_internal_key(ikey).ok_or_else(|| Error::InvalidArgument("malformed internal key".into()))?;
        if u32::try_from(ikey.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(Error::InvalidArgument("key or value longer than 4 GiB".into()));
        }
        if self.props.num_entries > 0 {
            let ord = compare_internal(ikey, &self.last_key);
            debug_assert!(ord == Ordering::Greater, "table keys out of order in {}", self.path.display());
            if ord != Ordering::Greater {
                return Err(Error::InvalidArgument(format!(
                    "table keys out of order in {}: a key is not greater than its predecessor",
                    self.path.display()
                )));
            }
        }
        if let Some(handle) = self.pending_handle.take() {
            let sep = index_separator(&self.last_key, Some(ikey));
            self.handle_buf.clear();
            handle.encode_to(&mut self.handle_buf);
            self.index_block.add(&sep, &self.handle_buf);
        }
        if let Some(f) = &mut self.filter {
            if self.props.num_entries == 0 || user_key(&self.last_key) != parsed.user_key {
                f.add_key(parsed.user_key);
            }
        }
        let p = &mut self.props;
        if p.num_entries == 0 {
            p.smallest_key = ikey.to_vec();
            p.smallest_seq = parsed.seq;
            p.largest_seq = parsed.seq;
        } else {
            p.smallest_seq = p.smallest_seq.min(parsed.seq);
            p.largest_seq = p.largest_seq.max(parsed.seq);
        }
        p.num_entries += 1;
        p.num_deletions += u64::from(parsed.kind == ValueKind::Deletion);
        p.raw_key_size += ikey.len() as u64;
        p.raw_value_size += value.len() as u64;
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        self.data_block.add(ikey, value);
        if self.data_block.current_size_estimate() >= self.opts.block_size {
            let r = self.flush_data_block();
            self.poison(r)?;
        }
        Ok(())
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data_block.is_empty() {
            return Ok(());
        }
        let raw = self.data_block.finish();
        let handle = write_block(&mut *self.file, &mut self.offset, raw, self.opts.compression, &mut self.scratch)?;
        self.data_block.reset();
        self.props.num_data_blocks += 1;
        self.pending_handle = Some(handle);
        Ok(())
    }

    /// The file size if the table were finished now, not counting the meta blocks; used to
    /// cut compaction outputs.
    pub fn estimated_file_size(&self) -> u64 {
        self.offset + self.data_block.current_size_estimate() as u64
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Writes the filter, index, properties and metaindex blocks and the footer, then syncs
    /// the file. The table is durable when this returns `Ok` (its directory entry is the
    /// caller's business).
    pub fn finish(mut self) -> Result<TableSummary> {
        self.check()?;
        let r = self.finish_inner();
        self.poison(r)
    }

    fn finish_inner(&mut self) -> Result<TableSummary> {
        self.flush_data_block()?;
        if let Some(handle) = self.pending_handle.take() {
            let sep = index_separator(&self.last_key, None);
            self.handle_buf.clear();
            handle.encode_to(&mut self.handle_buf);
            self.index_block.add(&sep, &self.handle_buf);
        }
        self.props.data_size = self.offset;
        if self.props.num_entries > 0 {
            self.props.largest_key = self.last_key.clone();
        }

        let mut meta: Vec<(&str, BlockHandle)> = Vec::with_capacity(2);
        let mut buf = Vec::new();
        if let Some(f) = self.filter.as_ref().filter(|f| !f.is_empty()) {
            f.finish(&mut buf);
            let h = write_block(&mut *self.file, &mut self.offset, &buf, Compression::None, &mut self.scratch)?;
            self.props.filter_size = h.size + BLOCK_TRAILER_LEN as u64;
            meta.push((FILTER_BLOCK_NAME, h));
        }

        let raw = self.index_block.finish();
        let index = write_block(&mut *self.file, &mut self.offset, raw, self.opts.compression, &mut self.scratch)?;
        self.props.index_size = index.size + BLOCK_TRAILER_LEN as u64;

        buf.clear();
        self.props.encode_to(&mut buf);
        let h = write_block(&mut *self.file, &mut self.offset, &buf, Compression::None, &mut self.scratch)?;
        meta.push((PROPERTIES_BLOCK_NAME, h));

        meta.sort_unstable_by_key(|(name, _)| *name);
        let mut mb = BlockBuilder::new(1);
        for (name, h) in &meta {
            self.handle_buf.clear();
            h.encode_to(&mut self.handle_buf);
            mb.add(name.as_bytes(), &self.handle_buf);
        }
        let metaindex =
            write_block(&mut *self.file, &mut self.offset, mb.finish(), Compression::None, &mut self.scratch)?;

        buf.clear();
        Footer { metaindex, index, format_version: FORMAT_VERSION }.encode_to(&mut buf);
        self.file.append(&buf)?;
        self.offset += buf.len() as u64;
        self.file.sync()?;

        let p = &self.props;
        Ok(TableSummary {
            file_size: self.offset,
            num_entries: p.num_entries,
            smallest_key: p.smallest_key.clone(),
            largest_key: p.largest_key.clone(),
            smallest_seq: p.smallest_seq,
            largest_seq: p.largest_seq,
            properties: p.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FaultOp, Fs, MemFs};
    use crate::keys::make_internal_key;

    fn ik(k: &[u8], seq: u64) -> Vec<u8> {
        make_internal_key(k, seq, ValueKind::Value)
    }

    #[test]
    fn separators_keep_internal_order() {
        type Case<'a> = (&'a [u8], u64, Option<(&'a [u8], u64)>);
        let cases: &[Case] = &[
            (b"abcdef", 5, Some((b"abzz", 9))),
            (b"abc", 5, Some((b"abd", 1))),
            (b"abc", 5, Some((b"abc", 4))),
            (b"ab", 5, Some((b"abc", 100))),
            (b"\xff\xff", 1, Some((b"\xff\xff\x01", 1))),
            (b"hello", 3, None),
            (b"\xff\xff", 3, None),
            (b"", 3, None),
        ];
        for &(l, ls, n) in cases {
            let last = ik(l, ls);
            let next = n.map(|(k, s)| ik(k, s));
            let sep = index_separator(&last, next.as_deref());
            assert_ne!(compare_internal(&sep, &last), Ordering::Less, "{l:?}");
            if let Some(next) = &next {
                assert_eq!(compare_internal(&sep, next), Ordering::Less, "{l:?}");
            }
        }
        assert_eq!(user_key(&index_separator(&ik(b"abcdef", 5), Some(&ik(b"abzz", 9)))), b"abd");
        assert_eq!(user_key(&index_separator(&ik(b"hello", 5), None)), b"i");
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "out of order"))]
    fn out_of_order_is_rejected() {
        let fs = MemFs::new();
        let p = PathBuf::from("/t.sst");
        fs.create_dir_all(Path::new("/")).unwrap();
        let mut b = TableBuilder::new(fs.create(&p).unwrap(), p, TableBuilderOptions::default());
        b.add(&ik(b"b", 1), b"").unwrap();
        let e = b.add(&ik(b"a", 1), b"").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        b.add(&ik(b"c", 1), b"").unwrap();
    }

    #[test]
    fn malformed_key_rejected() {
        let fs = MemFs::new();
        let p = PathBuf::from("/t.sst");
        fs.create_dir_all(Path::new("/")).unwrap();
        let mut b = TableBuilder::new(fs.create(&p).unwrap(), p, TableBuilderOptions::default());
        assert!(matches!(b.add(b"short", b""), Err(Error::InvalidArgument(_))));
        assert_eq!(b.num_entries(), 0);
    }

    #[test]
    fn write_errors_poison_the_builder() {
        let fs = MemFs::new();
        let p = PathBuf::from("/t.sst");
        fs.create_dir_all(Path::new("/")).unwrap();
        let opts = TableBuilderOptions { block_size: 64, ..Default::default() };
        let mut b = TableBuilder::new(fs.create(&p).unwrap(), p, opts);
        fs.inject(FaultOp::Write, None, 0);
        let mut failed = false;
        for i in 0..100u32 {
            if b.add(&ik(format!("k{i:04}").as_bytes(), 1), &[7; 20]).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
        fs.clear_faults();
        assert!(b.add(&ik(b"zzz", 1), b"").unwrap_err().is_io());
        assert!(b.finish().unwrap_err().is_io());
    }

    #[test]
    fn summary_and_size_estimate() {
        let fs = MemFs::new();
        let p = PathBuf::from("/t.sst");
        fs.create_dir_all(Path::new("/")).unwrap();
        let opts = TableBuilderOptions {
            block_size: 256,
            creation_time: 77,
            compression: Compression::None,
            ..Default::default()
        };
        let mut b = TableBuilder::new(fs.create(&p).unwrap(), p.clone(), opts);
        let mut last_est = 0;
        for i in 0..500u64 {
            let kind = if i % 10 == 0 { ValueKind::Deletion } else { ValueKind::Value };
            b.add(&make_internal_key(format!("key{i:05}").as_bytes(), 1000 - i, kind), b"value").unwrap();
            assert!(b.estimated_file_size() >= last_est);
            last_est = b.estimated_file_size();
        }
        assert_eq!(b.num_entries(), 500);
        let s = b.finish().unwrap();
        assert_eq!(s.file_size, fs.file_size(&p).unwrap());
        assert!(s.file_size >= last_est);
        assert_eq!(s.num_entries, 500);
        assert_eq!((s.smallest_seq, s.largest_seq), (501, 1000));
        assert_eq!(user_key(&s.smallest_key), b"key00000");
        assert_eq!(user_key(&s.largest_key), b"key00499");
        assert_eq!(s.properties.num_deletions, 50);
        assert_eq!(s.properties.creation_time, 77);
        assert!(s.properties.num_data_blocks > 1);
    }
}
