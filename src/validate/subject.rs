//! Which objects the rules judge, told apart by group, version and kind: what admission sorts a
//! review by, and what `validate` picks from its files. A BackendTLSPolicy is judged at the
//! versions the rules know ([`is_known_version`]); the other kinds are those a policy may read
//! its CA certificates from ([`CaKind`]).

use serde_json::Value;

use super::field::Echo;
use super::{CaKind, FieldPath, GROUP, KIND, Profile, Report, VERSIONS};

/// An object the rules judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A BackendTLSPolicy, of any version.
    Policy,
    /// An object a policy may read CA certificates from: a ConfigMap, a Secret or a
    /// ClusterTrustBundle.
    Ca(CaKind),
}

impl Subject {
    /// The subject of a review of `group` and `kind` (`request.kind`, whatever its version), if
    /// the rules judge that kind.
    pub fn of(group: &str, kind: &str) -> Option<Self> {
        if group == GROUP && kind == KIND {
            return Some(Self::Policy);
        }
        CaKind::of(group, kind).map(Self::Ca)
    }

    /// The subject of an object read from a file, by its `apiVersion` and `kind`, with its
    /// version: a core kind only at `v1`, the one core version there is.
    pub fn of_object(object: &Value) -> Option<(Self, &str)> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        let (group, version) = match api_version.split_once('/') {
            Some(("", _)) => return None,
            Some(split) => split,
            None => ("", api_version),
        };
        let subject = Self::of(group, kind)?;
        (!group.is_empty() || version == "v1").then_some((subject, version))
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Self::Policy => GROUP,
            Self::Ca(kind) => kind.group(),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::Policy => KIND,
            Self::Ca(kind) => kind.kind(),
        }
    }

    /// Whether objects of this kind can matter to the implementation `profile` describes:
    /// policies and ConfigMaps always, Secrets and ClusterTrustBundles when it reads CA
    /// certificates from them.
    pub fn read_by(self, profile: &Profile) -> bool {
        match self {
            Self::Policy | Self::Ca(CaKind::ConfigMap) => true,
            Self::Ca(kind) => profile.ca_source(kind).is_some(),
        }
    }
}

/// Whether the rules know BackendTLSPolicy `version` (those Gateway API v1.6 serves).
pub fn is_known_version(version: &str) -> bool {
    VERSIONS.contains(&version)
}

/// The review of a BackendTLSPolicy of a version the rules do not know: allowed, with a warning
/// that says so (a later Gateway API may serve it).
pub fn unknown_version(version: &str) -> Report {
    let mut report = Report::default();
    report.warn(
        FieldPath::root(),
        format!(
            "BackendTLSPolicy {} is not validated by backendtls-webhook (it knows {})",
            Echo(version),
            VERSIONS.join(", ")
        ),
    );
    report
}

/// The review of a kind the rules do not judge (`group`/`version`/`kind` of the request):
/// allowed, with a warning that the webhook's registration sends it more than it should.
pub fn not_judged(group: &str, version: &str, kind: &str) -> Report {
    let mut report = Report::default();
    report.warn(
        FieldPath::root(),
        format!(
            "backendtls-webhook was sent a {}/{} {} review: only BackendTLSPolicy and its CA sources (ConfigMap, Secret, ClusterTrustBundle) are validated; check the ValidatingWebhookConfiguration's rules",
            Echo(group),
            Echo(version),
            Echo(kind)
        ),
    );
    report
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reviews_are_sorted_by_group_and_kind() {
        assert_eq!(
            Subject::of("gateway.networking.k8s.io", "BackendTLSPolicy"),
            Some(Subject::Policy)
        );
        assert_eq!(
            Subject::of("", "ConfigMap"),
            Some(Subject::Ca(CaKind::ConfigMap))
        );
        assert_eq!(Subject::of("", "Secret"), Some(Subject::Ca(CaKind::Secret)));
        assert_eq!(
            Subject::of("certificates.k8s.io", "ClusterTrustBundle"),
            Some(Subject::Ca(CaKind::ClusterTrustBundle))
        );
        assert_eq!(Subject::of("", "BackendTLSPolicy"), None);
        assert_eq!(Subject::of("apps", "ConfigMap"), None);
        assert_eq!(Subject::of("apps", "Deployment"), None);
    }

    #[test]
    fn objects_are_policies_of_the_gateway_group_and_core_ca_kinds_at_v1() {
        let of = |api_version: &str, kind: &str| {
            Subject::of_object(&json!({"apiVersion": api_version, "kind": kind}))
                .map(|(subject, version)| (subject, version.to_owned()))
        };
        let policy = Some(Subject::Policy);
        assert_eq!(
            of("gateway.networking.k8s.io/v1", "BackendTLSPolicy"),
            policy.map(|s| (s, "v1".to_owned()))
        );
        assert_eq!(
            of("gateway.networking.k8s.io/v1alpha3", "BackendTLSPolicy"),
            policy.map(|s| (s, "v1alpha3".to_owned()))
        );
        assert_eq!(
            of("gateway.networking.k8s.io/v1alpha2", "BackendTLSPolicy"),
            policy.map(|s| (s, "v1alpha2".to_owned()))
        );
        assert!(is_known_version("v1") && is_known_version("v1alpha3"));
        assert!(!is_known_version("v1alpha2") && !is_known_version(""));
        assert_eq!(
            of("v1", "ConfigMap"),
            Some((Subject::Ca(CaKind::ConfigMap), "v1".to_owned()))
        );
        assert_eq!(
            of("certificates.k8s.io/v1beta1", "ClusterTrustBundle"),
            Some((
                Subject::Ca(CaKind::ClusterTrustBundle),
                "v1beta1".to_owned()
            ))
        );
        for (api_version, kind) in [
            ("example.com/v1", "BackendTLSPolicy"),
            ("v1", "BackendTLSPolicy"),
            ("v2", "ConfigMap"),
            ("/v1", "ConfigMap"),
            ("apps/v1", "ConfigMap"),
            ("certificates.k8s.io", "ClusterTrustBundle"),
            ("v1", "Service"),
            ("apps/v1", "Deployment"),
        ] {
            assert_eq!(of(api_version, kind), None, "{api_version} {kind}");
        }
        assert_eq!(Subject::of_object(&json!({"kind": "ConfigMap"})), None);
    }

    #[test]
    fn secrets_and_cluster_trust_bundles_matter_to_the_profiles_that_read_them() {
        use super::super::profile::{CORE, ENVOY_GATEWAY};
        for profile in [CORE, ENVOY_GATEWAY] {
            assert!(Subject::Policy.read_by(&profile));
            assert!(Subject::Ca(CaKind::ConfigMap).read_by(&profile));
        }
        // Core reads ConfigMaps only; Envoy Gateway also Secrets and ClusterTrustBundles.
        for kind in [CaKind::Secret, CaKind::ClusterTrustBundle] {
            assert!(!Subject::Ca(kind).read_by(&CORE), "{kind}");
            assert!(Subject::Ca(kind).read_by(&ENVOY_GATEWAY), "{kind}");
        }
    }
}
