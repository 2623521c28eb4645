//! A cache of parsed CA bundles keyed by their text, so that a bundle is parsed once however
//! many requests, ConfigMaps or policies share it. Keys are hashed with foldhash (randomly
//! seeded, much faster than SipHash on the few kilobytes a bundle has).

use std::sync::{Arc, Mutex, PoisonError};

use crate::bounded::BoundedMap;

use crate::validate::CaText;
use crate::validate::ca_bundle::{self, ParsedBundle};

/// Parsed bundles by content. Bounded in entries and in bytes of text (a parsed bundle takes
/// about as much again): when full, it is cleared (re-parsing is cheap; what matters is that a
/// hot bundle is not parsed per request).
#[derive(Debug)]
pub struct BundleCache {
    entries: Mutex<Bundles>,
    max_text: usize,
}

/// Parsed bundles by their text, bounded in entries and in bytes of text.
type Bundles = BoundedMap<Arc<str>, Arc<ParsedBundle>, foldhash::fast::RandomState>;

/// Bytes of bundle text the cache holds at most, by default.
const MAX_BYTES: usize = 16 << 20;

impl Default for BundleCache {
    fn default() -> Self {
        Self::new(1024, 1 << 20)
    }
}

impl BundleCache {
    /// A cache of at most `capacity` bundles, each cached only when at most `max_text` bytes.
    pub fn new(capacity: usize, max_text: usize) -> Self {
        Self {
            entries: Mutex::new(Bundles::new(capacity, MAX_BYTES)),
            max_text,
        }
    }

    /// The parsed form of `text`, from the cache or freshly parsed (and cached).
    pub fn parse(&self, text: &str) -> Arc<ParsedBundle> {
        self.get(text).bundle
    }

    /// The text and its parsed form, both shared with every other holder of the same text.
    pub fn get(&self, text: &str) -> CaText {
        if let Some((key, hit)) = self.lock().get_key_value(text) {
            return CaText {
                text: Arc::clone(key),
                bundle: Arc::clone(hit),
            };
        }
        let parsed = Arc::new(ca_bundle::parse_bundle(text));
        let key: Arc<str> = Arc::from(text);
        if text.len() <= self.max_text {
            // When full, the cache is cleared: re-parsing is cheap.
            self.lock()
                .insert(Arc::clone(&key), Arc::clone(&parsed), text.len());
        }
        CaText {
            text: key,
            bundle: parsed,
        }
    }

    /// How many bundles are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bundles> {
        // The map is always left consistent, so a panic elsewhere cannot corrupt it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_parse() {
        let cache = BundleCache::default();
        let a = cache.parse("not a bundle");
        let b = cache.parse("not a bundle");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
        let c = cache.parse("another");
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_of_text() {
        let cache = BundleCache {
            entries: Mutex::new(Bundles::new(100, 10)),
            ..BundleCache::new(100, 8)
        };
        cache.parse("1234");
        cache.parse("5678");
        assert_eq!(cache.len(), 2);
        // 8 + 4 > 10: cleared first.
        cache.parse("abcd");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.lock().bytes(), 4);
    }

    #[test]
    fn capacity_and_size_bound_the_cache() {
        let cache = BundleCache::new(2, 8);
        cache.parse("a");
        cache.parse("b");
        cache.parse("c");
        assert_eq!(cache.len(), 1, "cleared when full, then c inserted");
        cache.parse("longer than eight bytes");
        assert_eq!(cache.len(), 1, "large texts are parsed but not kept");
    }
}
