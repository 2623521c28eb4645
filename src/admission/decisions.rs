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
//! Keys are the full bytes, not a digest, so two different requests can never share an answer.
//! Only verdicts are cached (allowed or denied on validation grounds); errors such as a failed
//! lookup are not. The cache is bounded and cleared when full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use super::Subject;

/// The cacheable part of an answer (everything but the uid).
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub subject: Subject,
    pub allowed: bool,
    pub status: Option<Status>,
    pub warnings: Vec<String>,
}

struct Entry {
    verdict: Arc<Verdict>,
    at: i64,
}

/// Decisions by request content.
pub(crate) struct DecisionCache {
    entries: Mutex<HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>>,
    capacity: usize,
    ttl_secs: i64,
}

/// Separates key parts; 0xFF never occurs in UTF-8 or JSON text.
const SEPARATOR: u8 = 0xFF;

impl DecisionCache {
    /// A cache of at most `capacity` decisions, each reused for at most `ttl_secs`.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        Self {
            entries: Mutex::new(HashMap::default()),
            capacity,
            ttl_secs,
        }
    }

    /// Builds the key of a request from its parts.
    pub fn key(parts: &[&[u8]], generation: u64) -> Box<[u8]> {
        let length = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 8;
        let mut key = Vec::with_capacity(length);
        for part in parts {
            key.extend_from_slice(part);
            key.push(SEPARATOR);
        }
        key.extend_from_slice(&generation.to_le_bytes());
        key.into_boxed_slice()
    }

    /// A fresh cached verdict for `key`, if any.
    pub fn get(&self, key: &[u8], now: i64) -> Option<Arc<Verdict>> {
        let entries = self.lock();
        let entry = entries.get(key)?;
        (now.saturating_sub(entry.at) < self.ttl_secs).then(|| Arc::clone(&entry.verdict))
    }

    /// Remembers a verdict.
    pub fn put(&self, key: Box<[u8]>, verdict: Verdict, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                verdict: Arc::new(verdict),
                at: now,
            },
        );
    }

    /// Whether the cache is switched on.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>> {
        // Entries are inserted whole, so a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        Verdict {
            subject: Subject::Policy,
            allowed: true,
            status: None,
            warnings: vec!["w".into()],
        }
    }

    #[test]
    fn keys_separate_parts_and_generations() {
        assert_ne!(
            DecisionCache::key(&[b"ab", b"c"], 0),
            DecisionCache::key(&[b"a", b"bc"], 0)
        );
        assert_ne!(
            DecisionCache::key(&[b"a"], 0),
            DecisionCache::key(&[b"a"], 1)
        );
        assert_eq!(
            DecisionCache::key(&[b"a", b""], 2),
            DecisionCache::key(&[b"a", b""], 2)
        );
    }

    #[test]
    fn entries_expire_and_the_cache_is_bounded() {
        let cache = DecisionCache::new(2, 30);
        let key = DecisionCache::key(&[b"x"], 0);
        cache.put(key.clone(), verdict(), 100);
        assert!(cache.get(&key, 129).is_some());
        assert!(cache.get(&key, 130).is_none(), "expired");
        cache.put(DecisionCache::key(&[b"y"], 0), verdict(), 100);
        cache.put(DecisionCache::key(&[b"z"], 0), verdict(), 100);
        assert!(cache.get(&key, 100).is_none(), "cleared when full");
        let off = DecisionCache::new(0, 30);
        off.put(key.clone(), verdict(), 0);
        assert!(off.get(&key, 0).is_none());
    }
}
