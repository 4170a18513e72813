//! File garbage collection under `<root>/tables/`: mark and sweep, with the tablet map as
//! the root set.
//!
//! - [`disk::scan`] lists the tree (tables, tablets, epoch directories and whether each
//!   holds `CURRENT`, `SPLIT` markers) into a [`Listing`], without the master's lock.
//! - [`mark`] is pure: given the map, what live servers report holding, and a listing, it
//!   returns what is garbage ([`Garbage`]).
//! - [`GraceTracker`] remembers since when each item has been garbage; only items that
//!   stayed garbage for the whole grace period are swept, by [`disk::remove`].
//!
//! What is garbage (everything else, and every name that is not ours, is left alone):
//!
//! 1. **A table directory** whose table id is not in the map (a deleted table), unless a
//!    live server still reports holding one of its tablets.
//! 2. **A tablet directory** of a live table whose tablet is not in the map and is not
//!    *protected*. Protected are: tablets a live server reports holding; the children
//!    that a split of a map tablet at its current epoch would create (`child_tablet_ids`),
//!    since that split may be under way or retried; and, transitively, the children
//!    named by the `SPLIT` marker of a protected tablet (a split whose report has not
//!    reached the master yet). What remains is either
//!    - a **split parent** (it has a `SPLIT` marker, or a tablet of the map has one of
//!      its child ids): garbage once every child that is in the map has been opened at
//!      least once (has an epoch directory with `CURRENT`), or
//!    - a **half-made child** of a split that failed before its marker was written.
//! 3. **An epoch directory** `e<D>` of a map tablet whose current epoch is `E > D`, once
//!    `e<E>` exists with `CURRENT`, unless a live server reports holding it at `D`.
//!    Epochs newer than the record's are never touched.
//!
//! Deleting an old epoch directory (or a split parent) never takes a file from a newer
//! one: a checkpoint hard-links the tables it shares (and copies the MANIFEST and WALs),
//! so removing the old directory removes one name of each shared table, and the file
//! lives on under the new one. Ids make the decisions stable: table ids are never reused,
//! a tablet's epoch only grows, and split children's ids are derived from the parent's id
//! and epoch, so nothing found garbage can become referenced again while it waits.

pub mod disk;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tablet::layout::{child_tablet_ids, epoch_dir_name, TABLES_DIR};

use crate::state::MasterMap;

/// How the file GC runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcConfig {
    /// How often a round runs (`None`: never, from the loop).
    pub interval: Option<Duration>,
    /// How long something must stay garbage before it is deleted (master clock, ms).
    pub grace_ms: u64,
}

impl Default for GcConfig {
    /// A round every minute; 10 minutes of grace.
    fn default() -> Self {
        GcConfig { interval: Some(Duration::from_secs(60)), grace_ms: 10 * 60 * 1000 }
    }
}

/// What one GC round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcRound {
    /// The directories it deleted.
    pub deleted: Vec<PathBuf>,
    /// How many items wait out their grace period.
    pub pending: usize,
}

/// The `SPLIT` marker of a tablet directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitMarker {
    /// It names these children (left, right).
    Children(String, String),
    /// It exists but could not be read or decoded: the directory is never collected.
    Unreadable,
}

/// One tablet directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TabletListing {
    /// Its epoch directories, and whether each holds `CURRENT` (is complete).
    pub epochs: BTreeMap<u64, bool>,
    /// Its `SPLIT` marker, if any.
    pub split: Option<SplitMarker>,
}

impl TabletListing {
    /// True when some epoch directory is complete (the tablet was opened at least once).
    pub fn opened(&self) -> bool {
        self.epochs.values().any(|&complete| complete)
    }
}

/// One table directory: its tablet directories by tablet id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableListing {
    /// Tablet id -> its directory.
    pub tablets: BTreeMap<String, TabletListing>,
}

/// What [`disk::scan`] found under `<root>/tables/` (names that are not valid ids are
/// left out, and so never collected).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Table id -> its directory.
    pub tables: BTreeMap<String, TableListing>,
}

/// Why a tablet directory is garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TabletGarbage {
    /// A split parent whose children are recorded and were opened.
    SplitParent,
    /// Not in the map, no split of it recorded: a half-made child of a failed split.
    Orphan,
}

/// One directory to delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Garbage {
    /// `tables/<table_id>`: the table was deleted.
    Table {
        /// The table id.
        table_id: String,
    },
    /// `tables/<table_id>/<tablet_id>`.
    Tablet {
        /// The table id.
        table_id: String,
        /// The tablet id.
        tablet_id: String,
        /// Why.
        why: TabletGarbage,
    },
    /// `tables/<table_id>/<tablet_id>/e<epoch>`: older than the tablet's complete current
    /// epoch.
    Epoch {
        /// The table id.
        table_id: String,
        /// The tablet id.
        tablet_id: String,
        /// The old epoch.
        epoch: u64,
    },
}

impl Garbage {
    /// Its directory under data root `root`.
    pub fn path(&self, root: &Path) -> PathBuf {
        let tables = root.join(TABLES_DIR);
        match self {
            Garbage::Table { table_id } => tables.join(table_id),
            Garbage::Tablet { table_id, tablet_id, .. } => tables.join(table_id).join(tablet_id),
            Garbage::Epoch { table_id, tablet_id, epoch } => {
                tables.join(table_id).join(tablet_id).join(epoch_dir_name(*epoch))
            }
        }
    }

