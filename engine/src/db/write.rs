//! The write path: group commit, the WAL, memtable inserts, memtable switches and stalls.
//!
//! # Steps of a write, in fsync order
//! 1. The writer joins the queue (`writers` lock). The writer at the front is the *leader*;
//!    the others wait (yielding the CPU for up to `Options::write_yield_micros`, then
//!    asleep; straight asleep when a non-sync writer has more than
//!    [`YIELD_MAX_BYTES_AHEAD`] queued ahead of it) until the leader has committed them or
//!    made them the next leader.
//! 2. The leader takes the `log` lock and makes room: it may wait for a flush (too many
//!    frozen memtables), wait for compaction (level 0 at the stop trigger), sleep a
//!    millisecond (level 0 at the slowdown trigger), or freeze the memtable and start a new
//!    WAL (the old WAL is fsync'd first, so a later WAL never survives a crash that an
//!    earlier one's tail does not; write-out was started every `wal_bytes_per_sync` as the
//!    WAL grew, so little is left for that fsync).
//! 3. The leader gathers the queued batches (up to 1 MiB; a non-sync leader never takes a
//!    sync writer), assigns them consecutive sequence numbers, appends them as one WAL
//!    record, hands it to the OS, and fsyncs it if any writer of the group asked for `sync`.
//! 4. The leader inserts every batch into the memtable, then publishes the group's last
//!    sequence number (Release), making the whole group visible to readers at once.
//! 5. The leader wakes the group's writers with their result and hands leadership to the
//!    next writer in the queue.
//!
//! A failed WAL write or sync sets the background error: the database refuses writes from
//! then on, since the WAL may hold a partial record that later records must not follow.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::stats::Counters;
use super::{background, DbInner, Frozen, LogState};
use crate::batch::{BatchOp, WriteBatch};
use crate::error::{Error, Result};
use crate::filename::log_file;
use crate::keys::ValueKind;
use crate::memtable::MemTable;

/// Largest group the leader assembles.
const MAX_GROUP_BYTES: usize = 1 << 20;

/// How long a sync leader may wait for the writers of the previous sync group to queue up
/// again (see `write`). Small against an fsync, large against a writer's turnaround.
const SYNC_GROUP_WAIT: Duration = Duration::from_micros(200);

/// A non-sync writer with more than this many batch bytes queued ahead of it (the group
/// being committed included) sleeps at once instead of yielding first: on a busy machine
/// each yield is a context switch, and committing that much (WAL append and memtable
/// inserts, about 2.5 ns a byte with 1000-byte values) keeps a crowd of yielding writers
/// switching while the leader works. Measured with 32 clients writing 100 rows of 1000
/// bytes per request to a tablet server on 2 cores (four tablets, so about 27 KiB per
/// engine write): `sched_yield` was 11% of the server's CPU with every writer yielding;
/// with a 128 KiB limit it was 2% but still a third of the server's context switches; at
/// 16 KiB the server's CPU per row fell by about a tenth more (`BENCHMARKS.md`, run 10).
/// Small writes (db_bench's, up to about a hundred queued) and sync groups, whose wait is
/// the fsync, still yield.
pub(crate) const YIELD_MAX_BYTES_AHEAD: usize = 16 << 10;

/// Most written batches a database keeps for reuse ([`BatchPool`]).
const POOLED_BATCHES: usize = 64;
/// Largest batch (capacity in bytes) a database keeps for reuse: a merged group's size.
const POOLED_BATCH_MAX: usize = 2 * MAX_GROUP_BYTES;

/// Written batches kept for reuse: [`crate::Db::batch_with_capacity`] takes one, and the
/// leader of a group gives back the group's batches (and the merged one) once written.
///
/// Why: a tablet server writing 100 rows of 1000 bytes per request allocated a 100 KiB
/// batch per request and a 1 MiB merged one per group, each freed by another thread than
/// the one that allocated it; the allocator kept taking fresh pages for them, and the
/// kernel zeroing those was about 5% of the server's CPU (`BENCHMARKS.md`, run 10).
#[derive(Default)]
pub(crate) struct BatchPool {
    free: Mutex<Vec<WriteBatch>>,
}

impl BatchPool {
    /// An empty batch with room for `bytes` of operations: a kept one when one is large
    /// enough, else a new one.
    pub(crate) fn take(&self, bytes: usize) -> WriteBatch {
        let mut free = self.free.lock();
        match free.iter().rposition(|b| b.capacity() >= bytes) {
            Some(i) => free.swap_remove(i),
            None => {
                drop(free);
                WriteBatch::with_capacity(bytes)
            }
        }
    }

