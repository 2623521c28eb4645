//! What a policy refers to, as plain data: the lookup layer fills a [`Snapshot`] for the
//! [`Wants`] of one request, and the pure validators read it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::ca_bundle::ParsedBundle;
use super::field::Echo;
use super::profile::{CaKind, CaRefUse, CaSource, Profile};

/// A target as the policy names it (same namespace as the policy).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// API group (`""` for core).
    pub group: String,
    pub kind: String,
    pub name: String,
    /// Section (a port name for Services); `None` when absent or empty.
    pub section: Option<String>,
}

impl TargetKey {
    /// One `targetRefs` entry; `None` when its group, kind or name is missing or not a string.
    pub fn from_ref(target: &Value) -> Option<Self> {
        let field = |f: &str| target.get(f).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            group: field("group")?,
            kind: field("kind")?,
            name: field("name")?,
            section: field("sectionName").filter(|s| !s.is_empty()),
        })
    }

    /// `Service payments-backend` or `Service payments-backend port https`, for messages.
    pub fn describe(&self) -> String {
        let kind = if self.group.is_empty() {
            Echo(&self.kind).to_string()
        } else {
            format!("{}.{}", Echo(&self.kind), Echo(&self.group))
        };
        match &self.section {
            Some(section) => format!("{kind} {}, section {}", Echo(&self.name), Echo(section)),
            None => format!("{kind} {}", Echo(&self.name)),
        }
    }
}

/// What one policy refers to, in the form used to find conflicts and CA bundle referrers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicySummary {
    pub namespace: String,
    pub name: String,
    /// `metadata.creationTimestamp` in Unix seconds, if set.
    pub created: Option<i64>,
    pub targets: Vec<TargetKey>,
    /// Its CA references of every kind this webhook knows, in order (the first is the one an
    /// implementation that uses only the first reads).
    pub ca_refs: Vec<(CaKind, String)>,
}

impl PolicySummary {
    /// Summarises a BackendTLSPolicy object; `None` when it has no name.
    pub fn from_object(object: &Value, default_namespace: &str) -> Option<Self> {
        Some(Self {
            ca_refs: ca_refs(object.get("spec")),
            ..Self::targets_of(object, default_namespace)?
        })
    }

    /// What conflicts need of the policy under review: its identity, creation time and
    /// targets (no CA references). `None` when it has no name.
    pub fn targets_of(object: &Value, default_namespace: &str) -> Option<Self> {
        let metadata = object.get("metadata");
        let text = |f: &str| metadata.and_then(|m| m.get(f)).and_then(Value::as_str);
        Some(Self {
            name: text("name").filter(|n| !n.is_empty())?.to_owned(),
            namespace: text("namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace)
                .to_owned(),
            created: text("creationTimestamp").and_then(parse_time),
            targets: targets(object.get("spec")),
            ..Self::default()
        })
    }

    /// Whether `profile`'s implementation reads this object from this policy: a reference
    /// names it (the first one, for an implementation that uses only the first) and the
    /// implementation reads its kind.
    pub fn reads(&self, profile: &Profile, kind: CaKind, name: &str) -> bool {
        if profile.ca_source(kind).is_none() {
            return false;
        }
        let used = match profile.ca_refs {
            CaRefUse::All => self.ca_refs.len(),
            CaRefUse::FirstOnly => 1,
            // A policy with several references is not accepted: it reads none of them.
            CaRefUse::One if self.ca_refs.len() > 1 => 0,
            CaRefUse::One => 1,
        };
        self.ca_refs
            .iter()
            .take(used)
            .any(|(k, n)| *k == kind && n == name)
    }

    /// The names of the ConfigMaps it references as CA bundles, in order (a name may repeat).
    pub fn config_maps(&self) -> impl Iterator<Item = &str> {
        self.ca_refs
            .iter()
            .filter(|(kind, _)| *kind == CaKind::ConfigMap)
            .map(|(_, name)| name.as_str())
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", Echo(&self.namespace), Echo(&self.name))
    }

    /// The spec's precedence key, for listing rivals in order: older first, then
    /// `namespace/name`. A policy without a creation time sorts last among equals in time.
    /// Which of two policies wins is [`PolicySummary::precedes`].
    pub fn precedence(&self) -> (i64, String) {
        let id = format!("{}/{}", self.namespace, self.name);
        (self.created.unwrap_or(i64::MAX), id)
    }

    /// Whether this policy, the one under review, wins over `rival` by the spec's precedence,
    /// and on what grounds: the older `creationTimestamp` wins, and on equal times the first
    /// by `namespace/name`. A rival without a creation time (objects from files and
    /// `--objects` have none, while a request's object has the apiserver's) is compared by
    /// `namespace/name` too, so that of two such policies exactly one wins, whichever is
    /// reviewed. The policy under review without one is not stored yet: it is newer than any
    /// rival that is.
    pub fn precedes(&self, rival: &PolicySummary) -> (bool, Tiebreak) {
        // `namespace/name` order, of the names as they are (not as `id` shows them).
        let first = || self.precedence().1 < rival.precedence().1;
        match (self.created, rival.created) {
            (Some(own), Some(theirs)) if own != theirs => (own < theirs, Tiebreak::Older),
            (Some(_), Some(_)) => (first(), Tiebreak::SameAge),
            (None, Some(_)) => (false, Tiebreak::Older),
            (_, None) => (first(), Tiebreak::AgeUnknown),
        }
    }
}

/// What decided between two policies that select the same target and section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiebreak {
    /// Both creation times are known and differ: the older wins.
    Older,
    /// The creation times are equal: the first by `namespace/name` wins.
    SameAge,
    /// A creation time is missing: the first by `namespace/name` wins.
    AgeUnknown,
}

