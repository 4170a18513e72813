//! Recovery through the `Fs` seam: torn WAL tails, crashes at every step of flush and
//! compaction (simulated by a fault at step n followed by dropping unsynced data), and
//! damaged CURRENT / MANIFEST files reported clearly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{key, small_options};
use engine::{Db, Error, FaultOp, Fs, MemFs, Options, ReadOptions, WriteOptions};

const DIR: &str = "/db";

fn open(fs: &MemFs) -> engine::Result<Db> {
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    Db::open(DIR, small_options(dynfs))
}

fn value(i: u64, round: u64) -> Vec<u8> {
    format!("value-{i}-{round}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn present(db: &Db, n: u64, round: u64) -> Vec<bool> {
    (0..n).map(|i| db.get(&ReadOptions::default(), &key(i)).unwrap() == Some(value(i, round))).collect()
}

#[test]
fn process_crash_keeps_every_unsynced_write() {
    let fs = MemFs::new();
    let db = open(&fs).unwrap();
    for i in 0..3000 {
        db.put(&WriteOptions::default(), &key(i), &value(i, 0)).unwrap();
    }
    let fs = fs.kill_process();
    drop(db);
    let db = open(&fs).unwrap();
    assert!(present(&db, 3000, 0).into_iter().all(|p| p), "a process crash loses nothing acknowledged");
}

#[test]
fn machine_crash_with_sync_keeps_every_write() {
    let fs = MemFs::new();
    let db = open(&fs).unwrap();
    for i in 0..500 {
        db.put(&WriteOptions { sync: true }, &key(i), &value(i, 0)).unwrap();
    }
    let fs = fs.crash();
    drop(db);
    let db = open(&fs).unwrap();
    assert!(present(&db, 500, 0).into_iter().all(|p| p));
}

#[test]
fn machine_crash_without_sync_recovers_a_prefix() {
    for cut in [0u64, 1, 7, 100, 999] {
        let fs = MemFs::new();
        let db = open(&fs).unwrap();
        for i in 0..2000 {
            // Every `cut`-th write is synced: everything up to it must survive.
            let sync = cut > 0 && i == cut;
            db.put(&WriteOptions { sync }, &key(i), &value(i, 0)).unwrap();
        }
        let fs = fs.crash();
        drop(db);
        let db = open(&fs).unwrap();
        let p = present(&db, 2000, 0);
        let k = p.iter().take_while(|x| **x).count();
        assert!(p[k..].iter().all(|x| !x), "cut {cut}: recovered state has a hole after {k}");
        if cut > 0 {
            assert!(k as u64 > cut, "cut {cut}: synced write lost (prefix {k})");
        }
    }
}

#[test]
fn torn_wal_tail_is_accepted_and_corruption_elsewhere_is_reported() {
    let fs = MemFs::new();
    {
        let db = open(&fs).unwrap();
        for i in 0..100 {
            db.put(&WriteOptions::default(), &key(i), &value(i, 0)).unwrap();
        }
    }
    let fs = fs.kill_process();
    let logs: Vec<String> = fs.list_dir(Path::new(DIR)).unwrap().into_iter().filter(|n| n.ends_with(".log")).collect();
    let log = Path::new(DIR).join(logs.last().unwrap());
    // The WAL is preallocated: its records end at its last non-zero byte.
    let bytes = engine::fs::read_all(&fs, &log).unwrap();
    let len = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    assert!(len > 100, "the WAL holds the writes");
    // A torn tail: cut the last record in half.
    fs.corrupt(&log, |b| b.truncate(len - 20)).unwrap();
    {
        let db = open(&fs).unwrap();
        let p = present(&db, 100, 0);
        assert_eq!(p.iter().filter(|x| **x).count(), 99, "only the torn record is lost");
        assert!(!p[99]);
    }
    // Damage in the middle of a WAL with valid records after it is an error naming the file.
    let fs2 = MemFs::new();
    {
        let db = open(&fs2).unwrap();
        for i in 0..100 {
            db.put(&WriteOptions::default(), &key(i), &value(i, 0)).unwrap();
        }
    }
    let fs2 = fs2.kill_process();
    let logs: Vec<String> = fs2.list_dir(Path::new(DIR)).unwrap().into_iter().filter(|n| n.ends_with(".log")).collect();
    let log = Path::new(DIR).join(logs.last().unwrap());
    fs2.corrupt(&log, |b| b[200] ^= 0x40).unwrap();
    let err = open(&fs2).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains(".log"), "{err}");
}