    /// Keeps `batches` (cleared) for reuse, up to the pool's limits; drops the rest.
    fn give(&self, batches: impl IntoIterator<Item = WriteBatch>) {
        let mut free = self.free.lock();
        for mut b in batches {
            if free.len() >= POOLED_BATCHES {
                break;
            }
            if b.capacity() <= POOLED_BATCH_MAX {
                b.clear();
                free.push(b);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.lock().len()
    }
}

/// One waiting writer.
pub(crate) struct Slot {
    /// The batch, taken by the leader; `None` for a forced memtable switch.
    batch: Mutex<Option<WriteBatch>>,
    /// The batch's approximate size (fixed when queued; the leader takes the batch itself).
    bytes: usize,
    sync: bool,
    force_switch: bool,
    /// What the writer waits for; guarded by its own lock so that waking a group's writers
    /// does not make them contend for the queue's.
    state: Mutex<SlotState>,
    /// `state` is no longer `Waiting` (read by a yielding writer without the lock).
    ready: AtomicBool,
    cv: Condvar,
    /// Queued by [`write_async`]: its writer is a [`WriteFuture`], not a blocked thread.
    is_async: bool,
    /// The task of a [`WriteFuture`] waiting on this slot, woken by `set`; `None` until
    /// the future is first polled.
    waker: Mutex<Option<std::task::Waker>>,
}

/// Where a queued writer stands.
enum SlotState {
    /// Queued behind a leader.
    Waiting,
    /// At the front of the queue: lead the next group.
    Leader,
    /// Committed (or failed) by a leader, with the group's result.
    Done(Result<()>),
    /// Its [`WriteFuture`] was dropped while queued: it is committed with a group as any
    /// other, but it never leads (see [`Slot::offer_lead`]).
    Abandoned,
}

impl Slot {
    fn set(&self, state: SlotState) {
        *self.state.lock() = state;
        self.notify();
    }

    /// Tells the writer its state changed: a yielding, sleeping or awaiting one.
    fn notify(&self) {
        self.ready.store(true, Ordering::Release);
        self.cv.notify_one();
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }

    /// Makes this writer the leader, unless nobody would act on it: false when its
    /// future was dropped, or has not been polled yet (its task may be awaiting another
    /// write, and would lead only when done with that one: two tasks each awaiting a write
    /// queued behind the other's unpolled one would wait forever). The caller then leads
    /// this writer's group itself.
    fn offer_lead(&self) -> bool {
        let mut st = self.state.lock();
        if matches!(*st, SlotState::Abandoned) || (self.is_async && self.waker.lock().is_none()) {
            return false;
        }
        *st = SlotState::Leader;
        drop(st);
        self.notify();
        true
    }
}

/// The group-commit queue, guarded by `DbInner::writers`.
#[derive(Default)]
pub(crate) struct WriteQueue {
    queue: VecDeque<Arc<Slot>>,
    /// Size of the last group that was fsync'd.
    last_sync_group: usize,
    /// A sync leader sleeps until the queue holds this many writers (0: nobody sleeps;
    /// `writers_grew` wakes it).
    leader_wants: usize,
    /// Sum of `Slot::bytes` over `queue`.
    queued_bytes: usize,
}

/// Yields the CPU until `done()`, for at most `limit`.
///
/// Why: a writer that sleeps on a lock is woken by a futex call, and on a virtual machine
/// whose cores halted during the leader's fsync that wake-up costs tens of microseconds per
/// writer; with 8 sync writers on 2 cores a group's turnaround (the writers coming back
/// with their next write) took 110 µs against a 130 µs fsync, and 25 µs when they yield.
/// Yielding rather than spinning lets any other runnable thread have the core. (Giving up
/// after a few slow yields, when other threads want the CPU, was tried: the writers of the
/// group itself make the yields slow, and the turnaround went back up.)
fn yield_until(limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        std::thread::yield_now();
    }
}

/// A writer's slot, not yet queued.
fn new_slot(sync: bool, batch: Option<WriteBatch>, force_switch: bool, is_async: bool) -> Arc<Slot> {
    Arc::new(Slot {
        bytes: batch.as_ref().map_or(0, WriteBatch::approximate_size),
        batch: Mutex::new(batch),
        sync,
        force_switch,
        state: Mutex::new(SlotState::Waiting),
        ready: AtomicBool::new(false),
        cv: Condvar::new(),
        is_async,
        waker: Mutex::new(None),
    })
}

/// Queues `slot`; gives whether it is at the front (its writer leads now) and the bytes
/// queued ahead of it.
fn enqueue(db: &DbInner, slot: &Arc<Slot>) -> (bool, usize) {
    let mut q = db.writers.lock();
    let bytes_ahead = q.queued_bytes;
    q.queued_bytes += slot.bytes;
    q.queue.push_back(slot.clone());
    db.writers_queued.store(q.queue.len(), Ordering::Release);
    // Wake a sleeping leader only once its group is complete, not at every arrival.
    if q.leader_wants > 0 && q.queue.len() >= q.leader_wants {
        q.leader_wants = 0;
        db.writers_grew.notify_one();
    }
    (q.queue.len() == 1, bytes_ahead)
}

/// Blocks until a leader has committed `slot` (its result) or made it the leader (`None`).
fn wait_turn(slot: &Slot) -> Option<Result<()>> {
    let mut st = slot.state.lock();
    loop {
        match std::mem::replace(&mut *st, SlotState::Waiting) {
            SlotState::Done(r) => return Some(r),
            SlotState::Leader => return None,
            SlotState::Waiting | SlotState::Abandoned => slot.cv.wait(&mut st),
        }
    }
}

/// Writes `batch` (or, with `force_switch`, freezes the memtable) through the group commit.
pub(crate) fn write(db: &Arc<DbInner>, sync: bool, batch: Option<WriteBatch>, force_switch: bool) -> Result<()> {
    db.check_open()?;
    let slot = new_slot(sync, batch, force_switch, false);
    let (front, bytes_ahead) = enqueue(db, &slot);
    if !front {
        // A leader is active (its slot stays at the front until it finishes): wait for it
        // to commit this batch or to hand over leadership.
        if sync || bytes_ahead <= YIELD_MAX_BYTES_AHEAD {
            let yield_limit = Duration::from_micros(db.opts.write_yield_micros);
            yield_until(yield_limit, || slot.ready.load(Ordering::Acquire));
        }
        if let Some(result) = wait_turn(&slot) {
            return result;
        }
    }
    lead(db, &slot)
}

/// Leads the group commit from `slot`, which is at the front of the queue: commits groups
/// until the front writer is one that takes the lead itself, and gives `slot`'s result.
/// A front writer whose [`WriteFuture`] was dropped or is not being polled does not take
/// it ([`Slot::offer_lead`]), so the leader of the group before it leads its group too.
fn lead(db: &Arc<DbInner>, slot: &Arc<Slot>) -> Result<()> {
    let mut front = slot.clone();
    let mut mine = None;
    loop {
        let (result, group, next) = lead_group(db, &front);
        // Hand over leadership first, so the next group forms while this one's writers
        // wake; every notification goes out without the queue lock held.
        let abandoned = next.filter(|n| !n.offer_lead());
        for s in group.iter().filter(|s| !Arc::ptr_eq(s, slot)) {
            s.set(SlotState::Done(result.clone()));
        }
        mine.get_or_insert(result);
        match abandoned {
            Some(n) => front = n,
            None => return mine.unwrap_or(Ok(())),
        }
    }
}

/// Gathers and commits the group led by `slot` (at the front of the queue); gives the
/// result, the group, and the writer now at the front.
fn lead_group(db: &Arc<DbInner>, slot: &Arc<Slot>) -> (Result<()>, Vec<Arc<Slot>>, Option<Arc<Slot>>) {
    let yield_limit = Duration::from_micros(db.opts.write_yield_micros);
    let mut q = db.writers.lock();
    // A sync leader waits a moment for the writers of the previous sync group: they return
    // together when its fsync ends, and without the wait groups alternate between one
    // writer and all the others, halving what group commit saves.
    let want = q.last_sync_group;
    if slot.sync && !slot.force_switch && want > 1 && q.queue.len() < want {
        let deadline = Instant::now() + SYNC_GROUP_WAIT;
        drop(q);
        yield_until(yield_limit.min(SYNC_GROUP_WAIT), || db.writers_queued.load(Ordering::Acquire) >= want);
        q = db.writers.lock();
        while q.queue.len() < want {
            q.leader_wants = want;
            if db.writers_grew.wait_until(&mut q, deadline).timed_out() {
                break;
            }
        }
        q.leader_wants = 0;
    }
    // Gather the group. Only the front writer may force a memtable switch, alone.
    let mut group: Vec<Arc<Slot>> = Vec::new();
    let mut bytes = 0usize;
    for s in q.queue.iter() {
        if !group.is_empty() {
            if s.force_switch || group[0].force_switch || (s.sync && !slot.sync) {
                break;
            }
            if bytes + s.bytes > MAX_GROUP_BYTES {
                break;
            }
        }
        bytes += s.bytes;
        group.push(s.clone());
    }
    if group.iter().any(|s| s.sync) {
        q.last_sync_group = group.len();
    }
    drop(q);

    let result = commit_group(db, &group);

    let mut q = db.writers.lock();
    q.queue.drain(..group.len());
    q.queued_bytes -= bytes;
    db.writers_queued.store(q.queue.len(), Ordering::Release);
    let next = q.queue.front().cloned();
    drop(q);
    (result, group, next)
}

/// A write queued by [`crate::Db::write_async`]: resolves to the write's result once a
/// leader (possibly the task polling it) has committed it.
///
/// Polling never waits for other writers: while the write is queued behind a leader the
/// future is pending, and the leader's hand-over or commit wakes it. When the write is at
/// the front of the queue, polling leads the group commit in place (WAL append and
/// memtable inserts for the whole group, and whatever room-making the write needs: a
/// memtable switch, or a delay or stop when background work is behind; see
/// [`crate::Db::writes_may_stall`]), so a poll can take as long as one commit.
///
/// A task may hold several of these (say, one per database) and await them one after
/// another: the lead only passes to a write whose future has been polled, so one left
/// unpolled meanwhile is committed by the leader before it and never holds up its queue.
///
/// Dropping it before it resolves does not withdraw the write: it is committed with its
/// group, or, if it was about to lead, by the leader before it (the write may or may not
/// be applied, as with any cancelled request).
#[must_use = "a write future does nothing useful unless awaited"]
pub struct WriteFuture {
    state: FutureState,
}

enum FutureState {
    /// Resolved at creation (the database was closed, or the write led at once), or taken.
    Ready(Option<Result<()>>),
    Queued {
        db: Arc<DbInner>,
        slot: Arc<Slot>,
    },
}

impl std::fmt::Debug for WriteFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            FutureState::Ready(Some(_)) => "ready",
            FutureState::Ready(None) => "done",
            FutureState::Queued { .. } => "queued",
        };
        f.debug_struct("WriteFuture").field("state", &state).finish()
    }
}

