//! The bodies of the fuzz targets, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`)
//! and the corpus replay test (`engine/tests/fuzz_corpus.rs`, which includes this file with
//! `#[path]`).
//!
//! Each body takes arbitrary bytes. On malformed input the engine must return an error:
//! any panic, hang or unbounded allocation is a finding. On top of "no panic", the bodies
//! assert properties that hold for *every* input (a successful `seek` lands at or after its
//! target, a table that passes `verify()` scans the same both ways and finds every key it
//! holds, an edit that decodes re-encodes to the same edit, ...), and `engine_ops` checks a
//! whole database against a `BTreeMap` model after every operation.
//!
//! Everything here uses the engine's public API only, and `MemFs` for files.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use engine::batch::BatchOp;
use engine::iterator::InternalIterator;
use engine::keys::{compare_internal, make_internal_key, ValueKind, MAX_SEQUENCE};
use engine::sstable::format::{block_trailer, decode_block_contents, BLOCK_TRAILER_LEN, FOOTER_LEN};
use engine::sstable::{Block, BlockCache, BlockHandle, Footer, Table, TableReadOptions};
use engine::version::edit::VersionEdit;
use engine::wal::format::{encode_header, Header, RecordType, BLOCK_SIZE, HEADER_SIZE};
use engine::wal::Reader;
use engine::{
    BackgroundPool, Compression, Db, DbIterator, Fs, MemFs, Options, ReadOptions, Snapshot, WriteBatch, WriteOptions,
};

/// Upper bound on the steps of any scan: every step consumes at least one byte of input, so
/// more steps than this means an iterator that does not advance (a hang).
fn step_limit(input_len: usize) -> usize {
    input_len.saturating_mul(2).saturating_add(64)
}

/// One background thread shared by every database the targets open, so that opening a
/// database does not start threads each time.
fn pool() -> Arc<BackgroundPool> {
    static POOL: OnceLock<Arc<BackgroundPool>> = OnceLock::new();
    POOL.get_or_init(|| BackgroundPool::new(1)).clone()
}

/// Options that flush, compact and roll the MANIFEST after a few KiB.
fn tiny_options(fs: Arc<dyn Fs>) -> Options {
    Options {
        fs,
        write_buffer_size: 4 << 10,
        max_immutable_memtables: 1,
        block_size: 256,
        block_restart_interval: 4,
        target_file_size: 4 << 10,
        level1_max_bytes: 16 << 10,
        level_fanout: 2,
        l0_compaction_trigger: 2,
        l0_slowdown_trigger: 4,
        l0_stop_trigger: 8,
        max_open_files: 64,
        max_manifest_size: 4 << 10,
        background_pool: Some(pool()),
        ..Options::default()
    }
}

fn write_file(fs: &MemFs, path: &Path, data: &[u8]) {
    if let Some(dir) = path.parent() {
        fs.create_dir_all(dir).expect("create a MemFs directory");
    }
    let mut f = fs.create(path).expect("create a MemFs file");
    f.append(data).expect("append to a MemFs file");
    f.sync().expect("sync a MemFs file");
}

/// Internal keys to seek to that are not taken from the input: before, between and after
/// anything plausible, plus degenerate (too short for a tag) keys.
fn fixed_targets() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        vec![0],
        vec![0xff; 3],
        make_internal_key(b"", MAX_SEQUENCE, ValueKind::Value),
        make_internal_key(b"key", 1, ValueKind::Value),
        make_internal_key(b"m", 0, ValueKind::Deletion),
        make_internal_key(&[0xff; 12], 0, ValueKind::Deletion),
    ]
}

/// Walks `it` from the first entry to the end; returns the entries, or `None` after an error.
fn scan_forward<I: InternalIterator + ?Sized>(it: &mut I, limit: usize) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    it.seek_to_first().ok()?;
    while it.valid() {
        assert!(out.len() < limit, "forward scan does not terminate");
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().ok()?;
    }
    it.status().ok()?;
    Some(out)
}

