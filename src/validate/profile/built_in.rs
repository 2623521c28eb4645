//! The built-in profiles: one `const` per implementation, each fact with its source in the doc
//! comment above it.

use std::borrow::Cow;

use super::{
    CA_CRT, CaKind, CaRefUse, CaSource, Kind, OptionsSupport, Pitfall, Profile, Text,
    UnsupportedCaKind, UnsupportedTarget, WellKnown, When,
};

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
