//! Background work: flushing frozen memtables, compacting levels, deleting obsolete files.
//!
//! # A flush, in fsync order
//! 1. Under `state`: take the oldest frozen memtable, note the WAL of the next memtable.
//! 2. Without locks: write its entries (minus versions no reader can see) to a new level-0
//!    table; fsync the table; fsync the directory.
//! 3. Under `versions`: append {new table, log number = the next memtable's WAL} to the
//!    MANIFEST and fsync it. From here the frozen memtable's WAL is obsolete.
//! 4. Under `state`: drop the frozen memtable, publish the new super version.
//! 5. Delete files no live version or pending job uses.
//!
//! A crash before step 3 leaves an unreferenced table (deleted at the next open) and the
//! WAL still replayed; after step 3 the table is referenced and the WAL is skipped.
//! Compactions follow the same order: outputs synced, directory synced, MANIFEST edit
//! {outputs added, inputs deleted} fsync'd, then inputs deleted once no version uses them.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::stats::Counters;
use super::{DbInner, State};
use crate::compaction::filter::FilterContext;
use crate::compaction::job::{self, JobParams};
use crate::compaction::picker::{self, CompactionPlan, PickerOptions};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, table_file, FileKind};
use crate::iterator::InternalIterator;
use crate::merge::MergingIterator;
use crate::pool::Priority;
use crate::sstable::{TableBuilderOptions, TableReadOptions};
use crate::version::edit::VersionEdit;
use crate::version::level_iter::LevelIterator;
use crate::version::set::new_file;
use crate::version::Version;

/// Records the first background error (later writes fail with it) and returns it wrapped.
pub(crate) fn set_bg_error(db: &DbInner, e: Error) -> Error {
    let mut st = db.state.lock();
    if st.bg_error.is_none() {
        st.bg_error = Some(e.clone());
    }
    db.bg_cv.notify_all();
    match e {
        Error::Background(_) => e,
        other => Error::Background(Arc::new(other)),
    }
}

pub(crate) fn picker_options(db: &DbInner) -> PickerOptions {
    PickerOptions {
        l0_compaction_trigger: db.opts.l0_compaction_trigger,
        level1_max_bytes: db.opts.level1_max_bytes,
        level_fanout: db.opts.level_fanout,
        target_file_size: db.opts.target_file_size,
    }
}

pub(crate) fn table_options(db: &DbInner) -> TableBuilderOptions {
    TableBuilderOptions {
        block_size: db.opts.block_size,
        restart_interval: db.opts.block_restart_interval,
        compression: db.opts.compression,
        bloom_bits_per_key: db.opts.bloom_bits_per_key,
        creation_time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    }
}

/// Schedules a flush and compactions if needed and allowed. Call with `state` held.
pub(crate) fn maybe_schedule(db: &Arc<DbInner>, st: &mut State) {
    if db.shutting_down.load(Ordering::Acquire) || st.bg_error.is_some() {
        return;
    }
    if !st.flush_running && !st.imm.is_empty() {
        st.flush_running = true;
        st.jobs += 1;
        let d = db.clone();
        db.pool.schedule(Priority::High, move || {
            let r = guarded(|| flush_one(&d));
            finish_job(&d, r, |st| st.flush_running = false);
        });
    }
    while st.compactions_running < db.opts.max_background_compactions && !st.manual_compaction {
        let Some(plan) = pick_locked(db, st) else { break };
        for f in plan.all_inputs() {
            st.busy.insert(f.number);
        }
        st.compactions_running += 1;
        st.jobs += 1;
        let d = db.clone();
        db.pool.schedule(Priority::Low, move || {
            let numbers: Vec<u64> = plan.all_inputs().map(|f| f.number).collect();
            let r = guarded(|| run_compaction(&d, &plan));
            finish_job(&d, r, |st| {
                st.compactions_running -= 1;
                for n in &numbers {
                    st.busy.remove(n);
                }
            });
        });
    }
}

/// Runs a job, turning a panic (a bug) into a background error instead of a dead worker
/// and a database that waits forever for the job to finish.
fn guarded(job: impl FnOnce() -> Result<()>) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::InvalidArgument(format!("background job panicked: {what}")))
    })
}

fn pick_locked(db: &DbInner, st: &State) -> Option<CompactionPlan> {
    let v = &st.sv.version;
    picker::pick(v, &picker_options(db), &st.busy, &v.compact_pointers)
}

