use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::*;
use crate::keys::make_internal_key;
use crate::merge::testing::{TestRng, VecIterator};
use crate::merge::MergingIterator;

type Entry = (Vec<u8>, Vec<u8>);

fn put(k: &[u8], seq: u64, v: &[u8]) -> Entry {
    (make_internal_key(k, seq, ValueKind::Value), v.to_vec())
}

fn del(k: &[u8], seq: u64) -> Entry {
    (make_internal_key(k, seq, ValueKind::Deletion), Vec::new())
}

fn db_iter(children: Vec<Vec<Entry>>, seq: u64, lower: Option<&[u8]>, upper: Option<&[u8]>) -> DbIterator {
    let kids: Vec<Box<dyn InternalIterator>> =
        children.into_iter().map(|c| Box::new(VecIterator::new(c)) as Box<dyn InternalIterator>).collect();
    DbIterator::new(Box::new(MergingIterator::new(kids)), seq, lower.map(<[u8]>::to_vec), upper.map(<[u8]>::to_vec))
}

fn scan_forward(it: &mut DbIterator) -> Vec<Entry> {
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

fn scan_backward(it: &mut DbIterator) -> Vec<Entry> {
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    out
}

fn kv(pairs: &[(&str, &str)]) -> Vec<Entry> {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

#[test]
fn newest_visible_version_wins_and_tombstones_hide() {
    let mem = vec![put(b"a", 10, b"a10"), del(b"b", 9), put(b"d", 8, b"d8")];
    let l0 = vec![put(b"a", 3, b"a3"), put(b"b", 4, b"b4"), put(b"c", 5, b"c5"), del(b"d", 2)];
    let mut it = db_iter(vec![mem.clone(), l0.clone()], 100, None, None);
    assert_eq!(scan_forward(&mut it), kv(&[("a", "a10"), ("c", "c5"), ("d", "d8")]));
    assert_eq!(scan_backward(&mut it), kv(&[("d", "d8"), ("c", "c5"), ("a", "a10")]));
    // At snapshot 5: a3, b4, c5; d deleted at 2, d8 invisible.
    let mut it = db_iter(vec![mem.clone(), l0.clone()], 5, None, None);
    assert_eq!(scan_forward(&mut it), kv(&[("a", "a3"), ("b", "b4"), ("c", "c5")]));
    assert_eq!(scan_backward(&mut it), kv(&[("c", "c5"), ("b", "b4"), ("a", "a3")]));
    // Bounds.
    let mut it = db_iter(vec![mem, l0], 100, Some(b"b"), Some(b"d"));
    assert_eq!(scan_forward(&mut it), kv(&[("c", "c5")]));
    assert_eq!(scan_backward(&mut it), kv(&[("c", "c5")]));
    it.seek(b"a");
    assert_eq!(it.key(), b"c");
    it.seek_for_prev(b"zzz");
    assert_eq!(it.key(), b"c");
    it.seek_for_prev(b"a");
    assert!(!it.valid());
    it.seek(b"d");
    assert!(!it.valid());
    it.status().unwrap();
}

#[test]
fn direction_switches_on_the_spot() {
    let data = vec![put(b"a", 1, b"1"), put(b"b", 2, b"2"), put(b"b", 5, b"5"), put(b"c", 3, b"3")];
    let mut it = db_iter(vec![data], 10, None, None);
    it.seek(b"b");
    assert_eq!((it.key(), it.value()), (&b"b"[..], &b"5"[..]));
    it.prev();
    assert_eq!(it.key(), b"a");
    it.next();
    assert_eq!((it.key(), it.value()), (&b"b"[..], &b"5"[..]));
    it.next();
    assert_eq!(it.key(), b"c");
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"b"[..], &b"5"[..]));
    it.prev();
    it.prev();
    assert!(!it.valid());
    it.next(); // no-op on an invalid iterator
    assert!(!it.valid());
    it.status().unwrap();
}

#[test]
fn counts_skipped_entries() {
    let data =
        vec![put(b"a", 3, b"new"), put(b"a", 2, b"old"), del(b"b", 4), put(b"b", 1, b"x"), put(b"c", 9, b"future")];
    let mut it = db_iter(vec![data], 5, None, None);
    assert_eq!(scan_forward(&mut it), kv(&[("a", "new")]));
    // a@2 hidden, b tombstone, b@1 hidden, c@9 invisible.
    assert_eq!(it.skipped_entries(), 4);
}

