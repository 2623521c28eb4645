//! Errors that say what to do: the messages a newcomer meets first, end to end through the
//! binary (the others are next to their commands' tests: `review_cli.rs`, `audit.rs`,
//! `cluster.rs`, `validate_cli.rs`, `cli_env.rs`).

use std::process::{Command, Output};

fn run(args: &[&str], dir: &std::path::Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BACKENDTLS_WEBHOOK_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("runs")
}

/// `serve` in a folder without `certs/`: how to make development certificates.
#[test]
fn serve_without_certificates_says_how_to_make_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(&["serve", "--listen", "127.0.0.1:0"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with(
            "backendtls-webhook: no serving certificate: certs/tls.crt and certs/tls.key not found; for development, create one with `backendtls-webhook certs --out certs` (in a checkout: `make certs`, or `make run`, which does both), or pass --tls-cert-file and --tls-key-file\n"
        ),
        "{stderr}"
    );
    // Following the hint is enough: the certificates are found (the server then starts, which
    // this test does not wait for; see server_tls.rs).
    let made = run(&["certs", "--out", "certs"], dir.path());
    assert_eq!(made.status.code(), Some(0));
    assert!(dir.path().join("certs/tls.crt").is_file());
}

/// `--listen` without a port, or with a port that is not a number.
#[test]
fn listen_says_what_it_expects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(&["serve", "--listen", "localhost"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: invalid value 'localhost' for '--listen <ADDRESS:PORT>': expected ADDRESS:PORT, such as 127.0.0.1:8443, localhost:8443 or 0.0.0.0:8443 (all interfaces)\n"
        ),
        "{stderr}"
    );
}
