//! The cluster-backed lookup: watch caches of BackendTLSPolicies, Services and ConfigMaps, so
//! that answering a review needs no apiserver round trip.
//!
//! Memory stays bounded however many ConfigMaps a cluster holds: the ConfigMap watch decodes
//! each object into [`CaConfigMap`], which skips every data key except `ca.crt` while parsing,
//! and the index keeps only that (with its parsed bundle, shared by content through the
//! [`BundleCache`], so the `kube-root-ca.crt` found in every namespace is parsed once). A
//! ConfigMap without `ca.crt` costs one small map entry, so that "no such ConfigMap" and "no
//! `ca.crt` in it" can be told apart. Services keep only their port names and protocols;
//! policies only their [`PolicySummary`].
//!
//! Watches are kube-runtime watchers: they resume from the last resourceVersion after a dropped
//! connection and relist when it has expired, with kube's default backoff. The lookup reports
//! ready once each of the three has completed its first list; until then a lookup waits (the
//! caller bounds the wait by the request's budget).
//!
//! The CA sources of other kinds, when the profile in use reads them ([`ClusterOptions`]):
//! ClusterTrustBundles (public data) are watched like ConfigMaps, in the served version found
//! by discovery; until their first list completes (or when the cluster does not let the
//! webhook list them), references to them are reported as not checked rather than holding
//! readiness. Secrets are never listed or watched: with `--read-secrets` the referenced ones
//! are fetched with GET ([`super::secrets`]); without it they are reported as not checked.
//! For a profile that reads ConfigMap keys other than `ca.crt`, the ConfigMap watch also keeps
//! those keys ([`KNOWN_CA_KEYS`]) and, when the profile reads an object's only key, that key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;
use tracing::{info, warn};

use super::policy_index::PolicyIndex;
use super::secrets::{MAX_SECRETS_PER_REQUEST, SecretCache, SecretLimits};
use super::{BoxFuture, BundleCache, Key, Lookup, LookupError};
use crate::validate::profile::{CaKind, KNOWN_CA_KEYS, Profile};
use crate::validate::snapshot::ServicePort;
use crate::validate::{
    self, ClusterTrustBundleEntry, ConfigMapEntry, PolicySummary, SecretEntry, ServiceEntry,
    Snapshot, Wants,
};

/// What the cluster lookup reads besides policies, Services and ConfigMaps' `ca.crt`.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// The profile in use: which CA kinds and keys are read.
    pub profile: Arc<Profile>,
    /// Whether referenced Secrets are read (GET only; needs `get` on secrets, which the
    /// `secret-ca` overlay grants). Without it they are reported as not checked.
    pub read_secrets: bool,
    /// Bounds of the Secret cache.
    pub secret_limits: SecretLimits,
}

/// Why a Secret was not read, when the webhook is not to read Secrets.
const SECRETS_NOT_READ: &str = "the webhook does not read Secrets; to check them, install manifests/overlays/secret-ca (it grants get on secrets and sets --read-secrets)";

/// Errors setting up the cluster connection.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or used.
    #[error("cannot use kubeconfig {path}: {error}")]
    Kubeconfig {
        path: String,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// In-cluster configuration failed.
    #[error("cannot use the in-cluster service account: {0}")]
    InCluster(Box<dyn std::error::Error + Send + Sync>),
}

/// A kube client from `--kubeconfig`, or from the pod's service account when running in a
/// cluster; `None` when neither applies (clusterless).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Option<Client>, ClusterError> {
    let config = match kubeconfig {
        Some(path) => config_from_file(path, read_kubeconfig(path)?).await?,
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            kube::Config::incluster().map_err(|e| ClusterError::InCluster(Box::new(e)))?
        }
        None => return Ok(None),
    };
    Client::try_from(config)
        .map(Some)
        .map_err(|e| ClusterError::InCluster(Box::new(e)))
}