/// Walks `it` from the last entry to the start; returns the entries in ascending position
/// order, or `None` after an error.
fn scan_backward<I: InternalIterator + ?Sized>(it: &mut I, limit: usize) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    it.seek_to_last().ok()?;
    while it.valid() {
        assert!(out.len() < limit, "backward scan does not terminate");
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev().ok()?;
    }
    it.status().ok()?;
    out.reverse();
    Some(out)
}

/// What a seek must promise for the contents at hand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Promise {
    /// Nothing but no panic (a table that failed `verify()`).
    None,
    /// A successful `seek` that lands on an entry lands at or after its target. Holds for a
    /// block whatever its contents: the scan from a restart point stops only there.
    Seek,
    /// Sorted contents: `seek` lands at or after its target, `seek_for_prev` at or before.
    Both,
}

/// Seeks to each target (and steps a little each way from there), checking `promise`.
fn seek_around<I: InternalIterator + ?Sized>(it: &mut I, targets: &[Vec<u8>], promise: Promise) {
    use std::cmp::Ordering::{Greater, Less};
    for t in targets {
        if it.seek(t).is_ok() && it.valid() {
            if promise != Promise::None {
                assert_ne!(compare_internal(it.key(), t), Less, "seek landed before its target");
            }
            let _ = it.next();
            if it.valid() {
                let _ = it.prev();
            }
        }
        if it.seek_for_prev(t).is_ok() && it.valid() {
            if promise == Promise::Both {
                assert_ne!(compare_internal(it.key(), t), Greater, "seek_for_prev landed after its target");
            }
            let _ = it.prev();
            if it.valid() {
                let _ = it.next();
            }
        }
        let _ = it.status();
    }
}

// ---------------------------------------------------------------------------------------
// Checksum repair: every block and record carries a CRC32C, so almost every mutation the
// fuzzer makes is caught by a checksum before any decoder sees it. The byte-level targets
// therefore run twice: on the input as it is, and on a copy whose checksums were recomputed
// wherever the framing can be followed, so malformed contents behind valid checksums (what
// a buggy writer would produce) reach the decoders too.
// ---------------------------------------------------------------------------------------

/// A copy of a log-format file (WAL or MANIFEST) with each record header's CRC recomputed,
/// following the framing block by block. `None` if nothing changed.
pub fn fix_log_crcs(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    for block_start in (0..out.len()).step_by(BLOCK_SIZE) {
        let block_end = (block_start + BLOCK_SIZE).min(out.len());
        let mut pos = block_start;
        while pos + HEADER_SIZE <= block_end {
            let Some(h) = Header::decode(&out[pos..]) else { break };
            let Some(ty) = RecordType::from_u8(h.type_byte) else { break };
            let end = pos + HEADER_SIZE + usize::from(h.length);
            if end > block_end {
                break;
            }
            let header = encode_header(ty, &out[pos + HEADER_SIZE..end]);
            out[pos..pos + 4].copy_from_slice(&header[..4]);
            pos = end;
        }
    }
    (out != data).then_some(out)
}

/// Recomputes the trailer of the block at `h` in `out` (if it lies inside the data area).
fn fix_block_crc(out: &mut [u8], h: BlockHandle) -> bool {
    let (Ok(start), Ok(size)) = (usize::try_from(h.offset), usize::try_from(h.size)) else { return false };
    let Some(end) = start.checked_add(size) else { return false };
    if end.saturating_add(BLOCK_TRAILER_LEN) > out.len().saturating_sub(FOOTER_LEN) {
        return false;
    }
    let trailer = block_trailer(&out[start..end], out[end]);
    out[end..end + BLOCK_TRAILER_LEN].copy_from_slice(&trailer);
    true
}

