//! Memtable insert (fresh memtable per batch of 10,000 random keys with db_bench's 100-byte
//! values; 15,000 with 1000-byte values, a tablet server's 16 MiB memtable) and point get.
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
