//! I/O errors injected through `MemFs` on write, fsync, create, rename and read. A failed
//! write, fsync, create or rename of the WAL, a table or the MANIFEST stops the database
//! accepting writes with `Error::Background` naming the failed I/O; every later write,
//! flush and compaction gets that error, also after the fault is gone, while reads go on;
//! and nothing acknowledged before the fault is lost (checked by reopening after
//! `clear_faults`). A failed read is the reader's error alone. (recovery.rs crashes at every
//! step of a flush or compaction; these tests check what the live database reports.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::sync::Arc;

use common::{key, small_options};
use engine::{Db, Error, FaultOp, Fs, MemFs, Options, ReadOptions, WriteOptions};

const DIR: &str = "/db";

fn options(fs: &MemFs) -> Options {
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    small_options(dynfs)
}

fn value(i: u64) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat(60 + (i % 40) as usize)).into_bytes()
}

/// Asserts `e` is a background error wrapping an injected I/O error on a path containing
/// `path_part`.
fn assert_background(e: &Error, path_part: &str, what: &str) {
    match e {
        Error::Background(inner) => match &**inner {
            Error::Io { path, source } => {
                assert!(path.to_string_lossy().contains(path_part), "{what}: error names {}: {e}", path.display());
                assert!(source.to_string().contains("injected"), "{what}: {e}");
            }
            other => panic!("{what}: background error wraps {other}, not an I/O error"),
        },
        other => panic!("{what}: expected Error::Background, got {other}"),
    }
}

/// After a background error: writes, flushes and compactions keep failing with it (also
/// once the fault is gone), reads of acknowledged keys still work.
fn assert_stopped(db: &Db, fs: &MemFs, acked: u64, path_part: &str, what: &str) {
    fs.clear_faults();
    let e = db.put(&WriteOptions::default(), b"later", b"x").unwrap_err();
    assert_background(&e, path_part, &format!("{what}: a later put"));
    assert_background(&db.flush().unwrap_err(), path_part, &format!("{what}: flush"));
    assert_background(&db.compact_range(None, None).unwrap_err(), path_part, &format!("{what}: compact_range"));
    for i in (0..acked).step_by(7) {
        assert_eq!(db.get(&ReadOptions::default(), &key(i)).unwrap(), Some(value(i)), "{what}: read of key {i}");
    }
}

/// Reopens on a fresh "process" and checks every acknowledged key.
fn assert_all_present(fs: &MemFs, acked: u64, what: &str) {
    let db = Db::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    for i in 0..acked {
        assert_eq!(db.get(&ReadOptions::default(), &key(i)).unwrap(), Some(value(i)), "{what}: key {i} lost");
    }
    assert_eq!(db.get(&ReadOptions::default(), b"later").unwrap(), None, "{what}: a refused write appeared");
    db.put(&WriteOptions::default(), b"after", b"reopen").unwrap();
}

/// Writes keys until one fails; returns (acknowledged count, the error).
fn write_until_error(db: &Db, sync: bool, limit: u64) -> (u64, Error) {
    for i in 0..limit {
        if let Err(e) = db.put(&WriteOptions { sync }, &key(i), &value(i)) {
            return (i, e);
        }
    }
    panic!("no write failed in {limit} writes");
}

#[test]
fn wal_write_and_sync_faults_stop_writes() {
    for (op, sync, skip) in [(FaultOp::Write, false, 0), (FaultOp::Write, false, 37), (FaultOp::Sync, true, 12)] {
        let what = format!("{op:?} fault on the WAL after {skip}");
        let fs = MemFs::new();
        let db = Db::open(DIR, options(&fs)).unwrap();
        fs.inject(op, Some(".log"), skip);
        let (acked, e) = write_until_error(&db, sync, 10_000);
        assert_background(&e, ".log", &what);
        assert_stopped(&db, &fs, acked, ".log", &what);
        // A process crash keeps what the OS has; a machine crash after synced writes too.
        let next = if sync { fs.crash() } else { fs.kill_process() };
        drop(db);
        assert_all_present(&next, acked, &what);
    }
}

