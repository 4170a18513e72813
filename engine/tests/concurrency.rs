//! Several writer and reader threads during flushes and compactions: readers always see
//! whole batches, snapshots stay fixed, and nothing acknowledged is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::small_options;
use engine::{Db, Fs, PosixFs, ReadOptions, WriteBatch, WriteOptions};

const WRITERS: u64 = 4;
const COLS: u64 = 8;
const ROUNDS: u64 = 600;

fn k(w: u64, c: u64) -> Vec<u8> {
    format!("w{w}/c{c}").into_bytes()
}

fn v(round: u64) -> Vec<u8> {
    let mut s = format!("{round:08}").into_bytes();
    s.extend(std::iter::repeat_n(b'.', 100));
    s
}

fn round_of(val: &[u8]) -> u64 {
    std::str::from_utf8(&val[..8]).unwrap().parse().unwrap()
}

/// Polls `f` on this thread until it resolves, parking while it is pending.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// Odd writers go through `Db::write_async`, keeping up to four writes queued and awaiting
/// them newest first (the older ones unpolled meanwhile), while even writers block in
/// `Db::write`.
#[test]
fn readers_see_whole_batches_during_background_work() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn Fs> = Arc::new(PosixFs::new());
    let db = Arc::new(Db::open(dir.path(), small_options(fs)).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        handles.push(thread::spawn(move || {
            let mut queued = Vec::new();
            for round in 1..=ROUNDS {
                let mut b = WriteBatch::new();
                for c in 0..COLS {
                    b.put(&k(w, c), &v(round));
                }
                let wo = WriteOptions { sync: round % 100 == 0 };
                if w % 2 == 0 {
                    db.write(&wo, b).unwrap();
                    continue;
                }
                queued.push(db.write_async(&wo, b));
                if queued.len() == 4 || round == ROUNDS {
                    for f in queued.drain(..).rev() {
                        block_on(f).unwrap();
                    }
                }
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let db = db.clone();
        let done = done.clone();
        readers.push(thread::spawn(move || {
            let mut last = vec![0u64; WRITERS as usize];
            let mut checks = 0u64;
            while !done.load(Ordering::Acquire) || checks < 5 {
                checks += 1;
                if r == 0 {
                    // Point reads through a snapshot: all columns of a writer agree.
                    let snap = db.snapshot();
                    let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
                    for w in 0..WRITERS {
                        let rounds: Vec<u64> =
                            (0..COLS).map(|c| db.get(&ro, &k(w, c)).unwrap().map_or(0, |x| round_of(&x))).collect();
                        assert!(rounds.iter().all(|x| *x == rounds[0]), "torn batch seen: {rounds:?}");
                        assert!(rounds[0] >= last[w as usize], "went back in time");
                        last[w as usize] = rounds[0];
                    }
                } else {
                    // Scans, forward or backward: each writer's columns agree.
                    let mut it = db.iter(&ReadOptions::default()).unwrap();
                    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); WRITERS as usize];
                    if r == 1 {
                        it.seek_to_first();
                    } else {
                        it.seek_to_last();
                    }
                    while it.valid() {
                        let key = std::str::from_utf8(it.key()).unwrap().to_string();
                        let w: usize = key[1..key.find('/').unwrap()].parse().unwrap();
                        seen[w].push(round_of(it.value()));
                        if r == 1 {
                            it.next();
                        } else {
                            it.prev();
                        }
                    }
                    it.status().unwrap();
                    for (w, rounds) in seen.iter().enumerate() {
                        assert!(rounds.is_empty() || rounds.len() == COLS as usize, "partial batch");
                        assert!(rounds.iter().all(|x| *x == rounds[0]), "torn batch seen: {rounds:?}");
                        if let Some(&r0) = rounds.first() {
                            assert!(r0 >= last[w]);
                            last[w] = r0;
                        }
                    }
                }
            }
            checks
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for h in readers {
        assert!(h.join().unwrap() >= 5);
    }
    db.wait_for_compactions().unwrap();
    for w in 0..WRITERS {
        for c in 0..COLS {
            assert_eq!(db.get(&ReadOptions::default(), &k(w, c)).unwrap(), Some(v(ROUNDS)));
        }
    }
    let stats = db.stats();
    assert!(stats.flushes > 0 && stats.compactions + stats.trivial_moves > 0, "{stats}");
    assert!(stats.write_groups <= stats.writes);
}

/// Sync writers from many threads, with forced memtable switches in between, through both
/// ways of waiting in the group commit (yielding first, and sleeping at once): every
/// acknowledged write is there after a reopen, and concurrent sync writers share fsyncs.
#[test]
fn concurrent_sync_writers_share_fsyncs_and_lose_nothing() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 150;
    for yield_micros in [500, 0] {
        let dir = tempfile::tempdir().unwrap();
        let options = || engine::Options { write_yield_micros: yield_micros, ..engine::Options::default() };
        let db = Arc::new(Db::open(dir.path(), options()).unwrap());
        let mut handles = Vec::new();
        for t in 0..THREADS {
            let db = db.clone();
            handles.push(thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let mut b = WriteBatch::new();
                    b.put(format!("t{t}/{i:04}").as_bytes(), &v(i));
                    db.write(&WriteOptions { sync: i % 5 != 4 }, b).unwrap();
                    if t == 0 && i % 50 == 49 {
                        db.flush().unwrap();
                    }
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let stats = db.stats();
        assert_eq!(stats.writes, THREADS * PER_THREAD, "{stats}");
        assert!(stats.wal_syncs < stats.writes * 4 / 5, "sync writers did not share fsyncs: {stats}");
        drop(db);
        let db = Db::open(dir.path(), options()).unwrap();
        for t in 0..THREADS {
            for i in 0..PER_THREAD {
                let got = db.get(&ReadOptions::default(), format!("t{t}/{i:04}").as_bytes()).unwrap();
                assert_eq!(got, Some(v(i)), "t{t}/{i:04} (write_yield_micros {yield_micros})");
            }
        }
    }
}
