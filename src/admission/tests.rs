use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::decode::decode_envelope;
use super::request::Pruned;
use super::*;
use crate::lookup::{BoxFuture, BundleCache, Lookup, LookupError, MemoryLookup};
use crate::validate::{Operation, Settings, Snapshot, Wants};

const NOW: i64 = 1_780_272_000;
const BUDGET: Duration = Duration::from_secs(10);
const ROOT_CA: &str = include_str!("../../tests/fixtures/certs/root-ca.pem");

fn policy_object(hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "payments-backend-tls", "namespace": "shop"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend"}],
            "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "payments-backend-ca"}], "hostname": hostname}
        }
    })
}

fn config_map(ca: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "payments-backend-ca", "namespace": "shop"}, "data": {"ca.crt": ca}})
}

fn review_body(kind: Value, operation: &str, object: Value, old: Value) -> Vec<u8> {
    let name = object
        .pointer("/metadata/name")
        .or_else(|| old.pointer("/metadata/name"))
        .cloned()
        .unwrap_or(json!("payments-backend-tls"));
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0d3c5e4a-1", "kind": kind, "name": name, "namespace": "shop", "operation": operation,
                    "userInfo": {"username": "alice"}, "object": object, "oldObject": old, "dryRun": false}
    }))
    .expect("json")
}

fn policy_kind() -> Value {
    json!({"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"})
}

fn config_map_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "ConfigMap"})
}

fn reviewer_with(objects: &[Value], settings: Settings) -> Reviewer {
    let bundles = Arc::new(BundleCache::default());
    let lookup = MemoryLookup::from_objects(objects, &bundles);
    Reviewer::new(settings, Arc::new(lookup), bundles, Clock::Fixed(NOW))
}

fn reviewer() -> Reviewer {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments-backend", "namespace": "shop"}});
    reviewer_with(
        &[
            config_map(ROOT_CA),
            service,
            policy_object("payments-backend.shop.svc"),
        ],
        Settings::default(),
    )
}

/// The decision and the answer of a decided request.
fn decided(answer: Answer) -> (Decision, AdmissionReview) {
    match answer {
        Answer::Decided(decision, review) => (decision, review),
        other => panic!("not decided: {other:?}"),
    }
}

async fn answer(reviewer: &Reviewer, body: &[u8]) -> Value {
    let review = reviewer
        .review(body, BUDGET)
        .await
        .into_review()
        .expect("answered");
    serde_json::from_slice(&review.to_json()).expect("json")
}

#[tokio::test]
async fn allowed_policies_echo_uid_and_envelope() {
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("payments-backend.shop.svc"),
        Value::Null,
    );
    let out = answer(&reviewer(), &body).await;
    assert_eq!(
        out,
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "0d3c5e4a-1", "allowed": true}})
    );
}