fn finish_job(db: &Arc<DbInner>, r: Result<()>, update: impl FnOnce(&mut State)) {
    if let Err(e) = r {
        if !matches!(e, Error::Closed) {
            set_bg_error(db, e);
        }
    }
    let mut st = db.state.lock();
    update(&mut st);
    st.jobs -= 1;
    maybe_schedule(db, &mut st);
    db.bg_cv.notify_all();
}

/// Flushes the oldest frozen memtable to a level-0 table.
fn flush_one(db: &Arc<DbInner>) -> Result<()> {
    let (mem, next_log) = {
        let st = db.state.lock();
        let Some(oldest) = st.imm.first() else { return Ok(()) };
        let next_log = st.imm.get(1).map_or(st.mem_log_number, |f| f.log_number);
        (oldest.mem.clone(), next_log)
    };
    let mut iter = mem.iter();
    let outputs = write_tables(db, &mut iter, true, 0, &[], &|_| false, false)?;
    let mut edit = VersionEdit {
        log_number: Some(next_log),
        last_sequence: Some(db.visible_seq.load(Ordering::Acquire)),
        ..Default::default()
    };
    let mut bytes = 0;
    for f in &outputs.files {
        edit.new_files.push(new_file(0, f));
        bytes += f.size;
    }
    let version = install(db, edit, &outputs.numbers)?;
    {
        let mut st = db.state.lock();
        if st.imm.first().is_some_and(|f| Arc::ptr_eq(&f.mem, &mem)) {
            st.imm.remove(0);
        }
        DbInner::install_super_version(&mut st, Some(version));
    }
    Counters::add(&db.counters.flush_bytes_written, bytes);
    Counters::add(&db.counters.flushes, 1);
    delete_obsolete_files(db);
    Ok(())
}

struct Written {
    files: Vec<crate::version::FileMeta>,
    numbers: Vec<u64>,
    bytes_read: u64,
}

/// Runs a job writing tables from `input`; outputs are synced and the directory too.
fn write_tables(
    db: &Arc<DbInner>,
    input: &mut dyn InternalIterator,
    is_flush: bool,
    output_level: usize,
    grandparents: &[Arc<crate::version::FileMeta>],
    is_base_level: &dyn Fn(&[u8]) -> bool,
    bottommost: bool,
) -> Result<Written> {
    let filter = db
        .opts
        .compaction_filter_factory
        .as_ref()
        .and_then(|f| f.create(&FilterContext { is_flush, output_level, bottommost }));
    let numbers = std::cell::RefCell::new(Vec::new());
    let mut factory = || -> Result<(u64, std::path::PathBuf, Box<dyn crate::fs::WritableFile>)> {
        let n = db.next_file.fetch_add(1, Ordering::Relaxed);
        db.state.lock().pending_outputs.insert(n);
        numbers.borrow_mut().push(n);
        let path = table_file(&db.dir, n);
        let f = db.fs.create(&path)?;
        Ok((n, path, f))
    };
    let params = JobParams {
        smallest_snapshot: db.smallest_snapshot(),
        is_base_level,
        filter,
        table_options: table_options(db),
        target_file_size: if is_flush { u64::MAX } else { db.opts.target_file_size },
        grandparents,
        shutting_down: &db.shutting_down,
    };
    let result = job::run(input, params, &mut factory).and_then(|out| {
        if !out.files.is_empty() {
            db.fs.sync_dir(&db.dir)?;
        }
        Ok(out)
    });
    let numbers = numbers.into_inner();
    match result {
        Ok(out) => Ok(Written { files: out.files, numbers, bytes_read: out.bytes_read }),
        Err(e) => {
            release_pending(db, &numbers);
            Err(e)
        }
    }
}

fn release_pending(db: &DbInner, numbers: &[u64]) {
    let mut st = db.state.lock();
    for n in numbers {
        st.pending_outputs.remove(n);
    }
}

/// Logs `edit` in the MANIFEST and returns the new version; releases pending outputs.
fn install(db: &DbInner, edit: VersionEdit, outputs: &[u64]) -> Result<Arc<Version>> {
    let r = db.versions.lock().log_and_apply(edit);
    release_pending(db, outputs);
    r
}

