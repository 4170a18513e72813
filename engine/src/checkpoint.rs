//! Checkpoints: consistent, openable copies of a database directory that share its table
//! files through hard links.
//!
//! Two ways to take one:
//!
//! - [`crate::Db::checkpoint`], from an open database: flush, pin the current version, link
//!   its tables into the new directory, write a fresh MANIFEST describing exactly that
//!   version, then `CURRENT`. The database keeps serving throughout.
//! - [`checkpoint_closed`], from a directory this process has not opened and that another
//!   (dead or paused) process may still hold: link the live tables, copy the MANIFEST and
//!   the WALs, check that the copy is complete, then write `CURRENT`. Opening the copy
//!   replays the WALs as usual.
//!
//! # The copy is complete when, and only when, `CURRENT` exists
//! Both write `CURRENT` last (atomically: temp file, fsync, rename, fsync of the directory)
//! after every other file of the copy and the directory entries are durable. A directory
//! holding database files but no `CURRENT` is an interrupted checkpoint: `Db::open` refuses
//! it (corruption), and whoever made it may clear it and start again.
//!
//! Tables are immutable once written, so a hard link is as good as a copy, and the copy
//! owns its links: compactions on either side delete only their own names. When a link
//! fails (another file system, a file system without hard links) the file is copied.
//! MANIFESTs and WALs are always copied, never linked, since their owner appends to them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::filename::{current_file, log_file, manifest_file, parse_file_name, table_file, FileKind};
use crate::fs::{create_dir_all_durably, write_atomically, Fs};
use crate::version::edit::VersionEdit;
use crate::version::set::new_file;
use crate::version::Version;
use crate::wal;

/// How many times [`checkpoint_closed`] copies before giving up on a source that keeps
/// changing under it.
pub const CLOSED_CHECKPOINT_ATTEMPTS: usize = 5;

/// What a checkpoint did: files linked and copied, bytes copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Table files hard-linked.
    pub linked: usize,
    /// Files copied (MANIFEST, WALs, and tables whose link failed).
    pub copied: usize,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Attempts made ([`checkpoint_closed`] retries when the source changed under it; 1
    /// for [`crate::Db::checkpoint`]).
    pub attempts: usize,
}

/// Makes sure `dir` exists and holds nothing (a checkpoint never overwrites).
pub(crate) fn prepare_target(fs: &dyn Fs, dir: &Path) -> Result<()> {
    if fs.exists(dir) {
        let names = fs.list_dir(dir)?;
        if let Some(name) = names.first() {
            return Err(Error::InvalidArgument(format!(
                "checkpoint target {} is not empty (it holds {name})",
                dir.display()
            )));
        }
    }
    create_dir_all_durably(fs, dir)
}

/// Hard-links `from` to `to`, or copies it when the link fails. Does not sync.
pub(crate) fn link_or_copy(fs: &dyn Fs, from: &Path, to: &Path, stats: &mut CheckpointStats) -> Result<()> {
    if fs.hard_link(from, to).is_ok() {
        stats.linked += 1;
        return Ok(());
    }
    // A failed link may have been a missing source: the copy reports that properly.
    if fs.exists(to) {
        fs.remove_file(to)?;
    }
    copy_file(fs, from, to, stats)
}

/// Copies `from` to `to` (as much as `from` holds when read) and syncs the copy.
pub(crate) fn copy_file(fs: &dyn Fs, from: &Path, to: &Path, stats: &mut CheckpointStats) -> Result<()> {
    let mut src = fs.open_sequential(from)?;
    let mut dst = fs.create(to)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        dst.append(buf.get(..n).unwrap_or_default())?;
        stats.bytes_copied += n as u64;
    }
    dst.sync()?;
    stats.copied += 1;
    Ok(())
}