/// A cluster found as kubectl finds one, for the commands a person runs against a cluster
/// (`audit`): `--kubeconfig`, else `$KUBECONFIG` (a list of files, merged), else
/// `~/.kube/config` when it exists, else the pod's service account; `None` when none applies.
pub async fn client_like_kubectl(
    kubeconfig: Option<&Path>,
) -> Result<Option<ClusterConnection>, ClusterError> {
    let (config, source) = if let Some(path) = kubeconfig {
        let file = read_kubeconfig(path)?;
        (
            config_from_file(path, file).await?,
            format!("kubeconfig {}", path.display()),
        )
    } else if let Some(merged) =
        kube::config::Kubeconfig::from_env().map_err(|e| ClusterError::Kubeconfig {
            path: "$KUBECONFIG".to_owned(),
            error: Box::new(e),
        })?
    {
        let path = Path::new("$KUBECONFIG");
        (
            config_from_file(path, merged).await?,
            "$KUBECONFIG".to_owned(),
        )
    } else if let Some(path) = std::env::home_dir()
        .map(|home| home.join(".kube").join("config"))
        .filter(|path| path.is_file())
    {
        let file = read_kubeconfig(&path)?;
        (
            config_from_file(&path, file).await?,
            format!("kubeconfig {}", path.display()),
        )
    } else if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        let config = kube::Config::incluster().map_err(|e| ClusterError::InCluster(Box::new(e)))?;
        (config, "the in-cluster service account".to_owned())
    } else {
        return Ok(None);
    };
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| ClusterError::InCluster(Box::new(e)))?;
    Ok(Some(ClusterConnection {
        client,
        description: format!("{} ({source})", url.trim_end_matches('/')),
    }))
}

/// A client and where it points, for messages.
pub struct ClusterConnection {
    pub client: Client,
    /// The server's URL and where the configuration came from:
    /// `https://10.0.0.1:6443 (kubeconfig /home/me/.kube/config)`.
    pub description: String,
}

/// Reads a kubeconfig file; the error names the file once (kube's own message quotes a
/// debug-printed path).
fn read_kubeconfig(path: &Path) -> Result<kube::config::Kubeconfig, ClusterError> {
    let wrap = |error: Box<dyn std::error::Error + Send + Sync>| ClusterError::Kubeconfig {
        path: path.display().to_string(),
        error,
    };
    let text = std::fs::read_to_string(path).map_err(|e| wrap(Box::new(e)))?;
    kube::config::Kubeconfig::from_yaml(&text).map_err(|e| wrap(Box::new(e)))
}

async fn config_from_file(
    path: &Path,
    file: kube::config::Kubeconfig,
) -> Result<kube::Config, ClusterError> {
    kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| ClusterError::Kubeconfig {
            path: path.display().to_string(),
            error: Box::new(e),
        })
}

/// Checks that the API server answers at all (`GET /version`), within `timeout`, so that a
/// command fails at once with the cause (connection refused, TLS, DNS) rather than after its
/// caches' sync timeout. Any HTTP answer counts as reachable.
pub async fn probe(client: &Client, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        Ok(Ok(_) | Err(kube::Error::Api(_))) => Ok(()),
        Ok(Err(error)) => Err(error_chain(&error)),
    }
}

/// An error and its sources, `a: b: c`, each cause once (many errors repeat their source's
/// message in their own).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !out.ends_with(&message) {
            out.push_str(": ");
            out.push_str(&message);
        }
        source = cause.source();
    }
    out
}

/// What the watches have seen.
#[derive(Debug, Default)]
struct Index {
    config_maps: HashMap<Key, ConfigMapEntry>,
    services: HashMap<Key, ServiceEntry>,
    policies: HashMap<Key, Arc<PolicySummary>>,
    /// By `("", name)`: cluster-scoped.
    cluster_trust_bundles: HashMap<Key, Option<validate::CaText>>,
    /// `policies` by target and by CA ConfigMap; rebuilt on the first lookup after a change.
    policy_index: Option<Arc<PolicyIndex>>,
}

impl Index {
    /// The policies, for changing them: the policy index is dropped, to be rebuilt.
    fn policies_mut(&mut self) -> &mut HashMap<Key, Arc<PolicySummary>> {
        self.policy_index = None;
        &mut self.policies
    }
}

/// Which caches have completed their first list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Synced {
    config_maps: bool,
    services: bool,
    policies: bool,
    /// ClusterTrustBundles (not part of readiness: references to them are reported as not
    /// checked until then).
    cluster_trust_bundles: bool,
}

impl Synced {
    fn all(self) -> bool {
        self.config_maps && self.services && self.policies
    }
}

/// What the watch tasks write and the lookup reads.
struct Shared {
    index: RwLock<Index>,
    synced: watch::Sender<Synced>,
    /// Bumped after every change to the index (tests and metrics wait on it).
    changes: watch::Sender<u64>,
    policy_resource: RwLock<Option<ApiResource>>,
    /// Discovery found no BackendTLSPolicy resource (the CRD is not installed).
    crd_missing: std::sync::atomic::AtomicBool,
    /// The last error of each watch (and of API discovery) that has not succeeded since.
    failures: watch::Sender<BTreeMap<&'static str, String>>,
}

