//! The tablets a server holds: per table name, sorted by range, each with its descriptor
//! (epoch included), its state and a gate that counts requests in flight.
//!
//! Invariants (under `TabletMap::state`):
//! 1. The held tablets of one table, and the ones being loaded, have disjoint ranges.
//! 2. A (table id, tablet id) is held or being loaded at most once.
//! 3. A request works on a tablet only through a [`TabletGuard`], taken while the tablet
//!    is `SERVING`; an unload first moves the tablet to `UNLOADING` (no new guard), then
//!    waits until the guards are gone, then flushes and closes the engine.
//!
//! Thread safety: `TabletMap` is shared by every request and the control service. Its lock
//! is a `parking_lot::RwLock` held only for lookups and inserts, never across an `.await`
//! or engine work.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tonic::Status;

use crate::keys::{decode_row, escape_for_display, rows_key_range, KeyRange};
use crate::proto::bt::internal::v1::{TabletDescriptor, TabletState, TabletStatus};
use crate::schema::Schema;
use crate::tablet::Tablet;

/// One held tablet.
#[derive(Debug)]
pub(crate) struct HeldTablet {
    /// What the master assigned (range, ids, epoch, table name).
    pub(crate) desc: TabletDescriptor,
    /// The open tablet.
    pub(crate) tablet: Tablet,
    gate: Gate,
}

/// Admission to a tablet: its state and the requests in it.
#[derive(Debug)]
struct Gate {
    /// A plain mutex: held for a compare and an increment.
    inner: Mutex<GateState>,
    /// Woken when the last request leaves a tablet that is no longer serving.
    drained: Notify,
}

#[derive(Debug)]
struct GateState {
    state: TabletState,
    inflight: usize,
}

impl HeldTablet {
    fn new(desc: TabletDescriptor, tablet: Tablet) -> Self {
        HeldTablet {
            desc,
            tablet,
            gate: Gate {
                inner: Mutex::new(GateState { state: TabletState::Serving, inflight: 0 }),
                drained: Notify::new(),
            },
        }
    }

    /// Enters the tablet if it is serving.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<TabletGuard> {
        let mut g = self.gate.inner.lock();
        if g.state != TabletState::Serving {
            return None;
        }
        g.inflight += 1;
        Some(TabletGuard(self.clone()))
    }

    /// The tablet's state now.
    pub(crate) fn state(&self) -> TabletState {
        self.gate.inner.lock().state
    }

    /// Moves a serving tablet to `to`; false when it was not serving.
    fn stop_serving(&self, to: TabletState) -> bool {
        let mut g = self.gate.inner.lock();
        if g.state != TabletState::Serving {
            return false;
        }
        g.state = to;
        true
    }

    /// Waits until no request is in the tablet (call after `stop_serving`).
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.gate.drained.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between the check and the await
            // is not lost.
            notified.as_mut().enable();
            if self.gate.inner.lock().inflight == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The row range as engine keys.
    fn key_range(&self) -> KeyRange {
        rows_key_range(&self.desc.start_key, &self.desc.end_key)
    }

    /// A display name: table, tablet id and epoch.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}@{}", self.desc.table_name, self.desc.tablet_id, self.desc.epoch)
    }
}

/// A request's hold on a serving tablet; the tablet cannot close while it lives.
#[derive(Debug)]
pub(crate) struct TabletGuard(Arc<HeldTablet>);

impl std::ops::Deref for TabletGuard {
    type Target = HeldTablet;
    fn deref(&self) -> &HeldTablet {
        &self.0
    }
}

impl Drop for TabletGuard {
    fn drop(&mut self) {
        let mut g = self.0.gate.inner.lock();
        g.inflight -= 1;
        if g.inflight == 0 && g.state != TabletState::Serving {
            self.0.gate.drained.notify_waiters();
        }
    }
}

/// Why a request found no tablet.
#[derive(Debug)]
pub(crate) enum Miss {
    /// The server holds no tablet of the table at all.
    Table,
    /// Some of the rows are not in a serving tablet here; says which.
    Rows(String),
}

