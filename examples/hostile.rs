//! Hostile clients against a running `serve`, with the server's CPU and memory read from
//! `/proc`: the engine of `make bench-hostile` (`bench/hostile.sh` starts the servers).
//!
//! ```text
//! cargo build --release --example hostile
//! target/release/examples/hostile --addr 127.0.0.1:8443 --ca certs/ca.crt --pid PID GROUP
//! ```
//!
//! GROUP is one of:
//! - `cpu`: one request of each hostile shape (long lists of references, SANs, targets and
//!   options, unknown fields, deep nesting, huge strings, a huge uid or name, an UPDATE with two
//!   big objects, a ConfigMap with thousands of PEM blocks), at full size (up to 7 MiB); for each,
//!   the server CPU it cost (per request and per MiB of body), the answer's status and size;
//! - `memory`: fills the decision cache with big distinct answers and objects, then holds 48
//!   connections that each send 7 MiB minus one byte of body and stall; peak and settled RSS;
//! - `slots` (against a server with `--max-connections 64`): 64 connections that pipeline
//!   requests and never read, then a connect flood (TCP connections that never say anything);
//! - `h2` (against a server with `--http2`): idle HTTP/2 connections, which must be closed.
//!
//! Throughout, a good client sends the small sample review on a new connection every 100 ms;
//! each row says how many of its requests were served, how many failed, and the slowest.
//! Bodies come from `tests/common/attacks.rs`, which the hostile tests share.

#[path = "../tests/common/attacks.rs"]
mod attacks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const MIB: usize = 1 << 20;
/// Targets of issue 14, printed beside the figures.
const CPU_PER_MIB_MS: f64 = 50.0;
const CPU_PER_REQUEST_MS: f64 = 400.0;
const ANSWER_BYTES: usize = 256 * 1024;
const RSS_MIB: f64 = 128.0;
const GOOD_CLIENT_WAIT: Duration = Duration::from_secs(15);

/// Hostile clients against a running webhook.
#[derive(Debug, Parser)]
#[command(name = "hostile")]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// CA certificate the server's certificate chains to (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// The server's process id (its CPU time and memory are read from /proc).
    #[arg(long)]
    pid: u32,
    /// SNI and name to verify.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Which attacks: cpu, memory, slots or h2.
    group: String,
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    name: ServerName<'static>,
    tls: TlsConnector,
    h2: TlsConnector,
    pid: u32,
}

impl Target {
    async fn connect(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        self.tls.connect(self.name.clone(), tcp).await
    }

    /// POSTs `body` to /validate on a new connection; the status and the answer's size.
    async fn post(&self, body: &[u8]) -> std::io::Result<(u16, usize, Vec<u8>)> {
        let mut tls = self.connect().await?;
        tls.write_all(&request_head(body.len(), true)).await?;
        tls.write_all(body).await?;
        tls.flush().await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        let status = status_of(&answer)
            .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))?;
        let body_len = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| answer.len() - i - 4);
        Ok((status, body_len, answer))
    }

    /// Server CPU time so far, in ms: the nanoseconds on CPU of each of its threads
    /// (`/proc/PID/task/*/schedstat`; a thread that exits between two readings takes its time
    /// with it, which tokio's blocking threads only do after 10 s idle).
    fn cpu_ms(&self) -> f64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return 0.0;
        };
        let nanos: u64 = tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        nanos as f64 / 1e6
    }

    /// Resident memory now, in MiB.
    fn rss_mib(&self) -> f64 {
        status_kib(self.pid, "VmRSS:") / 1024.0
    }
}

fn status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

fn request_head(length: usize, close: bool) -> Vec<u8> {
    format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// The good client: the sample review on a new connection every 100 ms while `running`.
struct GoodClient {
    served: AtomicU64,
    failed: AtomicU64,
    slowest_us: AtomicU64,
    running: AtomicBool,
}

impl GoodClient {
    fn start(target: &Target) -> Arc<Self> {
        let client = Arc::new(Self {
            served: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            slowest_us: AtomicU64::new(0),
            running: AtomicBool::new(true),
        });
        let (target, this) = (target.clone(), Arc::clone(&client));
        tokio::spawn(async move {
            let body = attacks::SAMPLE_POLICY_REVIEW.as_bytes();
            while this.running.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = matches!(
                    tokio::time::timeout(GOOD_CLIENT_WAIT, target.post(body)).await,
                    Ok(Ok((200, _, _)))
                );
                let took = started.elapsed();
                if ok {
                    this.served.fetch_add(1, Ordering::Relaxed);
                } else {
                    this.failed.fetch_add(1, Ordering::Relaxed);
                }
                this.slowest_us
                    .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100).saturating_sub(took)).await;
            }
        });
        client
    }

    /// `served/failed, slowest ms`, and resets the counters.
    fn take(&self) -> String {
        let served = self.served.swap(0, Ordering::Relaxed);
        let failed = self.failed.swap(0, Ordering::Relaxed);
        let slowest = self.slowest_us.swap(0, Ordering::Relaxed) as f64 / 1000.0;
        format!("{served} ok / {failed} failed, slowest {slowest:.0} ms")
    }
}

