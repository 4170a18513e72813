//! The merging iterator over four memtables of interleaved keys (the shape of a read over
//! several sources): a full forward scan and random seeks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use benches::keys::make_key;
use benches::random::Rng;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::iterator::InternalIterator;
use engine::keys::{make_internal_key, ValueKind};
use engine::memtable::MemTable;
use engine::merge::MergingIterator;

const CHILDREN: u64 = 4;
const KEYS: u64 = 100_000;

fn merged(mems: &[Arc<MemTable>]) -> MergingIterator {
    MergingIterator::new(mems.iter().map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>).collect())
}

fn merge(c: &mut Criterion) {
    let value = common::value();
    let mems: Vec<Arc<MemTable>> = (0..CHILDREN).map(|_| Arc::new(MemTable::new())).collect();
    for k in 0..KEYS {
        mems[(k % CHILDREN) as usize].add(k + 1, ValueKind::Value, &make_key(k, 16), &value);
    }
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Elements(KEYS));
    g.bench_function("scan_4x25k", |b| {
        b.iter(|| {
            let mut it = merged(&mems);
            it.seek_to_first().unwrap();
            let mut n = 0u64;
            while it.valid() {
                n += 1;
                it.next().unwrap();
            }
            assert_eq!(n, KEYS);
        })
    });
    let targets: Vec<Vec<u8>> =
        (0..KEYS).map(|k| make_internal_key(&make_key(k, 16), u64::MAX >> 8, ValueKind::Value)).collect();
    let mut it = merged(&mems);
    let mut rng = Rng::new(6);
    g.throughput(Throughput::Elements(1));
    g.bench_function("seek_4x25k", |b| {
        b.iter(|| {
            it.seek(&targets[rng.uniform(KEYS) as usize]).unwrap();
            assert!(it.valid());
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = merge }
criterion_main!(benches);