/// What `begin_load` found.
#[derive(Debug)]
pub(crate) enum LoadStart {
    /// The tablet is already served at this epoch: nothing to do.
    AlreadyServing,
    /// The tablet is held at an older epoch: unload it, then call `begin_load` again.
    Replace(Arc<HeldTablet>),
    /// Go ahead and open it; then call `finish_load`.
    Open,
}

#[derive(Debug, Default)]
struct MapState {
    /// Table name → start row → tablet.
    tables: HashMap<String, BTreeMap<Vec<u8>, Arc<HeldTablet>>>,
    /// Tablets being opened, by (table id, tablet id).
    loading: HashMap<(String, String), TabletDescriptor>,
}

fn overlaps(a: &TabletDescriptor, b: &TabletDescriptor) -> bool {
    let a_before_b_ends = b.end_key.is_empty() || a.start_key < b.end_key;
    let b_before_a_ends = a.end_key.is_empty() || b.start_key < a.end_key;
    a_before_b_ends && b_before_a_ends
}

fn same_id(a: &TabletDescriptor, b: &TabletDescriptor) -> bool {
    a.table_id == b.table_id && a.tablet_id == b.tablet_id
}

/// The tablets of a server; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct TabletMap {
    state: RwLock<MapState>,
}

impl TabletMap {
    /// True when some tablet of `table` is held (in any state) or being loaded.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        let s = self.state.read();
        s.tables.get(table).is_some_and(|t| !t.is_empty()) || s.loading.values().any(|d| d.table_name == table)
    }

    /// A guard on the serving tablet of `table` holding `row`.
    pub(crate) fn route_row(&self, table: &str, row: &[u8]) -> Result<TabletGuard, Miss> {
        let s = self.state.read();
        let tablets = s.tables.get(table).filter(|t| !t.is_empty()).ok_or(Miss::Table)?;
        let found = tablets.range::<[u8], _>((Bound::Unbounded, Bound::Included(row))).next_back().map(|(_, t)| t);
        found.filter(|t| t.tablet.contains_row(row)).and_then(|t| t.enter()).ok_or_else(|| {
            Miss::Rows(format!("row {} of table {table} is not served by this server", escape_for_display(row)))
        })
    }

    /// Guards on the serving tablets of `table` that together cover every key range of
    /// `ranges` (ascending, disjoint), in key order; a miss when any part is uncovered.
    pub(crate) fn route_ranges(&self, table: &str, ranges: &[KeyRange]) -> Result<Vec<TabletGuard>, Miss> {
        let s = self.state.read();
        let tablets = s.tables.get(table).filter(|t| !t.is_empty()).ok_or(Miss::Table)?;
        let spans: Vec<(KeyRange, &Arc<HeldTablet>)> = tablets.values().map(|t| (t.key_range(), t)).collect();
        let miss = |pos: &[u8]| {
            let from = decode_row(pos).map(|r| escape_for_display(&r)).unwrap_or_else(|_| "<start>".into());
            Miss::Rows(format!("rows of table {table} from {from} on are not served by this server"))
        };
        let mut out: Vec<TabletGuard> = Vec::new();
        for r in ranges {
            let mut pos = r.start.clone();
            loop {
                // The tablet holding `pos`: the last one starting at or before it.
                let hit = spans.iter().rev().find(|(k, _)| k.start <= pos).filter(|(k, _)| k.contains(&pos));
                let Some((k, t)) = hit else { return Err(miss(&pos)) };
                if !out.last().is_some_and(|g| Arc::ptr_eq(&g.0, t)) {
                    out.push(t.enter().ok_or_else(|| miss(&pos))?);
                }
                match (&k.end, &r.end) {
                    (None, _) => break,
                    (Some(tablet_end), Some(range_end)) if tablet_end >= range_end => break,
                    (Some(tablet_end), _) => pos.clone_from(tablet_end),
                }
            }
        }
        Ok(out)
    }

    /// Guards on every serving tablet of `table`, in key order (SampleRowKeys); a miss
    /// when none is serving. Tablets loading or unloading are left out.
    pub(crate) fn serving(&self, table: &str) -> Result<Vec<TabletGuard>, Miss> {
        let s = self.state.read();
        let tablets = s.tables.get(table).filter(|t| !t.is_empty()).ok_or(Miss::Table)?;
        let guards: Vec<TabletGuard> = tablets.values().filter_map(|t| t.enter()).collect();
        if guards.is_empty() {
            return Err(Miss::Rows(format!("no tablet of table {table} is serving here right now")));
        }
        Ok(guards)
    }

    /// Checks whether `desc` can be loaded; see [`LoadStart`]. Errors: a newer epoch is held
    /// (`FAILED_PRECONDITION`), the tablet is being loaded or unloaded (`ABORTED`: retry),
    /// or its range overlaps another tablet of the table (`FAILED_PRECONDITION`).
    pub(crate) fn begin_load(&self, desc: &TabletDescriptor) -> Result<LoadStart, Status> {
        let mut s = self.state.write();
        let key = (desc.table_id.clone(), desc.tablet_id.clone());
        if s.loading.contains_key(&key) {
            return Err(Status::aborted(format!("tablet {}/{} is being loaded; retry", desc.table_id, desc.tablet_id)));
        }
        for held in s.tables.values().flat_map(|t| t.values()) {
            if same_id(&held.desc, desc) {
                if held.desc.epoch > desc.epoch {
                    return Err(Status::failed_precondition(format!(
                        "tablet {} is held at epoch {}, newer than the requested epoch {}",
                        held.name(),
                        held.desc.epoch,
                        desc.epoch
                    )));
                }
                if held.state() != TabletState::Serving {
                    return Err(Status::aborted(format!("tablet {} is being unloaded; retry", held.name())));
                }
                if held.desc.epoch == desc.epoch
                    && held.desc.start_key == desc.start_key
                    && held.desc.end_key == desc.end_key
                {
                    return Ok(LoadStart::AlreadyServing);
                }
                return Ok(LoadStart::Replace(held.clone()));
            }
        }
        let clash = s
            .tables
            .get(&desc.table_name)
            .into_iter()
            .flat_map(|t| t.values().map(|h| &h.desc))
            .chain(s.loading.values().filter(|d| d.table_name == desc.table_name))
            .find(|d| overlaps(d, desc));
        if let Some(other) = clash {
            return Err(Status::failed_precondition(format!(
                "tablet {} [{}, {}) overlaps tablet {} [{}, {}) held by this server",
                desc.tablet_id,
                escape_for_display(&desc.start_key),
                escape_for_display(&desc.end_key),
                other.tablet_id,
                escape_for_display(&other.start_key),
                escape_for_display(&other.end_key),
            )));
        }
        s.loading.insert(key, desc.clone());
        Ok(LoadStart::Open)
    }

    /// Ends a load that `begin_load` answered `Open`: serves `tablet` from now on, or
    /// (`None`, the open failed) forgets the load.
    pub(crate) fn finish_load(&self, desc: &TabletDescriptor, tablet: Option<Tablet>) {
        let mut s = self.state.write();
        s.loading.remove(&(desc.table_id.clone(), desc.tablet_id.clone()));
        if let Some(t) = tablet {
            let held = Arc::new(HeldTablet::new(desc.clone(), t));
            s.tables.entry(desc.table_name.clone()).or_default().insert(desc.start_key.clone(), held);
        }
    }

    /// Stops a tablet accepting requests, for an unload; `NOT_FOUND` when it is not held,
    /// `FAILED_PRECONDITION` when `epoch` is older than the held one, `ABORTED` when it is
    /// already being unloaded. Then call [`TabletMap::finish_unload`].
    pub(crate) fn begin_unload(&self, table_id: &str, tablet_id: &str, epoch: u64) -> Result<Arc<HeldTablet>, Status> {
        let s = self.state.read();
        let held = s
            .tables
            .values()
            .flat_map(|t| t.values())
            .find(|h| h.desc.table_id == table_id && h.desc.tablet_id == tablet_id)
            .ok_or_else(|| Status::not_found(format!("tablet {table_id}/{tablet_id} is not held by this server")))?;
        if epoch < held.desc.epoch {
            return Err(Status::failed_precondition(format!(
                "tablet {} is held at epoch {}; the unload names the older epoch {epoch}",
                held.name(),
                held.desc.epoch
            )));
        }
        if !held.stop_serving(TabletState::Unloading) {
            return Err(Status::aborted(format!("tablet {} is already being unloaded", held.name())));
        }
        Ok(held.clone())
    }

    /// Every tablet still serving, each moved to `UNLOADING` (shutdown, lease loss).
    pub(crate) fn begin_unload_all(&self) -> Vec<Arc<HeldTablet>> {
        let s = self.state.read();
        s.tables.values().flat_map(|t| t.values()).filter(|h| h.stop_serving(TabletState::Unloading)).cloned().collect()
    }

    /// Waits for the requests in `held` to finish, flushes and closes it (on a blocking
    /// thread) and forgets it. The engine error of the flush or close, if any, is returned
    /// after the tablet is forgotten either way.
    pub(crate) async fn finish_unload(&self, held: Arc<HeldTablet>) -> crate::error::Result<()> {
        held.drained().await;
        let closing = held.clone();
        let result = tokio::task::spawn_blocking(move || {
            let flushed = closing.tablet.db().flush();
            let closed = closing.tablet.close();
            flushed.map_err(crate::error::Error::from).and(closed)
        })
        .await
        .unwrap_or_else(|e| Err(crate::error::Error::invalid(format!("closing task failed: {e}"))));
        let mut s = self.state.write();
        if let Some(t) = s.tables.get_mut(&held.desc.table_name) {
            if t.get(&held.desc.start_key).is_some_and(|h| Arc::ptr_eq(h, &held)) {
                t.remove(&held.desc.start_key);
            }
            if t.is_empty() {
                s.tables.remove(&held.desc.table_name);
            }
        }
        result
    }

    /// Replaces the schema of every held tablet of `table`; how many there were.
    pub(crate) fn set_schema(&self, table: &str, schema: &Schema) -> usize {
        let s = self.state.read();
        let tablets = s.tables.get(table).map(|t| t.values().collect::<Vec<_>>()).unwrap_or_default();
        for t in &tablets {
            t.tablet.set_schema(schema.clone());
        }
        tablets.len()
    }

    /// The held tablet `table_id`/`tablet_id`, in any state.
    pub(crate) fn find(&self, table_id: &str, tablet_id: &str) -> Option<Arc<HeldTablet>> {
        let s = self.state.read();
        s.tables
            .values()
            .flat_map(|t| t.values())
            .find(|h| h.desc.table_id == table_id && h.desc.tablet_id == tablet_id)
            .cloned()
    }

    /// What the server holds, for Status and lease renewals.
    pub(crate) fn statuses(&self) -> Vec<TabletStatus> {
        let s = self.state.read();
        let mut out: Vec<TabletStatus> = s
            .tables
            .values()
            .flat_map(|t| t.values())
            .map(|h| TabletStatus {
                tablet: Some(h.desc.clone()),
                state: h.state() as i32,
                // MERGE: `h.tablet.approximate_size()` (written on the split branch).
                approximate_size_bytes: 0,
            })
            .chain(s.loading.values().map(|d| TabletStatus {
                tablet: Some(d.clone()),
                state: TabletState::Loading as i32,
                approximate_size_bytes: 0,
            }))
            .collect();
        out.sort_by(|a, b| {
            let key = |s: &TabletStatus| s.tablet.as_ref().map(|d| (d.table_name.clone(), d.start_key.clone()));
            key(a).cmp(&key(b))
        });
        out
    }
}
