//! The master's durable state: tables (name, id, column families with GC rules) and
//! tablets (table, id, row range, epoch, server, assignment state).
//!
//! [`MasterState`] pairs the state database ([`Store`]) with its in-memory image
//! ([`MasterMap`]). Every operation computes a list of [`Change`]s, writes them as one
//! synced batch, and only then applies them to the map: the map never shows what a
//! crash could take back, and a crash never leaves half an operation on disk.
//!
//! Key encoding and records: [`format`]; docs/master.md walks through them.

pub mod format;
pub mod map;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::Fs;

use tablet::keys::escape_for_display;
use tablet::proto::bt::internal::v1::{FamilySchema, ReportSplitRequest, TabletDescriptor};

pub use format::{Assignment, TableRecord, TabletRecord};
pub use map::{Change, MasterMap, TabletKey};
pub use store::Store;

use crate::error::{Error, Result};
use crate::names::{self, TableName};

/// Most initial split keys a table may be created with.
pub const MAX_INITIAL_SPLITS: usize = 10_000;

/// The state database and its in-memory image. Not `Sync` by itself: the master keeps it
/// inside its core lock.
#[derive(Debug)]
pub struct MasterState {
    store: Store,
    map: MasterMap,
    /// The data root (table ids are checked against `<root>/tables/`).
    root: PathBuf,
}

/// What became of a split report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitOutcome {
    /// The parent was replaced by its children.
    Recorded,
    /// The same split had already been recorded (a repeated report).
    AlreadyRecorded,
    /// Not recorded, and why (a stale epoch, an unknown parent).
    Refused(String),
}

/// Where a split report came from: a `ReportSplit` call must name the parent's current
/// epoch; a `completed_split` found on disk by a later `LoadTablet` names the epoch the
/// split happened at, which may be older than the epoch of that load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSource {
    /// `MasterControl.ReportSplit` from the splitting server.
    Reported,
    /// `LoadTabletResponse.completed_split`.
    FoundOnLoad,
}

impl MasterState {
    /// Opens the state under `<root>/master/` and reads it.
    pub fn open(root: &Path) -> Result<MasterState> {
        let (store, map) = Store::open(&root.join("master"))?;
        Ok(MasterState { store, map, root: root.to_path_buf() })
    }

    /// [`MasterState::open`] with the state database on file system `fs` (tests).
    pub fn open_with_fs(root: &Path, fs: Arc<dyn Fs>) -> Result<MasterState> {
        let (store, map) = Store::open_with_fs(&root.join("master"), fs)?;
        Ok(MasterState { store, map, root: root.to_path_buf() })
    }

    /// The in-memory image.
    pub fn map(&self) -> &MasterMap {
        &self.map
    }

    /// Writes `changes` as one batch, then applies them to the map.
    pub fn commit(&mut self, changes: Vec<Change>) -> Result<()> {
        self.store.commit(&changes)?;
        for c in changes {
            self.map.apply(c);
        }
        Ok(())
    }

    /// Closes the state database.
    pub fn close(&self) -> Result<()> {
        self.store.close()
    }

