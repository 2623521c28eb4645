//! What the Gateway API conformance suite (v1.6.1, `conformance/tests/backendtlspolicy*`) needs
//! admitted, under every profile with `--invalid-refs=warn`: a policy on a ConfigMap that does
//! not exist, on one with `data: {}`, on a CA of an unknown group and kind, conflicting
//! policies, and a ConfigMap whose `ca.crt` is patched to the empty string while a policy uses
//! it (SPEC.md §7). Under the default `--invalid-refs=deny` the last two are denied, which is
//! why a conformance run needs `warn`.

use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::validate::profile::BUILT_IN;
use backendtls_webhook::validate::{Enforcement, Settings};
use serde_json::{Value, json};

const NOW: i64 = 1_780_272_000;
const NS: &str = "gateway-conformance-infra";
const ROOT_CA: &str = include_str!("fixtures/certs/root-ca.pem");

fn service(name: &str, ports: &[(&str, u16)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "protocol": "TCP", "port": p, "targetPort": 8443}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
           "spec": {"ports": ports}})
}

/// A conformance policy (the suite applies them as v1alpha3).
fn policy(name: &str, target: &str, section: Option<&str>, ca: Value, hostname: &str) -> Value {
    let mut target = json!({"group": "", "kind": "Service", "name": target});
    if let Some(section) = section {
        target["sectionName"] = json!(section);
    }
    json!({"apiVersion": "gateway.networking.k8s.io/v1alpha3", "kind": "BackendTLSPolicy",
           "metadata": {"name": name, "namespace": NS, "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"targetRefs": [target],
                    "validation": {"caCertificateRefs": [ca], "hostname": hostname}}})
}

fn config_map_ref(name: &str) -> Value {
    json!({"group": "", "kind": "ConfigMap", "name": name})
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": data})
}

fn body(kind: Value, operation: &str, object: &Value, old: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "c0nf0rm4-nce", "kind": kind, "name": object["metadata"]["name"],
                    "namespace": NS, "operation": operation, "userInfo": {"username": "conformance"},
                    "object": object, "oldObject": old}
    }))
    .expect("json")
}

fn policy_kind() -> Value {
    json!({"group": "gateway.networking.k8s.io", "version": "v1alpha3", "kind": "BackendTLSPolicy"})
}

fn config_map_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "ConfigMap"})
}

/// Everything the suite has created when it applies each object.
fn cluster() -> Vec<Value> {
    let mut objects = vec![
        service(
            "backendtlspolicy-nonexistent-ca-certificate-ref-test",
            &[("https", 443)],
        ),
        service(
            "backendtlspolicy-malformed-ca-certificate-ref-test",
            &[("https", 443)],
        ),
        service("backendtlspolicy-invalid-kind-test", &[("https", 443)]),
        service(
            "backendtlspolicy-conflicted-without-section-name-test",
            &[("https", 443)],
        ),
        service(
            "backendtlspolicy-conflicted-with-section-name-test",
            &[("https-1", 443), ("https-2", 8443)],
        ),
        service(
            "backendtlspolicy-not-conflicted-test",
            &[("https-1", 443), ("https-2", 8443)],
        ),
        config_map("malformed-ca-certificate", json!({})),
        config_map("tls-checks-ca-certificate", json!({"ca.crt": ROOT_CA})),
    ];
    objects.extend(conflicting());
    objects
}

/// `backendtlspolicy-conflict-resolution.yaml`: pairs on one target (with and without a
/// section), and a whole-Service policy beside a per-port one.
fn conflicting() -> Vec<Value> {
    let ca = || config_map_ref("tls-checks-ca-certificate");
    vec![
        policy(
            "conflicted-without-section-name-1",
            "backendtlspolicy-conflicted-without-section-name-test",
            None,
            ca(),
            "other.example.com",
        ),
        policy(
            "conflicted-without-section-name-2",
            "backendtlspolicy-conflicted-without-section-name-test",
            None,
            ca(),
            "abc.example.com",
        ),
        policy(
            "conflicted-with-section-name-1",
            "backendtlspolicy-conflicted-with-section-name-test",
            Some("https-1"),
            ca(),
            "other.example.com",
        ),
        policy(
            "conflicted-with-section-name-2",
            "backendtlspolicy-conflicted-with-section-name-test",
            Some("https-1"),
            ca(),
            "abc.example.com",
        ),
        policy(
            "not-conflicted-with-section-name",
            "backendtlspolicy-not-conflicted-test",
            Some("https-1"),
            ca(),
            "other.example.com",
        ),
        policy(
            "not-conflicted-without-section-name",
            "backendtlspolicy-not-conflicted-test",
            None,
            ca(),
            "abc.example.com",
        ),
    ]
}