impl Shared {
    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    fn failed(&self, source: &'static str, error: &(dyn std::error::Error + 'static)) {
        let error = error_chain(error);
        self.failures.send_modify(|failures| {
            failures.insert(source, error);
        });
    }

    fn recovered(&self, source: &'static str) {
        if self.failures.borrow().contains_key(source) {
            self.failures
                .send_if_modified(|failures| failures.remove(source).is_some());
        }
    }
}

/// Watch caches of the three kinds, shared with the watch tasks.
pub struct ClusterLookup {
    shared: Arc<Shared>,
    options: ClusterOptions,
    /// Referenced Secrets, when they are read.
    secrets: Option<SecretCache>,
}

impl std::fmt::Debug for ClusterLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLookup")
            .field("synced", &*self.shared.synced.borrow())
            .finish_non_exhaustive()
    }
}

impl ClusterLookup {
    /// Starts the watches on the current tokio runtime and returns the lookup at once; it
    /// becomes ready when every watch has listed once.
    pub fn start(client: Client, bundles: Arc<BundleCache>) -> Self {
        Self::start_with(client, bundles, ClusterOptions::default())
    }

    /// [`ClusterLookup::start`], reading the CA sources `options.profile` reads.
    pub fn start_with(client: Client, bundles: Arc<BundleCache>, options: ClusterOptions) -> Self {
        let shared = Arc::new(Shared {
            index: RwLock::new(Index::default()),
            synced: watch::Sender::new(Synced::default()),
            changes: watch::Sender::new(0),
            policy_resource: RwLock::new(None),
            crd_missing: std::sync::atomic::AtomicBool::new(false),
            failures: watch::Sender::new(BTreeMap::new()),
        });
        let profile = &options.profile;
        let config_map_source = profile.ca_source(CaKind::ConfigMap).cloned();
        let wide = config_map_source
            .as_ref()
            .is_some_and(|s| s.only_key_fallback || s.keys.iter().any(|k| k != validate::CA_KEY));
        if wide {
            tokio::spawn(watch_config_maps_wide(
                client.clone(),
                Arc::clone(&shared),
                Arc::clone(&bundles),
                config_map_source,
            ));
        } else {
            tokio::spawn(watch_config_maps(
                client.clone(),
                Arc::clone(&shared),
                Arc::clone(&bundles),
            ));
        }
        if profile.ca_source(CaKind::ClusterTrustBundle).is_some() {
            tokio::spawn(watch_cluster_trust_bundles(
                client.clone(),
                Arc::clone(&shared),
                bundles,
            ));
        }
        let secrets =
            (options.read_secrets && profile.ca_source(CaKind::Secret).is_some()).then(|| {
                let source = profile.ca_source(CaKind::Secret).cloned();
                SecretCache::new(client.clone(), source, options.secret_limits)
            });
        tokio::spawn(watch_services(client.clone(), Arc::clone(&shared)));
        tokio::spawn(watch_policies(client, Arc::clone(&shared)));
        Self {
            shared,
            options,
            secrets,
        }
    }

    /// How many Secrets and bytes the Secret cache holds (`None` when Secrets are not read).
    pub fn secret_cache_usage(&self) -> Option<(usize, usize)> {
        self.secrets.as_ref().map(SecretCache::usage)
    }

    /// A receiver that sees a new value after every change to the caches.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Completes when every cache has listed once.
    pub async fn wait_until_ready(&self) {
        let mut synced = self.shared.synced.subscribe();
        let _ = synced.wait_for(|s| s.all()).await;
    }

    /// The snapshot for `wants` from the caches as they are now: ConfigMaps, Services and
    /// policies read under one lock, so that they are of one moment.
    /// Secrets are not read here (that needs a GET: see [`Lookup::snapshot`]): wanted Secrets
    /// are reported as not checked.
    pub fn snapshot_now(&self, wants: &Wants) -> Snapshot {
        let mut snapshot = self.cached_snapshot(wants);
        let why: Arc<str> = if self.secrets.is_some() {
            Arc::from("Secrets are read only by serve")
        } else {
            Arc::from(SECRETS_NOT_READ)
        };
        for name in &wants.secrets {
            let entry = SecretEntry::Unchecked(Arc::clone(&why));
            snapshot.secrets.insert(name.clone(), entry);
        }
        snapshot
    }

