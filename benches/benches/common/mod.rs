// Shared by the bench targets (each includes it with `mod common;`).
// Each bench target uses only some of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use benches::keys::make_key;
use benches::random::Rng;
use criterion::Criterion;

/// Short runs: ten samples, a second of measurement, so `cargo bench` stays within minutes.
pub fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
}

/// `n` distinct 16-byte db_bench keys in random order.
pub fn shuffled_keys(n: u64, seed: u64) -> Vec<Vec<u8>> {
    let mut nums: Vec<u64> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..nums.len()).rev() {
        let j = rng.uniform(i as u64 + 1) as usize;
        nums.swap(i, j);
    }
    nums.into_iter().map(|k| make_key(k, 16)).collect()
}

/// A 100-byte value.
pub fn value() -> Vec<u8> {
    (0..100u8).map(|i| b'a' + i % 26).collect()
}
