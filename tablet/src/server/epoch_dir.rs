//! A tablet's directory at an epoch, following docs/cluster.md's data root layout.
//!
//! MERGE: this is the server's private stand-in for `tablet::layout` (written on another
//! branch). When it lands, `prepare` becomes `tablet::layout::prepare_epoch_dir` and
//! `read_split_marker` its SPLIT-marker reader; the callers are in `control.rs` and
//! `mod.rs` (static tables).
//!
//! `<root>/tables/<table_id>/<tablet_id>/e<epoch, 20 digits>/` holds the engine Db of the
//! tablet as served at that epoch. Preparing epoch `E`:
//! 1. some `e<F>`, `F > E`, exists: refuse, the assignment is stale (checked first, so a
//!    stale owner cannot reopen its own old directory either; docs/cluster.md lists the
//!    reuse first);
//! 2. `e<E>` exists: use it (the same assignment, reopened);
//! 3. the newest older `e<D>` is checkpointed into `e<E>` (tables hard-linked; CURRENT,
//!    MANIFEST and WAL files copied; never LOCK), through a temporary directory renamed
//!    into place, so a crash leaves no half-made epoch directory;
//! 4. nothing there: `e<E>` is created empty.
//!
//! Plain `std::fs`, not the engine's `Fs` seam: the tablet itself opens with `PosixFs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::proto::bt::internal::v1::ReportSplitRequest;

/// Why an epoch directory could not be prepared.
#[derive(Debug)]
pub(crate) enum PrepareError {
    /// A newer epoch's directory exists.
    Stale { newer: u64 },
    /// A table or tablet id that cannot name a directory.
    BadId(String),
    /// The file system failed.
    Io { path: PathBuf, source: io::Error },
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepareError::Stale { newer } => write!(f, "the tablet was already opened at the newer epoch {newer}"),
            PrepareError::BadId(why) => f.write_str(why),
            PrepareError::Io { path, source } => write!(f, "I/O error on {}: {source}", path.display()),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PrepareError + '_ {
    move |source| PrepareError::Io { path: path.to_path_buf(), source }
}

/// Checks ids against docs/cluster.md: table id `t` + 16 lower-case hex digits, tablet id
/// `[0-9a-z-]{1,64}`. Keeps any id from escaping the data root.
pub(crate) fn validate_ids(table_id: &str, tablet_id: &str) -> Result<(), PrepareError> {
    let table_ok = table_id.len() == 17
        && table_id.starts_with('t')
        && table_id.bytes().skip(1).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !table_ok {
        return Err(PrepareError::BadId(format!("table id {table_id:?} is not 't' and 16 lower-case hex digits")));
    }
    let tablet_ok = (1..=64).contains(&tablet_id.len())
        && tablet_id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-');
    if !tablet_ok {
        return Err(PrepareError::BadId(format!("tablet id {tablet_id:?} is not 1 to 64 of [0-9a-z-]")));
    }
    Ok(())
}

/// `<root>/tables/<table_id>/<tablet_id>`.
pub(crate) fn tablet_dir(root: &Path, table_id: &str, tablet_id: &str) -> PathBuf {
    root.join("tables").join(table_id).join(tablet_id)
}

/// `e` and the epoch in 20 digits.
pub(crate) fn epoch_dir_name(epoch: u64) -> String {
    format!("e{epoch:020}")
}

