//! The real server over TLS on loopback, as the apiserver calls it: SNI set to the Service's
//! DNS name, the generated CA trusted, HTTP/1.1 keep-alive (HTTP/2 when enabled).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backendtls_webhook::lookup::{BoxFuture, Lookup, LookupError};
use backendtls_webhook::server::Limits;
use backendtls_webhook::validate::{Snapshot, Wants};
use common::{Options, TestServer, attacks, fixture, read_response, read_to_close, request};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, oneshot};
use x509_parser::prelude::FromDer;

const ALLOWED: &str = "reviews/policy-v1-allowed.json";
const DENIED: &str = "reviews/policy-denied-ip-hostname.json";

#[tokio::test]
async fn allowed_and_denied_over_one_keep_alive_connection() {
    let server = TestServer::start(Options::default()).await;
    let mut tls = server.connect().await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let allowed = request(&mut tls, "POST", "/validate?timeout=5s", &fixture(ALLOWED)).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("content-type"), Some("application/json"));
    assert_eq!(allowed.json()["response"]["allowed"], true);
    let denied = request(&mut tls, "POST", "/validate?timeout=5s", &fixture(DENIED)).await;
    assert_eq!(denied.status, 200);
    let review = denied.json();
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 422);
    assert_eq!(
        review["response"]["status"]["details"]["causes"][0]["field"],
        "spec.validation.hostname"
    );
}

#[tokio::test]
async fn decision_cache_hits_are_counted_in_metrics() {
    let server = TestServer::start(Options {
        decision_cache: true,
        ..Options::default()
    })
    .await;
    let mut tls = server.connect().await;
    let hits = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("backendtls_webhook_decision_cache_hits_total "))
            .map(str::to_owned)
    };
    let first = request(&mut tls, "POST", "/validate", &fixture(DENIED)).await;
    let metrics = request(&mut tls, "GET", "/metrics", b"").await;
    assert_eq!(
        hits(&metrics.body).as_deref(),
        Some("0"),
        "{}",
        metrics.body
    );
    let again = request(&mut tls, "POST", "/validate", &fixture(DENIED)).await;
    assert_eq!(again.body, first.body, "a cached answer is the fresh one");
    let metrics = request(&mut tls, "GET", "/metrics", b"").await;
    assert_eq!(
        hits(&metrics.body).as_deref(),
        Some("1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(
            r#"backendtls_webhook_requests_total{kind="BackendTLSPolicy",operation="CREATE",verdict="denied"} 2"#
        ),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn http2_only_when_enabled() {
    let server = TestServer::start(Options {
        http2: true,
        ..Options::default()
    })
    .await;
    let tls = server
        .connect_with(&[b"h2", b"http/1.1"], None)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    for (file, allowed) in [(ALLOWED, true), (DENIED, false)] {
        let request = hyper::Request::post(format!("https://{}/validate", common::SNI))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(axum::body::Bytes::from(fixture(
                file,
            ))))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), 200);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let review: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(review["response"]["allowed"], allowed);
    }
    let plain = TestServer::start(Options::default()).await;
    let tls = plain
        .connect_with(&[b"h2", b"http/1.1"], None)
        .await
        .expect("handshake");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "no h2 without --http2"
    );
}

