//! Implementation profiles: what one Gateway API implementation honours in a BackendTLSPolicy.
//!
//! The spec leaves parts of BackendTLSPolicy to each implementation: CA references of kinds
//! other than ConfigMap, several CA references, `wellKnownCACertificates` values other than
//! `System`, target kinds other than Service, and `options`. A [`Profile`] states, as data, what
//! one implementation does with each, for a stated range of its versions. The rules read the
//! selected profile from [`Settings::profile`](super::Settings::profile): what the
//! implementation rejects is an error (under `--invalid-refs` for CA references), what it
//! silently ignores or mishandles is a warning that says what will happen.
//!
//! The built-in profiles are the table [`BUILT_IN`], one `const` per implementation, each fact
//! with its source (a repository at a commit and a path, or an upstream issue) in the doc
//! comment above it. [`CORE`], the default, is the Gateway API core conformance profile: the
//! webhook's behaviour without a profile. A profile can also be loaded from a YAML file
//! ([`Profile::from_value`] reads it once parsed; the format is in the README).

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use super::GroupKind;
use super::field::FieldPath;

mod built_in;
mod file;

pub use self::built_in::{
    AGENTGATEWAY, BUILT_IN, CILIUM, CORE, ENVOY_GATEWAY, ISTIO, KGATEWAY, NGINX_GATEWAY_FABRIC,
    TRAEFIK, built_in, built_in_names,
};
pub use self::file::{MAX_ITEMS, MAX_TEXT, ProfileError};

/// Text that is `'static` in the built-in table and owned when loaded from a file.
pub type Text = Cow<'static, str>;
/// A list that is `'static` in the built-in table and owned when loaded from a file.
pub type List<T> = Cow<'static, [T]>;

/// The key a CA bundle is read from in core conformance.
const CA_CRT: Text = Cow::Borrowed("ca.crt");

/// The keys of ConfigMaps and Secrets a profile may read. The cluster caches and the review of
/// ConfigMap and Secret writes keep these keys (and, for a profile that reads them, nothing
/// else), so a profile file may name only these: `ca.crt` (Gateway API), `cacert` (Istio),
/// `tls.crt` (Envoy Gateway's fallback, cert-manager), `ca-bundle.crt` and `service-ca.crt`
/// (OpenShift's injected bundles), `root-cert.pem` (Istio's root certificate ConfigMap) and
/// `trust-bundle.pem` (trust-manager's documented example).
pub const KNOWN_CA_KEYS: [&str; 7] = [
    "ca.crt",
    "cacert",
    "tls.crt",
    "ca-bundle.crt",
    "service-ca.crt",
    "root-cert.pem",
    "trust-bundle.pem",
];

/// A kind of object a CA reference can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaKind {
    /// A core ConfigMap (the only kind in core conformance).
    ConfigMap,
    /// A core Secret.
    Secret,
    /// A `certificates.k8s.io` ClusterTrustBundle (cluster-scoped).
    ClusterTrustBundle,
}

impl CaKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::ConfigMap, Self::Secret, Self::ClusterTrustBundle];

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Self::ConfigMap | Self::Secret => "",
            Self::ClusterTrustBundle => "certificates.k8s.io",
        }
    }

    /// The kind, as a reference spells it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::ClusterTrustBundle => "ClusterTrustBundle",
        }
    }

    /// The kind a reference's group and kind name, if it is one of these.
    pub fn of(group: &str, kind: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.group() == group && k.kind() == kind)
    }

    /// As a [`GroupKind`] (`certificates.k8s.io/ClusterTrustBundle` when shown).
    pub fn group_kind(self) -> GroupKind {
        GroupKind {
            group: self.group().to_owned(),
            kind: self.kind().to_owned(),
        }
    }
}

impl fmt::Display for CaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// One CA reference kind an implementation reads, and where in the object it reads the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaSource {
    pub kind: CaKind,
    /// ConfigMap and Secret: the keys of `data` tried in order, the first present one read
    /// (a ClusterTrustBundle holds one bundle, `spec.trustBundle`: empty for it).
    pub keys: List<Text>,
    /// ConfigMap and Secret: when none of `keys` is present and `data` has exactly one key,
    /// that key is read.
    pub only_key_fallback: bool,
    /// Secret: the Secret types read (`kubernetes.io/tls`); empty: any type.
    pub secret_types: List<Text>,
}

