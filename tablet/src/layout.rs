//! Where tablets live under the data root, and loading one at an epoch (fencing). The
//! contract is `docs/cluster.md`; in short:
//!
//! ```text
//! <root>/tables/<table_id>/<tablet_id>/
//!     e<epoch, 20 digits>/   one engine Db: the tablet as served at that epoch
//!     SPLIT                  the encoded ReportSplitRequest, once the tablet was split
//! ```
//!
//! Ids are checked before they become paths: a table id is `t` and 16 lower-case hex
//! digits, a tablet id is 1 to 64 of `[0-9a-z-]`, so neither can hold `/` or `..`.
//!
//! An epoch directory is complete when its `CURRENT` exists: [`prepare_epoch_dir`] and the
//! engine's checkpoints write it last, so a directory without it was cut short by a crash
//! and never served a write; it is cleared and made again.
//!
//! All I/O goes through the engine's [`Fs`] seam.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::{checkpoint_closed, CheckpointStats, Fs};
use prost::Message;

use crate::error::{Error, Result};
use crate::proto::bt::internal::v1::{ReportSplitRequest, TabletDescriptor};

/// The directory under the root holding every table.
pub const TABLES_DIR: &str = "tables";
/// The split marker's file name in a tablet's directory.
pub const SPLIT_MARKER: &str = "SPLIT";
/// Longest tablet id.
pub const MAX_TABLET_ID_LEN: usize = 64;

/// Checks a table id: `t` followed by 16 lower-case hex digits.
pub fn validate_table_id(id: &str) -> Result<()> {
    let ok = id.len() == 17
        && id.starts_with('t')
        && id.bytes().skip(1).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("table id {id:?} is not `t` followed by 16 lower-case hex digits")))
    }
}

/// Checks a tablet id: 1 to 64 characters of `[0-9a-z-]`.
pub fn validate_tablet_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TABLET_ID_LEN
        && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("tablet id {id:?} is not 1 to {MAX_TABLET_ID_LEN} characters of [0-9a-z-]")))
    }
}

fn validate_epoch(epoch: u64) -> Result<()> {
    if epoch == 0 {
        return Err(Error::invalid("epoch 0 is not valid (epochs start at 1)"));
    }
    Ok(())
}

/// `<root>/tables/<table_id>`.
pub fn table_dir(root: &Path, table_id: &str) -> Result<PathBuf> {
    validate_table_id(table_id)?;
    Ok(root.join(TABLES_DIR).join(table_id))
}

/// `<root>/tables/<table_id>/<tablet_id>`.
pub fn tablet_dir(root: &Path, table_id: &str, tablet_id: &str) -> Result<PathBuf> {
    validate_tablet_id(tablet_id)?;
    Ok(table_dir(root, table_id)?.join(tablet_id))
}

/// `e` and the epoch in 20 digits (so names sort as numbers).
pub fn epoch_dir_name(epoch: u64) -> String {
    format!("e{epoch:020}")
}

/// The epoch an `e<20 digits>` name stands for.
pub fn parse_epoch_dir_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('e')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `<root>/tables/<table_id>/<tablet_id>/e<epoch>`.
pub fn epoch_dir(root: &Path, table_id: &str, tablet_id: &str, epoch: u64) -> Result<PathBuf> {
    validate_epoch(epoch)?;
    Ok(tablet_dir(root, table_id, tablet_id)?.join(epoch_dir_name(epoch)))
}

/// The epochs with a directory under the tablet's directory, ascending (empty when the
/// tablet has no directory).
pub fn list_epochs(fs: &dyn Fs, root: &Path, table_id: &str, tablet_id: &str) -> Result<Vec<u64>> {
    let dir = tablet_dir(root, table_id, tablet_id)?;
    if !fs.exists(&dir) {
        return Ok(Vec::new());
    }
    let mut epochs: Vec<u64> = fs.list_dir(&dir)?.iter().filter_map(|n| parse_epoch_dir_name(n)).collect();
    epochs.sort_unstable();
    Ok(epochs)
}