/// The epochs of the `e<N>` directories in `dir` (none when `dir` does not exist).
fn epochs(dir: &Path) -> Result<Vec<u64>, PrepareError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(digits) = name.strip_prefix('e').filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
        {
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The directory tablet `tablet_id` of `table_id` is opened from at `epoch`; see the module
/// docs.
pub(crate) fn prepare(root: &Path, table_id: &str, tablet_id: &str, epoch: u64) -> Result<PathBuf, PrepareError> {
    validate_ids(table_id, tablet_id)?;
    let dir = tablet_dir(root, table_id, tablet_id);
    let target = dir.join(epoch_dir_name(epoch));
    let known = epochs(&dir)?;
    // Checked before reuse: a stale assignment must not reopen its own old directory
    // either once a newer epoch exists.
    if let Some(&newer) = known.iter().find(|&&e| e > epoch) {
        return Err(PrepareError::Stale { newer });
    }
    if known.contains(&epoch) {
        return Ok(target);
    }
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!("{}.tmp", epoch_dir_name(epoch)));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    if let Some(&older) = known.last() {
        checkpoint(&dir.join(epoch_dir_name(older)), &tmp)?;
    }
    fs::rename(&tmp, &target).map_err(io_err(&target))?;
    Ok(target)
}

/// Copies the Db in `from` into the empty `to` without opening it.
fn checkpoint(from: &Path, to: &Path) -> Result<(), PrepareError> {
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let name = entry.file_name();
        let Some(s) = name.to_str() else { continue };
        let src = entry.path();
        let dst = to.join(&name);
        if s.ends_with(".sst") {
            fs::hard_link(&src, &dst).map_err(io_err(&dst))?;
        } else if s == "CURRENT" || s.starts_with("MANIFEST-") || s.ends_with(".log") {
            fs::copy(&src, &dst).map_err(io_err(&dst))?;
        }
    }
    Ok(())
}

/// The split recorded in `<tablet dir>/SPLIT`, if the tablet was split.
pub(crate) fn read_split_marker(
    root: &Path,
    table_id: &str,
    tablet_id: &str,
) -> Result<Option<ReportSplitRequest>, PrepareError> {
    validate_ids(table_id, tablet_id)?;
    let path = tablet_dir(root, table_id, tablet_id).join("SPLIT");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    ReportSplitRequest::decode(bytes.as_slice())
        .map(Some)
        .map_err(|e| PrepareError::Io { path, source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "t0123456789abcdef";

    #[test]
    fn ids_are_checked() {
        validate_ids(T, "a-1").unwrap();
        for (table, tablet) in [("t0123", "a"), ("x0123456789abcdef", "a"), (T, ""), (T, "../x"), (T, "A")] {
            assert!(matches!(validate_ids(table, tablet), Err(PrepareError::BadId(_))), "{table} {tablet}");
        }
        assert!(validate_ids(T, &"a".repeat(65)).is_err());
    }

    #[test]
    fn epochs_reuse_fence_and_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let e2 = prepare(root.path(), T, "a", 2).unwrap();
        assert!(e2.ends_with("tables/t0123456789abcdef/a/e00000000000000000002"));
        fs::write(e2.join("000005.sst"), b"table").unwrap();
        fs::write(e2.join("CURRENT"), b"MANIFEST-000004\n").unwrap();
        fs::write(e2.join("LOCK"), b"").unwrap();
        assert_eq!(prepare(root.path(), T, "a", 2).unwrap(), e2, "the same epoch reopens its directory");

        let e3 = prepare(root.path(), T, "a", 3).unwrap();
        assert_eq!(fs::read(e3.join("000005.sst")).unwrap(), b"table");
        assert_eq!(fs::read(e3.join("CURRENT")).unwrap(), b"MANIFEST-000004\n");
        assert!(!e3.join("LOCK").exists(), "LOCK is never copied");

        match prepare(root.path(), T, "a", 1) {
            Err(PrepareError::Stale { newer: 2 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(prepare(root.path(), T, "a", 2), Err(PrepareError::Stale { newer: 3 })),
            "an existing directory is not reused once a newer epoch exists"
        );
        assert!(read_split_marker(root.path(), T, "a").unwrap().is_none());
        let split = ReportSplitRequest { server_id: "s".into(), ..Default::default() };
        fs::write(tablet_dir(root.path(), T, "a").join("SPLIT"), split.encode_to_vec()).unwrap();
        assert_eq!(read_split_marker(root.path(), T, "a").unwrap(), Some(split));
    }
}
