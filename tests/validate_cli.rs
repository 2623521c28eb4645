//! The `validate` command on the fixture trees in `tests/fixtures/validate/`: exact text and
//! JSON output compared with golden files in `tests/fixtures/validate/expected/` (regenerate
//! them after an intended change with `UPDATE_GOLDEN=1 cargo test --test validate_cli` and
//! review the diff), exit codes, standard input, directory walks, parse errors, the settings
//! that change the verdict, and `--cluster` against the in-process fake apiserver.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::fake_apiserver::FakeApiserver;
use serde_json::{Value, json};

/// The fixture certificates are valid then (tests/fixtures/certs/README.md).
const NOW: &str = "2026-06-01T00:00:00Z";

const TREE: &str = "tests/fixtures/validate";

fn tree(name: &str) -> String {
    format!("{TREE}/{name}")
}

/// Runs `backendtls-webhook validate ARGS --now NOW` in the crate directory.
fn validate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
    command
        .arg("validate")
        .args(args)
        .args(["--now", NOW])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawns");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default()).expect("writes");
    drop(input);
    child.wait_with_output().expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(TREE)
        .join("expected")
}

/// `(golden file, arguments, exit code)`.
const GOLDEN: &[(&str, &[&str], i32)] = &[
    ("clean.txt", &["tests/fixtures/validate/clean"], 0),
    ("errors.txt", &["tests/fixtures/validate/errors"], 1),
    (
        "errors.json",
        &["tests/fixtures/validate/errors", "--output", "json"],
        1,
    ),
    ("warnings.txt", &["tests/fixtures/validate/warnings"], 0),
    (
        "warnings-missing-refs-deny.txt",
        &["tests/fixtures/validate/warnings", "--missing-refs=deny"],
        1,
    ),
];