/// Runs one compaction plan.
fn run_compaction(db: &Arc<DbInner>, plan: &CompactionPlan) -> Result<()> {
    let level = plan.level;
    let out_level = plan.output_level;
    let mut edit = VersionEdit::default();
    for f in &plan.inputs {
        edit.deleted_files.push((level, f.number));
    }
    if let Some(last) = plan.inputs.iter().map(|f| &f.largest).max_by(|a, b| crate::keys::compare_internal(a, b)) {
        if level > 0 {
            edit.compact_pointers.push((level, last.clone()));
        }
    }
    if plan.trivial_move {
        for f in &plan.inputs {
            edit.new_files.push(new_file(out_level, f));
        }
        let version = install(db, edit, &[])?;
        publish_version(db, version);
        Counters::add(&db.counters.trivial_moves, plan.inputs.len() as u64);
        return Ok(());
    }
    for f in &plan.next_inputs {
        edit.deleted_files.push((out_level, f.number));
    }
    let tro = TableReadOptions { verify_checksums: true, fill_cache: false };
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    if level == 0 {
        for f in &plan.inputs {
            children.push(Box::new(db.tables.get(f.number, f.size)?.iter(tro)));
        }
    } else {
        children.push(Box::new(LevelIterator::new(db.tables.clone(), plan.inputs.clone(), tro)));
    }
    if !plan.next_inputs.is_empty() {
        children.push(Box::new(LevelIterator::new(db.tables.clone(), plan.next_inputs.clone(), tro)));
    }
    let mut merged = MergingIterator::new(children);
    let written = {
        // Scoped: the base version must not stay alive into the obsolete-file sweep below,
        // or the inputs it lists would survive it.
        let base = db.state.lock().sv.version.clone();
        let is_base = |ukey: &[u8]| !base.key_may_exist_below(out_level, ukey);
        let bottommost = match picker::key_range(&plan.all_inputs().cloned().collect::<Vec<_>>()) {
            Some((lo, hi)) => (out_level + 1..crate::version::edit::NUM_LEVELS)
                .all(|l| base.overlapping(l, Some(&lo), Some(&hi)).is_empty()),
            None => true,
        };
        write_tables(db, &mut merged, false, out_level, &plan.grandparents, &is_base, bottommost)?
    };
    drop(merged);
    let mut bytes = 0;
    for f in &written.files {
        edit.new_files.push(new_file(out_level, f));
        bytes += f.size;
    }
    let version = install(db, edit, &written.numbers)?;
    publish_version(db, version);
    Counters::add(&db.counters.compaction_bytes_read, plan.input_bytes());
    Counters::add(&db.counters.compaction_bytes_written, bytes);
    Counters::add(&db.counters.compactions, 1);
    let _ = written.bytes_read;
    delete_obsolete_files(db);
    Ok(())
}

fn publish_version(db: &DbInner, version: Arc<Version>) {
    let mut st = db.state.lock();
    DbInner::install_super_version(&mut st, Some(version));
}

/// Deletes tables no live version or job uses, WALs older than the MANIFEST's log number,
/// old MANIFESTs and temporary files. Errors are ignored: a file left behind is deleted
/// by a later sweep or the next open.
pub(crate) fn delete_obsolete_files(db: &DbInner) {
    // Order matters: list first, then pending outputs, then live versions. A job registers
    // an output as pending before creating its file, and drops it from pending only after
    // the MANIFEST lists it; so every file in the listing is in one of the two snapshots.
    let Ok(names) = db.fs.list_dir(&db.dir) else { return };
    let pending: HashSet<u64> = db.state.lock().pending_outputs.clone();
    let (live, log_number, manifest) = {
        let mut vs = db.versions.lock();
        (vs.live_tables(), vs.log_number, vs.manifest_number())
    };
    for name in names {
        let delete = match parse_file_name(&name) {
            Some(FileKind::Table(n)) => {
                let dead = !live.contains(&n) && !pending.contains(&n);
                if dead {
                    db.tables.evict(n);
                }
                dead
            }
            Some(FileKind::Log(n)) => n < log_number,
            Some(FileKind::Manifest(n)) => n < manifest,
            Some(FileKind::Temp) => true,
            _ => false,
        };
        if delete {
            let _ = db.fs.remove_file(&db.dir.join(&name));
        }
    }
}

