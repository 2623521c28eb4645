//! Secret and ClusterTrustBundle CA sources through the reviewer: policies that reference them,
//! and the guard on writes to them, for the profiles that read them. A Secret's keys other than
//! the ones read never reach an answer, and a Secret's review is never remembered by the
//! decision cache (which keeps request bytes).

mod common;

use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::validate::profile::{self, Profile};
use backendtls_webhook::validate::{Enforcement, Settings};
use common::ca_objects::{secret, service};
use serde_json::{Value, json};

/// 2026-06-01T00:00:00Z: the fixture certificates' reference instant.
const NOW: i64 = 1_780_272_000;
const BUDGET: Duration = Duration::from_secs(10);
const ROOT_CA: &str = include_str!("fixtures/certs/root-ca.pem");
const PRIVATE_KEY: &str = include_str!("fixtures/certs/private-key.pem");
/// A value no answer may ever contain.
const PASSWORD: &str = "hunter2-never-echoed";

fn settings(profile: Profile) -> Settings {
    Settings {
        profile: Arc::new(profile),
        ..Settings::default()
    }
}

fn policy(name: &str, namespace: &str, kind: &str, ca: &str) -> Value {
    let group = if kind == "ClusterTrustBundle" {
        "certificates.k8s.io"
    } else {
        ""
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend"}],
            "validation": {
                "caCertificateRefs": [{"group": group, "kind": kind, "name": ca}],
                "hostname": "payments-backend.shop.svc.cluster.local"
            }
        }
    })
}

fn trust_bundle(name: &str, pem: &str) -> Value {
    json!({"apiVersion": "certificates.k8s.io/v1beta1", "kind": "ClusterTrustBundle",
           "metadata": {"name": name}, "spec": {"trustBundle": pem}})
}

fn review_body(
    kind: Value,
    operation: &str,
    namespace: &str,
    object: &Value,
    old: &Value,
) -> Vec<u8> {
    let name = object
        .pointer("/metadata/name")
        .or_else(|| old.pointer("/metadata/name"))
        .cloned()
        .unwrap_or(Value::Null);
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0d3c5e4a-ca", "kind": kind, "name": name, "namespace": namespace,
                    "operation": operation, "userInfo": {"username": "alice"},
                    "object": object, "oldObject": old}
    }))
    .expect("json")
}

fn secret_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "Secret"})
}

fn policy_kind() -> Value {
    json!({"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"})
}

fn reviewer(objects: &[Value], settings: Settings) -> Reviewer {
    let bundles = Arc::new(BundleCache::default());
    let profile = Arc::clone(&settings.profile);
    let lookup = MemoryLookup::from_objects_for(objects, &bundles, profile);
    Reviewer::new(settings, Arc::new(lookup), bundles, Clock::Fixed(NOW))
}