#[tokio::test]
async fn bad_input_gets_exact_statuses_and_messages() {
    let limits = Limits {
        body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let mut tls = server.connect().await;
    let too_big = request(&mut tls, "POST", "/validate", &vec![b'x'; 64 * 1024 + 1]).await;
    assert_eq!(
        (too_big.status, too_big.body.as_str()),
        (413, "request body exceeds the limit of 65536 bytes\n")
    );
    let mut tls = server.connect().await;
    let not_json = request(&mut tls, "POST", "/validate", b"<xml/>").await;
    assert_eq!(not_json.status, 400);
    assert_eq!(
        not_json.body,
        "body is not JSON: expected value at line 1 column 1\n"
    );
    let not_review = request(&mut tls, "POST", "/validate", br#"{"kind":"Pod"}"#).await;
    assert_eq!(not_review.status, 400);
    assert_eq!(
        not_review.body,
        "expected apiVersion \"admission.k8s.io/v1\" and kind \"AdmissionReview\", got \"\" and \"Pod\": an object, not the AdmissionReview the apiserver sends about one; to check objects, use `backendtls-webhook validate FILE` (tests/fixtures/reviews/ holds AdmissionReviews as the apiserver sends them)\n"
    );
    let old_version = request(
        &mut tls,
        "POST",
        "/validate",
        br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
    )
    .await;
    assert_eq!(old_version.status, 400);
    assert_eq!(
        old_version.body,
        "expected apiVersion \"admission.k8s.io/v1\" and kind \"AdmissionReview\", got \"admission.k8s.io/v1beta1\" and \"AdmissionReview\" (register the webhook with admissionReviewVersions: [v1])\n"
    );
    let with_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-7","operation":"CREATE"}}"#;
    let answered = request(&mut tls, "POST", "/validate", with_uid).await;
    assert_eq!(answered.status, 200);
    let review = answered.json();
    assert_eq!(review["response"]["uid"], "u-7");
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 400);
    assert_eq!(
        review["response"]["status"]["message"],
        "invalid AdmissionReview: request.kind is required"
    );
    let get = request(&mut tls, "GET", "/validate", b"").await;
    assert_eq!(
        (get.status, get.body.as_str()),
        (405, "method GET not allowed on /validate: use POST\n")
    );
    assert_eq!(get.header("allow"), Some("POST"));
    let missing = request(&mut tls, "POST", "/nope", b"{}").await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (
            404,
            "no route for /nope: the webhook answers POST /validate\n"
        )
    );
    // An unread request body ends the keep-alive connection.
    let mut tls = server.connect().await;
    let health = request(&mut tls, "GET", "/healthz", b"").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = request(&mut tls, "GET", "/readyz", b"").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ok\n"));
    let metrics = request(&mut tls, "GET", "/metrics", b"").await;
    assert!(
        metrics
            .body
            .contains("backendtls_webhook_tls_certificate_expiry_timestamp_seconds "),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(r#"verdict="error"} 5"#),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_400_line() {
    let server = TestServer::start(Options::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = String::from_utf8(read_to_close(&mut tcp).await).expect("utf-8");
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
}

fn serial_of(pem: &str) -> Vec<u8> {
    let der = rustls::pki_types::CertificateDer::from_pem_slice_compat(pem);
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).expect("x509");
    cert.raw_serial().to_vec()
}

trait FromPemCompat {
    fn from_pem_slice_compat(pem: &str) -> Vec<u8>;
}

impl FromPemCompat for rustls::pki_types::CertificateDer<'_> {
    fn from_pem_slice_compat(pem: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("pem")
            .to_vec()
    }
}

fn served_serial(tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    let leaf = &tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("server certificate")[0];
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).expect("x509");
    cert.raw_serial().to_vec()
}

#[tokio::test]
async fn a_rotated_certificate_is_served_on_the_next_handshake() {
    let server = TestServer::start(Options::default()).await;
    let mut old = server.connect().await;
    let first = served_serial(&old);
    let new_pem = server.rotate();
    let fresh = server.connect().await;
    assert_eq!(served_serial(&fresh), serial_of(&new_pem));
    assert_ne!(served_serial(&fresh), first);
    // The established connection keeps working on the old session.
    assert_eq!(
        request(&mut old, "POST", "/validate", &fixture(ALLOWED))
            .await
            .status,
        200
    );
    // A broken new pair is refused and the current one kept.
    std::fs::write(
        server.dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    )
    .expect("write");
    let kept = server.connect().await;
    assert_eq!(served_serial(&kept), serial_of(&new_pem));
    let mut kept = kept;
    let ready = request(&mut kept, "GET", "/readyz", b"").await;
    assert_eq!(ready.status, 200);
    assert!(
        ready
            .body
            .starts_with("ok, but serving the previous certificate"),
        "{}",
        ready.body
    );
}

