//! The cluster lookup's CA sources other than `ca.crt` of ConfigMaps, against the in-process
//! fake apiserver: Secrets read with GET only (never listed or watched, only those a policy
//! under review names, cached briefly, their other keys never kept or logged),
//! ClusterTrustBundles watched when the profile reads them, and the ConfigMap keys a profile
//! reads besides `ca.crt`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::lookup::secrets::SecretLimits;
use backendtls_webhook::lookup::{
    BundleCache, ClusterLookup, ClusterOptions, Lookup, MemoryLookup, cluster,
};
use backendtls_webhook::validate::profile::{self, Profile};
use backendtls_webhook::validate::{Settings, Wants};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::ca_objects::{secret, service};
use common::fake_apiserver::{FakeApiserver, Logged};
use serde_json::{Value, json};

/// 2026-06-01T00:00:00Z: the fixture certificates' reference instant.
const NOW: i64 = 1_780_272_000;
const ROOT_CA: &str = include_str!("fixtures/certs/root-ca.pem");
const PRIVATE_KEY: &str = include_str!("fixtures/certs/private-key.pem");
/// A value that must never be kept or logged.
const PASSWORD: &str = "hunter2-never-kept";

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}, "data": data})
}

fn policy(group: &str, kind: &str, ca: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "payments-backend-tls", "namespace": "shop"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend"}],
            "validation": {
                "caCertificateRefs": [{"group": group, "kind": kind, "name": ca}],
                "hostname": "payments-backend.shop.svc.cluster.local"
            }
        }
    })
}

fn review_body(object: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "5e0c1a2b-cluster", "name": object["metadata"]["name"], "namespace": "shop",
                    "kind": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"},
                    "operation": "CREATE", "userInfo": {"username": "alice"}, "object": object}
    }))
    .expect("json")
}

/// A lookup for `profile` against `server`, synced.
async fn lookup(
    server: &FakeApiserver,
    dir: &tempfile::TempDir,
    profile: Profile,
    read_secrets: bool,
) -> Arc<ClusterLookup> {
    let client = cluster::client(Some(&server.kubeconfig(dir.path())))
        .await
        .expect("client")
        .expect("configured");
    let options = ClusterOptions {
        profile: Arc::new(profile),
        read_secrets,
        ..ClusterOptions::default()
    };
    let lookup = ClusterLookup::start_with(client, Arc::new(BundleCache::default()), options);
    tokio::time::timeout(Duration::from_secs(20), lookup.wait_until_ready())
        .await
        .expect("synced");
    Arc::new(lookup)
}