#[tokio::test]
async fn denials_carry_422_causes_and_an_apiserver_style_message() {
    let mut object = policy_object("10.0.0.7");
    object["spec"]["targetRefs"][0]["kind"] = json!("service");
    let body = review_body(policy_kind(), "CREATE", object, Value::Null);
    let out = answer(&reviewer(), &body).await;
    let response = &out["response"];
    assert_eq!(response["allowed"], json!(false));
    let status = &response["status"];
    assert_eq!(status["code"], json!(422));
    assert_eq!(status["reason"], json!("Invalid"));
    assert_eq!(status["status"], json!("Failure"));
    assert_eq!(
        status["message"],
        json!(
            r#"BackendTLSPolicy.gateway.networking.k8s.io "payments-backend-tls" is invalid: [spec.targetRefs[0].kind: Invalid value: "service": kinds are case-sensitive: did you mean "Service"?, spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address]"#
        )
    );
    assert_eq!(
        status["details"],
        json!({
            "name": "payments-backend-tls", "group": "gateway.networking.k8s.io", "kind": "BackendTLSPolicy",
            "causes": [
                {"reason": "FieldValueInvalid", "field": "spec.targetRefs[0].kind", "message": r#"Invalid value: "service": kinds are case-sensitive: did you mean "Service"?"#},
                {"reason": "FieldValueInvalid", "field": "spec.validation.hostname", "message": r#"Invalid value: "10.0.0.7": must be a DNS name, not an IP address"#}
            ]
        })
    );
    assert!(response.get("patch").is_none() && response.get("patchType").is_none());
}

#[tokio::test]
async fn a_single_error_is_not_bracketed() {
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("10.0.0.7"),
        Value::Null,
    );
    let out = answer(&reviewer(), &body).await;
    assert_eq!(
        out["response"]["status"]["message"],
        json!(
            r#"BackendTLSPolicy.gateway.networking.k8s.io "payments-backend-tls" is invalid: spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address"#
        )
    );
}

#[tokio::test]
async fn warnings_are_returned_with_allowed_responses() {
    let mut object = policy_object("payments-backend.shop.svc");
    object["spec"]["validation"]["caCertificateRefs"][0]["name"] = json!("not-there");
    let out = answer(
        &reviewer(),
        &review_body(policy_kind(), "CREATE", object, Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(true));
    assert_eq!(
        out["response"]["warnings"],
        json!([
            r#"spec.validation.caCertificateRefs[0]: ConfigMap "not-there" not found in "shop": ResolvedRefs=False until created"#
        ])
    );
}

#[tokio::test]
async fn deletes_of_policies_are_allowed_unchecked() {
    let out = answer(
        &reviewer(),
        &review_body(
            policy_kind(),
            "DELETE",
            Value::Null,
            policy_object("10.0.0.7"),
        ),
    )
    .await;
    assert_eq!(
        out["response"],
        json!({"uid": "0d3c5e4a-1", "allowed": true})
    );
}

#[tokio::test]
async fn v1alpha3_is_validated_and_unknown_versions_pass_with_a_warning() {
    let v1alpha3 = json!({"group": "gateway.networking.k8s.io", "version": "v1alpha3", "kind": "BackendTLSPolicy"});
    let out = answer(
        &reviewer(),
        &review_body(v1alpha3, "CREATE", policy_object("10.0.0.7"), Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(false));
    let v1alpha2 = json!({"group": "gateway.networking.k8s.io", "version": "v1alpha2", "kind": "BackendTLSPolicy"});
    let out = answer(
        &reviewer(),
        &review_body(v1alpha2, "CREATE", json!({}), Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(true));
    assert!(
        out["response"]["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("v1alpha2 is not validated")
    );
}

#[tokio::test]
async fn config_map_reviews_guard_referenced_bundles() {
    let r = reviewer();
    let broken = answer(
        &r,
        &review_body(
            config_map_kind(),
            "UPDATE",
            config_map("garbage"),
            config_map(ROOT_CA),
        ),
    )
    .await;
    assert_eq!(broken["response"]["allowed"], json!(false));
    let message = broken["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.starts_with(
            r#"ConfigMap "payments-backend-ca" is invalid: data[ca.crt]: Invalid value: "#
        ),
        "{message}"
    );
    assert_eq!(broken["response"]["status"]["details"]["group"], json!(""));
    let fine = answer(
        &r,
        &review_body(
            config_map_kind(),
            "UPDATE",
            config_map(ROOT_CA),
            config_map("garbage"),
        ),
    )
    .await;
    assert_eq!(fine["response"]["allowed"], json!(true));
    let deleted = answer(
        &r,
        &review_body(
            config_map_kind(),
            "DELETE",
            Value::Null,
            config_map(ROOT_CA),
        ),
    )
    .await;
    assert_eq!(deleted["response"]["allowed"], json!(true));
    assert!(
        deleted["response"]["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("deleting the CA bundle of BackendTLSPolicy shop/payments-backend-tls")
    );
    let mut other = config_map("garbage");
    other["metadata"]["name"] = json!("unrelated");
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": config_map_kind(), "name": "unrelated", "namespace": "shop", "operation": "CREATE", "object": other}
    }))
    .expect("json");
    assert_eq!(
        answer(&r, &body).await["response"],
        json!({"uid": "u", "allowed": true})
    );
}

#[tokio::test]
async fn other_kinds_are_allowed_with_a_misconfiguration_warning() {
    let kind = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let out = answer(
        &reviewer(),
        &review_body(kind, "CREATE", json!({}), Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(true));
    assert!(
        out["response"]["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("check the ValidatingWebhookConfiguration")
    );
}

#[tokio::test]
async fn bad_reviews_with_a_uid_are_answered_with_400() {
    let cases: [(Value, &str); 6] = [
        (
            json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u1", "kind": policy_kind(), "operation": "CREATE"}}),
            "expected apiVersion \"admission.k8s.io/v1\"",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1", "kind": policy_kind(), "operation": 7}}),
            "request.operation must be a string, got integer",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1", "operation": "CREATE"}}),
            "request.kind is required",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1", "kind": policy_kind(), "operation": "PATCH"}}),
            "request.operation: unknown operation \"PATCH\"",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1", "kind": policy_kind(), "operation": "CREATE"}}),
            "request.object is required for CREATE",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1", "kind": policy_kind(), "operation": "CREATE", "object": [1]}}),
            "request.object must be an object, got array",
        ),
    ];
    for (body, fragment) in cases {
        let out = answer(&reviewer(), &serde_json::to_vec(&body).expect("json")).await;
        let response = &out["response"];
        assert_eq!(response["uid"], json!("u1"));
        assert_eq!(response["allowed"], json!(false));
        assert_eq!(response["status"]["code"], json!(400), "{body}");
        let message = response["status"]["message"].as_str().expect("message");
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

#[tokio::test]
async fn unreadable_bodies_are_errors_without_a_review() {
    for (body, fragment) in [
        (&b"not json"[..], "body is not JSON"),
        (b"", "empty body"),
        (b"[1,2]", "not a JSON object"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            "request is missing",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}"#,
            "request.uid must be a string",
        ),
    ] {
        let err = reviewer()
            .review(body, BUDGET)
            .await
            .into_review()
            .expect_err("no uid");
        assert!(
            err.message.contains(fragment),
            "{:?} lacks {fragment:?}",
            err.message
        );
    }
}

struct StalledLookup;

impl Lookup for StalledLookup {
    fn snapshot<'a>(&'a self, _: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        Box::pin(std::future::pending())
    }

    fn describe(&self) -> String {
        "stalled".into()
    }
}

#[tokio::test(start_paused = true)]
async fn slow_lookups_end_in_a_retryable_denial_inside_the_budget() {
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(StalledLookup),
        Arc::new(BundleCache::default()),
        Clock::Fixed(NOW),
    );
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("a.example"),
        Value::Null,
    );
    let started = tokio::time::Instant::now();
    let review = reviewer
        .review(&body, Duration::from_secs(5))
        .await
        .into_review()
        .expect("answered");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let status = review.into_response().status.expect("denied");
    assert_eq!(status.code, Some(503));
    assert!(
        status
            .message
            .expect("message")
            .contains("retry the request")
    );
}

/// A lookup that counts its calls and can change its generation.
struct Counting {
    inner: MemoryLookup,
    calls: std::sync::atomic::AtomicUsize,
    generation: std::sync::atomic::AtomicU64,
}

impl Lookup for Counting {
    fn snapshot<'a>(&'a self, wants: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.snapshot(wants)
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn describe(&self) -> String {
        "counting".into()
    }
}

#[tokio::test]
async fn identical_requests_reuse_the_decision_with_their_own_uid() {
    let bundles = Arc::new(BundleCache::default());
    let counting = Arc::new(Counting {
        inner: MemoryLookup::from_objects(&[config_map(ROOT_CA)], &bundles),
        calls: Default::default(),
        generation: Default::default(),
    });
    let reviewer = Reviewer::new(
        Settings::default(),
        counting.clone(),
        bundles,
        Clock::Fixed(NOW),
    )
    .with_decision_cache(16, 30);
    let calls = || counting.calls.load(std::sync::atomic::Ordering::SeqCst);
    let denied = review_body(
        policy_kind(),
        "CREATE",
        policy_object("10.0.0.7"),
        Value::Null,
    );
    let first = answer(&reviewer, &denied).await;
    assert_eq!(calls(), 1);
    let again = answer(&reviewer, &denied).await;
    assert_eq!(calls(), 1, "answered from the cache");
    assert_eq!(first, again);
    let other_uid = String::from_utf8(denied.clone())
        .expect("utf-8")
        .replace("0d3c5e4a-1", "another-uid");
    let renamed = answer(&reviewer, other_uid.as_bytes()).await;
    assert_eq!(calls(), 1);
    assert_eq!(renamed["response"]["uid"], json!("another-uid"));
    assert_eq!(renamed["response"]["status"], first["response"]["status"]);
    // A different object, or a change in what the lookup knows, is decided afresh.
    answer(
        &reviewer,
        &review_body(
            policy_kind(),
            "CREATE",
            policy_object("a.example"),
            Value::Null,
        ),
    )
    .await;
    assert_eq!(calls(), 2);
    counting
        .generation
        .store(1, std::sync::atomic::Ordering::SeqCst);
    answer(&reviewer, &denied).await;
    assert_eq!(calls(), 3);
}

#[tokio::test]
async fn cached_answers_encode_byte_for_byte_like_fresh_ones() {
    let fresh = reviewer();
    let cached = reviewer().with_decision_cache(16, 30);
    let warned = policy_object("payments-backend.shop.svc");
    let mut unknown_field = warned.clone();
    unknown_field["spec"]["colour"] = json!("blue");
    for object in [warned, unknown_field, policy_object("10.0.0.7")] {
        let body = String::from_utf8(review_body(policy_kind(), "CREATE", object, Value::Null))
            .expect("utf-8");
        // The first request fills the cache; the others, with other uids (one that needs
        // escaping), are answered from it.
        for uid in ["0d3c5e4a-1", "second", r#"quo\"te\\"#] {
            let body = body.replace("0d3c5e4a-1", uid);
            let (decision, from_cache) = decided(cached.review(body.as_bytes(), BUDGET).await);
            let from_scratch = fresh
                .review(body.as_bytes(), BUDGET)
                .await
                .into_review()
                .expect("answered");
            let hit = uid != "0d3c5e4a-1";
            assert_eq!(decision.cached, hit);
            // The miss that fills the cache and every hit use the stored encoding (were
            // ENCODED_PREFIX to drift from the envelope, they would quietly serialise again).
            assert!(from_cache.encoded_rest.is_some());
            assert_eq!(
                String::from_utf8(from_cache.to_json()).expect("utf-8"),
                String::from_utf8(from_scratch.to_json()).expect("utf-8"),
            );
            assert_eq!(from_cache, from_scratch);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn failed_lookups_are_not_cached() {
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(StalledLookup),
        Arc::new(BundleCache::default()),
        Clock::Fixed(NOW),
    )
    .with_decision_cache(16, 30);
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("a.example"),
        Value::Null,
    );
    for _ in 0..2 {
        let started = tokio::time::Instant::now();
        let review = reviewer
            .review(&body, Duration::from_secs(5))
            .await
            .into_review()
            .expect("answered");
        assert_eq!(
            review.into_response().status.expect("denied").code,
            Some(503)
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "looked up again, not cached"
        );
    }
}

#[tokio::test]
async fn escaped_strings_in_the_envelope_are_decoded() {
    // The envelope's strings are borrowed from the body unless they hold escapes; both read
    // the same. Here the name and namespace are spelled with \u escapes.
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("10.0.0.7"),
        Value::Null,
    );
    let text = String::from_utf8(body)
        .expect("utf-8")
        .replace(r#""namespace":"shop""#, r#""namespace":"sh\u006fp""#)
        .replace(r#""uid":"0d3c5e4a-1""#, r#""uid":"0d3c5e4a\u002d1""#);
    assert!(text.contains(r"sh\u006fp"), "the namespace is escaped");
    let (decision, review) = decided(reviewer().review(text.as_bytes(), BUDGET).await);
    assert_eq!(decision.namespace, "shop");
    assert_eq!(decision.verdict, Verdict::Denied);
    assert_eq!(review.response().uid, "0d3c5e4a-1");
}

#[tokio::test]
async fn bodies_that_are_not_utf8_are_read_where_possible() {
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("payments-backend.shop.svc"),
        Value::Null,
    );
    // Invalid UTF-8 in a field the webhook skips (userInfo): still answered, as before.
    let skipped = String::from_utf8(body.clone())
        .expect("utf-8")
        .replacen("alice", "al\u{1}ce", 1)
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect::<Vec<u8>>();
    assert!(std::str::from_utf8(&skipped).is_err());
    let answer = answer(&reviewer(), &skipped).await;
    assert_eq!(answer["response"]["allowed"], json!(true), "{answer}");
    // Invalid UTF-8 in the uid: no uid can be read, so a 400 that says where.
    let broken = String::from_utf8(body)
        .expect("utf-8")
        .replacen("0d3c5e4a-1", "0d3c5e4a\u{1}1", 1)
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect::<Vec<u8>>();
    let err = reviewer()
        .review(&broken, BUDGET)
        .await
        .into_review()
        .expect_err("no readable uid");
    assert!(
        err.message
            .starts_with("body is not JSON: invalid unicode code point at line 1 column "),
        "{}",
        err.message
    );
}

/// What a reviewer answers to a body: the encoded AdmissionReview, or the error without one.
async fn outcome(reviewer: &Reviewer, body: &[u8]) -> Result<String, BadReview> {
    let review = reviewer.review(body, BUDGET).await.into_review()?;
    Ok(String::from_utf8(review.to_json()).expect("utf-8"))
}

#[tokio::test]
async fn one_pass_and_raw_object_decoding_answer_alike() {
    // Without a decision cache the objects are parsed with the envelope, in one pass; with
    // one they are left raw and parsed on a miss. Every fixture, and objects nested around
    // serde_json's recursion limit (which the one pass counts from the body, not from the
    // object), get the same answer either way.
    let one_pass = reviewer();
    let raw_objects = reviewer().with_decision_cache(16, 30);
    let mut bodies = Vec::new();
    for dir in ["tests/fixtures/reviews", "tests/fixtures/samples"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                bodies.push(std::fs::read(&path).expect("fixture"));
            }
        }
    }
    assert!(bodies.len() >= 10, "fixtures found: {}", bodies.len());
    // Invalid UTF-8 in a part of the object the decode prunes (managedFields): the one pass
    // skips it, a raw object cannot hold it (found by the review fuzz target).
    let mut managed = policy_object("payments-backend.shop.svc");
    managed["metadata"]["managedFields"] =
        json!([{"manager": "kubectl", "fieldsType~": "FieldsV1"}]);
    let managed = review_body(policy_kind(), "CREATE", managed, Value::Null)
        .into_iter()
        .map(|b| if b == b'~' { 0xff } else { b })
        .collect::<Vec<u8>>();
    assert!(decode_envelope::<&RawValue>(&managed).is_err());
    assert!(decode_envelope::<Pruned>(&managed).is_ok());
    bodies.push(managed);
    // Bodies that do not decode: the cached reviewer answers from its own failed decoding.
    let sample = String::from_utf8(bodies[0].clone()).expect("utf-8 fixture");
    for bad in [
        String::new(),
        "not json".to_owned(),
        sample.replacen("admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1),
        sample.replacen(r#""operation":"#, r#""operation":7,"x":"#, 1),
        sample.replacen(r#""uid":"#, r#""uid":false,"x":"#, 1),
    ] {
        assert!(
            decode_envelope::<&RawValue>(bad.as_bytes()).is_err(),
            "{bad}"
        );
        bodies.push(bad.into_bytes());
    }
    for depth in 120..=130 {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        bodies.push(
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"deep","kind":{{"group":"gateway.networking.k8s.io","version":"v1","kind":"BackendTLSPolicy"}},"operation":"CREATE","object":{{"spec":{nested}}}}}}}"#
            )
            .into_bytes(),
        );
    }
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(
            outcome(&raw_objects, body).await,
            outcome(&one_pass, body).await,
            "body {i}: {}",
            String::from_utf8_lossy(body)
        );
    }
    // Among them a body that the one pass alone cannot read, but that is a valid request.
    let fallback = bodies.iter().filter(|body| {
        decode_envelope::<Pruned>(body).is_err()
            && decode_envelope::<&RawValue>(body).is_ok_and(|raw| raw.parse(body.len()).is_ok())
    });
    assert_eq!(fallback.count(), 2);
}