/// The handles stored as values in the block at `h` (a metaindex or index block).
fn handles_in(out: &[u8], h: BlockHandle) -> Vec<BlockHandle> {
    let (Ok(start), Ok(size)) = (usize::try_from(h.offset), usize::try_from(h.size)) else { return Vec::new() };
    let Some(raw) = start.checked_add(size + BLOCK_TRAILER_LEN).and_then(|end| out.get(start..end)) else {
        return Vec::new();
    };
    let Ok(block) = decode_block_contents(raw.to_vec()).and_then(Block::decode) else { return Vec::new() };
    let block = Arc::new(block);
    let mut it = block.iter();
    let mut handles = Vec::new();
    if it.seek_to_first().is_ok() {
        while it.valid() && handles.len() < 4096 {
            if let Ok(h) = BlockHandle::decode_exact(it.value()) {
                handles.push(h);
            }
            if it.next().is_err() {
                break;
            }
        }
    }
    handles
}

/// A copy of a table file with the checksums of the blocks its footer, metaindex and index
/// reach recomputed. `None` if nothing changed.
pub fn fix_table_crcs(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    let footer = Footer::decode(out.get(out.len().checked_sub(FOOTER_LEN)?..)?).ok()?;
    for top in [footer.metaindex, footer.index] {
        if fix_block_crc(&mut out, top) {
            for h in handles_in(&out, top) {
                fix_block_crc(&mut out, h);
            }
        }
    }
    (out != data).then_some(out)
}

/// Target `block`: one (uncompressed) block decoded from the input, iterated fully both
/// ways, with seeks to its own keys and to fixed targets.
pub fn block(data: &[u8]) {
    let Ok(block) = Block::decode(data.to_vec()) else { return };
    let block = Arc::new(block);
    let limit = step_limit(data.len());
    let mut it = block.iter();
    let forward = scan_forward(&mut it, limit);
    let mut it = block.iter();
    let backward = scan_backward(&mut it, limit);
    // A block whose restart points all start whole-key entries (what `Table::verify`
    // checks) scans the same both ways.
    if forward.is_some() && block.check_restart_points().is_ok() {
        assert_eq!(backward, forward, "a block with sound restart points scans differently backward");
    }
    let mut targets = fixed_targets();
    if let Some(entries) = &forward {
        targets.extend(entries.iter().take(16).map(|(k, _)| k.clone()));
    }
    let mut it = block.iter();
    seek_around(&mut it, &targets, Promise::Seek);
}

/// Target `sstable`: the input (and its checksum-repaired copy) as a table file on a
/// `MemFs`, opened (plain and paranoid),
/// scanned both ways, probed with point lookups, and verified. A table that passes
/// `verify()` must scan identically both ways and find each of its keys with `get`.
pub fn sstable(data: &[u8]) {
    sstable_file(data);
    if let Some(fixed) = fix_table_crcs(data) {
        sstable_file(&fixed);
    }
}

fn sstable_file(data: &[u8]) {
    let fs = MemFs::new();
    let path = PathBuf::from("/t/000001.sst");
    write_file(&fs, &path, data);
    let limit = step_limit(data.len());
    for paranoid in [false, true] {
        let Ok(file) = fs.open_random(&path) else { return };
        let cache = Some(Arc::new(BlockCache::new(64 << 10)));
        let Ok(table) = Table::open(file, path.clone(), data.len() as u64, cache, paranoid) else { continue };
        let ro = TableReadOptions::default();
        let forward = scan_forward(&mut table.iter(ro), limit);
        let backward = scan_backward(&mut table.iter(ro), limit);
        let mut targets = fixed_targets();
        if let Some(entries) = &forward {
            targets.extend(entries.iter().take(16).map(|(k, _)| k.clone()));
        }
        for t in &targets {
            let _ = table.get(t, &ro, |k, v| (k.to_vec(), v.to_vec()));
            let _ = table.approximate_offset_of(t);
        }
        let _ = table.blocks();
        let _ = table.index_entries();
        let verified = table.verify().is_ok();
        let promise = if verified { Promise::Both } else { Promise::None };
        seek_around(&mut table.iter(ro), &targets, promise);
        if verified {
            let forward = forward.expect("a verified table scans forward without error");
            let backward = backward.expect("a verified table scans backward without error");
            assert_eq!(forward, backward, "a verified table scans differently forward and backward");
            for (k, v) in forward.iter().take(64) {
                let got = table.get(k, &ro, |k, v| (k.to_vec(), v.to_vec())).expect("get on a verified table");
                assert_eq!(got.as_ref(), Some(&(k.clone(), v.clone())), "get misses an entry of a verified table");
            }
        }
    }
}

