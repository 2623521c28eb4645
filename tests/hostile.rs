//! Hostile clients and faults against the real server on loopback: legacy TLS, plaintext and
//! foreign client certificates; slow and idle clients and the connection limit; oversized,
//! deeply nested and huge inputs; certificate files that vanish or break while serving; a
//! cluster API that is unreachable, slow or drops its watches.
//!
//! Every test is bounded: the limits are short (300 ms) where a test waits for a server-side
//! timeout, and waiting means reading until the server closes, never sleeping. The sleeps below
//! are the attack itself (a client that is slow on purpose), on the client side.
//!
//! No assertion is about how long something took, which a busy 2-core machine can stretch at
//! random. A test shows that the server did not wait for a timeout by setting that timeout to
//! [`NEVER`] (the test could then only hang, and fails at [`common::HANG_GUARD`]); that it cut a
//! slow client off by the client being cut off before it had sent everything; and the CPU cost
//! of big inputs is checked where the work is done (`validate::ca_bundle`'s tests) and measured
//! by `make bench-hostile`.

mod common;

use common::attacks;

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
    NEVER, Options, SNI, TestServer, fixture, fixture_objects, must, read_response, read_to_close,
    request, still_open,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const ALLOWED: &str = "reviews/policy-v1-allowed.json";
/// The short timeout the tests that wait for a server-side cut use.
const SHORT: Duration = Duration::from_millis(300);

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
    // The handshake timeout is NEVER: the connection ends because the server closes it.
    let reply = must(
        "the server closes the connection after its alert",
        read_to_close(&mut tcp),
    )
    .await;
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
    let server = start(Limits {
        handshake_timeout: NEVER,
        ..Limits::default()
    })
    .await;
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
    // A request head that takes over 10 s at one byte per 10 ms: far past the 300 ms header
    // timeout. The server must cut each off before it has all been sent (`drip` fails if not).
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(1000)
    );
    assert!(head.len() * 10 > 10_000);
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
            after >= SHORT,
            "cut off after {after:?}, before the header timeout"
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
    // Cut off before the whole body was sent (`drip` fails if not), and not before the timeout.
    let (answer, closed) = slow.await.expect("slow client");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(
        answer.ends_with("\r\n\r\nrequest body not received within 300ms\n"),
        "{answer:?}"
    );
    let after = closed - started;
    assert!(
        after >= SHORT,
        "cut off after {after:?}, before the body timeout"
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
    // A whole ClientHello dripped in a byte per 100 ms (12 s for its 120-odd bytes).
    let dripped = TcpStream::connect(server.addr).await.expect("connect");
    let dripping = tokio::spawn(drip(dripped, hello, Duration::from_millis(100)));
    // Meanwhile a normal client is served.
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;

    let cut = must(
        "the server closes a handshake that never finishes",
        read_to_close(&mut partial),
    )
    .await;
    assert!(cut.is_empty());
    let after = started.elapsed();
    assert!(
        after >= SHORT,
        "cut off after {after:?}, before the timeout"
    );
    // Cut off before the whole hello was sent (`drip` fails if not).
    let (answer, closed) = dripping.await.expect("dripping client");
    assert!(answer.is_empty(), "{answer:?}");
    let after = closed - started;
    assert!(
        after >= SHORT,
        "cut off after {after:?}, before the timeout"
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
    // 600 TCP connections that never start their handshake, under a handshake timeout that
    // never fires: each holds a slot, but the limit (1,024) is above them.
    let limits = Limits {
        handshake_timeout: NEVER,
        ..Limits::default()
    };
    let idle_count = 600.min(open_files_limit().saturating_sub(256) / 2);
    assert!(limits.max_connections > idle_count);
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
    // The server has accepted them all once it answers a client that queued behind them: it
    // cannot have waited for any of them to end (they never do)...
    must("a new client is served behind idle connections", async {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
    })
    .await;
    // ...and still holds every idle connection open (none was closed to make room).
    for tcp in idle.iter().step_by(50) {
        assert!(still_open(tcp));
    }
}

/// Whether the server has closed `tcp` (a read sees the end, or the connection reset), not
/// sent it something.
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = must("the server closes the connection", tcp.read(&mut byte)).await;
    matches!(read, Ok(0) | Err(_))
}