/// Queues `batch` and gives the future of its commit; when the queue was empty, the write
/// is committed here and the future is ready.
pub(crate) fn write_async(db: &Arc<DbInner>, sync: bool, batch: WriteBatch) -> WriteFuture {
    if let Err(e) = db.check_open() {
        return WriteFuture { state: FutureState::Ready(Some(Err(e))) };
    }
    let slot = new_slot(sync, Some(batch), false, true);
    let (front, _) = enqueue(db, &slot);
    if front {
        return WriteFuture { state: FutureState::Ready(Some(lead(db, &slot))) };
    }
    WriteFuture { state: FutureState::Queued { db: db.clone(), slot } }
}

impl std::future::Future for WriteFuture {
    type Output = Result<()>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        let (db, slot) = match &mut this.state {
            FutureState::Ready(r) => {
                return Poll::Ready(
                    r.take()
                        .unwrap_or_else(|| Err(Error::InvalidArgument("write future polled after it resolved".into()))),
                );
            }
            FutureState::Queued { db, slot } => (db, slot),
        };
        let mut st = slot.state.lock();
        let leads = match std::mem::replace(&mut *st, SlotState::Waiting) {
            SlotState::Done(r) => Some(r),
            SlotState::Leader => None,
            SlotState::Waiting | SlotState::Abandoned => {
                // Under the state lock, so `Slot::set` either came before (seen above) or
                // finds this waker.
                *slot.waker.lock() = Some(cx.waker().clone());
                return Poll::Pending;
            }
        };
        drop(st);
        let result = match leads {
            Some(r) => r,
            None => lead(db, slot),
        };
        this.state = FutureState::Ready(None);
        Poll::Ready(result)
    }
}

