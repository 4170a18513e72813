//! Machine crashes at random moments, on `MemFs`: a writer thread runs one global sequence
//! of puts, deletes and batches with `sync = false` (and an occasional `sync = true`) while
//! flushes and compactions run; another thread calls `fs.crash()` (unsynced bytes and
//! directory entries are dropped) at a random point. After reopening, the state must equal
//! the state after *some prefix* of the writes — no holes, batches all or nothing — and the
//! prefix must reach the last acknowledged synced write. The process-crash variant
//! (`kill_process`) must keep every acknowledged write. Each seed runs three crash rounds on
//! the same database.
//!
//! `ENGINE_TEST_SEEDS=1,2,3` picks the seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{key, seeds, small_options, Rng};
use engine::{Db, Fs, MemFs, ReadOptions, WriteBatch, WriteOptions};

const KEYS: u64 = 200;
const OPS_PER_ROUND: u64 = 2500;
const ROUNDS: u64 = 3;

/// One write of the global sequence: `(key index, Some(value id) | None for a delete)`.
/// A batch has several entries; the value id is the global op number.
type Op = Vec<(u64, Option<u64>)>;

fn value(id: u64, pad: u64) -> Vec<u8> {
    let mut v = format!("op{id:08}|").into_bytes();
    v.resize(v.len() + pad as usize, b'.');
    v
}

fn value_id(v: &[u8]) -> u64 {
    std::str::from_utf8(&v[2..10]).unwrap().parse().unwrap()
}

fn open(fs: &MemFs) -> Db {
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    Db::open("/db", small_options(dynfs)).unwrap_or_else(|e| panic!("reopen after crash: {e}"))
}

/// What the writer got done before the crash stopped it.
struct Outcome {
    /// Every op attempted, in order (the last may have failed: it is "in flight").
    ops: Vec<Op>,
    /// Ops acknowledged (a prefix of `ops`).
    acked: usize,
    /// Ops up to and including the last acknowledged `sync = true` write.
    synced: usize,
}

fn writer(db: &Db, rng: &mut Rng, first_id: u64, progress: &AtomicU64) -> Outcome {
    let mut out = Outcome { ops: Vec::new(), acked: 0, synced: 0 };
    for n in 0..OPS_PER_ROUND {
        let id = first_id + n;
        let dice = rng.below(100);
        let width = if dice < 15 { 2 + rng.below(6) } else { 1 };
        let mut op: Op = Vec::new();
        while (op.len() as u64) < width {
            let k = rng.below(KEYS);
            if op.iter().all(|(j, _)| *j != k) {
                op.push((k, if rng.chance(20) { None } else { Some(id) }));
            }
        }
        let mut batch = WriteBatch::new();
        for (k, v) in &op {
            match v {
                Some(id) => batch.put(&key(*k), &value(*id, rng.below(120))),
                None => batch.delete(&key(*k)),
            }
        }
        let sync = rng.chance(2);
        out.ops.push(op);
        if db.write(&WriteOptions { sync }, batch).is_err() {
            break; // the crash killed our handles; this op is in flight
        }
        out.acked = out.ops.len();
        if sync {
            out.synced = out.acked;
        }
        // Only a progress report for the crashing thread: Relaxed suffices.
        progress.store(n + 1, Ordering::Relaxed);
    }
    out
}

fn read_state(db: &Db) -> Vec<Option<u64>> {
    let ro = ReadOptions::default();
    let got: Vec<Option<u64>> = (0..KEYS).map(|k| db.get(&ro, &key(k)).unwrap().map(|v| value_id(&v))).collect();
    // A scan agrees with the point reads.
    let mut it = db.iter(&ro).unwrap();
    it.seek_to_first();
    let mut scanned = vec![None; KEYS as usize];
    while it.valid() {
        let k: usize = std::str::from_utf8(&it.key()[3..]).unwrap().parse().unwrap();
        scanned[k] = Some(value_id(it.value()));
        it.next();
    }
    it.status().unwrap();
    assert_eq!(got, scanned, "scan and point reads disagree");
    got
}

