//! AdmissionReview decoding and answering: `admission::decode` and `Reviewer::review` on
//! arbitrary request bodies, against the in-memory lookup `make run` uses (tests/fixtures/objects
//! and tests/fixtures/configmaps), with a fixed clock, driven by a current-thread tokio runtime.
//!
//! Besides "no panic, no hang", it checks what the server relies on: a body is answered with an
//! AdmissionReview exactly when it decodes or its uid can be read, the answer echoes the uid,
//! its lists are bounded, and it serialises to JSON. A third reviewer, with the decision cache
//! `serve` runs by default, decodes the objects in two passes rather than one: its answers must
//! be the same, byte for byte.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use backendtls_webhook::admission::{self, Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::objects;
use backendtls_webhook::validate::{Enforcement, Settings};
use libfuzzer_sys::fuzz_target;

/// 2026-06-01T00:00:00Z: inside the fixture certificates' validity.
const NOW: i64 = 1_780_272_000;
/// The most causes or warnings an answer carries (admission's MAX_ITEMS).
const MAX_ITEMS: usize = 256;

struct Harness {
    runtime: tokio::runtime::Runtime,
    /// Default settings, and strict ones that deny missing references.
    reviewers: [Reviewer; 2],
    /// Default settings with a decision cache.
    cached: Reviewer,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let documents =
            objects::load_paths(&[fixtures.join("objects"), fixtures.join("configmaps")])
                .expect("fixture objects load");
        let reviewer = |settings: Settings| {
            let bundles = Arc::new(BundleCache::default());
            let lookup = MemoryLookup::from_objects(documents.iter().map(|d| &d.value), &bundles);
            Reviewer::new(settings, Arc::new(lookup), bundles, Clock::Fixed(NOW))
        };
        let strict = Settings {
            strict: true,
            missing_refs: Enforcement::Deny,
            extra_target_kinds: vec![
                "multicluster.x-k8s.io/ServiceImport"
                    .parse()
                    .expect("group/kind"),
            ],
            ..Settings::default()
        };
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime"),
            reviewers: [reviewer(Settings::default()), reviewer(strict)],
            cached: reviewer(Settings::default()).with_decision_cache(64, 30),
        }
    })
}

fuzz_target!(|body: &[u8]| {
    let harness = harness();
    let run = |reviewer: &Reviewer| {
        harness
            .runtime
            .block_on(reviewer.review(body, Duration::from_secs(1)))
    };
    let decoded = admission::decode(body);
    // What each reviewer sends: the answer's JSON, or the error of a body without a uid.
    let mut sent = Vec::new();
    for reviewer in &harness.reviewers {
        let answer = run(reviewer);
        let decided = answer.decision().is_some();
        match answer.into_review() {
            Ok(review) => {
                assert_eq!(
                    decided,
                    decoded.is_ok(),
                    "a decision exactly when the body decodes"
                );
                let response = review.response();
                assert!(!response.uid.is_empty(), "answered without a uid");
                match &decoded {
                    Ok(request) => assert_eq!(response.uid, request.uid),
                    Err(bad) => assert_eq!(Some(&response.uid), bad.uid.as_ref()),
                }
                assert!(response.warnings.len() <= MAX_ITEMS);
                if let Some(status) = &response.status {
                    assert!(!response.allowed, "a status on an allowed answer");
                    let causes = status
                        .details
                        .as_ref()
                        .and_then(|d| d.causes.as_ref())
                        .map_or(0, Vec::len);
                    assert!(causes <= MAX_ITEMS);
                    assert!(status.message.as_deref().is_some_and(|m| !m.is_empty()));
                } else {
                    assert!(response.allowed, "a denial without a status");
                }
                let json = review.to_json();
                serde_json::from_slice::<serde_json::Value>(&json).expect("answer is JSON");
                sent.push(Ok(json));
            }
            Err(bad) => {
                assert!(bad.uid.is_none(), "a readable uid must be answered");
                assert!(decoded.is_err(), "a decodable body was refused");
                assert!(!bad.message.is_empty());
                sent.push(Err(bad.message));
            }
        }
    }
    let cached = run(&harness.cached)
        .into_review()
        .map(|review| review.to_json())
        .map_err(|bad| bad.message);
    assert_eq!(
        cached, sent[0],
        "decoding with the objects left raw (decision cache) answers like the one-pass decode"
    );
});
