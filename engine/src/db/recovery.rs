//! Opening a database: lock, load the MANIFEST, replay the WALs, start a fresh WAL.
//!
//! # Steps, in fsync order
//! 1. Create the directory (with `create_if_missing`) and take `LOCK`.
//! 2. Load the version named by `CURRENT` (or start empty for a new database). With
//!    `paranoid_checks`, open every live table (size as recorded, footer, meta blocks and
//!    index intact) and refuse to open on the first bad one.
//! 3. Replay, in number order, every WAL numbered at or above the MANIFEST's log number into
//!    a memtable, writing a level-0 table whenever it fills. A torn final record of the last
//!    WAL with records ends replay cleanly; any other damage is an error naming file and
//!    offset (records after damage would otherwise be applied with a hole before them).
//! 4. Write the replayed memtable to a level-0 table; fsync tables and the directory.
//! 5. Create a new WAL and fsync the directory.
//! 6. Write a new MANIFEST holding the whole version, {the new tables, log number = the new
//!    WAL}, fsync it, and switch `CURRENT` to it atomically. Old WALs are now obsolete.
//! 7. Delete obsolete files and schedule compactions.
//!
//! A crash anywhere before step 6 leaves the old `CURRENT` and WALs in charge, so the next
//! open replays the same writes again; after step 6 the new state is complete.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::background;
use super::snapshot::SnapshotList;
use super::stats::Counters;
use super::{DbInner, LogState, State, SuperVersion};
use crate::batch::WriteBatch;
use crate::compaction::job::{self, JobParams};
use crate::error::{Error, Result};
use crate::filename::{current_file, lock_file, log_file, parse_file_name, table_file, FileKind};
use crate::keys::MAX_SEQUENCE;
use crate::memtable::MemTable;
use crate::options::{BlockCache, Options};
use crate::pool::BackgroundPool;
use crate::version::edit::VersionEdit;
use crate::version::set::{new_file, VersionSet};
use crate::version::table_cache::{TableCache, Tables};