    /// Creates table `name` with `families` (already validated, any order) and one tablet
    /// per range between the sorted, de-duplicated `splits` (non-empty keys). Allocates a
    /// new table id that no table ever had and no directory under `<root>/tables/` uses.
    pub fn create_table(
        &mut self,
        name: &TableName,
        mut families: Vec<FamilySchema>,
        granularity: i32,
        deletion_protection: bool,
        mut splits: Vec<Vec<u8>>,
    ) -> Result<TableRecord> {
        let full = name.full();
        if self.map.table(&full).is_some() {
            return Err(Error::AlreadyExists(format!("table {full}")));
        }
        if let Some(i) = splits.iter().position(Vec::is_empty) {
            return Err(Error::invalid(format!("initial_splits[{i}]: a split key must not be empty")));
        }
        if splits.len() > MAX_INITIAL_SPLITS {
            return Err(Error::invalid(format!(
                "initial_splits: {} keys, at most {MAX_INITIAL_SPLITS} allowed",
                splits.len()
            )));
        }
        families.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = families.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::invalid(format!("column family {:?} is given twice", w[0].name)));
        }
        splits.sort();
        splits.dedup();

        let mut seq = self.map.next_table_seq();
        let table_id = loop {
            let id = names::table_dir_id(seq);
            seq = seq.checked_add(1).ok_or_else(|| Error::FailedPrecondition("table ids exhausted".into()))?;
            if !self.root.join("tables").join(&id).exists() {
                break id;
            }
        };
        let table = TableRecord {
            name: full,
            table_id: table_id.clone(),
            families,
            granularity,
            deletion_protection,
            schema_version: 1,
        };
        let mut changes = vec![Change::PutTable(table.clone()), Change::NextTableSeq(seq)];
        let mut start = Vec::new();
        for (i, end) in splits.into_iter().chain(std::iter::once(Vec::new())).enumerate() {
            changes.push(Change::PutTablet(TabletRecord {
                table_id: table_id.clone(),
                tablet_id: names::initial_tablet_id(i),
                start_key: std::mem::take(&mut start),
                end_key: end.clone(),
                ..Default::default()
            }));
            start = end;
        }
        self.commit(changes)?;
        Ok(table)
    }

    /// Removes table `name` and all its tablets in one batch; returns what was removed.
    pub fn delete_table(&mut self, name: &str) -> Result<(TableRecord, Vec<TabletRecord>)> {
        let Some(table) = self.map.table(name).cloned() else {
            return Err(Error::NotFound(format!("table {name}")));
        };
        if table.deletion_protection {
            return Err(Error::FailedPrecondition(format!("table {name} is protected against deletion")));
        }
        let tablets: Vec<TabletRecord> = self.map.tablets_of(&table.table_id).cloned().collect();
        let mut changes = vec![Change::DeleteTable(table.name.clone())];
        changes.extend(tablets.iter().map(|t| Change::DeleteTablet((t.table_id.clone(), t.tablet_id.clone()))));
        self.commit(changes)?;
        Ok((table, tablets))
    }

    /// Replaces the families of table `name` (raising its schema version).
    pub fn set_families(&mut self, name: &str, mut families: Vec<FamilySchema>) -> Result<TableRecord> {
        let Some(mut table) = self.map.table(name).cloned() else {
            return Err(Error::NotFound(format!("table {name}")));
        };
        families.sort_by(|a, b| a.name.cmp(&b.name));
        table.families = families;
        table.schema_version += 1;
        self.commit(vec![Change::PutTable(table.clone())])?;
        Ok(table)
    }

    /// Replaces tablet records (each must exist) in one batch.
    pub fn put_tablets(&mut self, tablets: Vec<TabletRecord>) -> Result<()> {
        self.commit(tablets.into_iter().map(Change::PutTablet).collect())
    }

    /// Records a split: the parent removed, its two children added at the epochs the
    /// report gives, held by `holder` (Serving) or unassigned, in one batch. A report whose
    /// parent epoch is stale (see [`SplitSource`]) or whose parent is gone is refused; one
    /// that repeats a recorded split is accepted again. A malformed report (children that
    /// do not tile the parent's range, bad ids) is [`Error::InvalidArgument`].
    pub fn record_split(
        &mut self,
        req: &ReportSplitRequest,
        source: SplitSource,
        holder: Option<(&str, &str)>,
    ) -> Result<SplitOutcome> {
        let (Some(parent), Some(left), Some(right)) = (&req.parent, &req.left, &req.right) else {
            return Err(Error::invalid("split report: parent, left and right must all be set"));
        };
        for (what, d) in [("left", left), ("right", right)] {
            if d.table_id != parent.table_id {
                return Err(Error::invalid(format!(
                    "split report: {what} child is of table {:?}, the parent of {:?}",
                    d.table_id, parent.table_id
                )));
            }
            names::validate_tablet_id(&d.tablet_id)
                .map_err(|e| Error::invalid(format!("split report: {what} child: {e}")))?;
            if d.epoch == 0 {
                return Err(Error::invalid(format!("split report: {what} child has epoch 0")));
            }
        }
        if left.tablet_id == right.tablet_id
            || left.tablet_id == parent.tablet_id
            || right.tablet_id == parent.tablet_id
        {
            return Err(Error::invalid(format!(
                "split report: tablet ids must differ (parent {:?}, left {:?}, right {:?})",
                parent.tablet_id, left.tablet_id, right.tablet_id
            )));
        }
        if self.map.table_by_id(&parent.table_id).is_none() {
            return Ok(SplitOutcome::Refused(format!("table id {:?} does not exist", parent.table_id)));
        }
        let key = |d: &TabletDescriptor| (d.table_id.clone(), d.tablet_id.clone());
        let same_range = |r: &TabletRecord, d: &TabletDescriptor| r.start_key == d.start_key && r.end_key == d.end_key;
        let Some(rec) = self.map.tablet(&key(parent)).cloned() else {
            let recorded = matches!(self.map.tablet(&key(left)), Some(l) if same_range(l, left))
                && matches!(self.map.tablet(&key(right)), Some(r) if same_range(r, right));
            return Ok(if recorded {
                SplitOutcome::AlreadyRecorded
            } else {
                SplitOutcome::Refused(format!("tablet {}/{} does not exist", parent.table_id, parent.tablet_id))
            });
        };
        let stale = match source {
            SplitSource::Reported => parent.epoch != rec.epoch,
            SplitSource::FoundOnLoad => parent.epoch > rec.epoch,
        };
        if stale {
            return Ok(SplitOutcome::Refused(format!(
                "stale epoch: tablet {}/{} is at epoch {}, the report says {}",
                parent.table_id, parent.tablet_id, rec.epoch, parent.epoch
            )));
        }
        let split = &left.end_key;
        let tiles = left.start_key == rec.start_key
            && right.end_key == rec.end_key
            && &right.start_key == split
            && !split.is_empty()
            && split.as_slice() > rec.start_key.as_slice()
            && (rec.end_key.is_empty() || split.as_slice() < rec.end_key.as_slice());
        if !tiles || !same_range(&rec, parent) {
            return Err(Error::invalid(format!(
                "split report: children [{}, {}) and [{}, {}) do not split tablet {}/{} [{}, {})",
                escape_for_display(&left.start_key),
                escape_for_display(&left.end_key),
                escape_for_display(&right.start_key),
                escape_for_display(&right.end_key),
                rec.table_id,
                rec.tablet_id,
                escape_for_display(&rec.start_key),
                escape_for_display(&rec.end_key),
            )));
        }
        for d in [left, right] {
            if self.map.tablet(&key(d)).is_some() {
                return Err(Error::invalid(format!(
                    "split report: tablet {}/{} already exists",
                    d.table_id, d.tablet_id
                )));
            }
        }
        let child = |d: &TabletDescriptor| {
            let mut t = TabletRecord {
                table_id: d.table_id.clone(),
                tablet_id: d.tablet_id.clone(),
                start_key: d.start_key.clone(),
                end_key: d.end_key.clone(),
                epoch: d.epoch,
                ..Default::default()
            };
            t.set_holder(holder, Assignment::Serving);
            t
        };
        self.commit(vec![
            Change::DeleteTablet(key(parent)),
            Change::PutTablet(child(left)),
            Change::PutTablet(child(right)),
        ])?;
        Ok(SplitOutcome::Recorded)
    }
}

/// The descriptor of a tablet record at its epoch, for table `table_name`.
pub fn descriptor(t: &TabletRecord, table_name: &str) -> TabletDescriptor {
    TabletDescriptor {
        table_id: t.table_id.clone(),
        tablet_id: t.tablet_id.clone(),
        start_key: t.start_key.clone(),
        end_key: t.end_key.clone(),
        epoch: t.epoch,
        table_name: table_name.to_string(),
    }
}
