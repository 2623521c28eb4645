//! The cluster lookup's real kube client code against an in-process fake apiserver: initial
//! sync, watch events, dropped watches, expired resourceVersions, discovery of the served
//! version, readiness, and lookups that cannot be answered in time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, ClusterLookup, Lookup, cluster};

use backendtls_webhook::validate::{Settings, Wants};
use common::fake_apiserver::{FakeApiserver, Kind};
use common::fixture_objects;
use serde_json::{Value, json};
use tokio::sync::watch;

async fn connect(server: &FakeApiserver, dir: &tempfile::TempDir) -> ClusterLookup {
    let client = cluster::client(Some(&server.kubeconfig(dir.path())))
        .await
        .expect("client")
        .expect("configured");
    ClusterLookup::start(client, Arc::new(BundleCache::default()))
}

/// [`connect`], then waits until every cache has listed once.
async fn connect_synced(server: &FakeApiserver, dir: &tempfile::TempDir) -> ClusterLookup {
    let lookup = connect(server, dir).await;
    tokio::time::timeout(Duration::from_secs(20), lookup.wait_until_ready())
        .await
        .expect("synced");
    lookup
}

/// Waits (without sleeping) until `condition` holds, checking it again after each notification
/// on `changes`; false when 20 s pass first or the sender goes away.
async fn until_notified(mut changes: watch::Receiver<u64>, condition: impl Fn() -> bool) -> bool {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !condition() {
            if changes.changed().await.is_err() {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false)
}

/// Waits (without sleeping) until the lookup's caches satisfy `condition`.
async fn until(lookup: &ClusterLookup, condition: impl Fn(&ClusterLookup) -> bool) {
    assert!(
        until_notified(lookup.changes(), || condition(lookup)).await,
        "condition reached in time"
    );
}

fn config_map(name: &str, ca: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}, "data": {"ca.crt": ca, "other": "x"}})
}

#[tokio::test]
async fn caches_sync_and_answer_reviews() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1", "v1alpha3"]).await;
    let lookup = connect_synced(&server, &dir).await;
    assert!(lookup.is_ready());
    let (config_maps, services, policies) = lookup.counts();
    assert_eq!((services, policies), (2, 1));
    assert!(config_maps >= 9, "{config_maps}");
    assert!(
        lookup
            .describe()
            .contains("via gateway.networking.k8s.io/v1"),
        "{}",
        lookup.describe()
    );
    let entry = lookup
        .config_map("shop", "payments-backend-ca")
        .expect("cached");
    assert_eq!(entry.ca_crt.expect("ca.crt").bundle.certificates().len(), 3);
    let binary = lookup.config_map("shop", "binary-data-ca").expect("cached");
    assert!(binary.ca_crt.is_none() && binary.binary_ca_crt);

    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(lookup),
        Arc::new(BundleCache::default()),
        Clock::System,
    );
    for (file, allowed) in [
        ("reviews/policy-v1-allowed.json", true),
        ("reviews/policy-denied-invalid-ca.json", false),
        ("reviews/configmap-update-denied.json", false),
    ] {
        let review = reviewer
            .review(&common::fixture(file), Duration::from_secs(5))
            .await
            .into_review()
            .expect("answered");
        assert_eq!(
            review.response().allowed,
            allowed,
            "{file}: {:?}",
            review.response()
        );
        assert!(
            review.response().warnings.is_empty(),
            "{file}: {:?}",
            review.response().warnings
        );
    }
}