#[tokio::test]
async fn a_connect_flood_past_the_limit_closes_the_oldest_to_serve_new_clients() {
    // Three times max_connections TCP connections that never say anything (under a handshake
    // timeout that never fires): each newcomer closes the one waiting longest, so a good client
    // is served, which it could not be by waiting for a timeout.
    let server = start(Limits {
        max_connections: 64,
        handshake_timeout: NEVER,
        ..short_limits()
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..192 {
        flood.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    must("a good client is served during the flood", async {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
    })
    .await;
    // The first of the flood were closed to make room; the last are still waiting.
    assert!(closed_by_server(&mut flood[0]).await);
    assert!(still_open(&flood[191]));
}

#[tokio::test]
async fn at_the_connection_limit_the_longest_idle_connection_makes_room() {
    // Established TLS connections, idle (keep-alive) under timeouts that never fire, hold every
    // slot: a new client cannot be served by waiting for a timeout, the first idle one is
    // closed for it.
    let server = start(Limits {
        max_connections: 16,
        handshake_timeout: NEVER,
        header_timeout: NEVER,
        idle_timeout: NEVER,
        ..short_limits()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
        idle.push(tls);
    }
    must("a new client is served at the connection limit", async {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
    })
    .await;
    let closed = must(
        "the longest idle connection is closed",
        read_to_close(&mut idle[0]),
    )
    .await;
    assert!(closed.is_empty());
    // The others are still served on their connections.
    validate_allowed(&mut idle[15]).await;
}

#[tokio::test]
async fn when_every_connection_has_a_request_in_progress_new_clients_wait() {
    // Two connections each in the middle of a request (a body that trickles in): neither may
    // be closed to make room, so a new client is served once the body timeout ends one.
    let server = start(Limits {
        max_connections: 2,
        ..short_limits()
    })
    .await;
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut tls = server.connect().await;
        tls.write_all(head.as_bytes()).await.expect("head");
        slow.push(tokio::spawn(drip(
            tls,
            vec![b' '; 1000],
            Duration::from_millis(10),
        )));
    }
    must(
        "both slow requests reach their handlers",
        server.until_in_flight(2),
    )
    .await;
    must(
        "a new client is served once a body timeout frees a slot",
        async {
            let mut tls = server.connect().await;
            validate_allowed(&mut tls).await;
        },
    )
    .await;
    // Not by closing a connection with a request in progress: only after a body timeout.
    let waited = started.elapsed();
    assert!(
        waited >= SHORT,
        "served after {waited:?}, before any body timeout"
    );
    for slow in slow {
        let (answer, _) = slow.await.expect("slow client");
        assert!(answer.starts_with(b"HTTP/1.1 408 "));
    }
}

/// A client that pipelines up to `requests` reviews with large answers (about 200 KiB each: 256
/// invalid option keys of 1 KiB) and never reads: the writing task ends when the server stops
/// taking requests and then drops the connection; the reading half is returned for later.
async fn slow_reader(
    server: &TestServer,
    requests: usize,
) -> (
    tokio::io::ReadHalf<TlsStream<TcpStream>>,
    tokio::task::JoinHandle<usize>,
) {
    let body = attacks::options(256, 1024);
    let tls = server.connect().await;
    let (reader, mut writer) = tokio::io::split(tls);
    let writing = tokio::spawn(async move {
        let head = review_head(body.len(), "");
        let mut sent = 0;
        while sent < requests {
            if writer.write_all(head.as_bytes()).await.is_err()
                || writer.write_all(&body).await.is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    (reader, writing)
}

fn answers_in(read: &[u8]) -> usize {
    read.windows(9).filter(|w| w == b"HTTP/1.1 ").count()
}

#[tokio::test]
async fn clients_that_never_read_their_answers_are_cut_off_by_the_write_timeout() {
    let server = start(Limits {
        write_timeout: SHORT,
        ..short_limits()
    })
    .await;
    let (mut reader, writing) = slow_reader(&server, 200).await;
    // The server stops reading once its answers stop going out, and drops the connection once
    // a write has made no progress for the write timeout: the writer's next write fails.
    let sent = writing.await.expect("writer");
    assert!(sent < 200, "the server took all {sent} requests");
    let answers = answers_in(&read_to_close(&mut reader).await);
    assert!(answers < 200, "{answers} answers");
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn slow_readers_holding_every_slot_do_not_lock_out_a_good_client() {
    // Both slots held by clients that do not read, under timeouts that never fire: between
    // requests they are idle, so a good client is served by closing one (it could not be by
    // waiting for a timeout).
    let server = start(Limits {
        max_connections: 2,
        handshake_timeout: NEVER,
        header_timeout: NEVER,
        body_timeout: NEVER,
        write_timeout: NEVER,
        idle_timeout: NEVER,
        ..short_limits()
    })
    .await;
    let (_first, _) = slow_reader(&server, 200).await;
    let (_second, _) = slow_reader(&server, 200).await;
    must(
        "a slow reader's request is in flight",
        server.until_in_flight(1),
    )
    .await;
    must("a good client is served beside two slow readers", async {
        let mut tls = server.connect().await;
        validate_allowed(&mut tls).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The body budget, the review pool and deadlines

fn review_head(length: usize, query: &str) -> String {
    format!(
        "POST /validate{query} HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn big_bodies_wait_for_the_body_budget_while_small_ones_are_served() {
    // A budget that holds one 7 MiB body (and a 1 MiB share for small ones); bodies may take
    // their time (a long body timeout), so the wait for room is bounded by each request's own
    // budget (`?timeout=`).
    let server = start(Limits {
        body_budget: 8 << 20,
        body_timeout: Duration::from_secs(60),
        ..short_limits()
    })
    .await;
    // The first big request reserves its 7 MiB and then sends nothing.
    let mut holder = server.connect().await;
    holder
        .write_all(review_head(7 << 20, "").as_bytes())
        .await
        .expect("head");
    holder.flush().await.expect("flush");
    // In its handler, which reserves at once.
    server.until_in_flight(1).await;
    // A second big request finds no room: within its budget, 503 with Retry-After.
    let mut second = server.connect().await;
    second
        .write_all(review_head(7 << 20, "?timeout=500ms").as_bytes())
        .await
        .expect("head");
    // Meanwhile a small review is served at once.
    let mut small = server.connect().await;
    validate_allowed(&mut small).await;
    let refused = read_response(&mut second).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.body.starts_with(
            "too many request bodies in flight (--max-inflight-body-bytes 8388608): no room for 7340032 bytes within "
        ),
        "{}",
        refused.body
    );
    // The holder goes away, which frees its share: a big request fits again.
    drop(holder);
    server.until_in_flight(0).await;
    let mut big = server.connect().await;
    let body = attacks::allowed_with_padding(6 << 20, 0);
    let response = request(&mut big, "POST", "/validate", &body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["response"]["allowed"], true);
}

#[tokio::test]
async fn big_reviews_run_on_the_pool_and_are_shed_once_their_budget_has_passed() {
    let server = start(Limits::default()).await;
    let body = attacks::allowed_with_padding(256 << 10, 0);
    let mut tls = server.connect().await;
    // Reviewed on the pool like any other.
    let response = request(&mut tls, "POST", "/validate", &body).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["response"]["allowed"], true);
    // With no budget left (`?timeout=0s`), it is not reviewed at all.
    tls.write_all(review_head(body.len(), "?timeout=0s").as_bytes())
        .await
        .expect("head");
    tls.write_all(&body).await.expect("body");
    let shed = read_response(&mut tls).await;
    assert_eq!(shed.status, 503);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(
        shed.body,
        "the request's budget passed before a review worker could start\n"
    );
}

#[tokio::test]
async fn idle_http2_connections_are_closed() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let server = TestServer::start(Options {
        http2: true,
        limits: Limits {
            idle_timeout: SHORT,
            ..short_limits()
        },
        ..Options::default()
    })
    .await;
    let tls = server
        .connect_with(&[b"h2"], None)
        .await
        .expect("handshake");
    let (mut send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let probe = hyper::Request::get("/healthz")
        .body(Empty::<Bytes>::new())
        .expect("request");
    assert_eq!(
        send.send_request(probe).await.expect("answer").status(),
        200
    );
    // The client answers PINGs but sends nothing more: the server closes the connection.
    let _ = must("the server closes the idle HTTP/2 connection", connection).await;
}

#[tokio::test]
async fn an_idle_http2_connection_whose_answers_cannot_be_sent_is_closed_all_the_same() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let server = TestServer::start(Options {
        http2: true,
        limits: Limits {
            idle_timeout: SHORT,
            write_timeout: SHORT,
            ..short_limits()
        },
        ..Options::default()
    })
    .await;
    let tls = server
        .connect_with(&[b"h2"], None)
        .await
        .expect("handshake");
    // A stream window of 0 bytes: the server may send the answers' headers, never their bodies,
    // and no write of the socket is ever pending (the write timeout cannot see it).
    let (mut send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(0)
        .handshake(TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let mut answers = Vec::new();
    for _ in 0..4 {
        let probe = hyper::Request::get("/healthz")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let answer = send.send_request(probe).await.expect("answer");
        assert_eq!(answer.status(), 200);
        answers.push(answer);
    }
    // The handlers are done, so the connection is idle: the server starts closing it, cannot
    // finish the streams, and drops the connection a write timeout later.
    let _ = must(
        "the server drops the HTTP/2 connection it could not close gracefully",
        connection,
    )
    .await;
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
        let response = must("the server answers 413", read_response(&mut reader)).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (413, expected.as_str()),
            "chunked: {chunked}"
        );
        // The server closed the connection after answering; stop sending if still at it.
        sender.abort();
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let server = start(Limits::default()).await;
    let mut tls = server.connect().await;

    // A bare body of 100,000 `[`: no uid to answer to, so a plain 400.
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

    // The same nesting inside request.object of an AdmissionReview with a readable uid: the
    // answer is an AdmissionReview with code 400.
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"deep","kind":{{"group":"gateway.networking.k8s.io","version":"v1","kind":"BackendTLSPolicy"}},"operation":"CREATE","object":{{"spec":{}1{}}}}}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let response = request(&mut tls, "POST", "/validate", body.as_bytes()).await;
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

/// What parsing a bundle costs, and that it grows linearly, is checked where the work is done
/// (`validate::ca_bundle`'s tests, on the same 1 MiB of certificates) and measured by
/// `make bench-hostile`; this checks the answers.
#[tokio::test]
async fn a_1_mib_ca_bundle_gets_bounded_answers() {
    let bundle = one_mib_bundle();
    let bundles = Arc::new(BundleCache::default());
    let lookup = lookup_with_bundle(&bundle, &bundles);
    let server = TestServer::start(Options {
        lookup: Some(Arc::new(lookup)),
        ..Options::default()
    })
    .await;
    let mut tls = server.connect().await;

    // A policy that references the ConfigMap holding it.
    let response = request(&mut tls, "POST", "/validate", &fixture(ALLOWED)).await;
    assert_eq!(response.status, 200);
    let review = response.json();
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(warnings(&review) <= 257);

    // An update of that ConfigMap carrying the bundle: parsed per request (bundles over 1 MiB
    // are not cached), answered with bounded warnings.
    let mut update: Value =
        serde_json::from_slice(&fixture("reviews/configmap-update-denied.json")).expect("json");
    update["request"]["uid"] = json!("one-mib");
    update["request"]["object"]["data"]["ca.crt"] = json!(bundle);
    let body = serde_json::to_vec(&update).expect("json");
    let response = request(&mut tls, "POST", "/validate", &body).await;
    assert_eq!(response.status, 200);
    let review = response.json();
    assert_eq!(review["response"]["uid"], "one-mib");
    assert_eq!(review["response"]["allowed"], true, "{review}");
    // At most 256, then one that counts the rest.
    assert!(warnings(&review) <= 257, "{}", warnings(&review));
    assert!(
        response.body.len() < 256 * 1024,
        "{} bytes",
        response.body.len()
    );
}

/// The sample review with `n` targets, each wrong on its own (a group that is not a DNS
/// subdomain).
fn many_bad_targets(n: usize, uid: &str) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(&fixture(ALLOWED)).expect("json");
    review["request"]["uid"] = json!(uid);
    let refs: Vec<Value> = (0..n)
        .map(
            |i| json!({"group": "Not A Group!", "kind": "Service", "name": format!("backend-{i}")}),
        )
        .collect();
    review["request"]["object"]["spec"]["targetRefs"] = json!(refs);
    serde_json::to_vec(&review).expect("json")
}

#[tokio::test]
async fn a_list_far_past_max_items_gets_a_bounded_too_many_denial() {
    let server = start(Limits::default()).await;
    let mut tls = server.connect().await;
    // 280 targets (maxItems is 16), each with its own error: more than an answer lists.
    let response = request(
        &mut tls,
        "POST",
        "/validate",
        &many_bad_targets(280, "many"),
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(
        response.body.len() < 256 * 1024,
        "{} bytes",
        response.body.len()
    );
    let answer = response.json();
    let answer = &answer["response"];
    assert_eq!(answer["uid"], "many");
    assert_eq!(answer["allowed"], false);
    let status = &answer["status"];
    assert_eq!(status["code"], 422);
    // 256 causes are kept, then one counts the rest: every error is counted, none lost.
    let causes = status["details"]["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 257);
    let last = causes.last().expect("a last cause");
    let more: usize = last["message"]
        .as_str()
        .and_then(|m| m.strip_prefix("and "))
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("`and N more errors`");
    assert!(256 + more > 280, "{more} more");
    assert!(
        causes.iter().any(|c| c["field"] == "spec.targetRefs"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Too many: 280"))),
        "{causes:?}"
    );
    // The message spells out 32 errors, then counts the rest.
    let message = status["message"].as_str().expect("message");
    let (listed, rest) = message.rsplit_once(", and ").expect("a remainder count");
    let more_in_message: usize = rest
        .strip_suffix(" more]")
        .and_then(|n| n.parse().ok())
        .expect("`N more]`");
    assert_eq!(32 + more_in_message, 256 + more);
    let spelled_out = 1 + listed.matches(", spec.").count();
    assert_eq!(spelled_out, 32, "{listed}");
}

#[tokio::test]
async fn lists_of_thousands_of_items_are_refused_while_decoding() {
    // 20,000 targets: their decoded form would be ten times their text; decoding stops at the
    // budget (a body's own size) and the review is refused, still as an AdmissionReview.
    let server = start(Limits::default()).await;
    let mut tls = server.connect().await;
    let response = request(
        &mut tls,
        "POST",
        "/validate",
        &many_bad_targets(20_000, "thousands"),
    )
    .await;
    assert_eq!(response.status, 200);
    let answer = response.json();
    let answer = &answer["response"];
    assert_eq!(answer["uid"], "thousands");
    assert_eq!(answer["allowed"], false);
    assert_eq!(answer["status"]["code"], 400);
    let message = answer["status"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("invalid AdmissionReview: request.object: too many JSON values"),
        "{message}"
    );
    validate_allowed(&mut tls).await;
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
/// apiserver sends its budget) and checks each is denied with a 503 "retry" inside it: the
/// lookup gave up at its share of that budget (60 %, 300ms), as the message says, while the
/// caches were still syncing.
async fn assert_retry_denials(server: &TestServer) {
    let mut tls = server.connect().await;
    for file in [ALLOWED, "reviews/configmap-update-denied.json"] {
        let response = request(&mut tls, "POST", "/validate?timeout=500ms", &fixture(file)).await;
        assert_eq!(response.status, 200);
        let review = response.json();
        let status = &review["response"]["status"];
        assert_eq!(review["response"]["allowed"], false, "{file}: {review}");
        assert_eq!(status["code"], 503, "{file}: {review}");
        assert_eq!(
            status["message"],
            "backendtls-webhook could not check the references (the webhook's caches did not \
             finish syncing within 300ms); retry the request",
            "{file}"
        );
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
    must(
        "the caches sync once the lists go through",
        cluster.wait_until_ready(),
    )
    .await;
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn watches_dropped_during_a_burst_of_changes_recover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeApiserver::start(fixture_objects(), &["v1"]).await;
    let lookup = cluster_lookup(&fake.kubeconfig(dir.path())).await;
    must("the caches sync", lookup.wait_until_ready()).await;
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
    must("the caches catch up with the burst", async {
        while !converged(&lookup) {
            changes.changed().await.expect("watch tasks alive");
        }
    })
    .await;
    // The cache serves reviews again: the sample policy resolves its ConfigMap.
    let reviewer = Reviewer::new(
        Settings::default(),
        Arc::new(lookup),
        Arc::new(BundleCache::default()),
        Clock::System,
    );
    let review = reviewer
        .review(&fixture(ALLOWED), Duration::from_secs(5))
        .await
        .into_review()
        .expect("answered");
    assert!(review.response().allowed, "{:?}", review.response());
    assert!(
        review.response().warnings.is_empty(),
        "{:?}",
        review.response()
    );
}

// ---------------------------------------------------------------------------------------------
// What is echoed: answers and values bounded, unprintable characters escaped

/// POSTs `body` on a new connection: the status and the body text.
async fn post(server: &TestServer, body: &[u8]) -> common::Response {
    let mut tls = server.connect().await;
    request(&mut tls, "POST", "/validate", body).await
}

#[tokio::test]
async fn huge_invalid_values_are_echoed_clipped_with_their_length() {
    let server = start(Limits::default()).await;
    for (hostname, shown) in [
        ("a".repeat(1 << 20), "\"aaaa"),
        ("\\".repeat(1 << 20), "\"\\\\\\\\"),
    ] {
        let response = post(&server, &attacks::hostname(hostname)).await;
        assert_eq!(response.status, 200);
        assert!(
            response.body.len() < 16 * 1024,
            "{} bytes",
            response.body.len()
        );
        let answer = response.json();
        let status = &answer["response"]["status"];
        // The pattern error shows the value: its first 256 bytes and its length.
        let message = status["details"]["causes"]
            .as_array()
            .and_then(|c| {
                c.iter()
                    .filter(|c| c["field"] == "spec.validation.hostname")
                    .filter_map(|c| c["message"].as_str())
                    .find(|m| m.starts_with("Invalid value: "))
            })
            .expect("an Invalid value cause on the hostname");
        assert!(message.contains(shown), "{message}");
        assert!(
            message.contains("...(1048576 bytes, truncated)"),
            "{message}"
        );
        assert!(message.len() < 2048, "{} bytes", message.len());
        assert!(
            status["message"]
                .as_str()
                .is_some_and(|m| m.contains("(1048576 bytes, truncated)")),
            "{status}"
        );
    }
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}

#[tokio::test]
async fn a_uid_too_long_to_echo_is_refused_and_long_names_are_clipped() {
    let server = start(Limits::default()).await;
    let refused = post(&server, &attacks::long_uid(1 << 20)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body,
        "request.uid is 1048576 bytes long: at most 256 are accepted (the apiserver sends 36-byte UUIDs)\n"
    );
    let named = post(&server, &attacks::long_name(1 << 20)).await;
    assert_eq!(named.status, 200);
    assert!(named.body.len() < 16 * 1024, "{} bytes", named.body.len());
    let answer = named.json();
    let status = &answer["response"]["status"];
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(status["details"]["name"].as_str().map(str::len), Some(256));
    assert!(
        status["message"].as_str().is_some_and(|m| m
            .starts_with("BackendTLSPolicy.gateway.networking.k8s.io \"nnnn")
            && m.contains("...(1048576 bytes, truncated) is invalid")),
        "{status}"
    );
}

#[tokio::test]
async fn control_characters_in_echoed_names_are_escaped() {
    let server = start(Limits::default()).await;
    let response = post(&server, &attacks::control_characters()).await;
    assert_eq!(response.status, 200);
    let answer = response.json();
    let warnings: Vec<&str> = answer["response"]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings.iter().all(|w| !w.chars().any(char::is_control)),
        "{warnings:?}"
    );
    assert!(
        warnings
            .contains(&"spec.\\x1b[31m\\nred: unknown field, ignored (pruned by the apiserver)"),
        "{warnings:?}"
    );
    // A kind nobody should send, with control characters, is escaped in the warning too.
    let mut other: Value = attacks::sample();
    other["request"]["kind"] = json!({"group": "x", "version": "v1", "kind": "Evil\u{1b}[2J\r"});
    let response = post(&server, &serde_json::to_vec(&other).expect("json")).await;
    let answer = response.json();
    let warning = answer["response"]["warnings"][0]
        .as_str()
        .expect("a warning");
    assert!(warning.contains("x/v1 Evil\\x1b[2J\\r review"), "{warning}");
}

#[tokio::test]
async fn many_warnings_are_bounded_and_counted() {
    let server = start(Limits::default()).await;
    // 200 un-prefixed option keys of 300 bytes (valid names would not be that long, so each
    // is an error too) and 200 unknown fields: far more than an answer lists.
    let body = attacks::with_spec(|spec| {
        for i in 0..300 {
            spec.insert(format!("unknown-{i}"), json!(1));
        }
    });
    let response = post(&server, &body).await;
    assert_eq!(response.status, 200);
    assert!(response.body.len() < 256 * 1024);
    let answer = response.json();
    assert_eq!(answer["response"]["allowed"], true);
    let warnings = answer["response"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 257);
    let last = warnings
        .last()
        .and_then(Value::as_str)
        .expect("last warning");
    let more: usize = last
        .strip_prefix("and ")
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    // 300 unknown fields, and the deprecation-free sample's own warnings (none).
    assert_eq!(256 + more, 300, "{last}");
}

#[tokio::test]
async fn long_lists_of_equal_items_get_bounded_answers() {
    // Within the decoding budget: 250 references to the same ConfigMap (its bundle is judged
    // once) and 250 identical SANs (duplicates found by hashing). Both lists are far past their
    // maxItems; the answer is a bounded denial, and the server goes on.
    let server = start(Limits::default()).await;
    for (body, field) in [
        (
            attacks::ca_refs(250, false),
            "spec.validation.caCertificateRefs",
        ),
        (attacks::san_same(250), "spec.validation.subjectAltNames"),
    ] {
        let response = post(&server, &body).await;
        assert_eq!(response.status, 200);
        assert!(response.body.len() < 256 * 1024);
        let answer = response.json();
        let answer = &answer["response"];
        assert_eq!(answer["allowed"], false);
        let causes = answer["status"]["details"]["causes"]
            .as_array()
            .expect("causes");
        assert!(
            causes.iter().any(|c| c["field"] == field
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Too many: 250"))),
            "{causes:?}"
        );
        // Each repeat is a duplicate warning (the first 256 listed, the rest counted).
        let warnings = answer["warnings"].as_array().expect("warnings");
        assert!(
            warnings
                .iter()
                .filter_map(Value::as_str)
                .filter(|w| w.contains(": duplicate "))
                .count()
                >= 200,
            "{warnings:?}"
        );
        assert!(warnings.len() <= 257);
    }
    let mut tls = server.connect().await;
    validate_allowed(&mut tls).await;
}
