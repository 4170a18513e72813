//! The table's bloom filter: one "full" filter over the user keys of the whole table.
//!
//! ```text
//! filter block := bits: num_lines * 64 bytes | num_probes: u8 | kind: u8
//! kind 1       := cache-line-blocked bloom, 512-bit lines, hash = hash64 (below)
//! ```
//! A key's 64-bit hash `h` picks a line with its low 32 bits (`(lo * num_lines) >> 32`), and
//! `num_probes` bits inside that line with its high 32 bits `h2`: bit `h2 >> 23`, then
//! `h2 *= 0x9e3779b9` (wrapping) and repeat. So a lookup touches one cache line. At 10 bits
//! per key the false-positive rate is about 1%.
//!
//! `num_probes = round(bits_per_key * ln 2)` clamped to `1..=30`. A reader that meets an
//! unknown kind treats the filter as matching everything (so a newer writer's filter never
//! hides keys); a probe count outside `1..=30` is corruption.
//!
//! [`hash64`] is part of the on-disk format: changing it would make old filters lie.

#![deny(clippy::indexing_slicing)]

use crate::coding::get_fixed64;
use crate::error::{Error, Result};

/// The filter kind written by this code.
pub const FILTER_KIND_BLOCKED_V1: u8 = 1;
/// Bytes in a filter line (one cache line).
pub const LINE_BYTES: usize = 64;
const LINE_BITS: u64 = (LINE_BYTES * 8) as u64;
/// Multiplier that derives each next probe from the previous one.
const PROBE_MUL: u32 = 0x9e37_79b9;

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A fast 64-bit hash (wyhash-style multiply-mix over 16-byte chunks). Part of the format.
#[inline]
pub fn hash64(data: &[u8]) -> u64 {
    let len = data.len() as u64;
    let mut h = P0 ^ len.wrapping_mul(P2);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let a = get_fixed64(c).unwrap_or(0);
        let b = c.get(8..).and_then(get_fixed64).unwrap_or(0);
        h = mum(a ^ P1, b ^ h);
    }
    let rem = chunks.remainder();
    let mut tail = [0u8; 16];
    if let Some(dst) = tail.get_mut(..rem.len()) {
        dst.copy_from_slice(rem);
    }
    let a = get_fixed64(&tail).unwrap_or(0);
    let b = tail.get(8..).and_then(get_fixed64).unwrap_or(0);
    h = mum(a ^ P1, b ^ h);
    mum(h ^ P0, len ^ P1)
}

/// The number of probes for `bits_per_key`.
pub fn num_probes(bits_per_key: u32) -> u8 {
    let k = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    k.clamp(1.0, 30.0) as u8
}

#[inline]
fn line_of(h: u64, num_lines: usize) -> usize {
    (((h & 0xffff_ffff) * num_lines as u64) >> 32) as usize
}

/// Collects key hashes and writes a filter block. Memory: 8 bytes per added key.
#[derive(Debug)]
pub struct BloomBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl BloomBuilder {
    /// A builder for `bits_per_key` bits per key (must be > 0).
    pub fn new(bits_per_key: u32) -> Self {
        BloomBuilder { bits_per_key: bits_per_key.max(1), hashes: Vec::new() }
    }

    /// Adds a user key. Adding the same key twice in a row is cheap to avoid (the table
    /// builder does) but harmless.
    #[inline]
    pub fn add_key(&mut self, key: &[u8]) {
        self.hashes.push(hash64(key));
    }

    /// Keys added.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when no key was added.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Appends the filter block contents for every key added.
    pub fn finish(&self, dst: &mut Vec<u8>) {
        let total_bits = (self.hashes.len() as u64).saturating_mul(u64::from(self.bits_per_key));
        let num_lines = total_bits.div_ceil(LINE_BITS).max(1) as usize;
        let k = num_probes(self.bits_per_key);
        let start = dst.len();
        dst.resize(start + num_lines * LINE_BYTES, 0);
        if let Some(bits) = dst.get_mut(start..) {
            for &h in &self.hashes {
                let base = line_of(h, num_lines) * LINE_BYTES;
                let mut h2 = (h >> 32) as u32;
                for _ in 0..k {
                    let bit = (h2 >> 23) as usize;
                    if let Some(byte) = bits.get_mut(base + (bit >> 3)) {
                        *byte |= 1 << (bit & 7);
                    }
                    h2 = h2.wrapping_mul(PROBE_MUL);
                }
            }
        }
        dst.push(k);
        dst.push(FILTER_KIND_BLOCKED_V1);
    }
}

/// A decoded filter block. Immutable and `Sync`; held by the table for its lifetime.
#[derive(Debug)]
pub struct BloomFilter {
    /// The bit lines followed by the two trailing bytes.
    data: Vec<u8>,
    num_lines: usize,
    num_probes: u8,
    /// True for an unknown kind or an empty bit array: every key may match.
    match_all: bool,
}