#[test]
fn malformed_key_is_sticky_corruption() {
    // Kind byte 9 (the low byte of the tag) is unknown.
    let bad = vec![b'b', 9, 0, 0, 0, 0, 0, 0, 0];
    let data = vec![put(b"a", 1, b"1"), (bad.clone(), b"v".to_vec()), put(b"c", 1, b"3")];
    let mut it = DbIterator::new(Box::new(VecIterator::new(data)), 10, None, None);
    it.seek_to_first();
    assert_eq!(it.key(), b"a");
    it.next();
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
    assert_eq!(it.key(), b"");
    it.seek_to_first();
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
    // Backward too.
    let data = vec![put(b"a", 1, b"1"), (bad, b"v".to_vec())];
    let mut it = DbIterator::new(Box::new(VecIterator::new(data)), 10, None, None);
    it.seek_to_last();
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
    // A key shorter than a tag.
    let mut it = DbIterator::new(Box::new(VecIterator::new(vec![(b"short".to_vec(), Vec::new())])), 10, None, None);
    it.seek(b"");
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
}

struct DropProbe {
    order: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.seen.store(self.order.fetch_add(1, AtomicOrdering::SeqCst), AtomicOrdering::SeqCst);
    }
}

/// An inner iterator that records when it is dropped.
struct ProbedIter {
    inner: VecIterator,
    _probe: DropProbe,
}

impl InternalIterator for ProbedIter {
    fn valid(&self) -> bool {
        self.inner.valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.inner.seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.inner.seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.inner.seek(target)
    }
    fn next(&mut self) -> Result<()> {
        self.inner.next()
    }
    fn prev(&mut self) -> Result<()> {
        self.inner.prev()
    }
    fn key(&self) -> &[u8] {
        self.inner.key()
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
    fn status(&self) -> Result<()> {
        self.inner.status()
    }
}

#[test]
fn pins_outlive_the_inner_iterator_and_iterator_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<DbIterator>();
    let order = Arc::new(AtomicUsize::new(1));
    let inner_seen = Arc::new(AtomicUsize::new(0));
    let pin_seen = Arc::new(AtomicUsize::new(0));
    let inner = ProbedIter {
        inner: VecIterator::new(vec![put(b"a", 1, b"1")]),
        _probe: DropProbe { order: order.clone(), seen: inner_seen.clone() },
    };
    let pin = DropProbe { order: order.clone(), seen: pin_seen.clone() };
    let mut it =
        DbIterator::new(Box::new(inner), 5, None, None).with_pins(vec![Box::new(Arc::new(std::sync::Mutex::new(pin)))]);
    it.seek_to_first();
    assert_eq!(it.value(), b"1");
    drop(it);
    assert_eq!(inner_seen.load(AtomicOrdering::SeqCst), 1);
    assert_eq!(pin_seen.load(AtomicOrdering::SeqCst), 2);
}

/// Random sources and the model (visible keys at a snapshot, within bounds).
struct Case {
    children: Vec<Vec<Entry>>,
    /// (user key, seq, value or None for a deletion).
    writes: Vec<(Vec<u8>, u64, Option<Vec<u8>>)>,
}

const KEYS: &[&[u8]] = &[b"", b"a", b"a\x00", b"ab", b"abc", b"b", b"ba", b"bb", b"c", b"m", b"\xff", b"\xff\xff"];

fn random_case(rng: &mut TestRng) -> Case {
    let n_children = 1 + rng.below(4);
    let mut children = vec![Vec::new(); n_children];
    let mut writes = Vec::new();
    let n = rng.below(80);
    let nkeys = 1 + rng.below(KEYS.len());
    for seq in 1..=n as u64 {
        let key = KEYS[rng.below(nkeys)].to_vec();
        let c = rng.below(n_children);
        if rng.chance(1, 3) {
            children[c].push(del(&key, seq));
            writes.push((key, seq, None));
        } else {
            let value = format!("v{seq}").into_bytes();
            children[c].push(put(&key, seq, &value));
            writes.push((key, seq, Some(value)));
        }
    }
    Case { children, writes }
}

