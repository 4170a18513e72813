//! YCSB's key-choice generators, written from the YCSB paper (Cooper et al., SoCC 2010,
//! §4.1) and Gray et al., "Quickly generating billion-record synthetic databases"
//! (SIGMOD 1994), which YCSB's `ZipfianGenerator` implements.
//!
//! - [`Zipfian`]: item `i` of `n` with probability proportional to `1 / (i + 1)^θ`
//!   (θ = [`ZIPFIAN_CONSTANT`] = 0.99): item 0 is the most popular. The normalising
//!   constant ζ(n, θ) is extended incrementally when `n` grows, so a generator over a
//!   growing key space (the "latest" distribution) stays cheap.
//! - [`ScrambledZipfian`]: zipfian popularity, but the popular items are scattered over the
//!   key space by an FNV-1a hash, so the hot keys are not clustered in one tablet. As in
//!   YCSB, it draws from a zipfian over 10¹⁰ items (ζ precomputed as [`ZETAN_10_BILLION`])
//!   and folds the hash into `[0, n)`.
//! - [`SkewedLatest`]: the most recently inserted items are the most popular: item
//!   `last − z` where `z` is zipfian over `[0, last]` (YCSB's `SkewedLatestGenerator`).
//! - [`InsertCounter`]: hands out insert numbers and tracks the highest number below which
//!   every insert was acknowledged (YCSB's `AcknowledgedCounterGenerator`), which bounds
//!   what reads may ask for.
//! - [`fnv_hash64`]: YCSB's `Utils.fnvhash64`; record `n`'s key is `"user" + hash(n)`
//!   ("insert order hashed"), so consecutive inserts land all over the table.
//!
//! Thread safety: the generators are per worker (`&mut self`); [`InsertCounter`] is shared.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::random::Rng;

/// YCSB's zipfian constant θ.
pub const ZIPFIAN_CONSTANT: f64 = 0.99;

/// The item count YCSB's scrambled zipfian draws from before hashing.
pub const SCRAMBLED_ITEMS: u64 = 10_000_000_000;

/// ζ(10¹⁰, 0.99), precomputed by YCSB (computing it takes minutes).
pub const ZETAN_10_BILLION: f64 = 26.469_028_201_783_02;

/// YCSB's 64-bit FNV-1a over the eight little-endian bytes of `value`, made non-negative
/// as Java's `Math.abs` on a `long` does (the one value it cannot negate stays as is).
pub fn fnv_hash64(value: u64) -> u64 {
    const OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET_BASIS;
    let mut v = value;
    for _ in 0..8 {
        h ^= v & 0xff;
        h = h.wrapping_mul(PRIME);
        v >>= 8;
    }
    (h as i64).wrapping_abs() as u64
}

/// A double in `[0, 1)` from 53 random bits.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// ζ(n, θ) = Σ_{i=1..n} 1/i^θ, continuing from ζ(`from`, θ) = `sum`.
fn zeta_from(from: u64, n: u64, theta: f64, sum: f64) -> f64 {
    (from..n).fold(sum, |acc, i| acc + 1.0 / ((i + 1) as f64).powf(theta))
}

/// Zipfian over `[0, items)` (Gray et al.'s rejection-free method, as YCSB).
#[derive(Debug, Clone)]
pub struct Zipfian {
    items: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    zeta2: f64,
    eta: f64,
}

impl Zipfian {
    /// Over `[0, items)` with θ = [`ZIPFIAN_CONSTANT`]; computes ζ(items) (linear in `items`).
    pub fn new(items: u64) -> Zipfian {
        let items = items.max(1);
        Zipfian::with_zeta(items, zeta_from(0, items, ZIPFIAN_CONSTANT, 0.0))
    }

    /// Over `[0, items)` with ζ(items) already known.
    pub fn with_zeta(items: u64, zetan: f64) -> Zipfian {
        let theta = ZIPFIAN_CONSTANT;
        let zeta2 = zeta_from(0, 2, theta, 0.0);
        let mut z = Zipfian { items: items.max(1), theta, alpha: 1.0 / (1.0 - theta), zetan, zeta2, eta: 0.0 };
        z.eta = z.eta_for();
        z
    }