#[tokio::test]
async fn watch_events_dropped_watches_and_expired_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    let lookup = connect_synced(&server, &dir).await;

    server.apply(config_map("added-ca", "text"));
    until(&lookup, |l| l.config_map("shop", "added-ca").is_some()).await;
    server.delete(Kind::ConfigMap, "shop", "added-ca");
    until(&lookup, |l| l.config_map("shop", "added-ca").is_none()).await;

    // A dropped watch resumes from its last resourceVersion: events made meanwhile arrive.
    server.drop_watches();
    server.apply(config_map("after-drop-ca", "text"));
    until(&lookup, |l| l.config_map("shop", "after-drop-ca").is_some()).await;
    let lists_before = server.requests().0;

    // An expired resourceVersion forces a relist; what was deleted meanwhile disappears.
    server.drop_watches();
    server.expire_history();
    server.delete(Kind::ConfigMap, "shop", "after-drop-ca");
    server.expire_history();
    server.apply(config_map("after-expiry-ca", "text"));
    until(&lookup, |l| {
        l.config_map("shop", "after-expiry-ca").is_some()
            && l.config_map("shop", "after-drop-ca").is_none()
    })
    .await;
    assert!(server.requests().0 > lists_before, "relisted");

    // Policies are watched too: a second policy on the same target shows up as a conflict.
    let mut rival = fixture_objects()
        .into_iter()
        .find(|o| o["kind"] == "BackendTLSPolicy")
        .expect("policy");
    rival["metadata"]["name"] = json!("rival");
    rival["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    server.apply(rival);
    until(&lookup, |l| l.policies().len() == 2).await;
    let policy: Value =
        serde_json::from_slice(&common::fixture("reviews/policy-v1-allowed.json")).expect("json");
    let snapshot = lookup.snapshot_now(&Wants::for_policy(&policy["request"]["object"], "shop"));
    assert_eq!(snapshot.policies.len(), 2);
}

#[tokio::test]
async fn the_served_version_is_discovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1alpha3"]).await;
    let lookup = connect_synced(&server, &dir).await;
    assert_eq!(lookup.policies().len(), 1);
    assert!(
        lookup
            .describe()
            .contains("via gateway.networking.k8s.io/v1alpha3"),
        "{}",
        lookup.describe()
    );

    let without_crd = FakeApiserver::start(fixture_objects(), &[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let lookup = connect_synced(&without_crd, &dir).await;
    assert!(lookup.policies().is_empty());
    assert!(
        lookup.describe().contains("(CRD not installed)"),
        "{}",
        lookup.describe()
    );
}

#[tokio::test]
async fn reviews_before_the_first_sync_are_denied_with_retry_inside_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    server.hold_lists();
    let lookup = Arc::new(connect(&server, &dir).await);
    assert!(!lookup.is_ready());
    let reviewer = Reviewer::new(
        Settings::default(),
        lookup.clone(),
        Arc::new(BundleCache::default()),
        Clock::System,
    );
    // The lists are never released: the review answers because its lookup share of the budget
    // ran out (the message below says so), or the test fails at the hang guard.
    let budget = Duration::from_secs(1);
    let review = common::must(
        "the review answers inside its budget",
        reviewer.review(&common::fixture("reviews/policy-v1-allowed.json"), budget),
    )
    .await
    .into_review()
    .expect("answered");
    let status = review.into_response().status.expect("denied");
    assert_eq!(status.code, Some(503));
    let message = status.message.expect("message");
    // The lists are held: the caches are still syncing when the lookup's share of the budget
    // (60 %) has passed, and the answer says so.
    assert_eq!(
        message,
        "backendtls-webhook could not check the references (the webhook's caches did not finish \
         syncing within 600ms); retry the request"
    );
    assert!(message.ends_with("retry the request"), "{message}");
    server.release_lists();
    tokio::time::timeout(Duration::from_secs(20), lookup.wait_until_ready())
        .await
        .expect("synced");
    let review = reviewer
        .review(&common::fixture("reviews/policy-v1-allowed.json"), budget)
        .await
        .into_review()
        .expect("answered");
    assert!(review.response().allowed);
}

#[tokio::test]
async fn serve_with_a_kubeconfig_turns_ready_after_the_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    server.hold_lists();
    let cluster = Arc::new(connect(&server, &dir).await);
    let lookup: Arc<dyn Lookup> = Arc::clone(&cluster) as Arc<dyn Lookup>;
    let test = common::TestServer::start(common::Options {
        lookup: Some(lookup),
        ..common::Options::default()
    })
    .await;
    let mut tls = test.connect().await;
    let ready = common::request(&mut tls, "GET", "/readyz", b"").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.starts_with("not ready: syncing cluster ("),
        "{}",
        ready.body
    );
    server.release_lists();
    // Readiness flips once the caches have synced.
    tokio::time::timeout(Duration::from_secs(20), cluster.wait_until_ready())
        .await
        .expect("synced");
    let ready = common::request(&mut tls, "GET", "/readyz", b"").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ok\n"));
}