    /// The snapshot from the watch caches, without Secrets.
    fn cached_snapshot(&self, wants: &Wants) -> Snapshot {
        let mut snapshot = self.select(wants);
        if !wants.cluster_trust_bundles.is_empty() {
            let synced = self.shared.synced.borrow().cluster_trust_bundles;
            let index = read(&self.shared.index);
            for name in &wants.cluster_trust_bundles {
                let entry = if synced {
                    let key = (String::new(), name.clone());
                    let Some(bundle) = index.cluster_trust_bundles.get(&key) else {
                        continue;
                    };
                    ClusterTrustBundleEntry::Read(bundle.clone())
                } else {
                    ClusterTrustBundleEntry::Unchecked(Arc::from(
                        "ClusterTrustBundles are not listed yet (the webhook needs list and watch on clustertrustbundles)",
                    ))
                };
                snapshot.cluster_trust_bundles.insert(name.clone(), entry);
            }
        }
        snapshot
    }

    fn select(&self, wants: &Wants) -> Snapshot {
        {
            let index = read(&self.shared.index);
            if let Some(policy_index) = &index.policy_index {
                let policies = policy_index.select(wants);
                return super::select(wants, &index.config_maps, &index.services, policies);
            }
        }
        // The policies changed since the last lookup: rebuild their index first.
        let mut index = write(&self.shared.index);
        let Index {
            config_maps,
            services,
            policies,
            policy_index,
            ..
        } = &mut *index;
        let policy_index =
            policy_index.get_or_insert_with(|| Arc::new(PolicyIndex::build(policies.values())));
        let policies = policy_index.select(wants);
        super::select(wants, config_maps, services, policies)
    }

    /// The snapshot, with the wanted Secrets read (GET, in parallel, each bounded in time)
    /// when Secrets are read.
    async fn snapshot_reading_secrets(&self, wants: &Wants) -> Snapshot {
        let Some(cache) = &self.secrets else {
            return self.snapshot_now(wants);
        };
        let mut snapshot = self.cached_snapshot(wants);
        let names = wants.secrets.iter().take(MAX_SECRETS_PER_REQUEST);
        let reads =
            names.map(|name| async move { (name, cache.entry(&wants.namespace, name).await) });
        for (name, entry) in futures_util::future::join_all(reads).await {
            if let Some(entry) = entry {
                snapshot.secrets.insert(name.clone(), entry);
            }
        }
        for name in wants.secrets.iter().skip(MAX_SECRETS_PER_REQUEST) {
            let why = Arc::from("too many Secrets referenced in one request");
            snapshot
                .secrets
                .insert(name.clone(), SecretEntry::Unchecked(why));
        }
        snapshot
    }

    /// The profile the lookup reads CA sources for.
    pub fn profile(&self) -> &Arc<Profile> {
        &self.options.profile
    }

    /// Every policy, for `audit` and the CA expiry metrics.
    pub fn policies(&self) -> Vec<Arc<PolicySummary>> {
        read(&self.shared.index)
            .policies
            .values()
            .cloned()
            .collect()
    }