/// How [`prepare_epoch_dir`] made the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preparation {
    /// It existed (the same assignment, reopened).
    Reopened,
    /// It was checkpointed from the newest older epoch's directory.
    Checkpointed {
        /// The epoch copied.
        from: u64,
        /// What the copy did.
        stats: CheckpointStats,
    },
    /// No earlier directory: an empty one, for a new database.
    Created,
}

/// The directory a tablet is to be opened from at an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochDir {
    /// `<root>/tables/<table_id>/<tablet_id>/e<epoch>`.
    pub path: PathBuf,
    /// How it was made.
    pub preparation: Preparation,
}

/// Prepares the directory to open tablet `tablet_id` of `table_id` from at `epoch`
/// (`docs/cluster.md`, "Opening a tablet at an epoch"):
///
/// 1. If a newer epoch's directory exists (complete or not), the load is refused with
///    [`Error::StaleEpoch`], even when `e<epoch>` itself exists: once the tablet was
///    assigned anew, an old owner may not reopen its own directory either.
/// 2. A complete `e<epoch>` (with `CURRENT`) is used as is (the same assignment, reopened).
/// 3. Otherwise the newest older complete directory is copied into `e<epoch>` without
///    opening it ([`engine::checkpoint_closed`]: tables hard-linked, MANIFEST and WALs
///    copied, retried if its old owner changed it meanwhile); opening the result replays
///    the WALs.
/// 4. With no earlier directory, an empty `e<epoch>` is made (opening creates the Db).
///
/// An incomplete `e<epoch>` (no `CURRENT`: a crash cut an earlier attempt short) is
/// cleared first. The newer-epoch check is made again at the end, so a racing newer
/// assignment is refused even if it appeared during the copy. The previous owner, if only
/// paused, keeps writing into its own directory at most; nothing it does reaches the copy.
pub fn prepare_epoch_dir(
    fs: &Arc<dyn Fs>,
    root: &Path,
    table_id: &str,
    tablet_id: &str,
    epoch: u64,
) -> Result<EpochDir> {
    let path = epoch_dir(root, table_id, tablet_id, epoch)?;
    let stale = |epochs: &[u64]| -> Result<()> {
        match epochs.last() {
            Some(&newest) if newest > epoch => {
                Err(Error::StaleEpoch { tablet: format!("{table_id}/{tablet_id}"), requested: epoch, newest })
            }
            _ => Ok(()),
        }
    };
    let epochs = list_epochs(fs.as_ref(), root, table_id, tablet_id)?;
    // Before the reuse check: a stale owner may not reopen its own directory either.
    stale(&epochs)?;
    if epochs.contains(&epoch) {
        if is_complete(fs.as_ref(), &path) {
            return Ok(EpochDir { path, preparation: Preparation::Reopened });
        }
        clear_files(fs.as_ref(), &path)?;
    }
    // The newest older directory that is complete (an incomplete one never served).
    let mut source = None;
    for &e in epochs.iter().rev().filter(|&&e| e < epoch) {
        let dir = epoch_dir(root, table_id, tablet_id, e)?;
        if is_complete(fs.as_ref(), &dir) {
            source = Some((e, dir));
            break;
        }
    }
    let preparation = match source {
        Some((from, src)) => Preparation::Checkpointed { from, stats: checkpoint_closed(fs, &src, &path)? },
        None => {
            engine::fs::create_dir_all_durably(fs.as_ref(), &path)?;
            Preparation::Created
        }
    };
    stale(&list_epochs(fs.as_ref(), root, table_id, tablet_id)?)?;
    Ok(EpochDir { path, preparation })
}

/// A database directory is complete once its `CURRENT` exists.
fn is_complete(fs: &dyn Fs, dir: &Path) -> bool {
    fs.exists(&dir.join("CURRENT"))
}

/// Removes the files of an incomplete epoch directory.
fn clear_files(fs: &dyn Fs, dir: &Path) -> Result<()> {
    for name in fs.list_dir(dir)? {
        fs.remove_file(&dir.join(&name))?;
    }
    Ok(fs.sync_dir(dir)?)
}