/// The answer to a review of `policy`: `(allowed, warnings and causes)`.
async fn review(lookup: &Arc<ClusterLookup>, policy: &Value) -> (bool, Vec<String>) {
    let settings = Settings {
        profile: Arc::clone(lookup.profile()),
        ..Settings::default()
    };
    let as_lookup: Arc<dyn Lookup> = lookup.clone();
    let reviewer = Reviewer::new(
        settings,
        as_lookup,
        Arc::new(BundleCache::default()),
        Clock::Fixed(NOW),
    );
    let answer = reviewer
        .review(&review_body(policy), Duration::from_secs(10))
        .await
        .into_review()
        .expect("a review");
    let response = answer.response();
    let mut said: Vec<String> = response.warnings.clone();
    if let Some(causes) = response
        .status
        .as_ref()
        .and_then(|s| s.details.as_ref())
        .and_then(|d| d.causes.as_ref())
    {
        said.extend(causes.iter().map(|c| {
            format!(
                "error: {}: {}",
                c.field.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        }));
    }
    (response.allowed, said)
}

fn secret_requests(log: &[Logged]) -> Vec<String> {
    log.iter()
        .filter(|l| l.path.contains("secrets"))
        .map(|l| format!("{} {} {}", l.method, l.path, l.query))
        .collect()
}

#[tokio::test]
async fn only_referenced_secrets_are_read_with_get_never_listed_or_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = [
        service(),
        secret("payments-ca", &[("ca.crt", ROOT_CA)]),
        secret("unrelated", &[("ca.crt", ROOT_CA), ("password", PASSWORD)]),
    ];
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let lookup = lookup(&server, &dir, profile::ENVOY_GATEWAY, true).await;
    assert!(
        secret_requests(&server.log()).is_empty(),
        "nothing read before a review"
    );

    let (allowed, said) = review(&lookup, &policy("", "Secret", "payments-ca")).await;
    assert!(allowed && said.is_empty(), "{said:?}");
    // Again within the TTL: answered from the cache.
    let (allowed, _) = review(&lookup, &policy("", "Secret", "payments-ca")).await;
    assert!(allowed);
    let (allowed, said) = review(&lookup, &policy("", "Secret", "missing")).await;
    assert!(allowed);
    assert_eq!(
        said,
        [
            "spec.validation.caCertificateRefs: Envoy Gateway v1.6.0 to v1.9.x: routes to the backend answer HTTP 500 while a CA reference is unusable (envoyproxy/gateway@d32f28294245:internal/gatewayapi/route.go)",
            r#"spec.validation.caCertificateRefs[0]: Secret "missing" not found in "shop": ResolvedRefs=False until created"#
        ]
    );
    // A name no Secret can have is never sent to the apiserver.
    let (_, said) = review(&lookup, &policy("", "Secret", "../configmaps/x")).await;
    assert!(
        said.iter()
            .any(|s| s.contains(r#"Secret "../configmaps/x" not found"#)),
        "{said:?}"
    );

    assert_eq!(
        secret_requests(&server.log()),
        [
            "GET /api/v1/namespaces/shop/secrets/payments-ca ",
            "GET /api/v1/namespaces/shop/secrets/missing ",
        ]
    );
    assert_eq!(lookup.secret_cache_usage().map(|(n, _)| n), Some(2));
}

#[tokio::test]
async fn without_read_secrets_or_permission_secrets_are_admitted_unchecked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = [
        service(),
        secret("payments-ca", &[("ca.crt", "not a certificate")]),
    ];
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let off = lookup(&server, &dir, profile::ENVOY_GATEWAY, false).await;
    let (allowed, said) = review(&off, &policy("", "Secret", "payments-ca")).await;
    assert!(allowed);
    assert_eq!(
        said,
        [
            r#"spec.validation.caCertificateRefs[0]: Secret "payments-ca": its content was not checked: the webhook does not read Secrets; to check them, install manifests/overlays/secret-ca (it grants get on secrets and sets --read-secrets)"#
        ]
    );
    assert!(secret_requests(&server.log()).is_empty());

    server.forbid_secrets();
    let on = lookup(&server, &dir, profile::ENVOY_GATEWAY, true).await;
    let (allowed, said) = review(&on, &policy("", "Secret", "payments-ca")).await;
    assert!(allowed);
    assert_eq!(
        said,
        [
            r#"spec.validation.caCertificateRefs[0]: Secret "payments-ca": its content was not checked: the webhook may not read it (grant get on secrets: manifests/overlays/secret-ca)"#
        ]
    );
    // With permission, the same Secret's content is judged: denied under --invalid-refs=deny.
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(
        [
            service(),
            secret("payments-ca", &[("ca.crt", "not a certificate")]),
        ],
        &["v1"],
    )
    .await;
    let on = lookup(&server, &dir, profile::ENVOY_GATEWAY, true).await;
    let (allowed, said) = review(&on, &policy("", "Secret", "payments-ca")).await;
    assert!(!allowed, "{said:?}");
    assert!(
        said.iter().any(|s| s.starts_with(
            r#"error: spec.validation.caCertificateRefs[0]: Invalid value: Secret "payments-ca" ca.crt: no CERTIFICATE block found"#
        )),
        "{said:?}"
    );
}

/// Captures everything logged, at every level.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

/// Everything this test binary logs, at every level, through one global subscriber. (A
/// thread-local `set_default` races with callsites first hit on the other test threads: such
/// a callsite can be left disabled for it, and the capture then saw nothing.)
fn captured() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        capture
    })
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_secrets_other_keys_are_never_kept_or_logged() {
    let capture = captured();

    let dir = tempfile::tempdir().expect("tempdir");
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
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let lookup = lookup(&server, &dir, profile::ENVOY_GATEWAY, true).await;
    let (allowed, said) = review(&lookup, &policy("", "Secret", "payments-ca")).await;
    assert!(allowed);
    assert_eq!(
        said,
        [
            r#"spec.validation.caCertificateRefs[0]: Secret "payments-ca" also holds a private key ("tls.key"): the gateway controller will be able to read a key it does not need; point at a CA-only Secret or ConfigMap (cert-manager trust-manager writes such bundles)"#
        ]
    );
    let mut wants = Wants {
        namespace: "shop".into(),
        ..Wants::default()
    };
    wants.secrets.push("payments-ca".into());
    let snapshot = lookup.snapshot(&wants).await.expect("snapshot");
    let kept = format!("{snapshot:?} {lookup:?}");
    let logged = String::from_utf8_lossy(&capture.0.lock().expect("capture")).into_owned();
    assert!(!logged.is_empty(), "the capture works");
    for secret in [PASSWORD, "PRIVATE KEY", &BASE64.encode(PASSWORD)] {
        assert!(!kept.contains(secret), "{secret} kept: {kept}");
        assert!(!logged.contains(secret), "{secret} logged");
    }
    let (entries, bytes) = lookup.secret_cache_usage().expect("reading Secrets");
    assert_eq!(entries, 1);
    assert!(bytes < 4096, "the parsed bundle only: {bytes} bytes");
}

