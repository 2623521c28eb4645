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
    /// The kind.
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
    /// Kind.
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

// ---------------------------------------------------------------------------------------------
// The built-in table
// ---------------------------------------------------------------------------------------------

const fn text(s: &'static str) -> Text {
    Cow::Borrowed(s)
}

const fn kind(group: &'static str, kind: &'static str) -> Kind {
    Kind {
        group: text(group),
        kind: text(kind),
    }
}

const fn source(kind: CaKind, keys: &'static [Text]) -> CaSource {
    keyed(kind, keys, false, &[])
}

const fn keyed(
    kind: CaKind,
    keys: &'static [Text],
    only_key_fallback: bool,
    secret_types: &'static [Text],
) -> CaSource {
    CaSource {
        kind,
        keys: Cow::Borrowed(keys),
        only_key_fallback,
        secret_types: Cow::Borrowed(secret_types),
    }
}

const fn pitfall(when: When, warning: &'static str, source: &'static str) -> Pitfall {
    Pitfall {
        when,
        warning: text(warning),
        source: text(source),
    }
}

const SERVICE: Kind = kind("", "Service");
const CA_CRT_ONLY: &[Text] = &[CA_CRT];
const CA_CRT_THEN_TLS_CRT: &[Text] = &[CA_CRT, text("tls.crt")];
const CACERT_THEN_CA_CRT: &[Text] = &[text("cacert"), CA_CRT];
const TLS_SECRETS: &[Text] = &[text("kubernetes.io/tls")];
const SYSTEM: WellKnown = WellKnown::Only(Cow::Borrowed(&[text("System")]));