/// The targets of a spec, skipping malformed entries.
pub fn targets(spec: Option<&Value>) -> Vec<TargetKey> {
    let Some(list) = spec
        .and_then(|s| s.get("targetRefs"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter().filter_map(TargetKey::from_ref).collect()
}

/// The CA references of a spec whose kind this webhook knows (ConfigMap, Secret,
/// ClusterTrustBundle), in order, skipping malformed entries.
pub fn ca_refs(spec: Option<&Value>) -> Vec<(CaKind, String)> {
    let Some(list) = spec
        .and_then(|s| s.get("validation"))
        .and_then(|v| v.get("caCertificateRefs"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter().filter_map(ca_ref).collect()
}

/// One CA reference's kind (if this webhook knows it) and name.
pub fn ca_ref(reference: &Value) -> Option<(CaKind, String)> {
    let text = |f: &str| reference.get(f).and_then(Value::as_str);
    let kind = CaKind::of(text("group")?, text("kind")?)?;
    Some((kind, text("name")?.to_owned()))
}

/// Parses an RFC 3339 time to Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// The `ca.crt` of a ConfigMap, with its parsed form (shared between requests by content).
#[derive(Clone, Debug)]
pub struct CaText {
    pub text: Arc<str>,
    pub bundle: Arc<ParsedBundle>,
}

/// A ConfigMap as far as CA bundles are concerned.
#[derive(Clone, Debug, Default)]
pub struct ConfigMapEntry {
    /// `data["ca.crt"]`, if present.
    pub ca_crt: Option<CaText>,
    /// Whether `binaryData["ca.crt"]` is present.
    pub binary_ca_crt: bool,
    /// The other keys of `data` the profile in use reads (Istio's `cacert`, Envoy Gateway's
    /// `tls.crt`, an object's only key), parsed; nothing else of the ConfigMap is kept.
    pub other_keys: Vec<(Box<str>, Arc<ParsedBundle>)>,
    /// How many keys `data` has (some implementations read an object's only key).
    pub key_count: usize,
}

impl ConfigMapEntry {
    /// Reads the CA-relevant part of a ConfigMap object's `data` for `source` (the keys a
    /// profile reads): `ca.crt` through `ca` (callers pass a cache), any other key read by
    /// `parse`.
    pub fn from_object(
        object: &Value,
        source: Option<&CaSource>,
        ca: impl FnOnce(&str) -> CaText,
        parse: impl Fn(&str) -> Arc<ParsedBundle>,
    ) -> Self {
        let data = object.get("data").and_then(Value::as_object);
        let mut other_keys = Vec::new();
        if let (Some(data), Some(source)) = (data, source) {
            for (key, value) in data {
                if key != super::CA_KEY
                    && let Some(text) = value.as_str()
                    && source.wants_key(key, data.len())
                {
                    other_keys.push((Box::from(key.as_str()), parse(text)));
                }
            }
        }
        Self {
            ca_crt: data
                .and_then(|d| d.get(super::CA_KEY))
                .and_then(Value::as_str)
                .map(ca),
            binary_ca_crt: object.pointer("/binaryData/ca.crt").is_some(),
            other_keys,
            key_count: data.map_or(0, |d| d.len()),
        }
    }
}

impl CaData for ConfigMapEntry {
    fn value(&self, key: &str) -> Option<&ParsedBundle> {
        if key == super::CA_KEY {
            return self.ca_crt.as_ref().map(|c| &*c.bundle);
        }
        find_key(&self.other_keys, key)
    }

    fn key_count(&self) -> usize {
        self.key_count
    }

    fn only_key(&self) -> Option<(&str, &ParsedBundle)> {
        match (&self.ca_crt, self.other_keys.as_slice()) {
            (None, [(key, bundle)]) if self.key_count == 1 => Some((key, bundle)),
            _ => None,
        }
    }

    fn in_binary_data(&self, key: &str) -> bool {
        key == super::CA_KEY && self.binary_ca_crt
    }
}

/// The bundle kept under `key`.
fn find_key<'a>(keys: &'a [(Box<str>, Arc<ParsedBundle>)], key: &str) -> Option<&'a ParsedBundle> {
    keys.iter().find(|(k, _)| &**k == key).map(|(_, b)| &**b)
}

/// The `data` of a ConfigMap or Secret, as far as the keys a profile reads go.
pub trait CaData {
    /// The parsed bundle under `key`, if it is present and kept.
    fn value(&self, key: &str) -> Option<&ParsedBundle>;
    /// How many keys `data` has.
    fn key_count(&self) -> usize;
    /// The only key of `data` and its bundle, when `data` has exactly one key and it was kept.
    fn only_key(&self) -> Option<(&str, &ParsedBundle)>;
    /// Whether `key` is in `binaryData` (ConfigMaps) rather than `data`.
    fn in_binary_data(&self, _key: &str) -> bool {
        false
    }
}

impl CaSource {
    /// Whether an object whose `data` has `key_count` keys must keep `key` for this source: it
    /// is one of the keys read, or the only key when the source falls back to it.
    pub fn wants_key(&self, key: &str, key_count: usize) -> bool {
        self.keys.iter().any(|k| k == key) || (self.only_key_fallback && key_count == 1)
    }
}

/// A Secret as far as CA bundles are concerned: the parsed bundles of the keys the profile
/// reads, and the names of keys that hold a private key. Nothing else of the Secret is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretCa {
    /// The keys read, with their parsed bundles.
    pub keys: Vec<(Box<str>, Arc<ParsedBundle>)>,
    /// How many keys `data` has.
    pub key_count: usize,
    /// Keys that hold a private key (`tls.key`, or any PEM private key), at most
    /// [`SecretCa::MAX_PRIVATE_KEYS`] of them.
    pub private_keys: Vec<Box<str>>,
    /// The Secret's `type` (`None`: not given, which the apiserver defaults to `Opaque`).
    pub secret_type: Option<Box<str>>,
}

impl SecretCa {
    /// How many private-key holding keys are named.
    pub const MAX_PRIVATE_KEYS: usize = 4;

    /// Reads a Secret object as the apiserver or a file gives it: `data` (base64; a value that
    /// is not base64 is read as it is) and `stringData` (text, which wins over `data`, as the
    /// apiserver merges it; a value that is not text is no value at all).
    pub fn from_object(
        object: &Value,
        source: Option<&CaSource>,
        parse: impl Fn(&str) -> Arc<ParsedBundle>,
    ) -> Self {
        let data = object.get("data").and_then(Value::as_object);
        let string_data = object.get("stringData").and_then(Value::as_object);
        let in_string_data =
            |key: &str| string_data.is_some_and(|s| s.get(key).is_some_and(Value::is_string));
        let mut reader = SecretReader::new(source);
        reader.secret_type(object.get("type").and_then(Value::as_str));
        for (key, value) in data.into_iter().flatten() {
            if in_string_data(key) {
                continue;
            }
            // The prune of an admission request marks a private-key holding value it drops
            // with `true`.
            if value == &Value::Bool(true) {
                reader.withheld(key);
                continue;
            }
            if let Some(text) = value.as_str() {
                let decoded = decode_base64(text).unwrap_or_else(|| text.as_bytes().to_vec());
                reader.key(key, decoded);
            }
        }
        for (key, value) in string_data.into_iter().flatten() {
            if let Some(text) = value.as_str() {
                reader.key(key, text.as_bytes().to_vec());
            }
        }
        reader.finish(parse)
    }

    /// About how many bytes of memory this holds, for caches bounded in bytes.
    pub fn approx_bytes(&self) -> usize {
        let keys: usize = self
            .keys
            .iter()
            .map(|(k, b)| k.len() + b.approx_bytes())
            .sum();
        let private: usize = self.private_keys.iter().map(|k| k.len()).sum();
        std::mem::size_of::<Self>()
            + keys
            + private
            + self.secret_type.as_deref().map_or(0, str::len)
    }
}

/// Reads a Secret's data one key at a time, keeping only what [`SecretCa`] holds: the values of
/// the keys the profile reads (and of the only key, when it falls back to it), until they are
/// parsed; every other value is only scanned for a private key, then dropped.
#[derive(Debug)]
pub struct SecretReader<'s> {
    source: Option<&'s CaSource>,
    kept: Vec<(Box<str>, Vec<u8>)>,
    /// The first key, while it is the only one and not one of the listed keys.
    only: Option<(Box<str>, Vec<u8>)>,
    secret: SecretCa,
}

