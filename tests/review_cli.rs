//! The `review` command on every fixture AdmissionReview, compared with golden answers in
//! `tests/fixtures/reviews/expected/`. Regenerate them after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --test review_cli` and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const NOW: &str = "2026-11-26T12:00:00Z";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn review(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
    command
        .arg("review")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match stdin {
        None => command.output().expect("runs"),
        Some(input) => {
            use std::io::Write;
            let mut child = command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawns");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("writes");
            child.wait_with_output().expect("runs")
        }
    }
}

fn review_fixture(file: &Path) -> Output {
    review(
        &[
            file.to_str().expect("utf-8 path"),
            "--objects",
            "tests/fixtures/objects",
            "--objects",
            "tests/fixtures/configmaps",
            "--now",
            NOW,
        ],
        None,
    )
}

#[test]
fn every_fixture_matches_its_golden_answer() {
    let dir = fixtures().join("reviews");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reviews dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 18, "fixtures missing: {files:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for file in &files {
        let output = review_fixture(file);
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let expected_path = dir.join("expected").join(file.file_name().expect("name"));
        let actual = String::from_utf8(output.stdout).expect("utf-8");
        if update {
            std::fs::write(&expected_path, &actual).expect("writes golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "--- {}\n+++ actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        mismatches.join("\n")
    );
}

/// kubectl prints each warning on a `Warning:` line: they are kept under 120 characters where
/// possible (names are embedded, so not always). The one longer warning in the fixtures is the
/// apiserver's own sentence, kept word for word.
#[test]
fn fixture_warnings_fit_on_a_line() {
    const APISERVER_SENTENCE: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";
    let dir = fixtures().join("reviews").join("expected");
    let mut warnings = 0;
    for entry in std::fs::read_dir(&dir).expect("expected dir") {
        let path = entry.expect("entry").path();
        let answer: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("golden")).expect("json");
        let listed = answer["response"]["warnings"].as_array().cloned();
        for warning in listed.unwrap_or_default() {
            let warning = warning.as_str().expect("a string");
            warnings += 1;
            assert!(
                warning == APISERVER_SENTENCE || warning.chars().count() <= 120,
                "{}: {} characters: {warning}",
                path.display(),
                warning.chars().count()
            );
        }
    }
    assert!(
        warnings >= 5,
        "only {warnings} warnings in {}",
        dir.display()
    );
}

#[test]
fn verdicts_follow_the_fixture_names() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("reviews")).expect("dir") {
        let path = entry.expect("entry").path();
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| path.extension().is_some_and(|e| e == "json"))
        else {
            continue;
        };
        checked += 1;
        let out: Value =
            serde_json::from_slice(&review_fixture(&path).stdout).expect("json answer");
        let input: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
        assert_eq!(out["response"]["uid"], input["request"]["uid"], "{name}");
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        let allowed = out["response"]["allowed"].as_bool().expect("allowed");
        assert_eq!(allowed, !name.contains("denied"), "{name}: {out}");
        if name.contains("denied") {
            assert_eq!(out["response"]["status"]["code"], 422, "{name}");
            assert!(
                !out["response"]["status"]["details"]["causes"]
                    .as_array()
                    .expect("causes")
                    .is_empty(),
                "{name}"
            );
        }
        if name.contains("warned") || name.contains("missing") || name.contains("ratcheted") {
            assert!(
                out["response"]["warnings"]
                    .as_array()
                    .is_some_and(|w| !w.is_empty()),
                "{name}: {out}"
            );
        }
    }
    assert!(checked >= 18, "only {checked} fixture reviews");
}

#[test]
fn stdin_is_read_when_no_file_is_given() {
    let body = std::fs::read(fixtures().join("reviews/policy-v1-allowed.json")).expect("reads");
    let output = review(&["--now", NOW], Some(&body));
    assert!(output.status.success());
    let out: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(out["response"]["allowed"], true);
    let warnings = out["response"]["warnings"]
        .as_array()
        .expect("warnings without --objects");
    assert!(warnings.iter().any(|w| {
        w.as_str()
            .is_some_and(|w| w.contains("ConfigMap \"payments-backend-ca\" not found"))
    }));
}