    fn eta_for(&self) -> f64 {
        (1.0 - (2.0 / self.items as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta2 / self.zetan)
    }

    /// Grows the item count to `items` (never shrinks it), extending ζ incrementally.
    pub fn grow_to(&mut self, items: u64) {
        if items > self.items {
            self.zetan = zeta_from(self.items, items, self.theta, self.zetan);
            self.items = items;
            self.eta = self.eta_for();
        }
    }

    /// The item count.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// The next item, in `[0, items)`.
    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        let u = unit(rng);
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.items - 1);
        }
        let v = (self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        v.min(self.items - 1)
    }
}

/// Zipfian popularity scattered over `[0, items)` by hashing (YCSB's default for A–C, E, F).
#[derive(Debug, Clone)]
pub struct ScrambledZipfian {
    items: u64,
    inner: Zipfian,
}

impl ScrambledZipfian {
    /// Over `[0, items)`.
    pub fn new(items: u64) -> ScrambledZipfian {
        ScrambledZipfian { items: items.max(1), inner: Zipfian::with_zeta(SCRAMBLED_ITEMS, ZETAN_10_BILLION) }
    }

    /// The next item, in `[0, items)`.
    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        fnv_hash64(self.inner.next(rng)) % self.items
    }
}

/// Recent items most popular: `last − zipfian(last + 1)` (workload D).
#[derive(Debug, Clone)]
pub struct SkewedLatest {
    inner: Zipfian,
}

impl SkewedLatest {
    /// For a key space that currently ends at `count` items.
    pub fn new(count: u64) -> SkewedLatest {
        SkewedLatest { inner: Zipfian::new(count.max(1)) }
    }

    /// The next item, given that items `[0, count)` exist; favours items near `count − 1`.
    pub fn next(&mut self, rng: &mut Rng, count: u64) -> u64 {
        let count = count.max(1);
        self.inner.grow_to(count);
        let last = count - 1;
        // The zipfian may cover more items than exist now if `count` went down (it never
        // does for an insert counter, but stay in range regardless).
        last.saturating_sub(self.inner.next(rng).min(last))
    }
}

/// Insert numbers shared by all workers: hands out the next one, and knows the limit below
/// which every insert has been acknowledged (so a read never asks for a record whose insert
/// is still in flight).
#[derive(Debug)]
pub struct InsertCounter {
    next: AtomicU64,
    /// `(limit, acknowledged at or above limit)`: every number below `limit` is done.
    acked: Mutex<(u64, BTreeSet<u64>)>,
}

impl InsertCounter {
    /// Starting after `loaded` records (numbers `[0, loaded)` exist).
    pub fn new(loaded: u64) -> InsertCounter {
        InsertCounter { next: AtomicU64::new(loaded), acked: Mutex::new((loaded, BTreeSet::new())) }
    }

