//! A tablet: the rows `[start, end)` of one table, stored in one engine [`Db`].
//!
//! Writes go through [`Tablet::mutate_row`]: validate, take the row's lock, build one
//! batch (reading the row when the request deletes ranges), write it, release the lock.
//! Reads ([`Tablet::scan`], and [`Tablet::read_row`] / [`Tablet::read_rows`] on top of it)
//! take no lock: each uses one engine iterator, which reads as of the moment it was made,
//! so a row is seen either before or after any batch, never half of one. The other row
//! operations live in their own modules: [`crate::conditional`] (check-and-mutate),
//! [`crate::read_modify_write`] (append / increment), [`crate::drop_range`]. GC rules are applied at read time and by the
//! engine's compaction filter ([`crate::gc`]).
//!
//! Every engine write of every row operation goes through `self.db.write`, which passes
//! the tablet's write gate ([`crate::gate`]): a split ([`crate::split`]) closes it, and the
//! parent then answers writes with `Error::NotServing`.
//!
//! Thread safety: `Tablet` is `Send + Sync`; share it by reference or `Arc`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use engine::{Db, Options, WriteBatch, WriteOptions};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::gate::{GatedDb, OpenGate};
use crate::gc::GcFilterFactory;
use crate::keys::{rows_key_range, KeyRange};
use crate::locks::{RowGuard, RowLocks, DEFAULT_STRIPES};
use crate::mutation::{append_row, build_batch};
use crate::proto::bigtable::{Mutation, Row, RowFilter, RowSet};
use crate::range_filter::RangeGcFilterFactory;
use crate::schema::{Schema, SharedSchema};

/// How to open a tablet.
#[derive(Clone)]
pub struct TabletOptions {
    /// Engine options. Its `compaction_filter_factory` is replaced by the tablet's GC
    /// filter. Share `block_cache`, `table_cache` and `background_pool` between the
    /// tablets of one server.
    pub engine: Options,
    /// Server time for `-1` timestamps and max-age rules.
    pub clock: Arc<dyn Clock>,
    /// Write options of every mutation (`sync: true` to fsync each before acknowledging).
    pub write: WriteOptions,
    /// Number of row-lock stripes.
    pub row_lock_stripes: usize,
}

impl Default for TabletOptions {
    fn default() -> Self {
        TabletOptions {
            engine: Options::default(),
            clock: Arc::new(SystemClock),
            write: WriteOptions::default(),
            row_lock_stripes: DEFAULT_STRIPES,
        }
    }
}

impl std::fmt::Debug for TabletOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TabletOptions")
            .field("clock", &self.clock)
            .field("write", &self.write)
            .field("row_lock_stripes", &self.row_lock_stripes)
            .finish_non_exhaustive()
    }
}

/// One tablet; see the module docs. The fields are shared with the modules that add row
/// operations in their own `impl Tablet` blocks ([`crate::conditional`],
/// [`crate::read_modify_write`], [`crate::drop_range`], [`crate::scan`]).
#[derive(Debug)]
pub struct Tablet {
    /// The engine behind the write gate: writes through `db.write` pass the gate (a split
    /// closes it, see [`crate::gate`]); reads go straight to the `Db`.
    pub(crate) db: GatedDb,
    /// First row (inclusive).
    pub(crate) start: Vec<u8>,
    /// End row (exclusive); empty for the end of the table.
    pub(crate) end: Vec<u8>,
    /// `start..end` as engine keys.
    pub(crate) keys: KeyRange,
    pub(crate) schema: SharedSchema,
    /// The options it was opened with (split children are opened with them).
    pub(crate) opts: TabletOptions,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) write: WriteOptions,
    pub(crate) locks: RowLocks,
}

