//! An in-memory lookup over a fixed set of objects (the `--objects` files).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::policy_index::PolicyIndex;
use super::{BoxFuture, BundleCache, Key, Lookup, LookupError};
use crate::validate::{self, ConfigMapEntry, PolicySummary, ServiceEntry, Snapshot, Wants};

/// ConfigMaps, Services and BackendTLSPolicies held in memory. Objects without a namespace
/// are placed in `default`, as `kubectl apply` would.
#[derive(Debug, Default)]
pub struct MemoryLookup {
    config_maps: HashMap<Key, ConfigMapEntry>,
    services: HashMap<Key, ServiceEntry>,
    policies: HashMap<Key, Arc<PolicySummary>>,
    index: PolicyIndex,
}

impl MemoryLookup {
    /// An empty lookup: every reference is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lookup over `objects`; objects of other kinds are ignored.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        bundles: &BundleCache,
    ) -> Self {
        let mut lookup = Self::new();
        for object in objects {
            lookup.insert_one(object, bundles);
        }
        lookup.reindex();
        lookup
    }

    /// Adds (or replaces) one object. Returns whether it was of a kind the lookup keeps.
    pub fn insert(&mut self, object: &Value, bundles: &BundleCache) -> bool {
        let kept = self.insert_one(object, bundles);
        self.reindex();
        kept
    }

    fn reindex(&mut self) {
        self.index = PolicyIndex::build(self.policies.values());
    }

    fn insert_one(&mut self, object: &Value, bundles: &BundleCache) -> bool {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let Some(name) = text("/metadata/name") else {
            return false;
        };
        let namespace = text("/metadata/namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        let key = (namespace.to_owned(), name.to_owned());
        let api_version = text("/apiVersion").unwrap_or("");
        match (api_version, text("/kind").unwrap_or("")) {
            ("v1", "ConfigMap") => {
                let entry = validate::config_map_entry(object, |t| bundles.get(t));
                self.config_maps.insert(key, entry);
            }
            ("v1", "Service") => {
                self.services.insert(key, ServiceEntry::from_object(object));
            }
            (api_version, validate::KIND) if validate::is_policy_api_version(api_version) => {
                let Some(summary) = PolicySummary::from_object(object, namespace) else {
                    return false;
                };
                self.policies.insert(key, Arc::new(summary));
            }
            _ => return false,
        }
        true
    }

    /// Whether a policy of this namespace and name is held.
    pub fn has_policy(&self, namespace: &str, name: &str) -> bool {
        self.policies
            .contains_key(&(namespace.to_owned(), name.to_owned()))
    }

    /// How many objects are held.
    pub fn len(&self) -> usize {
        self.config_maps.len() + self.services.len() + self.policies.len()
    }

    /// Whether no objects are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The snapshot for `wants`, synchronously.
    pub fn snapshot_now(&self, wants: &Wants) -> Snapshot {
        let policies = self.index.select(wants);
        super::select(wants, &self.config_maps, &self.services, policies)
    }
}

impl Lookup for MemoryLookup {
    fn snapshot<'a>(&'a self, wants: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        Box::pin(std::future::ready(Ok(self.snapshot_now(wants))))
    }

    fn describe(&self) -> String {
        format!(
            "in-memory ({} ConfigMaps, {} Services, {} BackendTLSPolicies)",
            self.config_maps.len(),
            self.services.len(),
            self.policies.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshots_hold_only_what_was_asked_in_the_namespace() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ca", "namespace": "shop"}, "data": {"ca.crt": "x"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ca", "namespace": "other"}, "binaryData": {"ca.crt": "eA=="}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "shop"}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy", "metadata": {"name": "p", "namespace": "shop"},
                   "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "svc"}], "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]}}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}),
        ];
        let lookup = MemoryLookup::from_objects(&objects, &BundleCache::default());
        assert_eq!(lookup.len(), 4);
        let policy = &objects[3];
        let snapshot = lookup.snapshot_now(&Wants::for_policy(policy, "shop"));
        assert!(snapshot.config_maps["ca"].ca_crt.is_some());
        assert!(snapshot.services.contains_key("svc"));
        assert_eq!(snapshot.policies.len(), 1);
        let elsewhere = lookup.snapshot_now(&Wants::for_policy(policy, "other"));
        assert!(elsewhere.config_maps["ca"].ca_crt.is_none());
        assert!(elsewhere.config_maps["ca"].binary_ca_crt);
        assert!(elsewhere.services.is_empty() && elsewhere.policies.is_empty());
        let referrers = lookup.snapshot_now(&Wants::for_config_map("shop", "ca"));
        assert_eq!(referrers.policies[0].id(), "shop/p");
        assert!(
            lookup
                .snapshot_now(&Wants::for_config_map("shop", "unused"))
                .policies
                .is_empty()
        );
    }

    #[test]
    fn only_served_policy_versions_are_held() {
        let policy = |api_version: &str, name: &str| {
            json!({"apiVersion": api_version, "kind": "BackendTLSPolicy", "metadata": {"name": name, "namespace": "shop"},
                   "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}]}})
        };
        let objects = [
            policy("gateway.networking.k8s.io/v1", "served"),
            policy("gateway.networking.k8s.io/v1alpha3", "older"),
            policy("gateway.networking.k8s.io/v1alpha2", "unserved"),
            policy("gateway.networking.k8s.io.example.com/v1", "other-group"),
        ];
        let lookup = MemoryLookup::from_objects(&objects, &BundleCache::default());
        let held: Vec<bool> = ["served", "older", "unserved", "other-group"]
            .iter()
            .map(|name| lookup.has_policy("shop", name))
            .collect();
        assert_eq!(held, [true, true, false, false]);
    }
}