/// What an implementation does with a CA reference of a kind it does not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsupportedCaKind {
    /// The reference is invalid (`ResolvedRefs=False`, `InvalidKind`).
    Rejected,
    /// The reference is skipped without a condition when another reference has a kind it
    /// reads; rejected when none has.
    IgnoredBesideSupported,
}

/// How many CA references an implementation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaRefUse {
    /// Every reference: the bundles are concatenated.
    All,
    /// Only `caCertificateRefs[0]`; the others are ignored.
    FirstOnly,
    /// Exactly one: a policy with more is not accepted.
    One,
}

/// What an implementation does with `wellKnownCACertificates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WellKnown {
    /// Not stated: values other than `System` get a warning (implementation-specific).
    Unstated,
    /// These values are accepted; any other makes the policy `Accepted=False` (`Invalid`).
    Only(List<Text>),
    /// Any value is accepted and means the system trust store.
    AnyAsSystem,
}

/// What an implementation does with a target of a kind it does not support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsupportedTarget {
    /// The policy is not accepted (`Accepted=False`).
    Rejected,
    /// The target is ignored without a condition: the policy has no effect on it.
    Ignored,
}

/// What an implementation does with `spec.options`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionsSupport {
    /// Not stated: keys are checked only as the spec says (qualified names, domain prefixes).
    Unstated,
    /// `spec.options` is never read: every option is without effect.
    Ignored,
    /// These keys are read; others are without effect.
    Keys(List<Text>),
}

/// A group and kind in a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// API group (`""` for core).
    pub group: Text,
    pub kind: Text,
}

impl Kind {
    /// As a [`GroupKind`].
    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group.to_string(),
            kind: self.kind.to_string(),
        }
    }

    /// Whether this is `group`/`kind`.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// When a [`Pitfall`] applies to a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// To every policy.
    Always,
    /// `spec.validation.wellKnownCACertificates` has this value.
    WellKnown(Text),
    /// `spec.validation.wellKnownCACertificates` has any value.
    AnyWellKnown,
    /// A CA reference names this kind (one the implementation reads).
    CaKind(CaKind),
    /// A target is of this kind.
    TargetKind(Kind),
    /// `spec.validation.subjectAltNames` is set.
    SubjectAltNames,
    /// A CA reference does not resolve to a usable bundle (missing object or key, unusable
    /// content, wrong kind).
    BadCaRef,
    /// The bundle a CA reference resolves to cannot be used (its content).
    BadCaContent,
    /// A bundle is read from a key other than the first the implementation tries (a fallback
    /// key, or an object's only key).
    FallbackKey,
}

/// A known way an implementation mishandles a policy, reported as a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pitfall {
    /// When it applies.
    pub when: When,
    /// What happens, as a warning (the implementation's name is prefixed).
    pub warning: Text,
    /// Where it is documented: an upstream issue or a source file.
    pub source: Text,
}

/// What one implementation honours in a BackendTLSPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The `--implementation` value: `core`, `envoy-gateway`, ...
    pub name: Text,
    /// The implementation, for messages: `Envoy Gateway`.
    pub implementation: Text,
    /// The implementation versions the facts were checked for: `v1.6.0 to v1.9.x`.
    pub versions: Text,
    /// The CA reference kinds read, with the keys read from each.
    pub ca_sources: List<CaSource>,
    /// What happens to a reference of another kind.
    pub unsupported_ca_kind: UnsupportedCaKind,
    /// How many CA references are used.
    pub ca_refs: CaRefUse,
    /// Whether group `core` is read as the core group `""` (in CA references and targets).
    pub core_group_alias: bool,
    /// What is done with `wellKnownCACertificates`.
    pub well_known: WellKnown,
    /// The target kinds supported (`--allow-target-kind` adds to them).
    pub target_kinds: List<Kind>,
    /// What happens to a target of another kind.
    pub unsupported_target: UnsupportedTarget,
    /// What is done with `spec.options`.
    pub options: OptionsSupport,
    /// Known pitfalls, each a warning with its source.
    pub pitfalls: List<Pitfall>,
}

