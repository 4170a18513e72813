//! Memtable insert (fresh memtable per batch of 10,000 random keys with db_bench's 100-byte
//! values; 15,000 with 1000-byte values, a tablet server's 16 MiB memtable; 60,000 of those,
//! a 64 MiB one, in random order and sorted in runs of 100 as the engine inserts a group of
//! that many) and point get.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use benches::random::Rng;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use engine::keys::ValueKind;
use engine::memtable::{MemGet, MemTable};

const N: u64 = 10_000;

fn insert(c: &mut Criterion) {
    let keys = common::shuffled_keys(N, 1);
    let value = common::value();
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(N));
    g.bench_function("insert_10k_random", |b| {
        b.iter_batched(
            MemTable::new,
            |mem| {
                for (seq, k) in keys.iter().enumerate() {
                    mem.add(seq as u64 + 1, ValueKind::Value, k, &value);
                }
                mem
            },
            BatchSize::SmallInput,
        )
    });
    // The tablet server's case: a full 16 MiB memtable of the paper's 1000-byte values.
    let big_keys = common::shuffled_keys(15_000, 4);
    let big_value = vec![0x5a_u8; 1000];
    g.throughput(Throughput::Elements(big_keys.len() as u64));
    g.bench_function("insert_15k_random_1000b", |b| {
        b.iter_batched(
            MemTable::new,
            |mem| {
                for (seq, k) in big_keys.iter().enumerate() {
                    mem.add(seq as u64 + 1, ValueKind::Value, k, &big_value);
                }
                mem
            },
            BatchSize::SmallInput,
        )
    });
    // A 64 MiB memtable filled by groups of 100 random rows: inserted as they come, and
    // sorted per group as `db/write.rs` inserts them (each key searched from the last).
    let keys_64m = common::shuffled_keys(60_000, 5);
    let mut runs_64m = keys_64m.clone();
    for run in runs_64m.chunks_mut(100) {
        run.sort();
    }
    g.throughput(Throughput::Elements(keys_64m.len() as u64));
    for (name, keys) in
        [("insert_60k_random_1000b", &keys_64m), ("insert_60k_random_1000b_sorted_runs_of_100", &runs_64m)]
    {
        g.bench_function(name, |b| {
            b.iter_batched(
                MemTable::new,
                |mem| {
                    for (seq, k) in keys.iter().enumerate() {
                        mem.add(seq as u64 + 1, ValueKind::Value, k, &big_value);
                    }
                    mem
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn get(c: &mut Criterion) {
    let keys = common::shuffled_keys(100_000, 2);
    let value = common::value();
    let mem = Arc::new(MemTable::new());
    for (seq, k) in keys.iter().enumerate() {
        mem.add(seq as u64 + 1, ValueKind::Value, k, &value);
    }
    let mut rng = Rng::new(3);
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_hit_of_100k", |b| {
        b.iter(|| {
            let k = &keys[rng.uniform(keys.len() as u64) as usize];
            assert!(matches!(mem.get(k, u64::MAX >> 8,), Some(MemGet::Found(_))));
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = insert, get }
criterion_main!(benches);
