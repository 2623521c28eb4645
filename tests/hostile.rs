//! Hostile clients and faults against the real server on loopback: legacy TLS, plaintext and
//! foreign client certificates; slow and idle clients and the connection limit; oversized,
//! deeply nested and huge inputs; certificate files that vanish or break while serving; a
//! cluster API that is unreachable, slow or drops its watches.
//!
//! Every test is bounded: the limits are short (300 ms) where a test waits for a server-side
//! timeout, and waiting means reading until the server closes, never sleeping. The sleeps below
//! are the attack itself (a client that is slow on purpose), on the client side.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::certs::DevCa;
use backendtls_webhook::lookup::{BundleCache, ClusterLookup, Lookup, MemoryLookup, cluster};
use backendtls_webhook::objects;
use backendtls_webhook::server::Limits;
use backendtls_webhook::validate::Settings;
use common::fake_apiserver::{FakeApiserver, Kind};
use common::{
    Options, SNI, TestServer, fixture, fixture_objects, read_response, read_to_close, request,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const ALLOWED: &str = "reviews/policy-v1-allowed.json";
/// The short timeout the tests that wait for a server-side cut use.
const SHORT: Duration = Duration::from_millis(300);
/// Upper bound on anything that should happen "at once" or within a short timeout.
const PROMPTLY: Duration = Duration::from_secs(5);

fn short_limits() -> Limits {
    Limits {
        handshake_timeout: SHORT,
        header_timeout: SHORT,
        body_timeout: SHORT,
        ..Limits::default()
    }
}

async fn start(limits: Limits) -> TestServer {
    TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await
}

/// Sends a request and reads the answer; `Err` when the connection fails or is closed first
/// (a refused client).
async fn try_request(tls: &mut TlsStream<TcpStream>) -> std::io::Result<Vec<u8>> {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    if answer.is_empty() {
        return Err(std::io::Error::other("closed without an answer"));
    }
    Ok(answer)
}

async fn validate_allowed(tls: &mut TlsStream<TcpStream>) {
    let response = request(tls, "POST", "/validate", &fixture(ALLOWED)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["response"]["allowed"], true);
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A ClientHello record as a TLS 1.0/1.1 client (or, with `[3, 3]`, a TLS 1.2 one) sends it:
/// `client_version` set, no `supported_versions` extension, RSA and ECDHE-RSA CBC suites, SNI;
/// with `signature_algorithms` (a TLS 1.2 extension legacy clients do not send) if asked.
fn legacy_client_hello(version: [u8; 2], signature_algorithms: bool) -> Vec<u8> {
    fn u16_be(n: usize) -> [u8; 2] {
        u16::try_from(n).expect("fits").to_be_bytes()
    }
    fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&u16_be(data.len()));
        out.extend_from_slice(data);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // no session id
    let suites = [0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f, 0x00, 0x35];
    body.extend_from_slice(&u16_be(suites.len()));
    body.extend_from_slice(&suites);
    body.extend_from_slice(&[1, 0]); // compression: null
    let name = SNI.as_bytes();
    let mut server_name = Vec::new();
    server_name.extend_from_slice(&u16_be(name.len() + 3));
    server_name.push(0); // host_name
    server_name.extend_from_slice(&u16_be(name.len()));
    server_name.extend_from_slice(name);
    let mut extensions = Vec::new();
    extension(&mut extensions, 0, &server_name);
    if signature_algorithms {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
        extension(&mut extensions, 13, &[0, 6, 4, 3, 8, 4, 4, 1]);
    }
    body.extend_from_slice(&u16_be(extensions.len()));
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&u32::try_from(body.len()).expect("fits").to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1]; // handshake record, TLS 1.0 record version
    record.extend_from_slice(&u16_be(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}

/// Sends a hand-built ClientHello and returns the alert description the server closes with.
async fn alert_for(server: &TestServer, hello: &[u8]) -> u8 {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(hello).await.expect("hello");
    let started = Instant::now();
    let reply = read_to_close(&mut tcp).await;
    assert!(started.elapsed() < PROMPTLY);
    // One alert record: type 21, any record version, length 2, fatal (2), the description.
    assert_eq!(reply.len(), 7, "{reply:?}");
    assert_eq!(reply[0], 0x15, "not an alert: {reply:?}");
    assert_eq!(&reply[3..6], &[0, 2, 2], "not a fatal alert: {reply:?}");
    reply[6]
}

#[tokio::test]
async fn tls_1_0_and_1_1_clients_are_refused_with_an_alert() {
    const HANDSHAKE_FAILURE: u8 = 40;
    const PROTOCOL_VERSION: u8 = 70;
    let server = start(Limits::default()).await;
    for (name, version) in [
        ("SSL 3.0", [3, 0]),
        ("TLS 1.0", [3, 1]),
        ("TLS 1.1", [3, 2]),
    ] {
        // As such clients send it, without signature_algorithms: rustls refuses it for that
        // missing TLS 1.2 extension, before looking at the version.
        let hello = legacy_client_hello(version, false);
        assert_eq!(
            alert_for(&server, &hello).await,
            HANDSHAKE_FAILURE,
            "{name}"
        );
        // With the extension, the version itself is refused.
        let hello = legacy_client_hello(version, true);
        assert_eq!(alert_for(&server, &hello).await, PROTOCOL_VERSION, "{name}");
    }
    // The server is still serving.
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn a_tls_1_2_only_client_is_served() {
    let server = start(Limits::default()).await;
    let config = server.client_config(&[&rustls::version::TLS12], None);
    let mut tls = server.connect_tls(config).await.expect("TLS 1.2 handshake");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn an_http2_cleartext_preface_gets_the_plain_http_400() {
    // Even with HTTP/2 enabled, h2 is offered only inside TLS (ALPN); prior-knowledge h2c is
    // plaintext, and gets the same one-line answer as an HTTP/1 request.
    let server = TestServer::start(Options {
        http2: true,
        ..Options::default()
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    let answer = String::from_utf8(read_to_close(&mut tcp).await).expect("utf-8");
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let server = TestServer::start(Options {
        client_ca: true,
        ..Options::default()
    })
    .await;
    let other = DevCa::new("another CA").expect("ca");
    let stranger = other.issue_client("kube-apiserver").expect("client cert");
    let trusted = server
        .ca
        .issue_client("kube-apiserver")
        .expect("client cert");
    for (label, versions) in [
        ("TLS 1.3", &[&rustls::version::TLS13][..]),
        ("TLS 1.2", &[&rustls::version::TLS12][..]),
    ] {
        // TLS 1.2 fails the handshake itself; in TLS 1.3 the client finishes first and sees
        // the server's alert on its first read.
        let refused = async {
            let mut tls = server
                .connect_tls(server.client_config(versions, Some(&stranger)))
                .await?;
            try_request(&mut tls).await
        }
        .await;
        assert!(
            refused.is_err(),
            "{label}: served a client certificate from another CA: {refused:?}"
        );
        // The same client name from the configured CA is served.
        let mut tls = server
            .connect_tls(server.client_config(versions, Some(&trusted)))
            .await
            .expect("handshake with a trusted client certificate");
        let answer = try_request(&mut tls).await.expect("served");
        assert!(answer.starts_with(b"HTTP/1.1 200 "), "{label}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slow and idle clients

/// Sends `bytes` one at a time, `gap` apart, while reading; returns what was read and when
/// the server closed. Panics if every byte went out before the server closed.
async fn drip<S>(stream: S, bytes: Vec<u8>, gap: Duration) -> (Vec<u8>, Instant)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let send = async move {
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                // Cut off while writing: wait for the read side to see the close.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(gap).await;
        }
    };
    tokio::select! {
        answer = read_to_close(&mut reader) => (answer, Instant::now()),
        () = send => panic!("the whole message was dripped in without the server cutting it off"),
    }
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_while_other_clients_are_served() {
    let server = start(short_limits()).await;
    // A request head that takes 2.5 s at one byte per 10 ms: far past the 300 ms header timeout.
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(140)
    );
    assert!(head.len() * 10 > 2000);
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..16 {
        let tls = server.connect().await;
        let head = head.clone().into_bytes();
        slow.push(tokio::spawn(drip(tls, head, Duration::from_millis(10))));
    }
    // Meanwhile, ordinary clients are served, each on a fresh connection.
    for _ in 0..3 {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
    }
    for handle in slow {
        let (answer, closed) = handle.await.expect("slow client");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer:?}"
        );
        let after = closed - started;
        assert!(
            after >= SHORT && after < PROMPTLY,
            "cut off after {after:?}"
        );
    }
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408_while_other_clients_are_served() {
    let server = start(short_limits()).await;
    let mut tls = server.connect().await;
    // The head at once, then a 1,000-byte body at one byte per 10 ms: 10 s, far past the
    // 300 ms body timeout.
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let slow = tokio::spawn(drip(tls, vec![b' '; 1000], Duration::from_millis(10)));
    let mut other = server.connect().await;
    validate_allowed(&mut other).await;
    let (answer, closed) = slow.await.expect("slow client");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(
        answer.ends_with("\r\n\r\nrequest body not received within 300ms\n"),
        "{answer:?}"
    );
    let after = closed - started;
    assert!(
        after >= SHORT && after < PROMPTLY,
        "cut off after {after:?}"
    );
}

#[tokio::test]
async fn handshakes_that_never_finish_are_cut_off() {
    let server = start(short_limits()).await;
    let hello = legacy_client_hello([3, 3], true);
    let started = Instant::now();
    // A record header announcing a ClientHello whose body never comes.
    let mut partial = TcpStream::connect(server.addr).await.expect("connect");
    partial.write_all(&hello[..9]).await.expect("partial hello");
    // A whole ClientHello dripped in a byte per 20 ms (2.4 s for its 120-odd bytes).
    let dripped = TcpStream::connect(server.addr).await.expect("connect");
    let dripping = tokio::spawn(drip(dripped, hello, Duration::from_millis(20)));
    // Meanwhile a normal client is served.
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;

    assert!(read_to_close(&mut partial).await.is_empty());
    let after = started.elapsed();
    assert!(
        after >= SHORT && after < PROMPTLY,
        "cut off after {after:?}"
    );
    let (answer, closed) = dripping.await.expect("dripping client");
    assert!(answer.is_empty(), "{answer:?}");
    let after = closed - started;
    assert!(
        after >= SHORT && after < PROMPTLY,
        "cut off after {after:?}"
    );
}

/// The soft limit on open files of this process (each idle connection costs two here: the
/// client's socket and the server's).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_below_the_limit_do_not_delay_new_clients() {
    // 2,000 TCP connections that never start their handshake, under the default limits: each
    // holds a slot for up to the 10 s handshake timeout, but the limit (4,096) is above them.
    let limits = Limits::default();
    assert!(limits.max_connections > 2000);
    let idle_count = 2000.min(open_files_limit().saturating_sub(256) / 2);
    assert!(
        idle_count >= 400,
        "too few file descriptors: {}",
        open_files_limit()
    );
    let server = start(limits).await;
    let mut idle = Vec::with_capacity(idle_count);
    for _ in 0..idle_count {
        idle.push(TcpStream::connect(server.addr).await.expect("idle connect"));
    }
    // The server has accepted them all once it answers a client that queued behind them.
    let started = Instant::now();
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
    let took = started.elapsed();
    assert!(
        took < PROMPTLY,
        "a new client waited {took:?} behind {idle_count} idle connections"
    );
    // ...and still holds every idle connection open (none was dropped to make room).
    let mut probe = [0u8; 1];
    for tcp in idle.iter().step_by(100) {
        assert!(matches!(
            tcp.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ));
    }
}

#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_for_a_slot() {
    // max_connections idle TCP connections that never handshake hold every slot: a new client's
    // connection completes in the kernel's accept backlog, but it is served only when the
    // handshake timeout frees a slot.
    let server = start(Limits {
        max_connections: 64,
        ..short_limits()
    })
    .await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(server.addr).await.expect("idle connect"));
    }
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
    let waited = started.elapsed();
    assert!(
        waited >= SHORT && waited < PROMPTLY,
        "served after {waited:?}"
    );
    for tcp in &mut idle {
        assert!(read_to_close(tcp).await.is_empty());
    }

    // Established but idle TLS connections hold slots too, until the header timeout (which
    // also bounds the wait for a keep-alive connection's next request) closes them.
    let server = start(Limits {
        max_connections: 16,
        handshake_timeout: Duration::from_secs(10),
        ..short_limits()
    })
    .await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(server.connect().await);
    }
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
    let waited = started.elapsed();
    assert!(
        waited >= SHORT && waited < PROMPTLY,
        "served after {waited:?}"
    );
    for tls in &mut idle {
        let answer = String::from_utf8_lossy(&read_to_close(tls).await).into_owned();
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Oversized and nested input

const BODY_LIMIT: usize = 7 << 20;

#[tokio::test]
async fn a_body_one_byte_over_7_mib_gets_413() {
    let server = start(Limits::default()).await;
    assert_eq!(Limits::default().body_bytes, BODY_LIMIT);
    let expected = format!("request body exceeds the limit of {BODY_LIMIT} bytes\n");
    for chunked in [false, true] {
        let tls = server.connect().await;
        let (mut reader, mut writer) = tokio::io::split(tls);
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", BODY_LIMIT + 1)
        };
        let head = format!(
            "POST /validate HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
        );
        // The body is sent while the answer is read: the server may answer (and close) before
        // the client has finished sending, so write errors are expected and ignored.
        let sender = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent <= BODY_LIMIT {
                let n = chunk.len().min(BODY_LIMIT + 1 - sent);
                if chunked {
                    writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    writer.write_all(&chunk[..n]).await?;
                    writer.write_all(b"\r\n").await?;
                } else {
                    writer.write_all(&chunk[..n]).await?;
                }
                sent += n;
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n").await?;
            }
            writer.flush().await
        });
        let started = Instant::now();
        let response = read_response(&mut reader).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (413, expected.as_str()),
            "chunked: {chunked}"
        );
        assert!(started.elapsed() < PROMPTLY);
        // The server closed the connection after answering; stop sending if still at it.
        sender.abort();
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let server = start(Limits::default()).await;
    let mut tls = server.connect().await;

    // A bare body of 100,000 `[`: no uid to answer to, so a plain 400.
    let started = Instant::now();
    let brackets = vec![b'['; 100_000];
    let response = request(&mut tls, "POST", "/validate", &brackets).await;
    assert_eq!(response.status, 400);
    assert!(
        response
            .body
            .starts_with("body is not JSON: recursion limit exceeded"),
        "{}",
        response.body
    );
    assert!(started.elapsed() < PROMPTLY);

    // The same nesting inside request.object of an AdmissionReview with a readable uid: the
    // answer is an AdmissionReview with code 400.
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let started = Instant::now();
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"deep","kind":{{"group":"gateway.networking.k8s.io","version":"v1","kind":"BackendTLSPolicy"}},"operation":"CREATE","object":{{"spec":{}1{}}}}}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let response = request(&mut tls, "POST", "/validate", body.as_bytes()).await;
        assert!(started.elapsed() < PROMPTLY);
        assert_eq!(response.status, 200, "{}", response.body);
        let review = response.json();
        assert_eq!(review["response"]["uid"], "deep");
        assert_eq!(review["response"]["allowed"], false);
        assert_eq!(review["response"]["status"]["code"], 400);
        let message = review["response"]["status"]["message"]
            .as_str()
            .expect("message");
        assert!(
            message
                .starts_with("invalid AdmissionReview: request.object: recursion limit exceeded"),
            "{message}"
        );
    }
    // The connection and the server are still fine.
    validate_allowed(&mut tls).await;
}

