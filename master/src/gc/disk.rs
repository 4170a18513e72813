//! The file GC's I/O: listing `<root>/tables/` and deleting what [`super::mark`] found.
//!
//! This goes to the operating system directly (`std::fs`) rather than through the
//! engine's `Fs` seam, which has no way to tell directories from files or to remove a
//! directory; the master only ever runs on a real data root, and the decisions, which are
//! what can go wrong, are the pure [`super::mark`]. `SPLIT` markers are read through
//! `tablet::layout`, as the tablet servers read them.

use std::io::ErrorKind;
use std::path::Path;

use engine::PosixFs;
use tablet::layout::{self, TABLES_DIR};

use super::{Garbage, Listing, SplitMarker, TableListing, TabletListing};
use crate::error::{Error, Result};

fn io(path: &Path, e: &std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// The names of the subdirectories of `dir` (empty when `dir` does not exist).
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, &e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, &e))?;
        let is_dir = entry.file_type().map_err(|e| io(&entry.path(), &e))?.is_dir();
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
            out.push(name.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Lists `<root>/tables/`: every directory named by a valid table id, in it every
/// directory named by a valid tablet id, in it every `e<epoch>` directory (complete when it
/// holds `CURRENT`) and the `SPLIT` marker. Anything else is left out. Any I/O error ends
/// the scan (the round is skipped; a partial listing is never marked).
pub fn scan(root: &Path) -> Result<Listing> {
    let fs = PosixFs::new();
    let tables_dir = root.join(TABLES_DIR);
    let mut listing = Listing::default();
    for table_id in subdirs(&tables_dir)? {
        if layout::validate_table_id(&table_id).is_err() {
            continue;
        }
        let table_dir = tables_dir.join(&table_id);
        let mut table = TableListing::default();
        for tablet_id in subdirs(&table_dir)? {
            if layout::validate_tablet_id(&tablet_id).is_err() {
                continue;
            }
            let tablet_dir = table_dir.join(&tablet_id);
            let mut tablet = TabletListing::default();
            for name in subdirs(&tablet_dir)? {
                if let Some(epoch) = layout::parse_epoch_dir_name(&name) {
                    tablet.epochs.insert(epoch, tablet_dir.join(&name).join("CURRENT").exists());
                }
            }
            if tablet_dir.join(layout::SPLIT_MARKER).exists() {
                tablet.split = Some(match layout::read_split_marker(&fs, root, &table_id, &tablet_id) {
                    Ok(Some(r)) => match (r.left, r.right) {
                        (Some(l), Some(r)) => SplitMarker::Children(l.tablet_id, r.tablet_id),
                        _ => SplitMarker::Unreadable,
                    },
                    Ok(None) | Err(_) => SplitMarker::Unreadable,
                });
            }
            table.tablets.insert(tablet_id, tablet);
        }
        listing.tables.insert(table_id, table);
    }
    Ok(listing)
}

/// Deletes `g`'s directory under `root` with everything in it, then syncs its parent
/// directory. One already gone is not an error.
pub fn remove(root: &Path, g: &Garbage) -> Result<()> {
    let path = g.path(root);
    match std::fs::remove_dir_all(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&path, &e)),
    }
    if let Some(parent) = path.parent() {
        let dir = std::fs::File::open(parent).map_err(|e| io(parent, &e))?;
        dir.sync_all().map_err(|e| io(parent, &e))?;
    }
    Ok(())
}