impl<'s> SecretReader<'s> {
    /// A reader for the keys `source` reads (none when the profile reads no Secrets).
    pub fn new(source: Option<&'s CaSource>) -> Self {
        Self {
            source,
            kept: Vec::new(),
            only: None,
            secret: SecretCa::default(),
        }
    }

    /// The Secret's `type`.
    pub fn secret_type(&mut self, secret_type: Option<&str>) {
        self.secret.secret_type = secret_type.map(Box::from);
    }

    /// One key of `data` with its decoded value.
    pub fn key(&mut self, key: &str, value: Vec<u8>) {
        self.secret.key_count += 1;
        let listed = self.source.is_some_and(|s| s.keys.iter().any(|k| k == key));
        if listed {
            self.kept.push((Box::from(key), value));
            self.only = None;
            return;
        }
        if key == "tls.key" || holds_private_key(&value) {
            self.private_key(key);
        }
        let falls_back = self.source.is_some_and(|s| s.only_key_fallback);
        self.only = (falls_back && self.secret.key_count == 1).then(|| (Box::from(key), value));
    }

    /// A key of `data` whose value was withheld because it holds a private key.
    pub fn withheld(&mut self, key: &str) {
        self.secret.key_count += 1;
        self.only = None;
        self.private_key(key);
    }