/// Private block cache size when none is given.
const DEFAULT_BLOCK_CACHE: usize = 8 << 20;

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<DbInner>> {
    opts.validate()?;
    let fs = opts.fs.clone();
    if opts.create_if_missing {
        fs.create_dir_all(dir)?;
    } else if !fs.exists(dir) {
        return Err(Error::NotFound(format!("database directory {} does not exist", dir.display())));
    }
    let lock = fs.lock(&lock_file(dir))?;
    let exists = fs.exists(&current_file(dir));
    if exists && opts.error_if_exists {
        return Err(Error::InvalidArgument(format!("database {} already exists", dir.display())));
    }
    if !exists {
        let stray = fs
            .list_dir(dir)?
            .into_iter()
            .find(|n| matches!(parse_file_name(n), Some(FileKind::Manifest(_)) | Some(FileKind::Table(_))));
        if let Some(name) = stray {
            return Err(Error::corruption(
                current_file(dir),
                None,
                format!("CURRENT is missing but the directory holds database files ({name})"),
            ));
        }
    }
    if !exists && !opts.create_if_missing {
        return Err(Error::NotFound(format!("no database in {} (create_if_missing is off)", dir.display())));
    }
    let versions = if exists {
        VersionSet::recover(fs.clone(), dir, opts.max_manifest_size)?
    } else {
        VersionSet::new_empty(fs.clone(), dir, opts.max_manifest_size)
    };

    let table_cache = opts.table_cache.clone().unwrap_or_else(|| Arc::new(TableCache::new(opts.max_open_files)));
    let block_cache = opts.block_cache.clone().unwrap_or_else(|| BlockCache::new(DEFAULT_BLOCK_CACHE));
    let tables = Arc::new(Tables {
        fs: fs.clone(),
        dir: dir.to_path_buf(),
        db_id: table_cache.new_id(),
        table_cache,
        block_cache,
        paranoid: opts.paranoid_checks,
    });
    let pool = opts.background_pool.clone().unwrap_or_else(|| BackgroundPool::new(opts.background_threads));
    let next_file = versions.file_number_counter();

    // Files present: mark their numbers used; find the WALs to replay.
    let mut logs = Vec::new();
    for name in fs.list_dir(dir)? {
        match parse_file_name(&name) {
            Some(FileKind::Log(n)) => {
                versions.mark_file_number_used(n);
                if n >= versions.log_number {
                    logs.push(n);
                }
            }
            Some(FileKind::Table(n)) | Some(FileKind::Manifest(n)) => versions.mark_file_number_used(n),
            _ => {}
        }
    }
    logs.sort_unstable();

    // Every table the version lists must exist.
    let present: HashSet<String> = fs.list_dir(dir)?.into_iter().collect();
    let missing: Vec<u64> = versions
        .peek_current()
        .files
        .iter()
        .flatten()
        .map(|f| f.number)
        .filter(|n| !present.contains(&format!("{n:06}.sst")))
        .collect();
    if let Some(n) = missing.first() {
        return Err(Error::corruption(
            table_file(dir, *n),
            None,
            format!("{} table file(s) listed in the MANIFEST are missing", missing.len()),
        ));
    }

    if exists {
        check_log_number(dir, &versions, &present)?;
    }
    if opts.paranoid_checks && exists {
        check_live_tables(&tables, versions.peek_current())?;
    }

    let inner = Arc::new(DbInner {
        dir: dir.to_path_buf(),
        opts: opts.clone(),
        fs: fs.clone(),
        tables,
        pool,
        lock: Mutex::new(Some(lock)),
        visible_seq: AtomicU64::new(versions.last_sequence),
        writers: Mutex::new(Default::default()),
        batches: Default::default(),
        writers_grew: Condvar::new(),
        writers_queued: Default::default(),
        log: Mutex::new(LogState { writer: None, number: 0, last_seq: versions.last_sequence }),
        state: Mutex::new(State {
            mem: Arc::new(MemTable::with_budget(opts.write_buffer_manager.clone())),
            mem_log_number: 0,
            imm: Vec::new(),
            sv: Arc::new(SuperVersion {
                mem: Arc::new(MemTable::new()),
                imm: Vec::new(),
                version: Arc::new(Default::default()),
            }),
            flush_running: false,
            compactions_running: 0,
            busy: HashSet::new(),
            pending_outputs: HashSet::new(),
            jobs: 0,
            bg_error: None,
            manual_compaction: false,
        }),
        bg_cv: Condvar::new(),
        versions: Mutex::new(versions),
        next_file,
        shutting_down: AtomicBool::new(false),
        snapshots: Arc::new(SnapshotList::default()),
        counters: Counters::default(),
    });

    let mut edit = VersionEdit::default();
    let last_seq = replay_logs(&inner, &logs, &mut edit)?;

    // A fresh WAL for new writes, then the MANIFEST that makes the replay durable.
    let log_number = inner.next_file.fetch_add(1, Ordering::Relaxed);
    let log_path = log_file(dir, log_number);
    let writer = crate::wal::Writer::new(fs.create(&log_path)?, log_path)
        .with_preallocation(super::WAL_PREALLOCATION)
        .with_writeback(opts.wal_bytes_per_sync);
    fs.sync_dir(dir)?;
    edit.log_number = Some(log_number);
    edit.last_sequence = Some(last_seq);
    let version = inner.versions.lock().log_and_apply(edit)?;
    {
        let mut log = inner.log.lock();
        log.writer = Some(writer);
        log.number = log_number;
        log.last_seq = last_seq;
    }
    inner.visible_seq.store(last_seq, Ordering::Release);
    {
        let mut st = inner.state.lock();
        st.mem_log_number = log_number;
        st.pending_outputs.clear();
        DbInner::install_super_version(&mut st, Some(version));
    }
    background::delete_obsolete_files(&inner);
    {
        let mut st = inner.state.lock();
        background::maybe_schedule(&inner, &mut st);
    }
    Ok(inner)
}