/// Samples the server's RSS every 10 ms while alive; `peak` returns the highest since the last
/// call.
struct RssWatch {
    peak_kib: Arc<AtomicU64>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let watch = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                watch.fetch_max(status_kib(pid, "VmRSS:") as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self { peak_kib: peak }
    }

    fn peak_mib(&self) -> f64 {
        self.peak_kib.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

fn cpu_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "8,000 caCertificateRefs (one ConfigMap)",
            attacks::ca_refs(8_000, false),
        ),
        (
            "60,000 caCertificateRefs (one ConfigMap)",
            attacks::ca_refs(60_000, false),
        ),
        (
            "60,000 caCertificateRefs (distinct, missing)",
            attacks::ca_refs(60_000, true),
        ),
        ("8,000 SAN hostnames", attacks::san_hostnames(8_000)),
        ("20,000 SAN URIs", attacks::san_uris(20_000)),
        ("1,000,000 empty SANs", attacks::san_empty(1_000_000)),
        ("140,000 identical SANs", attacks::san_same(140_000)),
        (
            "2,000,000 SANs of the wrong type",
            attacks::wrong_type_items(2_000_000),
        ),
        ("100,000 targetRefs", attacks::targets(100_000)),
        ("100,000 options", attacks::options(100_000, 8)),
        (
            "2,000 options with 2 KiB keys",
            attacks::options(2_000, 2048),
        ),
        ("500,000 unknown fields", attacks::unknown_fields(500_000)),
        (
            "unknown field 100 deep, 1,000,000 wide",
            attacks::deep_unknown(100, 1_000_000),
        ),
        (
            "6 MiB invalid hostname",
            attacks::hostname("a".repeat(6 * MIB)),
        ),
        (
            "3 Mi backslashes in the hostname",
            attacks::hostname("\\".repeat(3 * MIB)),
        ),
        ("6 MiB request.uid", attacks::long_uid(6 * MIB)),
        (
            "3 MiB request.name (and metadata.name)",
            attacks::long_name(3 * MIB),
        ),
        (
            "UPDATE, 2 x 60,000 invalid SANs",
            attacks::update_with_lists(60_000),
        ),
        (
            "ConfigMap, 60,000 bad PEM blocks",
            attacks::config_map_with_ca(attacks::garbage_pem(60_000)),
        ),
        (
            "terminal escapes in a field name",
            attacks::control_characters(),
        ),
        // The most validation work the decoding budget lets through: thousands of long strings
        // for the rules to read, every item an error or a warning past the output cap.
        (
            "within the decoding budget: 7,000 SAN URIs of 900 bytes",
            attacks::with_spec(|spec| {
                let sans = (0..7_000)
                    .map(|i| serde_json::json!({"type": "URI", "uri": format!("spiffe://{}/{i}%zz", "u".repeat(880))}))
                    .collect();
                spec["validation"]["subjectAltNames"] = serde_json::Value::Array(sans);
            }),
        ),
        (
            "within the decoding budget: 8,000 option keys of 800 bytes",
            attacks::options(8_000, 800),
        ),
        (
            "within the decoding budget: 7,000 CA references with 900-byte names",
            attacks::with_spec(|spec| {
                let refs = (0..7_000)
                    .map(|i| serde_json::json!({"group": "", "kind": "ConfigMap", "name": format!("{}-{i}", "c".repeat(890))}))
                    .collect();
                spec["validation"]["caCertificateRefs"] = serde_json::Value::Array(refs);
            }),
        ),
        (
            "within the decoding budget: 60,000 unknown fields of 100 bytes",
            attacks::with_spec(|spec| {
                for i in 0..60_000 {
                    spec.insert(format!("{}{i}", "f".repeat(95)), serde_json::json!(1));
                }
            }),
        ),
    ]
}

