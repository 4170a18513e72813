//! A sharded LRU cache bounded by the total *charge* (bytes, or a count) of its entries.
//!
//! Used for the block cache (values are decoded blocks, charged by size) and the table cache
//! (values are open table readers, charged 1 each). One cache can be shared by many `Db`s:
//! keys carry an owner id from [`Cache::new_id`] so owners never collide.
//!
//! Thread safety: the key space is split over 16 shards by hash, each behind its own mutex;
//! a lookup or insert locks one shard for a few pointer moves. Values are cloned out (they
//! are `Arc`s in practice), so no lock is held while a caller uses a value.
//!
//! Eviction: each shard holds at most `capacity / shards` charge; inserting past that evicts
//! least-recently-used entries of that shard. An entry larger than a shard's capacity is not
//! kept at all.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The key of a cached entry: (owner id, position within the owner, e.g. a block offset).
pub type CacheKey = (u64, u64);

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
const NIL: usize = usize::MAX;

/// Mixes a cache key into 64 well-spread bits (a multiply-xorshift finalizer). Keys are
/// small integers chosen by the engine, not by an adversary, so no keyed hash is needed.
#[inline]
fn mix(key: &CacheKey) -> u64 {
    let mut h = key.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key.1;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// A `Hasher` for `CacheKey` maps: hashes the two words written by `(u64, u64)::hash`.
#[derive(Default)]
struct KeyHasher {
    words: [u64; 2],
    n: usize,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        if let Some(w) = self.words.get_mut(self.n & 1) {
            *w = w.rotate_left(29) ^ v;
        }
        self.n += 1;
    }
    fn finish(&self) -> u64 {
        mix(&(self.words[0], self.words[1]))
    }
}

type KeyMap = HashMap<CacheKey, usize, BuildHasherDefault<KeyHasher>>;

struct Entry<V> {
    key: CacheKey,
    value: V,
    charge: usize,
    prev: usize,
    next: usize,
}

/// One shard: a hash map into a slab of entries linked in LRU order (head = most recent).
struct Shard<V> {
    map: KeyMap,
    slab: Vec<Option<Entry<V>>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    usage: usize,
    capacity: usize,
}

impl<V: Clone> Shard<V> {
    fn new(capacity: usize) -> Self {
        Shard { map: KeyMap::default(), slab: Vec::new(), free: Vec::new(), head: NIL, tail: NIL, usage: 0, capacity }
    }

    fn entry(&mut self, i: usize) -> Option<&mut Entry<V>> {
        self.slab.get_mut(i).and_then(Option::as_mut)
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = match self.entry(i) {
            Some(e) => (e.prev, e.next),
            None => return,
        };
        match self.entry(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.entry(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        let old_head = self.head;
        if let Some(e) = self.entry(i) {
            e.prev = NIL;
            e.next = old_head;
        }
        match self.entry(old_head) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }

    fn remove_index(&mut self, i: usize) -> Option<Entry<V>> {
        self.unlink(i);
        let e = self.slab.get_mut(i)?.take()?;
        self.map.remove(&e.key);
        self.usage -= e.charge;
        self.free.push(i);
        Some(e)
    }

    fn get(&mut self, key: &CacheKey) -> Option<V> {
        let i = *self.map.get(key)?;
        self.unlink(i);
        self.push_front(i);
        self.entry(i).map(|e| e.value.clone())
    }

    fn insert(&mut self, key: CacheKey, value: V, charge: usize) {
        if let Some(&i) = self.map.get(&key) {
            self.remove_index(i);
        }
        if charge > self.capacity {
            return;
        }
        while self.usage + charge > self.capacity && self.tail != NIL {
            let t = self.tail;
            self.remove_index(t);
        }
        let e = Entry { key, value, charge, prev: NIL, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.slab.get_mut(i) {
                    *slot = Some(e);
                }
                i
            }
            None => {
                self.slab.push(Some(e));
                self.slab.len() - 1
            }
        };
        self.map.insert(key, i);
        self.usage += charge;
        self.push_front(i);
    }

    fn erase(&mut self, key: &CacheKey) -> Option<V> {
        let i = *self.map.get(key)?;
        self.remove_index(i).map(|e| e.value)
    }
}

/// A sharded LRU cache. See the module docs.
pub struct Cache<V> {
    shards: Vec<Mutex<Shard<V>>>,
    capacity: usize,
    /// Id source for owners. Relaxed: only uniqueness matters.
    next_id: AtomicU64,
    /// Statistics; Relaxed: counters, read for reporting only.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V> std::fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl<V: Clone> Cache<V> {
    /// A cache holding at most `capacity` charge in total.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new(per_shard))).collect(),
            capacity,
            next_id: AtomicU64::new(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &CacheKey) -> &Mutex<Shard<V>> {
        let idx = (mix(key) >> (64 - SHARD_BITS)) as usize;
        // `idx < SHARDS` by construction; fall back to shard 0 rather than index unchecked.
        self.shards.get(idx).unwrap_or_else(|| &self.shards[0])
    }

    /// A fresh owner id, unique within this cache.
    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Looks `key` up, marking it most recently used.
    pub fn get(&self, key: &CacheKey) -> Option<V> {
        let v = self.shard(key).lock().get(key);
        let counter = if v.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        v
    }

    /// Inserts (or replaces) `key`, evicting old entries to stay within capacity.
    pub fn insert(&self, key: CacheKey, value: V, charge: usize) {
        self.shard(&key).lock().insert(key, value, charge);
    }

    /// Removes `key`, returning its value if it was cached.
    pub fn erase(&self, key: &CacheKey) -> Option<V> {
        self.shard(key).lock().erase(key)
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The total charge cached now.
    pub fn usage(&self) -> usize {
        self.shards.iter().map(|s| s.lock().usage).sum()
    }

    /// Lookups that found their key.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_and_replace() {
        let c: Cache<u32> = Cache::new(1 << 20);
        assert_eq!(c.get(&(1, 1)), None);
        c.insert((1, 1), 10, 100);
        c.insert((2, 1), 20, 100);
        assert_eq!(c.get(&(1, 1)), Some(10));
        c.insert((1, 1), 11, 50);
        assert_eq!(c.get(&(1, 1)), Some(11));
        assert_eq!(c.usage(), 150);
        assert_eq!(c.erase(&(2, 1)), Some(20));
        assert_eq!(c.get(&(2, 1)), None);
        assert_eq!((c.hits(), c.misses()), (2, 2));
    }

    #[test]
    fn evicts_lru_within_capacity() {
        let c: Cache<u64> = Cache::new(16 * 10);
        // Every shard holds 10; insert many entries of charge 1 and check the bound.
        for i in 0..10_000u64 {
            c.insert((7, i), i, 1);
            assert!(c.usage() <= c.capacity());
        }
        // A recently used key survives churn in its own shard better than an old one.
        let live = (0..10_000u64).filter(|&i| c.get(&(7, i)).is_some()).count();
        assert!(live > 0 && live <= 160, "{live}");
        assert!((9_990..10_000).all(|i| c.get(&(7, i)).is_some()));
    }

    #[test]
    fn oversized_entry_not_kept() {
        let c: Cache<u8> = Cache::new(16);
        c.insert((1, 1), 1, 1000);
        assert_eq!(c.get(&(1, 1)), None);
        assert_eq!(c.usage(), 0);
    }

    #[test]
    fn ids_are_unique() {
        let c: Cache<u8> = Cache::new(16);
        assert_ne!(c.new_id(), c.new_id());
    }
}
