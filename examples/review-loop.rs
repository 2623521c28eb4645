//! Answers one sample AdmissionReview over and over, in process, for instruction counts.
//!
//! ```text
//! cargo build --release --example review-loop
//! target/release/examples/review-loop policy|configmap serve|serve-cached|decode|null ITERATIONS
//! ```
//!
//! Only for `make bench-instructions` (`bench/instructions.sh`), which runs it under
//! callgrind: an instruction count does not move with the other tenants of a shared machine,
//! so it shows a change of a few percent that CPU time cannot. `serve` is the reviewer `serve
//! --objects tests/fixtures/samples/objects.yaml` runs, with the decision cache off (every
//! request takes the full path) or on (`serve-cached`, the default: after the first request,
//! the answer comes from the cache); `null` is what the null webhook
//! (`examples/null-webhook.rs`) does with a body: read `request.uid`, write an allowing
//! answer. `decode` is the null webhook with `serve`'s decode (`admission::decode`, the one
//! pass without a decision cache) in place of its own: what the review costs before anything
//! is validated, the floor of the full path. TLS, HTTP, logging and metrics are not included.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{self, Clock, Reviewer};
use backendtls_webhook::lookup::{BundleCache, MemoryLookup};
use backendtls_webhook::objects;
use backendtls_webhook::validate::Settings;
use serde::Deserialize;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POLICY: &[u8] = include_bytes!("../tests/fixtures/samples/admission-backendtlspolicy.json");
const CONFIG_MAP: &[u8] =
    include_bytes!("../tests/fixtures/samples/admission-configmap-3certs.json");
const OBJECTS: &str = include_str!("../tests/fixtures/samples/objects.yaml");
/// 2026-11-26T12:00:00Z, inside every sample certificate's validity.
const NOW: i64 = 1_795_694_400;
/// Decisions `serve` caches by default (`--decision-cache-size`).
const CACHE_SIZE: usize = 1024;

/// The null webhook's view of a body.
#[derive(Deserialize)]
struct NullReview<'a> {
    #[serde(borrow)]
    request: NullRequest<'a>,
}

#[derive(Deserialize)]
struct NullRequest<'a> {
    #[serde(borrow)]
    uid: &'a str,
}

fn null_answer(body: &[u8]) -> Vec<u8> {
    let Ok(review) = serde_json::from_slice::<NullReview<'_>>(body) else {
        return Vec::new();
    };
    allowing_answer(review.request.uid)
}

/// How the null webhook answers a body.
type Answer = fn(&[u8]) -> Vec<u8>;

/// The null webhook's answer, after decoding the request as `serve` does.
fn decode_answer(body: &[u8]) -> Vec<u8> {
    match admission::decode(body) {
        Ok(request) => allowing_answer(&request.uid),
        Err(_) => Vec::new(),
    }
}

fn allowing_answer(uid: &str) -> Vec<u8> {
    let uid = serde_json::to_string(uid).unwrap_or_default();
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{{"uid":{uid},"allowed":true}}}}"#
    )
    .into_bytes()
}

fn reviewer(cache: bool) -> Result<Reviewer, String> {
    let bundles = Arc::new(BundleCache::default());
    let documents = objects::parse_str("objects.yaml", OBJECTS).map_err(|e| e.to_string())?;
    let lookup = MemoryLookup::from_objects(documents.iter().map(|d| &d.value), &bundles);
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(lookup),
        bundles,
        Clock::Fixed(NOW),
    );
    Ok(if cache {
        reviewer.with_decision_cache(CACHE_SIZE, 30)
    } else {
        reviewer
    })
}

fn run(request: &str, server: &str, iterations: usize) -> Result<usize, String> {
    let body = match request {
        "policy" => POLICY,
        "configmap" => CONFIG_MAP,
        other => return Err(format!("unknown request {other:?}: policy or configmap")),
    };
    let mut bytes = 0;
    let answer: Option<Answer> = match server {
        "null" => Some(null_answer),
        "decode" => Some(decode_answer),
        _ => None,
    };
    if let Some(answer) = answer {
        for _ in 0..iterations {
            bytes += answer(std::hint::black_box(body)).len();
        }
        return Ok(bytes);
    }
    let reviewer = match server {
        "serve" => reviewer(false)?,
        "serve-cached" => reviewer(true)?,
        other => {
            return Err(format!(
                "unknown server {other:?}: serve, serve-cached, decode or null"
            ));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    for _ in 0..iterations {
        let review = runtime
            .block_on(reviewer.review(std::hint::black_box(body), Duration::from_secs(10)))
            .into_review()
            .map_err(|e| e.to_string())?;
        bytes += review.to_json().len();
    }
    Ok(bytes)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [request, server, iterations] = args.as_slice() else {
        eprintln!("usage: review-loop policy|configmap serve|serve-cached|decode|null ITERATIONS");
        return ExitCode::from(2);
    };
    let Ok(iterations) = iterations.parse::<usize>() else {
        eprintln!("review-loop: ITERATIONS must be a number, got {iterations:?}");
        return ExitCode::from(2);
    };
    match run(request, server, iterations) {
        Ok(bytes) => {
            println!("{bytes}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("review-loop: {error}");
            ExitCode::from(2)
        }
    }
}
