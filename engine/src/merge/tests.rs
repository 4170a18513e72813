use super::testing::{TestRng, VecIterator};
use super::*;
use crate::keys::{make_internal_key, ValueKind};

type Entry = (Vec<u8>, Vec<u8>);

fn boxed(entries: Vec<Entry>) -> Box<dyn InternalIterator> {
    Box::new(VecIterator::new(entries))
}

fn ik(user: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    make_internal_key(user, seq, kind)
}

fn collect_forward(it: &mut dyn InternalIterator) -> Vec<Entry> {
    let mut out = Vec::new();
    it.seek_to_first().unwrap();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().unwrap();
    }
    it.status().unwrap();
    out
}

fn collect_backward(it: &mut dyn InternalIterator) -> Vec<Entry> {
    let mut out = Vec::new();
    it.seek_to_last().unwrap();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev().unwrap();
    }
    it.status().unwrap();
    out
}

#[test]
fn empty_merge_is_never_valid() {
    let mut m = MergingIterator::new(Vec::new());
    assert!(!m.valid());
    m.seek_to_first().unwrap();
    assert!(!m.valid());
    m.seek_to_last().unwrap();
    m.seek(&ik(b"a", 1, ValueKind::Value)).unwrap();
    m.seek_for_prev(&ik(b"a", 1, ValueKind::Value)).unwrap();
    assert!(!m.valid());
    assert!(matches!(m.next(), Err(Error::InvalidArgument(_))));
    assert!(matches!(m.prev(), Err(Error::InvalidArgument(_))));
    assert_eq!(m.key(), b"");
    assert_eq!(m.value(), b"");
    m.status().unwrap();
    // Empty children behave the same.
    let mut m = MergingIterator::new(vec![boxed(vec![]), boxed(vec![])]);
    assert!(collect_forward(&mut m).is_empty());
    assert!(collect_backward(&mut m).is_empty());
}

#[test]
fn single_child_and_fast_path() {
    let entries: Vec<Entry> = (0..10u8).map(|i| (ik(&[b'a' + i], 5, ValueKind::Value), vec![i])).collect();
    let mut m = MergingIterator::new(vec![boxed(entries.clone())]);
    assert_eq!(collect_forward(&mut m), entries);
    let mut rev = entries.clone();
    rev.reverse();
    assert_eq!(collect_backward(&mut m), rev);
    let mut fast = merge(vec![boxed(entries.clone())]);
    assert_eq!(collect_forward(fast.as_mut()), entries);
}

#[test]
fn interleaves_and_switches_direction() {
    let a = vec![(ik(b"a", 3, ValueKind::Value), b"a3".to_vec()), (ik(b"c", 1, ValueKind::Value), b"c1".to_vec())];
    let b = vec![(ik(b"a", 2, ValueKind::Deletion), b"".to_vec()), (ik(b"b", 9, ValueKind::Value), b"b9".to_vec())];
    let mut m = MergingIterator::new(vec![boxed(a), boxed(b)]);
    let keys: Vec<Vec<u8>> = collect_forward(&mut m).into_iter().map(|e| e.1).collect();
    assert_eq!(keys, vec![b"a3".to_vec(), b"".to_vec(), b"b9".to_vec(), b"c1".to_vec()]);
    m.seek(&ik(b"b", 100, ValueKind::Value)).unwrap();
    assert_eq!(m.value(), b"b9");
    m.prev().unwrap();
    assert_eq!(m.key(), ik(b"a", 2, ValueKind::Deletion));
    m.next().unwrap();
    assert_eq!(m.value(), b"b9");
    m.next().unwrap();
    assert_eq!(m.value(), b"c1");
    m.prev().unwrap();
    assert_eq!(m.value(), b"b9");
}

/// The model: every entry tagged with its child, sorted by (internal key, child).
struct Model {
    entries: Vec<(Vec<u8>, usize, Vec<u8>)>,
}

impl Model {
    fn cmp(a: (&[u8], usize), b: (&[u8], usize)) -> Ordering {
        compare_internal(a.0, b.0).then(a.1.cmp(&b.1))
    }
    fn lower_bound(&self, target: &[u8]) -> usize {
        self.entries.partition_point(|e| compare_internal(&e.0, target) == Ordering::Less)
    }
    fn seek_for_prev(&self, target: &[u8]) -> Option<usize> {
        self.entries.partition_point(|e| compare_internal(&e.0, target) != Ordering::Greater).checked_sub(1)
    }
}

