//! The one bounded map behind every cache (parsed CA bundles, Secrets read with GET, admission
//! decisions): at most so many entries and so many bytes, each entry's size counted when it
//! goes in and taken back when it goes out, so the totals cannot drift from the contents.
//!
//! What goes when the map is full is the cache's choice (expired entries first, then the oldest,
//! for example) through [`BoundedMap::retain`] and [`BoundedMap::remove`]; whatever is still in
//! the way when a new entry arrives is cleared whole by [`BoundedMap::insert`], which is O(1) per
//! insert over time and cannot be gamed into quadratic work. An entry bigger than the whole
//! byte budget is not kept at all.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A map bounded in entries and in bytes (see the module documentation).
#[derive(Debug)]
pub struct BoundedMap<K, V, S = std::collections::hash_map::RandomState> {
    map: HashMap<K, Counted<V>, S>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

/// A value and the bytes it was counted as.
#[derive(Debug)]
struct Counted<V> {
    value: V,
    bytes: usize,
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> BoundedMap<K, V, S> {
    /// An empty map for at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            map: HashMap::default(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> BoundedMap<K, V, S> {
    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).map(|s| &s.value)
    }

    /// The stored key and the value under `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_key_value(key).map(|(k, s)| (k, &s.value))
    }

    /// Whether `key` has an entry.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The keys, in no order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes held, as counted by the inserts.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether an entry of `bytes` more would go past a bound.
    pub fn is_full_for(&self, bytes: usize) -> bool {
        self.map.len() >= self.max_entries || self.bytes.saturating_add(bytes) > self.max_bytes
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let freed = &mut 0usize;
        self.map.retain(|k, s| {
            let kept = keep(k, &s.value);
            if !kept {
                *freed += s.bytes;
            }
            kept
        });
        self.bytes -= *freed;
    }

    /// Removes `key`'s entry and returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = self.map.remove(key)?;
        self.bytes -= removed.bytes;
        Some(removed.value)
    }

    /// The key of the entry `rank` ranks lowest (one pass; for evicting the oldest).
    pub fn lowest<R: Ord>(&self, rank: impl Fn(&V) -> R) -> Option<&K> {
        self.map
            .iter()
            .min_by_key(|(_, s)| rank(&s.value))
            .map(|(k, _)| k)
    }

    /// Puts `value` under `key`, counted as `bytes`; the map is cleared first when it has no room
    /// for it otherwise. Returns false, and keeps nothing, when `bytes` alone is over the byte
    /// bound or no entry is allowed.
    pub fn insert(&mut self, key: K, value: V, bytes: usize) -> bool {
        if bytes > self.max_bytes || self.max_entries == 0 {
            return false;
        }
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.bytes;
        }
        if self.is_full_for(bytes) {
            self.map.clear();
            self.bytes = 0;
        }
        self.map.insert(key, Counted { value, bytes });
        self.bytes += bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Map = BoundedMap<&'static str, u32>;

    #[test]
    fn bytes_follow_inserts_replacements_and_removals() {
        let mut map = Map::new(10, 100);
        assert!(map.insert("a", 1, 10));
        assert!(map.insert("b", 2, 20));
        assert!(map.insert("a", 3, 5));
        assert_eq!((map.len(), map.bytes()), (2, 25));
        assert_eq!(map.get("a"), Some(&3));
        assert_eq!(map.remove("b"), Some(2));
        assert_eq!((map.len(), map.bytes()), (1, 5));
        map.retain(|_, _| false);
        assert_eq!((map.len(), map.bytes()), (0, 0));
        assert!(map.is_empty());
    }

    #[test]
    fn a_full_map_is_cleared_for_a_new_entry() {
        let mut map = Map::new(2, 100);
        map.insert("a", 1, 10);
        map.insert("b", 2, 10);
        assert!(map.is_full_for(1));
        map.insert("c", 3, 10);
        assert_eq!((map.len(), map.bytes()), (1, 10));
        assert_eq!(map.get("c"), Some(&3));
        // Bytes too: 60 + 50 is over 100.
        let mut map = Map::new(10, 100);
        map.insert("a", 1, 60);
        assert!(!map.is_full_for(40));
        assert!(map.is_full_for(50));
        map.insert("b", 2, 50);
        assert_eq!((map.len(), map.bytes()), (1, 50));
    }

    #[test]
    fn replacing_an_entry_does_not_count_it_twice() {
        let mut map = Map::new(1, 100);
        map.insert("a", 1, 60);
        map.insert("a", 2, 60);
        assert_eq!((map.len(), map.bytes()), (1, 60));
    }

    #[test]
    fn an_entry_over_the_byte_bound_or_with_no_room_at_all_is_not_kept() {
        let mut map = Map::new(10, 100);
        map.insert("a", 1, 10);
        assert!(!map.insert("big", 2, 101));
        assert_eq!((map.len(), map.bytes()), (1, 10));
        let mut none = Map::new(0, 100);
        assert!(!none.insert("a", 1, 1));
        assert!(none.is_empty());
    }

    #[test]
    fn lowest_finds_the_entry_to_evict() {
        let mut map = Map::new(10, 100);
        map.insert("new", 9, 1);
        map.insert("old", 1, 1);
        map.insert("mid", 5, 1);
        assert_eq!(map.lowest(|v| *v), Some(&"old"));
        assert_eq!(Map::new(1, 1).lowest(|v| *v), None);
    }
}