impl Drop for WriteFuture {
    fn drop(&mut self) {
        let FutureState::Queued { db, slot } = &self.state else { return };
        let mut st = slot.state.lock();
        match &*st {
            // Queued: the leader that would hand it the lead leads its group instead.
            SlotState::Waiting => {
                *st = SlotState::Abandoned;
                slot.waker.lock().take();
            }
            SlotState::Done(_) | SlotState::Abandoned => {}
            SlotState::Leader => {
                drop(st);
                // Its turn came: lead, so that the writers queued behind are not stranded.
                let _ = lead(db, slot);
            }
        }
    }
}

fn commit_group(db: &Arc<DbInner>, group: &[Arc<Slot>]) -> Result<()> {
    let mut log = db.log.lock();
    let force = group.first().is_some_and(|s| s.force_switch);
    make_room(db, &mut log, force)?;
    if force {
        return Ok(());
    }
    let mut batches: Vec<WriteBatch> = group.iter().filter_map(|s| s.batch.lock().take()).collect();
    if batches.len() > 1 {
        let mut merged = db.batches.take(batches.iter().map(WriteBatch::approximate_size).sum());
        for b in &batches {
            merged.append(b);
        }
        // The merged batch goes first: it is what gets written.
        batches.insert(0, merged);
    }
    let result = match batches.first_mut() {
        Some(batch) => commit_batch(db, &mut log, batch, group),
        None => Ok(()),
    };
    drop(log);
    db.batches.give(batches);
    result
}

/// Writes the group's `batch` (all of its batches, merged) to the WAL and the memtable.
fn commit_batch(db: &Arc<DbInner>, log: &mut LogState, batch: &mut WriteBatch, group: &[Arc<Slot>]) -> Result<()> {
    let sync = group.iter().any(|s| s.sync);
    let count = u64::from(batch.count());
    if count == 0 {
        return Ok(());
    }
    let first_seq = log.last_seq + 1;
    if first_seq + count - 1 > crate::keys::MAX_SEQUENCE {
        // Only a database recovered from crafted files gets here (2^56 writes otherwise).
        return Err(Error::InvalidArgument("sequence numbers exhausted".into()));
    }
    batch.set_sequence(first_seq);

    // WAL: one record for the group, handed to the OS, fsync'd if asked.
    let writer = log.writer.as_mut().ok_or(Error::Closed)?;
    let logged = writer.add_record(batch.data()).and_then(|()| if sync { writer.sync() } else { writer.flush() });
    if let Err(e) = logged {
        return Err(background::set_bg_error(db, e));
    }
    Counters::add(&db.counters.wal_bytes_written, batch.data().len() as u64);
    Counters::add(&db.counters.write_groups, 1);
    Counters::add(&db.counters.writes, group.len() as u64);
    if sync {
        Counters::add(&db.counters.wal_syncs, 1);
    }

    // Memtable: the active one cannot change while we hold the log lock.
    let mem = db.state.lock().mem.clone();
    let user_bytes = insert_batch(&mem, batch, first_seq)?;
    Counters::add(&db.counters.user_bytes_written, user_bytes);
    log.last_seq = first_seq + count - 1;
    db.visible_seq.store(log.last_seq, Ordering::Release);
    Ok(())
}