/// Where the children of a split go: their ids and `e<epoch>` directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitDirs {
    /// The left child's id (`[start, split row)`).
    pub left_id: String,
    /// `<root>/tables/<table_id>/<left_id>/e<epoch>`, absent or empty.
    pub left_dir: PathBuf,
    /// The right child's id (`[split row, end)`).
    pub right_id: String,
    /// `<root>/tables/<table_id>/<right_id>/e<epoch>`, absent or empty.
    pub right_dir: PathBuf,
}

/// Prepares the children's directories for splitting tablet `parent_id` of `table_id` at
/// its `epoch` ([`child_tablet_ids`], then [`crate::Tablet::split`] into the two paths).
///
/// A child serves only once its parent's `SPLIT` marker exists, so while the marker is
/// absent whatever an earlier attempt left in the children's directories (a checkpoint cut
/// short by a crash, or a complete one whose split was abandoned) was never served: its
/// files are removed. Refused when the parent's marker already exists (the tablet was split
/// already) or a child has a directory of another epoch (it was assigned on its own, which
/// only a recorded split allows).
pub fn prepare_split_dirs(fs: &dyn Fs, root: &Path, table_id: &str, parent_id: &str, epoch: u64) -> Result<SplitDirs> {
    if fs.exists(&split_marker_path(root, table_id, parent_id)?) {
        return Err(Error::invalid(format!(
            "tablet {table_id}/{parent_id} was split already (its SPLIT marker exists)"
        )));
    }
    let (left_id, right_id) = child_tablet_ids(parent_id, epoch);
    let prepare = |id: &str| -> Result<PathBuf> {
        let dir = epoch_dir(root, table_id, id, epoch)?;
        if let Some(other) = list_epochs(fs, root, table_id, id)?.into_iter().find(|&e| e != epoch) {
            return Err(Error::invalid(format!(
                "split child {table_id}/{id} already has a directory at epoch {other}; \
                 not splitting {parent_id} at epoch {epoch}"
            )));
        }
        if fs.exists(&dir) {
            clear_files(fs, &dir)?;
        }
        Ok(dir)
    };
    let left_dir = prepare(&left_id)?;
    let right_dir = prepare(&right_id)?;
    Ok(SplitDirs { left_id, left_dir, right_id, right_dir })
}

/// `<root>/tables/<table_id>/<tablet_id>/SPLIT`.
pub fn split_marker_path(root: &Path, table_id: &str, tablet_id: &str) -> Result<PathBuf> {
    Ok(tablet_dir(root, table_id, tablet_id)?.join(SPLIT_MARKER))
}

/// Records that the tablet `report.parent` was split: writes the encoded report to a
/// temporary file, fsyncs it, renames it to `SPLIT` and fsyncs the directory. Its ids are
/// checked first.
pub fn write_split_marker(fs: &dyn Fs, root: &Path, report: &ReportSplitRequest) -> Result<()> {
    let parent = report.parent.as_ref().ok_or_else(|| Error::invalid("split report without a parent"))?;
    for child in [&report.left, &report.right] {
        let child = child.as_ref().ok_or_else(|| Error::invalid("split report without both children"))?;
        validate_table_id(&child.table_id)?;
        validate_tablet_id(&child.tablet_id)?;
    }
    let path = split_marker_path(root, &parent.table_id, &parent.tablet_id)?;
    engine::fs::create_dir_all_durably(fs, engine::fs::parent_dir(&path))?;
    Ok(engine::fs::write_atomically(fs, &path, &report.encode_to_vec())?)
}

/// The split recorded for the tablet, if it was split. A marker that does not decode is a
/// corruption error naming the file.
pub fn read_split_marker(
    fs: &dyn Fs,
    root: &Path,
    table_id: &str,
    tablet_id: &str,
) -> Result<Option<ReportSplitRequest>> {
    let path = split_marker_path(root, table_id, tablet_id)?;
    if !fs.exists(&path) {
        return Ok(None);
    }
    let bytes = engine::fs::read_all(fs, &path)?;
    let report = ReportSplitRequest::decode(bytes.as_slice())
        .map_err(|e| engine::Error::corruption(&path, None, format!("split marker does not decode: {e}")))?;
    if report.parent.is_none() || report.left.is_none() || report.right.is_none() {
        return Err(engine::Error::corruption(&path, None, "split marker lacks the parent or a child").into());
    }
    Ok(Some(report))
}