/// Replays the decoded operations of a batch, as recovery would, and returns them.
fn batch_ops(batch: &WriteBatch) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
    let mut ops = Vec::new();
    for op in batch.iter() {
        match op.expect("a batch accepted by from_data iterates without error") {
            BatchOp::Put { key, value } => ops.push((true, key.to_vec(), value.to_vec())),
            BatchOp::Delete { key } => ops.push((false, key.to_vec(), Vec::new())),
        }
    }
    assert_eq!(ops.len() as u64, u64::from(batch.count()), "batch count disagrees with its records");
    ops
}

/// Target `wal`: the input (and its checksum-repaired copy) as a WAL file. Every record is read (checksums verified, then
/// not) and decoded as a write batch; then the file is handed to `Db::open` as the only log
/// of a database with no MANIFEST yet, which replays it.
pub fn wal(data: &[u8]) {
    let _ = wal_file(data);
    if let Some(fixed) = fix_log_crcs(data) {
        let _ = wal_file(&fixed);
    }
}

/// One run of the `wal` target on one file; returns the number of keys of the database
/// recovered from it, if it opened.
pub fn wal_file(data: &[u8]) -> Option<usize> {
    let fs = MemFs::new();
    let dir = Path::new("/db");
    let path = dir.join("000001.log");
    write_file(&fs, &path, data);
    let limit = step_limit(data.len());
    for verify in [true, false] {
        let Ok(file) = fs.open_sequential(&path) else { return None };
        let mut reader = Reader::new(file, path.clone(), verify);
        let mut records = 0;
        while let Ok(Some(rec)) = reader.read_record() {
            records += 1;
            assert!(records < limit, "WAL reader does not terminate");
            assert!(rec.offset < data.len() as u64, "record offset past the end of the file");
            if let Ok(batch) = WriteBatch::from_data(rec.data.to_vec()) {
                batch_ops(&batch);
            }
        }
        assert!(reader.valid_len() <= data.len() as u64, "valid length past the end of the file");
        let _ = reader.torn_tail();
    }
    open_and_scan(&fs, dir, true, limit)
}

/// Opens the database in `dir` (`create`: also when it has no `CURRENT`, which replays the
/// WALs there into a new database) and, if it opens, checks that it scans the same both ways
/// and that `get` agrees with the scan. Returns the number of keys, if it opened.
fn open_and_scan(fs: &MemFs, dir: &Path, create: bool, limit: usize) -> Option<usize> {
    let mut opts = tiny_options(Arc::new(fs.clone()));
    opts.create_if_missing = create;
    let db = Db::open(dir, opts).ok()?;
    let ro = ReadOptions::default();
    let forward = db.iter(&ro).ok().and_then(|mut it| db_scan(&mut it, false, limit));
    let backward = db.iter(&ro).ok().and_then(|mut it| db_scan(&mut it, true, limit));
    if let (Some(f), Some(b)) = (&forward, &backward) {
        assert_eq!(f, b, "a recovered database scans differently forward and backward");
        for (k, v) in f.iter().take(32) {
            if let Ok(got) = db.get(&ro, k) {
                assert_eq!(got.as_ref(), Some(v), "get disagrees with the scan of a recovered database");
            }
        }
    }
    let _ = db.close();
    forward.map(|f| f.len())
}

