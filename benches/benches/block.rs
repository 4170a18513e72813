//! Data block build (4 KiB of internal keys) and seek, through the public block builder
//! and reader of `engine::sstable`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use benches::keys::make_key;
use benches::random::Rng;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::iterator::InternalIterator;
use engine::keys::{make_internal_key, ValueKind};
use engine::sstable::block_builder::BlockBuilder;
use engine::sstable::{Block, BlockIter};

/// Entries of 16-byte keys (+8 tag) and 100-byte values: about one 4 KiB block.
const ENTRIES: u64 = 32;

fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let v = common::value();
    (0..ENTRIES).map(|i| (make_internal_key(&make_key(i, 16), 1000 - i, ValueKind::Value), v.clone())).collect()
}

fn build(c: &mut Criterion) {
    let entries = entries();
    let mut builder = BlockBuilder::new(16);
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(ENTRIES));
    g.bench_function("build_4k", |b| {
        b.iter(|| {
            builder.reset();
            for (k, v) in &entries {
                builder.add(k, v);
            }
            builder.finish().len()
        })
    });
    g.finish();
}

fn seek(c: &mut Criterion) {
    let entries = entries();
    let mut builder = BlockBuilder::new(16);
    for (k, v) in &entries {
        builder.add(k, v);
    }
    let block = Arc::new(Block::decode(builder.finish().to_vec()).unwrap());
    let mut it = BlockIter::new(Arc::clone(&block));
    let targets: Vec<Vec<u8>> =
        (0..ENTRIES).map(|i| make_internal_key(&make_key(i, 16), u64::MAX >> 8, ValueKind::Value)).collect();
    let mut rng = Rng::new(4);
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seek_4k", |b| {
        b.iter(|| {
            let t = &targets[rng.uniform(ENTRIES) as usize];
            it.seek(t).unwrap();
            assert!(it.valid());
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = build, seek }
criterion_main!(benches);