impl BloomFilter {
    /// Decodes filter block contents. Errors have no file or offset.
    pub fn decode(data: Vec<u8>) -> Result<BloomFilter> {
        let n = data.len();
        let (k, kind) = match n.checked_sub(2).and_then(|p| data.get(p..)) {
            Some(&[k, kind]) => (k, kind),
            _ => return Err(Error::corruption("", None, "filter block shorter than its trailer")),
        };
        if kind != FILTER_KIND_BLOCKED_V1 {
            return Ok(BloomFilter { data, num_lines: 0, num_probes: 0, match_all: true });
        }
        if !(1..=30).contains(&k) {
            return Err(Error::corruption("", None, format!("bloom filter with {k} probes")));
        }
        let bits = n - 2;
        if bits % LINE_BYTES != 0 {
            return Err(Error::corruption("", None, format!("bloom filter of {bits} bytes is not whole lines")));
        }
        Ok(BloomFilter { data, num_lines: bits / LINE_BYTES, num_probes: k, match_all: bits == 0 })
    }

    /// False only if `key` was certainly not added.
    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(hash64(key))
    }

    /// As [`may_contain`](Self::may_contain) for a key whose [`hash64`] is `h`.
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        if self.match_all {
            return true;
        }
        let base = line_of(h, self.num_lines) * LINE_BYTES;
        let Some(line) = self.data.get(base..base + LINE_BYTES) else { return true };
        let mut h2 = (h >> 32) as u32;
        for _ in 0..self.num_probes {
            let bit = (h2 >> 23) as usize;
            match line.get(bit >> 3) {
                Some(byte) if byte & (1 << (bit & 7)) == 0 => return false,
                _ => {}
            }
            h2 = h2.wrapping_mul(PROBE_MUL);
        }
        true
    }

    /// The number of probes per key.
    pub fn num_probes(&self) -> u8 {
        self.num_probes
    }

    /// Size of the filter in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> Vec<u8> {
        format!("user-key-{i:010}").into_bytes()
    }

    fn build(keys: impl Iterator<Item = Vec<u8>>, bits: u32) -> BloomFilter {
        let mut b = BloomBuilder::new(bits);
        for k in keys {
            b.add_key(&k);
        }
        let mut out = Vec::new();
        b.finish(&mut out);
        BloomFilter::decode(out).unwrap()
    }

    #[test]
    fn probes() {
        assert_eq!(num_probes(10), 7);
        assert_eq!(num_probes(1), 1);
        assert_eq!(num_probes(100), 30);
        assert_eq!(num_probes(5), 3);
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: the filter format depends on these values.
        assert_ne!(hash64(b"a"), hash64(b"b"));
        assert_ne!(hash64(b"a"), hash64(b"a\0"));
        assert_ne!(hash64(&[0u8; 16]), hash64(&[0u8; 17]));
        let pinned = [hash64(b""), hash64(b"hello"), hash64(b"0123456789abcdefXYZ")];
        assert_eq!(pinned, [9_453_038_937_549_525_072, 2_694_233_524_149_526_488, 7_364_488_105_336_551_778]);
    }

    #[test]
    fn filter_bytes_are_pinned() {
        // Guards the probing scheme: a change here makes existing filters give false negatives.
        let mut b = BloomBuilder::new(10);
        for i in 0..100 {
            b.add_key(&key(i));
        }
        let mut out = Vec::new();
        b.finish(&mut out);
        assert_eq!(out.len(), 2 * LINE_BYTES + 2);
        assert_eq!(&out[out.len() - 2..], &[7, FILTER_KIND_BLOCKED_V1]);
        assert_eq!(crate::checksum::crc32c(&out), 681_094_612);
    }

    #[test]
    fn no_false_negatives_and_low_fp_rate() {
        let n = 10_000u64;
        let f = build((0..n).map(key), 10);
        assert_eq!(f.num_probes(), 7);
        assert!((0..n).all(|i| f.may_contain(&key(i))));
        let fp = (n..2 * n).filter(|&i| f.may_contain(&key(i))).count();
        let rate = fp as f64 / n as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn small_and_empty_filters() {
        let f = build(std::iter::once(b"x".to_vec()), 10);
        assert!(f.may_contain(b"x"));
        assert_eq!(f.size(), LINE_BYTES + 2);
        let f = build(std::iter::empty(), 10);
        assert!(!f.may_contain(b"x"));
    }

    #[test]
    fn decode_rejects_malformed_and_tolerates_unknown_kinds() {
        assert!(BloomFilter::decode(vec![]).unwrap_err().is_corruption());
        assert!(BloomFilter::decode(vec![7]).unwrap_err().is_corruption());
        let mut zero_probes = vec![0u8; 64];
        zero_probes.extend_from_slice(&[0, 1]);
        assert!(BloomFilter::decode(zero_probes).unwrap_err().is_corruption(), "0 probes");
        assert!(BloomFilter::decode(vec![0, 0, 0, 7, 1]).unwrap_err().is_corruption(), "partial line");
        let mut v = vec![0u8; 64];
        v.extend_from_slice(&[7, 99]);
        assert!(BloomFilter::decode(v).unwrap().may_contain(b"anything"));
        assert!(BloomFilter::decode(vec![7, 1]).unwrap().may_contain(b"no lines"));
    }
}