/// The fixture objects with `payments-backend-ca`'s `ca.crt` replaced by `ca`.
fn lookup_with_bundle(ca: &str, bundles: &BundleCache) -> MemoryLookup {
    let documents =
        objects::load_paths(&[common::fixtures().join("objects")]).expect("fixture objects");
    let mut values: Vec<Value> = documents.into_iter().map(|d| d.value).collect();
    let config_map = values
        .iter_mut()
        .find(|v| v["kind"] == "ConfigMap" && v["metadata"]["name"] == "payments-backend-ca")
        .expect("the sample CA ConfigMap");
    config_map["data"]["ca.crt"] = json!(ca);
    MemoryLookup::from_objects(values.iter(), bundles)
}

/// 1 MiB (and a little more) of certificates: tests/fixtures/certs/bundle-50.pem repeated.
fn one_mib_bundle() -> String {
    let fifty = String::from_utf8(fixture("certs/bundle-50.pem")).expect("utf-8");
    let copies = (1 << 20) / fifty.len() + 1;
    let bundle = fifty.repeat(copies);
    assert!(bundle.len() > 1 << 20);
    bundle
}

fn warnings(review: &Value) -> usize {
    review["response"]["warnings"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_1_mib_ca_bundle_is_answered_in_bounded_time() {
    let bundle = one_mib_bundle();
    let certificates = bundle.matches("BEGIN CERTIFICATE").count();
    let bundles = Arc::new(BundleCache::default());
    let lookup = lookup_with_bundle(&bundle, &bundles);
    let server = TestServer::start(Options {
        lookup: Some(Arc::new(lookup)),
        ..Options::default()
    })
    .await;
    let mut tls = server.connect().await;

    // A policy that references the ConfigMap holding it.
    let started = Instant::now();
    let response = request(&mut tls, "POST", "/validate", &fixture(ALLOWED)).await;
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    let review = response.json();
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(warnings(&review) <= 256);
    assert!(took < PROMPTLY, "{took:?}");

    // An update of that ConfigMap carrying the bundle: parsed per request (bundles over 1 MiB
    // are not cached), answered in bounded time with bounded warnings.
    let mut update: Value =
        serde_json::from_slice(&fixture("reviews/configmap-update-denied.json")).expect("json");
    update["request"]["uid"] = json!("one-mib");
    update["request"]["object"]["data"]["ca.crt"] = json!(bundle);
    let body = serde_json::to_vec(&update).expect("json");
    let started = Instant::now();
    let response = request(&mut tls, "POST", "/validate", &body).await;
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    let review = response.json();
    assert_eq!(review["response"]["uid"], "one-mib");
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(warnings(&review) <= 256, "{}", warnings(&review));
    assert!(
        response.body.len() < 256 * 1024,
        "{} bytes",
        response.body.len()
    );
    assert!(took < PROMPTLY, "{certificates} certificates took {took:?}");
}

#[tokio::test]
async fn ten_thousand_target_refs_get_a_bounded_too_many_denial() {
    let server = start(Limits::default()).await;
    let mut tls = server.connect().await;
    let mut review: Value = serde_json::from_slice(&fixture(ALLOWED)).expect("json");
    review["request"]["uid"] = json!("many-refs");
    // Each reference is wrong on its own (a group that is not a DNS subdomain), so there are
    // over 10,000 errors to report.
    let refs: Vec<Value> = (0..10_000)
        .map(
            |i| json!({"group": "Not A Group!", "kind": "Service", "name": format!("backend-{i}")}),
        )
        .collect();
    review["request"]["object"]["spec"]["targetRefs"] = json!(refs);
    let body = serde_json::to_vec(&review).expect("json");
    let started = Instant::now();
    let response = request(&mut tls, "POST", "/validate", &body).await;
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    assert!(took < PROMPTLY, "{took:?}");
    assert!(
        response.body.len() < 256 * 1024,
        "{} bytes",
        response.body.len()
    );
    let answer = response.json();
    let answer = &answer["response"];
    assert_eq!(answer["uid"], "many-refs");
    assert_eq!(answer["allowed"], false);
    let status = &answer["status"];
    assert_eq!(status["code"], 422);
    let causes = status["details"]["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 256, "causes are capped at 256");
    assert!(
        causes.iter().any(|c| c["field"] == "spec.targetRefs"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Too many"))),
        "{causes:?}"
    );
    // The message spells out 32 errors, then counts the rest.
    let message = status["message"].as_str().expect("message");
    assert!(
        message.contains("spec.targetRefs: Too many: 10000"),
        "{message}"
    );
    let (listed, rest) = message.rsplit_once(", and ").expect("a remainder count");
    let more: usize = rest
        .strip_suffix(" more]")
        .and_then(|n| n.parse().ok())
        .expect("`N more]`");
    assert!(32 + more > 10_000, "{more} more");
    let spelled_out = 1 + listed.matches(", spec.").count();
    assert_eq!(spelled_out, 32, "{listed}");
    assert!(answer["warnings"].as_array().map_or(0, Vec::len) <= 256);
}

// ---------------------------------------------------------------------------------------------
// Faults: certificate files

fn leaf_serial(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let leaf = &tls.get_ref().1.peer_certificates().expect("certificate")[0];
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).expect("x509");
    cert.raw_serial().to_vec()
}

async fn readyz(server: &TestServer) -> (u16, String) {
    let mut tls = server.connect().await;
    let response = request(&mut tls, "GET", "/readyz", b"").await;
    (response.status, response.body)
}

#[tokio::test]
async fn deleted_or_corrupted_certificate_files_keep_the_previous_pair() {
    let server = start(Limits::default()).await;
    let dir = server.dir.path();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let mut established = server.connect().await;
    let serving = leaf_serial(&established);

    // Deleted: new handshakes still get the loaded pair; /readyz says so.
    std::fs::remove_file(&cert).expect("rm cert");
    std::fs::remove_file(&key).expect("rm key");
    let mut tls = server.connect().await;
    assert_eq!(leaf_serial(&tls), serving);
    validate_allowed(&mut tls).await;
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("ok, but serving the previous certificate: the new one failed to load: cannot read TLS certificate"),
        "{body}"
    );
    validate_allowed(&mut established).await;

    // Restored (a rotation): the new pair is served and readiness is clean again.
    server.rotate();
    let fresh = server.connect().await;
    let rotated = leaf_serial(&fresh);
    assert_ne!(rotated, serving);
    assert_eq!(readyz(&server).await, (200, "ok\n".to_owned()));

    // Corrupted: a key from another pair renamed into place, then a certificate truncated in
    // place. Each time the rotated pair is kept.
    let other = server
        .ca
        .issue_server(&[SNI], Duration::from_secs(3600))
        .expect("issue");
    let tmp = dir.join(".other.key");
    std::fs::write(&tmp, &other.key_pem).expect("write");
    std::fs::rename(&tmp, &key).expect("rename");
    let tls = server.connect().await;
    assert_eq!(leaf_serial(&tls), rotated);
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 200);
    assert!(body.contains("do not match"), "{body}");

    server.rotate();
    let rotated = leaf_serial(&server.connect().await);
    let pem = std::fs::read_to_string(&cert).expect("read");
    std::fs::write(&cert, &pem[..pem.len() / 2]).expect("truncate in place");
    let mut tls = server.connect().await;
    assert_eq!(leaf_serial(&tls), rotated);
    validate_allowed(&mut tls).await;
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("ok, but serving the previous certificate: the new one failed to load: cannot parse TLS certificate"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Faults: the cluster API

fn kubeconfig(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

async fn cluster_lookup(kubeconfig: &std::path::Path) -> ClusterLookup {
    let client = cluster::client(Some(kubeconfig))
        .await
        .expect("client")
        .expect("configured");
    ClusterLookup::start(client, Arc::new(BundleCache::default()))
}

/// Asks the server about the fixture policy and ConfigMap with `?timeout=500ms` (as the
/// apiserver sends its budget) and checks each is denied with a 503 "retry" inside it.
async fn assert_retry_denials(server: &TestServer) {
    let budget = Duration::from_millis(500);
    let mut tls = server.connect().await;
    for file in [ALLOWED, "reviews/configmap-update-denied.json"] {
        let started = Instant::now();
        let response = request(&mut tls, "POST", "/validate?timeout=500ms", &fixture(file)).await;
        let took = started.elapsed();
        assert!(took < budget, "{file}: answered after {took:?}");
        assert_eq!(response.status, 200);
        let review = response.json();
        let status = &review["response"]["status"];
        assert_eq!(review["response"]["allowed"], false, "{file}: {review}");
        assert_eq!(status["code"], 503, "{file}: {review}");
        let message = status["message"].as_str().expect("message");
        assert!(message.ends_with("retry the request"), "{message}");
    }
    let (status, body) = readyz(server).await;
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready: "), "{body}");
}

#[tokio::test]
async fn an_unreachable_or_silent_cluster_api_gets_503_retry_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");

    // Unreachable: a port nothing listens on (bound, then closed).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let lookup: Arc<dyn Lookup> = Arc::new(cluster_lookup(&kubeconfig(dir.path(), closed)).await);
    let server = TestServer::start(Options {
        lookup: Some(lookup),
        ..Options::default()
    })
    .await;
    assert_retry_denials(&server).await;
    drop(server);

    // Silent: the API accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let lookup: Arc<dyn Lookup> =
        Arc::new(cluster_lookup(&kubeconfig(dir.path(), silent_addr)).await);
    let server = TestServer::start(Options {
        lookup: Some(lookup),
        ..Options::default()
    })
    .await;
    assert_retry_denials(&server).await;
    drop(server);
    holder.abort();

    // Slow: a real (fake) apiserver whose lists are held before the first sync; once they go
    // through, the same reviews are answered.
    let fake = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    fake.hold_lists();
    let cluster = Arc::new(cluster_lookup(&fake.kubeconfig(dir.path())).await);
    let server = TestServer::start(Options {
        lookup: Some(cluster.clone()),
        ..Options::default()
    })
    .await;
    assert_retry_denials(&server).await;
    fake.release_lists();
    tokio::time::timeout(Duration::from_secs(10), cluster.wait_until_ready())
        .await
        .expect("synced once the lists go through");
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn watches_dropped_during_a_burst_of_changes_recover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    let lookup = cluster_lookup(&fake.kubeconfig(dir.path())).await;
    tokio::time::timeout(Duration::from_secs(10), lookup.wait_until_ready())
        .await
        .expect("synced");
    let first = String::from_utf8(fixture("certs/root-ca.pem")).expect("utf-8");
    let second = String::from_utf8(fixture("certs/second-ca.pem")).expect("utf-8");
    let config_map = |name: String, ca: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "shop"}, "data": {"ca.crt": ca}})
    };
    // 300 creates, 100 updates and 100 deletes in one burst, with every watch dropped every 25
    // steps and the history expired twice (forcing relists) in the middle of it.
    const N: usize = 300;
    for i in 0..N {
        fake.apply(config_map(format!("burst-{i}"), &first));
        match i % 3 {
            // burst-3k is deleted at the next step.
            1 => fake.delete(Kind::ConfigMap, "shop", &format!("burst-{}", i - 1)),
            2 => fake.apply(config_map(format!("burst-{i}"), &second)),
            _ => {}
        }
        if i.is_multiple_of(25) {
            fake.drop_watches();
        }
        if i == N / 3 || i == 2 * N / 3 {
            fake.drop_watches();
            fake.expire_history();
        }
    }
    let expected = |i: usize| match i % 3 {
        0 => None,
        1 => Some(first.as_str()),
        _ => Some(second.as_str()),
    };
    let mut changes = lookup.changes();
    let converged = |lookup: &ClusterLookup| {
        (0..N).all(|i| {
            let cached = lookup.config_map("shop", &format!("burst-{i}"));
            let text = cached.and_then(|entry| entry.ca_crt).map(|ca| ca.text);
            text.as_deref() == expected(i)
        })
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while !converged(&lookup) {
            changes.changed().await.expect("watch tasks alive");
        }
    })
    .await
    .expect("the caches caught up with the burst");
    // The cache serves reviews again: the sample policy resolves its ConfigMap.
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(lookup),
        Arc::new(BundleCache::default()),
        Clock::System,
    );
    let (_, review) = reviewer
        .review(&fixture(ALLOWED), Duration::from_secs(5))
        .await
        .expect("answered");
    assert!(review.response().allowed, "{:?}", review.response());
    assert!(
        review.response().warnings.is_empty(),
        "{:?}",
        review.response()
    );
}
