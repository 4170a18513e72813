//! Helpers shared by the scenario tests.
#![allow(dead_code)]

use std::sync::Arc;

use engine::{Compression, Fs, MemFs, Options};

/// A small xorshift64* generator: deterministic per seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b'a' + (self.below(26) as u8)).collect()
    }
}

/// Seeds from `ENGINE_TEST_SEEDS` (comma-separated) or the given defaults.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("ENGINE_TEST_SEEDS") {
        Ok(s) if !s.trim().is_empty() => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        _ => default.to_vec(),
    }
}

/// Options that flush and compact often, on the given file system.
pub fn small_options(fs: Arc<dyn Fs>) -> Options {
    Options {
        fs,
        write_buffer_size: 32 << 10,
        target_file_size: 32 << 10,
        level1_max_bytes: 128 << 10,
        level_fanout: 4,
        l0_compaction_trigger: 2,
        l0_slowdown_trigger: 6,
        l0_stop_trigger: 10,
        block_size: 512,
        compression: Compression::Lz4,
        background_threads: 2,
        ..Options::default()
    }
}

pub fn mem_fs() -> (MemFs, Arc<dyn Fs>) {
    let fs = MemFs::new();
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    (fs, dynfs)
}

pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}