/// Always: the WAL the MANIFEST's log number names still exists. It is
/// created (and its directory entry synced) before any edit names it and deleted only after
/// an edit naming a newer one is durable, so its absence means the MANIFEST lost edits —
/// cut short at a record boundary, which the log format cannot tell from a clean end. Opening
/// anyway would treat the tables of the lost edits as garbage and delete them.
fn check_log_number(dir: &Path, versions: &VersionSet, present: &HashSet<String>) -> Result<()> {
    let n = versions.log_number;
    let has_later_files = present.iter().any(|name| match parse_file_name(name) {
        Some(FileKind::Log(m)) | Some(FileKind::Table(m)) => m > n,
        _ => false,
    });
    let wal = format!("{n:06}.log");
    if has_later_files && !present.contains(&wal) {
        return Err(Error::corruption(
            crate::filename::manifest_file(dir, versions.manifest_number()),
            None,
            format!("the MANIFEST's log number names {wal}, which is missing: edits after it were lost"),
        ));
    }
    Ok(())
}

/// With `paranoid_checks`: every live table has the size the MANIFEST records and opens
/// cleanly (footer, meta blocks, filter, properties, and an index walk — the table cache
/// opens paranoid tables that way). Data blocks are checked by their CRC when read.
fn check_live_tables(tables: &Tables, version: &crate::version::Version) -> Result<()> {
    for f in version.files.iter().flatten() {
        let path = table_file(&tables.dir, f.number);
        let actual = tables.fs.file_size(&path)?;
        if actual != f.size {
            return Err(Error::corruption(
                &path,
                Some(actual.min(f.size)),
                format!("table is {actual} bytes but the MANIFEST records {} bytes", f.size),
            ));
        }
        tables.get(f.number, f.size)?;
    }
    Ok(())
}

/// Replays `logs` into memtables, writing level-0 tables into `edit` as they fill.
/// Returns the last sequence number seen.
fn replay_logs(db: &Arc<DbInner>, logs: &[u64], edit: &mut VersionEdit) -> Result<u64> {
    let mut last_seq = db.versions.lock().last_sequence;
    let mut mem = Arc::new(MemTable::new());
    let mut torn: Option<(std::path::PathBuf, u64, String)> = None;
    for &number in logs {
        let path = log_file(&db.dir, number);
        let file = db.fs.open_sequential(&path)?;
        let mut reader = crate::wal::Reader::new(file, path.clone(), true);
        while let Some(rec) = reader.read_record()? {
            if let Some((tpath, off, why)) = &torn {
                return Err(Error::corruption(
                    tpath,
                    Some(*off),
                    format!("torn WAL record ({why}) is followed by later records in {}", path.display()),
                ));
            }
            let batch = WriteBatch::from_data(rec.data.to_vec()).map_err(|e| e.in_file(&path).at_offset(rec.offset))?;
            let seq = batch.sequence();
            let count = u64::from(batch.count());
            // The sequence comes from disk: a batch whose numbers run past the largest
            // sequence number would break the memtable's ordering (found by fuzzing).
            let last = seq.checked_add(count.saturating_sub(1)).filter(|&l| l <= MAX_SEQUENCE).ok_or_else(|| {
                Error::corruption(
                    &path,
                    Some(rec.offset),
                    format!("write batch of {count} at sequence {seq} runs past the largest sequence number"),
                )
            })?;
            super::write::insert_batch(&mem, &batch, seq).map_err(|e| e.in_file(&path).at_offset(rec.offset))?;
            if count > 0 {
                last_seq = last_seq.max(last);
            }
            if mem.approximate_memory_usage() >= db.opts.write_buffer_size {
                write_level0(db, &mem, edit)?;
                mem = Arc::new(MemTable::new());
            }
        }
        if let Some(t) = reader.torn_tail() {
            torn = Some((path.clone(), t.offset, t.reason.clone()));
        }
    }
    if !mem.is_empty() {
        write_level0(db, &mem, edit)?;
    }
    Ok(last_seq)
}