#[tokio::test]
async fn a_bad_kubeconfig_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, "not: [a kubeconfig").expect("write");
    let Err(error) = cluster::client(Some(&path)).await else {
        panic!("a broken kubeconfig was accepted");
    };
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot use kubeconfig {}", path.display())),
        "{error}"
    );
    assert!(
        cluster::client(None).await.expect("no error").is_none()
            || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    );
    // A file that cannot be read: named once (kube's own message quotes a debug-printed path).
    let missing = dir.path().join("nope");
    let Err(error) = cluster::client(Some(&missing)).await else {
        panic!("a missing kubeconfig was accepted");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "cannot use kubeconfig {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

/// An API that cannot be reached is not a missing CRD: /readyz says what fails.
#[tokio::test]
async fn readyz_names_what_fails_when_the_api_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, path) = common::unreachable_kubeconfig(dir.path());
    let client = cluster::client(Some(&path))
        .await
        .expect("client")
        .expect("configured");
    let cluster = Arc::new(ClusterLookup::start(
        client,
        Arc::new(backendtls_webhook::lookup::BundleCache::default()),
    ));
    tokio::time::timeout(Duration::from_secs(20), cluster.wait_until_failing())
        .await
        .expect("the watches fail");
    let lookup: Arc<dyn Lookup> = Arc::clone(&cluster) as Arc<dyn Lookup>;
    let test = common::TestServer::start(common::Options {
        lookup: Some(lookup),
        ..common::Options::default()
    })
    .await;
    let mut tls = test.connect().await;
    let ready = common::request(&mut tls, "GET", "/readyz", b"").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.starts_with(
            "not ready: syncing cluster (0 ConfigMaps, 0 Services, 0 BackendTLSPolicies (version not discovered yet)); failing: "
        ) && ready.body.contains("Connection refused")
            && !ready.body.contains("CRD"),
        "{}",
        ready.body
    );
}

/// The CA expiry series lines of `metrics`.
fn ca_series(metrics: &backendtls_webhook::server::metrics::Metrics) -> Vec<String> {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("backendtls_webhook_ca_certificate_expiry_timestamp_seconds{"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn ca_expiry_metrics_cover_referenced_config_maps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    let lookup = connect_synced(&server, &dir).await;
    let metrics = backendtls_webhook::server::metrics::Metrics::new();
    metrics.set_ca_certificates(backendtls_webhook::server::metrics::ca_certificates(
        &lookup,
    ));
    let series = ca_series(&metrics);
    assert_eq!(
        series.len(),
        3,
        "one per certificate of the referenced bundle only:\n{series:#?}"
    );
    assert!(
        series
            .iter()
            .all(|l| l.contains(r#"namespace="shop",configmap="payments-backend-ca""#)),
        "{series:?}"
    );
    // notAfter 2036-11-23T11:28:02Z.
    assert!(
        series.iter().any(|l| l.ends_with(r#"subject="CN=Example Backend Root CA 1,OU=Platform Security,O=Example Org 1,C=US"} 2111052482"#)),
        "{series:?}"
    );
}

#[tokio::test]
async fn ca_expiry_metrics_follow_the_caches() {
    use backendtls_webhook::server::metrics::{Metrics, follow_ca_expiry};
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    let lookup = Arc::new(connect_synced(&server, &dir).await);
    let metrics = Arc::new(Metrics::new());
    let updates = || metrics.ca_updates();
    tokio::spawn(follow_ca_expiry(
        Arc::clone(&lookup),
        Arc::clone(&metrics),
        Duration::ZERO,
    ));
    let series_now = || ca_series(&metrics);
    assert!(
        until_notified(updates(), || series_now().len() == 3).await,
        "{:?}",
        series_now()
    );

    // The bundle loses two of its certificates: their series go.
    let root = String::from_utf8(common::fixture("certs/root-ca.pem")).expect("PEM");
    server.apply(config_map("payments-backend-ca", &root));
    assert!(
        until_notified(updates(), || {
            let series = series_now();
            series.len() == 1 && series[0].contains(r#"configmap="payments-backend-ca""#)
        })
        .await,
        "{:?}",
        series_now()
    );

    // The ConfigMap is deleted: no series are left.
    server.delete(Kind::ConfigMap, "shop", "payments-backend-ca");
    assert!(
        until_notified(updates(), || series_now().is_empty()).await,
        "{:?}",
        series_now()
    );
}