#[tokio::test]
async fn cluster_trust_bundles_are_watched_only_for_profiles_that_read_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = json!({"apiVersion": "certificates.k8s.io/v1beta1", "kind": "ClusterTrustBundle",
                        "metadata": {"name": "corp-roots"}, "spec": {"trustBundle": ROOT_CA}});
    let server = FakeApiserver::start([service(), bundle], &["v1"]).await;
    server.serve_cluster_trust_bundles("v1beta1");
    let policy = policy("certificates.k8s.io", "ClusterTrustBundle", "corp-roots");

    let core = lookup(&server, &dir, profile::CORE, false).await;
    let (allowed, _) = review(&core, &policy).await;
    assert!(!allowed, "core conformance reads ConfigMaps only");
    let trust_bundle_requests = || {
        server
            .log()
            .iter()
            .filter(|l| l.path.contains("clustertrustbundles") || l.path.contains("certificates"))
            .count()
    };
    assert_eq!(trust_bundle_requests(), 0);

    let eg = lookup(&server, &dir, profile::ENVOY_GATEWAY, false).await;
    let mut changes = eg.changes();
    let listed = tokio::time::timeout(Duration::from_secs(20), async {
        while policy_for(&eg, "does-not-exist").contains("not listed yet") {
            if changes.changed().await.is_err() {
                return false;
            }
        }
        true
    })
    .await;
    assert_eq!(listed, Ok(true), "ClusterTrustBundles listed");
    let (allowed, said) = review(&eg, &policy).await;
    assert!(allowed, "{said:?}");
    let (_, said) = review(
        &eg,
        &self::policy("certificates.k8s.io", "ClusterTrustBundle", "missing"),
    )
    .await;
    assert!(
        said.iter().any(|s| s.contains(
            r#"ClusterTrustBundle "missing" not found: ResolvedRefs=False until created"#
        )),
        "{said:?}"
    );
    // Listed (then watched) as a collection, never fetched one by one.
    let log = server.log();
    let requests: Vec<&Logged> = log
        .iter()
        .filter(|l| l.path.starts_with("/apis/certificates.k8s.io/v1beta1/"))
        .collect();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|l| l.path == "/apis/certificates.k8s.io/v1beta1/clustertrustbundles"),
        "{requests:?}"
    );
}

/// What the lookup says of a ClusterTrustBundle now (for waiting on its first list).
fn policy_for(lookup: &ClusterLookup, name: &str) -> String {
    let mut wants = Wants::default();
    wants.cluster_trust_bundles.push(name.to_owned());
    format!("{:?}", lookup.snapshot_now(&wants).cluster_trust_bundles)
}

/// Istio reads `cacert` before `ca.crt` (istio/istio@86c9f01fd735:pilot/pkg/credentials/kube/secrets.go);
/// Envoy Gateway reads `tls.crt` without `ca.crt` (envoyproxy/gateway#8329): the ConfigMap watch
/// keeps those keys for those profiles.
#[tokio::test]
async fn config_map_keys_other_than_ca_crt_are_kept_for_profiles_that_read_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = [
        service(),
        config_map(
            "istio-ca",
            json!({"cacert": ROOT_CA, "ca.crt": "garbage", "other": PASSWORD}),
        ),
        config_map("leaf-only", json!({"tls.crt": ROOT_CA})),
    ];
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let istio = lookup(&server, &dir, profile::ISTIO, false).await;
    let (allowed, said) = review(&istio, &policy("", "ConfigMap", "istio-ca")).await;
    assert!(allowed, "{said:?}");
    assert_eq!(
        said,
        [
            r#"spec.validation.caCertificateRefs[0]: Istio 1.28.0 to 1.30.x reads "cacert" of ConfigMap "istio-ca": its "ca.crt" is ignored"#
        ]
    );
    let core = lookup(&server, &dir, profile::CORE, false).await;
    let (allowed, _) = review(&core, &policy("", "ConfigMap", "istio-ca")).await;
    assert!(!allowed, "core reads ca.crt: garbage");

    let eg = lookup(&server, &dir, profile::ENVOY_GATEWAY, false).await;
    let (allowed, said) = review(&eg, &policy("", "ConfigMap", "leaf-only")).await;
    assert!(allowed, "{said:?}");
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(
        said[0],
        r#"spec.validation.caCertificateRefs[0]: ConfigMap "leaf-only" has no key "ca.crt": Envoy Gateway v1.6.0 to v1.9.x reads "tls.crt" instead"#
    );
    assert!(said[1].contains("(tls.crt since v1.9)"), "{said:?}");
    assert!(format!("{:?}", istio.snapshot_now(&Wants::default())).len() < 10_000);
}

