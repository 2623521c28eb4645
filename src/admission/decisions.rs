//! A cache of decisions on identical requests.
//!
//! GitOps controllers (Argo CD, Flux) re-apply every object on a schedule, often as server-side
//! dry runs, and `kubectl apply` of an unchanged manifest still goes through admission: a
//! webhook sees the same object, byte for byte, again and again. The apiserver serialises
//! objects deterministically, so the raw bytes of `object` and `oldObject`, together with the
//! kind, operation, subresource, namespace and name, identify a decision exactly, as long as
//! what the object refers to has not changed (the lookup's generation is part of the key) and
//! the clock has not moved on much (certificate expiry is time-dependent: entries live for a
//! short TTL).
//!
//! Entries keep the full key bytes and every hit compares them, so two different requests can
//! never share an answer; lookups hash the request's parts in place and copy nothing.
//! Only verdicts are cached (allowed or denied on validation grounds); errors such as a failed
//! lookup are not. The cache is bounded in entries and in bytes (keys hold whole objects): an
//! entry over [`MAX_ENTRY_BYTES`] is not cached at all, expired entries are dropped once per
//! TTL, and the cache is cleared when it is still full.
//!
//! The price: keying on the raw objects means decoding the envelope with them left unparsed,
//! so a miss reads them twice (to find their end, then to parse them), where a reviewer
//! without the cache parses them with the envelope in one pass.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use super::Verdict;
use crate::bounded::BoundedMap;
use crate::validate::Subject;

/// The cacheable part of an answer (everything but the uid): allowed when it has no status.
#[derive(Clone, Debug)]
pub(crate) struct CachedAnswer {
    pub subject: Option<Subject>,
    /// Allowed or denied (errors are not cached).
    pub verdict: Verdict,
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    /// The answer's encoding after the uid (see `AdmissionReview::to_json`).
    pub encoded_rest: Option<Arc<[u8]>>,
}

struct Entry {
    /// The full key, compared on every hit: a hash match alone is not enough.
    key: Box<[u8]>,
    answer: Arc<CachedAnswer>,
    at: i64,
}

/// Default byte budget of the cache.
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;
/// Entries larger than this (key and answer) are not cached: a request this big is rare, and
/// one would take a large share of the budget.
pub const MAX_ENTRY_BYTES: usize = 256 << 10;

impl CachedAnswer {
    /// Bytes the answer holds: its encoding, and the status and warnings it was encoded from
    /// (about as large again).
    fn bytes(&self) -> usize {
        let encoded = self.encoded_rest.as_ref().map_or(0, |e| e.len());
        let warnings: usize = self.warnings.iter().map(String::len).sum();
        encoded.max(warnings) * 2 + 256
    }
}

/// A request's key: its parts joined, and their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestKey {
    hash: u64,
    bytes: Box<[u8]>,
}

/// Decisions by request content, indexed by the hash of the key (one entry per hash: a rare
/// collision replaces the older entry).
pub(crate) struct DecisionCache {
    entries: Mutex<DecisionEntries>,
    hasher: foldhash::fast::RandomState,
    capacity: usize,
    max_bytes: usize,
    ttl_secs: i64,
}

struct DecisionEntries {
    /// Entries by their key's hash, bounded in entries and in bytes (key and answer).
    map: BoundedMap<u64, Entry, foldhash::fast::RandomState>,
    /// When expired entries were last dropped.
    swept_at: i64,
}

impl DecisionEntries {
    fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            map: BoundedMap::new(capacity, max_bytes),
            swept_at: 0,
        }
    }
}

/// Separates key parts; 0xFF never occurs in UTF-8 or JSON text.
const SEPARATOR: u8 = 0xFF;