fn write_level0(db: &Arc<DbInner>, mem: &Arc<MemTable>, edit: &mut VersionEdit) -> Result<()> {
    let mut iter = mem.iter();
    let mut factory = || -> Result<(u64, std::path::PathBuf, Box<dyn crate::fs::WritableFile>)> {
        let n = db.next_file.fetch_add(1, Ordering::Relaxed);
        db.state.lock().pending_outputs.insert(n);
        let path = table_file(&db.dir, n);
        let f = db.fs.create(&path)?;
        Ok((n, path, f))
    };
    let params = JobParams {
        smallest_snapshot: 0,
        is_base_level: &|_| false,
        filter: None,
        table_options: background::table_options(db),
        target_file_size: u64::MAX,
        grandparents: &[],
        shutting_down: &db.shutting_down,
    };
    let out = job::run(&mut iter, params, &mut factory)?;
    db.fs.sync_dir(&db.dir)?;
    for f in &out.files {
        edit.new_files.push(new_file(0, f));
        Counters::add(&db.counters.flush_bytes_written, f.size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use crate::batch::WriteBatch;
    use crate::fs::{Fs, MemFs};
    use crate::keys::MAX_SEQUENCE;
    use crate::version::edit::VersionEdit;
    use crate::wal::Writer;
    use crate::{Db, Options};

    fn write_log_file(fs: &MemFs, path: PathBuf, records: &[Vec<u8>]) {
        fs.create_dir_all(Path::new("/db")).unwrap();
        let mut w = Writer::new(fs.create(&path).unwrap(), path);
        for r in records {
            w.add_record(r).unwrap();
        }
        w.sync().unwrap();
    }

    fn open(fs: &MemFs) -> crate::Result<Db> {
        Db::open("/db", Options { fs: Arc::new(fs.clone()), ..Options::default() })
    }

    /// Regression (found by the `wal` fuzz target): a WAL record with a good checksum whose
    /// batch sequence runs past `MAX_SEQUENCE` (or overflows u64) tripped the memtable's
    /// debug assertion; now it is corruption naming the log file and record offset.
    #[test]
    fn wal_batch_sequence_past_the_maximum_is_corruption() {
        for (seq, ops) in [(MAX_SEQUENCE, 2), (MAX_SEQUENCE + 1, 1), (u64::MAX, 2)] {
            let fs = MemFs::new();
            let mut good = WriteBatch::new();
            good.put(b"a", b"1");
            good.set_sequence(1);
            let mut bad = WriteBatch::new();
            for i in 0..ops {
                bad.put(format!("k{i}").as_bytes(), b"v");
            }
            bad.set_sequence(seq);
            write_log_file(&fs, "/db/000001.log".into(), &[good.data().to_vec(), bad.data().to_vec()]);
            let e = open(&fs).map(drop).unwrap_err();
            assert!(e.is_corruption(), "{e}");
            let msg = e.to_string();
            assert!(msg.contains("000001.log") && msg.contains("largest sequence number"), "{msg}");
        }
        // The largest sequence number itself is fine.
        let fs = MemFs::new();
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        b.set_sequence(MAX_SEQUENCE);
        write_log_file(&fs, "/db/000001.log".into(), &[b.data().to_vec()]);
        let db = open(&fs).unwrap();
        assert_eq!(db.get(&Default::default(), b"k").unwrap(), Some(b"v".to_vec()));
    }

    /// A MANIFEST whose last sequence is past `MAX_SEQUENCE` is corruption, not a database
    /// whose next write overflows.
    #[test]
    fn manifest_last_sequence_past_the_maximum_is_corruption() {
        let fs = MemFs::new();
        let edit = VersionEdit {
            log_number: Some(0),
            next_file_number: Some(3),
            last_sequence: Some(MAX_SEQUENCE + 1),
            ..Default::default()
        };
        let mut rec = Vec::new();
        edit.encode(&mut rec);
        write_log_file(&fs, "/db/MANIFEST-000002".into(), &[rec]);
        let mut current = fs.create(Path::new("/db/CURRENT")).unwrap();
        current.append(b"MANIFEST-000002\n").unwrap();
        current.sync().unwrap();
        let e = open(&fs).map(drop).unwrap_err();
        assert!(e.is_corruption() && e.to_string().contains("last sequence"), "{e}");
    }
}