impl Tablet {
    /// Opens (creating if the engine options allow) the tablet stored in `dir`, serving
    /// rows `[start, end)` (empty `end`: to the end of the table) of a table with `schema`.
    pub fn open(
        dir: impl AsRef<Path>,
        start: &[u8],
        end: &[u8],
        schema: Schema,
        opts: TabletOptions,
    ) -> Result<Tablet> {
        if !end.is_empty() && end <= start {
            return Err(Error::invalid(format!(
                "tablet range [{}, {}) is empty",
                crate::keys::escape_for_display(start),
                crate::keys::escape_for_display(end)
            )));
        }
        let schema = SharedSchema::new(schema);
        let keys = rows_key_range(start, end);
        let mut engine = opts.engine.clone();
        // GC rules plus the range: split children drop their sibling's rows as they compact.
        let gc = GcFilterFactory::new(schema.clone(), opts.clock.clone());
        engine.compaction_filter_factory = Some(Arc::new(RangeGcFilterFactory::new(gc, keys.clone())));
        let db = GatedDb::new(Db::open(dir, engine)?);
        Ok(Tablet {
            db,
            start: start.to_vec(),
            end: end.to_vec(),
            keys,
            schema,
            clock: opts.clock.clone(),
            write: opts.write,
            locks: RowLocks::new(opts.row_lock_stripes),
            opts,
        })
    }

    /// True when `row` is in this tablet's range.
    pub fn contains_row(&self, row: &[u8]) -> bool {
        row >= self.start.as_slice() && (self.end.is_empty() || row < self.end.as_slice())
    }

    /// The tablet's range: first row (inclusive) and end row (exclusive; empty = unbounded).
    pub fn range(&self) -> (&[u8], &[u8]) {
        (&self.start, &self.end)
    }

    pub(crate) fn check_row(&self, row: &[u8]) -> Result<()> {
        if self.contains_row(row) {
            Ok(())
        } else {
            Err(Error::RowOutOfRange { row: row.to_vec(), start: self.start.clone(), end: self.end.clone() })
        }
    }

