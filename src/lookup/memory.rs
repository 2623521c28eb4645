//! An in-memory lookup over a fixed set of objects (the `--objects` files).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::policy_index::PolicyIndex;
use super::{BoxFuture, BundleCache, Key, Lookup, LookupError};
use crate::validate::ca_bundle;
use crate::validate::{
    self, CaKind, CaText, ClusterTrustBundleEntry, ConfigMapEntry, PolicySummary, Profile,
    SecretCa, SecretEntry, ServiceEntry, Snapshot, Wants,
};

/// ConfigMaps, Services, BackendTLSPolicies and (when the profile reads them) Secrets and
/// ClusterTrustBundles held in memory. Objects without a namespace are placed in `default`, as
/// `kubectl apply` would. Of a ConfigMap or Secret only the keys the profile reads are kept
/// (parsed), and of a Secret the names of the keys that hold a private key.
#[derive(Debug, Default)]
pub struct MemoryLookup {
    config_maps: HashMap<Key, ConfigMapEntry>,
    services: HashMap<Key, ServiceEntry>,
    policies: HashMap<Key, Arc<PolicySummary>>,
    secrets: HashMap<Key, SecretCa>,
    cluster_trust_bundles: HashMap<String, Option<CaText>>,
    index: PolicyIndex,
    /// What the CA objects are read for (core unless set).
    profile: Arc<Profile>,
}

impl MemoryLookup {
    /// An empty lookup: every reference is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lookup over `objects`, read as the core profile reads CA objects; objects of other
    /// kinds are ignored.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        bundles: &BundleCache,
    ) -> Self {
        Self::from_objects_for(objects, bundles, Arc::new(validate::profile::CORE))
    }

    /// A lookup over `objects`, keeping of CA objects what `profile`'s implementation reads.
    pub fn from_objects_for<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        bundles: &BundleCache,
        profile: Arc<Profile>,
    ) -> Self {
        let mut lookup = Self {
            profile,
            ..Self::default()
        };
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
        let parse = |text: &str| Arc::new(ca_bundle::parse_bundle(text));
        match (api_version, text("/kind").unwrap_or("")) {
            ("v1", "ConfigMap") => {
                let source = self.profile.ca_source(CaKind::ConfigMap);
                // Every key through the cache: a ConfigMap copied into each namespace (a
                // cluster's root CA) is parsed once. Secrets stay out of it (`parse`).
                let entry = ConfigMapEntry::from_object(
                    object,
                    source,
                    |t| bundles.get(t),
                    |t| bundles.parse(t),
                );
                self.config_maps.insert(key, entry);
            }
            ("v1", "Secret") if self.profile.ca_source(CaKind::Secret).is_some() => {
                let source = self.profile.ca_source(CaKind::Secret);
                let secret = SecretCa::from_object(object, source, parse);
                self.secrets.insert(key, secret);
            }
            (api_version, "ClusterTrustBundle")
                if api_version.starts_with("certificates.k8s.io/")
                    && self.profile.ca_source(CaKind::ClusterTrustBundle).is_some() =>
            {
                let entry = ClusterTrustBundleEntry::from_object(object, |t| bundles.get(t));
                let ClusterTrustBundleEntry::Read(bundle) = entry else {
                    return false;
                };
                self.cluster_trust_bundles.insert(name.to_owned(), bundle);
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
        self.config_maps.len()
            + self.services.len()
            + self.policies.len()
            + self.secrets.len()
            + self.cluster_trust_bundles.len()
    }

    /// Whether no objects are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The snapshot for `wants`, synchronously.
    pub fn snapshot_now(&self, wants: &Wants) -> Snapshot {
        let policies = self.index.select(wants);
        let mut snapshot = super::select(wants, &self.config_maps, &self.services, policies);
        for name in &wants.secrets {
            let key = (wants.namespace.clone(), name.clone());
            if let Some(secret) = self.secrets.get(&key) {
                let entry = SecretEntry::Read(secret.clone());
                snapshot.secrets.insert(name.clone(), entry);
            }
        }
        for name in &wants.cluster_trust_bundles {
            if let Some(bundle) = self.cluster_trust_bundles.get(name) {
                let entry = ClusterTrustBundleEntry::Read(bundle.clone());
                snapshot.cluster_trust_bundles.insert(name.clone(), entry);
            }
        }
        snapshot
    }
}

impl Lookup for MemoryLookup {
    fn snapshot<'a>(&'a self, wants: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        Box::pin(std::future::ready(Ok(self.snapshot_now(wants))))
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "in-memory ({} ConfigMaps, {} Services, {} BackendTLSPolicies",
            self.config_maps.len(),
            self.services.len(),
            self.policies.len()
        );
        if !self.secrets.is_empty() {
            text.push_str(&format!(", {} Secrets", self.secrets.len()));
        }
        if !self.cluster_trust_bundles.is_empty() {
            let count = self.cluster_trust_bundles.len();
            text.push_str(&format!(", {count} ClusterTrustBundles"));
        }
        text.push(')');
        text
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
        let referrers = lookup.snapshot_now(&Wants::for_ca_object(CaKind::ConfigMap, "shop", "ca"));
        assert_eq!(referrers.policies[0].id(), "shop/p");
        assert!(
            lookup
                .snapshot_now(&Wants::for_ca_object(CaKind::ConfigMap, "shop", "unused"))
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