#[test]
fn settings_flags_change_verdicts() {
    let missing = fixtures().join("reviews/policy-allowed-missing-ca.json");
    let args = |extra: &[&str]| {
        let mut v = vec![
            missing.to_str().expect("utf-8").to_owned(),
            "--objects".into(),
            "tests/fixtures/configmaps".into(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |extra: &[&str]| -> Value {
        let owned = args(extra);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        serde_json::from_slice(&review(&refs, None).stdout).expect("json")
    };
    assert_eq!(run(&[])["response"]["allowed"], true);
    assert_eq!(run(&["--missing-refs=deny"])["response"]["allowed"], false);
    let invalid = fixtures().join("reviews/policy-denied-invalid-ca.json");
    let out: Value = serde_json::from_slice(
        &review(
            &[
                invalid.to_str().expect("utf-8"),
                "--objects",
                "tests/fixtures/configmaps",
                "--invalid-refs",
                "warn",
            ],
            None,
        )
        .stdout,
    )
    .expect("json");
    assert_eq!(out["response"]["allowed"], true);
}

#[test]
fn unreadable_input_exits_2_with_a_message() {
    let output = review(&[], Some(b"this is not json"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("body is not JSON"));
    let output = review(&["/nonexistent/review.json"], None);
    assert_eq!(output.status.code(), Some(2));
    // The cause once: error types carry it in their message, not also as a `source()`.
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "backendtls-webhook: cannot read /nonexistent/review.json: No such file or directory (os error 2)\n"
    );
    let output = review(
        &[
            "tests/fixtures/reviews/policy-v1-allowed.json",
            "--objects",
            "/nonexistent",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
}

/// An object where an AdmissionReview belongs, in YAML or in JSON: the message says what
/// `review` reads and points to `validate`.
#[test]
fn objects_given_to_review_point_to_validate() {
    let yaml = "tests/fixtures/validate/clean/policy.yaml";
    let output = review(&[yaml], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "backendtls-webhook review: {yaml}: body is not JSON: expected value at line 1 column 1\n  review answers an AdmissionReview in JSON, as the apiserver sends it; this is YAML: to check the objects in it, use `backendtls-webhook validate {yaml}`\n"
        )
    );
    let bare = br#"{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"p"}}"#;
    let output = review(&[], Some(bare));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "backendtls-webhook review: -: expected apiVersion \"admission.k8s.io/v1\" and kind \"AdmissionReview\", got \"gateway.networking.k8s.io/v1\" and \"BackendTLSPolicy\": an object, not the AdmissionReview the apiserver sends about one; to check objects, use `backendtls-webhook validate FILE` (tests/fixtures/reviews/ holds AdmissionReviews as the apiserver sends them)\n"
    );
}

#[test]
fn a_review_with_a_uid_but_no_request_body_is_answered() {
    let output = review(&[], Some(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE"}}"#));
    assert_eq!(output.status.code(), Some(0));
    let out: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(out["response"]["uid"], "u-1");
    assert_eq!(out["response"]["status"]["code"], 400);
}

/// Two policies on the same target and section, in an `--objects` file without creation times
/// (as files have), each reviewed as the apiserver sends a CREATE (with its creation time):
/// exactly one is told it wins, the first by namespace/name.
#[test]
fn conflicting_policies_without_creation_times_have_one_winner() {
    let policy = |name: &str| {
        serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}],
                "validation": {"wellKnownCACertificates": "System", "hostname": "payments-backend.shop.svc"}
            }
        })
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = dir.path().join("policies.json");
    let stream = format!("{}\n{}\n", policy("alpha"), policy("beta"));
    std::fs::write(&objects, stream).expect("writes");
    let objects = objects.to_str().expect("utf-8");
    let mut verdicts = Vec::new();
    for (name, other) in [("alpha", "beta"), ("beta", "alpha")] {
        let mut object = policy(name);
        object["metadata"]["creationTimestamp"] = "2026-11-26T11:59:00Z".into();
        let request = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "10000000-0000-4000-8000-0000000000ff",
                "kind": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"},
                "resource": {"group": "gateway.networking.k8s.io", "version": "v1", "resource": "backendtlspolicies"},
                "name": name, "namespace": "shop", "operation": "CREATE",
                "userInfo": {"username": "admin"},
                "object": object
            }
        });
        let body = serde_json::to_vec(&request).expect("encodes");
        let output = review(&["-", "--objects", objects, "--now", NOW], Some(&body));
        assert!(output.status.success(), "{output:?}");
        let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON answer");
        let warnings = answer["response"]["warnings"].to_string();
        let conflict = format!(
            "BackendTLSPolicy shop/{other} also targets Service payments-backend, section https; "
        );
        assert!(warnings.contains(&conflict), "{warnings}");
        verdicts.push(warnings);
    }
    assert!(
        verdicts[0].contains("this policy wins (no creation time to compare, first by namespace/name): shop/beta will be Accepted=False (Conflicted)"),
        "{}",
        verdicts[0]
    );
    assert!(
        verdicts[1].contains("shop/alpha wins (no creation time to compare, first by namespace/name): this policy will be Accepted=False (Conflicted)"),
        "{}",
        verdicts[1]
    );
}