#[test]
fn output_matches_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for &(golden, args, exit) in GOLDEN {
        let output = validate(args, None);
        assert_eq!(code(&output), exit, "{args:?}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{args:?}");
        let actual = stdout(&output);
        let path = expected_dir().join(golden);
        if update {
            std::fs::write(&path, &actual).expect("writes golden");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!("--- {}\n+++ actual\n{actual}", path.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        mismatches.join("\n")
    );
}

/// The positions in the golden files, spelled out against the fixture text.
#[test]
fn findings_point_at_the_offending_node() {
    let output = stdout(&validate(&[&tree("errors")], None));
    let policies = format!("{TREE}/errors/policies.yaml");
    for expected in [
        // The value of an invalid field.
        format!(
            "{policies}:18:15: error: spec.validation.hostname: Invalid value: \"10.0.0.7\": must be a DNS name, not an IP address"
        ),
        // The key of an unknown field (an error offline, as with kubectl's strict validation).
        format!(
            "{policies}:12:5: error: spec.targetRefs[0].port: Forbidden: unknown field: select a Service port by name with sectionName"
        ),
        // The key of a `namespace` inside a reference.
        format!(
            "{policies}:36:7: error: spec.validation.caCertificateRefs[0].namespace: Forbidden: cross-namespace references are not allowed"
        ),
        // The key of an option (quoted in the source).
        format!(
            "{policies}:40:5: error: spec.options[bad key!]: Invalid value: \"bad key!\": option keys must be qualified names"
        ),
        // A CEL rule, at the object it is declared on.
        format!(
            "{policies}:52:5: error: spec.validation: Invalid value: must not contain both CACertificateRefs and WellKnownCACertificates"
        ),
        // A warning inside a flow mapping.
        format!(
            "{policies}:50:5: warning: spec.targetRefs[0]: Service \"orders\" not found in \"shop\""
        ),
        // A policy using a broken bundle of the same tree, and the bundle itself.
        format!(
            "{TREE}/errors/garbage.yaml:14:7: error: spec.validation.caCertificateRefs[0]: Invalid value: ConfigMap \"garbage-ca\" ca.crt: certificate 0 (line 1) is not valid base64"
        ),
        format!(
            "{TREE}/errors/garbage.yaml:26:5: error: data[ca.crt]: Invalid value: certificate 0 (line 1) is not valid base64: unexpected character '!' on line 2 (this ConfigMap is the CA bundle of BackendTLSPolicy shop/catalog-tls)"
        ),
        // JSON input has positions too.
        format!(
            "{TREE}/errors/policy.json:6:30: error: spec.targetRefs[0].group: Invalid value: \"core\""
        ),
        // A served but deprecated version: the apiserver's warning, which offline no one else
        // gives.
        format!(
            "{policies}:43:13: warning: apiVersion: The v1alpha3 version of BackendTLSPolicy has been deprecated and will be removed in a future release of the API. Please upgrade to v1."
        ),
        // A version Gateway API v1.6 does not serve.
        format!(
            "{TREE}/errors/v1alpha2.yaml:2:13: error: apiVersion: Unsupported value: \"gateway.networking.k8s.io/v1alpha2\": not served by Gateway API v1.6"
        ),
        // The second definition of the same object.
        format!(
            "{TREE}/errors/zz-duplicate.yaml:5:9: error: metadata.name: Duplicate value: \"cross-namespace\": BackendTLSPolicy shop/cross-namespace is already defined at {policies}:23:9"
        ),
    ] {
        assert!(
            output.lines().any(|l| l.starts_with(&expected)),
            "no line starts with\n{expected}\nin\n{output}"
        );
    }
    assert_eq!(
        output.lines().last(),
        Some(
            "10 errors, 2 warnings in 8 objects; checked 7 BackendTLSPolicies and 2 ConfigMaps from 7 files; skipped 3 objects of other kinds"
        )
    );
}

#[test]
fn json_output_agrees_with_the_text_output() {
    let text = stdout(&validate(&[&tree("errors")], None));
    let json: Value =
        serde_json::from_slice(&validate(&[&tree("errors"), "--output", "json"], None).stdout)
            .expect("one JSON document");
    assert_eq!(
        json["summary"],
        json!({
            "errors": 10, "warnings": 2, "objects": 9, "objectsWithFindings": 8, "files": 7,
            "policies": 7, "configMaps": 2, "secrets": 0, "clusterTrustBundles": 0,
            "otherObjects": 3, "notObjects": 0, "unparsableFiles": 0
        })
    );
    let findings = json["findings"].as_array().expect("findings");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(findings.len() + 1, lines.len());
    for (finding, line) in findings.iter().zip(&lines) {
        let field = finding["field"].as_str().expect("field");
        let rendered = format!(
            "{}:{}:{}: {}: {field}{}{}",
            finding["file"].as_str().expect("file"),
            finding["line"],
            finding["column"],
            finding["severity"].as_str().expect("severity"),
            if field.is_empty() { "" } else { ": " },
            finding["message"].as_str().expect("message"),
        );
        assert_eq!(&rendered, line);
        assert_eq!(
            finding["reason"].is_null(),
            finding["severity"] == "warning",
            "{finding}"
        );
    }
    let duplicate = findings
        .iter()
        .find(|f| f["reason"] == "FieldValueDuplicate")
        .expect("duplicate");
    assert_eq!(duplicate["kind"], "BackendTLSPolicy");
    assert_eq!(duplicate["namespace"], "shop");
    assert_eq!(duplicate["name"], "cross-namespace");
    assert_eq!(duplicate["document"], 1);
    let garbage = findings
        .iter()
        .find(|f| f["field"] == "data[ca.crt]")
        .expect("bundle finding");
    assert_eq!(garbage["kind"], "ConfigMap");
    assert_eq!(garbage["document"], 2, "second document of garbage.yaml");
}

#[test]
fn exit_codes() {
    let clean = validate(&[&tree("clean")], None);
    assert_eq!(code(&clean), 0, "{}", stdout(&clean));
    assert_eq!(code(&validate(&[&tree("errors")], None)), 1);
    assert_eq!(code(&validate(&[&tree("unparsable/broken.yaml")], None)), 2);
    // One unreadable input fails the run, whatever the others hold.
    let missing = validate(
        &[&tree("clean"), "tests/fixtures/validate/nonexistent"],
        None,
    );
    assert_eq!(code(&missing), 2);
    assert_eq!(stdout(&missing), "");
    assert_eq!(
        stderr(&missing),
        "backendtls-webhook validate: cannot read tests/fixtures/validate/nonexistent: No such file or directory (os error 2)\n"
    );
}

#[test]
fn warnings_pass_unless_warnings_are_errors() {
    let warned = validate(&[&tree("warnings")], None);
    assert_eq!(code(&warned), 0);
    assert!(stdout(&warned).contains(
        ": warning: spec.validation.caCertificateRefs[0]: ConfigMap \"missing-ca\" not found"
    ));
    let strict = validate(&[&tree("warnings"), "--warnings-as-errors"], None);
    assert_eq!(code(&strict), 1);
    assert_eq!(stdout(&strict), stdout(&warned), "only the verdict changes");
    // A clean tree stays clean.
    assert_eq!(
        code(&validate(&[&tree("clean"), "--warnings-as-errors"], None)),
        0
    );
}

#[test]
fn missing_refs_deny_turns_the_warning_into_an_error() {
    let denied = validate(&[&tree("warnings"), "--missing-refs=deny"], None);
    assert_eq!(code(&denied), 1);
    let out = stdout(&denied);
    assert!(
        out.contains(
            "policy.yaml:15:7: error: spec.validation.caCertificateRefs[0]: Not found: \"missing-ca\": ConfigMap \"missing-ca\" not found in \"shop\""
        ),
        "{out}"
    );
    assert!(
        out.ends_with("1 error, 0 warnings in 1 object; checked 1 BackendTLSPolicy and 0 ConfigMaps from 1 file; skipped 1 object of other kinds\n"),
        "{out}"
    );
}

#[test]
fn directories_are_walked_and_references_resolve_across_files() {
    // The policy alone: its ConfigMap and Service (in subdirectories) are missing.
    let alone = stdout(&validate(&[&tree("clean/policy.yaml")], None));
    assert!(
        alone.contains("ConfigMap \"payments-backend-ca\" not found"),
        "{alone}"
    );
    assert!(
        alone.contains("Service \"payments-backend\" not found"),
        "{alone}"
    );
    // The tree: configmaps/*.yaml and services/*.json are found and resolve everything.
    let walked = stdout(&validate(&[&tree("clean")], None));
    assert_eq!(
        walked,
        "0 errors, 0 warnings; checked 1 BackendTLSPolicy and 1 ConfigMap from 3 files; skipped 1 object of other kinds\n"
    );
    // The same files named one by one.
    let named = stdout(&validate(
        &[
            &tree("clean/policy.yaml"),
            &tree("clean/configmaps/payments-backend-ca.yaml"),
            &tree("clean/services/payments-backend.json"),
        ],
        None,
    ));
    assert_eq!(named, walked);
}

#[test]
fn stdin_is_read_with_dash_and_positions_are_kept() {
    let text = std::fs::read(tree("errors/policies.yaml")).expect("fixture");
    let from_stdin = validate(
        &[
            "-",
            &tree("errors/services.yaml"),
            &tree("errors/good-ca.yaml"),
        ],
        Some(&text),
    );
    assert_eq!(code(&from_stdin), 1);
    let from_file = stdout(&validate(&[&tree("errors")], None));
    let expected: Vec<String> = from_file
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{TREE}/errors/policies.yaml:")))
        .map(|rest| format!("-:{rest}"))
        .collect();
    let out = stdout(&from_stdin);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.pop(),
        Some(
            "5 errors, 2 warnings in 3 objects; checked 3 BackendTLSPolicies and 1 ConfigMap from 3 files; skipped 3 objects of other kinds"
        )
    );
    assert_eq!(lines, expected);
    // `kustomize build | validate -` with a JSON stream works the same.
    let json_stream = b"{\"apiVersion\": \"gateway.networking.k8s.io/v1\", \"kind\": \"BackendTLSPolicy\", \"metadata\": {\"name\": \"p\"}, \"spec\": {\"targetRefs\": [{\"group\": \"\", \"kind\": \"Service\", \"name\": \"s\"}], \"validation\": {\"wellKnownCACertificates\": \"System\", \"hostname\": \"10.1.1.1\"}}}";
    let out = stdout(&validate(&["-"], Some(json_stream)));
    assert_eq!(
        out,
        "-:1:127: warning: spec.targetRefs[0]: Service \"s\" not found in \"default\": Accepted=False (TargetNotFound) until created\n\
         -:1:239: error: spec.validation.hostname: Invalid value: \"10.1.1.1\": must be a DNS name, not an IP address\n\
         1 error, 1 warning in 1 object; checked 1 BackendTLSPolicy and 0 ConfigMaps from 1 file\n",
        "positions in a JSON stream; the namespace defaults to default"
    );
}