    fn private_key(&mut self, key: &str) {
        if self.secret.private_keys.len() < SecretCa::MAX_PRIVATE_KEYS {
            self.secret.private_keys.push(Box::from(key));
        }
    }

    /// The parsed bundles of the keys kept; the values themselves are dropped.
    pub fn finish(mut self, parse: impl Fn(&str) -> Arc<ParsedBundle>) -> SecretCa {
        if self.secret.key_count == 1
            && let Some((key, value)) = self.only.take()
        {
            // The only key is read as the bundle: its content is checked as one.
            self.secret.private_keys.retain(|k| *k != key);
            self.kept.push((key, value));
        }
        for (key, value) in self.kept {
            let bundle = parse(&String::from_utf8_lossy(&value));
            self.secret.keys.push((key, bundle));
        }
        self.secret
    }
}

impl CaData for SecretCa {
    fn value(&self, key: &str) -> Option<&ParsedBundle> {
        find_key(&self.keys, key)
    }

    fn key_count(&self) -> usize {
        self.key_count
    }

    fn only_key(&self) -> Option<(&str, &ParsedBundle)> {
        match self.keys.as_slice() {
            [(key, bundle)] if self.key_count == 1 => Some((key, bundle)),
            _ => None,
        }
    }
}

/// Standard base64 (with padding), as Kubernetes encodes Secret data.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use serde::de::IntoDeserializer as _;
    let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        text.into_deserializer();
    serde::Deserialize::deserialize(text)
        .ok()
        .map(|bytes: k8s_openapi::ByteString| bytes.0)
}