/// Runs `work` with a fault injected into the `n`th operation of `op` for n = 0, 1, ...
/// then crashes, reopens without faults and checks every acknowledged write, until a run
/// completes without hitting the fault.
fn crash_at_every_step(op: FaultOp, work: &dyn Fn(&Db) -> engine::Result<()>) {
    for n in 0..400 {
        let fs = MemFs::new();
        let db = open(&fs).unwrap();
        // Round 0 is synced and must survive whatever happens next.
        for i in 0..400 {
            db.put(&WriteOptions { sync: i % 50 == 49 }, &key(i), &value(i, 0)).unwrap();
        }
        fs.inject(op, None, n);
        let r = work(&db);
        let hit = r.is_err();
        let fs2 = fs.crash();
        drop(db);
        fs2.clear_faults();
        let db = open(&fs2).unwrap_or_else(|e| panic!("{op:?} fault at {n}: reopen failed: {e}"));
        let p = present(&db, 400, 0);
        assert!(p.iter().all(|x| *x), "{op:?} fault at {n}: acknowledged write lost");
        drop(db);
        if !hit {
            return;
        }
    }
    panic!("{op:?}: the work never completed");
}

fn flush_work(db: &Db) -> engine::Result<()> {
    db.flush()
}

fn compaction_work(db: &Db) -> engine::Result<()> {
    db.flush()?;
    for i in 0..400 {
        db.put(&WriteOptions::default(), &key(i + 1000), &value(i, 1))?;
    }
    db.compact_range(None, None)
}

#[test]
fn crash_at_every_step_of_a_flush() {
    for op in [FaultOp::Write, FaultOp::Sync, FaultOp::Rename, FaultOp::Create] {
        crash_at_every_step(op, &flush_work);
    }
}

#[test]
fn crash_at_every_step_of_a_compaction() {
    for op in [FaultOp::Sync, FaultOp::Rename, FaultOp::Create] {
        crash_at_every_step(op, &compaction_work);
    }
}

#[test]
fn damaged_current_and_manifest_are_reported() {
    let fs = MemFs::new();
    {
        let db = open(&fs).unwrap();
        db.put(&WriteOptions::default(), b"k", b"v").unwrap();
        db.flush().unwrap();
    }
    let fs = fs.kill_process();
    let current = Path::new(DIR).join("CURRENT");
    let good = engine::fs::read_all(&fs, &current).unwrap();

    fs.corrupt(&current, |b| *b = b"garbage\n".to_vec()).unwrap();
    let err = open(&fs).unwrap_err();
    assert!(err.is_corruption() && err.to_string().contains("CURRENT"), "{err}");

    fs.corrupt(&current, |b| *b = b"MANIFEST-999999\n".to_vec()).unwrap();
    let err = open(&fs).unwrap_err();
    assert!(err.to_string().contains("MANIFEST-999999"), "{err}");

    fs.corrupt(&current, |b| *b = good.clone()).unwrap();
    let manifest = Path::new(DIR).join(std::str::from_utf8(&good).unwrap().trim());
    fs.corrupt(&manifest, |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x01;
    })
    .unwrap();
    let err = open(&fs).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("MANIFEST-"), "{err}");

    fs.remove_file(&current).unwrap();
    let err = open(&fs).unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }) && err.to_string().contains("CURRENT is missing"), "{err}");
}

#[test]
fn missing_table_file_is_reported() {
    let fs = MemFs::new();
    {
        let db = open(&fs).unwrap();
        db.put(&WriteOptions::default(), b"k", b"v").unwrap();
        db.flush().unwrap();
    }
    let fs = fs.kill_process();
    let sst = fs.list_dir(Path::new(DIR)).unwrap().into_iter().find(|n| n.ends_with(".sst")).unwrap();
    fs.remove_file(&Path::new(DIR).join(&sst)).unwrap();
    let err = open(&fs).unwrap_err();
    assert!(err.is_corruption() && err.to_string().contains(&sst), "{err}");
    let _ = Options::default();
}
