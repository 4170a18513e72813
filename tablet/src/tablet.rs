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
        self.mutate_locked_row(&guard, row, mutations)
    }

    /// The body of [`Tablet::mutate_row`] once the row's lock is held.
    fn mutate_locked_row(&self, guard: &RowGuard<'_>, row: &[u8], mutations: &[Mutation]) -> Result<()> {
        let schema = self.schema.get();
        // Read under the lock, so successive writes to one row get non-decreasing server
        // timestamps (as long as the clock does not step back).
        let now = self.clock.now_micros();
        let batch = build_batch(&self.db, &self.locks, guard, row, mutations, &schema, now)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.db.write(&self.write, batch)
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
        self.mutate_locked_rows(entries, &guards)
    }

    /// [`Tablet::mutate_rows`] for an async caller, only if it can start without waiting:
    /// `None`, with nothing written, when a row lock is held in a conflicting mode, the
    /// write gate is closed or wanted by a split, the engine may stall the write for
    /// background work ([`engine::Db::writes_may_stall`]), or an entry writes a row an
    /// earlier one writes (that takes two commits, the blocking path's job). Otherwise the
    /// entries are built and queued in the engine's group commit
    /// ([`engine::Db::write_async`]), and the returned [`PendingRows`] holds their row
    /// locks and the write gate until [`PendingRows::finish`] has their results. For the
    /// async worker thread that received a request: it waits for the group commit without
    /// holding its thread, and hands what must wait to a blocking thread
    /// (`BENCHMARKS.md`, runs 12 and 13).
    pub fn begin_mutate_rows<'a>(&'a self, entries: &[(&[u8], &[Mutation])]) -> Option<PendingRows<'a>> {
        if self.db.writes_may_stall() {
            return None;
        }
        let rows = entries
            .iter()
            .filter(|(row, _)| self.contains_row(row))
            .map(|(row, mutations)| (*row, crate::mutation::needs_exclusive_lock(mutations)));
        let guards = self.locks.try_lock_rows(rows)?;
        let gate = self.db.try_open()?;
        let mut results: Vec<Option<Result<()>>> = vec![None; entries.len()];
        let mut batch = self.db.batch_with_capacity(bytes_hint(entries));
        let (members, end) = self.build_rows(entries, 0, &guards, self.clock.now_micros(), &mut batch, &mut results);
        if end < entries.len() {
            return None;
        }
        let write = (!batch.is_empty()).then(|| gate.write_async(&self.write, batch));
        Some(PendingRows { write, members, results, _gate: gate, _guards: guards })
    }

    /// The body of [`Tablet::mutate_rows`] once the rows' locks are held.
    fn mutate_locked_rows(&self, entries: &[(&[u8], &[Mutation])], guards: &[RowGuard<'_>]) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = vec![None; entries.len()];
        // Read under the locks, as in `mutate_row`.
        let now = self.clock.now_micros();
        let mut start = 0;
        let mut hint = bytes_hint(entries);
        while start < entries.len() {
            let mut batch = self.db.batch_with_capacity(std::mem::take(&mut hint));
            let (members, end) = self.build_rows(entries, start, guards, now, &mut batch, &mut results);
            let written = if batch.is_empty() { Ok(()) } else { self.db.write(&self.write, batch) };
            for &m in &members {
                results[m] = Some(written.clone());
            }
            if let Err(e) = written {
                for r in &mut results[end..] {
                    *r = Some(Err(e.clone()));
                }
                break;
            }
            start = end;
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    /// Appends entries to `batch` from `start` on, up to the first whose row an entry
    /// already in the batch writes (its deletions must see that entry's cells, so it goes
    /// in a later batch): gives the entries appended and the index it stopped at. An entry
    /// that fails to build gets its error in `results` and writes nothing.
    fn build_rows(
        &self,
        entries: &[(&[u8], &[Mutation])],
        start: usize,
        guards: &[RowGuard<'_>],
        now: i64,
        batch: &mut WriteBatch,
        results: &mut [Option<Result<()>>],
    ) -> (Vec<usize>, usize) {
        let schema = self.schema.get();
        let mut members: Vec<usize> = Vec::new();
        let mut member_rows: HashSet<&[u8]> = HashSet::new();
        for (i, (row, mutations)) in entries.iter().enumerate().skip(start) {
            if !member_rows.insert(row) {
                return (members, i);
            }
            let built = self.check_row(row).and_then(|()| {
                let guard = self.locks.guard_of(guards, row).ok_or_else(|| {
                    Error::invalid(format!("internal: row lock of {} not taken", crate::keys::escape_for_display(row)))
                })?;
                append_row(&self.db, &self.locks, guard, row, mutations, &schema, now, batch)
            });
            match built {
                Ok(()) => members.push(i),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        (members, entries.len())
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

/// The engine batch a bulk write reserves room for: what its entries' cells take.
fn bytes_hint(entries: &[(&[u8], &[Mutation])]) -> usize {
    entries.iter().map(|(row, mutations)| crate::mutation::batch_bytes_hint(row, mutations)).sum()
}

/// A bulk write queued in the engine by [`Tablet::begin_mutate_rows`]. It holds its rows'
/// locks and the tablet's write gate (open) until it is finished or dropped; drop it only
/// after [`PendingRows::finish`] (a dropped one is still written, but its locks are
/// released before it is visible), so run it where the caller going away does not cancel
/// it, such as a task of its own.
#[must_use = "a pending write holds row locks until finished"]
pub struct PendingRows<'a> {
    /// Declared first, dropped first: the locks below outlive it.
    write: Option<engine::WriteFuture>,
    /// The entries in the batch.
    members: Vec<usize>,
    /// Per entry: its result when known before the write (a build error).
    results: Vec<Option<Result<()>>>,
    _gate: OpenGate<'a>,
    _guards: Vec<RowGuard<'a>>,
}

impl std::fmt::Debug for PendingRows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRows").field("members", &self.members.len()).finish_non_exhaustive()
    }
}

impl PendingRows<'_> {
    /// Waits for the group commit; gives one result per entry, as [`Tablet::mutate_rows`].
    pub async fn finish(mut self) -> Vec<Result<()>> {
        let written = match self.write.take() {
            Some(w) => w.await.map_err(Error::from),
            None => Ok(()),
        };
        let mut results = std::mem::take(&mut self.results);
        for &m in &self.members {
            results[m] = Some(written.clone());
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
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

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn begin_mutate_rows_writes_only_what_needs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new().with_family("cf", None).unwrap();
        let tablet = Tablet::open(dir.path(), b"", b"", schema, TabletOptions::default()).unwrap();
        let (a, b) = ([set("a")], [set("b")]);
        let entries: [(&[u8], &[Mutation]); 2] = [(b"r", &a), (b"s", &b)];
        // A row lock held exclusively (a check-and-mutate in progress): nothing written.
        let held = tablet.locks.lock(b"r");
        assert!(tablet.begin_mutate_rows(&entries).is_none());
        assert!(tablet.read_row(b"s").unwrap().is_none(), "no entry of a refused call is written");
        drop(held);
        // A shared holder (another blind write) does not stop it.
        let held = tablet.locks.lock_shared(b"r");
        let pending = tablet.begin_mutate_rows(&entries).unwrap();
        // Until finished, it holds its rows' locks and the gate.
        assert!(tablet.locks.try_lock_rows([(&b"s"[..], true)]).is_none(), "the row lock is held while pending");
        assert!(tablet.db.try_open().is_some(), "shared with other writers");
        let results = block_on(pending.finish());
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert!(tablet.locks.try_lock_rows([(&b"s"[..], true)]).is_some(), "released when finished");
        drop(held);
        assert!(tablet.read_row(b"r").unwrap().is_some() && tablet.read_row(b"s").unwrap().is_some());
        // A row written twice needs two commits: left to the blocking path, nothing written.
        let twice: [(&[u8], &[Mutation]); 3] = [(b"t", &a), (b"u", &b), (b"t", &b)];
        assert!(tablet.begin_mutate_rows(&twice).is_none());
        assert!(tablet.read_row(b"u").unwrap().is_none());
        assert!(tablet.mutate_rows(&twice).iter().all(|r| r.is_ok()));
        let t = tablet.read_row(b"t").unwrap().unwrap();
        assert_eq!(t.families[0].columns.len(), 2, "both entries of row t applied: {t:?}");
        // A bad entry fails alone; the others are written.
        let mut unknown = set("x");
        if let Some(Kind::SetCell(c)) = &mut unknown.mutation {
            c.family_name = "nope".into();
        }
        let bad: [(&[u8], &[Mutation]); 2] = [(b"v", std::slice::from_ref(&unknown)), (b"w", &a)];
        let results = block_on(tablet.begin_mutate_rows(&bad).unwrap().finish());
        assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
        // A split holding the gate, then a closed gate: refused, nothing written.
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        let gone: [(&[u8], &[Mutation]); 1] = [(b"s", std::slice::from_ref(&delete))];
        let mut gate = tablet.db.hold_writes();
        assert!(tablet.begin_mutate_rows(&gone).is_none());
        *gate = GateState::Closed("split".into());
        drop(gate);
        assert!(tablet.begin_mutate_rows(&gone).is_none());
        assert!(tablet.read_row(b"s").unwrap().is_some());
        assert!(matches!(tablet.mutate_rows(&gone)[0], Err(Error::NotServing { .. })));
    }

    /// One row through `begin_mutate_rows`, as a tablet server applies `MutateRow`.
    #[test]
    fn begin_mutate_rows_of_one_row_writes_only_what_needs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new().with_family("cf", None).unwrap();
        let tablet = Tablet::open(dir.path(), b"a", b"m", schema, TabletOptions::default()).unwrap();
        let one = |row: &'static [u8], m: &Mutation| -> Option<Result<()>> {
            let entry = [(row, std::slice::from_ref(m))];
            let p = tablet.begin_mutate_rows(&entry)?;
            Some(block_on(p.finish()).remove(0))
        };
        assert!(matches!(one(b"z", &set("a")), Some(Err(Error::RowOutOfRange { .. }))));
        let held = tablet.locks.lock(b"b");
        assert!(one(b"b", &set("a")).is_none(), "an exclusive holder of the row");
        drop(held);
        let held = tablet.locks.lock_shared(b"b");
        one(b"b", &set("a")).unwrap().unwrap();
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        assert!(one(b"b", &delete).is_none(), "a deletion under a shared holder");
        drop(held);
        assert!(tablet.read_row(b"b").unwrap().is_some());
        let gate = tablet.db.hold_writes();
        assert!(one(b"b", &delete).is_none(), "the gate held by a split");
        drop(gate);
        one(b"b", &delete).unwrap().unwrap();
        assert!(tablet.read_row(b"b").unwrap().is_none());
    }
}