/// Whether a `data` value holds a PEM private key, as text or (a Secret's) base64 of the text.
pub fn holds_private_key_encoded(value: &str) -> bool {
    // "LS0tLS1CRUdJT" is base64 for "-----BEGIN": only such values are decoded.
    if value.starts_with("LS0tLS1CRUdJT") {
        return decode_base64(value).is_some_and(|bytes| holds_private_key(&bytes));
    }
    value.contains("PRIVATE KEY-----") && value.contains("-----BEGIN ")
}

/// Whether a value holds a PEM private key: a `-----BEGIN ` line and a label ending in
/// `PRIVATE KEY-----` (`PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, ...).
pub fn holds_private_key(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value);
    text.contains("PRIVATE KEY-----") && text.contains("-----BEGIN ")
}

/// A Secret a policy refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretEntry {
    /// Read: what the profile needs of it.
    Read(SecretCa),
    /// Not read: why (the webhook may not read Secrets, or reading it failed), as the rest of a
    /// sentence "its content was not checked: …".
    Unchecked(Arc<str>),
}

/// A ClusterTrustBundle a policy refers to.
#[derive(Clone, Debug)]
pub enum ClusterTrustBundleEntry {
    /// Its `spec.trustBundle`, parsed (`None` when absent).
    Read(Option<CaText>),
    /// Not known: why, as the rest of a sentence "its content was not checked: …".
    Unchecked(Arc<str>),
}

impl ClusterTrustBundleEntry {
    /// Reads a ClusterTrustBundle object: `ca` turns `spec.trustBundle` into its parsed form.
    pub fn from_object(object: &Value, ca: impl FnOnce(&str) -> CaText) -> Self {
        Self::Read(
            object
                .pointer("/spec/trustBundle")
                .and_then(Value::as_str)
                .map(ca),
        )
    }
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name (empty when unnamed).
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// A Service as far as targets are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    pub ports: Vec<ServicePort>,
}

impl ServicePort {
    /// A port as the Service spec gives it: the name defaults to `""`, the protocol to `TCP`.
    pub fn new(name: Option<&str>, protocol: Option<&str>) -> Self {
        Self {
            name: name.unwrap_or("").to_owned(),
            protocol: protocol.unwrap_or("TCP").to_owned(),
        }
    }
}

impl ServiceEntry {
    /// Reads the ports of a Service object.
    pub fn from_object(object: &Value) -> Self {
        let ports = object
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        ServicePort::new(
                            p.get("name").and_then(Value::as_str),
                            p.get("protocol").and_then(Value::as_str),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { ports }
    }
}

/// What the validators need to know about one namespace's objects for one request.
#[derive(Clone, Debug, Default)]
pub struct Wants {
    /// The namespace of the object under review (references are same-namespace only).
    pub namespace: String,
    /// ConfigMaps to fetch by name.
    pub config_maps: Vec<String>,
    /// Services to fetch by name.
    pub services: Vec<String>,
    /// Return the other policies that target any of these objects.
    pub targets: Vec<TargetKey>,
    /// Secrets to fetch by name.
    pub secrets: Vec<String>,
    /// ClusterTrustBundles (cluster-scoped) to fetch by name.
    pub cluster_trust_bundles: Vec<String>,
    /// Return the policies that use this ConfigMap or Secret (in `namespace`) or
    /// ClusterTrustBundle (in any namespace) as a CA bundle.
    pub ca_referrers_of: Option<(CaKind, String)>,
}

impl Wants {
    /// What a BackendTLSPolicy object refers to.
    pub fn for_policy(object: &Value, namespace: &str) -> Self {
        Self::for_policy_with(object, namespace, &super::profile::CORE)
    }

