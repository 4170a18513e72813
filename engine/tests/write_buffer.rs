//! A write buffer budget shared by several databases (`Options::write_buffer_manager`):
//! memtables are frozen early when all of them together use it up, every write stays
//! readable, and the charges go when the memtables do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::sync::Arc;

use common::{key, mem_fs};
use engine::{Db, Options, ReadOptions, WriteBufferManager, WriteOptions};

const VALUE: usize = 1000;

fn options(fs: Arc<dyn engine::Fs>, manager: Option<Arc<WriteBufferManager>>) -> Options {
    Options {
        fs,
        // Far more than the test writes: only the shared budget can make them flush.
        write_buffer_size: 64 << 20,
        write_buffer_manager: manager,
        ..Options::default()
    }
}

fn value(db: usize, i: u64) -> Vec<u8> {
    let mut v = format!("db{db}-{i}-").into_bytes();
    v.resize(VALUE, b'.');
    v
}

/// Opens three databases on one file system, writes `per_db` 1000-byte values to each in
/// turn, checks they all read back, and returns the databases.
fn write_three(manager: Option<Arc<WriteBufferManager>>, per_db: u64) -> Vec<Db> {
    let (_mem, fs) = mem_fs();
    let dbs: Vec<Db> =
        (0..3).map(|d| Db::open(format!("/db{d}"), options(fs.clone(), manager.clone())).unwrap()).collect();
    for i in 0..per_db {
        for (d, db) in dbs.iter().enumerate() {
            db.put(&WriteOptions::default(), &key(i), &value(d, i)).unwrap();
        }
    }
    for (d, db) in dbs.iter().enumerate() {
        for i in (0..per_db).step_by(97) {
            assert_eq!(db.get(&ReadOptions::default(), &key(i)).unwrap(), Some(value(d, i)), "db{d} key {i}");
        }
    }
    dbs
}

#[test]
fn databases_sharing_a_budget_flush_early_and_lose_nothing() {
    let budget = 4 << 20;
    let manager = Arc::new(WriteBufferManager::new(budget));
    // 3 x 6000 x ~1 KB = ~18 MB written against a 4 MiB budget.
    let dbs = write_three(Some(manager.clone()), 6000);
    for db in &dbs {
        db.wait_for_compactions().unwrap();
        let s = db.stats();
        assert!(s.budget_flushes > 0 && s.flushes > 0, "no early flush: {s}");
        // What stays in memory is bounded by the budget, not by the 64 MiB write buffer.
        assert!(s.memtable_bytes < budget as u64 * 2, "{} bytes in memtables", s.memtable_bytes);
    }
    // The active memtables are charged as mutable; together they stay near the budget.
    assert!(manager.mutable_memory_usage() <= budget, "{} mutable", manager.mutable_memory_usage());
    assert!(manager.memory_usage() > 0);
    drop(dbs);
    assert_eq!((manager.memory_usage(), manager.mutable_memory_usage()), (0, 0), "charges left after close");
}

#[test]
fn without_a_budget_nothing_flushes_before_the_write_buffer_fills() {
    let dbs = write_three(None, 3000);
    for db in &dbs {
        let s = db.stats();
        assert_eq!((s.flushes, s.budget_flushes), (0, 0), "{s}");
    }
}

#[test]
fn an_iterator_keeps_its_memtable_charged_until_dropped() {
    let (_mem, fs) = mem_fs();
    let manager = Arc::new(WriteBufferManager::new(64 << 20));
    let db = Db::open("/db", options(fs, Some(manager.clone()))).unwrap();
    for i in 0..2000 {
        db.put(&WriteOptions::default(), &key(i), &value(0, i)).unwrap();
    }
    let charged = manager.memory_usage();
    assert!(charged >= 2000 * VALUE, "{charged}");
    let it = db.iter(&ReadOptions::default()).unwrap();
    db.flush().unwrap();
    // Flushed and replaced, but the iterator still reads the old memtable.
    assert_eq!(manager.memory_usage(), charged);
    assert_eq!(manager.mutable_memory_usage(), 0);
    drop(it);
    assert_eq!(manager.memory_usage(), 0);
    drop(db);
    assert_eq!(manager.memory_usage(), 0);
}
