//! `Db::checkpoint`: a consistent, openable copy of an open database (see
//! [`crate::checkpoint`] for the format guarantees).
//!
//! # Steps, in fsync order
//! 1. Flush the memtable (writes made before the call are in tables after it).
//! 2. Under `versions`: take the current version (registered as handed out, so the
//!    obsolete-file sweep keeps its tables until we drop it), the last sequence number, and a
//!    fresh file number `M` for the copy's MANIFEST.
//! 3. Without locks: hard-link (or copy) every table of the version into the target.
//! 4. Write `MANIFEST-M` there, holding the version as one snapshot record; fsync it.
//! 5. Fsync the target directory, then write `CURRENT` atomically.
//!
//! Writes, flushes and compactions go on during steps 2–5; the copy holds exactly the
//! version taken in step 2.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::DbInner;
use crate::checkpoint::{link_or_copy, prepare_target, write_current, write_snapshot_manifest, CheckpointStats};
use crate::error::Result;
use crate::filename::{manifest_name, table_file};

pub(crate) fn checkpoint(db: &DbInner, dst: &Path) -> Result<CheckpointStats> {
    let fs = db.fs.as_ref();
    prepare_target(fs, dst)?;
    let (version, last_sequence, number) = {
        let mut vs = db.versions.lock();
        let v = vs.current();
        let last = vs.last_sequence;
        // Relaxed: only uniqueness matters (see `VersionSet::next_file`).
        (v, last, db.next_file.fetch_add(1, Ordering::Relaxed))
    };
    let mut stats = CheckpointStats { attempts: 1, ..Default::default() };
    for f in version.files.iter().flatten() {
        link_or_copy(fs, &table_file(&db.dir, f.number), &table_file(dst, f.number), &mut stats)?;
    }
    write_snapshot_manifest(fs, dst, number, &version, last_sequence)?;
    write_current(fs, dst, &manifest_name(number))?;
    drop(version);
    Ok(stats)
}