    /// The current schema.
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.get()
    }

    /// Replaces the schema; later reads, writes and compactions use the new one.
    pub fn set_schema(&self, schema: Schema) {
        self.schema.set(schema);
    }

    /// The engine database (for flushes, compactions, statistics).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies `mutations` to `row` atomically and in order (see [`crate::mutation`]). When
    /// this returns `Ok`, readers see all of it; on `Err` nothing was written.
    pub fn mutate_row(&self, row: &[u8], mutations: &[Mutation]) -> Result<()> {
        self.check_row(row)?;
        let guard = if crate::mutation::needs_exclusive_lock(mutations) {
            self.locks.lock(row)
        } else {
            self.locks.lock_shared(row)
        };
        self.mutate_locked_row(&guard, row, mutations, None)
    }

    /// [`Tablet::mutate_row`] only if it can start without waiting, as
    /// [`Tablet::try_mutate_rows`]: `None`, with nothing written, when the row's lock is
    /// held in a conflicting mode, the write gate is closed or wanted by a split, or the
    /// engine may stall the write.
    pub fn try_mutate_row(&self, row: &[u8], mutations: &[Mutation]) -> Option<Result<()>> {
        if let Err(e) = self.check_row(row) {
            return Some(Err(e));
        }
        if self.db.writes_may_stall() {
            return None;
        }
        let exclusive = crate::mutation::needs_exclusive_lock(mutations);
        let guards = self.locks.try_lock_rows([(row, exclusive)])?;
        let gate = self.db.try_open()?;
        let guard = self.locks.guard_of(&guards, row)?;
        Some(self.mutate_locked_row(guard, row, mutations, Some(&gate)))
    }

    /// The body of [`Tablet::mutate_row`] once the row's lock is held.
    fn mutate_locked_row(
        &self,
        guard: &RowGuard<'_>,
        row: &[u8],
        mutations: &[Mutation],
        gate: Option<&OpenGate<'_>>,
    ) -> Result<()> {
        let schema = self.schema.get();
        // Read under the lock, so successive writes to one row get non-decreasing server
        // timestamps (as long as the clock does not step back).
        let now = self.clock.now_micros();
        let batch = build_batch(&self.db, &self.locks, guard, row, mutations, &schema, now)?;
        match gate {
            _ if batch.is_empty() => Ok(()),
            Some(gate) => gate.write(&self.write, batch),
            None => self.db.write(&self.write, batch),
        }
    }

    /// Applies several rows' mutation lists (`(row, mutations)` entries, as MutateRows
    /// carries them), each entry atomically and in order, and gives one result per entry.
    /// Each entry is validated and built on its own (a bad one fails alone); the good ones
    /// go to the engine as one batch, so a bulk write costs one commit, not one per row.
    /// An entry whose row an earlier entry of the pending batch also writes is built after
    /// that batch is written, so its deletions see the earlier entry's cells. When a write
    /// fails, its entries and every later one fail with its error, and none of them was
    /// written (a closed write gate, `Error::NotServing`, stops the rest the same way).
    pub fn mutate_rows(&self, entries: &[(&[u8], &[Mutation])]) -> Vec<Result<()>> {
        let rows = entries
            .iter()
            .filter(|(row, _)| self.contains_row(row))
            .map(|(row, mutations)| (*row, crate::mutation::needs_exclusive_lock(mutations)));
        let guards = self.locks.lock_rows(rows);
        self.mutate_locked_rows(entries, &guards, None)
    }

    /// [`Tablet::mutate_rows`] only if it can start without waiting: `None`, with nothing
    /// written, when a row lock is held in a conflicting mode, the write gate is closed or
    /// wanted by a split, or the engine may stall the write for background work
    /// ([`engine::Db::writes_may_stall`]). What remains is the group commit's own wait, as
    /// short as one commit. For a caller on an async worker thread, which must not park
    /// behind other requests: it applies the common case in place and hands the rest to a
    /// blocking thread (`BENCHMARKS.md`, run 12).
    pub fn try_mutate_rows(&self, entries: &[(&[u8], &[Mutation])]) -> Option<Vec<Result<()>>> {
        if self.db.writes_may_stall() {
            return None;
        }
        let rows = entries
            .iter()
            .filter(|(row, _)| self.contains_row(row))
            .map(|(row, mutations)| (*row, crate::mutation::needs_exclusive_lock(mutations)));
        let guards = self.locks.try_lock_rows(rows)?;
        let gate = self.db.try_open()?;
        Some(self.mutate_locked_rows(entries, &guards, Some(&gate)))
    }

    /// The body of [`Tablet::mutate_rows`] once the rows' locks are held; writes through
    /// `gate` when it is held open, else through the gate each time.
    fn mutate_locked_rows(
        &self,
        entries: &[(&[u8], &[Mutation])],
        guards: &[RowGuard<'_>],
        gate: Option<&OpenGate<'_>>,
    ) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = vec![None; entries.len()];
        let schema = self.schema.get();
        // Read under the locks, as in `mutate_row`.
        let now = self.clock.now_micros();
        let mut batch = self.db.batch_with_capacity(
            entries.iter().map(|(row, mutations)| crate::mutation::batch_bytes_hint(row, mutations)).sum(),
        );
        let mut members: Vec<usize> = Vec::new();
        let mut member_rows: HashSet<&[u8]> = HashSet::new();
        let mut failed: Option<Error> = None;
        for (i, (row, mutations)) in entries.iter().enumerate() {
            if failed.is_none() && !member_rows.insert(row) {
                failed = self.write_members(&mut batch, &mut members, &mut results, gate).err();
                member_rows.clear();
                member_rows.insert(row);
            }
            if let Some(e) = &failed {
                results[i] = Some(Err(e.clone()));
                continue;
            }
            let built = self.check_row(row).and_then(|()| {
                let guard = self.locks.guard_of(guards, row).ok_or_else(|| {
                    Error::invalid(format!("internal: row lock of {} not taken", crate::keys::escape_for_display(row)))
                })?;
                append_row(&self.db, &self.locks, guard, row, mutations, &schema, now, &mut batch)
            });
            match built {
                Ok(()) => members.push(i),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if failed.is_none() {
            // Its error is in `results`.
            let _ = self.write_members(&mut batch, &mut members, &mut results, gate);
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    /// Writes `batch` (the operations of the entries `members`), records each member's
    /// result, and empties both.
    fn write_members(
        &self,
        batch: &mut WriteBatch,
        members: &mut Vec<usize>,
        results: &mut [Option<Result<()>>],
        gate: Option<&OpenGate<'_>>,
    ) -> Result<()> {
        let written = match gate {
            _ if batch.is_empty() => Ok(()),
            Some(gate) => gate.write(&self.write, std::mem::take(batch)),
            None => self.db.write(&self.write, std::mem::take(batch)),
        };
        for m in members.drain(..) {
            if let Some(slot) = results.get_mut(m) {
                *slot = Some(written.clone());
            }
        }
        written
    }

    /// The visible cells of `row`, or `None` when it has none.
    pub fn read_row(&self, row: &[u8]) -> Result<Option<Row>> {
        self.check_row(row)?;
        let rows = RowSet { row_keys: vec![row.to_vec()], row_ranges: Vec::new() };
        self.scan(&rows, None, false)?.next().transpose()
    }

    /// Every row of `rows` that this tablet holds and that has visible cells, in key
    /// order. Parts of the set outside the tablet's range are ignored (the caller routes
    /// them to other tablets). Collects [`Tablet::scan`]; use that to stream.
    pub fn read_rows(&self, rows: &RowSet) -> Result<Vec<Row>> {
        self.scan(rows, None, false)?.collect()
    }

    /// [`Tablet::read_rows`] with an optional `RowFilter` applied to each row (see
    /// [`crate::filter`]); rows the filter empties are left out. The filter is compiled
    /// once per call (an invalid one is `Error::InvalidArgument`), and `row_sample_filter`
    /// is seeded from the clock. Collects [`Tablet::scan`]; use that to stream.
    pub fn read_rows_filtered(&self, rows: &RowSet, filter: Option<&RowFilter>) -> Result<Vec<Row>> {
        self.scan(rows, filter, false)?.collect()
    }

    /// Flushes and closes the engine; later calls fail with the engine's `Closed` error.
    /// Logs (at `info`) what the engine did while this tablet was open: bytes written,
    /// write amplification, flushes, compactions and write stalls.
    pub fn close(&self) -> Result<()> {
        let s = self.db.stats();
        if s.user_bytes_written > 0 {
            tracing::info!(
                dir = %self.db.path().display(),
                user_mb = s.user_bytes_written >> 20,
                write_amplification = format_args!("{:.2}", s.write_amplification()),
                flushes = s.flushes,
                compactions = s.compactions,
                compaction_read_mb = s.compaction_bytes_read >> 20,
                compaction_written_mb = s.compaction_bytes_written >> 20,
                trivial_moves = s.trivial_moves,
                stall_ms = s.stall_micros / 1000,
                stalls = s.stall_count,
                slowdowns = s.slowdown_count,
                "tablet engine closing"
            );
        }
        Ok(self.db.close()?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::gate::GateState;
    use crate::proto::bigtable::mutation::{DeleteFromRow, Mutation as Kind, SetCell};

    fn set(q: &str) -> Mutation {
        Mutation {
            mutation: Some(Kind::SetCell(SetCell {
                family_name: "cf".into(),
                column_qualifier: q.as_bytes().to_vec(),
                timestamp_micros: 1000,
                value: bytes::Bytes::from_static(b"v"),
            })),
        }
    }

    /// Runs `write` on another thread; true when it finished within a few seconds.
    fn finishes(tablet: &Arc<Tablet>, write: impl FnOnce(&Tablet) + Send + 'static) -> bool {
        let (tx, rx) = mpsc::channel();
        let t = tablet.clone();
        std::thread::spawn(move || {
            write(&t);
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(5)).is_ok()
    }

    #[test]
    fn blind_writes_share_a_row_lock_and_deletions_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new().with_family("cf", None).unwrap();
        let tablet = Arc::new(Tablet::open(dir.path(), b"", b"", schema, TabletOptions::default()).unwrap());
        // Another blind writer of the row is in the middle of its write.
        let held = tablet.locks.lock_shared(b"r");
        assert!(finishes(&tablet, |t| t.mutate_row(b"r", &[set("a")]).unwrap()), "mutate_row waited");
        let entries: [(&[u8], &[Mutation]); 2] = [(b"r", &[set("b")]), (b"s", &[set("c")])];
        let rows = entries.map(|(r, m)| (r.to_vec(), m.to_vec()));
        assert!(
            finishes(&tablet, move |t| {
                let entries: Vec<(&[u8], &[Mutation])> = rows.iter().map(|(r, m)| (&r[..], &m[..])).collect();
                assert!(t.mutate_rows(&entries).iter().all(|r| r.is_ok()));
            }),
            "mutate_rows waited"
        );
        // A deletion reads the row, so it must wait for the holder.
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        let (tx, rx) = mpsc::channel();
        let t = tablet.clone();
        let deleter = std::thread::spawn(move || {
            t.mutate_row(b"r", &[delete]).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "a deletion ran under a shared holder");
        drop(held);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        deleter.join().unwrap();
        assert!(tablet.read_row(b"r").unwrap().is_none());
        assert!(tablet.read_row(b"s").unwrap().is_some());
    }

    #[test]
    fn try_mutate_rows_writes_only_what_needs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new().with_family("cf", None).unwrap();
        let tablet = Tablet::open(dir.path(), b"", b"", schema, TabletOptions::default()).unwrap();
        let (a, b) = ([set("a")], [set("b")]);
        let entries: [(&[u8], &[Mutation]); 2] = [(b"r", &a), (b"s", &b)];
        // A row lock held exclusively (a check-and-mutate in progress): nothing written.
        let held = tablet.locks.lock(b"r");
        assert!(tablet.try_mutate_rows(&entries).is_none());
        assert!(tablet.read_row(b"s").unwrap().is_none(), "no entry of a refused call is written");
        drop(held);
        // A shared holder (another blind write) does not stop it.
        let held = tablet.locks.lock_shared(b"r");
        let results = tablet.try_mutate_rows(&entries).unwrap();
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        drop(held);
        assert!(tablet.read_row(b"r").unwrap().is_some() && tablet.read_row(b"s").unwrap().is_some());
        // A split holding the gate, then a closed gate: refused, nothing written.
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        let gone: [(&[u8], &[Mutation]); 1] = [(b"s", std::slice::from_ref(&delete))];
        let mut gate = tablet.db.hold_writes();
        assert!(tablet.try_mutate_rows(&gone).is_none());
        *gate = GateState::Closed("split".into());
        drop(gate);
        assert!(tablet.try_mutate_rows(&gone).is_none());
        assert!(tablet.read_row(b"s").unwrap().is_some());
        assert!(matches!(tablet.mutate_rows(&gone)[0], Err(Error::NotServing { .. })));
    }

    #[test]
    fn try_mutate_row_writes_only_what_needs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new().with_family("cf", None).unwrap();
        let tablet = Tablet::open(dir.path(), b"a", b"m", schema, TabletOptions::default()).unwrap();
        assert!(matches!(tablet.try_mutate_row(b"z", &[set("a")]), Some(Err(Error::RowOutOfRange { .. }))));
        let held = tablet.locks.lock(b"b");
        assert!(tablet.try_mutate_row(b"b", &[set("a")]).is_none(), "an exclusive holder of the row");
        drop(held);
        let held = tablet.locks.lock_shared(b"b");
        tablet.try_mutate_row(b"b", &[set("a")]).unwrap().unwrap();
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        assert!(
            tablet.try_mutate_row(b"b", std::slice::from_ref(&delete)).is_none(),
            "a deletion under a shared holder"
        );
        drop(held);
        assert!(tablet.read_row(b"b").unwrap().is_some());
        let gate = tablet.db.hold_writes();
        assert!(tablet.try_mutate_row(b"b", std::slice::from_ref(&delete)).is_none(), "the gate held by a split");
        drop(gate);
        tablet.try_mutate_row(b"b", std::slice::from_ref(&delete)).unwrap().unwrap();
        assert!(tablet.read_row(b"b").unwrap().is_none());
    }
}
