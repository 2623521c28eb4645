//! The router without sockets: requests go through `oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::admission::{Clock, Reviewer};
use crate::lookup::{BundleCache, MemoryLookup};
use crate::validate::Settings;

const ALLOWED: &[u8] = include_bytes!("../../tests/fixtures/reviews/policy-v1-allowed.json");
const DENIED: &[u8] = include_bytes!("../../tests/fixtures/reviews/policy-denied-ip-hostname.json");

fn app_with(limits: Limits) -> (Router, Arc<Metrics>) {
    let bundles = Arc::new(BundleCache::default());
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(MemoryLookup::new()),
        bundles,
        Clock::Fixed(1_795_694_400),
    );
    let metrics = Arc::new(Metrics::new());
    let state = AppState::new(Arc::new(reviewer), Arc::clone(&metrics), None, limits);
    (router(Arc::new(state)), metrics)
}

fn app() -> Router {
    app_with(Limits::default()).0
}

async fn send(
    app: Router,
    method: Method,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, String, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).expect("utf-8"),
    )
}

#[tokio::test]
async fn reviews_are_answered_with_200_json() {
    for (body, allowed) in [(ALLOWED, true), (DENIED, false)] {
        let (status, content_type, text) = send(app(), Method::POST, "/validate", body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let review: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(review["response"]["allowed"], allowed, "{text}");
    }
}

#[tokio::test]
async fn the_apiserver_timeout_parameter_is_accepted() {
    let (status, _, _) = send(app(), Method::POST, "/validate?timeout=5s", ALLOWED).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        timeout_parameter("timeout=5s"),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        timeout_parameter("a=b&timeout=0m25s"),
        Some(Duration::from_secs(25))
    );
    assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(timeout_parameter("timeout=banana"), None);
    // Capped at the apiserver's own limit, however long (even past what an Instant can add).
    assert_eq!(timeout_parameter("timeout=31s"), Some(MAX_BUDGET));
    assert_eq!(
        timeout_parameter("timeout=4500000000000000h"),
        Some(MAX_BUDGET)
    );
    assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration(""), None);
    assert_eq!(parse_go_duration("10"), None);
}

#[tokio::test]
async fn oversized_bodies_get_413_with_one_line() {
    let limits = Limits {
        body_bytes: 1024,
        ..Limits::default()
    };
    let big = vec![b' '; 2048];
    let (status, _, text) = send(
        app_with(limits.clone()).0,
        Method::POST,
        "/validate",
        big.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, "request body exceeds the limit of 1024 bytes\n");
    // Without Content-Length (a streamed body) the limit still applies while reading.
    let stream = futures_stream(big);
    let (status, _, text) = send(app_with(limits).0, Method::POST, "/validate", stream).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, "request body exceeds the limit of 1024 bytes\n");
}

/// A body streamed in 100-byte chunks, without a length.
fn futures_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<axum::body::Bytes> = bytes
        .chunks(100)
        .map(axum::body::Bytes::copy_from_slice)
        .collect();
    Body::new(Chunked(chunks.into_iter()))
}

struct Chunked(std::vec::IntoIter<axum::body::Bytes>);

impl axum::body::HttpBody for Chunked {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .next()
                .map(|chunk| Ok(hyper::body::Frame::data(chunk))),
        )
    }
}

#[tokio::test]
async fn bodies_that_are_not_reviews() {
    let (status, content_type, text) = send(app(), Method::POST, "/validate", "hello").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert!(text.starts_with("body is not JSON: "), "{text}");
    assert_eq!(text.lines().count(), 1);
    let with_uid = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc","kind":7}}"#;
    let (status, _, text) = send(app(), Method::POST, "/validate", with_uid).await;
    assert_eq!(status, StatusCode::OK);
    let review: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(review["response"]["uid"], "abc");
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 400);
    assert_eq!(
        review["response"]["status"]["message"],
        "invalid AdmissionReview: request.kind must be a object, got integer"
    );
}

#[tokio::test]
async fn wrong_methods_and_paths() {
    let (status, _, text) = send(app(), Method::GET, "/validate", Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(text, "method GET not allowed on /validate: use POST\n");
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/validate")
        .body(Body::empty())
        .expect("request");
    let response = app().oneshot(request).await.expect("infallible");
    assert_eq!(response.headers()[header::ALLOW], "POST");
    let (status, _, text) = send(app(), Method::POST, "/mutate", ALLOWED).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        text,
        "no route for /mutate: the webhook answers POST /validate\n"
    );
    let (status, _, _) = send(app(), Method::POST, "/healthz", Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let (status, _, text) = send(app(), Method::GET, "/healthz", Body::empty()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, text) = send(app(), Method::GET, "/readyz", Body::empty()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok\n"));
    let (app, metrics) = app_with(Limits::default());
    send(app.clone(), Method::POST, "/validate", ALLOWED).await;
    send(app.clone(), Method::POST, "/validate", DENIED).await;
    send(app.clone(), Method::POST, "/validate", "nope").await;
    let (status, content_type, text) = send(app, Method::GET, "/metrics", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"));
    for line in [
        r#"backendtls_webhook_requests_total{kind="BackendTLSPolicy",operation="CREATE",verdict="allowed"} 1"#,
        r#"backendtls_webhook_requests_total{kind="BackendTLSPolicy",operation="CREATE",verdict="denied"} 1"#,
        r#"backendtls_webhook_requests_total{kind="unknown",operation="unknown",verdict="error"} 1"#,
        "backendtls_webhook_request_duration_seconds_count 3",
        "backendtls_webhook_requests_in_flight 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_eq!(metrics.encode(), text);
}