/// Writes `MANIFEST-<number>` in `dir`: one snapshot record describing `version`, with log
/// number `number` (no WAL: every write of the version is in its tables, and no table is
/// numbered above it), next file number `number + 1`, and `last_sequence`. Synced.
pub(crate) fn write_snapshot_manifest(
    fs: &dyn Fs,
    dir: &Path,
    number: u64,
    version: &Version,
    last_sequence: u64,
) -> Result<()> {
    let mut edit = VersionEdit {
        log_number: Some(number),
        next_file_number: Some(number + 1),
        last_sequence: Some(last_sequence),
        ..Default::default()
    };
    for (level, key) in version.compact_pointers.iter().enumerate() {
        if !key.is_empty() {
            edit.compact_pointers.push((level, key.clone()));
        }
    }
    for (level, files) in version.files.iter().enumerate() {
        for f in files {
            edit.new_files.push(new_file(level, f));
        }
    }
    let mut rec = Vec::new();
    edit.encode(&mut rec);
    let path = manifest_file(dir, number);
    let mut w = wal::Writer::new(fs.create(&path)?, path);
    w.add_record(&rec)?;
    w.sync()
}

/// Points `dir/CURRENT` at `manifest_name` (atomically; the directory is synced first so
/// every file of the checkpoint is durable before `CURRENT` names them).
pub(crate) fn write_current(fs: &dyn Fs, dir: &Path, manifest_name: &str) -> Result<()> {
    fs.sync_dir(dir)?;
    write_atomically(fs, &current_file(dir), format!("{manifest_name}\n").as_bytes())
}

/// Copies the database in `src` into `dst` without opening it, for when another process may
/// hold it (dead, or paused and about to wake up). `dst` must be absent or empty.
///
/// Steps: read `src/CURRENT`; copy the MANIFEST it names; hard-link (or copy) every table
/// that MANIFEST lists; copy the WAL its log number names and every later WAL (never
/// `LOCK`); then check the copy — every listed table present at its recorded size, no WAL
/// missing, no torn WAL record followed by later records — and only then write
/// `dst/CURRENT`. When the check fails (the source changed during the copy: a compaction
/// deleted a table, a flush retired a WAL, a MANIFEST was replaced), the copy is cleared and
/// taken again, up to [`CLOSED_CHECKPOINT_ATTEMPTS`] times.
///
/// What the copy holds: the source's state at some moment during the call, as `Db::open`
/// would recover it. A write the source's owner makes after the copy started may or may not
/// be in it; nothing the owner writes after this returns can reach the copy.
///
/// Errors: [`Error::NotFound`] when `src` holds no database; [`Error::InvalidArgument`]
/// when `dst` is not empty; the last attempt's error when every attempt failed.
pub fn checkpoint_closed(fs: &Arc<dyn Fs>, src: &Path, dst: &Path) -> Result<CheckpointStats> {
    let fs = fs.as_ref();
    if !fs.exists(&current_file(src)) {
        return Err(Error::NotFound(format!("no database in {} (no CURRENT)", src.display())));
    }
    prepare_target(fs, dst)?;
    let mut last_err = None;
    for attempt in 1..=CLOSED_CHECKPOINT_ATTEMPTS {
        let mut stats = CheckpointStats { attempts: attempt, ..Default::default() };
        match copy_once(fs, src, dst, &mut stats) {
            Ok(manifest_name) => {
                write_current(fs, dst, &manifest_name)?;
                return Ok(stats);
            }
            Err(e) => {
                last_err = Some(e);
                clear_dir(fs, dst)?;
            }
        }
    }
    Err(last_err.unwrap_or_else(|| Error::InvalidArgument("checkpoint made no attempt".into())))
}

/// Removes every file in `dir` (an interrupted or failed checkpoint).
fn clear_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    for name in fs.list_dir(dir)? {
        let p = dir.join(&name);
        // Subdirectories are not ours; a checkpoint writes only files.
        if fs.file_size(&p).is_ok() {
            fs.remove_file(&p)?;
        }
    }
    fs.sync_dir(dir)
}

