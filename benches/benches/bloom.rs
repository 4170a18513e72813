//! Bloom filter probes (10 bits per key, 10,000 keys): keys present and keys absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use benches::keys::make_key;
use benches::random::Rng;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::sstable::filter::{BloomBuilder, BloomFilter};

const KEYS: u64 = 10_000;

fn probe(c: &mut Criterion) {
    let mut builder = BloomBuilder::new(10);
    for i in 0..KEYS {
        builder.add_key(&make_key(i, 16));
    }
    let mut data = Vec::new();
    builder.finish(&mut data);
    let filter = BloomFilter::decode(data).unwrap();
    let present: Vec<Vec<u8>> = (0..KEYS).map(|i| make_key(i, 16)).collect();
    let absent: Vec<Vec<u8>> = (KEYS..2 * KEYS).map(|i| make_key(i, 16)).collect();
    let mut rng = Rng::new(5);
    let mut g = c.benchmark_group("bloom");
    g.throughput(Throughput::Elements(1));
    g.bench_function("probe_present", |b| b.iter(|| assert!(filter.may_contain(&present[rng.uniform(KEYS) as usize]))));
    g.bench_function("probe_absent", |b| b.iter(|| filter.may_contain(&absent[rng.uniform(KEYS) as usize])));
    g.bench_function("build_10k", |b| {
        b.iter(|| {
            let mut builder = BloomBuilder::new(10);
            for k in &present {
                builder.add_key(k);
            }
            let mut data = Vec::new();
            builder.finish(&mut data);
            data.len()
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = probe }
criterion_main!(benches);