/// Every request the suite makes that must succeed: `(what, body)`.
fn requests() -> Vec<(String, Vec<u8>)> {
    let mut requests = vec![
        (
            "a policy on a ConfigMap that does not exist (invalid-ca-certificate-ref)".to_owned(),
            body(
                policy_kind(),
                "CREATE",
                &policy(
                    "nonexistent-ca-certificate-ref",
                    "backendtlspolicy-nonexistent-ca-certificate-ref-test",
                    None,
                    config_map_ref("nonexistent-ca-certificate"),
                    "abc.example.com",
                ),
                &Value::Null,
            ),
        ),
        (
            "a policy on a ConfigMap with data: {} (invalid-ca-certificate-ref)".to_owned(),
            body(
                policy_kind(),
                "CREATE",
                &policy(
                    "malformed-ca-certificate-ref",
                    "backendtlspolicy-malformed-ca-certificate-ref-test",
                    None,
                    config_map_ref("malformed-ca-certificate"),
                    "abc.example.com",
                ),
                &Value::Null,
            ),
        ),
        (
            "a policy on a CA of an unknown group and kind (invalid-kind)".to_owned(),
            body(
                policy_kind(),
                "CREATE",
                &policy(
                    "invalid-kind",
                    "backendtlspolicy-invalid-kind-test",
                    None,
                    json!({"group": "invalid.io", "kind": "InvalidKind", "name": "invalid-kind"}),
                    "abc.example.com",
                ),
                &Value::Null,
            ),
        ),
    ];
    for conflicting in conflicting() {
        let name = conflicting["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        requests.push((
            format!("conflicting policy {name} (conflict-resolution)"),
            body(policy_kind(), "CREATE", &conflicting, &Value::Null),
        ));
    }
    // backendtlspolicy.go: a policy moved to a ConfigMap that does not exist yet, then that
    // ConfigMap's ca.crt emptied.
    let before = policy(
        "normative-test",
        "backendtlspolicy-conflicted-without-section-name-test",
        Some("https"),
        config_map_ref("tls-checks-ca-certificate"),
        "abc.example.com",
    );
    let after = policy(
        "normative-test",
        "backendtlspolicy-conflicted-without-section-name-test",
        Some("https"),
        config_map_ref("not-yet-created"),
        "abc.example.com",
    );
    requests.push((
        "a policy patched to a ConfigMap that does not exist yet".to_owned(),
        body(policy_kind(), "UPDATE", &after, &before),
    ));
    let full = config_map("tls-checks-ca-certificate", json!({"ca.crt": ROOT_CA}));
    let emptied = config_map("tls-checks-ca-certificate", json!({"ca.crt": ""}));
    requests.push((
        "a used ConfigMap whose ca.crt is patched to the empty string".to_owned(),
        body(config_map_kind(), "UPDATE", &emptied, &full),
    ));
    requests
}

fn allowed(settings: Settings, request: &[u8]) -> (bool, String) {
    let bundles = Arc::new(BundleCache::default());
    let objects = cluster();
    let lookup = MemoryLookup::from_objects_for(&objects, &bundles, Arc::clone(&settings.profile));
    let reviewer = Reviewer::new(settings, Arc::new(lookup), bundles, Clock::Fixed(NOW));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let review = runtime
        .block_on(reviewer.review(request, Duration::from_secs(10)))
        .into_review()
        .expect("a review");
    let response = review.response();
    let status = response
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    (response.allowed, status)
}

#[test]
fn every_profile_admits_what_the_conformance_suite_applies_with_invalid_refs_warn() {
    for profile in BUILT_IN {
        let settings = Settings {
            invalid_refs: Enforcement::Warn,
            profile: Arc::new(profile.clone()),
            ..Settings::default()
        };
        for (what, request) in requests() {
            let (allowed, status) = allowed(settings.clone(), &request);
            assert!(allowed, "{}: {what}: {status}", profile.name);
        }
    }
}

#[test]
fn the_default_invalid_refs_deny_refuses_what_conformance_needs_admitted() {
    let denied: Vec<String> = requests()
        .into_iter()
        .filter(|(_, request)| !allowed(Settings::default(), request).0)
        .map(|(what, _)| what)
        .collect();
    assert_eq!(
        denied,
        [
            "a policy on a CA of an unknown group and kind (invalid-kind)",
            "a used ConfigMap whose ca.crt is patched to the empty string",
        ]
    );
}