/// Target `manifest`: the input as one version edit, then (as it is and checksum-repaired)
/// as a whole MANIFEST file (read
/// with the WAL reader, every record decoded), then as the MANIFEST of a database that
/// `Db::open` recovers.
pub fn manifest(data: &[u8]) {
    if let Ok(edit) = VersionEdit::decode(data) {
        let mut again = Vec::new();
        edit.encode(&mut again);
        let back = VersionEdit::decode(&again).expect("a re-encoded edit decodes");
        assert_eq!(back, edit, "version edit does not survive encode(decode(x))");
    }
    let _ = manifest_file(data);
    if let Some(fixed) = fix_log_crcs(data) {
        let _ = manifest_file(&fixed);
    }
}

/// One run of the `manifest` target on one MANIFEST file; returns the number of keys of the
/// database recovered from it, if it opened (only a MANIFEST listing no table can).
pub fn manifest_file(data: &[u8]) -> Option<usize> {
    let fs = MemFs::new();
    let dir = Path::new("/db");
    let path = dir.join("MANIFEST-000001");
    write_file(&fs, &path, data);
    write_file(&fs, &dir.join("CURRENT"), b"MANIFEST-000001\n");
    let limit = step_limit(data.len());
    let Ok(file) = fs.open_sequential(&path) else { return None };
    let mut reader = Reader::new(file, path.clone(), true);
    let mut records = 0;
    while let Ok(Some(rec)) = reader.read_record() {
        records += 1;
        assert!(records < limit, "MANIFEST reader does not terminate");
        let _ = VersionEdit::decode(rec.data);
    }
    open_and_scan(&fs, dir, false, limit)
}

/// Target `write_batch`: the input as a write batch representation. An accepted batch
/// iterates without error, holds as many records as it claims, and rebuilding it through
/// the API gives the same operations.
pub fn write_batch(data: &[u8]) {
    let Ok(batch) = WriteBatch::from_data(data.to_vec()) else { return };
    let ops = batch_ops(&batch);
    let mut rebuilt = WriteBatch::new();
    for (put, k, v) in &ops {
        if *put {
            rebuilt.put(k, v);
        } else {
            rebuilt.delete(k);
        }
    }
    rebuilt.set_sequence(batch.sequence());
    assert_eq!(batch_ops(&rebuilt), ops, "a rebuilt batch holds different operations");
    let _ = batch.approximate_size();
}

// ---------------------------------------------------------------------------------------
// engine_ops: a structured sequence of operations on a Db over MemFs, against a model.
// ---------------------------------------------------------------------------------------

/// Most operations one input may hold.
const MAX_OPS: usize = 96;
/// Distinct user keys (small, so operations collide).
const KEY_SPACE: u8 = 48;
/// Most operations in one batch.
const MAX_BATCH: usize = 16;
/// Snapshots held at once.
const MAX_SNAPSHOTS: usize = 4;
/// Longest value.
const MAX_VALUE: u16 = 700;

/// A value: its length and a byte that seeds its contents.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Value {
    len: u16,
    seed: u8,
}

/// One operation of a batch.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BatchEntry {
    Put(u8, Value),
    Delete(u8),
}

/// One step of `engine_ops` (chosen with the weights of its `Arbitrary` impl).
#[derive(Debug, Clone)]
pub enum Op {
    Put(u8, Value),
    Delete(u8),
    Batch(Vec<BatchEntry>),
    TakeSnapshot,
    ReleaseSnapshot(u8),
    Get {
        key: u8,
        snapshot: Option<u8>,
    },
    Iterate {
        lower: Option<u8>,
        upper: Option<u8>,
        snapshot: Option<u8>,
        seek: u8,
        moves: u16,
    },
    Flush,
    Compact {
        start: Option<u8>,
        end: Option<u8>,
    },
    Reopen,
    /// A machine crash: unsynced bytes are lost (every write here is `sync: true`).
    Crash,
    /// A process crash: everything acknowledged survives.
    KillProcess,
}