/// The answer as JSON, and whether it came from the decision cache.
fn answer(reviewer: &Reviewer, body: &[u8]) -> (Value, bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let answer = runtime.block_on(reviewer.review(body, BUDGET));
    let cached = answer.decision().is_some_and(|d| d.cached);
    let review = answer.into_review().expect("a review");
    let json: Value = serde_json::from_slice(&review.to_json()).expect("json");
    (json["response"].clone(), cached)
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn causes(response: &Value) -> Vec<String> {
    response
        .pointer("/status/details/causes")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["field"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Envoy Gateway reads Secret CA references (envoyproxy/gateway#2777); the conformance
/// suite's core profile denies them.
#[test]
fn envoy_gateway_admits_a_policy_on_a_good_ca_secret_under_invalid_refs_deny() {
    let objects = [service(), secret("payments-ca", &[("ca.crt", ROOT_CA)])];
    let policy = policy("payments-backend-tls", "shop", "Secret", "payments-ca");
    let body = review_body(policy_kind(), "CREATE", "shop", &policy, &Value::Null);
    let eg = settings(profile::ENVOY_GATEWAY);
    assert_eq!(eg.invalid_refs, Enforcement::Deny);
    let (response, _) = answer(&reviewer(&objects, eg), &body);
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        warnings(&response)
            .iter()
            .all(|w| !w.contains("payments-ca")),
        "{response}"
    );

    let (core, _) = answer(&reviewer(&objects, Settings::default()), &body);
    assert_eq!(core["allowed"], false);
    assert_eq!(
        causes(&core),
        [
            r#"spec.validation.caCertificateRefs[0].kind: Unsupported value: "Secret": supported values: "ConfigMap" (ResolvedRefs=False, InvalidKind)"#
        ]
    );
}

/// A CA Secret that also holds a private key: a warning naming the risk (agentgateway#1913),
/// an error with --strict; the key itself never reaches the answer.
#[test]
fn a_referenced_secret_holding_a_private_key_warns_or_fails_when_strict() {
    let objects = [
        service(),
        secret(
            "payments-ca",
            &[
                ("ca.crt", ROOT_CA),
                ("tls.key", PRIVATE_KEY),
                ("password", PASSWORD),
            ],
        ),
    ];
    let policy = policy("payments-backend-tls", "shop", "Secret", "payments-ca");
    let body = review_body(policy_kind(), "CREATE", "shop", &policy, &Value::Null);
    let (response, _) = answer(&reviewer(&objects, settings(profile::TRAEFIK)), &body);
    assert_eq!(response["allowed"], true);
    let about_the_secret: Vec<String> = warnings(&response)
        .into_iter()
        .filter(|w| w.starts_with("spec.validation"))
        .collect();
    assert_eq!(
        about_the_secret,
        [
            r#"spec.validation.caCertificateRefs[0]: Secret "payments-ca" also holds a private key ("tls.key"): the gateway controller will be able to read a key it does not need; point at a CA-only Secret or ConfigMap (cert-manager trust-manager writes such bundles)"#
        ]
    );
    let strict = Settings {
        strict: true,
        ..settings(profile::TRAEFIK)
    };
    let (response, _) = answer(&reviewer(&objects, strict), &body);
    assert_eq!(response["allowed"], false);
    assert!(causes(&response)[0].starts_with("spec.validation.caCertificateRefs[0]: Forbidden: --strict: Secret \"payments-ca\" also holds a private key"));
    let text = response.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("PRIVATE KEY-----"),
        "{text}"
    );
}

/// The guard on Secret writes: a write that breaks a bundle a policy reads is denied (for a
/// profile that reads Secrets), naming the policy; the key a private key is in is named, its
/// value never.
#[test]
fn secret_writes_that_break_a_referenced_bundle_are_denied() {
    let objects = [policy(
        "payments-backend-tls",
        "shop",
        "Secret",
        "payments-ca",
    )];
    let good = secret("payments-ca", &[("ca.crt", ROOT_CA)]);
    let broken = secret(
        "payments-ca",
        &[("ca.crt", "not a certificate"), ("password", PASSWORD)],
    );
    let eg = reviewer(&objects, settings(profile::ENVOY_GATEWAY));
    let update = review_body(secret_kind(), "UPDATE", "shop", &broken, &good);
    let (response, _) = answer(&eg, &update);
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["details"]["kind"], "Secret");
    let causes = causes(&response);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert!(
        causes[0].starts_with("data[ca.crt]: Invalid value: "),
        "{causes:?}"
    );
    assert!(
        causes[0].ends_with(
            "(this Secret is the CA bundle of BackendTLSPolicy shop/payments-backend-tls)"
        ),
        "{causes:?}"
    );
    assert!(!response.to_string().contains(PASSWORD));

    let with_key = secret(
        "payments-ca",
        &[("ca.crt", ROOT_CA), ("tls.key", PRIVATE_KEY)],
    );
    let update = review_body(secret_kind(), "UPDATE", "shop", &with_key, &good);
    let (response, _) = answer(&eg, &update);
    assert_eq!(response["allowed"], true);
    assert_eq!(
        warnings(&response),
        [
            r#"data[tls.key]: this Secret also holds a private key ("tls.key"): the gateway controller will be able to read a key it does not need; point at a CA-only Secret or ConfigMap (cert-manager trust-manager writes such bundles)"#
        ]
    );

    // Profiles that do not read Secrets have nothing to say about them.
    let (core, _) = answer(&reviewer(&objects, Settings::default()), &update);
    assert_eq!(
        (core["allowed"].clone(), warnings(&core)),
        (json!(true), Vec::<String>::new())
    );
    let unreferenced = secret("other", &[("ca.crt", "garbage")]);
    let body = review_body(secret_kind(), "CREATE", "shop", &unreferenced, &Value::Null);
    let (response, _) = answer(&eg, &body);
    assert_eq!(response["allowed"], true);
    assert!(warnings(&response).is_empty());
}

/// NGINX Gateway Fabric reads only kubernetes.io/tls Secrets
/// (nginx/nginx-gateway-fabric@e55bfe33969f:internal/controller/state/resolver/secrets.go).
#[test]
fn secret_types_the_implementation_refuses_are_denied() {
    let objects = [secret("payments-ca", &[("ca.crt", ROOT_CA)])];
    let policy = policy("payments-backend-tls", "shop", "Secret", "payments-ca");
    let body = review_body(policy_kind(), "CREATE", "shop", &policy, &Value::Null);
    let (response, _) = answer(
        &reviewer(&objects, settings(profile::NGINX_GATEWAY_FABRIC)),
        &body,
    );
    assert_eq!(
        causes(&response),
        [
            r#"spec.validation.caCertificateRefs[0]: Invalid value: Secret "payments-ca" is of type "Opaque": NGINX Gateway Fabric v2.3.0 to v2.6.x reads Secrets of type "kubernetes.io/tls" only (ResolvedRefs=False, InvalidCACertificateRef)"#
        ]
    );
}

/// A ClusterTrustBundle is cluster-scoped: policies in every namespace that read it are
/// named, and a write that breaks it is denied (envoyproxy/gateway#6353).
#[test]
fn cluster_trust_bundle_writes_are_guarded_across_namespaces() {
    let objects = [
        policy("a", "shop", "ClusterTrustBundle", "corp-roots"),
        policy("b", "payments", "ClusterTrustBundle", "corp-roots"),
        trust_bundle("corp-roots", ROOT_CA),
        service(),
    ];
    let eg = reviewer(&objects, settings(profile::ENVOY_GATEWAY));
    let kind =
        json!({"group": "certificates.k8s.io", "version": "v1beta1", "kind": "ClusterTrustBundle"});
    let broken = trust_bundle("corp-roots", "");
    let body = review_body(
        kind.clone(),
        "UPDATE",
        "",
        &broken,
        &trust_bundle("corp-roots", ROOT_CA),
    );
    let (response, _) = answer(&eg, &body);
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(
        causes(&response),
        [
            "spec.trustBundle: Invalid value: the CA bundle is empty (this ClusterTrustBundle is the CA bundle of BackendTLSPolicies payments/b, shop/a)"
        ]
    );
    let delete = review_body(
        kind,
        "DELETE",
        "",
        &Value::Null,
        &trust_bundle("corp-roots", ROOT_CA),
    );
    let (response, _) = answer(&eg, &delete);
    assert_eq!(response["allowed"], true);
    assert_eq!(
        warnings(&response),
        [
            "deleting the CA bundle of BackendTLSPolicies payments/b, shop/a: TLS to its backends fails (ResolvedRefs=False)"
        ]
    );

    let policy = policy("a", "shop", "ClusterTrustBundle", "corp-roots");
    let body = review_body(policy_kind(), "CREATE", "shop", &policy, &Value::Null);
    let (response, _) = answer(&eg, &body);
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        warnings(&response),
        [
            "spec.validation.caCertificateRefs[0]: Envoy Gateway v1.6.0 to v1.9.x: ClusterTrustBundles resolve only where certificates.k8s.io/v1beta1 is served (envoyproxy/gateway@d32f28294245:internal/provider/kubernetes/controller_watch.go)"
        ]
    );
}

