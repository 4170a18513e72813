//! A randomized model test: long random sequences of operations checked against a BTreeMap.
//! Seeds: a fixed list, or `ENGINE_TEST_SEEDS=1,2,3` from the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use common::{key, mem_fs, seeds, small_options, Rng};
use engine::{Db, DbIterator, ReadOptions, Snapshot, WriteBatch, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const KEYS: u64 = 400;

fn steps() -> usize {
    std::env::var("ENGINE_TEST_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(2500)
}

fn check_get(db: &Db, model: &Model, snap: Option<&Snapshot>, k: &[u8], ctx: &str) {
    let ro = ReadOptions { snapshot: snap.cloned(), ..Default::default() };
    let got = db.get(&ro, k).unwrap();
    assert_eq!(got.as_deref(), model.get(k).map(|v| v.as_slice()), "{ctx}: get {}", String::from_utf8_lossy(k));
}

fn bounds(rng: &mut Rng) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let lo = rng.chance(40).then(|| key(rng.below(KEYS)));
    let hi = rng.chance(40).then(|| key(rng.below(KEYS)));
    (lo, hi)
}

fn expected(model: &Model, lo: &Option<Vec<u8>>, hi: &Option<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    if let (Some(l), Some(h)) = (lo, hi) {
        if l >= h {
            return Vec::new();
        }
    }
    let lb = lo.as_ref().map_or(Bound::Unbounded, |l| Bound::Included(l.clone()));
    let ub = hi.as_ref().map_or(Bound::Unbounded, |h| Bound::Excluded(h.clone()));
    model.range((lb, ub)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn collect_forward(it: &mut DbIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

fn collect_backward(it: &mut DbIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    out.reverse();
    out
}

fn check_iter(db: &Db, model: &Model, snap: Option<&Snapshot>, rng: &mut Rng, ctx: &str) {
    let (lo, hi) = bounds(rng);
    let ro =
        ReadOptions { snapshot: snap.cloned(), lower_bound: lo.clone(), upper_bound: hi.clone(), ..Default::default() };
    let want = expected(model, &lo, &hi);
    let mut it = db.iter(&ro).unwrap();
    assert_eq!(collect_forward(&mut it), want, "{ctx}: forward scan lo={lo:?} hi={hi:?}");
    assert_eq!(collect_backward(&mut it), want, "{ctx}: backward scan");
    // Random seek then a mix of next/prev.
    let target = key(rng.below(KEYS + 10));
    let mut pos = want.partition_point(|(k, _)| k < &target) as i64;
    it.seek(&target);
    for step in 0..20 {
        let expect = usize::try_from(pos).ok().and_then(|p| want.get(p));
        match expect {
            Some((k, v)) => {
                assert!(it.valid(), "{ctx}: step {step} expected {k:?}");
                assert_eq!((it.key(), it.value()), (k.as_slice(), v.as_slice()), "{ctx}: step {step}");
            }
            None => {
                assert!(!it.valid(), "{ctx}: step {step} expected end, got {:?}", it.key());
                break;
            }
        }
        if rng.chance(50) {
            it.next();
            pos += 1;
        } else {
            it.prev();
            pos -= 1;
        }
    }
    it.status().unwrap();
}

fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let (_memfs, fs) = mem_fs();
    let dir = Path::new("/db");
    let mut opts = small_options(fs);
    opts.compression = if seed % 2 == 0 { engine::Compression::Lz4 } else { engine::Compression::None };
    opts.bloom_bits_per_key = if seed % 3 == 0 { 0 } else { 10 };
    if seed % 4 == 1 {
        // A shared budget under the write buffer: memtables are frozen early, by the budget.
        opts.write_buffer_manager = Some(std::sync::Arc::new(engine::WriteBufferManager::new(512)));
    }
    let mut db = Db::open(dir, opts.clone()).unwrap();
    let mut model = Model::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let wo = WriteOptions::default();
    let mut flushes = 0;
    let mut budget_flushes = 0;
    for step in 0..steps() {
        let ctx = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=39 => {
                let k = key(rng.below(KEYS));
                let len = rng.below(120) as usize;
                let v = rng.bytes(len);
                db.put(&wo, &k, &v).unwrap();
                model.insert(k, v);
            }
            40..=49 => {
                let k = key(rng.below(KEYS));
                db.delete(&wo, &k).unwrap();
                model.remove(&k);
            }
            50..=57 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.below(20) {
                    let k = key(rng.below(KEYS));
                    if rng.chance(70) {
                        let len = rng.below(50) as usize;
                        let v = rng.bytes(len);
                        b.put(&k, &v);
                        model.insert(k, v);
                    } else {
                        b.delete(&k);
                        model.remove(&k);
                    }
                }
                db.write(&wo, b).unwrap();
            }
            58..=72 => {
                let k = key(rng.below(KEYS + 10));
                check_get(&db, &model, None, &k, &ctx);
            }
            73..=76 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                } else {
                    snaps.remove(rng.below(snaps.len() as u64) as usize);
                }
            }
            77..=82 => {
                if let Some((s, m)) = snaps.get(rng.below(snaps.len().max(1) as u64) as usize) {
                    let k = key(rng.below(KEYS));
                    check_get(&db, m, Some(s), &k, &format!("{ctx} (snapshot)"));
                    if rng.chance(30) {
                        check_iter(&db, m, Some(s), &mut rng, &format!("{ctx} (snapshot)"));
                    }
                }
            }
            83..=89 => check_iter(&db, &model, None, &mut rng, &ctx),
            90..=93 => db.flush().unwrap(),
            94..=95 => {
                let a = rng.chance(50).then(|| key(rng.below(KEYS)));
                let b = rng.chance(50).then(|| key(rng.below(KEYS)));
                db.compact_range(a.as_deref(), b.as_deref()).unwrap();
            }
            _ => {
                // Reopen: snapshots do not survive.
                snaps.clear();
                flushes += db.stats().flushes;
                budget_flushes += db.stats().budget_flushes;
                db.close().unwrap();
                drop(db);
                db = Db::open(dir, opts.clone()).unwrap();
                check_iter(&db, &model, None, &mut rng, &format!("{ctx} (after reopen)"));
            }
        }
    }
    db.wait_for_compactions().unwrap();
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    assert_eq!(collect_forward(&mut it), model.into_iter().collect::<Vec<_>>(), "seed {seed}: final state");
    flushes += db.stats().flushes;
    budget_flushes += db.stats().budget_flushes;
    assert!(flushes > 0, "seed {seed}: the workload must flush");
    assert_eq!(budget_flushes > 0, opts.write_buffer_manager.is_some(), "seed {seed}: flushes for the budget");
}

#[test]
fn random_operations_match_a_btreemap() {
    for seed in seeds(&[1, 2, 3, 4, 5, 6]) {
        run(seed);
    }
}