async fn cpu(target: &Target) {
    println!(
        "| Request | Body MiB | Server CPU ms | ms per MiB | Status | Answer bytes | Good client meanwhile |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let good = GoodClient::start(target);
    let mut worst_per_mib = 0f64;
    let mut worst_ms = 0f64;
    let mut largest_answer = 0usize;
    for (name, body) in cpu_cases() {
        let mib = body.len() as f64 / MIB as f64;
        // The good client's own requests are in the CPU figure too: about 0.1 ms each.
        let before = target.cpu_ms();
        let result = target.post(&body).await;
        let spent = target.cpu_ms() - before;
        let (status, size) = match result {
            Ok((status, size, _)) => (status.to_string(), size),
            Err(error) => (format!("error: {error}"), 0),
        };
        let per_mib = spent / mib.max(1.0 / 1024.0);
        worst_per_mib = worst_per_mib.max(if mib >= 0.25 { per_mib } else { 0.0 });
        worst_ms = worst_ms.max(spent);
        largest_answer = largest_answer.max(size);
        println!(
            "| {name} | {mib:.2} | {spent:.0} | {per_mib:.0} | {status} | {size} | {} |",
            good.take()
        );
    }
    good.running.store(false, Ordering::Relaxed);
    println!();
    println!(
        "worst: {worst_ms:.0} ms of server CPU for one request (target <= {CPU_PER_REQUEST_MS:.0}), \
         {worst_per_mib:.0} ms per MiB over bodies of 0.25 MiB or more (target <= {CPU_PER_MIB_MS:.0}), \
         largest answer {largest_answer} bytes (target <= {ANSWER_BYTES})"
    );
}

async fn memory(target: &Target) {
    let watch = RssWatch::start(target.pid);
    let good = GoodClient::start(target);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = target.rss_mib();
    watch.peak_mib();
    println!("| Phase | Peak RSS MiB | RSS after MiB | Good client meanwhile |");
    println!("|---|---:|---:|---|");
    // 16 distinct 3 MiB denials, then 40 distinct 5 MiB allowed objects: all cacheable.
    for i in 0..16 {
        let body = attacks::hostname(format!("{i}{}", "a".repeat(3 * MIB)));
        let _ = target.post(&body).await;
    }
    for i in 0..40 {
        let _ = target
            .post(&attacks::allowed_with_padding(5 * MIB, i))
            .await;
    }
    let peak = watch.peak_mib();
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "| 16 distinct 3 MiB denials, 40 distinct 5 MiB allowed objects (baseline {baseline:.1}) | {peak:.1} | {:.1} | {} |",
        target.rss_mib(),
        good.take()
    );
    // 48 connections that send all but the last byte of a 7 MiB body and stall.
    let body = vec![b' '; 7 * MIB];
    let mut stalled = Vec::new();
    for _ in 0..48 {
        let target = target.clone();
        let body = body.clone();
        stalled.push(tokio::spawn(async move {
            let mut tls = target.connect().await?;
            tls.write_all(&request_head(body.len(), false)).await?;
            tls.write_all(&body[..body.len() - 1]).await?;
            tls.flush().await?;
            // Hold the connection until the server answers or closes it.
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut answer)).await;
            Ok::<_, std::io::Error>(status_of(&answer))
        }));
    }
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for task in stalled {
        let status = match task.await {
            Ok(Ok(Some(status))) => status.to_string(),
            Ok(Ok(None)) => "closed".to_owned(),
            Ok(Err(error)) => format!("{:?}", error.kind()),
            Err(_) => "panicked".to_owned(),
        };
        *statuses.entry(status).or_default() += 1;
    }
    let peak = watch.peak_mib();
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "| 48 connections each sending 7 MiB - 1 byte, then stalling (answers: {statuses:?}) | {peak:.1} | {:.1} | {} |",
        target.rss_mib(),
        good.take()
    );
    good.running.store(false, Ordering::Relaxed);
    println!();
    println!("target: RSS under {RSS_MIB:.0} MiB throughout; good clients served");
}