/// A flush (or the compaction after it) fails in the background; the writer learns of it
/// on a later write.
#[test]
fn background_flush_and_compaction_faults_stop_writes() {
    let cases: [(FaultOp, &str, u64); 6] = [
        (FaultOp::Write, ".sst", 0),
        (FaultOp::Write, ".sst", 40),
        (FaultOp::Sync, ".sst", 3),
        (FaultOp::Create, ".sst", 2),
        (FaultOp::Write, "MANIFEST", 1),
        (FaultOp::Sync, "MANIFEST", 4),
    ];
    for (op, part, skip) in cases {
        let what = format!("{op:?} fault on {part} after {skip}");
        let fs = MemFs::new();
        let db = Db::open(DIR, options(&fs)).unwrap();
        fs.inject(op, Some(part), skip);
        let (acked, e) = write_until_error(&db, false, 100_000);
        assert_background(&e, part, &what);
        assert_stopped(&db, &fs, acked, part, &what);
        let next = fs.kill_process();
        drop(db);
        assert_all_present(&next, acked, &what);
    }
}

/// A new MANIFEST is installed by renaming a temporary CURRENT: at open (every open writes
/// one) and when the MANIFEST outgrows `max_manifest_size`.
#[test]
fn rename_faults_fail_the_open_or_stop_writes() {
    let fs = MemFs::new();
    {
        let db = Db::open(DIR, options(&fs)).unwrap();
        for i in 0..500 {
            db.put(&WriteOptions::default(), &key(i), &value(i)).unwrap();
        }
    }
    fs.inject(FaultOp::Rename, None, 0);
    let e = Db::open(DIR, options(&fs)).unwrap_err();
    assert!(matches!(&e, Error::Io { path, .. } if path.to_string_lossy().contains("CURRENT")), "{e}");
    fs.clear_faults();
    assert_all_present(&fs, 500, "rename fault at open");

    // Rollover in the background.
    let fs = MemFs::new();
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    let db = Db::open(DIR, Options { max_manifest_size: 2048, ..small_options(dynfs) }).unwrap();
    fs.inject(FaultOp::Rename, None, 0);
    let (acked, e) = write_until_error(&db, false, 200_000);
    assert_background(&e, "CURRENT", "rename fault at MANIFEST rollover");
    assert_stopped(&db, &fs, acked, "CURRENT", "rename fault at MANIFEST rollover");
    let next = fs.kill_process();
    drop(db);
    assert_all_present(&next, acked, "rename fault at MANIFEST rollover");
}

#[test]
fn read_faults_are_returned_to_the_reader_only() {
    let fs = MemFs::new();
    {
        let db = Db::open(DIR, options(&fs)).unwrap();
        for i in 0..2000 {
            db.put(&WriteOptions::default(), &key(i), &value(i)).unwrap();
        }
        db.compact_range(None, None).unwrap();
        db.wait_for_compactions().unwrap();
    }
    // Fresh caches, so reads go to the files.
    let db = Db::open(DIR, options(&fs)).unwrap();
    db.wait_for_compactions().unwrap();
    fs.inject(FaultOp::Read, Some(".sst"), 0);
    let e = db.get(&ReadOptions::default(), &key(5)).unwrap_err();
    assert!(matches!(&e, Error::Io { path, .. } if path.to_string_lossy().ends_with(".sst")), "{e}");
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    it.seek_to_first();
    assert!(!it.valid());
    let e = it.status().unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    drop(it);
    // Not a background error: writes go on.
    db.put(&WriteOptions::default(), b"during", b"fault").unwrap();
    fs.clear_faults();
    assert_eq!(db.get(&ReadOptions::default(), &key(5)).unwrap(), Some(value(5)));
    assert_eq!(db.get(&ReadOptions::default(), b"during").unwrap(), Some(b"fault".to_vec()));
    db.flush().unwrap();
    drop(db);

    // A read fault while replaying the WAL fails the open; without it the open succeeds.
    let fs = fs.kill_process();
    {
        let db = Db::open(DIR, options(&fs)).unwrap();
        db.put(&WriteOptions::default(), b"in-wal", b"only").unwrap();
    }
    let fs = fs.kill_process();
    fs.inject(FaultOp::Read, Some(".log"), 0);
    let e = Db::open(DIR, options(&fs)).unwrap_err();
    assert!(matches!(&e, Error::Io { path, .. } if path.to_string_lossy().ends_with(".log")), "{e}");
    fs.clear_faults();
    let db = Db::open(DIR, options(&fs)).unwrap();
    assert_eq!(db.get(&ReadOptions::default(), b"in-wal").unwrap(), Some(b"only".to_vec()));
    assert_eq!(db.get(&ReadOptions::default(), &key(1999)).unwrap(), Some(value(1999)));
}