#[tokio::test]
async fn client_certificates_are_required_for_reviews_and_metrics_not_probes() {
    let server = TestServer::start(Options {
        client_ca: true,
        ..Options::default()
    })
    .await;
    // Without a certificate (as kubelet probes): the probes answer, reviews and metrics not.
    let mut tls = server
        .connect_with(&[b"http/1.1"], None)
        .await
        .expect("handshake without a client certificate");
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(
            request(&mut tls, "GET", probe, b"").await.status,
            200,
            "{probe}"
        );
    }
    let refused = request(&mut tls, "POST", "/validate", &fixture(ALLOWED)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.body,
        "/validate needs a client certificate signed by --client-ca-file (the apiserver's client identity); /healthz and /readyz do not\n"
    );
    // (The refused body was not read: the server closes that connection.)
    let mut tls = server
        .connect_with(&[b"http/1.1"], None)
        .await
        .expect("handshake without a client certificate");
    assert_eq!(request(&mut tls, "GET", "/metrics", b"").await.status, 401);
    // With one from the client CA: everything.
    let client = server
        .ca
        .issue_client("kube-apiserver")
        .expect("client cert");
    let mut tls = server
        .connect_with(&[b"http/1.1"], Some(&client))
        .await
        .expect("handshake");
    assert_eq!(
        request(&mut tls, "POST", "/validate", &fixture(ALLOWED))
            .await
            .status,
        200
    );
    assert_eq!(request(&mut tls, "GET", "/metrics", b"").await.status, 200);
    assert_eq!(request(&mut tls, "GET", "/healthz", b"").await.status, 200);
}

/// A lookup that tells the test when a request reached it and waits to be released.
struct Gate {
    entered: Mutex<Option<oneshot::Sender<()>>>,
    release: Arc<Notify>,
}

impl Lookup for Gate {
    fn snapshot<'a>(&'a self, _: &'a Wants) -> BoxFuture<'a, Result<Snapshot, LookupError>> {
        Box::pin(async move {
            if let Some(tx) = self.entered.lock().expect("lock").take() {
                let _ = tx.send(());
            }
            self.release.notified().await;
            Ok(Snapshot::default())
        })
    }

    fn describe(&self) -> String {
        "gate".into()
    }
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight() {
    let (entered_tx, entered) = oneshot::channel();
    let release = Arc::new(Notify::new());
    let gate = Gate {
        entered: Mutex::new(Some(entered_tx)),
        release: Arc::clone(&release),
    };
    let mut server = TestServer::start(Options {
        lookup: Some(Arc::new(gate)),
        ..Options::default()
    })
    .await;
    let mut tls = server.connect().await;
    let mut idle = server.connect().await;
    let body = fixture(ALLOWED);
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&body).await.expect("body");
    entered.await.expect("request reached the lookup");
    let stopped = server.shutdown();
    // The idle connection is closed at once; the busy one is answered, then closed.
    assert!(read_to_close(&mut idle).await.is_empty());
    release.notify_one();
    let response = read_response(&mut tls).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["response"]["allowed"], true);
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("drained in time")
        .expect("server task");
    // No longer accepting: the connection is refused (or, should another test's server have
    // taken the port since, that server's certificate is not this one's).
    assert!(
        server.connect_with(&[b"http/1.1"], None).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_stalled_handshake_does_not_block_other_clients_and_is_cut_off() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut tls = server.connect().await;
    assert_eq!(
        request(&mut tls, "POST", "/validate", &fixture(ALLOWED))
            .await
            .status,
        200
    );
    let cut = common::must(
        "the server cuts the stalled handshake off",
        read_to_close(&mut stalled),
    )
    .await;
    assert!(cut.is_empty());
}

#[tokio::test]
async fn slow_headers_are_cut_off_by_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let mut slow = server.connect().await;
    slow.write_all(b"POST /validate HTTP/1.1\r\nHost:")
        .await
        .expect("partial head");
    let mut tls = server.connect().await;
    assert_eq!(
        request(&mut tls, "POST", "/validate", &fixture(ALLOWED))
            .await
            .status,
        200
    );
    let answer = String::from_utf8(read_to_close(&mut slow).await).expect("utf-8");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
}

/// The real binary, `serve` on loopback with the fixture objects and a fresh certificate, once
/// it has logged that it is serving.
struct RealServe {
    child: std::process::Child,
    log: std::io::BufReader<std::process::ChildStderr>,
    /// The log so far, each line with its line break.
    lines: Vec<String>,
    port: u16,
    /// The CA and the folder of the server's certificate, until [`RealServe::client`] takes
    /// them.
    certs: Option<(backendtls_webhook::certs::DevCa, tempfile::TempDir)>,
}

