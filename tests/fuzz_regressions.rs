//! Inputs found by the cargo-fuzz targets (fuzz/, `make fuzz`), replayed as plain tests: every
//! file under tests/fixtures/fuzz/TARGET/ goes through what that target calls, with the same
//! checks, so a crash once found stays fixed without nightly features or libFuzzer.
//!
//! - `review/`: `admission::decode` and `Reviewer::review` over the fixture objects, with and
//!   without a decision cache (the answers must be the same);
//! - `ca_bundle/`: `ca_bundle::parse_bundle` and `assess`;
//! - `objects/`: `objects::parse_str`, the JSON form of each document, position lookups.
//!
//! The hand-written seeds of fuzz/seeds/TARGET/ are replayed too.
//!
//! To add one: copy the input from fuzz/artifacts/TARGET/ into tests/fixtures/fuzz/TARGET/
//! under a name that says what it exercises (tests/fixtures/fuzz/README.md lists them).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{self, Clock, Reviewer};
use backendtls_webhook::lookup::BundleCache;
use backendtls_webhook::objects;
use backendtls_webhook::validate::Settings;
use backendtls_webhook::validate::ca_bundle::{FindingKind, Severity, assess, parse_bundle};
use serde_json::Value;

/// One committed input: a fuzzing finding or a hand-written seed.
struct Input {
    path: PathBuf,
    bytes: Vec<u8>,
    /// From tests/fixtures/fuzz/: each one is documented there, and must still load.
    finding: bool,
}

/// The inputs committed for one target, in name order: the findings in
/// tests/fixtures/fuzz/TARGET/ (a target may have none), then the hand-written seeds of
/// fuzz/seeds/TARGET/ (which must exist).
fn inputs(target: &str) -> Vec<Input> {
    let dirs = [
        (common::fixtures().join("fuzz").join(target), true),
        (
            common::fixtures().join("../../fuzz/seeds").join(target),
            false,
        ),
    ];
    let mut inputs = Vec::new();
    for (dir, finding) in dirs {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if finding && error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => panic!("{}: {error}", dir.display()),
        };
        let mut found: Vec<PathBuf> = entries
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        inputs.extend(found.into_iter().map(|path| Input {
            bytes: std::fs::read(&path).expect("read"),
            path,
            finding,
        }));
    }
    assert!(!inputs.is_empty(), "no inputs for {target}");
    inputs
}

/// Line breaks as YAML counts them (`\n`, `\r\n`, a lone `\r`).
fn line_breaks(text: &str) -> usize {
    text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count()
}

#[test]
fn objects_inputs_load_and_round_trip() {
    let mut documents_checked = 0;
    for Input {
        path,
        bytes,
        finding,
    } in inputs("objects")
    {
        let name = path.display();
        // Seeds may be deliberately broken; every committed finding loads.
        let (text, documents) = match std::str::from_utf8(&bytes) {
            Ok(text) => (text, objects::parse_str("fuzz", text)),
            Err(error) => {
                assert!(!finding, "{name}: {error}");
                continue;
            }
        };
        let documents = match documents {
            Ok(documents) => documents,
            Err(error) => {
                assert!(!finding, "{name}: {error}");
                continue;
            }
        };
        documents_checked += documents.len();
        // A position may be one line past the last: an empty value at the very end of text
        // without a final line break.
        let last_line = line_breaks(text) + 2;
        for document in &documents {
            assert!(document.value.is_object(), "{name}: {:?}", document.value);
            for entry in document.positions.iter() {
                for (line, column) in [entry.value, entry.key].into_iter().flatten() {
                    assert!(
                        (1..=last_line).contains(&line) && column >= 1,
                        "{name}: {entry:?}"
                    );
                }
                let (line, _) = document.positions.nearest(&entry.path);
                assert!((1..=last_line).contains(&line), "{name}: {entry:?}");
            }
            if document.value["kind"] == "List" && document.value["apiVersion"] == "v1" {
                continue;
            }
            let json = serde_json::to_string(&document.value).expect("serialises");
            let again = objects::parse_str("round-trip", &json)
                .unwrap_or_else(|e| panic!("{name}: JSON form {json} does not load: {e}"));
            let values: Vec<&Value> = again.iter().map(|d| &d.value).collect();
            assert_eq!(values, [&document.value], "{name}");
        }
    }
    assert!(documents_checked > 0, "no document was checked");
}

