//! Memtable tests: a model test against a `BTreeMap`, a concurrent reader/writer test, and
//! edge cases.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::{MemGet, MemTable, MemTableIterator};
use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, make_internal_key, pack_tag, parse_internal_key, ValueKind, MAX_SEQUENCE};

/// A small deterministic generator (xorshift64*), so every failure replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, max_len: u64, alphabet: &[u8]) -> Vec<u8> {
        let n = self.below(max_len + 1);
        (0..n).map(|_| alphabet[self.below(alphabet.len() as u64) as usize]).collect()
    }
}

/// The model: (user key, Reverse(tag)) orders exactly as internal keys do.
type Model = BTreeMap<(Vec<u8>, Reverse<u64>), Vec<u8>>;

fn model_entries(model: &Model) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().map(|((u, Reverse(t)), v)| (ikey_from_tag(u, *t), v.clone())).collect()
}

fn ikey_from_tag(user: &[u8], tag: u64) -> Vec<u8> {
    let mut k = user.to_vec();
    k.extend_from_slice(&tag.to_le_bytes());
    k
}

fn model_get<'a>(model: &'a Model, user: &[u8], seq: u64) -> Option<MemGet<'a>> {
    let start = (user.to_vec(), Reverse(pack_tag(seq.min(MAX_SEQUENCE), ValueKind::SEEK)));
    let ((u, Reverse(t)), v) = model.range(start..).next()?;
    if u != user {
        return None;
    }
    Some(if t & 0xff == ValueKind::Value as u64 { MemGet::Found(v) } else { MemGet::Deleted })
}

fn current(it: &MemTableIterator) -> Option<(Vec<u8>, Vec<u8>)> {
    it.valid().then(|| (it.key().to_vec(), it.value().to_vec()))
}

/// Checks everything observable of `mem` against `model`.
fn check(mem: &Arc<MemTable>, model: &Model, rng: &mut Rng, max_seq: u64, alphabet: &[u8]) {
    assert_eq!(mem.len(), model.len());
    assert_eq!(mem.is_empty(), model.is_empty());
    let entries = model_entries(model);

    // Point lookups at many sequence numbers, for stored keys and random probes.
    let users: Vec<Vec<u8>> = model.keys().map(|(u, _)| u.clone()).collect();
    for i in 0..300 {
        let user = if i % 3 == 0 || users.is_empty() {
            rng.bytes(5, alphabet)
        } else {
            users[rng.below(users.len() as u64) as usize].clone()
        };
        let seq = match i % 4 {
            0 => MAX_SEQUENCE,
            1 => 0,
            _ => rng.below(max_seq + 2),
        };
        assert_eq!(mem.get(&user, seq), model_get(model, &user, seq), "get {user:?} @ {seq}");
    }

    // Full scans both ways.
    let mut it = mem.iter();
    it.seek_to_first().unwrap();
    let mut fwd = Vec::new();
    while let Some(e) = current(&it) {
        fwd.push(e);
        it.next().unwrap();
    }
    assert_eq!(fwd, entries);
    it.seek_to_last().unwrap();
    let mut back = Vec::new();
    while let Some(e) = current(&it) {
        back.push(e);
        it.prev().unwrap();
    }
    back.reverse();
    assert_eq!(back, entries);

    // Random seeks and seek_for_prevs, each followed by a random walk.
    for _ in 0..200 {
        let target = match rng.below(5) {
            0 => rng.bytes(7, alphabet), // shorter than a tag: all user key, tag 0
            1 if !entries.is_empty() => entries[rng.below(entries.len() as u64) as usize].0.clone(),
            _ => {
                let kind = if rng.below(2) == 0 { ValueKind::Value } else { ValueKind::Deletion };
                make_internal_key(&rng.bytes(5, alphabet), rng.below(max_seq + 2), kind)
            }
        };
        let mut pos: Option<usize>;
        if rng.below(2) == 0 {
            it.seek(&target).unwrap();
            pos = entries.iter().position(|(k, _)| compare_internal(k, &target) != Ordering::Less);
        } else {
            it.seek_for_prev(&target).unwrap();
            pos = entries.iter().rposition(|(k, _)| compare_internal(k, &target) != Ordering::Greater);
        }
        for _ in 0..6 {
            assert_eq!(current(&it), pos.map(|i| entries[i].clone()), "target {target:?}");
            let Some(i) = pos else { break };
            if rng.below(2) == 0 {
                it.next().unwrap();
                pos = (i + 1 < entries.len()).then_some(i + 1);
            } else {
                it.prev().unwrap();
                pos = i.checked_sub(1);
            }
        }
    }
    it.status().unwrap();
}