    /// What a BackendTLSPolicy object refers to that `profile`'s implementation reads: the CA
    /// objects of the kinds it reads (only the first reference when it uses only the first),
    /// the Services and the other policies on the same targets.
    pub fn for_policy_with(object: &Value, namespace: &str, profile: &Profile) -> Self {
        let spec = object.get("spec");
        let targets = targets(spec);
        let mut services: Vec<String> = targets
            .iter()
            .filter(|t| t.group.is_empty() && t.kind == "Service")
            .map(|t| t.name.clone())
            .collect();
        services.sort();
        services.dedup();
        let mut wants = Self {
            namespace: namespace.to_owned(),
            services,
            targets,
            ..Self::default()
        };
        let refs = spec
            .and_then(|s| s.get("validation"))
            .and_then(|v| v.get("caCertificateRefs"))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let used = match profile.ca_refs {
            CaRefUse::FirstOnly => &refs[..refs.len().min(1)],
            CaRefUse::All | CaRefUse::One => refs,
        };
        for (kind, name) in used.iter().filter_map(ca_ref) {
            if profile.ca_source(kind).is_none() {
                continue;
            }
            match kind {
                CaKind::ConfigMap => wants.config_maps.push(name),
                CaKind::Secret => wants.secrets.push(name),
                CaKind::ClusterTrustBundle => wants.cluster_trust_bundles.push(name),
            }
        }
        for names in [
            &mut wants.config_maps,
            &mut wants.secrets,
            &mut wants.cluster_trust_bundles,
        ] {
            names.sort();
            names.dedup();
        }
        wants
    }

    /// What a review of a CA object (ConfigMap, Secret or ClusterTrustBundle) needs: the
    /// policies that use it (`namespace` is ignored for the cluster-scoped ClusterTrustBundle).
    pub fn for_ca_object(kind: CaKind, namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            ca_referrers_of: Some((kind, name.to_owned())),
            ..Self::default()
        }
    }
}

/// The answer to [`Wants`]: objects that exist are present; absent names do not exist.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// ConfigMaps by name.
    pub config_maps: HashMap<String, ConfigMapEntry>,
    /// Services by name.
    pub services: HashMap<String, ServiceEntry>,
    /// Policies that target a wanted target, or use the wanted ConfigMap.
    pub policies: Vec<Arc<PolicySummary>>,
    /// Secrets by name.
    pub secrets: HashMap<String, SecretEntry>,
    /// ClusterTrustBundles by name.
    pub cluster_trust_bundles: HashMap<String, ClusterTrustBundleEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_read_targets_and_core_config_maps() {
        let policy = json!({
            "metadata": {"name": "p", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "a", "sectionName": "https"}, {"group": "", "kind": "Service", "name": 5}],
                "validation": {"caCertificateRefs": [
                    {"group": "", "kind": "ConfigMap", "name": "ca"},
                    {"group": "", "kind": "Secret", "name": "s"},
                    {"group": "", "kind": "ConfigMap", "name": "ca"}
                ]}
            }
        });
        let summary = PolicySummary::from_object(&policy, "default").expect("named");
        assert_eq!(summary.id(), "shop/p");
        assert_eq!(summary.created, Some(1_767_225_600));
        assert_eq!(summary.targets.len(), 1);
        assert_eq!(summary.targets[0].section.as_deref(), Some("https"));
        assert_eq!(summary.config_maps().collect::<Vec<_>>(), ["ca", "ca"]);
        assert_eq!(summary.ca_refs[1], (CaKind::Secret, "s".to_owned()));
        assert!(PolicySummary::from_object(&json!({"metadata": {}}), "x").is_none());
    }

    #[test]
    fn wants_for_a_policy_list_services_and_config_maps_once() {
        let policy = json!({"spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "a", "sectionName": "x"}, {"group": "", "kind": "Service", "name": "a", "sectionName": "y"}, {"group": "x.io", "kind": "Thing", "name": "t"}],
            "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]}
        }});
        let wants = Wants::for_policy(&policy, "shop");
        assert_eq!(wants.services, ["a"]);
        assert_eq!(wants.config_maps, ["ca"]);
        assert_eq!(wants.targets.len(), 3);
    }

    #[test]
    fn service_ports_default_to_tcp() {
        let svc = json!({"spec": {"ports": [{"name": "https", "port": 443}, {"name": "dns", "protocol": "UDP"}]}});
        let entry = ServiceEntry::from_object(&svc);
        assert_eq!(
            entry.ports[0],
            ServicePort {
                name: "https".into(),
                protocol: "TCP".into()
            }
        );
        assert_eq!(entry.ports[1].protocol, "UDP");
    }
}
