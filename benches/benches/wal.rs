//! WAL appends of 116-byte records (a one-put write batch of db_bench's size), buffered and
//! with an fsync after each, on a real file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::fs::Fs;
use engine::wal::Writer;
use engine::PosixFs;

/// Records per file: the file is replaced (outside the timing) when it has this many.
const PER_FILE: u64 = 100_000;

fn append(c: &mut Criterion, name: &str, sync: bool) {
    let dir = tempfile::tempdir().unwrap();
    let fs = PosixFs::new();
    let record = vec![b'x'; 116];
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(PER_FILE);
                let path = dir.path().join("bench.log");
                let mut w = Writer::new(fs.create(&path).unwrap(), path);
                let t = Instant::now();
                for _ in 0..n {
                    w.add_record(&record).unwrap();
                    if sync {
                        w.sync().unwrap();
                    }
                }
                w.flush().unwrap();
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    g.finish();
}

fn wal(c: &mut Criterion) {
    append(c, "append", false);
    append(c, "append_sync", true);
}

criterion_group! { name = benches; config = common::quick(); targets = wal }
criterion_main!(benches);