/// Gateway API core conformance (the default): ConfigMap references read at `ca.crt` (all of
/// them), core Service targets, `wellKnownCACertificates` values other than `System` warned
/// about, `options` checked as the spec states; every other kind is rejected.
/// Source: `kubernetes-sigs/gateway-api@v1.6.1:apis/v1/backendtlspolicy_types.go` (the
/// support levels of `caCertificateRefs`, `targetRefs`, `wellKnownCACertificates`, `options`).
pub const CORE: Profile = Profile {
    name: text("core"),
    implementation: text("Gateway API core conformance"),
    versions: text("v1.6"),
    ca_sources: Cow::Borrowed(&[source(CaKind::ConfigMap, CA_CRT_ONLY)]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::All,
    core_group_alias: false,
    well_known: WellKnown::Unstated,
    target_kinds: Cow::Borrowed(&[SERVICE]),
    unsupported_target: UnsupportedTarget::Rejected,
    options: OptionsSupport::Unstated,
    pitfalls: Cow::Borrowed(&[]),
};

/// Envoy Gateway v1.6.0 to v1.9.x (v1.6.0 is the first release that reads BackendTLSPolicy
/// `v1`). Checked in `envoyproxy/gateway@d32f28294245` (main after v1.9.0), `EG:` below.
///
/// - CA kinds ConfigMap, Secret and ClusterTrustBundle; the group is not checked, another kind
///   is "Unsupported reference kind" (`EG:internal/gatewayapi/backendtlspolicy.go:27,328-359,597-655`).
///   Secrets since v1.1.0 (<https://github.com/envoyproxy/gateway/issues/2777>),
///   ClusterTrustBundle since v1.5.0 (<https://github.com/envoyproxy/gateway/issues/6353>),
///   read through `certificates.k8s.io/v1beta1` only
///   (`EG:internal/provider/kubernetes/controller_watch.go:24-34`).
/// - Keys of a ConfigMap or Secret: `ca.crt`, then `tls.crt` (since v1.9.0,
///   <https://github.com/envoyproxy/gateway/pull/8329>), then the object's only key
///   (`EG:internal/gatewayapi/helpers.go:1544-1556`).
/// - Every CA reference is used (concatenated); a reference of another kind is skipped without
///   a condition when one is supported (`EG:internal/gatewayapi/backendtlspolicy.go:568-673`).
/// - `wellKnownCACertificates`: `System` only (`EG:internal/gatewayapi/backendtlspolicy.go:512-537`).
/// - Targets: Service, `multicluster.x-k8s.io/ServiceImport` (since v1.4.0,
///   <https://github.com/envoyproxy/gateway/issues/5376>) and `gateway.envoyproxy.io/Backend`
///   (whose sectionName is a port number); a target of another kind never matches and gets no
///   status (`EG:internal/gatewayapi/route.go:3431-3485`,
///   `EG:site/content/en/latest/tasks/security/backend-tls.md:181-182`).
/// - `spec.options` is never read (<https://github.com/envoyproxy/gateway/issues/5845>).
/// - A route whose policy cannot be translated answers HTTP 500
///   (`EG:release-notes/v1.3.0.yaml:11`, `EG:internal/gatewayapi/route.go:2896-2912`).
pub const ENVOY_GATEWAY: Profile = Profile {
    name: text("envoy-gateway"),
    implementation: text("Envoy Gateway"),
    versions: text("v1.6.0 to v1.9.x"),
    ca_sources: Cow::Borrowed(&[
        keyed(CaKind::ConfigMap, CA_CRT_THEN_TLS_CRT, true, &[]),
        keyed(CaKind::Secret, CA_CRT_THEN_TLS_CRT, true, &[]),
        source(CaKind::ClusterTrustBundle, &[]),
    ]),
    unsupported_ca_kind: UnsupportedCaKind::IgnoredBesideSupported,
    ca_refs: CaRefUse::All,
    core_group_alias: true,
    well_known: SYSTEM,
    target_kinds: Cow::Borrowed(&[
        SERVICE,
        kind("multicluster.x-k8s.io", "ServiceImport"),
        kind("gateway.envoyproxy.io", "Backend"),
    ]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[
        pitfall(
            When::BadCaRef,
            "routes to the backend answer HTTP 500 while a CA reference is unusable",
            "envoyproxy/gateway@d32f28294245:internal/gatewayapi/route.go",
        ),
        pitfall(
            When::FallbackKey,
            "the certificate under that key becomes the trust anchor (tls.crt since v1.9); in a cert-manager Secret that is the leaf, and tls.key is exposed",
            "https://github.com/envoyproxy/gateway/pull/8329",
        ),
        pitfall(
            When::CaKind(CaKind::ClusterTrustBundle),
            "ClusterTrustBundles resolve only where certificates.k8s.io/v1beta1 is served",
            "envoyproxy/gateway@d32f28294245:internal/provider/kubernetes/controller_watch.go",
        ),
        pitfall(
            When::TargetKind(kind("gateway.envoyproxy.io", "Backend")),
            "for a Backend target, sectionName is the port number, not a port name",
            "envoyproxy/gateway@d32f28294245:site/content/en/latest/tasks/security/backend-tls.md",
        ),
    ]),
};

/// Istio 1.28.0 to 1.30.x (1.28 is the first release that reads only `v1` and honours
/// `sectionName`). Checked in `istio/istio@86c9f01fd735` (master, 1.31 development), in
/// `pilot/pkg/config/kube/gateway/backend_policies.go` unless stated.
///
/// - CA kinds: ConfigMap only; a Secret is "unsupported reference kind", other kinds
///   "Certificate reference not supported" (`backend_policies.go:707-749`).
/// - Keys of a ConfigMap: `cacert`, then `ca.crt` (`pilot/pkg/credentials/kube/secrets.go:47,58,330-360`).
/// - Only `caCertificateRefs[0]` is used; Istio says so in the Accepted message
///   (`backend_policies.go:701-706`).
/// - `wellKnownCACertificates`: `System` only; another value is `Accepted=False`, `Invalid`
///   (`backend_policies.go:685-696`).
/// - Targets: Service and `networking.istio.io/ServiceEntry`; another kind is `Accepted=False`,
///   `TargetNotFound` (`backend_policies.go:561-603`).
/// - `spec.options` is not read.
/// - An unusable first CA reference becomes an `invalid://` credential that blocks TLS traffic
///   to the backend (`backend_policies.go:743-753`); before 1.29.7 and 1.30.4 a sidecar sent
///   such traffic in plaintext (<https://github.com/istio/istio/pull/61481>); valid ConfigMaps
///   were briefly seen as missing in <https://github.com/istio/istio/issues/59021> and
///   <https://github.com/istio/istio/issues/60197>.
pub const ISTIO: Profile = Profile {
    name: text("istio"),
    implementation: text("Istio"),
    versions: text("1.28.0 to 1.30.x"),
    ca_sources: Cow::Borrowed(&[source(CaKind::ConfigMap, CACERT_THEN_CA_CRT)]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::FirstOnly,
    core_group_alias: false,
    well_known: SYSTEM,
    target_kinds: Cow::Borrowed(&[SERVICE, kind("networking.istio.io", "ServiceEntry")]),
    unsupported_target: UnsupportedTarget::Rejected,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[
        pitfall(
            When::BadCaRef,
            "an unusable first CA reference becomes an invalid:// credential: gateways block TLS traffic to the backend",
            "istio/istio@86c9f01fd735:pilot/pkg/config/kube/gateway/backend_policies.go",
        ),
        pitfall(
            When::BadCaRef,
            "before 1.29.7 and 1.30.4, sidecars send that traffic in plaintext instead",
            "https://github.com/istio/istio/pull/61481",
        ),
    ]),
};

/// NGINX Gateway Fabric v2.3.0 to v2.6.x (v2.3.0 is the first release that reads `v1`).
/// Checked in `nginx/nginx-gateway-fabric@e55bfe33969f` (main after v2.6.7), `NGF:` below.
///
/// - Exactly one CA reference; with more the policy is invalid
///   (`NGF:internal/controller/state/graph/backend_tls_policy.go:133-137`).
/// - CA kinds ConfigMap and Secret, group `""` or `core`
///   (`NGF:internal/controller/state/graph/backend_tls_policy.go:139-158`); Secrets since v2.0.0
///   (<https://github.com/nginx/nginx-gateway-fabric/pull/3084>), and only of type
///   `kubernetes.io/tls` (`NGF:internal/controller/state/resolver/secrets.go:26-76`).
/// - Key `ca.crt` (`NGF:internal/controller/state/resolver/configmaps.go:32-58`).
/// - `wellKnownCACertificates`: `System` only, read from `/etc/ssl/cert.pem`
///   (`NGF:internal/controller/state/dataplane/configuration.go:37,1399-1416`).
/// - Targets: Service only; another kind never matches, without a condition
///   (`NGF:internal/controller/state/graph/backend_refs.go:448-456`).
/// - `spec.options` and `subjectAltNames` are not read
///   (`nginx/documentation@08c4aa3d:content/ngf/overview/gateway-api-compatibility.md`).
pub const NGINX_GATEWAY_FABRIC: Profile = Profile {
    name: text("nginx-gateway-fabric"),
    implementation: text("NGINX Gateway Fabric"),
    versions: text("v2.3.0 to v2.6.x"),
    ca_sources: Cow::Borrowed(&[
        source(CaKind::ConfigMap, CA_CRT_ONLY),
        keyed(CaKind::Secret, CA_CRT_ONLY, false, TLS_SECRETS),
    ]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::One,
    core_group_alias: true,
    well_known: SYSTEM,
    target_kinds: Cow::Borrowed(&[SERVICE]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[
        pitfall(
            When::SubjectAltNames,
            "subjectAltNames are not read: only hostname is verified",
            "nginx/documentation@08c4aa3d:content/ngf/overview/gateway-api-compatibility.md",
        ),
        pitfall(
            When::WellKnown(text("System")),
            "System is the file /etc/ssl/cert.pem, present in the default (Alpine-based) NGINX images only",
            "nginx/nginx-gateway-fabric@e55bfe33969f:internal/controller/state/dataplane/configuration.go",
        ),
    ]),
};

/// Traefik v3.7.0 to v3.7.x (v3.7.0 added Secret references). Checked in
/// `traefik/traefik@fd5a576df2e8` (master, merged from v3.7; latest tag v3.7.9), in
/// `pkg/provider/kubernetes/gateway/httproute.go` unless stated.
///
/// - CA kinds ConfigMap and Secret (any type), group `""` or `core` (`httproute.go:647-657`);
///   Secrets since v3.7.0 (<https://github.com/traefik/traefik/pull/12927>); ClusterTrustBundle
///   is proposed in <https://github.com/traefik/traefik/pull/13410>.
/// - Key `ca.crt`; every CA reference is used (`httproute.go:647-701`).
/// - `wellKnownCACertificates`: any value means the system roots (`httproute.go:637-645`).
/// - Targets: Service only; another kind never matches, without status
///   (`pkg/provider/kubernetes/gateway/client.go:390-413`).
/// - `spec.options` is not read. In v3.7.x `subjectAltNames` are not read and only HTTPRoute
///   backends get the policy (GRPCRoute and TLSRoute on master only); a malformed `ca.crt` is
///   accepted and every handshake then fails (`pkg/server/service/transport.go:410-426`).
pub const TRAEFIK: Profile = Profile {
    name: text("traefik"),
    implementation: text("Traefik"),
    versions: text("v3.7.0 to v3.7.x"),
    ca_sources: Cow::Borrowed(&[
        source(CaKind::ConfigMap, CA_CRT_ONLY),
        source(CaKind::Secret, CA_CRT_ONLY),
    ]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::All,
    core_group_alias: true,
    well_known: WellKnown::AnyAsSystem,
    target_kinds: Cow::Borrowed(&[SERVICE]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[
        pitfall(
            When::Always,
            "only HTTPRoute backends get this policy: GRPCRoute and TLSRoute traffic to the target is not TLS-originated",
            "traefik/traefik@fd5a576df2e8:pkg/provider/kubernetes/gateway/grpcroute.go",
        ),
        pitfall(
            When::SubjectAltNames,
            "subjectAltNames are not read: only hostname is verified",
            "traefik/traefik@fd5a576df2e8:pkg/provider/kubernetes/gateway/httproute.go",
        ),
        pitfall(
            When::BadCaContent,
            "a malformed ca.crt is accepted, and then every handshake to the backend fails",
            "traefik/traefik@fd5a576df2e8:pkg/server/service/transport.go",
        ),
    ]),
};

/// kgateway (its Envoy data plane) v2.2.0 to v2.4.x. Read at stored versions of
/// `kgateway-dev/kgateway` (the snapshot predates BackendTLSPolicy):
/// `pkg/kgateway/extensions2/plugins/backendtlspolicy/plugin.go@e8b96ae3` (`KGW:` below) and
/// `pkg/kgateway/translator/sslutils/ssl_utils.go@0ebc3903`.
///
/// - CA kinds ConfigMap and Secret (since v2.2.0, kgateway.dev release notes; before it a
///   Secret was looked up as a ConfigMap, <https://github.com/kgateway-dev/kgateway/issues/12805>);
///   the group is not checked; key `ca.crt`, parsed as PEM (`ssl_utils.go`).
/// - Only `caCertificateRefs[0]` is used, without a condition (`KGW:buildTranslateFunc`).
/// - `wellKnownCACertificates`: `System` only (`KGW:buildTranslateFunc`).
/// - Targets: Service and `gateway.kgateway.dev/Backend` (kgateway.dev
///   `assets/docs/pages/security/backend-tls.md`); other kinds attach only if a backend of that
///   kind matches.
/// - `spec.options` is not read in released versions
///   (<https://github.com/kgateway-dev/kgateway/pull/14731> proposes keys).
pub const KGATEWAY: Profile = Profile {
    name: text("kgateway"),
    implementation: text("kgateway"),
    versions: text("v2.2.0 to v2.4.x"),
    ca_sources: Cow::Borrowed(&[
        source(CaKind::ConfigMap, CA_CRT_ONLY),
        source(CaKind::Secret, CA_CRT_ONLY),
    ]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::FirstOnly,
    core_group_alias: true,
    well_known: SYSTEM,
    target_kinds: Cow::Borrowed(&[SERVICE, kind("gateway.kgateway.dev", "Backend")]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[]),
};

/// agentgateway v1.0.0 to v1.4.x (its own controller since kgateway v2.2). Checked in
/// `agentgateway/agentgateway@75b4e6ce6e0e` (main after v1.4.1), in
/// `controller/pkg/agentgateway/plugins/backend_tls_plugin.go` unless stated.
///
/// - CA kind ConfigMap only, group exactly `""`; a Secret is "Certificate reference invalid"
///   (`backend_tls_plugin.go:347-409`, <https://github.com/agentgateway/agentgateway/issues/3414>).
/// - Key `ca.crt`, parsed as PEM (`controller/pkg/agentgateway/plugins/tls.go:66-93`,
///   <https://github.com/agentgateway/agentgateway/issues/3418>).
/// - Every CA reference is used (concatenated); `wellKnownCACertificates`: `System` only
///   (`backend_tls_plugin.go:347-409`).
/// - Targets: Service, `agentgateway.dev/AgentgatewayBackend`,
///   `inference.networking.k8s.io/InferencePool`; other kinds are skipped without a condition
///   (`backend_tls_plugin.go:139-181`).
/// - An unusable CA becomes the sentinel `invalid`: TLS to the backend fails closed
///   (`backend_tls_plugin.go:94-101,271`).
pub const AGENTGATEWAY: Profile = Profile {
    name: text("agentgateway"),
    implementation: text("agentgateway"),
    versions: text("v1.0.0 to v1.4.x"),
    ca_sources: Cow::Borrowed(&[source(CaKind::ConfigMap, CA_CRT_ONLY)]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::All,
    core_group_alias: false,
    well_known: SYSTEM,
    target_kinds: Cow::Borrowed(&[
        SERVICE,
        kind("agentgateway.dev", "AgentgatewayBackend"),
        kind("inference.networking.k8s.io", "InferencePool"),
    ]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Ignored,
    pitfalls: Cow::Borrowed(&[pitfall(
        When::BadCaRef,
        "an unusable CA reference makes TLS to the backend fail closed",
        "agentgateway/agentgateway@75b4e6ce6e0e:controller/pkg/agentgateway/plugins/backend_tls_plugin.go",
    )]),
};

/// Cilium v1.20.x (the first release with BackendTLSPolicy). The repository is too large to
/// fetch; read at stored versions of `cilium/cilium`:
/// `operator/pkg/gateway-api/policychecks/backendtlspolicy.go@8890d123` (`policychecks:` below)
/// and `operator/pkg/gateway-api/helpers/backendtlspolicies.go@01ed01f0`.
///
/// - One CA reference at most ("Having more than one CA Certificate Ref is not supported"),
///   ConfigMap only with group exactly `""`, key `ca.crt`, content not checked (`policychecks:ValidateSpec`).
/// - `wellKnownCACertificates` is accepted but the traffic goes out in plaintext
///   (<https://github.com/cilium/cilium/issues/48307>).
/// - Targets: Service only (group exactly `""`); other kinds are skipped
///   (`helpers/backendtlspolicies.go:BuildBackendTLSPolicyLookup`).
/// - GRPCRoute backends ignore the policy (<https://github.com/cilium/cilium/issues/48935>).
/// - `spec.options`: unverified (the translation code was not read).
pub const CILIUM: Profile = Profile {
    name: text("cilium"),
    implementation: text("Cilium"),
    versions: text("v1.20.x"),
    ca_sources: Cow::Borrowed(&[source(CaKind::ConfigMap, CA_CRT_ONLY)]),
    unsupported_ca_kind: UnsupportedCaKind::Rejected,
    ca_refs: CaRefUse::One,
    core_group_alias: false,
    well_known: WellKnown::AnyAsSystem,
    target_kinds: Cow::Borrowed(&[SERVICE]),
    unsupported_target: UnsupportedTarget::Ignored,
    options: OptionsSupport::Unstated,
    pitfalls: Cow::Borrowed(&[
        pitfall(
            When::AnyWellKnown,
            "the policy shows Accepted but traffic to the backend goes out in plaintext; reference a CA ConfigMap instead",
            "https://github.com/cilium/cilium/issues/48307",
        ),
        pitfall(
            When::Always,
            "GRPCRoute backends ignore this policy: gRPC traffic to the target goes out in plaintext",
            "https://github.com/cilium/cilium/issues/48935",
        ),
        pitfall(
            When::BadCaRef,
            "a backend whose CA reference cannot be used is removed from the Envoy configuration: requests to it fail",
            "https://github.com/cilium/cilium/pull/44743",
        ),
    ]),
};

/// Every built-in profile, `core` first.
pub const BUILT_IN: &[Profile] = &[
    CORE,
    ENVOY_GATEWAY,
    ISTIO,
    NGINX_GATEWAY_FABRIC,
    TRAEFIK,
    KGATEWAY,
    AGENTGATEWAY,
    CILIUM,
];

/// The built-in profile of this name.
pub fn built_in(name: &str) -> Option<&'static Profile> {
    BUILT_IN.iter().find(|p| p.name == name)
}

/// The names of the built-in profiles, `core` first.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|p| p.name.as_ref()).collect()
}

// ---------------------------------------------------------------------------------------------
// Profiles from files
// ---------------------------------------------------------------------------------------------

/// At most this many items in any list of a profile file.
pub const MAX_ITEMS: usize = 64;
/// At most this many characters in any text of a profile file.
pub const MAX_TEXT: usize = 512;

/// A problem with a profile file, at a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// The field (`caCertificateRefs.sources[0].kind`).
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.segments().is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Profile {
    /// Reads a profile from a parsed profile file (YAML or JSON; the format is in the README).
    /// Every problem is returned, each at its field; unknown fields are problems, so that a
    /// misspelt fact is never silently left out.
    pub fn from_value(value: &Value) -> Result<Self, Vec<ProfileError>> {
        let mut reader = Reader::default();
        let profile = reader.profile(value);
        match profile {
            Some(profile) if reader.errors.is_empty() => Ok(profile),
            _ => Err(reader.errors),
        }
    }
}

/// Reads a profile file, collecting every problem.
#[derive(Default)]
struct Reader {
    errors: Vec<ProfileError>,
}

impl Reader {
    fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.errors.push(ProfileError {
            path: path.clone(),
            message: message.into(),
        });
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &FieldPath,
        fields: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.error(
                path,
                format!("must be a mapping, got {}", super::schema::json_type(value)),
            );
            return None;
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                let known = fields.join(", ");
                self.error(
                    &path.field_owned(key),
                    format!("unknown field (known: {known})"),
                );
            }
        }
        Some(map)
    }

    fn text(
        &mut self,
        map: &Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        required: bool,
    ) -> Option<Text> {
        let at = path.field(field);
        match map.get(field) {
            None | Some(Value::Null) if required => {
                self.error(&at, "required");
                None
            }
            None | Some(Value::Null) => None,
            Some(value) => self.string(value, &at),
        }
    }

    fn string(&mut self, value: &Value, at: &FieldPath) -> Option<Text> {
        let Some(text) = value.as_str() else {
            self.error(
                at,
                format!("must be a string, got {}", super::schema::json_type(value)),
            );
            return None;
        };
        if text.trim().is_empty() {
            self.error(at, "must not be empty");
            return None;
        }
        if text.chars().count() > MAX_TEXT {
            self.error(at, format!("must be at most {MAX_TEXT} characters"));
            return None;
        }
        if text.chars().any(char::is_control) {
            self.error(at, "must not contain control characters");
            return None;
        }
        Some(Cow::Owned(text.to_owned()))
    }

    fn list<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        required: bool,
    ) -> Option<(&'v [Value], FieldPath)> {
        let at = path.field(field);
        let value = match map.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.error(&at, "required");
                }
                return None;
            }
            Some(value) => value,
        };
        let Some(items) = value.as_array() else {
            self.error(
                &at,
                format!("must be a list, got {}", super::schema::json_type(value)),
            );
            return None;
        };
        if items.len() > MAX_ITEMS {
            self.error(&at, format!("must have at most {MAX_ITEMS} items"));
            return None;
        }
        if required && items.is_empty() {
            self.error(&at, "must have at least 1 item");
            return None;
        }
        Some((items, at))
    }

    fn choice<T: Copy>(
        &mut self,
        map: &Map<String, Value>,
        field: &'static str,
        path: &FieldPath,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        let at = path.field(field);
        let Some(value) = map.get(field).filter(|v| !v.is_null()) else {
            return default;
        };
        let found = value
            .as_str()
            .and_then(|s| choices.iter().find(|(name, _)| *name == s));
        match found {
            Some((_, choice)) => *choice,
            None => {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                self.error(&at, format!("must be one of {}", names.join(", ")));
                default
            }
        }
    }

    fn profile(&mut self, value: &Value) -> Option<Profile> {
        let root = FieldPath::root();
        let map = self.object(
            value,
            &root,
            &[
                "name",
                "implementation",
                "versions",
                "caCertificateRefs",
                "coreGroupAlias",
                "wellKnownCACertificates",
                "targetKinds",
                "unsupportedTargetKinds",
                "options",
                "pitfalls",
            ],
        )?;
        let name = self.name(map, &root);
        let implementation = self.text(map, "implementation", &root, true);
        let versions = self.text(map, "versions", &root, true);
        let ca = self.ca_refs(
            map.get("caCertificateRefs"),
            &root.field("caCertificateRefs"),
        );
        let core_group_alias = self.boolean(map, "coreGroupAlias", &root);
        let well_known = self.well_known(map, &root);
        let target_kinds = self.target_kinds(map, &root);
        let unsupported_target = self.choice(
            map,
            "unsupportedTargetKinds",
            &root,
            &[
                ("Rejected", UnsupportedTarget::Rejected),
                ("Ignored", UnsupportedTarget::Ignored),
            ],
            UnsupportedTarget::Rejected,
        );
        let options = self.options(map.get("options"), &root.field("options"));
        let pitfalls = self.pitfalls(map, &root);
        let (ca_sources, ca_refs, unsupported_ca_kind) = ca?;
        Some(Profile {
            name: name?,
            implementation: implementation?,
            versions: versions?,
            ca_sources: Cow::Owned(ca_sources),
            unsupported_ca_kind,
            ca_refs,
            core_group_alias,
            well_known,
            target_kinds: Cow::Owned(target_kinds?),
            unsupported_target,
            options,
            pitfalls: Cow::Owned(pitfalls),
        })
    }

    /// `name`: required, a DNS label.
    fn name(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Option<Text> {
        let name = self.text(map, "name", root, true);
        if let Some(name) = &name
            && (name.len() > 63 || !super::schema::NAMESPACE.is_match(name))
        {
            self.error(
                &root.field("name"),
                "must be a lowercase DNS label (a-z, 0-9, -), like envoy-gateway",
            );
        }
        name
    }

    /// `targetKinds`: required, a list of kinds.
    fn target_kinds(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Option<Vec<Kind>> {
        self.list(map, "targetKinds", root, true)
            .map(|(items, at)| {
                let kinds: Vec<Kind> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.kind(v, &at.index(i)))
                    .collect();
                kinds
            })
    }

    /// `pitfalls`: optional, a list of pitfalls.
    fn pitfalls(&mut self, map: &Map<String, Value>, root: &FieldPath) -> Vec<Pitfall> {
        self.list(map, "pitfalls", root, false)
            .map_or_else(Vec::new, |(items, at)| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.pitfall(v, &at.index(i)))
                    .collect()
            })
    }

    fn boolean(&mut self, map: &Map<String, Value>, field: &'static str, path: &FieldPath) -> bool {
        match map.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                let message = format!("must be a boolean, got {}", super::schema::json_type(other));
                self.error(&path.field(field), message);
                false
            }
        }
    }

    /// `Unstated` (the default), `AnyAsSystem`, or the list of accepted values.
    fn well_known(&mut self, map: &Map<String, Value>, path: &FieldPath) -> WellKnown {
        const FIELD: &str = "wellKnownCACertificates";
        match map.get(FIELD) {
            None | Some(Value::Null) => WellKnown::Unstated,
            Some(Value::String(s)) if s == "Unstated" => WellKnown::Unstated,
            Some(Value::String(s)) if s == "AnyAsSystem" => WellKnown::AnyAsSystem,
            Some(Value::Array(_)) => match self.list(map, FIELD, path, true) {
                Some((items, at)) => {
                    let values = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| self.string(v, &at.index(i)))
                        .collect();
                    WellKnown::Only(Cow::Owned(values))
                }
                None => WellKnown::Unstated,
            },
            Some(_) => {
                let message = "must be Unstated, AnyAsSystem, or the list of accepted values";
                self.error(&path.field(FIELD), message);
                WellKnown::Unstated
            }
        }
    }

    fn ca_refs(
        &mut self,
        value: Option<&Value>,
        path: &FieldPath,
    ) -> Option<(Vec<CaSource>, CaRefUse, UnsupportedCaKind)> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            self.error(path, "required");
            return None;
        };
        let map = self.object(value, path, &["sources", "use", "unsupportedKinds"])?;
        let (items, at) = self.list(map, "sources", path, true)?;
        let mut sources: Vec<CaSource> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(source) = self.ca_source(item, &at.index(i)) else {
                continue;
            };
            if sources.iter().any(|s| s.kind == source.kind) {
                self.error(
                    &at.index(i).field("kind"),
                    format!("{} is listed twice", source.kind),
                );
                continue;
            }
            sources.push(source);
        }
        let ca_refs = self.choice(
            map,
            "use",
            path,
            &[
                ("All", CaRefUse::All),
                ("FirstOnly", CaRefUse::FirstOnly),
                ("One", CaRefUse::One),
            ],
            CaRefUse::All,
        );
        let unsupported = self.choice(
            map,
            "unsupportedKinds",
            path,
            &[
                ("Rejected", UnsupportedCaKind::Rejected),
                (
                    "IgnoredBesideSupported",
                    UnsupportedCaKind::IgnoredBesideSupported,
                ),
            ],
            UnsupportedCaKind::Rejected,
        );
        Some((sources, ca_refs, unsupported))
    }

    fn ca_kind(&mut self, value: &Value, at: &FieldPath) -> Option<CaKind> {
        let found = value
            .as_str()
            .and_then(|s| CaKind::ALL.into_iter().find(|k| k.kind() == s));
        if found.is_none() {
            self.error(at, "must be one of ConfigMap, Secret, ClusterTrustBundle");
        }
        found
    }

    fn ca_source(&mut self, value: &Value, path: &FieldPath) -> Option<CaSource> {
        let fields = ["kind", "keys", "onlyKeyFallback", "secretTypes"];
        let map = self.object(value, path, &fields)?;
        let kind = match map.get("kind") {
            None => {
                self.error(&path.field("kind"), "required");
                None
            }
            Some(value) => self.ca_kind(value, &path.field("kind")),
        }?;
        let keyed = kind != CaKind::ClusterTrustBundle;
        let keys = match self.list(map, "keys", path, false) {
            Some(_) if !keyed => {
                let message = "a ClusterTrustBundle holds one bundle (spec.trustBundle): no keys";
                self.error(&path.field("keys"), message);
                Vec::new()
            }
            Some((items, at)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let key = self.string(v, &at.index(i))?;
                    if !KNOWN_CA_KEYS.contains(&key.as_ref()) {
                        let known = KNOWN_CA_KEYS.join(", ");
                        let message = format!("must be a key the webhook keeps: one of {known}");
                        self.error(&at.index(i), message);
                        return None;
                    }
                    Some(key)
                })
                .collect(),
            None if keyed => vec![CA_CRT],
            None => Vec::new(),
        };
        if keyed && keys.is_empty() && !self.errors.iter().any(|e| e.path.starts_with(path)) {
            self.error(&path.field("keys"), "must have at least 1 item");
        }
        let fallback = self.boolean(map, "onlyKeyFallback", path);
        if fallback && !keyed {
            self.error(
                &path.field("onlyKeyFallback"),
                "a ClusterTrustBundle has no keys",
            );
        }
        let secret_types = match self.list(map, "secretTypes", path, false) {
            Some(_) if kind != CaKind::Secret => {
                self.error(&path.field("secretTypes"), "only a Secret has a type");
                Vec::new()
            }
            Some((items, at)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| self.string(v, &at.index(i)))
                .collect(),
            None => Vec::new(),
        };
        Some(CaSource {
            kind,
            keys: Cow::Owned(keys),
            only_key_fallback: fallback,
            secret_types: Cow::Owned(secret_types),
        })
    }

    fn kind(&mut self, value: &Value, path: &FieldPath) -> Option<Kind> {
        let map = self.object(value, path, &["group", "kind"])?;
        let group = match map.get("group") {
            None | Some(Value::Null) => Cow::Borrowed(""),
            Some(Value::String(g)) if g.is_empty() => Cow::Borrowed(""),
            Some(v) => self.string(v, &path.field("group"))?,
        };
        if !group.is_empty() && !super::names::is_dns_subdomain(&group) {
            self.error(
                &path.field("group"),
                "must be an API group (a DNS subdomain), or \"\" for core",
            );
            return None;
        }
        let kind = self.text(map, "kind", path, true)?;
        if kind.len() > 63 || !super::schema::KIND.is_match(&kind) {
            self.error(
                &path.field("kind"),
                "must be a kind (letters and digits, like ServiceImport)",
            );
            return None;
        }
        Some(Kind { group, kind })
    }

    fn options(&mut self, value: Option<&Value>, path: &FieldPath) -> OptionsSupport {
        match value {
            None | Some(Value::Null) => OptionsSupport::Unstated,
            Some(Value::String(s)) if s == "Unstated" => OptionsSupport::Unstated,
            Some(Value::String(s)) if s == "Ignored" => OptionsSupport::Ignored,
            Some(value @ Value::Object(_)) => {
                let Some(map) = self.object(value, path, &["keys"]) else {
                    return OptionsSupport::Unstated;
                };
                let Some((items, at)) = self.list(map, "keys", path, true) else {
                    return OptionsSupport::Unstated;
                };
                let keys = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let key = self.string(v, &at.index(i))?;
                        let problems = super::names::qualified_name_problems(&key);
                        if !problems.is_empty() {
                            self.error(
                                &at.index(i),
                                format!("option keys are qualified names: {}", problems.join("; ")),
                            );
                            return None;
                        }
                        Some(key)
                    })
                    .collect();
                OptionsSupport::Keys(Cow::Owned(keys))
            }
            Some(_) => {
                self.error(
                    path,
                    "must be Unstated, Ignored, or a mapping with keys: [...]",
                );
                OptionsSupport::Unstated
            }
        }
    }

    fn pitfall(&mut self, value: &Value, path: &FieldPath) -> Option<Pitfall> {
        let map = self.object(value, path, &["when", "warning", "source"])?;
        let when = self.when(map.get("when"), &path.field("when"));
        let warning = self.text(map, "warning", path, true);
        let source = self.text(map, "source", path, true);
        Some(Pitfall {
            when: when?,
            warning: warning?,
            source: source?,
        })
    }

    fn when(&mut self, value: Option<&Value>, path: &FieldPath) -> Option<When> {
        const HELP: &str = "must be Always, AnyWellKnownCACertificates, SubjectAltNames, BadCACertificateRef, BadCACertificateContent, FallbackKey, or a mapping with one of wellKnownCACertificates, caCertificateRefKind, targetKind";
        match value {
            None | Some(Value::Null) => {
                self.error(path, "required");
                None
            }
            Some(Value::String(s)) => match s.as_str() {
                "Always" => Some(When::Always),
                "AnyWellKnownCACertificates" => Some(When::AnyWellKnown),
                "SubjectAltNames" => Some(When::SubjectAltNames),
                "BadCACertificateRef" => Some(When::BadCaRef),
                "BadCACertificateContent" => Some(When::BadCaContent),
                "FallbackKey" => Some(When::FallbackKey),
                _ => {
                    self.error(path, HELP);
                    None
                }
            },
            Some(value @ Value::Object(map)) if map.len() == 1 => {
                let map = self.object(
                    value,
                    path,
                    &[
                        "wellKnownCACertificates",
                        "caCertificateRefKind",
                        "targetKind",
                    ],
                )?;
                let (field, inner) = map.iter().next()?;
                match field.as_str() {
                    "wellKnownCACertificates" => self
                        .string(inner, &path.field("wellKnownCACertificates"))
                        .map(When::WellKnown),
                    "caCertificateRefKind" => self
                        .ca_kind(inner, &path.field("caCertificateRefKind"))
                        .map(When::CaKind),
                    _ => self
                        .kind(inner, &path.field("targetKind"))
                        .map(When::TargetKind),
                }
            }
            Some(_) => {
                self.error(path, HELP);
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles as files
// ---------------------------------------------------------------------------------------------

impl Profile {
    /// The profile in the file format [`Profile::from_value`] reads (as JSON; YAML is a
    /// superset), so that a built-in profile can be copied into a file and adapted.
    pub fn to_value(&self) -> Value {
        let texts =
            |list: &[Text]| Value::from(list.iter().map(|t| t.to_string()).collect::<Vec<_>>());
        let kind = |k: &Kind| serde_json::json!({"group": k.group, "kind": k.kind});
        let sources: Vec<Value> = self
            .ca_sources
            .iter()
            .map(|s| {
                let mut source = Map::new();
                source.insert("kind".into(), s.kind.kind().into());
                if s.kind != CaKind::ClusterTrustBundle {
                    source.insert("keys".into(), texts(&s.keys));
                }
                if s.only_key_fallback {
                    source.insert("onlyKeyFallback".into(), true.into());
                }
                if !s.secret_types.is_empty() {
                    source.insert("secretTypes".into(), texts(&s.secret_types));
                }
                Value::Object(source)
            })
            .collect();
        let well_known = match &self.well_known {
            WellKnown::Unstated => Value::from("Unstated"),
            WellKnown::AnyAsSystem => Value::from("AnyAsSystem"),
            WellKnown::Only(values) => texts(values),
        };
        let options = match &self.options {
            OptionsSupport::Unstated => Value::from("Unstated"),
            OptionsSupport::Ignored => Value::from("Ignored"),
            OptionsSupport::Keys(keys) => serde_json::json!({"keys": texts(keys)}),
        };
        let pitfalls: Vec<Value> = self
            .pitfalls
            .iter()
            .map(|p| {
                let when = match &p.when {
                    When::Always => Value::from("Always"),
                    When::AnyWellKnown => Value::from("AnyWellKnownCACertificates"),
                    When::SubjectAltNames => Value::from("SubjectAltNames"),
                    When::BadCaRef => Value::from("BadCACertificateRef"),
                    When::BadCaContent => Value::from("BadCACertificateContent"),
                    When::FallbackKey => Value::from("FallbackKey"),
                    When::WellKnown(v) => serde_json::json!({"wellKnownCACertificates": v}),
                    When::CaKind(k) => serde_json::json!({"caCertificateRefKind": k.kind()}),
                    When::TargetKind(k) => serde_json::json!({"targetKind": kind(k)}),
                };
                serde_json::json!({"when": when, "warning": p.warning, "source": p.source})
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "implementation": self.implementation,
            "versions": self.versions,
            "caCertificateRefs": {
                "sources": sources,
                "use": match self.ca_refs {
                    CaRefUse::All => "All",
                    CaRefUse::FirstOnly => "FirstOnly",
                    CaRefUse::One => "One",
                },
                "unsupportedKinds": match self.unsupported_ca_kind {
                    UnsupportedCaKind::Rejected => "Rejected",
                    UnsupportedCaKind::IgnoredBesideSupported => "IgnoredBesideSupported",
                },
            },
            "coreGroupAlias": self.core_group_alias,
            "wellKnownCACertificates": well_known,
            "targetKinds": self.target_kinds.iter().map(kind).collect::<Vec<_>>(),
            "unsupportedTargetKinds": match self.unsupported_target {
                UnsupportedTarget::Rejected => "Rejected",
                UnsupportedTarget::Ignored => "Ignored",
            },
            "options": options,
            "pitfalls": pitfalls,
        })
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