impl<'a> Arbitrary<'a> for Op {
    /// Writes are common and restarts rare, so a random input both fills the tiny memtable
    /// (flushes, compactions, MANIFEST roll-overs) and survives a crash or two.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0u8..=99)? {
            0..=29 => Op::Put(u.arbitrary()?, u.arbitrary()?),
            30..=39 => Op::Delete(u.arbitrary()?),
            40..=49 => Op::Batch(u.arbitrary()?),
            50..=53 => Op::TakeSnapshot,
            54..=55 => Op::ReleaseSnapshot(u.arbitrary()?),
            56..=67 => Op::Get { key: u.arbitrary()?, snapshot: u.arbitrary()? },
            68..=79 => Op::Iterate {
                lower: u.arbitrary()?,
                upper: u.arbitrary()?,
                snapshot: u.arbitrary()?,
                seek: u.arbitrary()?,
                moves: u.arbitrary()?,
            },
            80..=86 => Op::Flush,
            87..=90 => Op::Compact { start: u.arbitrary()?, end: u.arbitrary()? },
            91..=93 => Op::Reopen,
            94..=96 => Op::Crash,
            _ => Op::KillProcess,
        })
    }
}

/// How the database of one input is configured.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Config {
    lz4: bool,
    bloom: bool,
    paranoid: bool,
    restart_interval: u8,
}

fn key_of(k: u8) -> Vec<u8> {
    format!("key{:03}", k % KEY_SPACE).into_bytes()
}

fn value_of(v: Value, k: u8) -> Vec<u8> {
    let len = usize::from(v.len % (MAX_VALUE + 1));
    let mut x = u32::from(v.seed) << 8 | u32::from(k);
    (0..len)
        .map(|i| {
            // Mostly compressible runs, with some noise so LZ4 does not shrink everything.
            if i % 16 == 0 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            }
            (x >> 16) as u8 ^ (i % 7) as u8
        })
        .collect()
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

