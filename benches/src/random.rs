//! Randomness for the workloads: a small xorshift generator and RocksDB's `RandomGenerator`
//! for values.

/// xorshift64* (Vigna): fast, 64 bits of state, good enough to pick keys uniformly.
/// Not cryptographic. Seeded deterministically so runs repeat.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (any value, 0 included: the seed is mixed by splitmix64).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng { state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z } }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `[0, n)`; `n` must be positive (0 gives 0).
    pub fn uniform(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// The pool RocksDB's `RandomGenerator` draws values from: at least 1 MiB made of 100-byte
/// pieces, each `len * ratio` random printable bytes repeated to fill the piece, so a value
/// compresses to about `ratio` of its size. Built from a fixed seed (301, as RocksDB) and
/// shared by all threads.
#[derive(Debug, Clone)]
pub struct ValuePool {
    data: bytes::Bytes,
}

impl ValuePool {
    /// A pool for values of `value_size` bytes compressing to `ratio` of their size.
    pub fn new(value_size: usize, ratio: f64) -> Self {
        const PIECE: usize = 100;
        let target = value_size.max(1 << 20);
        let raw_len = ((PIECE as f64 * ratio) as usize).clamp(1, PIECE);
        let mut rng = Rng::new(301);
        let mut data = Vec::with_capacity(target + PIECE);
        let mut raw = Vec::with_capacity(raw_len);
        while data.len() < target {
            raw.clear();
            raw.extend((0..raw_len).map(|_| b' ' + rng.uniform(95) as u8));
            data.extend(raw.iter().cycle().take(PIECE));
        }
        ValuePool { data: bytes::Bytes::from(data) }
    }

    /// A generator over this pool starting at offset 0.
    pub fn generator(&self) -> ValueGen {
        ValueGen { data: self.data.clone(), pos: 0 }
    }
}

/// One thread's cursor over a [`ValuePool`]: each value is the next `len` bytes of the
/// pool, wrapping to the start when the pool runs out (RocksDB's `Generate`).
#[derive(Debug, Clone)]
pub struct ValueGen {
    data: bytes::Bytes,
    pos: usize,
}

impl ValueGen {
    /// The next value, `len` bytes long (`len` is at most the pool size, which is at least
    /// `value_size`; a longer request is cut to the pool size).
    pub fn generate(&mut self, len: usize) -> &[u8] {
        let range = self.next_range(len);
        self.data.get(range).unwrap_or_default()
    }

    /// [`ValueGen::generate`] as a [`bytes::Bytes`] sharing the pool's memory: no copy and
    /// no allocation per value (what a request carrying the value needs).
    pub fn generate_shared(&mut self, len: usize) -> bytes::Bytes {
        let range = self.next_range(len);
        self.data.slice(range)
    }

    fn next_range(&mut self, len: usize) -> std::ops::Range<usize> {
        let len = len.min(self.data.len());
        if self.pos + len > self.data.len() {
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += len;
        start..self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(2).next_u64(), xs[0]);
        let mut buckets = [0u32; 10];
        let mut r = Rng::new(0);
        for _ in 0..100_000 {
            buckets[r.uniform(10) as usize] += 1;
        }
        assert!(buckets.iter().all(|&c| (9_000..11_000).contains(&c)), "{buckets:?}");
    }

    #[test]
    fn values_repeat_their_random_part_to_the_ratio() {
        let pool = ValuePool::new(100, 0.5);
        let mut g = pool.generator();
        let v = g.generate(100).to_vec();
        assert_eq!(v.len(), 100);
        assert_eq!(v[..50], v[50..]);
        assert!(v.iter().all(|b| (b' '..=b'~').contains(b)));
        let w = g.generate(100).to_vec();
        assert_ne!(v, w);
    }

    #[test]
    fn generator_wraps_at_the_end_of_the_pool() {
        let pool = ValuePool::new(100, 1.0);
        let size = pool.data.len();
        let mut g = pool.generator();
        let first = g.generate(100).to_vec();
        for _ in 1..size / 100 {
            g.generate(100);
        }
        assert_eq!(g.generate(100), &first[..]);
    }

    #[test]
    fn shared_values_are_the_same_bytes_without_copies() {
        let pool = ValuePool::new(1000, 0.5);
        let (mut a, mut b) = (pool.generator(), pool.generator());
        for _ in 0..3000 {
            let shared = a.generate_shared(1000);
            assert_eq!(&shared[..], b.generate(1000));
            // A slice of the pool itself, not a copy.
            let at = shared.as_ptr() as usize - pool.data.as_ptr() as usize;
            assert!(at + 1000 <= pool.data.len());
        }
    }
}