impl RealServe {
    /// Starts `serve` with `args` besides the listener, objects and certificate, and `RUST_LOG`
    /// set to `rust_log` (unset when `None`).
    fn start(args: &[&str], rust_log: Option<&str>) -> Self {
        use std::process::{Command, Stdio};

        let dir = tempfile::tempdir().expect("tempdir");
        let ca = backendtls_webhook::certs::DevCa::new("test CA").expect("ca");
        common::write_server_pair(&ca, dir.path());
        let mut command = Command::new(env!("CARGO_BIN_EXE_backendtls-webhook"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--objects"])
            .arg(common::fixtures().join("objects"))
            .arg("--tls-cert-file")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key-file")
            .arg(dir.path().join("tls.key"))
            .args(args)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn().expect("spawn serve");
        let log = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut serve = Self {
            child,
            log,
            lines: Vec::new(),
            port: 0,
            certs: Some((ca, dir)),
        };
        // Serving once this line is written (the listener is bound before it).
        let line = serve.read_until("serving https://127.0.0.1:");
        serve.port = line
            .split("https://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("the port in the log line");
        serve
    }

    /// Reads the log up to the first line containing `text`, and returns that line.
    fn read_until(&mut self, text: &str) -> String {
        use std::io::BufRead;
        loop {
            let mut line = String::new();
            let read = self.log.read_line(&mut line).expect("read the log");
            assert!(
                read > 0,
                "serve exited before logging {text:?}: {:#?}",
                self.lines
            );
            self.lines.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    /// The test client of this server (once: the certificate folder moves into it).
    fn client(&mut self) -> TestServer {
        let (ca, dir) = self.certs.take().expect("one client");
        TestServer::running_at(([127, 0, 0, 1], self.port).into(), ca, dir)
    }

    fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// After SIGTERM: the rest of the log (serve closes stderr when it exits) and the exit
    /// code. A serve still running after 30 s is killed (the test then fails on its code).
    fn finish(mut self) -> (Vec<String>, Option<i32>) {
        use std::io::BufRead;
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let pid = self.child.id().to_string();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(Duration::from_secs(30)).is_err() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid])
                    .status();
            }
        });
        let rest = std::mem::take(&mut self.lines)
            .into_iter()
            .chain((&mut self.log).lines().map(|l| l.expect("log line") + "\n"))
            .collect();
        let status = self.child.wait().expect("wait");
        let _ = done.send(());
        watchdog.join().expect("watchdog");
        (rest, status.code())
    }
}

/// The real binary: SIGHUP is logged and ignored; SIGTERM stops it accepting, drains, and it
/// exits 0.
#[test]
fn serve_ignores_sighup_and_exits_0_on_sigterm() {
    let mut serve = RealServe::start(&[], None);
    // SIGHUP: a log line, and the process goes on (it writes the line only if it is alive).
    serve.signal("HUP");
    let line = serve.read_until("signal ignored");
    assert!(line.contains("SIGHUP"), "{line}");
    serve.signal("TERM");
    let (log, code) = serve.finish();
    assert_eq!(code, Some(0), "{log:#?}");
    let log = log.concat();
    for expected in [
        "received SIGTERM",
        "draining in-flight requests",
        "all connections closed",
    ] {
        assert!(log.contains(expected), "no {expected:?} in {log}");
    }
}