/// With the secret-ca overlay the apiserver sends every key of a Secret to the webhook: the
/// server's debug log of request bodies leaves a Secret's out (and still shows the others).
#[tokio::test]
async fn the_server_never_logs_a_secrets_review() {
    let capture = captured();

    let settings = Settings {
        profile: Arc::new(profile::ENVOY_GATEWAY),
        ..Settings::default()
    };
    let policy = policy("", "Secret", "payments-ca");
    let bundles = BundleCache::default();
    let lookup = MemoryLookup::from_objects_for(
        [&policy, &service()],
        &bundles,
        Arc::clone(&settings.profile),
    );
    let server = common::TestServer::start(common::Options {
        lookup: Some(Arc::new(lookup)),
        settings: Some(settings),
        ..common::Options::default()
    })
    .await;
    let secret = secret(
        "payments-ca",
        &[
            ("ca.crt", ROOT_CA),
            ("tls.key", PRIVATE_KEY),
            ("password", PASSWORD),
        ],
    );
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "5ec2e7-1", "kind": {"group": "", "version": "v1", "kind": "Secret"},
                    "name": "payments-ca", "namespace": "shop", "operation": "CREATE",
                    "userInfo": {"username": "alice"}, "object": secret}
    }))
    .expect("json");
    let mut tls = server.connect().await;
    let response = common::request(&mut tls, "POST", "/validate", &body).await;
    assert_eq!(response.status, 200);
    let answer = response.json();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let policy_review = review_body(&policy);
    let response = common::request(&mut tls, "POST", "/validate", &policy_review).await;
    assert_eq!(response.status, 200);

    let logged = String::from_utf8_lossy(&capture.0.lock().expect("capture")).into_owned();
    // Both reviews are logged as decisions; no request body is, at any level.
    assert_eq!(
        logged.matches(" decision ").count() + logged.matches("\"decision\"").count(),
        2,
        "{logged}"
    );
    assert!(
        !logged.contains("payments-backend.shop.svc.cluster.local"),
        "a policy's body was logged: {logged}"
    );
    for secret in [PASSWORD, "PRIVATE KEY", &BASE64.encode(PASSWORD)] {
        assert!(!logged.contains(secret), "{secret} logged");
    }
}

/// An apiserver that does not answer a Secret GET holds the review only for the GET's timeout:
/// the Secret is reported as not checked, and the answer comes (a hang guard, not a speed limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_get_that_gets_no_answer_times_out_and_is_reported_unchecked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start([service(), secret("payments-ca", &[])], &["v1"]).await;
    server.hold_secrets();
    let client = cluster::client(Some(&server.kubeconfig(dir.path())))
        .await
        .expect("client")
        .expect("configured");
    let options = ClusterOptions {
        profile: Arc::new(profile::ENVOY_GATEWAY),
        read_secrets: true,
        secret_limits: SecretLimits {
            timeout: Duration::from_millis(200),
            ..SecretLimits::default()
        },
    };
    let lookup = ClusterLookup::start_with(client, Arc::new(BundleCache::default()), options);
    common::must("the caches sync", lookup.wait_until_ready()).await;
    let (allowed, said) = common::must(
        "the review answers despite the silent apiserver",
        review(&Arc::new(lookup), &policy("", "Secret", "payments-ca")),
    )
    .await;
    assert!(allowed, "{said:?}");
    assert_eq!(
        said,
        [
            r#"spec.validation.caCertificateRefs[0]: Secret "payments-ca": its content was not checked: reading it took longer than 200ms"#
        ]
    );
}
