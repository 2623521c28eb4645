//! Criterion benchmarks of the decision path: `make bench` (or
//! `cargo bench --bench validate`). Targets: under 20 µs per policy, under 40 µs per
//! certificate of a CA bundle.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::objects;
use backendtls_webhook::validate::{self, PolicyChange, Settings, Wants, ca_bundle};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

const POLICY_REVIEW: &[u8] =
    include_bytes!("../tests/fixtures/samples/admission-backendtlspolicy.json");
const CONFIG_MAP_REVIEW: &[u8] =
    include_bytes!("../tests/fixtures/samples/admission-configmap-3certs.json");
const OBJECTS: &str = include_str!("../tests/fixtures/samples/objects.yaml");
const BUNDLE_50: &str = include_str!("../tests/fixtures/certs/bundle-50.pem");
/// 2026-11-26T12:00:00Z, inside every sample certificate's validity.
const NOW: i64 = 1_795_694_400;

fn lookup() -> (MemoryLookup, Arc<BundleCache>) {
    let bundles = Arc::new(BundleCache::default());
    let documents = objects::parse_str("objects.yaml", OBJECTS).expect("sample objects parse");
    let lookup = MemoryLookup::from_objects(documents.iter().map(|d| &d.value), &bundles);
    (lookup, bundles)
}

fn three_cert_bundle() -> String {
    let review: Value = serde_json::from_slice(CONFIG_MAP_REVIEW).expect("json");
    review["request"]["object"]["data"]["ca.crt"]
        .as_str()
        .expect("ca.crt")
        .to_owned()
}

fn policy(c: &mut Criterion) {
    let review: Value = serde_json::from_slice(POLICY_REVIEW).expect("json");
    let object = review["request"]["object"].clone();
    let (lookup, _) = lookup();
    let snapshot = lookup.snapshot_now(&Wants::for_policy(&object, "shop"));
    let settings = Settings::default();
    c.bench_function("validate/policy (sample, 3-cert CA ref)", |b| {
        b.iter(|| {
            let change = PolicyChange::create(black_box(&object), "shop");
            validate::policy(&change, &snapshot, &settings, NOW)
        });
    });
}

fn bundles(c: &mut Criterion) {
    let mut group = c.benchmark_group("ca_bundle");
    for (name, text, certs) in [
        ("3 certificates", three_cert_bundle(), 3u64),
        ("50 certificates", BUNDLE_50.to_owned(), 50),
    ] {
        group.throughput(Throughput::Elements(certs));
        group.bench_function(format!("parse+assess {name}"), |b| {
            b.iter(|| {
                let parsed = ca_bundle::parse_bundle(black_box(&text));
                ca_bundle::assess(&parsed, NOW, validate::DEFAULT_EXPIRY_WINDOW_SECS)
            });
        });
    }
    group.finish();
}

fn reviews(c: &mut Criterion) {
    let (lookup, bundles) = lookup();
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(lookup),
        bundles,
        Clock::Fixed(NOW),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("review (decode, look up, validate, encode)");
    for (name, body) in [
        ("policy", POLICY_REVIEW),
        ("configmap 3 certs", CONFIG_MAP_REVIEW),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let review = runtime
                    .block_on(reviewer.review(black_box(body), Duration::from_secs(10)))
                    .into_review()
                    .expect("answered");
                review.to_json()
            });
        });
    }
    group.finish();

    // What `serve` does for a request whose decision it has cached (the load benchmark's
    // repeated body): decode the envelope, look the decision up, encode the answer.
    let reviewer = reviewer.with_decision_cache(1024, 30);
    let mut group = c.benchmark_group("review (decision cached)");
    for (name, body) in [
        ("policy", POLICY_REVIEW),
        ("configmap 3 certs", CONFIG_MAP_REVIEW),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let answer =
                    runtime.block_on(reviewer.review(black_box(body), Duration::from_secs(10)));
                let cached = answer.decision().map(|d| d.cached);
                (cached, answer.into_review().expect("answered").to_json())
            });
        });
    }
    group.finish();
}

/// The null webhook's whole decode and answer, for comparison with the cached path.
fn null_webhook(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct Review<'a> {
        #[serde(borrow)]
        request: Request<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        uid: &'a str,
    }
    c.bench_function("null webhook (uid only)", |b| {
        b.iter(|| {
            let review: Review<'_> = serde_json::from_slice(black_box(POLICY_REVIEW)).expect("json");
            let uid = serde_json::to_string(review.request.uid).expect("uid");
            format!(r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{{"uid":{uid},"allowed":true}}}}"#)
        });
    });
}

criterion_group!(benches, policy, bundles, reviews, null_webhook);
criterion_main!(benches);