#[test]
fn ca_bundle_inputs_are_assessed() {
    for Input { path, bytes, .. } in inputs("ca_bundle") {
        let name = path.display();
        let text = String::from_utf8_lossy(&bytes);
        let bundle = parse_bundle(&text);
        assert!(bundle.certificates().len() <= bundle.certificate_blocks());
        for now in [0, 1_780_272_000, 253_402_300_799] {
            let findings = assess(&bundle, now, 30 * 86_400);
            assert!(
                findings
                    .windows(2)
                    .all(|p| p[0].severity() <= p[1].severity()),
                "{name}: invalid findings first: {findings:?}"
            );
            if bundle.certificates().is_empty() {
                assert!(
                    findings.iter().any(|f| f.severity() == Severity::Invalid),
                    "{name}: {findings:?}"
                );
            }
            if bundle.certificates().iter().any(|c| c.can_anchor_at(now)) {
                assert!(
                    findings
                        .iter()
                        .all(|f| f.kind != FindingKind::NoUsableAnchor),
                    "{name}: {findings:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn review_inputs_are_answered() {
    let bundles = Arc::new(BundleCache::default());
    let lookup = {
        let documents = objects::load_paths(&[
            common::fixtures().join("objects"),
            common::fixtures().join("configmaps"),
        ])
        .expect("fixture objects");
        backendtls_webhook::lookup::MemoryLookup::from_objects(
            documents.iter().map(|d| &d.value),
            &bundles,
        )
    };
    let lookup = Arc::new(lookup);
    let reviewer = || {
        Reviewer::new(
            Settings::default(),
            lookup.clone(),
            bundles.clone(),
            Clock::Fixed(1_780_272_000),
        )
    };
    let (reviewer, cached) = (reviewer(), reviewer().with_decision_cache(64, 30));
    for Input {
        path, bytes: body, ..
    } in inputs("review")
    {
        let name = path.display();
        let decoded = admission::decode(&body);
        let answer = reviewer.review(&body, Duration::from_secs(1)).await;
        let decided = answer.decision().is_some();
        let sent = match answer.into_review() {
            Ok(review) => {
                assert_eq!(decided, decoded.is_ok(), "{name}");
                let response = review.response();
                assert!(!response.uid.is_empty(), "{name}");
                assert!(response.warnings.len() <= 256, "{name}");
                assert_eq!(response.allowed, response.status.is_none(), "{name}");
                let json = review.to_json();
                serde_json::from_slice::<Value>(&json).expect("answer is JSON");
                Ok(json)
            }
            Err(bad) => {
                assert!(bad.uid.is_none() && decoded.is_err(), "{name}: {bad:?}");
                Err(bad.message)
            }
        };
        // The decision cache decodes the objects in two passes: the same answer as one pass.
        let cached = cached
            .review(&body, Duration::from_secs(1))
            .await
            .into_review()
            .map(|review| review.to_json())
            .map_err(|bad| bad.message);
        assert_eq!(cached, sent, "{name}");
    }
}

/// Found by the objects target (huge-integer-json-round-trip.yaml): a number that needs
/// correct rounding (17 significant digits, exponent 110) reads differently from JSON text than
/// from YAML text. YAML scalars go through Rust's `f64::from_str` (correctly rounded); JSON
/// numbers through `serde_json::Number::from_str`, which without serde_json's `float_roundtrip`
/// feature is only best-effort and lands 2 ULP off here.
#[test]
fn json_and_yaml_read_the_same_float() {
    let text = "1.1111111111111111e110";
    let exact: f64 = text.parse().expect("f64");
    let from = |source: &str| -> f64 {
        let documents = objects::parse_str("float", source).expect("loads");
        documents[0].value["x"].as_f64().expect("a number")
    };
    assert_eq!(from(&format!("x: {text}\n")), exact, "YAML");
    assert_eq!(from(&format!("{{\"x\": {text}}}")), exact, "JSON");
}