    /// A ConfigMap, if cached.
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMapEntry> {
        read(&self.shared.index)
            .config_maps
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every CA ConfigMap some policy references, with its parsed bundle (for the expiry
    /// metrics): `(namespace, name, bundle)`, sorted, each once.
    pub fn referenced_bundles(
        &self,
    ) -> Vec<(
        String,
        String,
        Arc<crate::validate::ca_bundle::ParsedBundle>,
    )> {
        let index = read(&self.shared.index);
        let mut out: Vec<_> = index
            .policies
            .values()
            .flat_map(|p| {
                p.config_maps()
                    .map(move |name| (p.namespace.clone(), name.to_owned()))
            })
            .filter_map(|(namespace, name)| {
                let bundle = index
                    .config_maps
                    .get(&(namespace.clone(), name.clone()))?
                    .ca_crt
                    .as_ref()?
                    .bundle
                    .clone();
                Some((namespace, name, bundle))
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        out
    }

    /// The BackendTLSPolicy resource the caches watch, found by discovery (`None` until then,
    /// or while the cluster does not serve the CRD).
    pub fn policy_resource(&self) -> Option<ApiResource> {
        self.shared
            .policy_resource
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What is failing now: the last error of each watch (`configmaps`, `services`,
    /// `backendtlspolicies`) and of API discovery (`discovery`) that has not succeeded since,
    /// as `source: error`.
    pub fn failures(&self) -> Vec<String> {
        self.shared
            .failures
            .borrow()
            .iter()
            .map(|(source, error)| format!("{source}: {error}"))
            .collect()
    }

    /// Completes when some watch, or API discovery, is failing (tests wait on it).
    pub async fn wait_until_failing(&self) {
        let mut failures = self.shared.failures.subscribe();
        let _ = failures.wait_for(|f| !f.is_empty()).await;
    }

    /// How many objects of each kind are cached (ConfigMaps, Services, policies).
    pub fn counts(&self) -> (usize, usize, usize) {
        let index = read(&self.shared.index);
        (
            index.config_maps.len(),
            index.services.len(),
            index.policies.len(),
        )
    }
}

fn read(index: &RwLock<Index>) -> std::sync::RwLockReadGuard<'_, Index> {
    // Writers only insert and remove whole entries, so a poisoned lock still holds a
    // consistent index.
    index
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(index: &RwLock<Index>) -> std::sync::RwLockWriteGuard<'_, Index> {
    index
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Lookup for ClusterLookup {
    fn snapshot<'a>(&'a self, wants: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        Box::pin(async move {
            if !self.shared.synced.borrow().all() {
                self.wait_until_ready().await;
            }
            Ok(self.snapshot_reading_secrets(wants).await)
        })
    }

    fn generation(&self) -> u64 {
        *self.shared.changes.borrow()
    }

    fn is_ready(&self) -> bool {
        self.shared.synced.borrow().all()
    }

    fn describe(&self) -> String {
        let (config_maps, services, policies) = self.counts();
        let version = match self.policy_resource() {
            Some(resource) => format!("via {}", resource.api_version),
            None if self
                .shared
                .crd_missing
                .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                "(CRD not installed)".to_owned()
            }
            None => "(version not discovered yet)".to_owned(),
        };
        let mut text = format!(
            "cluster ({config_maps} ConfigMaps, {services} Services, {policies} BackendTLSPolicies {version})"
        );
        let failures = self.failures();
        if !failures.is_empty() {
            text.push_str("; failing: ");
            text.push_str(&failures.join("; "));
        }
        text
    }
}

/// Implements `k8s_openapi::Resource` and `Metadata` for a partial view of a core `v1` kind
/// (its `metadata` field is the object's), so that kube's watcher decodes only what it holds.
macro_rules! core_v1_resource {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = "v1";
            const GROUP: &'static str = "";
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// A ConfigMap as far as CA bundles go: identity and `ca.crt`; other keys are skipped while
/// parsing.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaConfigMap {
    /// Metadata (the watcher needs the resourceVersion).
    pub metadata: ObjectMeta,
    /// `data["ca.crt"]`.
    #[serde(default, rename = "data", deserialize_with = "ca_key")]
    pub ca_crt: Option<String>,
    /// Whether `binaryData["ca.crt"]` is present.
    #[serde(default, rename = "binaryData", deserialize_with = "has_ca_key")]
    pub binary_ca_crt: bool,
}

core_v1_resource!(CaConfigMap, "ConfigMap", "configmaps");

fn ca_key<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_option(OnlyCaKey)
}

fn has_ca_key<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(deserializer.deserialize_option(OnlyCaKey)?.is_some())
}

/// Reads a string map, keeping only the `ca.crt` value.
struct OnlyCaKey;

impl<'de> serde::de::Visitor<'de> for OnlyCaKey {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == validate::CA_KEY {
                found = Some(map.next_value::<String>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A Service as far as targets go: its ports' names and protocols.
#[derive(Clone, Debug, Deserialize)]
pub struct ServicePorts {
    pub metadata: ObjectMeta,
    /// `spec.ports`.
    #[serde(default)]
    pub spec: Option<ServicePortsSpec>,
}

/// `spec` of [`ServicePorts`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServicePortsSpec {
    #[serde(default)]
    pub ports: Option<Vec<PortLite>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PortLite {
    #[serde(default)]
    pub name: Option<String>,
    /// Protocol (TCP when absent).
    #[serde(default)]
    pub protocol: Option<String>,
}

core_v1_resource!(ServicePorts, "Service", "services");

fn key_of(metadata: &ObjectMeta) -> Option<Key> {
    Some((
        metadata.namespace.clone().unwrap_or_default(),
        metadata.name.clone()?,
    ))
}

/// Applies a watcher's events to one map of the index: `Init`..`InitDone` rebuilds the map
/// (objects deleted while the watch was down disappear), `Apply`/`Delete` patch it.
async fn run_watch<K, V>(
    name: &'static str,
    stream: impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>>,
    shared: Arc<Shared>,
    convert: impl Fn(&K) -> Option<(Key, V)>,
    map: fn(&mut Index) -> &mut HashMap<Key, V>,
    mark: fn(&mut Synced),
) where
    K: kube::Resource,
{
    let mut stream = std::pin::pin!(stream);
    let mut buffer: Option<HashMap<Key, V>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => buffer = Some(HashMap::new()),
            Ok(Event::InitApply(object)) => {
                if let (Some(buffer), Some((key, value))) = (buffer.as_mut(), convert(&object)) {
                    buffer.insert(key, value);
                }
            }
            Ok(Event::InitDone) => {
                shared.recovered(name);
                if let Some(buffer) = buffer.take() {
                    let count = buffer.len();
                    *map(&mut write(&shared.index)) = buffer;
                    info!(watch = name, count, "cache synced");
                }
                shared.synced.send_modify(mark);
                shared.changed();
            }
            Ok(Event::Apply(object)) => {
                shared.recovered(name);
                if let Some((key, value)) = convert(&object) {
                    map(&mut write(&shared.index)).insert(key, value);
                    shared.changed();
                }
            }
            Ok(Event::Delete(object)) => {
                shared.recovered(name);
                if let Some(key) = key_of_resource(&object) {
                    map(&mut write(&shared.index)).remove(&key);
                    shared.changed();
                }
            }
            Err(error) => {
                shared.failed(name, &error);
                warn!(watch = name, %error, "watch failed; retrying");
            }
        }
    }
}

fn key_of_resource<K: kube::Resource>(object: &K) -> Option<Key> {
    key_of(object.meta())
}

fn watch_config(page_size: u32) -> watcher::Config {
    watcher::Config::default().page_size(page_size)
}

async fn watch_config_maps(client: Client, shared: Arc<Shared>, bundles: Arc<BundleCache>) {
    let api: Api<CaConfigMap> = Api::all(client);
    // Pages of 100: each page's body (ConfigMaps carry up to 1 MiB each, typically kilobytes)
    // is read whole before its objects are decoded, so the page size bounds that buffer.
    let stream = watcher::watcher(api, watch_config(100)).default_backoff();
    let convert = move |cm: &CaConfigMap| {
        let entry = ConfigMapEntry {
            ca_crt: cm.ca_crt.as_deref().map(|text| bundles.get(text)),
            binary_ca_crt: cm.binary_ca_crt,
            ..ConfigMapEntry::default()
        };
        Some((key_of(&cm.metadata)?, entry))
    };
    run_watch(
        "configmaps",
        stream,
        shared,
        convert,
        |i| &mut i.config_maps,
        |s| s.config_maps = true,
    )
    .await;
}

/// A ConfigMap for a profile that reads keys other than `ca.crt`: identity, `ca.crt`, the other
/// [`KNOWN_CA_KEYS`], the number of keys and the only key; everything else is skipped while
/// parsing.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WideCaConfigMap {
    pub metadata: ObjectMeta,
    /// What `data` holds of CA keys.
    #[serde(default, deserialize_with = "ca_keys")]
    pub data: CaKeys,
    /// Whether `binaryData["ca.crt"]` is present.
    #[serde(default, rename = "binaryData", deserialize_with = "has_ca_key")]
    pub binary_ca_crt: bool,
}

/// The CA keys of a ConfigMap's `data` ([`WideCaConfigMap`]).
#[derive(Clone, Debug, Default)]
pub struct CaKeys {
    /// The values of [`KNOWN_CA_KEYS`] present.
    pub known: Vec<(String, String)>,
    /// How many keys `data` has.
    pub count: usize,
    /// The only key and its value, when `data` has exactly one key not in [`KNOWN_CA_KEYS`].
    pub only: Option<(String, String)>,
}

core_v1_resource!(WideCaConfigMap, "ConfigMap", "configmaps");

fn ca_keys<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<CaKeys, D::Error> {
    deserializer.deserialize_option(KnownCaKeys)
}

/// Reads a string map, keeping the [`KNOWN_CA_KEYS`] and, while it is the only key, the first.
struct KnownCaKeys;

impl<'de> serde::de::Visitor<'de> for KnownCaKeys {
    type Value = CaKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(CaKeys::default())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(CaKeys::default())
    }

    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = CaKeys::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            keys.count += 1;
            if KNOWN_CA_KEYS.contains(&key.as_ref()) {
                keys.known
                    .push((key.into_owned(), map.next_value::<String>()?));
            } else if keys.count == 1 {
                keys.only = Some((key.into_owned(), map.next_value::<String>()?));
            } else {
                keys.only = None;
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        if keys.count > 1 {
            keys.only = None;
        }
        Ok(keys)
    }
}

async fn watch_config_maps_wide(
    client: Client,
    shared: Arc<Shared>,
    bundles: Arc<BundleCache>,
    source: Option<validate::profile::CaSource>,
) {
    let api: Api<WideCaConfigMap> = Api::all(client);
    // Pages of 100, as for the narrow watch.
    let stream = watcher::watcher(api, watch_config(100)).default_backoff();
    let convert = move |cm: &WideCaConfigMap| {
        let data = &cm.data;
        let mut ca_crt = None;
        let mut other_keys = Vec::new();
        let wanted = data.known.iter().chain(&data.only);
        for (key, text) in wanted {
            if key == validate::CA_KEY {
                ca_crt = Some(bundles.get(text));
            } else if source
                .as_ref()
                .is_some_and(|s| s.wants_key(key, data.count))
            {
                // Through the cache too: the same bundle in every namespace is parsed once.
                let bundle = bundles.parse(text);
                other_keys.push((Box::from(key.as_str()), bundle));
            }
        }
        let entry = ConfigMapEntry {
            ca_crt,
            binary_ca_crt: cm.binary_ca_crt,
            other_keys,
            key_count: data.count,
        };
        Some((key_of(&cm.metadata)?, entry))
    };
    run_watch(
        "configmaps",
        stream,
        shared,
        convert,
        |i| &mut i.config_maps,
        |s| s.config_maps = true,
    )
    .await;
}

/// The API group of ClusterTrustBundles.
const CERTIFICATES_GROUP: &str = "certificates.k8s.io";

/// Finds the served ClusterTrustBundle version (v1, else v1beta1, else v1alpha1), retrying
/// while discovery fails, then watches them. A cluster that does not serve them has none:
/// the cache counts as synced and empty (rechecked every 5 minutes).
async fn watch_cluster_trust_bundles(
    client: Client,
    shared: Arc<Shared>,
    bundles: Arc<BundleCache>,
) {
    let resource = loop {
        match served_cluster_trust_bundles(&client).await {
            Ok(Some(resource)) => break resource,
            Ok(None) => {
                info!(
                    "ClusterTrustBundles are not served by this cluster; references to them cannot resolve"
                );
                shared
                    .synced
                    .send_modify(|s| s.cluster_trust_bundles = true);
                tokio::time::sleep(Duration::from_secs(300)).await;
            }
            Err(error) => {
                warn!(%error, "ClusterTrustBundle discovery failed; retrying in 30s");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    };
    info!(version = %resource.api_version, "watching ClusterTrustBundles");
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let stream = watcher::watcher(api, watch_config(100)).default_backoff();
    let convert = move |object: &DynamicObject| {
        let name = object.metadata.name.clone()?;
        let text = object
            .data
            .pointer("/spec/trustBundle")
            .and_then(Value::as_str);
        Some(((String::new(), name), text.map(|t| bundles.get(t))))
    };
    run_watch(
        "clustertrustbundles",
        stream,
        shared,
        convert,
        |i| &mut i.cluster_trust_bundles,
        |s| s.cluster_trust_bundles = true,
    )
    .await;
}

async fn served_cluster_trust_bundles(client: &Client) -> Result<Option<ApiResource>, kube::Error> {
    let versions = ["v1", "v1beta1", "v1alpha1"];
    served_resource(
        client,
        CERTIFICATES_GROUP,
        &versions,
        "ClusterTrustBundle",
        "clustertrustbundles",
    )
    .await
}

/// The first of `versions` (in order of preference) in which the cluster serves `kind` of
/// `group`, by discovery; `None` when it serves none of them.
async fn served_resource(
    client: &Client,
    group: &str,
    versions: &[&str],
    kind: &str,
    plural: &str,
) -> Result<Option<ApiResource>, kube::Error> {
    let groups = client.list_api_groups().await?;
    let Some(served) = groups.groups.iter().find(|g| g.name == group) else {
        return Ok(None);
    };
    for version in versions {
        if !served.versions.iter().any(|v| v.version == *version) {
            continue;
        }
        let resources = client
            .list_api_group_resources(&format!("{group}/{version}"))
            .await?;
        if resources
            .resources
            .iter()
            .any(|r| r.kind == kind && !r.name.contains('/'))
        {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            return Ok(Some(ApiResource::from_gvk_with_plural(&gvk, plural)));
        }
    }
    Ok(None)
}

async fn watch_services(client: Client, shared: Arc<Shared>) {
    let api: Api<ServicePorts> = Api::all(client);
    let stream = watcher::watcher(api, watch_config(500)).default_backoff();
    let convert = |svc: &ServicePorts| {
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| ServicePort::new(p.name.as_deref(), p.protocol.as_deref()))
                    .collect()
            })
            .unwrap_or_default();
        Some((key_of(&svc.metadata)?, ServiceEntry { ports }))
    };
    run_watch(
        "services",
        stream,
        shared,
        convert,
        |i| &mut i.services,
        |s| s.services = true,
    )
    .await;
}