    /// Why it is garbage, in a few words (for the log).
    pub fn reason(&self) -> &'static str {
        match self {
            Garbage::Table { .. } => "table deleted",
            Garbage::Tablet { why: TabletGarbage::SplitParent, .. } => "split parent; its children were opened",
            Garbage::Tablet { why: TabletGarbage::Orphan, .. } => "tablet not in the map (a failed split's child)",
            Garbage::Epoch { .. } => "epoch older than the tablet's complete current epoch",
        }
    }
}

/// A tablet a live server reports holding: (table id, tablet id, epoch).
pub type HeldCopy = (String, String, u64);

/// The mark phase: what in `listing` is garbage, given the tablet map and the copies live
/// servers report holding. Pure; see the module documentation for the rules.
pub fn mark(map: &MasterMap, held: &HashSet<HeldCopy>, listing: &Listing) -> BTreeSet<Garbage> {
    let mut out = BTreeSet::new();
    for (table_id, table) in &listing.tables {
        if map.table_by_id(table_id).is_none() {
            if !held.iter().any(|(t, _, _)| t == table_id) {
                out.insert(Garbage::Table { table_id: table_id.clone() });
            }
            continue;
        }
        // Tablet ids that must stay: the map's, a split under way's, what servers hold,
        // and (transitively) the children of a protected tablet's SPLIT marker.
        let mut protected: BTreeSet<String> = BTreeSet::new();
        for t in map.tablets_of(table_id) {
            protected.insert(t.tablet_id.clone());
            if t.epoch > 0 {
                let (l, r) = child_tablet_ids(&t.tablet_id, t.epoch);
                protected.extend([l, r]);
            }
        }
        protected.extend(held.iter().filter(|(t, _, _)| t == table_id).map(|(_, id, _)| id.clone()));
        let mut todo: Vec<String> = protected.iter().cloned().collect();
        while let Some(id) = todo.pop() {
            if let Some(SplitMarker::Children(l, r)) = table.tablets.get(&id).and_then(|d| d.split.as_ref()) {
                for c in [l, r] {
                    if protected.insert(c.clone()) {
                        todo.push(c.clone());
                    }
                }
            }
        }

        for (tablet_id, dir) in &table.tablets {
            let key = (table_id.clone(), tablet_id.clone());
            if let Some(rec) = map.tablet(&key) {
                if rec.epoch > 0 && dir.epochs.get(&rec.epoch) == Some(&true) {
                    for &e in dir.epochs.keys().filter(|&&e| e < rec.epoch) {
                        if !held.contains(&(table_id.clone(), tablet_id.clone(), e)) {
                            out.insert(Garbage::Epoch {
                                table_id: table_id.clone(),
                                tablet_id: tablet_id.clone(),
                                epoch: e,
                            });
                        }
                    }
                }
                continue;
            }
            if protected.contains(tablet_id) {
                continue;
            }
            // Its children: named by its marker, or derived from its id at each epoch it
            // has a directory for (a marker can only be missing if something removed it).
            let mut children: BTreeSet<String> = BTreeSet::new();
            match &dir.split {
                Some(SplitMarker::Unreadable) => continue,
                Some(SplitMarker::Children(l, r)) => children.extend([l.clone(), r.clone()]),
                None => {}
            }
            for &e in dir.epochs.keys() {
                let (l, r) = child_tablet_ids(tablet_id, e);
                children.extend([l, r].into_iter().filter(|c| map.tablet(&(table_id.clone(), c.clone())).is_some()));
            }
            let recorded: Vec<&String> =
                children.iter().filter(|c| map.tablet(&(table_id.clone(), (*c).clone())).is_some()).collect();
            let why = if dir.split.is_some() || !recorded.is_empty() {
                // Every recorded child must have been opened; a child not in the map was
                // itself split later (its children are recorded), or never recorded.
                if !recorded.iter().all(|c| table.tablets.get(*c).is_some_and(TabletListing::opened)) {
                    continue;
                }
                TabletGarbage::SplitParent
            } else {
                TabletGarbage::Orphan
            };
            out.insert(Garbage::Tablet { table_id: table_id.clone(), tablet_id: tablet_id.clone(), why });
        }
    }
    out
}

/// Since when each item has been garbage (master clock, ms); only what stays garbage for
/// the whole grace period is handed out for deletion. Nothing is kept across a master
/// fail-over: the new master waits a whole grace period again.
#[derive(Debug, Clone, Default)]
pub struct GraceTracker {
    since: HashMap<Garbage, u64>,
}

impl GraceTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        GraceTracker::default()
    }

    /// Takes the garbage of a new mark at `now_ms`: forgets what is no longer garbage,
    /// starts the clock for what is new, and returns what has been garbage for at least
    /// `grace_ms` (in order), which the caller deletes and then [`GraceTracker::forget`]s.
    pub fn update(&mut self, garbage: BTreeSet<Garbage>, now_ms: u64, grace_ms: u64) -> Vec<Garbage> {
        self.since.retain(|g, _| garbage.contains(g));
        let mut due = Vec::new();
        for g in garbage {
            let since = *self.since.entry(g.clone()).or_insert(now_ms);
            if now_ms.saturating_sub(since) >= grace_ms {
                due.push(g);
            }
        }
        due
    }

    /// Forgets `g` (deleted).
    pub fn forget(&mut self, g: &Garbage) {
        self.since.remove(g);
    }

    /// How many items are waiting out their grace period.
    pub fn pending(&self) -> usize {
        self.since.len()
    }
}

#[cfg(test)]
mod tests;