impl DecisionCache {
    /// A cache of at most `capacity` decisions, each reused for at most `ttl_secs`.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        Self {
            entries: Mutex::new(DecisionEntries::new(capacity, DEFAULT_MAX_BYTES)),
            hasher: foldhash::fast::RandomState::default(),
            capacity,
            max_bytes: DEFAULT_MAX_BYTES,
            ttl_secs,
        }
    }

    /// The same cache with a byte budget of `max_bytes`.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self.entries = Mutex::new(DecisionEntries::new(self.capacity, max_bytes));
        self
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Bytes held now (keys and answers).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.lock().map.bytes()
    }

    /// Hashes a request's parts without joining them.
    fn hash(&self, parts: &[&[u8]], generation: u64) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        for part in parts {
            hasher.write(part);
            hasher.write_u8(SEPARATOR);
        }
        hasher.write_u64(generation);
        hasher.finish()
    }

    /// The key of a request whose answer may be cached: `None` when the cache is off or the
    /// key alone is over the size of an entry, so that a big request's bytes are not copied
    /// only for [`put`](Self::put) to drop them.
    pub fn cacheable_key(&self, parts: &[&[u8]], generation: u64) -> Option<RequestKey> {
        let length = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 8;
        (self.capacity > 0 && length <= MAX_ENTRY_BYTES.min(self.max_bytes))
            .then(|| self.key(parts, generation))
    }

    /// The key of a request, to [`put`](Self::put) its answer.
    pub fn key(&self, parts: &[&[u8]], generation: u64) -> RequestKey {
        let length = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 8;
        let mut bytes = Vec::with_capacity(length);
        for part in parts {
            bytes.extend_from_slice(part);
            bytes.push(SEPARATOR);
        }
        bytes.extend_from_slice(&generation.to_le_bytes());
        RequestKey {
            hash: self.hash(parts, generation),
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// A fresh cached answer for the request with these parts, if any. Nothing is copied:
    /// the parts are hashed and compared in place.
    pub fn get(&self, parts: &[&[u8]], generation: u64, now: i64) -> Option<Arc<CachedAnswer>> {
        let hash = self.hash(parts, generation);
        let entries = self.lock();
        let entry = entries.map.get(&hash)?;
        let fresh = now.saturating_sub(entry.at) < self.ttl_secs;
        (fresh && same_key(&entry.key, parts, generation)).then(|| Arc::clone(&entry.answer))
    }

    /// Remembers an answer, unless it is too big to (see the module documentation).
    pub fn put(&self, key: RequestKey, answer: CachedAnswer, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let bytes = key.bytes.len() + answer.bytes();
        if bytes > MAX_ENTRY_BYTES.min(self.max_bytes) {
            return;
        }
        let mut entries = self.lock();
        if now.saturating_sub(entries.swept_at) >= self.ttl_secs {
            let ttl = self.ttl_secs;
            entries.map.retain(|_, e| now.saturating_sub(e.at) < ttl);
            entries.swept_at = now;
        }
        // Still full: cleared by the insert.
        let entry = Entry {
            key: key.bytes,
            answer: Arc::new(answer),
            at: now,
        };
        entries.map.insert(key.hash, entry, bytes);
    }

    /// Whether the cache is switched on.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DecisionEntries> {
        // Entries are inserted whole, so a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `stored` is the key [`DecisionCache::key`] builds from these parts.
fn same_key(stored: &[u8], parts: &[&[u8]], generation: u64) -> bool {
    let mut rest = stored;
    for part in parts {
        let Some(after) = rest.strip_prefix(*part) else {
            return false;
        };
        let Some((&SEPARATOR, after)) = after.split_first() else {
            return false;
        };
        rest = after;
    }
    rest == generation.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> CachedAnswer {
        CachedAnswer {
            subject: Some(Subject::Policy),
            verdict: Verdict::Allowed,
            status: None,
            warnings: vec!["w".into()],
            encoded_rest: None,
        }
    }

    #[test]
    fn keys_separate_parts_and_generations() {
        let cache = DecisionCache::new(8, 30);
        assert_ne!(cache.key(&[b"ab", b"c"], 0), cache.key(&[b"a", b"bc"], 0));
        assert_ne!(cache.key(&[b"a"], 0), cache.key(&[b"a"], 1));
        assert_eq!(cache.key(&[b"a", b""], 2), cache.key(&[b"a", b""], 2));
        // Lookups compare the parts with the stored key, not only the hash.
        cache.put(cache.key(&[b"ab", b"c"], 0), answer(), 0);
        assert!(cache.get(&[b"ab", b"c"], 0, 0).is_some());
        assert!(cache.get(&[b"a", b"bc"], 0, 0).is_none());
        assert!(cache.get(&[b"ab", b"c"], 1, 0).is_none());
        assert!(cache.get(&[b"ab"], 0, 0).is_none());
    }

    #[test]
    fn a_hash_match_with_other_parts_is_a_miss() {
        let key = DecisionCache::new(1, 30).key(&[b"x", b"y"], 3);
        assert!(same_key(&key.bytes, &[b"x", b"y"], 3));
        assert!(!same_key(&key.bytes, &[b"x", b"z"], 3));
        assert!(!same_key(&key.bytes, &[b"xy"], 3));
        assert!(!same_key(&key.bytes, &[b"x", b"y"], 4));
        assert!(!same_key(&key.bytes, &[b"x", b"y", b""], 3));
    }

    #[test]
    fn entries_expire_and_the_cache_is_bounded() {
        let cache = DecisionCache::new(2, 30);
        cache.put(cache.key(&[b"x"], 0), answer(), 100);
        assert!(cache.get(&[b"x"], 0, 129).is_some());
        assert!(cache.get(&[b"x"], 0, 130).is_none(), "expired");
        cache.put(cache.key(&[b"y"], 0), answer(), 100);
        cache.put(cache.key(&[b"z"], 0), answer(), 100);
        assert!(cache.get(&[b"x"], 0, 100).is_none(), "cleared when full");
        let off = DecisionCache::new(0, 30);
        off.put(off.key(&[b"x"], 0), answer(), 0);
        assert!(off.get(&[b"x"], 0, 0).is_none());
    }

    #[test]
    fn the_cache_is_bounded_in_bytes() {
        let cache = DecisionCache::new(1024, 30).with_max_bytes(64 << 10);
        // An entry over the per-entry limit is not cached at all.
        let huge = vec![b'x'; MAX_ENTRY_BYTES];
        cache.put(cache.key(&[&huge], 0), answer(), 0);
        assert!(cache.get(&[&huge], 0, 0).is_none());
        assert_eq!(cache.bytes(), 0);
        // Nor is its key built.
        assert!(cache.cacheable_key(&[&huge], 0).is_none());
        assert!(cache.cacheable_key(&[b"small"], 0).is_some());
        assert!(
            DecisionCache::new(0, 30)
                .cacheable_key(&[b"small"], 0)
                .is_none()
        );
        // Entries of 10 KiB: the budget holds six; the seventh clears the cache first.
        let body = |i: u8| vec![i; 10 << 10];
        for i in 0..6 {
            cache.put(cache.key(&[&body(i)], 0), answer(), 0);
        }
        assert!(cache.bytes() > 60 << 10 && cache.bytes() <= 64 << 10);
        assert!(cache.get(&[&body(0)], 0, 0).is_some());
        cache.put(cache.key(&[&body(6)], 0), answer(), 0);
        assert!(cache.get(&[&body(0)], 0, 0).is_none());
        assert!(cache.get(&[&body(6)], 0, 0).is_some());
        assert!(cache.bytes() <= 64 << 10);
    }

    #[test]
    fn expired_entries_are_dropped() {
        let cache = DecisionCache::new(1024, 30);
        cache.put(cache.key(&[b"old"], 0), answer(), 100);
        let held = cache.bytes();
        assert!(held > 0);
        // A put a TTL later drops what has expired, even with room to spare.
        cache.put(cache.key(&[b"new"], 0), answer(), 130);
        assert!(cache.get(&[b"new"], 0, 130).is_some());
        assert_eq!(cache.lock().map.len(), 1);
        assert_eq!(cache.bytes(), held);
    }
}