/// The real binary with a request in flight that never completes (a body that stops coming):
/// SIGTERM still ends it, once --shutdown-timeout has passed.
#[test]
fn sigterm_ends_serve_within_the_shutdown_timeout_with_work_in_flight() {
    // Everything logged, to check that no request body is.
    let mut serve = RealServe::start(
        &["--shutdown-timeout", "1s", "--body-timeout", "5m"],
        Some("trace"),
    );
    // A client that sends the head of a review and half its body, then nothing.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = serve.client();
    let _stalled = runtime.block_on(async {
        // A review with a secret-looking annotation (pruned, never logged), answered.
        let mut review: serde_json::Value =
            serde_json::from_slice(&fixture(ALLOWED)).expect("json");
        review["request"]["object"]["metadata"]["annotations"] =
            serde_json::json!({"example.com/token": BODY_MARKER});
        let mut tls = server.connect().await;
        let body = serde_json::to_vec(&review).expect("json");
        assert_eq!(request(&mut tls, "POST", "/validate", &body).await.status, 200);
        let mut tls = server.connect().await;
        let body = fixture(ALLOWED);
        let head = format!(
            "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.expect("head");
        tls.write_all(&body[..body.len() / 2]).await.expect("half a body");
        tls.flush().await.expect("flush");
        // Wait until the server has the request in a handler (its in-flight gauge says so).
        let mut metrics = server.connect().await;
        while !request(&mut metrics, "GET", "/metrics", b"")
            .await
            .body
            .contains("backendtls_webhook_requests_in_flight 1")
        {
            tokio::task::yield_now().await;
        }
        (server, tls)
    });
    serve.signal("TERM");
    let (log, code) = serve.finish();
    assert_eq!(code, Some(0), "{log:#?}");
    let log = log.concat();
    assert!(
        log.contains("shutdown timeout elapsed with connections still open"),
        "{log}"
    );
    assert!(log.contains("decision"), "the review was logged");
    assert!(!log.contains(BODY_MARKER), "a request body reached the log");
}

/// A value only a request body holds.
const BODY_MARKER: &str = "s3cr3t-b0dy-m4rker";

/// The real binary's JSON log, fed what a hostile client sends: a 1 MiB name, names with
/// terminal escapes and line breaks, a body whose uid is a number (once logged with two
/// `message` keys). Every line is one JSON object with one `message` key, at most 16 KiB, and
/// client values are cut and escaped.
#[test]
fn json_log_lines_stay_bounded_and_well_formed_under_hostile_values() {
    let mut serve = RealServe::start(&["--log-format", "json"], None);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = serve.client();
    runtime.block_on(async {
        let mut tls = server.connect().await;
        let long = request(&mut tls, "POST", "/validate", &attacks::long_name(1 << 20)).await;
        assert_eq!(long.status, 200);
        let escapes = attacks::with_request(|request| {
            let name = serde_json::json!("evil\u{1b}[2J\n{\"message\":\"forged\"}");
            request.insert("name".into(), name.clone());
            request.insert("namespace".into(), name.clone());
            request["object"]["metadata"]["name"] = name;
        });
        let escaped = request(&mut tls, "POST", "/validate", &escapes).await;
        assert_eq!(escaped.status, 200);
        let numeric_uid =
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}"#;
        let refused = request(&mut tls, "POST", "/validate", numeric_uid).await;
        assert_eq!(refused.status, 400);
    });
    serve.signal("TERM");
    let (lines, code) = serve.finish();
    assert_eq!(code, Some(0), "{lines:#?}");
    for line in &lines {
        assert!(line.len() <= 16 * 1024, "{} bytes", line.len());
        let object: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
        assert!(object["message"].is_string(), "{line}");
        assert_eq!(line.matches(r#""message":"#).count(), 1, "{line}");
    }
    let decisions: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|object| object["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 2, "{lines:#?}");
    let name = decisions[0]["name"].as_str().expect("a name");
    assert!(
        name.starts_with("nnnn") && name.ends_with("...(1048576 bytes, truncated)"),
        "{name}"
    );
    assert!(name.len() < 2048, "{} bytes", name.len());
    assert_eq!(
        decisions[1]["name"], "evil\u{1b}[2J\n{\"message\":\"forged\"}",
        "JSON-escaped, not cut"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("request refused") && line.contains(r#""status":400"#)),
        "{lines:#?}"
    );
}

/// The real binary with its stderr never read (a stalled log collector): once the pipe and the
/// log queue are full, lines are dropped and counted in the metric, and requests are still
/// answered.
#[test]
fn log_lines_are_dropped_and_counted_when_stderr_is_not_read() {
    let mut serve = RealServe::start(&[], None);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = serve.client();
    let dropped = runtime.block_on(async {
        let mut tls = server.connect().await;
        // The client writes a head and a body: without this, each request waits for a delayed
        // ACK.
        tls.get_ref().0.set_nodelay(true).expect("nodelay");
        // A name long enough to make the decision line about 1 KiB.
        let body = attacks::long_name(900);
        // The pipe (64 KiB) and the queue (1 MiB) hold about a thousand such lines; bounded, so
        // that a log that never fills fails the test instead of hanging it.
        for _ in 0..100 {
            for _ in 0..100 {
                let answer = request(&mut tls, "POST", "/validate", &body).await;
                assert_eq!(answer.status, 200);
            }
            let metrics = request(&mut tls, "GET", "/metrics", b"").await;
            let dropped: u64 = metrics
                .body
                .lines()
                .find_map(|l| l.strip_prefix("backendtls_webhook_log_lines_dropped_total "))
                .and_then(|n| n.parse().ok())
                .expect("the metric");
            if dropped > 0 {
                return dropped;
            }
        }
        0
    });
    assert!(dropped > 0, "no log line dropped with stderr not read");
    serve.signal("TERM");
    let (_, code) = serve.finish();
    assert_eq!(code, Some(0));
}