async fn slots(target: &Target) {
    println!("| Attack | Good client meanwhile | Attackers cut off after |");
    println!("|---|---|---|");
    // Slow readers: pipeline three requests with large (denied, many-cause) answers, never read.
    let body = attacks::san_empty(2_000);
    let started = Instant::now();
    let mut readers = Vec::new();
    for _ in 0..64 {
        let target = target.clone();
        let body = body.clone();
        readers.push(tokio::spawn(async move {
            let mut tls = target.connect().await.ok()?;
            for _ in 0..3 {
                tls.write_all(&request_head(body.len(), false)).await.ok()?;
                tls.write_all(&body).await.ok()?;
            }
            tls.flush().await.ok()?;
            // Never read: wait for the server to give up on us (a write error or a close is
            // seen only by reading, so read a byte after a while).
            tokio::time::sleep(Duration::from_secs(60)).await;
            Some(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let good = GoodClient::start(target);
    tokio::time::sleep(Duration::from_secs(5)).await;
    good.running.store(false, Ordering::Relaxed);
    println!(
        "| 64 connections pipelining 3 requests each, never reading | {} | (held {:.0} s by the client) |",
        good.take(),
        started.elapsed().as_secs_f64()
    );
    for reader in readers {
        reader.abort();
    }
    // Connect flood: 2,000 TCP connections that never send a byte, opened as fast as possible.
    let flood = tokio::spawn({
        let addr = target.addr;
        async move {
            let mut held = Vec::new();
            for _ in 0..2_000 {
                if let Ok(Ok(tcp)) =
                    tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
                {
                    held.push(tcp);
                }
            }
            tokio::time::sleep(Duration::from_secs(6)).await;
            held.len()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let good = GoodClient::start(target);
    tokio::time::sleep(Duration::from_secs(5)).await;
    good.running.store(false, Ordering::Relaxed);
    let opened = flood.await.unwrap_or(0);
    println!(
        "| connect flood: {opened} TCP connections that send nothing | {} | - |",
        good.take()
    );
    println!();
    println!("target: a good client served within {GOOD_CLIENT_WAIT:?} throughout");
}

async fn h2(target: &Target) {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    println!("| Attack | Closed by the server after | Good client meanwhile |");
    println!("|---|---|---|");
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..64 {
        let target = target.clone();
        idle.push(tokio::spawn(async move {
            let tcp = TcpStream::connect(target.addr).await.ok()?;
            let tls = target.h2.connect(target.name.clone(), tcp).await.ok()?;
            let (mut send, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .ok()?;
            // The connection task answers PINGs; it ends when the server closes the connection.
            let connection = tokio::spawn(connection);
            let request = hyper::Request::get("/healthz")
                .body(Empty::<Bytes>::new())
                .ok()?;
            let _ = send.send_request(request).await;
            let _ = tokio::time::timeout(Duration::from_secs(300), connection).await;
            Some(started.elapsed())
        }));
    }
    let good = GoodClient::start(target);
    let mut closed = Vec::new();
    for task in idle {
        if let Ok(Some(after)) = task.await {
            closed.push(after.as_secs_f64());
        }
    }
    good.running.store(false, Ordering::Relaxed);
    let slowest = closed.iter().copied().fold(0f64, f64::max);
    println!(
        "| 64 idle HTTP/2 connections that answer PINGs | {} of 64 closed, the last after {slowest:.1} s | {} |",
        closed.len(),
        good.take()
    );
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let certs = match CertificateDer::pem_file_iter(&args.ca) {
        Ok(certs) => certs,
        Err(error) => {
            eprintln!("hostile: cannot read {}: {error}", args.ca.display());
            return ExitCode::FAILURE;
        }
    };
    for cert in certs.flatten() {
        let _ = roots.add(cert);
    }
    let roots = Arc::new(roots);
    let config = |alpn: &[u8]| {
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(Arc::clone(&roots))
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
    };
    let Ok(name) = ServerName::try_from(args.server_name.clone()) else {
        eprintln!("hostile: {:?} is not a server name", args.server_name);
        return ExitCode::FAILURE;
    };
    let target = Target {
        addr: args.addr,
        name,
        tls: config(b"http/1.1"),
        h2: config(b"h2"),
        pid: args.pid,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hostile: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match args.group.as_str() {
            "cpu" => cpu(&target).await,
            "memory" => memory(&target).await,
            "slots" => slots(&target).await,
            "h2" => h2(&target).await,
            other => {
                eprintln!("hostile: unknown group {other:?}: cpu, memory, slots or h2");
                return ExitCode::FAILURE;
            }
        }
        ExitCode::SUCCESS
    })
}