struct Harness {
    fs: MemFs,
    opts: Options,
    db: Option<Db>,
    model: Model,
    snapshots: Vec<(Snapshot, Model)>,
    dir: PathBuf,
    step: usize,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let fs = MemFs::new();
        let mut opts = tiny_options(Arc::new(fs.clone()));
        opts.compression = if config.lz4 { Compression::Lz4 } else { Compression::None };
        opts.bloom_bits_per_key = if config.bloom { 10 } else { 0 };
        opts.paranoid_checks = config.paranoid;
        opts.block_restart_interval = usize::from(config.restart_interval % 16) + 1;
        let dir = PathBuf::from("/db");
        let db = Db::open(&dir, opts.clone()).expect("open a new database");
        Harness { fs, opts, db: Some(db), model: Model::new(), snapshots: Vec::new(), dir, step: 0 }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open between steps")
    }

    fn ctx(&self, op: &Op) -> String {
        format!("step {} ({op:?})", self.step)
    }

    /// Closes the database (or, after a crash, just drops it) and opens it again on `fs`.
    fn reopen(&mut self, fs: MemFs, clean: bool, ctx: &str) {
        self.snapshots.clear();
        if let Some(db) = self.db.take() {
            if clean {
                db.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
            }
            drop(db);
        }
        self.fs = fs;
        self.opts.fs = Arc::new(self.fs.clone());
        self.db = Some(Db::open(&self.dir, self.opts.clone()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}")));
    }

    fn snapshot(&self, i: u8) -> Option<&(Snapshot, Model)> {
        if self.snapshots.is_empty() {
            return None;
        }
        self.snapshots.get(usize::from(i) % self.snapshots.len())
    }

    fn apply(&mut self, op: &Op) {
        let ctx = self.ctx(op);
        let wo = WriteOptions { sync: true };
        match op {
            Op::Put(k, v) => {
                let (k, v) = (key_of(*k), value_of(*v, *k));
                self.db().put(&wo, &k, &v).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                self.model.insert(k, v);
            }
            Op::Delete(k) => {
                let k = key_of(*k);
                self.db().delete(&wo, &k).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                self.model.remove(&k);
            }
            Op::Batch(entries) => {
                let mut batch = WriteBatch::new();
                let mut after = self.model.clone();
                for e in entries.iter().take(MAX_BATCH) {
                    match *e {
                        BatchEntry::Put(k, v) => {
                            let (k, v) = (key_of(k), value_of(v, k));
                            batch.put(&k, &v);
                            after.insert(k, v);
                        }
                        BatchEntry::Delete(k) => {
                            let k = key_of(k);
                            batch.delete(&k);
                            after.remove(&k);
                        }
                    }
                }
                self.db().write(&wo, batch).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                self.model = after;
            }
            Op::TakeSnapshot => {
                if self.snapshots.len() < MAX_SNAPSHOTS {
                    self.snapshots.push((self.db().snapshot(), self.model.clone()));
                }
            }
            Op::ReleaseSnapshot(i) => {
                if !self.snapshots.is_empty() {
                    let i = usize::from(*i) % self.snapshots.len();
                    self.snapshots.remove(i);
                }
            }
            Op::Get { key, snapshot } => {
                let k = key_of(*key);
                let (snap, model) = match snapshot.and_then(|i| self.snapshot(i)) {
                    Some((s, m)) => (Some(s.clone()), m),
                    None => (None, &self.model),
                };
                let ro = ReadOptions { snapshot: snap, ..Default::default() };
                let got = self.db().get(&ro, &k).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(got.as_ref(), model.get(&k), "{ctx}: get {}", String::from_utf8_lossy(&k));
            }
            Op::Iterate { lower, upper, snapshot, seek, moves } => {
                let (snap, model) = match snapshot.and_then(|i| self.snapshot(i)) {
                    Some((s, m)) => (Some(s.clone()), m),
                    None => (None, &self.model),
                };
                let lower = lower.map(key_of);
                let upper = upper.map(key_of);
                check_iterate(self.db(), model, snap, lower, upper, key_of(*seek), *moves, &ctx);
            }
            Op::Flush => self.db().flush().unwrap_or_else(|e| panic!("{ctx}: {e}")),
            Op::Compact { start, end } => {
                let (s, e) = (start.map(key_of), end.map(key_of));
                self.db().compact_range(s.as_deref(), e.as_deref()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            }
            Op::Reopen => self.reopen(self.fs.clone(), true, &ctx),
            Op::Crash => {
                // Crash first, while the database may still have work in flight; then the
                // dead database is dropped and a new process opens the survivors.
                let next = self.fs.crash();
                self.reopen(next, false, &ctx);
            }
            Op::KillProcess => {
                let next = self.fs.kill_process();
                self.reopen(next, false, &ctx);
            }
        }
        self.step += 1;
    }

    /// The whole database must equal the model after every step.
    fn check(&self, op: &Op) {
        let ctx = self.ctx(op);
        let mut it = self.db().iter(&ReadOptions::default()).unwrap_or_else(|e| panic!("{ctx}: iter: {e}"));
        let got = db_scan(&mut it, false, usize::MAX).unwrap_or_else(|| panic!("{ctx}: scan: {:?}", it.status()));
        let want: Vec<_> = self.model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if got != want {
            let keys = |v: &[(Vec<u8>, Vec<u8>)]| {
                v.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>()
            };
            panic!("{ctx}: database != model\n  db:    {:?}\n  model: {:?}", keys(&got), keys(&want));
        }
    }
}

/// A full scan of a database iterator (`reverse`: from the end), in ascending key order;
/// `None` after an error.
fn db_scan(it: &mut DbIterator, reverse: bool, limit: usize) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    if reverse {
        it.seek_to_last();
    } else {
        it.seek_to_first();
    }
    while it.valid() {
        assert!(out.len() < limit, "database scan does not terminate");
        out.push((it.key().to_vec(), it.value().to_vec()));
        if reverse {
            it.prev();
        } else {
            it.next();
        }
    }
    it.status().ok()?;
    if reverse {
        out.reverse();
    }
    Some(out)
}