#[test]
fn model_random_operations() {
    let alphabet = [b'a', b'b', b'c', 0x00, 0xff];
    for seed in 1..=6u64 {
        let mut rng = Rng::new(seed);
        let mem = Arc::new(MemTable::new());
        let mut model = Model::new();
        let mut seq = 0u64;
        for op in 0..1500 {
            // Mostly consecutive sequences, sometimes a jump.
            seq += if rng.below(10) == 0 { 1 + rng.below(1000) } else { 1 };
            let user = rng.bytes(5, &alphabet);
            let kind = if rng.below(5) == 0 { ValueKind::Deletion } else { ValueKind::Value };
            let value = if kind == ValueKind::Deletion {
                Vec::new()
            } else if seed == 3 && op % 500 == 7 {
                vec![seed as u8; 300 << 10] // bigger than a quarter chunk: a chunk of its own
            } else if rng.below(4) == 0 {
                // Around the inline limit and past it: stored in the value arena.
                rng.bytes(200, b"0123456789")
            } else {
                rng.bytes(20, b"0123456789")
            };
            mem.add(seq, kind, &user, &value);
            model.insert((user, Reverse(pack_tag(seq, kind))), value);
            if op % 250 == 249 {
                check(&mem, &model, &mut rng, seq, &alphabet);
            }
        }
        check(&mem, &model, &mut rng, seq, &alphabet);
    }
}

#[test]
fn ascending_and_descending_inserts() {
    // Ascending inserts take the splice fast path; descending ones miss it every time.
    for descending in [false, true] {
        let mem = Arc::new(MemTable::new());
        let mut model = Model::new();
        for i in 0..3000u64 {
            let k = if descending { 3000 - i } else { i };
            let user = format!("{k:08}").into_bytes();
            mem.add(i + 1, ValueKind::Value, &user, &k.to_le_bytes());
            model.insert((user, Reverse(pack_tag(i + 1, ValueKind::Value))), k.to_le_bytes().to_vec());
        }
        // Same user key, ascending internal order means descending sequence: insert a run.
        for s in (5000..5100u64).rev() {
            mem.add(s, ValueKind::Value, b"zzz", b"v");
            model.insert((b"zzz".to_vec(), Reverse(pack_tag(s, ValueKind::Value))), b"v".to_vec());
        }
        mem.list.check_levels().unwrap();
        check(&mem, &model, &mut Rng::new(9), 6000, b"0123456789z");
    }
}

#[test]
fn sorted_runs_search_from_the_last_insert() {
    // Runs of random keys, each sorted (as the engine inserts a group): within a run every
    // insert searches forward from the splice, across levels; each run starts below the
    // last key (a full search) or above it. Same-key entries of a run come newest first.
    let alphabet = [b'a', b'b', b'c', b'd', 0x00, 0xff];
    for seed in 1..=4u64 {
        let mut rng = Rng::new(seed);
        let mem = Arc::new(MemTable::new());
        let mut model = Model::new();
        let mut seq = 0u64;
        for _ in 0..60 {
            let len = 1 + rng.below(if seed == 4 { 400 } else { 60 });
            let mut run: Vec<(Vec<u8>, u64, ValueKind, Vec<u8>)> = (0..len)
                .map(|_| {
                    seq += 1;
                    let kind = if rng.below(6) == 0 { ValueKind::Deletion } else { ValueKind::Value };
                    let value = if kind == ValueKind::Deletion { Vec::new() } else { rng.bytes(150, b"xyz") };
                    (rng.bytes(6, &alphabet), seq, kind, value)
                })
                .collect();
            run.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            for (user, seq, kind, value) in run {
                mem.add(seq, kind, &user, &value);
                model.insert((user, Reverse(pack_tag(seq, kind))), value);
            }
            let per_level = mem.list.check_levels().unwrap();
            assert_eq!(per_level[0], model.len());
        }
        check(&mem, &model, &mut rng, seq, &alphabet);
    }
}