fn random_children(rng: &mut TestRng) -> (Vec<Vec<Entry>>, Model) {
    let n_children = 1 + rng.below(5);
    let user_keys: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"a".to_vec(),
        b"ab".to_vec(),
        b"abc".to_vec(),
        b"b".to_vec(),
        b"ba".to_vec(),
        vec![0xff],
        vec![0xff, 0],
        b"m".to_vec(),
        b"z".to_vec(),
    ];
    let mut children: Vec<Vec<Entry>> = vec![Vec::new(); n_children];
    let mut model = Vec::new();
    let mut used = std::collections::HashSet::new();
    let n = rng.below(60);
    for id in 0..n {
        let uk = &user_keys[rng.below(user_keys.len())];
        let seq = rng.below(20) as u64;
        let kind = if rng.chance(1, 3) { ValueKind::Deletion } else { ValueKind::Value };
        let key = ik(uk, seq, kind);
        // Sometimes copy the same internal key into several children to exercise ties.
        let copies = if rng.chance(1, 5) { 2 } else { 1 };
        for _ in 0..copies {
            let c = rng.below(n_children);
            if !used.insert((key.clone(), c)) {
                continue;
            }
            let value = format!("{id}@{c}").into_bytes();
            children[c].push((key.clone(), value.clone()));
            model.push((key.clone(), c, value));
        }
    }
    model.sort_by(|a, b| Model::cmp((&a.0, a.1), (&b.0, b.1)));
    (children, Model { entries: model })
}

fn random_target(rng: &mut TestRng, model: &Model) -> Vec<u8> {
    if !model.entries.is_empty() && rng.chance(1, 2) {
        return model.entries[rng.below(model.entries.len())].0.clone();
    }
    let len = rng.below(3);
    let uk: Vec<u8> = (0..len).map(|_| [0u8, b'a', b'b', b'c', b'm', 0xff][rng.below(6)]).collect();
    let kind = if rng.chance(1, 2) { ValueKind::Deletion } else { ValueKind::Value };
    ik(&uk, rng.below(22) as u64, kind)
}

fn check_at(m: &MergingIterator, model: &Model, pos: Option<usize>) {
    match pos.and_then(|p| model.entries.get(p)) {
        Some((k, _, v)) => {
            assert!(m.valid());
            assert_eq!(m.key(), &k[..]);
            assert_eq!(m.value(), &v[..]);
        }
        None => assert!(!m.valid()),
    }
}

#[test]
fn randomized_against_model() {
    for seed in 1..=300u64 {
        let mut rng = TestRng::new(seed);
        let (children, model) = random_children(&mut rng);
        let mut m = MergingIterator::new(children.into_iter().map(boxed).collect());
        let expect: Vec<Entry> = model.entries.iter().map(|e| (e.0.clone(), e.2.clone())).collect();
        assert_eq!(collect_forward(&mut m), expect, "seed {seed}");
        let mut rev = expect.clone();
        rev.reverse();
        assert_eq!(collect_backward(&mut m), rev, "seed {seed}");
        for _ in 0..20 {
            let target = random_target(&mut rng, &model);
            let mut pos = match rng.below(4) {
                0 => {
                    m.seek(&target).unwrap();
                    Some(model.lower_bound(&target))
                }
                1 => {
                    m.seek_for_prev(&target).unwrap();
                    model.seek_for_prev(&target)
                }
                2 => {
                    m.seek_to_first().unwrap();
                    Some(0)
                }
                _ => {
                    m.seek_to_last().unwrap();
                    model.entries.len().checked_sub(1)
                }
            };
            check_at(&m, &model, pos);
            for _ in 0..30 {
                let Some(p) = pos.filter(|&p| p < model.entries.len()) else { break };
                if rng.chance(1, 2) {
                    m.next().unwrap();
                    pos = Some(p + 1);
                } else {
                    m.prev().unwrap();
                    pos = p.checked_sub(1);
                }
                check_at(&m, &model, pos);
            }
            m.status().unwrap();
        }
    }
}

#[test]
fn child_errors_stick_without_panicking() {
    for fail_at in 1..40u64 {
        for failing_child in 0..3usize {
            let mut rng = TestRng::new(fail_at * 7 + failing_child as u64);
            let children: Vec<Box<dyn InternalIterator>> = (0..3usize)
                .map(|c| {
                    let entries: Vec<Entry> =
                        (0..8u8).map(|i| (ik(&[b'a' + i * 3 + c as u8], 1, ValueKind::Value), vec![i])).collect();
                    let it = VecIterator::new(entries);
                    let it = if c == failing_child { it.failing_at(fail_at) } else { it };
                    Box::new(it) as Box<dyn InternalIterator>
                })
                .collect();
            let mut m = MergingIterator::new(children);
            let mut failed = None;
            for _ in 0..60 {
                let r = match rng.below(6) {
                    0 => m.seek_to_first(),
                    1 => m.seek_to_last(),
                    2 => m.seek(&ik(&[b'a' + rng.below(26) as u8], 1, ValueKind::Value)),
                    3 => m.seek_for_prev(&ik(&[b'a' + rng.below(26) as u8], 1, ValueKind::Value)),
                    4 if m.valid() => m.next(),
                    5 if m.valid() => m.prev(),
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    assert!(e.is_io(), "{e}");
                    failed = Some(e);
                }
                if failed.is_some() {
                    assert!(!m.valid());
                    assert!(m.status().unwrap_err().is_io());
                    assert!(m.seek_to_first().unwrap_err().is_io());
                    assert!(m.next().unwrap_err().is_io());
                    assert_eq!(m.key(), b"");
                }
            }
            assert!(failed.is_some(), "fail_at {fail_at} child {failing_child} never failed");
        }
    }
}