fn model(case: &Case, snapshot: u64, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Vec<Entry> {
    let mut newest: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    for (k, seq, v) in &case.writes {
        if *seq <= snapshot && newest.get(k).is_none_or(|(s, _)| s < seq) {
            newest.insert(k.clone(), (*seq, v.clone()));
        }
    }
    newest
        .into_iter()
        .filter(|(k, _)| lower.is_none_or(|l| k.as_slice() >= l) && upper.is_none_or(|u| k.as_slice() < u))
        .filter_map(|(k, (_, v))| v.map(|v| (k, v)))
        .collect()
}

fn random_bound(rng: &mut TestRng) -> Option<Vec<u8>> {
    if rng.chance(1, 2) {
        None
    } else if rng.chance(1, 4) {
        Some(b"aa".to_vec())
    } else {
        Some(KEYS[rng.below(KEYS.len())].to_vec())
    }
}

fn random_user_key(rng: &mut TestRng) -> Vec<u8> {
    if rng.chance(3, 4) {
        KEYS[rng.below(KEYS.len())].to_vec()
    } else {
        (0..rng.below(3)).map(|_| [0u8, b'a', b'b', b'z', 0xff][rng.below(5)]).collect()
    }
}

fn check(it: &DbIterator, expect: &[Entry], pos: Option<usize>, ctx: &str) {
    match pos.and_then(|p| expect.get(p)) {
        Some((k, v)) => {
            assert!(it.valid(), "{ctx}: expected {k:?}, got invalid");
            assert_eq!(it.key(), &k[..], "{ctx}");
            assert_eq!(it.value(), &v[..], "{ctx}");
        }
        None => assert!(!it.valid(), "{ctx}: expected invalid, got {:?}", it.key()),
    }
    it.status().unwrap();
}

#[test]
fn randomized_against_btreemap_model() {
    for seed in 1..=400u64 {
        let mut rng = TestRng::new(seed);
        let case = random_case(&mut rng);
        for round in 0..6 {
            let max_seq = case.writes.len() as u64;
            let snapshot = if rng.chance(1, 3) { u64::MAX } else { rng.below(max_seq as usize + 2) as u64 };
            let lower = random_bound(&mut rng);
            let upper = random_bound(&mut rng);
            let expect = model(&case, snapshot, lower.as_deref(), upper.as_deref());
            let ctx = format!("seed {seed} round {round} snap {snapshot} lower {lower:?} upper {upper:?}");
            let mut it = db_iter(case.children.clone(), snapshot, lower.as_deref(), upper.as_deref());
            assert_eq!(scan_forward(&mut it), expect, "{ctx}");
            let mut rev = expect.clone();
            rev.reverse();
            assert_eq!(scan_backward(&mut it), rev, "{ctx}");
            for _ in 0..15 {
                let target = random_user_key(&mut rng);
                let mut pos = match rng.below(4) {
                    0 => {
                        it.seek(&target);
                        Some(expect.partition_point(|e| e.0 < target))
                    }
                    1 => {
                        it.seek_for_prev(&target);
                        expect.partition_point(|e| e.0 <= target).checked_sub(1)
                    }
                    2 => {
                        it.seek_to_first();
                        Some(0)
                    }
                    _ => {
                        it.seek_to_last();
                        expect.len().checked_sub(1)
                    }
                };
                check(&it, &expect, pos, &format!("{ctx} after seek to {target:?}"));
                for step in 0..25 {
                    let Some(p) = pos.filter(|&p| p < expect.len()) else { break };
                    if rng.chance(1, 2) {
                        it.next();
                        pos = Some(p + 1);
                    } else {
                        it.prev();
                        pos = p.checked_sub(1);
                    }
                    check(&it, &expect, pos, &format!("{ctx} target {target:?} step {step}"));
                }
            }
        }
    }
}

#[test]
fn child_failure_makes_iterator_invalid_with_error() {
    for fail_at in 1..30u64 {
        for failing_child in 0..3usize {
            let mut rng = TestRng::new(1000 + fail_at * 3 + failing_child as u64);
            let case = random_case(&mut rng);
            let mut kids: Vec<Box<dyn InternalIterator>> = Vec::new();
            for (c, entries) in case.children.iter().enumerate() {
                let v = VecIterator::new(entries.clone());
                kids.push(Box::new(if c == failing_child % case.children.len() { v.failing_at(fail_at) } else { v }));
            }
            let mut it = DbIterator::new(Box::new(MergingIterator::new(kids)), u64::MAX, None, None);
            let mut failed = false;
            for _ in 0..200 {
                match rng.below(6) {
                    0 => it.seek_to_first(),
                    1 => it.seek_to_last(),
                    2 => it.seek(&random_user_key(&mut rng)),
                    3 => it.seek_for_prev(&random_user_key(&mut rng)),
                    4 => it.next(),
                    _ => it.prev(),
                }
                if let Err(e) = it.status() {
                    assert!(e.is_io(), "{e}");
                    failed = true;
                }
                if failed {
                    assert!(!it.valid());
                    assert_eq!(it.key(), b"");
                    assert_eq!(it.value(), b"");
                    assert!(it.status().is_err());
                }
            }
            assert!(failed, "fail_at {fail_at} child {failing_child} never failed");
        }
    }
}
