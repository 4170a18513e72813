//! The write path: group commit, the WAL, memtable inserts, memtable switches and stalls.
//!
//! # Steps of a write, in fsync order
//! 1. The writer joins the queue (`writers` lock). The writer at the front is the *leader*;
//!    the others sleep until the leader has committed them or they reach the front.
//! 2. The leader takes the `log` lock and makes room: it may wait for a flush (too many
//!    frozen memtables), wait for compaction (level 0 at the stop trigger), sleep a
//!    millisecond (level 0 at the slowdown trigger), or freeze the memtable and start a new
//!    WAL (the old WAL is fsync'd first, so a later WAL never survives a crash that an
//!    earlier one's tail does not).
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
use std::sync::atomic::Ordering;
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

/// One waiting writer.
pub(crate) struct Slot {
    /// The batch, taken by the leader; `None` for a forced memtable switch.
    batch: Mutex<Option<WriteBatch>>,
    sync: bool,
    force_switch: bool,
    result: Mutex<Option<Result<()>>>,
    cv: Condvar,
}

/// The group-commit queue, guarded by `DbInner::writers`.
#[derive(Default)]
pub(crate) struct WriteQueue {
    queue: VecDeque<Arc<Slot>>,
    /// Size of the last group that was fsync'd.
    last_sync_group: usize,
    /// A sync leader is waiting for its group to fill (`writers_grew` wakes it).
    leader_waiting: bool,
}

/// Writes `batch` (or, with `force_switch`, freezes the memtable) through the group commit.
pub(crate) fn write(db: &Arc<DbInner>, sync: bool, batch: Option<WriteBatch>, force_switch: bool) -> Result<()> {
    db.check_open()?;
    let slot =
        Arc::new(Slot { batch: Mutex::new(batch), sync, force_switch, result: Mutex::new(None), cv: Condvar::new() });
    let mut q = db.writers.lock();
    q.queue.push_back(slot.clone());
    if q.leader_waiting {
        db.writers_grew.notify_one();
    }
    loop {
        if let Some(r) = slot.result.lock().take() {
            return r;
        }
        if q.queue.front().is_some_and(|f| Arc::ptr_eq(f, &slot)) {
            break;
        }
        slot.cv.wait(&mut q);
    }
    // A sync leader waits a moment for the writers of the previous sync group: they return
    // together when its fsync ends, and without the wait groups alternate between one
    // writer and all the others, halving what group commit saves.
    if slot.sync && !slot.force_switch && q.last_sync_group > 1 {
        let deadline = Instant::now() + SYNC_GROUP_WAIT;
        q.leader_waiting = true;
        while q.queue.len() < q.last_sync_group {
            if db.writers_grew.wait_until(&mut q, deadline).timed_out() {
                break;
            }
        }
        q.leader_waiting = false;
    }
    // Leader: gather the group. Only the front writer may force a memtable switch, alone.
    let mut group: Vec<Arc<Slot>> = Vec::new();
    let mut bytes = 0usize;
    for s in q.queue.iter() {
        if !group.is_empty() {
            if s.force_switch || group[0].force_switch || (s.sync && !slot.sync) {
                break;
            }
            let sz = s.batch.lock().as_ref().map_or(0, WriteBatch::approximate_size);
            if bytes + sz > MAX_GROUP_BYTES {
                break;
            }
            bytes += sz;
        } else {
            bytes += s.batch.lock().as_ref().map_or(0, WriteBatch::approximate_size);
        }
        group.push(s.clone());
    }
    if group.iter().any(|s| s.sync) {
        q.last_sync_group = group.len();
    }
    drop(q);

    let result = commit_group(db, &group);

    let mut q = db.writers.lock();
    for s in &group {
        q.queue.pop_front();
        if !Arc::ptr_eq(s, &slot) {
            *s.result.lock() = Some(result.clone());
        }
    }
    let next = q.queue.front().cloned();
    drop(q);
    // Wake outside the lock, so the woken writers do not block on it at once. Safe: a
    // writer checks its result under the lock before it waits, so it either sees the result
    // or is already waiting and gets this notification.
    for s in group.iter().filter(|s| !Arc::ptr_eq(s, &slot)) {
        s.cv.notify_one();
    }
    if let Some(front) = next {
        front.cv.notify_one();
    }
    result
}

fn commit_group(db: &Arc<DbInner>, group: &[Arc<Slot>]) -> Result<()> {
    let mut log = db.log.lock();
    let force = group.first().is_some_and(|s| s.force_switch);
    make_room(db, &mut log, force)?;
    if force {
        return Ok(());
    }
    let mut batches: Vec<WriteBatch> = group.iter().filter_map(|s| s.batch.lock().take()).collect();
    let sync = group.iter().any(|s| s.sync);
    let mut merged;
    let batch: &mut WriteBatch = if batches.len() == 1 {
        &mut batches[0]
    } else {
        merged = WriteBatch::new();
        for b in &batches {
            merged.append(b);
        }
        &mut merged
    };
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

/// Inserts every operation of `batch` into `mem` with consecutive sequence numbers from
/// `seq`. Returns the bytes of keys and values inserted.
pub(crate) fn insert_batch(mem: &MemTable, batch: &WriteBatch, mut seq: u64) -> Result<u64> {
    let mut bytes = 0u64;
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
        if !force && st.mem.approximate_memory_usage() < opts.write_buffer_size {
            return Ok(());
        }
        if st.imm.len() >= opts.max_immutable_memtables || l0 >= opts.l0_stop_trigger {
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
            Ok(crate::wal::Writer::new(f, path.clone()).with_preallocation(super::WAL_PREALLOCATION))
        })();
        let writer = match switched {
            Ok(w) => w,
            Err(e) => return Err(background::set_bg_error(db, e)),
        };
        log.writer = Some(writer);
        log.number = number;
        let mut st = db.state.lock();
        let old = std::mem::replace(&mut st.mem, Arc::new(MemTable::new()));
        let old_log = std::mem::replace(&mut st.mem_log_number, number);
        st.imm.push(Frozen { mem: old, log_number: old_log });
        DbInner::install_super_version(&mut st, None);
        background::maybe_schedule(db, &mut st);
        force = false;
    }
}
