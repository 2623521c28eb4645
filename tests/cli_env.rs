//! The flags' environment-variable twins, end to end: the binary run with variables set (the
//! unit test in `src/cli.rs` checks that every flag has one). Booleans take what people write in
//! env files, a flag on the command line wins, and an invalid value names its variable.

use std::path::Path;
use std::process::{Command, Output};

/// The fixture certificates are valid then (tests/fixtures/certs/README.md).
const NOW: &str = "2026-06-01T00:00:00Z";

/// A tree whose only finding is a warning (a missing CA ConfigMap).
const WARNINGS: &str = "tests/fixtures/validate/warnings";

/// Runs the binary with `args` and the variables `env`, and no other `BACKENDTLS_WEBHOOK_*`
/// variable from the test's own environment.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BACKENDTLS_WEBHOOK_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn boolean_variables_take_what_env_files_hold() {
    for (value, exit) in [
        ("1", 1),
        ("true", 1),
        ("TRUE", 1),
        ("yes", 1),
        ("On", 1),
        ("0", 0),
        ("false", 0),
        ("no", 0),
        ("off", 0),
    ] {
        let output = run(
            &["validate", WARNINGS, "--now", NOW],
            &[("BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS", value)],
        );
        assert_eq!(
            code(&output),
            exit,
            "BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS={value}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn value_variables_apply_and_flags_win() {
    let json = run(
        &["validate", WARNINGS, "--now", NOW],
        &[("BACKENDTLS_WEBHOOK_OUTPUT", "json")],
    );
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report["summary"]["warnings"], 1);
    let text = run(
        &["validate", WARNINGS, "--now", NOW, "--output", "text"],
        &[("BACKENDTLS_WEBHOOK_OUTPUT", "json")],
    );
    assert!(
        stdout(&text).contains(": warning: spec.validation.caCertificateRefs[0]: "),
        "the flag wins: {}",
        stdout(&text)
    );
    // `--now` from its variable: before the fixture certificates' validity, the bundle of the
    // clean tree has no usable trust anchor.
    let early = run(
        &["validate", "tests/fixtures/validate/clean"],
        &[("BACKENDTLS_WEBHOOK_NOW", "2020-01-01T00:00:00Z")],
    );
    assert_eq!(code(&early), 1, "{}", stdout(&early));
    assert!(
        stdout(&early).contains("is not valid until"),
        "{}",
        stdout(&early)
    );
}

#[test]
fn certs_flags_have_their_own_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("dev-certs");
    let output = run(
        &["certs"],
        &[
            ("BACKENDTLS_WEBHOOK_CERTS_OUT", out.to_str().expect("utf-8")),
            ("BACKENDTLS_WEBHOOK_CERTS_SERVICE", "hook"),
            ("BACKENDTLS_WEBHOOK_CERTS_NAMESPACE", "gateways"),
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(Path::new(&out).join("tls.key").is_file());
    assert!(
        stderr(&output).contains("hook.gateways.svc"),
        "{}",
        stderr(&output)
    );
    let again = run(
        &["certs"],
        &[
            ("BACKENDTLS_WEBHOOK_CERTS_OUT", out.to_str().expect("utf-8")),
            ("BACKENDTLS_WEBHOOK_CERTS_IF_MISSING", "yes"),
        ],
    );
    assert_eq!(code(&again), 0);
    assert!(
        stderr(&again).contains("keeping them"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn an_invalid_variable_is_named() {
    let output = run(
        &["validate", WARNINGS],
        &[("BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS", "maybe")],
    );
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.starts_with(
            "error: invalid value 'maybe' for 'BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS': value was not a boolean\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "tip: the environment variable BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS sets '--warnings-as-errors': correct or unset it"
        ),
        "{message}"
    );
    let output = run(
        &["review", "tests/fixtures/reviews/policy-v1-allowed.json"],
        &[("BACKENDTLS_WEBHOOK_EXPIRY_WINDOW", "soon")],
    );
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output)
            .starts_with("error: invalid value 'soon' for 'BACKENDTLS_WEBHOOK_EXPIRY_WINDOW': "),
        "{}",
        stderr(&output)
    );
    // The same value on the command line is the flag's error.
    let output = run(
        &[
            "review",
            "tests/fixtures/reviews/policy-v1-allowed.json",
            "--expiry-window=soon",
        ],
        &[("BACKENDTLS_WEBHOOK_EXPIRY_WINDOW", "soon")],
    );
    assert!(
        stderr(&output).starts_with("error: invalid value 'soon' for '--expiry-window <DURATION>'"),
        "{}",
        stderr(&output)
    );
}
