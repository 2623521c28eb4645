//! A do-nothing admission webhook on the same HTTPS stack as `backendtls-webhook serve`.
//!
//! ```text
//! cargo build --release --example null-webhook
//! target/release/examples/null-webhook --listen 127.0.0.1:9443 \
//!     --tls-cert-file certs/tls.crt --tls-key-file certs/tls.key
//! ```
//!
//! Only for the load benchmark (`make bench-load`, `bench/load.sh`): it binds through
//! [`Server::bind_router`], so TLS, the accept loop, hyper's HTTP/1.1 and the tokio runtime are
//! exactly those of `serve`, but its one route, `POST /validate`, reads the body, parses only
//! `request.uid` and allows everything, without logging or metrics. The difference in server
//! CPU per request between `serve` and this binary is the cost of the webhook's own work:
//! parsing, validating, answering, logging and metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use backendtls_webhook::server::tls::TlsOptions;
use backendtls_webhook::server::{Limits, ServeConfig, Server, shutdown_signal};
use clap::Parser;
use serde::Deserialize;

/// Null admission webhook: allows every request (benchmark baseline).
#[derive(Debug, Parser)]
#[command(name = "null-webhook")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    listen: SocketAddr,
    /// Serving certificate (PEM, leaf first).
    #[arg(long, default_value = "certs/tls.crt")]
    tls_cert_file: PathBuf,
    /// Serving private key (PEM).
    #[arg(long, default_value = "certs/tls.key")]
    tls_key_file: PathBuf,
}

/// The only part of an AdmissionReview this webhook reads.
#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow)]
    request: Uid<'a>,
}

#[derive(Deserialize)]
struct Uid<'a> {
    #[serde(borrow)]
    uid: &'a str,
}

async fn validate(body: Bytes) -> Response {
    let Ok(review) = serde_json::from_slice::<Review<'_>>(&body) else {
        return (StatusCode::BAD_REQUEST, "not an AdmissionReview\n").into_response();
    };
    // A Kubernetes uid is a UUID, but escape it anyway so the answer is always valid JSON.
    let uid = serde_json::to_string(review.request.uid).unwrap_or_else(|_| "\"\"".to_owned());
    let answer = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{{"uid":{uid},"allowed":true}}}}"#
    );
    ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Built like `serve` builds its runtime: the worker count follows the CPU affinity.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("null-webhook: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = ServeConfig {
        listen: args.listen,
        tls: TlsOptions {
            cert_file: args.tls_cert_file,
            key_file: args.tls_key_file,
            client_ca_file: None,
            http2: false,
        },
        limits: Limits::default(),
    };
    runtime.block_on(async {
        let router = |_cert, _slots| Router::new().route("/validate", post(validate));
        match Server::bind_router(&config, router).await {
            Ok(server) => {
                eprintln!(
                    "null-webhook: serving https://{}/validate",
                    server.local_addr()
                );
                server.run(shutdown_signal()).await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("null-webhook: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
