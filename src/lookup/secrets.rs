//! Referenced Secrets, read one at a time with GET, never listed or watched.
//!
//! Reading Secrets is a privilege the webhook's base install does not have; the
//! `manifests/overlays/secret-ca` overlay grants `get` on Secrets (not `list` or `watch`) and
//! turns this on (`--read-secrets`). Only Secrets that a policy under review names, with a name
//! a Secret can have, are fetched. Of a Secret the cache keeps what [`SecretCa`] holds: the
//! parsed bundles of the keys the profile reads and the names of keys that hold a private key.
//! The response body is decoded in one pass that drops every other value as it goes, and it is
//! never logged (kube's typed `request` logs a body it cannot decode, so it is not used).
//!
//! Bounded: at most [`SecretLimits::entries`] Secrets and [`SecretLimits::bytes`] bytes of
//! parsed bundles are cached, each for [`SecretLimits::ttl`] (so a changed Secret is seen
//! soon; not-found answers are cached the same way), and each GET has
//! [`SecretLimits::timeout`]. A Secret that cannot be read in time, or is forbidden, is
//! reported as not checked, never as a reason to deny.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kube::Client;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::Key;
use crate::bounded::BoundedMap;
use crate::validate::ca_bundle;
use crate::validate::names;
use crate::validate::profile::CaSource;
use crate::validate::snapshot::{SecretCa, SecretEntry, SecretReader};

/// How many Secrets, how many bytes, for how long, and how long a GET may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretLimits {
    /// Cached Secrets at most.
    pub entries: usize,
    /// Bytes of cached parsed bundles at most (an estimate; a Secret larger than an eighth of
    /// this is read but not cached).
    pub bytes: usize,
    /// How long a read Secret (or its absence) is reused.
    pub ttl: Duration,
    /// How long one GET may take.
    pub timeout: Duration,
}

impl Default for SecretLimits {
    fn default() -> Self {
        Self {
            entries: 1024,
            bytes: 4 << 20,
            ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(1),
        }
    }
}

/// At most this many Secrets are fetched for one request (a policy has at most 8 references).
pub const MAX_SECRETS_PER_REQUEST: usize = 16;

/// One cached answer: the Secret as read, or `None` when it does not exist.
struct Cached {
    at: Instant,
    found: Option<SecretCa>,
}

/// Secrets by `(namespace, name)`, bounded in entries and bytes.
type Secrets = BoundedMap<Key, Cached>;

/// Referenced Secrets read with GET, cached briefly.
pub(crate) struct SecretCache {
    client: Client,
    source: Option<CaSource>,
    limits: SecretLimits,
    entries: Mutex<Secrets>,
}