/// One copy of `src` into the empty `dst`, checked. Returns the MANIFEST's name for
/// `CURRENT`.
fn copy_once(fs: &dyn Fs, src: &Path, dst: &Path, stats: &mut CheckpointStats) -> Result<String> {
    let current = crate::fs::read_all(fs, &current_file(src))?;
    let manifest_name = std::str::from_utf8(&current)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .filter(|s| matches!(parse_file_name(s), Some(FileKind::Manifest(_))))
        .ok_or_else(|| Error::corruption(current_file(src), Some(0), "CURRENT does not name a MANIFEST"))?
        .to_string();
    let dst_manifest = dst.join(&manifest_name);
    copy_file(fs, &src.join(&manifest_name), &dst_manifest, stats)?;
    let summary = read_manifest(fs, &dst_manifest)?;
    for &(number, _) in &summary.tables {
        link_or_copy(fs, &table_file(src, number), &table_file(dst, number), stats)?;
    }
    // The WAL the log number names, then every later one present now. One that vanishes
    // between the listing and its copy was retired by a flush: the MANIFEST copied above is
    // then stale, and the check below fails.
    let listing = fs.list_dir(src)?;
    let mut logs: Vec<u64> = listing
        .iter()
        .filter_map(|n| match parse_file_name(n) {
            Some(FileKind::Log(l)) if l > summary.log_number => Some(l),
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    let first = log_file(src, summary.log_number);
    let mut copied_logs = Vec::new();
    if fs.exists(&first) {
        copy_file(fs, &first, &log_file(dst, summary.log_number), stats)?;
        copied_logs.push(summary.log_number);
    } else {
        // Legitimate only when nothing newer exists (a database made by `Db::checkpoint`
        // that was never opened), the rule `Db::open` applies too.
        let newer = fs.list_dir(src)?.iter().any(|n| match parse_file_name(n) {
            Some(FileKind::Log(m)) | Some(FileKind::Table(m)) => m > summary.log_number,
            _ => false,
        });
        if newer {
            return Err(Error::corruption(
                log_file(src, summary.log_number),
                None,
                "the MANIFEST's WAL vanished during the checkpoint (a flush ran)",
            ));
        }
    }
    for n in logs {
        copy_file(fs, &log_file(src, n), &log_file(dst, n), stats)?;
        copied_logs.push(n);
    }
    // The MANIFEST may have moved on while we copied: check its copy still holds.
    for &(number, size) in &summary.tables {
        let p = table_file(dst, number);
        let actual = fs.file_size(&p)?;
        if actual != size {
            return Err(Error::corruption(&p, None, format!("copied {actual} bytes, the MANIFEST records {size}")));
        }
    }
    check_logs_replayable(fs, dst, &copied_logs)?;
    Ok(manifest_name)
}

/// What the checkpoint needs from a MANIFEST.
struct ManifestSummary {
    /// Live tables: (number, size).
    tables: Vec<(u64, u64)>,
    log_number: u64,
}

/// Reads a MANIFEST: live tables and log number. A cut-off last record (the owner was
/// appending) is ignored, as `Db::open` ignores it.
fn read_manifest(fs: &dyn Fs, path: &Path) -> Result<ManifestSummary> {
    let mut reader = wal::Reader::new(fs.open_sequential(path)?, path.to_path_buf(), true);
    let mut live: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut log_number = None;
    while let Some(rec) = reader.read_record()? {
        let edit = VersionEdit::decode(rec.data).map_err(|e| e.in_file(path).at_offset(rec.offset))?;
        if let Some(n) = edit.log_number {
            log_number = Some(n);
        }
        for (_, n) in &edit.deleted_files {
            live.remove(n);
        }
        for f in &edit.new_files {
            live.insert(f.number, f.size);
        }
    }
    if let Some(t) = reader.torn_tail() {
        if !t.truncated {
            return Err(Error::corruption(path, Some(t.offset), format!("damaged last record: {}", t.reason)));
        }
    }
    let log_number = log_number.ok_or_else(|| Error::corruption(path, None, "MANIFEST lacks the log number"))?;
    Ok(ManifestSummary { tables: live.into_iter().collect(), log_number })
}

/// Replay would accept these WALs: a torn record may end only the last WAL holding
/// records (a WAL copied while its owner appended, followed by a newer WAL, is not).
fn check_logs_replayable(fs: &dyn Fs, dir: &Path, logs: &[u64]) -> Result<()> {
    let mut torn: Option<PathBuf> = None;
    for &n in logs {
        let path = log_file(dir, n);
        let mut reader = wal::Reader::new(fs.open_sequential(&path)?, path.clone(), true);
        while reader.read_record()?.is_some() {
            if let Some(t) = &torn {
                return Err(Error::corruption(t, None, "WAL copied with a torn tail while a later WAL holds records"));
            }
        }
        if reader.torn_tail().is_some() {
            torn = Some(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::{Db, Options, ReadOptions, WriteOptions};

    fn opts(fs: &MemFs) -> Options {
        Options { fs: Arc::new(fs.clone()), write_buffer_size: 4 << 10, ..Options::default() }
    }

    fn contents(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut it = db.iter(&ReadOptions::default()).unwrap();
        it.seek_to_first();
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        it.status().unwrap();
        out
    }

    #[test]
    fn closed_checkpoint_of_an_open_db_recovers_every_write() {
        let fs = MemFs::new();
        let db = Db::open("/src", opts(&fs)).unwrap();
        for i in 0..500u32 {
            db.put(&WriteOptions::default(), format!("k{i:05}").as_bytes(), &[b'v'; 40]).unwrap();
        }
        db.delete(&WriteOptions::default(), b"k00007").unwrap();
        // Quiet first: a flush or compaction finishing during the copy makes it try again
        // (correct, but then `attempts` is 2; seen on a loaded machine).
        db.wait_for_compactions().unwrap();
        let want = contents(&db);
        let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
        let stats = checkpoint_closed(&dynfs, Path::new("/src"), Path::new("/dst")).unwrap();
        assert_eq!(stats.attempts, 1);
        assert!(stats.linked > 0, "{stats:?}");
        // The source is still open (its LOCK held): the copy has no LOCK of its own.
        let names = fs.list_dir(Path::new("/dst")).unwrap();
        assert!(!names.iter().any(|n| n == "LOCK"), "{names:?}");
        let copy = Db::open("/dst", opts(&fs)).unwrap();
        assert_eq!(contents(&copy), want);
        // Later writes on either side stay on that side.
        db.put(&WriteOptions::default(), b"only-src", b"1").unwrap();
        db.compact_range(None, None).unwrap();
        copy.put(&WriteOptions::default(), b"only-dst", b"1").unwrap();
        assert_eq!(copy.get(&ReadOptions::default(), b"only-src").unwrap(), None);
        assert_eq!(db.get(&ReadOptions::default(), b"only-dst").unwrap(), None);
        assert_eq!(contents(&copy).len(), want.len() + 1);
    }

    #[test]
    fn refuses_a_non_empty_target_and_a_missing_source() {
        let fs = MemFs::new();
        let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
        let e = checkpoint_closed(&dynfs, Path::new("/none"), Path::new("/dst")).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        drop(Db::open("/src", opts(&fs)).unwrap());
        fs.create_dir_all(Path::new("/dst")).unwrap();
        fs.create(Path::new("/dst/junk")).unwrap();
        let e = checkpoint_closed(&dynfs, Path::new("/src"), Path::new("/dst")).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("not empty"), "{e}");
    }

    #[test]
    fn a_checkpoint_missing_current_is_refused_by_open() {
        let fs = MemFs::new();
        let db = Db::open("/src", opts(&fs)).unwrap();
        db.put(&WriteOptions::default(), b"k", b"v").unwrap();
        db.checkpoint("/dst").unwrap();
        fs.remove_file(Path::new("/dst/CURRENT")).unwrap();
        let e = Db::open("/dst", opts(&fs)).map(drop).unwrap_err();
        assert!(e.is_corruption(), "{e}");
    }

    #[test]
    fn a_table_deleted_mid_copy_is_detected() {
        // The MANIFEST names a table the source no longer has: every attempt fails and the
        // target is left empty (no CURRENT).
        let fs = MemFs::new();
        let db = Db::open("/src", opts(&fs)).unwrap();
        db.put(&WriteOptions::default(), b"k", b"v").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
        let sst = fs.list_dir(Path::new("/src")).unwrap().into_iter().find(|n| n.ends_with(".sst")).unwrap();
        fs.remove_file(&Path::new("/src").join(sst)).unwrap();
        let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
        assert!(checkpoint_closed(&dynfs, Path::new("/src"), Path::new("/dst")).is_err());
        assert!(fs.list_dir(Path::new("/dst")).unwrap().is_empty());
    }
}