/// The ids of the children of `parent` split at `epoch`: `<parent>-l<epoch>` and
/// `<parent>-r<epoch>`. When those would pass 64 characters, the parent's id is cut and a
/// hash of the whole of it added, `<prefix>-<16 hex digits>-l<epoch>`. Distinct (parent,
/// epoch) pairs give distinct ids (the epoch suffix parses back unambiguously; for long
/// ids, up to 64-bit hash collisions), and a tablet splits at most once per epoch.
pub fn child_tablet_ids(parent: &str, epoch: u64) -> (String, String) {
    let suffix_len = format!("-l{epoch}").len();
    let base = if parent.len() + suffix_len <= MAX_TABLET_ID_LEN {
        parent.to_string()
    } else {
        let keep = MAX_TABLET_ID_LEN - suffix_len - 17;
        let prefix: String = parent.chars().take(keep).collect();
        format!("{prefix}-{:016x}", fnv1a(parent.as_bytes()))
    };
    (format!("{base}-l{epoch}"), format!("{base}-r{epoch}"))
}

/// FNV-1a, 64 bits: stable across builds and platforms (ids are on disk).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The report of splitting `parent` at `split_row` into `left_id` and `right_id`, both at
/// the parent's epoch (what [`write_split_marker`] stores and the master is sent).
pub fn split_report(
    server_id: &str,
    parent: &TabletDescriptor,
    split_row: &[u8],
    left_id: &str,
    right_id: &str,
) -> ReportSplitRequest {
    let child = |id: &str, start: &[u8], end: &[u8]| TabletDescriptor {
        tablet_id: id.to_string(),
        start_key: start.to_vec(),
        end_key: end.to_vec(),
        ..parent.clone()
    };
    ReportSplitRequest {
        server_id: server_id.to_string(),
        parent: Some(parent.clone()),
        left: Some(child(left_id, &parent.start_key, split_row)),
        right: Some(child(right_id, split_row, &parent.end_key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        validate_table_id("t0123456789abcdef").unwrap();
        for bad in ["", "t0123", "T0123456789abcdef", "t0123456789ABCDEF", "t0123456789abcdeg", "t/../../../etc/x"] {
            assert!(validate_table_id(bad).is_err(), "{bad}");
        }
        validate_tablet_id("a-0").unwrap();
        validate_tablet_id(&"z".repeat(64)).unwrap();
        for bad in ["", "..", "a/b", "A", "a_b", &"z".repeat(65)] {
            assert!(validate_tablet_id(bad).is_err(), "{bad}");
        }
        let e = epoch_dir(Path::new("/r"), "t0123456789abcdef", "../x", 1).unwrap_err();
        assert!(e.to_string().contains("tablet id"), "{e}");
        assert!(epoch_dir(Path::new("/r"), "t0123456789abcdef", "x", 0).is_err());
    }

    #[test]
    fn paths_and_epoch_names() {
        let p = epoch_dir(Path::new("/r"), "t0123456789abcdef", "tab-1", 42).unwrap();
        assert_eq!(p, Path::new("/r/tables/t0123456789abcdef/tab-1/e00000000000000000042"));
        assert_eq!(parse_epoch_dir_name(&epoch_dir_name(u64::MAX)), Some(u64::MAX));
        for bad in ["e1", "e0000000000000000004x", "f00000000000000000042", "SPLIT"] {
            assert_eq!(parse_epoch_dir_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn child_ids_are_valid_and_distinct() {
        assert_eq!(child_tablet_ids("p", 3), ("p-l3".to_string(), "p-r3".to_string()));
        let long = "x".repeat(64);
        let (l, r) = child_tablet_ids(&long, u64::MAX);
        validate_tablet_id(&l).unwrap();
        validate_tablet_id(&r).unwrap();
        assert_ne!(l, r);
        let (l2, _) = child_tablet_ids(&format!("{}y", "x".repeat(63)), u64::MAX);
        assert_ne!(l, l2);
        // Generations of splits stay valid.
        let mut id = "root".to_string();
        for e in 1..40 {
            id = child_tablet_ids(&id, e * 1_000_000_007).0;
            validate_tablet_id(&id).unwrap();
        }
    }
}
