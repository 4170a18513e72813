//! What one thread of each benchmark does, as RocksDB's `db_bench` does it.
//!
//! Every function runs a timed loop on the calling thread and returns its [`ThreadStats`].
//! Writes go one key per [`WriteBatch`] through [`Db::write`] (db_bench's default
//! `batch_size=1`); reads use default [`ReadOptions`]. Key numbers come from the thread's own
//! [`Rng`], uniform over `[0, num)`.

use std::sync::atomic::{AtomicBool, Ordering};

use engine::{Db, ReadOptions, WriteBatch, WriteOptions};

use crate::error::{BenchError, Result};
use crate::keys::fill_key;
use crate::progress::{Progress, TICK};
use crate::random::{Rng, ValueGen};
use crate::report::ThreadStats;

/// What every thread of a benchmark shares.
#[derive(Debug, Clone, Copy)]
pub struct Shared<'a> {
    /// The database.
    pub db: &'a Db,
    /// Size of the key space: random keys are uniform over `[0, num)`.
    pub key_space: u64,
    /// Key size in bytes.
    pub key_size: usize,
    /// Value size in bytes.
    pub value_size: usize,
    /// Record per-op latencies.
    pub histogram: bool,
    /// The progress bar.
    pub progress: &'a Progress,
}

/// One thread's own sources: its key generator and its value cursor.
#[derive(Debug)]
pub struct ThreadInput {
    /// Picks random key numbers.
    pub rng: Rng,
    /// Produces values.
    pub values: ValueGen,
}

/// How a write benchmark picks its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrder {
    /// 0, 1, 2, ... (fillseq).
    Sequential,
    /// Uniform over the key space (fillrandom, overwrite, fillsync).
    Random,
}

/// Counts one op on the progress bar every [`TICK`] ops.
#[inline]
fn tick(shared: &Shared<'_>, st: &ThreadStats) {
    if st.done.is_multiple_of(TICK) {
        shared.progress.inc(TICK);
    }
}

/// Writes `ops` keys, one per batch.
pub fn write(
    shared: &Shared<'_>,
    input: &mut ThreadInput,
    order: KeyOrder,
    ops: u64,
    sync: bool,
) -> Result<ThreadStats> {
    let wo = WriteOptions { sync };
    let mut key = vec![0u8; shared.key_size];
    let mut st = ThreadStats::start(shared.histogram);
    for i in 0..ops {
        let began = st.op_clock();
        let k = match order {
            KeyOrder::Sequential => i,
            KeyOrder::Random => input.rng.uniform(shared.key_space),
        };
        fill_key(k, &mut key);
        let value = input.values.generate(shared.value_size);
        let mut batch = WriteBatch::new();
        batch.put(&key, value);
        st.bytes += (key.len() + value.len()) as u64;
        shared.db.write(&wo, batch).map_err(|e| BenchError::engine(format!("write of key number {k}"), e))?;
        st.op_done(began);
        tick(shared, &st);
    }
    st.stop();
    Ok(st)
}

/// Deletes `ops` random keys, one per batch.
pub fn delete_random(shared: &Shared<'_>, input: &mut ThreadInput, ops: u64, sync: bool) -> Result<ThreadStats> {
    let wo = WriteOptions { sync };
    let mut key = vec![0u8; shared.key_size];
    let mut st = ThreadStats::start(shared.histogram);
    for _ in 0..ops {
        let began = st.op_clock();
        let k = input.rng.uniform(shared.key_space);
        fill_key(k, &mut key);
        let mut batch = WriteBatch::new();
        batch.delete(&key);
        shared.db.write(&wo, batch).map_err(|e| BenchError::engine(format!("delete of key number {k}"), e))?;
        st.op_done(began);
        tick(shared, &st);
    }
    st.stop();
    Ok(st)
}

/// Point-reads `ops` random keys, counting those found.
pub fn read_random(shared: &Shared<'_>, input: &mut ThreadInput, ops: u64) -> Result<ThreadStats> {
    let ro = ReadOptions::default();
    let mut key = vec![0u8; shared.key_size];
    let mut found = 0;
    let mut st = ThreadStats::start(shared.histogram);
    for _ in 0..ops {
        let began = st.op_clock();
        let k = input.rng.uniform(shared.key_space);
        fill_key(k, &mut key);
        if let Some(v) =
            shared.db.get(&ro, &key).map_err(|e| BenchError::engine(format!("get of key number {k}"), e))?
        {
            found += 1;
            st.bytes += (key.len() + v.len()) as u64;
        }
        st.op_done(began);
        tick(shared, &st);
    }
    st.stop();
    st.found = Some((found, ops));
    Ok(st)
}

/// Scans up to `ops` entries from the first key forward, or from the last key backward.
pub fn read_scan(shared: &Shared<'_>, ops: u64, forward: bool) -> Result<ThreadStats> {
    let ro = ReadOptions::default();
    let ctx = || if forward { "forward scan" } else { "reverse scan" };
    let mut st = ThreadStats::start(shared.histogram);
    let mut it = shared.db.iter(&ro).map_err(|e| BenchError::engine(ctx(), e))?;
    let mut began = st.op_clock();
    if forward {
        it.seek_to_first();
    } else {
        it.seek_to_last();
    }
    while it.valid() && st.done < ops {
        st.bytes += (it.key().len() + it.value().len()) as u64;
        st.op_done(began);
        tick(shared, &st);
        began = st.op_clock();
        if forward {
            it.next();
        } else {
            it.prev();
        }
    }
    it.status().map_err(|e| BenchError::engine(ctx(), e))?;
    st.stop();
    Ok(st)
}

/// Seeks one iterator to `ops` random keys (RocksDB's `seekrandom` with `seek_nexts=0`:
/// one iterator per thread, not refreshed), counting seeks that land on the key itself.
pub fn seek_random(shared: &Shared<'_>, input: &mut ThreadInput, ops: u64) -> Result<ThreadStats> {
    let ro = ReadOptions::default();
    let mut key = vec![0u8; shared.key_size];
    let mut found = 0;
    let mut st = ThreadStats::start(shared.histogram);
    let mut it = shared.db.iter(&ro).map_err(|e| BenchError::engine("iterator for seekrandom", e))?;
    for _ in 0..ops {
        let began = st.op_clock();
        let k = input.rng.uniform(shared.key_space);
        fill_key(k, &mut key);
        it.seek(&key);
        if it.valid() && it.key() == key.as_slice() {
            found += 1;
        }
        it.status().map_err(|e| BenchError::engine(format!("seek to key number {k}"), e))?;
        st.op_done(began);
        tick(shared, &st);
    }
    st.stop();
    st.found = Some((found, ops));
    Ok(st)
}

/// The writer of `readwhilewriting`: random single-key writes until `stop` is set.
/// Its stats are not part of the report (RocksDB reports the readers).
pub fn write_until(shared: &Shared<'_>, input: &mut ThreadInput, stop: &AtomicBool) -> Result<u64> {
    let wo = WriteOptions::default();
    let mut key = vec![0u8; shared.key_size];
    let mut written = 0;
    // Acquire pairs with the readers' Release store: nothing else is published through it,
    // so Relaxed would do; Acquire keeps the intent plain.
    while !stop.load(Ordering::Acquire) {
        let k = input.rng.uniform(shared.key_space);
        fill_key(k, &mut key);
        let mut batch = WriteBatch::new();
        batch.put(&key, input.values.generate(shared.value_size));
        shared
            .db
            .write(&wo, batch)
            .map_err(|e| BenchError::engine(format!("background write of key number {k}"), e))?;
        written += 1;
    }
    Ok(written)
}