/// The decision cache keeps each request's object bytes: a Secret's review is never cached,
/// while other reviews are.
#[test]
fn secret_reviews_are_never_cached() {
    let objects = [policy(
        "payments-backend-tls",
        "shop",
        "Secret",
        "payments-ca",
    )];
    let settings = settings(profile::ENVOY_GATEWAY);
    let bundles = Arc::new(BundleCache::default());
    let profile = Arc::clone(&settings.profile);
    let lookup = MemoryLookup::from_objects_for(&objects, &bundles, profile);
    let reviewer = Reviewer::new(settings, Arc::new(lookup), bundles, Clock::Fixed(NOW))
        .with_decision_cache(64, 30);
    let with_key = secret(
        "payments-ca",
        &[("ca.crt", ROOT_CA), ("tls.key", PRIVATE_KEY)],
    );
    let body = review_body(secret_kind(), "CREATE", "shop", &with_key, &Value::Null);
    let first = answer(&reviewer, &body);
    let second = answer(&reviewer, &body);
    assert_eq!(first.0, second.0);
    assert!(
        !first.1 && !second.1,
        "a Secret's review is decided anew each time"
    );
    let policy = policy("payments-backend-tls", "shop", "Secret", "payments-ca");
    let body = review_body(policy_kind(), "CREATE", "shop", &policy, &Value::Null);
    let (_, cached) = answer(&reviewer, &body);
    let (_, again) = answer(&reviewer, &body);
    assert!(!cached && again, "policies are cached as before");
}