/// Scans within bounds both ways and walks from a seek, all against the model.
#[allow(clippy::too_many_arguments)]
fn check_iterate(
    db: &Db,
    model: &Model,
    snapshot: Option<Snapshot>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    seek: Vec<u8>,
    moves: u16,
    ctx: &str,
) {
    let want: Vec<(Vec<u8>, Vec<u8>)> = match (&lower, &upper) {
        (Some(l), Some(u)) if l >= u => Vec::new(),
        _ => {
            let lb = lower.clone().map_or(Bound::Unbounded, Bound::Included);
            let ub = upper.clone().map_or(Bound::Unbounded, Bound::Excluded);
            model.range::<Vec<u8>, _>((lb, ub)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
    };
    let ro = ReadOptions { snapshot, lower_bound: lower.clone(), upper_bound: upper.clone(), ..Default::default() };
    let mut it = db.iter(&ro).unwrap_or_else(|e| panic!("{ctx}: iter: {e}"));
    let fwd = db_scan(&mut it, false, usize::MAX).unwrap_or_else(|| panic!("{ctx}: forward: {:?}", it.status()));
    assert_eq!(fwd, want, "{ctx}: forward scan lower={lower:?} upper={upper:?}");
    let back = db_scan(&mut it, true, usize::MAX).unwrap_or_else(|| panic!("{ctx}: backward: {:?}", it.status()));
    assert_eq!(back, want, "{ctx}: backward scan lower={lower:?} upper={upper:?}");

    // seek (first >= target) or seek_for_prev (last <= target), then 15 moves; bit i of
    // `moves` picks next (1) or prev (0) for move i, bit 15 picks the seek.
    let mut pos: i64 = if moves & 0x8000 != 0 {
        it.seek(&seek);
        want.partition_point(|(k, _)| k < &seek) as i64
    } else {
        it.seek_for_prev(&seek);
        want.partition_point(|(k, _)| k <= &seek) as i64 - 1
    };
    for i in 0..15 {
        match usize::try_from(pos).ok().and_then(|p| want.get(p)) {
            Some((k, v)) => {
                assert!(it.valid(), "{ctx}: move {i}: expected {}", String::from_utf8_lossy(k));
                assert_eq!((it.key(), it.value()), (k.as_slice(), v.as_slice()), "{ctx}: move {i}");
            }
            None => {
                assert!(!it.valid(), "{ctx}: move {i}: expected the end, got {:?}", it.key());
                break;
            }
        }
        if moves & (1 << i) != 0 {
            it.next();
            pos += 1;
        } else {
            it.prev();
            pos -= 1;
        }
    }
    it.status().unwrap_or_else(|e| panic!("{ctx}: status: {e}"));
}

/// Target `engine_ops`: the input, read with `arbitrary`, as a configuration and up to
/// [`MAX_OPS`] operations on a database over `MemFs` with tiny options; the database must
/// equal a `BTreeMap` model after every step, across reopens, machine crashes (every write
/// is `sync: true`, so nothing acknowledged may be lost) and process crashes.
pub fn engine_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = Config::arbitrary(&mut u) else { return };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let mut h = Harness::new(config);
    for op in &ops {
        h.apply(op);
        // Reads compare themselves with the model; every other step is followed by a full
        // comparison of the database with the model.
        if !matches!(op, Op::Get { .. } | Op::Iterate { .. }) {
            h.check(op);
        }
    }
    h.snapshots.clear();
    if let Some(db) = h.db.take() {
        db.close().expect("close at the end");
    }
}
