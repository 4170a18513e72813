//! Test helpers shared by the sstable tests: a tiny deterministic RNG and a model checker
//! that drives an iterator with random operations against a sorted vector.

use std::cmp::Ordering;

use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, make_internal_key, parse_internal_key, ValueKind};

/// xorshift64*: deterministic, good enough for tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A seek target near the model's keys: an existing key, the same user key at another
/// sequence, or an unrelated user key.
pub(crate) fn random_target(rng: &mut Rng, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let choice = rng.below(4);
    if entries.is_empty() || choice == 3 {
        let uk = format!("key{:06}", rng.below(1_000_000));
        return make_internal_key(uk.as_bytes(), rng.below(2000), ValueKind::Value);
    }
    let e = &entries[rng.below(entries.len() as u64) as usize].0;
    match choice {
        0 => e.clone(),
        1 => {
            let p = parse_internal_key(e).unwrap();
            make_internal_key(p.user_key, rng.below(2000), ValueKind::Value)
        }
        _ => {
            let p = parse_internal_key(e).unwrap();
            let mut uk = p.user_key.to_vec();
            uk.push(b'!');
            make_internal_key(&uk, 5, ValueKind::Value)
        }
    }
}

fn check_position(it: &dyn InternalIterator, entries: &[(Vec<u8>, Vec<u8>)], pos: Option<usize>, op: &str) {
    match pos {
        Some(i) => {
            assert!(it.valid(), "{op}: expected entry {i}, iterator not valid");
            assert_eq!(it.key(), &entries[i].0[..], "{op}: key at {i}");
            assert_eq!(it.value(), &entries[i].1[..], "{op}: value at {i}");
        }
        None => assert!(!it.valid(), "{op}: expected not valid, at {:?}", it.key()),
    }
}

/// Runs `ops` random positioning calls on `it` and checks each result against `entries`
/// (sorted by internal key, unique).
pub(crate) fn check_iterator_against_model(
    it: &mut dyn InternalIterator,
    entries: &[(Vec<u8>, Vec<u8>)],
    rng: &mut Rng,
    ops: usize,
) {
    // Full scans both ways first.
    it.seek_to_first().unwrap();
    for i in 0..entries.len() {
        check_position(it, entries, Some(i), "scan");
        it.next().unwrap();
    }
    check_position(it, entries, None, "scan end");
    it.seek_to_last().unwrap();
    for i in (0..entries.len()).rev() {
        check_position(it, entries, Some(i), "reverse scan");
        it.prev().unwrap();
    }
    check_position(it, entries, None, "reverse scan end");

    let mut pos: Option<usize> = None;
    for _ in 0..ops {
        let op = rng.below(6);
        let name;
        match op {
            0 => {
                name = "seek_to_first";
                it.seek_to_first().unwrap();
                pos = if entries.is_empty() { None } else { Some(0) };
            }
            1 => {
                name = "seek_to_last";
                it.seek_to_last().unwrap();
                pos = entries.len().checked_sub(1);
            }
            2 => {
                name = "seek";
                let t = random_target(rng, entries);
                it.seek(&t).unwrap();
                let i = entries.partition_point(|e| compare_internal(&e.0, &t) == Ordering::Less);
                pos = (i < entries.len()).then_some(i);
            }
            3 => {
                name = "seek_for_prev";
                let t = random_target(rng, entries);
                it.seek_for_prev(&t).unwrap();
                let i = entries.partition_point(|e| compare_internal(&e.0, &t) != Ordering::Greater);
                pos = i.checked_sub(1);
            }
            4 => {
                name = "next";
                if let Some(i) = pos {
                    it.next().unwrap();
                    pos = (i + 1 < entries.len()).then_some(i + 1);
                } else {
                    assert!(it.next().is_err());
                }
            }
            _ => {
                name = "prev";
                if let Some(i) = pos {
                    it.prev().unwrap();
                    pos = i.checked_sub(1);
                } else {
                    assert!(it.prev().is_err());
                }
            }
        }
        check_position(it, entries, pos, name);
    }
    it.status().unwrap();
}