#[test]
fn parse_errors_name_the_file_line_and_column() {
    // A file named explicitly must parse.
    let broken = tree("unparsable/broken.yaml");
    let output = validate(&[&tree("clean"), &broken], None);
    assert_eq!(code(&output), 2);
    assert_eq!(
        stdout(&output),
        "",
        "no report when the input is unreadable"
    );
    assert_eq!(
        stderr(&output),
        format!("{broken}:5:13: error: mapping values are not allowed in this context\n")
    );
    // From standard input the file is `-`; an unclosed bracket is reported where it opens.
    let output = validate(&["-"], Some(b"a: 1\nb: [\n"));
    assert_eq!(code(&output), 2);
    assert_eq!(stderr(&output), "-:2:4: error: unclosed bracket '['\n");
}

/// Found by walking a directory (Helm templates, say), a file that does not parse is skipped
/// with a note and counted; `--strict-files` makes it the error it is when named.
#[test]
fn unparsable_files_in_directories_are_skipped_unless_strict() {
    let broken = tree("unparsable/broken.yaml");
    let output = validate(&[&tree("clean"), &tree("unparsable")], None);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "{broken}:5:13: note: skipped, not YAML or JSON: mapping values are not allowed in this context (name the file, or pass --strict-files, to make this an error)\n"
        )
    );
    assert_eq!(
        stdout(&output),
        "0 errors, 0 warnings; checked 1 BackendTLSPolicy and 1 ConfigMap from 4 files; skipped 1 object of other kinds, 1 file that does not parse\n"
    );
    let strict = validate(
        &[&tree("clean"), &tree("unparsable"), "--strict-files"],
        None,
    );
    assert_eq!(code(&strict), 2);
    assert_eq!(stdout(&strict), "");
    assert_eq!(
        stderr(&strict),
        format!("{broken}:5:13: error: mapping values are not allowed in this context\n")
    );
}