    /// The next number to insert. Relaxed: the number only has to be unique; visibility of
    /// the record is published through [`InsertCounter::acknowledge`].
    pub fn claim(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Records that insert `n` finished (successfully or not: a failed insert must not
    /// hold back the limit forever).
    pub fn acknowledge(&self, n: u64) {
        let mut g = self.acked.lock();
        let (limit, pending) = &mut *g;
        if n < *limit {
            return;
        }
        pending.insert(n);
        while pending.remove(limit) {
            *limit += 1;
        }
    }

    /// Every number below this has been acknowledged: the records a read may ask for.
    pub fn limit(&self) -> u64 {
        self.acked.lock().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(n: usize, draws: usize, mut f: impl FnMut() -> u64) -> Vec<usize> {
        let mut h = vec![0usize; n];
        for _ in 0..draws {
            let v = f() as usize;
            assert!(v < n, "{v} out of range {n}");
            h[v] += 1;
        }
        h
    }

    #[test]
    fn zipfian_matches_its_probabilities() {
        let n = 1000;
        let mut z = Zipfian::new(n);
        let mut rng = Rng::new(7);
        let draws = 200_000;
        let h = histogram(n as usize, draws, || z.next(&mut rng));
        let zeta = zeta_from(0, n, ZIPFIAN_CONSTANT, 0.0);
        // P(item i) = 1 / ((i+1)^θ ζ(n)); item 0 gets about 13% of the draws for n = 1000.
        for i in [0usize, 1] {
            let expected = draws as f64 / ((i + 1) as f64).powf(ZIPFIAN_CONSTANT) / zeta;
            let got = h[i] as f64;
            assert!((got - expected).abs() < expected * 0.05, "item {i}: {got} vs {expected}");
        }
        // Strongly skewed: the first 10 items get more than the last 900.
        let head: usize = h[..10].iter().sum();
        let tail: usize = h[100..].iter().sum();
        assert!(head > tail, "head {head}, tail {tail}");
        assert!(h[0] > h[9] && h[9] > h[99] / 2, "{} {} {}", h[0], h[9], h[99]);
        // ... and yet the whole range is reached.
        assert!(h[900..].iter().sum::<usize>() > 0);
    }

    #[test]
    fn zipfian_grown_equals_zipfian_built_at_that_size() {
        let mut grown = Zipfian::new(10);
        grown.grow_to(5000);
        let direct = Zipfian::new(5000);
        assert!((grown.zetan - direct.zetan).abs() < 1e-9);
        assert_eq!(grown.items(), 5000);
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        let (mut g, mut d) = (grown, direct);
        for _ in 0..1000 {
            assert_eq!(g.next(&mut a), d.next(&mut b));
        }
    }

    #[test]
    fn precomputed_zeta_is_consistent_with_the_series() {
        // ζ grows like ln-ish for θ near 1: check the constant lies above ζ(10⁶) and
        // that ζ(10⁶) computed here is in the right neighbourhood (YCSB's value for 10¹⁰).
        let z6 = zeta_from(0, 1_000_000, ZIPFIAN_CONSTANT, 0.0);
        assert!(z6 > 14.0 && z6 < ZETAN_10_BILLION, "{z6}");
    }

    #[test]
    fn scrambled_zipfian_is_skewed_but_scattered() {
        let n = 10_000u64;
        let mut z = ScrambledZipfian::new(n);
        let mut rng = Rng::new(11);
        let draws = 200_000;
        let mut h = histogram(n as usize, draws, || z.next(&mut rng));
        // The hottest key is not key 0: popularity is scattered by the hash.
        let hottest = (0..h.len()).max_by_key(|&i| h[i]).unwrap_or(0);
        assert_ne!(hottest, 0);
        // Skewed: the 1% hottest keys take a large share (uniform would give 1%; the
        // zipfian over 10^10 items folded onto 10^4 gives about 20%: its 100 most popular
        // items alone carry ζ(100)/ζ(10^10) ≈ 5.1/26.5 of the mass).
        h.sort_unstable_by(|a, b| b.cmp(a));
        let top: usize = h[..100].iter().sum();
        assert!(top * 100 / draws >= 15, "top 1% took {top} of {draws}");
        // Scattered: hot keys fall in both halves of the key space, so a pre-split table
        // spreads them over tablets.
        let mut z = ScrambledZipfian::new(n);
        let mut rng = Rng::new(11);
        let low = (0..10_000).filter(|_| z.next(&mut rng) < n / 2).count();
        assert!((3000..7000).contains(&low), "{low} of 10000 in the lower half");
    }

    #[test]
    fn latest_favours_recent_inserts_and_follows_the_counter() {
        let mut l = SkewedLatest::new(1000);
        let mut rng = Rng::new(5);
        let h = histogram(1000, 100_000, || l.next(&mut rng, 1000));
        assert!(h[999] > h[990] && h[990] > h[900], "{} {} {}", h[999], h[990], h[900]);
        let recent: usize = h[900..].iter().sum();
        assert!(recent > 60_000, "only {recent} of 100000 draws in the newest 10%");
        // After more inserts the newest records are the hot ones.
        let mut newest = 0;
        for _ in 0..10_000 {
            let v = l.next(&mut rng, 2000);
            assert!(v < 2000);
            newest += usize::from(v >= 1900);
        }
        assert!(newest > 6000, "{newest}");
    }

    #[test]
    fn insert_counter_limit_waits_for_gaps() {
        let c = InsertCounter::new(10);
        assert_eq!(c.limit(), 10);
        let (a, b, d) = (c.claim(), c.claim(), c.claim());
        assert_eq!((a, b, d), (10, 11, 12));
        c.acknowledge(b);
        c.acknowledge(d);
        assert_eq!(c.limit(), 10, "insert 10 is still in flight");
        c.acknowledge(a);
        assert_eq!(c.limit(), 13);
    }

    #[test]
    fn fnv_hash_spreads_consecutive_numbers_and_is_non_negative() {
        let hs: BTreeSet<u64> = (0..10_000).map(fnv_hash64).collect();
        assert_eq!(hs.len(), 10_000);
        assert!(hs.iter().all(|&h| h <= i64::MAX as u64));
        assert_ne!(fnv_hash64(0) / 1000, fnv_hash64(1) / 1000);
        assert_eq!(fnv_hash64(5), fnv_hash64(5));
    }
}