#[test]
fn empty_memtable() {
    let mem = Arc::new(MemTable::new());
    assert!(mem.is_empty());
    assert_eq!(mem.len(), 0);
    assert_eq!(mem.get(b"a", MAX_SEQUENCE), None);
    let mut it = mem.iter();
    assert!(!it.valid());
    assert!(it.key().is_empty() && it.value().is_empty());
    it.seek_to_first().unwrap();
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    assert!(!it.valid());
    it.seek(&make_internal_key(b"a", 1, ValueKind::Value)).unwrap();
    assert!(!it.valid());
    it.seek_for_prev(&make_internal_key(b"a", 1, ValueKind::Value)).unwrap();
    assert!(!it.valid());
    it.status().unwrap();
    // Stepping an unpositioned iterator is a logic error, reported and sticky.
    assert!(matches!(it.next(), Err(crate::Error::InvalidArgument(_))));
    assert!(it.status().is_err());
    assert!(it.seek_to_first().is_err());
    assert!(it.prev().is_err());
}

#[test]
fn memory_usage_grows_with_inserts() {
    let mem = MemTable::new();
    let mut last = mem.approximate_memory_usage();
    for i in 0..5000u32 {
        mem.add(u64::from(i) + 1, ValueKind::Value, &i.to_be_bytes(), &[7u8; 100]);
        let now = mem.approximate_memory_usage();
        assert!(now >= last + 100 + 4 + 8, "usage {now} after {last}");
        last = now;
    }
    // Roughly the payload plus towers and lengths, not whole chunks per entry.
    assert!(last < 5000 * 200, "usage {last}");
}

#[test]
fn values_inline_and_apart_read_back_exactly() {
    use super::skiplist::INLINE_VALUE_MAX;
    // Every length around the inline limit, in random key order so the nodes and the value
    // arena fill in different orders; empty values and one bigger than a chunk too.
    let lens: Vec<usize> = (0..=INLINE_VALUE_MAX + 3).chain([1000, 4096, 2 << 20]).collect();
    let mem = Arc::new(MemTable::new());
    let mut model = Model::new();
    let mut rng = Rng::new(77);
    for (i, &len) in lens.iter().enumerate() {
        let user = format!("{:04}", rng.below(10_000)).into_bytes();
        let value: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        let seq = i as u64 + 1;
        mem.add(seq, ValueKind::Value, &user, &value);
        assert_eq!(mem.get(&user, seq), Some(MemGet::Found(&value[..])), "length {len}");
        model.insert((user, Reverse(pack_tag(seq, ValueKind::Value))), value);
    }
    check(&mem, &model, &mut rng, lens.len() as u64, b"0123456789");
    // Out-of-line values are counted in the memory usage like inline ones.
    let payload: usize = lens.iter().sum();
    assert!(mem.approximate_memory_usage() >= payload, "{} < {payload}", mem.approximate_memory_usage());
}

#[test]
fn get_sees_newest_visible_version() {
    let mem = MemTable::new();
    mem.add(10, ValueKind::Value, b"k", b"v10");
    mem.add(20, ValueKind::Deletion, b"k", b"");
    mem.add(30, ValueKind::Value, b"k", b"v30");
    mem.add(15, ValueKind::Value, b"k2", b"x");
    assert_eq!(mem.get(b"k", 9), None);
    assert_eq!(mem.get(b"k", 10), Some(MemGet::Found(&b"v10"[..])));
    assert_eq!(mem.get(b"k", 19), Some(MemGet::Found(&b"v10"[..])));
    assert_eq!(mem.get(b"k", 20), Some(MemGet::Deleted));
    assert_eq!(mem.get(b"k", 29), Some(MemGet::Deleted));
    assert_eq!(mem.get(b"k", u64::MAX), Some(MemGet::Found(&b"v30"[..])));
    assert_eq!(mem.get(b"", u64::MAX), None);
    assert_eq!(mem.get(b"k1", u64::MAX), None);
    assert_eq!(mem.get(b"k2", 15), Some(MemGet::Found(&b"x"[..])));
}

#[test]
fn send_sync_and_static() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_sync::<MemTable>();
    assert_send_static::<MemTableIterator>();
    // The iterator keeps the memtable alive after the last other handle drops.
    let mem = Arc::new(MemTable::new());
    mem.add(1, ValueKind::Value, b"a", b"b");
    let mut it = mem.iter();
    drop(mem);
    it.seek_to_first().unwrap();
    assert_eq!(it.value(), b"b");
}