/// Documents that are not Kubernetes objects (a top-level list, a CI file, Helm values) are
/// skipped and counted, in a file named explicitly too.
#[test]
fn documents_that_are_not_kubernetes_objects_are_skipped_and_counted() {
    let input = b"- just\n- a list\n---\nname: CI\non: [push]\njobs: {test: {runs-on: ubuntu-latest}}\n---\nplain scalar\n---\napiVersion: v1\nkind: List\nitems:\n- 42\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  targetRefs: [{group: \"\", kind: Service, name: s}]\n  validation: {wellKnownCACertificates: System, hostname: 10.0.0.1}\n";
    let output = validate(&["-"], Some(input));
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let out = stdout(&output);
    assert!(
        out.contains("-:23:59: error: spec.validation.hostname: Invalid value: \"10.0.0.1\""),
        "{out}"
    );
    assert!(
        out.ends_with(
            "1 error, 1 warning in 1 object; checked 1 BackendTLSPolicy and 0 ConfigMaps from 1 file; skipped 1 object of other kinds, 4 documents that are not Kubernetes objects\n"
        ),
        "{out}"
    );
}

/// No BackendTLSPolicy and no CA ConfigMap: a mistyped path or a wrong directory must not go
/// green in CI. Exit 2 with a message, unless `--allow-empty`.
#[test]
fn nothing_to_check_fails_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let texts = dir.path().join("texts");
    std::fs::create_dir(&texts).expect("mkdir");
    std::fs::write(texts.join("notes.txt"), "apiVersion: v1\nkind: ConfigMap\n").expect("writes");
    let empty = empty.to_str().expect("utf-8");
    let texts = texts.to_str().expect("utf-8");
    /// `(arguments, standard input, what the message says)`.
    type Case<'a> = (&'a [&'a str], Option<&'a [u8]>, String);
    let cases: [Case<'_>; 5] = [
        (
            &[empty],
            None,
            format!("no .yaml, .yml or .json file in {empty}"),
        ),
        (
            &[texts],
            None,
            format!("no .yaml, .yml or .json file in {texts}"),
        ),
        (
            &["-"],
            Some(b""),
            "no BackendTLSPolicy and no ConfigMap with ca.crt in standard input (1 file read)"
                .to_owned(),
        ),
        // This repository's manifests: a Deployment, a webhook configuration, ... 9 files.
        (
            &["manifests/base"],
            None,
            "no BackendTLSPolicy and no ConfigMap with ca.crt in manifests/base (7 files read)"
                .to_owned(),
        ),
        (
            &["-", empty],
            Some(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {a: b}\n"),
            "no BackendTLSPolicy and no ConfigMap with ca.crt in the 2 paths given (1 file read)"
                .to_owned(),
        ),
    ];
    for (args, stdin, what) in cases {
        let output = validate(args, stdin);
        assert_eq!(code(&output), 2, "{args:?}: {}", stdout(&output));
        assert_eq!(
            stderr(&output),
            format!(
                "backendtls-webhook validate: nothing to check: {what} (a mistyped path?); pass --allow-empty to accept that\n"
            ),
            "{args:?}"
        );
        let mut allowed: Vec<&str> = args.to_vec();
        allowed.push("--allow-empty");
        let output = validate(&allowed, stdin);
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{args:?}");
        assert!(
            stdout(&output).starts_with("0 errors, 0 warnings; checked 0 BackendTLSPolicies and "),
            "{}",
            stdout(&output)
        );
    }
    let output = validate(&["manifests/base", "--allow-empty"], None);
    assert_eq!(
        stdout(&output),
        "0 errors, 0 warnings; checked 0 BackendTLSPolicies and 0 ConfigMaps from 7 files; skipped 9 objects of other kinds\n"
    );
}