/// Waits until every memtable frozen so far is flushed.
pub(crate) fn wait_for_flushes(db: &Arc<DbInner>) -> Result<()> {
    let mut st = db.state.lock();
    loop {
        if let Some(e) = &st.bg_error {
            return Err(Error::Background(Arc::new(e.clone())));
        }
        db.check_open()?;
        if st.imm.is_empty() {
            return Ok(());
        }
        maybe_schedule(db, &mut st);
        db.bg_cv.wait(&mut st);
    }
}

/// Waits until no job is queued or running and no compaction is needed.
pub(crate) fn wait_idle(db: &Arc<DbInner>) -> Result<()> {
    let mut st = db.state.lock();
    loop {
        if let Some(e) = &st.bg_error {
            return Err(Error::Background(Arc::new(e.clone())));
        }
        db.check_open()?;
        maybe_schedule(db, &mut st);
        if st.jobs == 0 && st.imm.is_empty() {
            return Ok(());
        }
        db.bg_cv.wait(&mut st);
    }
}

/// Runs `flush` + `compact_range(start, end)` on a thread of its own, counted in `jobs`.
pub(crate) fn spawn_compact_range(db: &Arc<DbInner>, start: Option<Vec<u8>>, end: Option<Vec<u8>>) -> Result<()> {
    db.check_open()?;
    db.state.lock().jobs += 1;
    let d = db.clone();
    let spawned = std::thread::Builder::new().name("engine-compact-range".into()).spawn(move || {
        // Errors other than `Closed` are recorded as the background error by the calls.
        let _ = super::write::write(&d, false, None, true)
            .and_then(|()| wait_for_flushes(&d))
            .and_then(|()| compact_range(&d, start.as_deref(), end.as_deref()));
        let mut st = d.state.lock();
        st.jobs -= 1;
        maybe_schedule(&d, &mut st);
        d.bg_cv.notify_all();
    });
    if let Err(e) = spawned {
        let mut st = db.state.lock();
        st.jobs -= 1;
        db.bg_cv.notify_all();
        return Err(Error::io(&db.dir, e));
    }
    Ok(())
}

/// Compacts `[start, end]` level by level down to the deepest level holding data.
pub(crate) fn compact_range(db: &Arc<DbInner>, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
    // Take the manual-compaction flag and wait for automatic compactions to drain.
    {
        let mut st = db.state.lock();
        while st.manual_compaction || st.compactions_running > 0 {
            db.check_open()?;
            db.bg_cv.wait(&mut st);
        }
        st.manual_compaction = true;
    }
    let result = (|| -> Result<()> {
        let deepest = {
            let v = db.state.lock().sv.version.clone();
            (0..crate::version::edit::NUM_LEVELS).rev().find(|&l| !v.overlapping(l, start, end).is_empty())
        };
        let Some(deepest) = deepest else { return Ok(()) };
        // Level 0 always moves into level 1 at least, so a flushed range leaves level 0.
        for level in 0..deepest.max(1) {
            db.check_open()?;
            let plan = {
                let st = db.state.lock();
                if let Some(e) = &st.bg_error {
                    return Err(Error::Background(Arc::new(e.clone())));
                }
                let v = &st.sv.version;
                let inputs = v.overlapping(level, start, end);
                picker::plan_for_inputs(v, &picker_options(db), level, inputs, &st.busy)
            };
            if let Some(mut plan) = plan {
                plan.trivial_move = false; // a manual compaction rewrites, dropping garbage
                run_compaction(db, &plan)?;
            }
        }
        // With a compaction filter, also rewrite the deepest level holding the range, so the
        // filter sees data that nothing above will ever be compacted into (RocksDB's default
        // `bottommost_level_compaction = kIfHaveCompactionFilter`).
        if db.opts.compaction_filter_factory.is_some() {
            db.check_open()?;
            let plan = {
                let st = db.state.lock();
                let v = &st.sv.version;
                (1..crate::version::edit::NUM_LEVELS)
                    .rev()
                    .map(|l| (l, v.overlapping(l, start, end)))
                    .find(|(_, files)| !files.is_empty())
                    .and_then(|(l, files)| picker::plan_in_place(v, l, files))
            };
            if let Some(plan) = plan {
                run_compaction(db, &plan)?;
            }
        }
        Ok(())
    })();
    let mut st = db.state.lock();
    st.manual_compaction = false;
    maybe_schedule(db, &mut st);
    db.bg_cv.notify_all();
    drop(st);
    if let Err(e) = &result {
        if !matches!(e, Error::Closed) {
            return Err(set_bg_error(db, e.clone()));
        }
    }
    result
}