/// Writer `i` (1-based) writes user key `key(i % KEYS)` at sequence `i`: a deletion when
/// `i % 7 == 0`, else the value `i` (8 bytes LE) followed by padding.
fn concurrent_key(i: u64, keys: u64) -> Vec<u8> {
    format!("key{:05}", i % keys).into_bytes()
}

fn concurrent_value(i: u64) -> Vec<u8> {
    let mut v = i.to_le_bytes().to_vec();
    // Some values past the inline limit, so readers also follow value addresses.
    let pad = if i % 5 == 0 { 100 + i % 300 } else { i % 13 };
    v.resize(8 + pad as usize, b'.');
    v
}

#[test]
fn one_writer_three_readers() {
    const N: u64 = 20_000;
    const KEYS: u64 = 700;
    let mem = Arc::new(MemTable::new());
    // The highest sequence fully inserted; Release after `add`, Acquire by readers, as the
    // engine publishes its last sequence.
    let published = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (mem, published, done) = (Arc::clone(&mem), Arc::clone(&published), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + r);
                let mut rounds = 0u64;
                while !done.load(AtomicOrdering::Acquire) || rounds < 2 {
                    rounds += 1;
                    let p = published.load(AtomicOrdering::Acquire);
                    // Point reads at snapshot p see exactly the newest write <= p.
                    for _ in 0..200 {
                        let j = rng.below(KEYS);
                        let got = mem.get(&concurrent_key(j, KEYS), p);
                        let newest = (p >= j.max(1)).then(|| p - (p - j) % KEYS).filter(|&i| i >= 1);
                        let want = newest.map(|i| if i % 7 == 0 { MemGet::Deleted } else { MemGet::Found(&[]) });
                        match (got, want) {
                            (Some(MemGet::Found(v)), Some(MemGet::Found(_))) => {
                                assert_eq!(v, &concurrent_value(newest.unwrap())[..])
                            }
                            (g, w) => assert_eq!(g, w, "key {j} at {p}"),
                        }
                    }
                    // A scan is sorted, and holds every entry <= p (entries > p may show).
                    let mut it = mem.iter();
                    it.seek_to_first().unwrap();
                    let mut prev_key: Option<Vec<u8>> = None;
                    let mut visible = 0u64;
                    while it.valid() {
                        let k = it.key();
                        if let Some(pk) = &prev_key {
                            assert_eq!(compare_internal(pk, k), Ordering::Less);
                        }
                        let pk = parse_internal_key(k).unwrap();
                        assert_eq!(pk.user_key, &concurrent_key(pk.seq, KEYS)[..]);
                        if pk.seq % 7 == 0 {
                            assert_eq!(pk.kind, ValueKind::Deletion);
                        } else {
                            assert_eq!(it.value(), &concurrent_value(pk.seq)[..]);
                        }
                        visible += u64::from(pk.seq <= p);
                        prev_key = Some(k.to_vec());
                        it.next().unwrap();
                    }
                    assert_eq!(visible, p);
                    // A short backward walk from a random seek stays sorted.
                    it.seek(&make_internal_key(&concurrent_key(rng.below(KEYS), KEYS), MAX_SEQUENCE, ValueKind::SEEK))
                        .unwrap();
                    let mut after: Option<Vec<u8>> = None;
                    for _ in 0..50 {
                        if !it.valid() {
                            break;
                        }
                        if let Some(a) = &after {
                            assert_eq!(compare_internal(it.key(), a), Ordering::Less);
                        }
                        after = Some(it.key().to_vec());
                        it.prev().unwrap();
                    }
                }
                rounds
            })
        })
        .collect();

    for i in 1..=N {
        let kind = if i % 7 == 0 { ValueKind::Deletion } else { ValueKind::Value };
        let value = if kind == ValueKind::Value { concurrent_value(i) } else { Vec::new() };
        mem.add(i, kind, &concurrent_key(i, KEYS), &value);
        published.store(i, AtomicOrdering::Release);
    }
    done.store(true, AtomicOrdering::Release);
    for r in readers {
        assert!(r.join().unwrap() >= 2);
    }
    assert_eq!(mem.len() as u64, N);
}