#[test]
fn objects_of_other_kinds_are_skipped() {
    let input = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {bogus: true}\n---\napiVersion: networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata:\n  name: other-group\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca}\ndata: {ca.crt: \"\"}\n";
    let output = validate(&["-", "--invalid-refs=warn"], Some(input));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "; checked 0 BackendTLSPolicies and 1 ConfigMap from 1 file; skipped 2 objects of other kinds\n"
        ),
        "{}",
        stdout(&output)
    );
}

#[test]
fn secrets_and_cluster_trust_bundles_are_counted_apart_from_policies() {
    // envoy-gateway reads CA bundles from Secrets and ClusterTrustBundles: objects.yaml's two
    // Secrets and one ClusterTrustBundle are checked, and counted as what they are.
    let output = validate(
        &[
            "tests/fixtures/profiles/objects.yaml",
            "tests/fixtures/profiles/envoy-gateway/accepted.yaml",
            "--implementation=envoy-gateway",
        ],
        None,
    );
    assert!(
        stdout(&output).contains(
            "; checked 1 BackendTLSPolicy, 1 ConfigMap, 2 Secrets and 1 ClusterTrustBundle from 2 files"
        ),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    // CA objects alone are not policies.
    let output = validate(
        &[
            "tests/fixtures/profiles/objects.yaml",
            "--implementation=envoy-gateway",
        ],
        None,
    );
    assert!(
        stdout(&output).contains(
            "; checked 0 BackendTLSPolicies, 1 ConfigMap, 2 Secrets and 1 ClusterTrustBundle from 1 file"
        ),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

fn load(path: &str) -> Vec<Value> {
    backendtls_webhook::objects::load_paths(&[Path::new(env!("CARGO_MANIFEST_DIR")).join(path)])
        .expect("fixture")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_objects_resolve_references_and_files_win() {
    let mut cluster_ca = load("tests/fixtures/validate/clean/configmaps/payments-backend-ca.yaml");
    cluster_ca[0]["metadata"]["name"] = json!("cluster-ca");
    let policy = |name: &str, service: &str| {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": service, "sectionName": "https"}],
                "validation": {"wellKnownCACertificates": "System", "hostname": "x.shop.svc"}
            }
        })
    };
    let mut objects = cluster_ca;
    objects.extend(load("tests/fixtures/validate/errors/services.yaml"));
    // An older policy on the target of `from-cluster`: a conflict the file cannot see alone.
    objects.push(policy("old-policy", "payments-backend"));
    // The cluster's copy of `from-nowhere` targets payments-backend too, but the file's copy
    // (which targets inventory) replaces it: no conflict is reported for it.
    objects.push(policy("from-nowhere", "payments-backend"));
    let server = FakeApiserver::start(objects, &["v1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = server.kubeconfig(dir.path());
    let kubeconfig = kubeconfig.to_str().expect("utf-8").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        validate(&[&tree("cluster"), "--cluster", &kubeconfig], None)
    })
    .await
    .expect("joins");
    let out = stdout(&output);
    assert_eq!(code(&output), 0, "{out}{}", stderr(&output));
    let file = format!("{TREE}/cluster/policies.yaml");
    assert_eq!(
        out,
        format!(
            "{file}:10:5: warning: spec.targetRefs[0]: BackendTLSPolicy shop/old-policy also targets Service payments-backend, section https; shop/old-policy is older and wins: this policy will be Accepted=False (Conflicted)\n\
             {file}:34:7: warning: spec.validation.caCertificateRefs[0]: ConfigMap \"nowhere-ca\" not found in \"shop\": ResolvedRefs=False until created\n\
             0 errors, 2 warnings in 2 objects; checked 2 BackendTLSPolicies and 0 ConfigMaps from 1 file\n"
        )
    );
    // Offline, cluster-ca and the Services are missing too.
    let offline = stdout(&validate(&[&tree("cluster")], None));
    assert!(
        offline.contains("ConfigMap \"cluster-ca\" not found"),
        "{offline}"
    );
    assert!(!offline.contains("old-policy"), "{offline}");
}

/// Large inputs are checked on several threads; the report keeps the input order.
#[test]
fn many_objects_keep_file_and_document_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in 0..3 {
        let text: String = (0..250)
            .map(|i| {
                format!(
                    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata:\n  name: p-{file}-{i}\nspec:\n  targetRefs:\n  - {{group: \"\", kind: Service, name: s-{file}-{i}}}\n  validation:\n    wellKnownCACertificates: System\n    hostname: 10.0.{file}.{i}\n"
                )
            })
            .collect();
        std::fs::write(dir.path().join(format!("f{file}.yaml")), text).expect("writes");
    }
    let output = validate(&[dir.path().to_str().expect("utf-8")], None);
    assert_eq!(code(&output), 1);
    let out = stdout(&output);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.pop(),
        Some(
            "750 errors, 750 warnings in 750 objects; checked 750 BackendTLSPolicies and 0 ConfigMaps from 3 files"
        )
    );
    let mut previous = (String::new(), 0);
    for (n, line) in lines.iter().enumerate() {
        let mut parts = line.splitn(3, ':');
        let file = parts.next().expect("file").to_owned();
        let number: usize = parts.next().expect("line").parse().expect("number");
        assert!(
            (file.clone(), number) > previous,
            "out of order at {n}: {line}"
        );
        let expected = if n % 2 == 0 {
            ": warning: spec.targetRefs[0]: "
        } else {
            ": error: spec.validation.hostname: "
        };
        assert!(line.contains(expected), "{line}");
        previous = (file, number);
    }
}

/// The README's `validate` example prints exactly what the README shows.
#[test]
fn readme_example_is_exact() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let start = readme
        .find("```console\n$ backendtls-webhook validate ")
        .expect("a validate example in the README");
    let block = &readme[start + "```console\n$ ".len()..];
    let block = &block[..block.find("```").expect("closed block")];
    let (command, expected) = block.split_once('\n').expect("command and output");
    let args: Vec<&str> = command.split_whitespace().skip(2).collect();
    let output = validate(&args, None);
    assert_eq!(stdout(&output), expected);
}

/// The apiserver requires a name before any webhook runs; offline, that is an error too.
#[test]
fn unnamed_objects_are_errors() {
    let input = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {app: web}\ndata: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: web-\n";
    let output = validate(&["-"], Some(input));
    assert_eq!(code(&output), 1);
    assert_eq!(
        stdout(&output),
        "-:4:3: error: metadata.name: Required value: name or generateName is required\n\
         1 error, 0 warnings in 1 object; checked 0 BackendTLSPolicies and 2 ConfigMaps from 1 file\n"
    );
}