impl Default for Profile {
    fn default() -> Self {
        CORE
    }
}

impl Profile {
    /// Whether this is the core profile (the webhook's behaviour without a profile), whose
    /// messages name no implementation.
    pub fn is_core(&self) -> bool {
        self.name == CORE.name
    }

    /// Where this profile reads a CA reference of `kind` from, if it reads that kind.
    pub fn ca_source(&self, kind: CaKind) -> Option<&CaSource> {
        self.ca_sources.iter().find(|s| s.kind == kind)
    }

    /// The group as the implementation reads it: `core` is `""` when it reads it so.
    pub fn read_group<'a>(&self, group: &'a str) -> &'a str {
        if self.core_group_alias && group == "core" {
            ""
        } else {
            group
        }
    }

    /// Whether a target of this group and kind is supported (without `--allow-target-kind`).
    pub fn supports_target(&self, group: &str, kind: &str) -> bool {
        self.target_kinds.iter().any(|k| k.is(group, kind))
    }

    /// The pitfalls whose condition `matches`.
    pub fn pitfalls_where(
        &self,
        matches: impl Fn(&When) -> bool,
    ) -> impl Iterator<Item = &Pitfall> {
        self.pitfalls.iter().filter(move |p| matches(&p.when))
    }

    /// A pitfall as a warning: `Istio 1.28.0 to 1.30.x: … (source)`.
    pub fn pitfall_warning(&self, pitfall: &Pitfall) -> String {
        format!("{}: {} ({})", self.label(), pitfall.warning, pitfall.source)
    }

    /// `Istio 1.28.0 to 1.30.x`: the implementation and the versions described.
    pub fn label(&self) -> String {
        format!("{} {}", self.implementation, self.versions)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn built_in_names_are_unique_dns_labels_core_first() {
        let names = built_in_names();
        assert_eq!(names[0], "core");
        for (i, name) in names.iter().enumerate() {
            assert!(super::super::schema::NAMESPACE.is_match(name), "{name}");
            assert!(!names[..i].contains(name), "{name} twice");
            assert_eq!(built_in(name).map(|p| &p.name), Some(&Text::from(*name)));
        }
        assert!(built_in("envoy").is_none());
        assert_eq!(Profile::default(), CORE);
        assert!(CORE.is_core() && !ISTIO.is_core());
    }

    #[test]
    fn built_in_profiles_are_consistent() {
        for profile in BUILT_IN {
            let name = &profile.name;
            assert!(!profile.ca_sources.is_empty(), "{name}: reads some CA kind");
            assert!(
                profile.supports_target("", "Service"),
                "{name}: Service first"
            );
            assert!(profile.target_kinds[0].is("", "Service"), "{name}");
            for source in profile.ca_sources.iter() {
                let keyed = source.kind != CaKind::ClusterTrustBundle;
                assert_eq!(!source.keys.is_empty(), keyed, "{name}: {:?}", source.kind);
                for key in source.keys.iter() {
                    assert!(KNOWN_CA_KEYS.contains(&key.as_ref()), "{name}: {key}");
                }
            }
            for pitfall in profile.pitfalls.iter() {
                assert!(
                    !pitfall.warning.ends_with('.'),
                    "{name}: {}",
                    pitfall.warning
                );
                assert!(
                    pitfall.source.starts_with("https://github.com/")
                        || pitfall.source.contains('@'),
                    "{name}: a source is an issue URL or repo@commit:path, not {}",
                    pitfall.source
                );
            }
        }
    }

    #[test]
    fn every_built_in_profile_round_trips_through_the_file_format() {
        for profile in BUILT_IN {
            let value = profile.to_value();
            assert_eq!(
                Profile::from_value(&value).as_ref(),
                Ok(profile),
                "{value:#}"
            );
        }
    }

    fn errors(value: Value) -> Vec<String> {
        Profile::from_value(&value)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn minimal() -> Value {
        json!({
            "name": "my-gateway",
            "implementation": "My Gateway",
            "versions": "v2.0 to v2.3",
            "caCertificateRefs": {"sources": [{"kind": "ConfigMap"}]},
            "targetKinds": [{"group": "", "kind": "Service"}],
        })
    }

    #[test]
    fn a_minimal_file_takes_the_core_defaults() {
        let profile = Profile::from_value(&minimal()).expect("valid");
        assert_eq!(profile.name, "my-gateway");
        assert_eq!(profile.ca_sources[0].keys.as_ref(), [CA_CRT]);
        assert_eq!(profile.ca_refs, CaRefUse::All);
        assert_eq!(profile.well_known, WellKnown::Unstated);
        assert_eq!(profile.options, OptionsSupport::Unstated);
        assert_eq!(profile.unsupported_target, UnsupportedTarget::Rejected);
        assert!(!profile.core_group_alias && profile.pitfalls.is_empty());
    }

    #[test]
    fn file_errors_name_the_field() {
        let mut value = minimal();
        value["nmae"] = json!("x");
        value["name"] = json!("My_Gateway");
        value["caCertificateRefs"] = json!({"sources": [
            {"kind": "ConfigMap", "keys": ["ca.crt", "password"]},
            {"kind": "Certificate"},
            {"kind": "ClusterTrustBundle", "keys": ["x"]},
            {"kind": "ConfigMap"},
            {"kind": "ConfigMap", "secretTypes": ["kubernetes.io/tls"]}
        ], "use": "Some"});
        value["wellKnownCACertificates"] = json!(7);
        value["targetKinds"] =
            json!([{"group": "Not A Group", "kind": "Service"}, {"kind": "no-dash-"}]);
        value["pitfalls"] = json!([{"when": "Sometimes", "warning": "x"}]);
        value["options"] = json!({"keys": ["bad key"]});
        assert_eq!(
            errors(value),
            [
                "nmae: unknown field (known: name, implementation, versions, caCertificateRefs, coreGroupAlias, wellKnownCACertificates, targetKinds, unsupportedTargetKinds, options, pitfalls)",
                "name: must be a lowercase DNS label (a-z, 0-9, -), like envoy-gateway",
                "caCertificateRefs.sources[0].keys[1]: must be a key the webhook keeps: one of ca.crt, cacert, tls.crt, ca-bundle.crt, service-ca.crt, root-cert.pem, trust-bundle.pem",
                "caCertificateRefs.sources[1].kind: must be one of ConfigMap, Secret, ClusterTrustBundle",
                "caCertificateRefs.sources[2].keys: a ClusterTrustBundle holds one bundle (spec.trustBundle): no keys",
                "caCertificateRefs.sources[3].kind: ConfigMap is listed twice",
                "caCertificateRefs.sources[4].secretTypes: only a Secret has a type",
                "caCertificateRefs.sources[4].kind: ConfigMap is listed twice",
                "caCertificateRefs.use: must be one of All, FirstOnly, One",
                "wellKnownCACertificates: must be Unstated, AnyAsSystem, or the list of accepted values",
                "targetKinds[0].group: must be an API group (a DNS subdomain), or \"\" for core",
                "targetKinds[1].kind: must be a kind (letters and digits, like ServiceImport)",
                "options.keys[0]: option keys are qualified names: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')",
                "pitfalls[0].when: must be Always, AnyWellKnownCACertificates, SubjectAltNames, BadCACertificateRef, BadCACertificateContent, FallbackKey, or a mapping with one of wellKnownCACertificates, caCertificateRefKind, targetKind",
                "pitfalls[0].source: required",
            ]
        );
    }

    #[test]
    fn files_are_bounded() {
        let mut value = minimal();
        value["targetKinds"] = Value::from(vec![json!({"kind": "Service"}); MAX_ITEMS + 1]);
        value["implementation"] = json!("x".repeat(MAX_TEXT + 1));
        value["versions"] = json!("v1\u{7}");
        assert_eq!(
            errors(value),
            [
                "implementation: must be at most 512 characters",
                "versions: must not contain control characters",
                "targetKinds: must have at most 64 items",
            ]
        );
        assert_eq!(errors(json!([])), ["must be a mapping, got array"]);
    }
}