#[tokio::test]
async fn operations_are_decoded_once_whatever_their_spelling() {
    // A known operation spelled with an escape is that operation (here a DELETE: allowed
    // unchecked, where a CREATE of this object would be denied).
    let body = String::from_utf8(review_body(
        policy_kind(),
        "DELETE",
        Value::Null,
        policy_object("10.0.0.7"),
    ))
    .expect("utf-8")
    .replace(r#""operation":"DELETE""#, r#""operation":"DEL\u0045TE""#);
    assert!(body.contains(r"DEL\u0045TE"));
    let (decision, review) = decided(reviewer().review(body.as_bytes(), BUDGET).await);
    assert_eq!(decision.operation, Some(Operation::Delete));
    assert!(review.response().allowed);
    // An unknown operation: 400 for the kinds this webhook judges (its text clipped), no
    // operation in the decision; a kind it does not judge is allowed with the warning as before.
    let long = format!("P{}", "A".repeat(300));
    let body = review_body(
        policy_kind(),
        &long,
        policy_object("a.example"),
        Value::Null,
    );
    let (decision, review) = decided(reviewer().review(&body, BUDGET).await);
    assert_eq!(decision.operation, None);
    let status = review.into_response().status.expect("refused");
    assert_eq!(status.code, Some(400));
    assert_eq!(
        status.message.expect("message"),
        format!(
            "request.operation: unknown operation \"P{}\"...(301 bytes, truncated)",
            "A".repeat(255)
        )
    );
    let deployment = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let out = answer(
        &reviewer(),
        &review_body(deployment, "PATCH", json!({}), Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(true));
}

#[tokio::test]
async fn answers_say_whether_a_request_was_decided_malformed_or_unreadable() {
    let body = review_body(
        policy_kind(),
        "CREATE",
        policy_object("a.example"),
        Value::Null,
    );
    let decided = reviewer().review(&body, BUDGET).await;
    assert!(matches!(decided, Answer::Decided(..)), "{decided:?}");
    // A request refused before any rule ran is decided too: its verdict says so.
    let unknown = review_body(policy_kind(), "PATCH", json!({}), Value::Null);
    let refused = reviewer().review(&unknown, BUDGET).await;
    assert_eq!(refused.decision().map(|d| d.verdict), Some(Verdict::Error));
    let malformed = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":7}}"#;
    let answer = reviewer().review(malformed, BUDGET).await;
    let Answer::Malformed(review) = answer else {
        panic!("not malformed: {answer:?}")
    };
    assert_eq!(review.response().uid, "u");
    assert_eq!(
        review.response().status.as_ref().and_then(|s| s.code),
        Some(400)
    );
    let unreadable = reviewer().review(b"{}", BUDGET).await;
    assert!(
        matches!(unreadable, Answer::Unreadable(_)),
        "{unreadable:?}"
    );
    assert!(unreadable.decision().is_none());
}

#[tokio::test]
async fn a_ca_object_review_reads_what_the_rules_read_of_it() {
    // Envoy Gateway reads a ConfigMap's only key whatever it is called: the decoder keeps it,
    // so the webhook judges the bundle the implementation will use, as `validate` does.
    let settings = Settings {
        profile: Arc::new(crate::validate::profile::ENVOY_GATEWAY),
        ..Settings::default()
    };
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments-backend", "namespace": "shop"}});
    let r = reviewer_with(
        &[
            config_map(ROOT_CA),
            service,
            policy_object("payments-backend.shop.svc"),
        ],
        settings,
    );
    let mut only_key = config_map(ROOT_CA);
    only_key["data"] = json!({"bundle.pem": ROOT_CA});
    only_key["metadata"]["labels"] = json!({"team": "payments"});
    let out = answer(
        &r,
        &review_body(config_map_kind(), "CREATE", only_key.clone(), Value::Null),
    )
    .await;
    assert_eq!(out["response"]["allowed"], json!(true));
    let warnings = out["response"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings[0]
            .as_str()
            .expect("text")
            .contains(r#"reads "bundle.pem" instead"#),
        "{warnings:?}"
    );
    // With a second key it is not read: the bundle is missing.
    only_key["data"]["notes"] = json!("hello");
    let out = answer(
        &r,
        &review_body(config_map_kind(), "CREATE", only_key, Value::Null),
    )
    .await;
    let text = out["response"].to_string();
    assert!(!text.contains("bundle.pem\\\" instead"), "{text}");
    assert!(text.contains("has no key"), "{text}");
}

#[tokio::test]
async fn every_kind_is_decoded_within_the_budget_with_the_cache_on_or_off() {
    // A Secret is never answered from the decision cache, so the cached reviewer decodes it on
    // a path of its own: the decoding budget holds there too. Its unknown field, a list of
    // 100,000 small objects, is kept whole (the rules warn on it) and would take ten times its
    // text decoded.
    let settings = Settings {
        profile: Arc::new(crate::validate::profile::ENVOY_GATEWAY),
        ..Settings::default()
    };
    let items: Vec<Value> = (0..100_000).map(|_| json!({"a": 0})).collect();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "payments-ca", "namespace": "shop"},
        "data": {}, "extra": items});
    let policy = {
        let mut p = policy_object("payments-backend.shop.svc");
        p["spec"]["extra"] = json!(items);
        p
    };
    let secret_kind = json!({"group": "", "version": "v1", "kind": "Secret"});
    for (kind, object) in [(secret_kind, secret), (policy_kind(), policy)] {
        let body = review_body(kind, "CREATE", object, Value::Null);
        for cache in [false, true] {
            let r = reviewer_with(&[], settings.clone());
            let r = if cache {
                r.with_decision_cache(16, 30)
            } else {
                r
            };
            let answer = answer(&r, &body).await;
            let message = answer["response"]["status"]["message"].as_str();
            assert!(
                message.is_some_and(|m| m.contains("too many JSON values")),
                "cache {cache}: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn a_uid_of_at_most_256_bytes_is_echoed_and_a_longer_one_is_refused() {
    let body = |uid: &str| {
        String::from_utf8(review_body(
            policy_kind(),
            "CREATE",
            policy_object("payments-backend.shop.svc"),
            Value::Null,
        ))
        .expect("utf-8")
        .replace("0d3c5e4a-1", uid)
    };
    let longest = "u".repeat(super::request::MAX_UID_BYTES);
    assert_eq!(longest.len(), 256);
    let answer = answer(&reviewer(), body(&longest).as_bytes()).await;
    assert_eq!(answer["response"]["uid"], longest.as_str());
    let over = reviewer()
        .review(body(&format!("{longest}u")).as_bytes(), BUDGET)
        .await;
    let Answer::Unreadable(bad) = over else {
        panic!("not refused: {over:?}")
    };
    assert_eq!(
        bad.message,
        "request.uid is 257 bytes long: at most 256 are accepted (the apiserver sends 36-byte UUIDs)"
    );
}

#[test]
fn the_decision_cache_bounds_hold_whichever_is_set_first() {
    let bytes_first = reviewer()
        .with_decision_cache_bytes(64 << 10)
        .with_decision_cache(16, 30);
    let size_first = reviewer()
        .with_decision_cache(16, 30)
        .with_decision_cache_bytes(64 << 10);
    assert_eq!(bytes_first.decisions.max_bytes(), 64 << 10);
    assert_eq!(size_first.decisions.max_bytes(), 64 << 10);
    assert!(bytes_first.decisions.enabled() && size_first.decisions.enabled());
}