impl fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.lock();
        f.debug_struct("SecretCache")
            .field("entries", &entries.len())
            .field("bytes", &entries.bytes())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SecretCache {
    /// A cache that reads what `source` (the profile's Secret source) needs.
    pub fn new(client: Client, source: Option<CaSource>, limits: SecretLimits) -> Self {
        Self {
            client,
            source,
            limits,
            entries: Mutex::new(Secrets::new(limits.entries, limits.bytes)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Secrets> {
        // Entries are inserted and removed whole: a poisoned lock still holds a consistent map.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many Secrets and bytes are cached.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.len(), entries.bytes())
    }

    /// The Secret `namespace/name`: `None` when it does not exist (a name no Secret can have is
    /// not fetched).
    pub async fn entry(&self, namespace: &str, name: &str) -> Option<SecretEntry> {
        let namespace_ok = crate::validate::schema::NAMESPACE.is_match(namespace);
        if !namespace_ok || namespace.len() > 63 || !names::is_dns_subdomain(name) {
            return None;
        }
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(cached) = self.lock().get(&key)
            && cached.at.elapsed() < self.limits.ttl
        {
            return cached.found.clone().map(SecretEntry::Read);
        }
        match self.fetch(namespace, name).await {
            Ok(found) => {
                self.insert(key, found.clone());
                found.map(SecretEntry::Read)
            }
            Err(why) => Some(SecretEntry::Unchecked(Arc::from(why))),
        }
    }

    fn insert(&self, key: Key, found: Option<SecretCa>) {
        let bytes = key.0.len() + key.1.len() + found.as_ref().map_or(0, SecretCa::approx_bytes);
        if bytes > self.limits.bytes / 8 {
            return;
        }
        let mut entries = self.lock();
        entries.remove(&key);
        if entries.is_full_for(bytes) {
            let ttl = self.limits.ttl;
            entries.retain(|_, cached| cached.at.elapsed() < ttl);
        }
        // The oldest entries go (one scan per eviction; the map is bounded).
        while entries.is_full_for(bytes) {
            let Some(oldest) = entries.lowest(|cached| cached.at).cloned() else {
                break;
            };
            entries.remove(&oldest);
        }
        let at = Instant::now();
        entries.insert(key, Cached { at, found }, bytes);
    }

    /// GET one Secret: `Ok(None)` when it does not exist, `Err` with why its content cannot be
    /// checked.
    async fn fetch(&self, namespace: &str, name: &str) -> Result<Option<SecretCa>, String> {
        let path = format!("/api/v1/namespaces/{namespace}/secrets");
        let request = kube::core::Request::new(path)
            .get(name, &kube::api::GetParams::default())
            .map_err(|e| format!("cannot build the request ({e})"))?;
        let timeout = self.limits.timeout;
        let answer = crate::timeout::within(timeout, self.client.request_text(request)).await;
        let text = match answer {
            None => return Err(format!("reading it took longer than {timeout:?}")),
            Some(Err(kube::Error::Api(status))) if status.code == 404 => return Ok(None),
            Some(Err(kube::Error::Api(status))) if status.code == 403 => {
                return Err(
                    "the webhook may not read it (grant get on secrets: manifests/overlays/secret-ca)"
                        .to_owned(),
                );
            }
            Some(Err(error)) => return Err(format!("reading it failed ({})", short(&error))),
            Some(Ok(text)) => text,
        };
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        let secret = SecretSeed {
            source: self.source.as_ref(),
        }
        .deserialize(&mut deserializer)
        .map_err(|e| format!("the apiserver's answer is not a Secret ({e})"))?;
        Ok(Some(secret))
    }
}

/// An error's text, at most 200 characters (apiserver errors name the Secret, never its data).
fn short(error: &kube::Error) -> String {
    let text = error.to_string();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Decodes a Secret object, keeping only what [`SecretReader`] keeps.
struct SecretSeed<'s> {
    source: Option<&'s CaSource>,
}

impl<'de> DeserializeSeed<'de> for SecretSeed<'_> {
    type Value = SecretCa;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<SecretCa, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SecretSeed<'_> {
    type Value = SecretCa;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Secret object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretCa, A::Error> {
        let mut reader = SecretReader::new(self.source);
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match field.as_ref() {
                "type" => {
                    let secret_type: Option<String> = map.next_value()?;
                    reader.secret_type(secret_type.as_deref());
                }
                "data" => map.next_value_seed(DataSeed(&mut reader))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let parse = |text: &str| Arc::new(ca_bundle::parse_bundle(text));
        Ok(reader.finish(parse))
    }
}

/// `data`: each value base64-decoded and handed to the reader, which keeps what it needs.
struct DataSeed<'r, 's>(&'r mut SecretReader<'s>);

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of base64 strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value: k8s_openapi::ByteString = map.next_value()?;
            self.0.key(&key, value.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::CaKind;
    use crate::validate::profile::ENVOY_GATEWAY;

    fn decode(json: &str, source: Option<&CaSource>) -> SecretCa {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        SecretSeed { source }
            .deserialize(&mut deserializer)
            .expect("decodes")
    }

    #[test]
    fn only_the_keys_read_are_kept_and_private_keys_are_named() {
        // base64 of "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", and of "hunter2".
        let key = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCngKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo=";
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"s"}},"type":"kubernetes.io/tls",
                "data":{{"ca.crt":"Y2E=","tls.key":"eA==","bundle.pem":"{key}","password":"aHVudGVyMg=="}}}}"#
        );
        let profile = ENVOY_GATEWAY;
        let source = profile.ca_source(CaKind::Secret);
        let secret = decode(&json, source);
        assert_eq!(secret.secret_type.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(secret.key_count, 4);
        let kept: Vec<&str> = secret.keys.iter().map(|(k, _)| &**k).collect();
        assert_eq!(kept, ["ca.crt"]);
        let private: Vec<&str> = secret.private_keys.iter().map(|k| &**k).collect();
        assert_eq!(private, ["tls.key", "bundle.pem"]);
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    fn new_cache(limits: SecretLimits) -> SecretCache {
        // Nothing listens there: these tests never fetch.
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("uri"));
        let client = Client::try_from(config).expect("client");
        SecretCache::new(client, None, limits)
    }

    fn key(name: &str) -> Key {
        ("shop".to_owned(), name.to_owned())
    }

    #[tokio::test]
    async fn the_cache_is_bounded_in_entries_and_bytes_evicting_the_oldest() {
        let limits = SecretLimits {
            entries: 2,
            ..SecretLimits::default()
        };
        let cache = new_cache(limits);
        for name in ["a", "b", "c"] {
            cache.insert(key(name), None);
        }
        assert_eq!(cache.usage().0, 2);
        let kept: Vec<String> = cache.lock().keys().map(|k| k.1.clone()).collect();
        assert!(!kept.contains(&"a".to_owned()), "the oldest goes: {kept:?}");

        let big = SecretCa {
            private_keys: vec![Box::from("x".repeat(200))],
            ..SecretCa::default()
        };
        let small = SecretLimits {
            bytes: 8 * 1024,
            ..SecretLimits::default()
        };
        let cache = new_cache(small);
        for i in 0..100 {
            cache.insert(key(&format!("s{i}")), Some(big.clone()));
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= small.bytes, "{bytes}");
        assert!(entries < 100 && entries > 0, "{entries}");
        let huge = SecretCa {
            private_keys: vec![Box::from("x".repeat(small.bytes))],
            ..SecretCa::default()
        };
        cache.insert(key("huge"), Some(huge));
        assert!(!cache.lock().contains_key(&key("huge")), "too big to cache");
    }

    #[tokio::test]
    async fn names_no_secret_can_have_are_never_fetched() {
        let cache = new_cache(SecretLimits::default());
        assert_eq!(cache.entry("shop", "../configmaps/x").await, None);
        assert_eq!(cache.entry("Shop", "ca").await, None);
        assert_eq!(cache.usage(), (0, 0));
        // A read that fails (nothing listens) is reported, not cached.
        let entry = cache.entry("shop", "ca").await;
        assert!(
            matches!(entry, Some(SecretEntry::Unchecked(_))),
            "{entry:?}"
        );
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn the_only_key_is_read_when_the_profile_falls_back_to_it() {
        let profile = ENVOY_GATEWAY;
        let source = profile.ca_source(CaKind::Secret);
        let one = decode(r#"{"data":{"bundle.pem":"eA=="}}"#, source);
        assert_eq!(one.keys.len(), 1);
        let two = decode(r#"{"data":{"a":"eA==","b":"eA=="}}"#, source);
        assert!(two.keys.is_empty());
        let none = decode(r#"{"data":null}"#, source);
        assert_eq!((none.key_count, none.keys.len()), (0, 0));
    }
}