/// Finds the served BackendTLSPolicy version (v1 preferred, else v1alpha3), retrying until the
/// CRD exists; meanwhile the policy cache counts as synced and empty (no policies can exist).
async fn watch_policies(client: Client, shared: Arc<Shared>) {
    let mut marked_empty = false;
    let resource = loop {
        let discovered = served_policy_resource(&client).await;
        match &discovered {
            Ok(_) => shared.recovered("discovery"),
            Err(error) => shared.failed("discovery", error),
        }
        match discovered {
            Ok(Some(resource)) => break resource,
            Ok(None) => {
                shared
                    .crd_missing
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                warn!(
                    "BackendTLSPolicy is not served by this cluster (Gateway API CRDs missing?); checking again in 30s"
                );
                // Once: a change of generation would empty the decision cache every retry.
                if !marked_empty {
                    marked_empty = true;
                    shared.synced.send_modify(|s| s.policies = true);
                    shared.changed();
                }
            }
            Err(error) => warn!(%error, "API discovery failed; retrying in 30s"),
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    };
    info!(version = %resource.api_version, "watching BackendTLSPolicies");
    *shared
        .policy_resource
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(resource.clone());
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let stream = watcher::watcher(api, watch_config(500)).default_backoff();
    let convert = |object: &DynamicObject| {
        let summary = summarise(object)?;
        Some((
            (summary.namespace.clone(), summary.name.clone()),
            Arc::new(summary),
        ))
    };
    run_watch(
        "backendtlspolicies",
        stream,
        shared,
        convert,
        Index::policies_mut,
        |s| s.policies = true,
    )
    .await;
}

/// Lists every BackendTLSPolicy of `resource` (see [`ClusterLookup::policy_resource`]) in
/// `namespace`, or all, as JSON objects.
pub async fn list_policies(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Result<Vec<Value>, kube::Error> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let mut objects = Vec::new();
    let mut params = kube::api::ListParams::default().limit(500);
    loop {
        let page = api.list(&params).await?;
        for item in page.items {
            let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.entry("apiVersion")
                    .or_insert_with(|| Value::from(resource.api_version.clone()));
                map.entry("kind")
                    .or_insert_with(|| Value::from(validate::KIND));
            }
            objects.push(value);
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(objects)
}

async fn served_policy_resource(client: &Client) -> Result<Option<ApiResource>, kube::Error> {
    served_resource(
        client,
        validate::GROUP,
        &validate::VERSIONS,
        validate::KIND,
        "backendtlspolicies",
    )
    .await
}

fn summarise(object: &DynamicObject) -> Option<PolicySummary> {
    let metadata = &object.metadata;
    let as_value = serde_json::json!({
        "metadata": {
            "name": metadata.name,
            "namespace": metadata.namespace,
            "creationTimestamp": metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        },
        "spec": object.data.get("spec").cloned().unwrap_or(Value::Null),
    });
    PolicySummary::from_object(
        &as_value,
        metadata.namespace.as_deref().unwrap_or("default"),
    )
}