/// Groups with at least this many operations go into the memtable sorted (`insert_batch`).
const SORTED_INSERT_MIN: u32 = 8;

/// Inserts every operation of `batch` into `mem` with consecutive sequence numbers from
/// `seq`. Returns the bytes of keys and values inserted.
///
/// A batch of [`SORTED_INSERT_MIN`] operations or more is inserted in key order: the
/// memtable searches from where its last insert was (skiplist invariant 7), so each key costs
/// the levels of its distance from the one before instead of a search from the top. The
/// order of inserts is invisible: entries are ordered by key and sequence number whatever the
/// order they arrive in, and none is visible before the group's last sequence is published.
/// Measured with 100 random 1000-byte rows per request on a tablet server: the skiplist's
/// share of the server's CPU went from about 24% to about 15% (`docs/memtable.md`).
pub(crate) fn insert_batch(mem: &MemTable, batch: &WriteBatch, mut seq: u64) -> Result<u64> {
    let mut bytes = 0u64;
    if batch.count() >= SORTED_INSERT_MIN {
        let mut ops: Vec<(&[u8], u64, ValueKind, &[u8])> = Vec::with_capacity(batch.count() as usize);
        for op in batch.iter() {
            ops.push(match op? {
                BatchOp::Put { key, value } => (key, seq, ValueKind::Value, value),
                BatchOp::Delete { key } => (key, seq, ValueKind::Deletion, &[][..]),
            });
            seq += 1;
        }
        // Internal key order: user key ascending, then newest first.
        ops.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        for (key, seq, kind, value) in ops {
            mem.add(seq, kind, key, value);
            bytes += (key.len() + value.len()) as u64;
        }
        return Ok(bytes);
    }
    for op in batch.iter() {
        match op? {
            BatchOp::Put { key, value } => {
                mem.add(seq, ValueKind::Value, key, value);
                bytes += (key.len() + value.len()) as u64;
            }
            BatchOp::Delete { key } => {
                mem.add(seq, ValueKind::Deletion, key, &[]);
                bytes += key.len() as u64;
            }
        }
        seq += 1;
    }
    Ok(bytes)
}

/// See [`crate::Db::writes_may_stall`]: the conditions under which `make_room` waits.
pub(crate) fn may_stall(db: &DbInner) -> bool {
    let st = db.state.lock();
    st.imm.len() >= db.opts.max_immutable_memtables || st.sv.version.num_files(0) >= db.opts.l0_slowdown_trigger
}