/// A ClusterTrustBundle without `spec.trustBundle` is found the same way whether it is the
/// object under review or the one a policy refers to (one checker for both).
#[test]
fn a_cluster_trust_bundle_without_a_trust_bundle_is_found_as_object_and_as_reference() {
    let empty = json!({"apiVersion": "certificates.k8s.io/v1beta1", "kind": "ClusterTrustBundle",
                       "metadata": {"name": "corp-roots"}, "spec": {}});
    let objects = [
        policy("a", "shop", "ClusterTrustBundle", "corp-roots"),
        empty.clone(),
        service(),
    ];
    let eg = reviewer(&objects, settings(profile::ENVOY_GATEWAY));
    let kind =
        json!({"group": "certificates.k8s.io", "version": "v1beta1", "kind": "ClusterTrustBundle"});
    let (response, _) = answer(&eg, &review_body(kind, "CREATE", "", &empty, &Value::Null));
    assert_eq!(
        warnings(&response),
        [
            "spec.trustBundle: this ClusterTrustBundle has no spec.trustBundle (this ClusterTrustBundle is the CA bundle of BackendTLSPolicy shop/a)"
        ]
    );
    let (response, _) = answer(
        &eg,
        &review_body(policy_kind(), "CREATE", "shop", &objects[0], &Value::Null),
    );
    assert!(
        warnings(&response).contains(
            &r#"spec.validation.caCertificateRefs[0]: ClusterTrustBundle "corp-roots" has no spec.trustBundle"#
                .to_owned()
        ),
        "{response}"
    );
    // A ClusterTrustBundle with its bundle is fine either way.
    let good = trust_bundle("corp-roots", ROOT_CA);
    let eg = reviewer(
        &[objects[0].clone(), good.clone(), service()],
        settings(profile::ENVOY_GATEWAY),
    );
    let kind =
        json!({"group": "certificates.k8s.io", "version": "v1beta1", "kind": "ClusterTrustBundle"});
    let (response, _) = answer(&eg, &review_body(kind, "CREATE", "", &good, &Value::Null));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(warnings(&response).is_empty(), "{response}");
}