/// The prefix lengths `p` of `ops` for which `base` followed by `ops[..p]` gives `recovered`.
fn matching_prefixes(base: &[Option<u64>], ops: &[Op], recovered: &[Option<u64>]) -> Vec<usize> {
    let mut model = base.to_vec();
    let mut mismatched = model.iter().zip(recovered).filter(|(m, r)| m != r).count();
    let mut out = Vec::new();
    if mismatched == 0 {
        out.push(0);
    }
    for (i, op) in ops.iter().enumerate() {
        for (k, v) in op {
            let k = *k as usize;
            mismatched -= usize::from(model[k] != recovered[k]);
            model[k] = *v;
            mismatched += usize::from(model[k] != recovered[k]);
        }
        if mismatched == 0 {
            out.push(i + 1);
        }
    }
    out
}

/// One seed: `ROUNDS` times, write while another thread crashes the fs at a random point,
/// reopen, check. `machine` picks `crash()` (else `kill_process()`).
fn run_seed(seed: u64, machine: bool) {
    let mut rng = Rng::new(seed);
    let mut fs = MemFs::new();
    let mut base = vec![None; KEYS as usize];
    for round in 0..ROUNDS {
        let db = open(&fs);
        assert_eq!(read_state(&db), base, "seed {seed} round {round}: reopen without a crash changed the state");
        let crash_at = rng.below(OPS_PER_ROUND);
        let progress = AtomicU64::new(0);
        let mut wrng = Rng::new(rng.next_u64());
        let first_id = round * OPS_PER_ROUND;
        let (outcome, next_fs) = std::thread::scope(|s| {
            let w = s.spawn(|| writer(&db, &mut wrng, first_id, &progress));
            while progress.load(Ordering::Relaxed) < crash_at && !w.is_finished() {
                std::thread::yield_now();
            }
            let next = if machine { fs.crash() } else { fs.kill_process() };
            (w.join().unwrap(), next)
        });
        drop(db); // its handles are dead; closing may report errors, which we ignore
        fs = next_fs;
        let db = open(&fs);
        let recovered = read_state(&db);
        let prefixes = matching_prefixes(&base, &outcome.ops, &recovered);
        let must_reach = if machine { outcome.synced } else { outcome.acked };
        assert!(
            prefixes.iter().any(|&p| p >= must_reach),
            "seed {seed} round {round} (machine crash {machine}): recovered state is the result of prefixes \
             {prefixes:?} of {} ops ({} acked, {} synced), none reaching {must_reach}",
            outcome.ops.len(),
            outcome.acked,
            outcome.synced
        );
        db.close().unwrap();
        base = recovered;
    }
}

#[test]
fn machine_crash_recovers_a_prefix_of_the_writes() {
    for seed in seeds(&(1..=12).collect::<Vec<_>>()) {
        run_seed(seed, true);
    }
}

#[test]
fn process_crash_keeps_every_acknowledged_write() {
    for seed in seeds(&(101..=104).collect::<Vec<_>>()) {
        run_seed(seed, false);
    }
}

/// The checker itself: a hole (a later write present, an earlier one missing) matches no
/// prefix, and a half batch matches none either.
#[test]
fn prefix_checker_rejects_holes_and_half_batches() {
    let base = vec![None; 4];
    let ops: Vec<Op> = vec![vec![(0, Some(1))], vec![(1, Some(2))], vec![(2, Some(3)), (3, Some(3))]];
    assert_eq!(matching_prefixes(&base, &ops, &[Some(1), Some(2), None, None]), vec![2]);
    assert!(matching_prefixes(&base, &ops, &[None, Some(2), None, None]).is_empty(), "hole");
    assert!(matching_prefixes(&base, &ops, &[Some(1), Some(2), Some(3), None]).is_empty(), "half batch");
    assert_eq!(matching_prefixes(&base, &ops, &[Some(1), Some(2), Some(3), Some(3)]), vec![3]);
}