/// Ensures the active memtable has room (or, with `force`, freezes it if non-empty),
/// stalling as the level-0 and memtable limits require.
fn make_room(db: &Arc<DbInner>, log: &mut LogState, mut force: bool) -> Result<()> {
    let mut allow_delay = !force;
    let opts = &db.opts;
    loop {
        let mut st = db.state.lock();
        db.check_open()?;
        if let Some(e) = &st.bg_error {
            return Err(Error::Background(Arc::new(e.clone())));
        }
        let l0 = st.sv.version.num_files(0);
        if allow_delay && l0 >= opts.l0_slowdown_trigger {
            // Delay each write a little rather than stop for seconds later.
            drop(st);
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            Counters::add(&db.counters.stall_micros, t.elapsed().as_micros() as u64);
            Counters::add(&db.counters.slowdown_count, 1);
            allow_delay = false;
            continue;
        }
        if force && st.mem.is_empty() {
            return Ok(());
        }
        // Flushes queued up to the limit, or level 0 at its stop trigger: a switch must wait.
        let backed_up = st.imm.len() >= opts.max_immutable_memtables || l0 >= opts.l0_stop_trigger;
        if !force && st.mem.approximate_memory_usage() < opts.write_buffer_size {
            // A shared memtable budget may ask for an early freeze (see `write_buffer`), but
            // never a stall: while backed up, the memtable keeps taking writes until full.
            let over_budget = opts.write_buffer_manager.as_ref().is_some_and(|m| m.should_flush());
            if !over_budget || st.mem.is_empty() || backed_up {
                return Ok(());
            }
            Counters::add(&db.counters.budget_flushes, 1);
        }
        if backed_up {
            let t = Instant::now();
            Counters::add(&db.counters.stall_count, 1);
            background::maybe_schedule(db, &mut st);
            db.bg_cv.wait_for(&mut st, Duration::from_millis(100));
            Counters::add(&db.counters.stall_micros, t.elapsed().as_micros() as u64);
            continue;
        }
        drop(st);
        // Freeze: sync the old WAL, start a new one, then swap memtables.
        let number = db.next_file.fetch_add(1, Ordering::Relaxed);
        let path = log_file(&db.dir, number);
        let switched = (|| -> Result<crate::wal::Writer> {
            if let Some(w) = log.writer.as_mut() {
                w.sync()?;
            }
            let f = db.fs.create(&path)?;
            db.fs.sync_dir(&db.dir)?;
            Ok(crate::wal::Writer::new(f, path.clone())
                .with_preallocation(super::WAL_PREALLOCATION)
                .with_writeback(opts.wal_bytes_per_sync))
        })();
        let writer = match switched {
            Ok(w) => w,
            Err(e) => return Err(background::set_bg_error(db, e)),
        };
        log.writer = Some(writer);
        log.number = number;
        let mut st = db.state.lock();
        let old = std::mem::replace(&mut st.mem, Arc::new(MemTable::with_budget(opts.write_buffer_manager.clone())));
        old.freeze();
        let old_log = std::mem::replace(&mut st.mem_log_number, number);
        st.imm.push(Frozen { mem: old, log_number: old_log });
        DbInner::install_super_version(&mut st, None);
        background::maybe_schedule(db, &mut st);
        force = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Fs;
    use crate::{Db, Options, ReadOptions, WriteOptions};

    #[test]
    fn written_batches_come_back_for_reuse_within_limits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut b = db.batch_with_capacity(100_000);
        assert!(b.capacity() >= 100_000);
        for i in 0..50u32 {
            b.put(&i.to_be_bytes(), &[7u8; 1000]);
        }
        let buffer = b.data().as_ptr();
        db.write(&WriteOptions::default(), b).unwrap();
        assert_eq!(db.inner.batches.len(), 1);
        let again = db.batch_with_capacity(60_000);
        assert_eq!(again.data().as_ptr(), buffer, "the written batch's buffer is handed out again");
        assert!(again.is_empty() && again.data().len() == crate::batch::BATCH_HEADER_SIZE, "and it is empty");
        assert_eq!(db.inner.batches.len(), 0);
        // Too large to keep; and the pool holds at most POOLED_BATCHES.
        let huge = WriteBatch::with_capacity(POOLED_BATCH_MAX + 1);
        db.inner.batches.give([huge]);
        assert_eq!(db.inner.batches.len(), 0);
        db.inner.batches.give((0..POOLED_BATCHES + 5).map(|_| WriteBatch::with_capacity(64)));
        assert_eq!(db.inner.batches.len(), POOLED_BATCHES);
        assert!(db.batch_with_capacity(1 << 20).capacity() >= 1 << 20, "none large enough: a new one");
        assert_eq!(db.inner.batches.len(), POOLED_BATCHES);
        assert_eq!(db.get(&ReadOptions::default(), &7u32.to_be_bytes()).unwrap(), Some(vec![7u8; 1000]));
    }

    /// Without syncs the WAL gets no zeros ahead and has write-out started every
    /// `wal_bytes_per_sync`; after a sync it is reserved ahead as before.
    #[test]
    fn the_wal_is_written_out_as_it_grows_and_reserved_only_once_synced() {
        let fs = crate::fs::MemFs::new();
        let opts = Options { fs: Arc::new(fs.clone()), wal_bytes_per_sync: 64 << 10, ..Options::default() };
        let db = Db::open(std::path::Path::new("/db"), opts).unwrap();
        let wal = || {
            let logs: Vec<String> =
                fs.list_dir(std::path::Path::new("/db")).unwrap().into_iter().filter(|n| n.ends_with(".log")).collect();
            assert_eq!(logs.len(), 1, "{logs:?}");
            fs.file_size(&std::path::Path::new("/db").join(&logs[0])).unwrap()
        };
        let before = fs.writeback_calls();
        for i in 0..200u32 {
            let mut b = db.batch_with_capacity(0);
            b.put(&i.to_be_bytes(), &[1u8; 1000]);
            db.write(&WriteOptions::default(), b).unwrap();
        }
        let size = wal();
        assert!(size > 200_000 && size < 210_000, "no zeros ahead of an unsynced WAL: {size} bytes");
        assert_eq!(fs.writeback_calls() - before, 3, "write-out started at 64, 128 and 192 KiB");
        db.put(&WriteOptions { sync: true }, b"synced", b"x").unwrap();
        db.put(&WriteOptions::default(), b"after", b"y").unwrap();
        assert_eq!(wal() % crate::db::WAL_PREALLOCATION, 0, "reserved in steps once synced");
    }

    /// A flush filter that waits until released: holds a flush in progress.
    struct HeldFlush(Arc<(parking_lot::Mutex<bool>, Condvar)>);

    impl crate::CompactionFilterFactory for HeldFlush {
        fn create(&self, ctx: &crate::FilterContext) -> Option<Box<dyn crate::CompactionFilter>> {
            if ctx.is_flush {
                let (released, cv) = &*self.0;
                let mut r = released.lock();
                while !*r {
                    cv.wait(&mut r);
                }
            }
            None
        }
    }

    use std::future::Future;

    /// A waker that counts its wakes and unparks the thread that made it.
    struct Unpark {
        thread: std::thread::Thread,
        wakes: std::sync::atomic::AtomicUsize,
    }

    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    fn unpark_waker() -> (Arc<Unpark>, std::task::Waker) {
        let u = Arc::new(Unpark { thread: std::thread::current(), wakes: Default::default() });
        (u.clone(), std::task::Waker::from(u))
    }

    /// Polls `f` on this thread until it resolves, parking while it is pending.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let (_, waker) = unpark_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    fn put_batch(db: &Db, key: &[u8]) -> WriteBatch {
        let mut b = db.batch_with_capacity(0);
        b.put(key, b"v");
        b
    }

    /// Starts a sync-API write of `key` on its own thread; its result arrives on the
    /// receiver.
    fn write_on_thread(db: &Arc<Db>, key: &'static [u8]) -> std::sync::mpsc::Receiver<Result<()>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let db = db.clone();
        std::thread::spawn(move || {
            let b = put_batch(&db, key);
            let _ = tx.send(db.write(&WriteOptions::default(), b));
        });
        rx
    }

    /// Each of `keys` holds "v".
    fn assert_written(db: &Db, keys: &[&[u8]]) {
        for key in keys {
            assert_eq!(db.get(&ReadOptions::default(), key).unwrap(), Some(b"v".to_vec()), "{key:?}");
        }
    }

    /// Waits until `n` writers are queued.
    fn until_queued(db: &Db, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while db.inner.writers_queued.load(Ordering::Acquire) < n {
            assert!(Instant::now() < deadline, "{n} writers never queued");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn an_async_write_is_pending_behind_a_leader_and_woken_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        // Alone, it commits at once.
        let f = db.write_async(&WriteOptions::default(), put_batch(&db, b"alone"));
        assert!(format!("{f:?}").contains("ready"));
        block_on(f).unwrap();
        // Behind a leader that cannot commit yet (the log lock is held here).
        let log = db.inner.log.lock();
        let leader = write_on_thread(&db, b"leader");
        until_queued(&db, 1);
        let mut f = db.write_async(&WriteOptions::default(), put_batch(&db, b"queued"));
        let (wakes, waker) = unpark_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
        assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending(), "still queued");
        assert_eq!(wakes.wakes.load(Ordering::SeqCst), 0);
        drop(log);
        leader.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        // The leader committed it with its group, or handed it the lead: either wakes it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while wakes.wakes.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        block_on(f).unwrap();
        assert_written(&db, &[&b"alone"[..], b"leader", b"queued"]);
    }

    /// A future dropped while queued is still written, and the writers behind it are not
    /// stranded: the leader before it leads its group (with `Abandoned` unhandled, the last
    /// writer would wait for a lead that never comes).
    #[test]
    fn a_dropped_queued_write_is_committed_and_strands_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let log = db.inner.log.lock();
        let leader = write_on_thread(&db, b"a-leader");
        until_queued(&db, 1);
        let f = db.write_async(&WriteOptions::default(), put_batch(&db, b"b-dropped"));
        let behind = write_on_thread(&db, b"c-behind");
        until_queued(&db, 3);
        drop(f);
        drop(log);
        leader.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        behind.recv_timeout(Duration::from_secs(10)).expect("the writer behind was stranded").unwrap();
        assert_written(&db, &[&b"a-leader"[..], b"b-dropped", b"c-behind"]);
        assert_eq!(db.inner.writers_queued.load(Ordering::Acquire), 0);
    }

    /// A future dropped after it was made the leader, before it was polled again, leads
    /// its group in `drop`.
    #[test]
    fn a_write_dropped_after_its_turn_to_lead_came_leads_in_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let log = db.inner.log.lock();
        let leader = write_on_thread(&db, b"a-leader");
        until_queued(&db, 1);
        let mut f = db.write_async(&WriteOptions::default(), put_batch(&db, b"b-handed"));
        // Polled once: its task is waiting for it, so the lead will pass to it.
        let (_, waker) = unpark_waker();
        assert!(std::pin::Pin::new(&mut f).poll(&mut std::task::Context::from_waker(&waker)).is_pending());
        let behind = write_on_thread(&db, b"c-behind");
        until_queued(&db, 3);
        drop(log);
        leader.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        // The lead is now `f`'s, and `behind` waits for it.
        assert!(behind.recv_timeout(Duration::from_millis(50)).is_err(), "nobody leads until f is polled or dropped");
        drop(f);
        behind.recv_timeout(Duration::from_secs(10)).expect("the writer behind was stranded").unwrap();
        assert_written(&db, &[&b"a-leader"[..], b"b-handed", b"c-behind"]);
    }

    /// Two tasks each hold a write to two databases and await them in opposite orders,
    /// each first awaiting the write queued behind the other's unpolled one. Were the lead
    /// handed to an unpolled write, neither would ever be committed.
    #[test]
    fn writes_awaited_one_after_another_in_opposite_orders_do_not_deadlock() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let dbs: Vec<Arc<Db>> =
            dirs.iter().map(|d| Arc::new(Db::open(d.path(), Options::default()).unwrap())).collect();
        let logs: Vec<_> = dbs.iter().map(|db| db.inner.log.lock()).collect();
        let leaders = [write_on_thread(&dbs[0], b"leader"), write_on_thread(&dbs[1], b"leader")];
        until_queued(&dbs[0], 1);
        until_queued(&dbs[1], 1);
        let w = WriteOptions::default();
        // Queues: db 0 [leader, b0, a0], db 1 [leader, a1, b1].
        let a1 = dbs[1].write_async(&w, put_batch(&dbs[1], b"a"));
        let b0 = dbs[0].write_async(&w, put_batch(&dbs[0], b"b"));
        let a0 = dbs[0].write_async(&w, put_batch(&dbs[0], b"a"));
        let b1 = dbs[1].write_async(&w, put_batch(&dbs[1], b"b"));
        let (tx, rx) = std::sync::mpsc::channel();
        for (first, second) in [(a0, a1), (b1, b0)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let r = block_on(async move { first.await.and(second.await) });
                let _ = tx.send(r);
            });
        }
        // Both tasks are waiting on their first write before the leaders go on.
        std::thread::sleep(Duration::from_millis(20));
        drop(logs);
        for l in leaders {
            l.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        }
        for _ in 0..2 {
            rx.recv_timeout(Duration::from_secs(10)).expect("deadlocked").unwrap();
        }
        for db in &dbs {
            assert_written(db, &[&b"a"[..], b"b", b"leader"]);
        }
    }

    #[test]
    fn async_and_blocking_writers_together_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { write_buffer_size: 64 << 10, ..Options::default() };
        let db = Arc::new(Db::open(dir.path(), opts).unwrap());
        let threads: Vec<_> = (0..6u32)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..300u32 {
                        let mut b = db.batch_with_capacity(0);
                        b.put(format!("{t}-{i:04}").as_bytes(), &[t as u8; 200]);
                        if t % 2 == 0 {
                            block_on(db.write_async(&WriteOptions::default(), b)).unwrap();
                        } else {
                            db.write(&WriteOptions::default(), b).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(db.inner.writers_queued.load(Ordering::Acquire), 0);
        for t in 0..6u32 {
            for i in 0..300u32 {
                let got = db.get(&ReadOptions::default(), format!("{t}-{i:04}").as_bytes()).unwrap();
                assert_eq!(got, Some(vec![t as u8; 200]), "{t}-{i}");
            }
        }
    }

    #[test]
    fn an_async_write_to_a_closed_database_fails() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let b = put_batch(&db, b"k");
        db.close().unwrap();
        assert!(matches!(block_on(db.write_async(&WriteOptions::default(), b)), Err(Error::Closed)));
    }

    #[test]
    fn writes_may_stall_while_the_frozen_memtables_are_at_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Arc::new((parking_lot::Mutex::new(false), Condvar::new()));
        let opts = Options {
            write_buffer_size: 64 << 10,
            max_immutable_memtables: 1,
            compaction_filter_factory: Some(Arc::new(HeldFlush(gate.clone()))),
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts).unwrap();
        assert!(!db.writes_may_stall());
        // Until the memtable is frozen (its flush held): then a switch would wait. (Writing
        // on would fill the next memtable and stop at the held flush.)
        let mut written = 0u32;
        while !db.writes_may_stall() && written < 1000 {
            db.put(&WriteOptions::default(), &written.to_be_bytes(), &[0u8; 1000]).unwrap();
            written += 1;
        }
        assert!(written > 1 && written < 1000, "{written} writes");
        assert!(db.writes_may_stall(), "a frozen memtable at the limit and its flush not done");
        *gate.0.lock() = true;
        gate.1.notify_all();
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.writes_may_stall() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!db.writes_may_stall(), "the flush finished");
    }

    #[test]
    fn concurrent_groups_are_written_whole_and_the_queue_accounting_returns_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let threads: Vec<_> = (0..6u32)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for round in 0..40u32 {
                        // Large batches (past YIELD_MAX_BYTES_AHEAD once a few queue) and small
                        // ones, each of many keys in random order, some twice.
                        let mut b = db.batch_with_capacity(0);
                        let n = if round % 4 == 0 { 200 } else { 12 };
                        for i in 0..n {
                            let k = (i * 7919 + round * 31 + t) % 500;
                            b.put(format!("k{k:04}").as_bytes(), format!("{t}/{round}/{i}").as_bytes());
                        }
                        b.put(b"last", format!("{t}/{round}").as_bytes());
                        b.delete(format!("gone{t}").as_bytes());
                        db.write(&WriteOptions::default(), b).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let q = db.inner.writers.lock();
        assert!(q.queue.is_empty());
        assert_eq!(q.queued_bytes, 0);
        drop(q);
        // Within a batch a later put of a key wins over an earlier one, sorted insert or not.
        let mut b = db.batch_with_capacity(0);
        for i in 0..20u32 {
            b.put(b"dup", &i.to_be_bytes());
        }
        b.delete(b"k0000");
        db.write(&WriteOptions::default(), b).unwrap();
        assert_eq!(db.get(&ReadOptions::default(), b"dup").unwrap(), Some(19u32.to_be_bytes().to_vec()));
        assert_eq!(db.get(&ReadOptions::default(), b"k0000").unwrap(), None);
        assert!(db.get(&ReadOptions::default(), b"last").unwrap().is_some());
    }
}
