//! Shared by the integration tests: a real server on 127.0.0.1:0 with generated certificates,
//! and a TLS client that trusts the generated CA and sends SNI as the apiserver does.
#![allow(dead_code)]

pub mod attacks;
pub mod ca_objects;
pub mod fake_apiserver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backendtls_webhook::admission::{Clock, Reviewer};
use backendtls_webhook::certs::DevCa;
use backendtls_webhook::lookup::{BundleCache, Lookup, MemoryLookup};
use backendtls_webhook::objects;
use backendtls_webhook::server::metrics::Metrics;
use backendtls_webhook::server::tls::TlsOptions;
use backendtls_webhook::server::{Limits, ServeConfig, Server};
use backendtls_webhook::validate::Settings;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The DNS name the apiserver uses for a Service-backed webhook.
pub const SNI: &str = "backendtls-webhook.backendtls-webhook.svc";

/// How long a test waits for something that must happen (the server closes a connection,
/// answers, drains; caches sync) before it fails rather than hangs. It is not a speed limit,
/// and no assertion depends on it: a server-side timeout a test waits for is far shorter
/// (300 ms), and one whose firing would hide what the test checks is [`NEVER`], far longer.
/// A test that waits this long has found a server that does not do what it must.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// A server-side timeout that must not fire while a test runs: if the server only got out of
/// a state by waiting for it, the test reaches [`HANG_GUARD`] and fails.
pub const NEVER: Duration = Duration::from_secs(24 * 3600);

/// Awaits `future`, failing with "`what`: not after ..." instead of hanging (see
/// [`HANG_GUARD`]).
pub async fn must<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: not after {HANG_GUARD:?} (the test would hang)"),
    }
}

/// Whether `tcp` is still open: nothing to read and no end of stream, without waiting.
pub fn still_open(tcp: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A running server and what a client needs to reach it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub ca: DevCa,
    pub dir: tempfile::TempDir,
    /// The server's metrics (what `/metrics` would show), to wait for server-side states.
    pub metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub struct Options {
    pub http2: bool,
    pub client_ca: bool,
    pub limits: Limits,
    pub lookup: Option<Arc<dyn Lookup>>,
    /// Turn on the decision cache, as `serve` has it by default.
    pub decision_cache: bool,
    /// The validation settings (the defaults when `None`).
    pub settings: Option<Settings>,
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("fixture")
}

/// The in-memory lookup `make run` uses: `tests/fixtures/objects`.
pub fn fixture_lookup(bundles: &BundleCache) -> MemoryLookup {
    let documents = objects::load_paths(&[fixtures().join("objects")]).expect("fixture objects");
    MemoryLookup::from_objects(documents.iter().map(|d| &d.value), bundles)
}

impl TestServer {
    pub async fn start(options: Options) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = DevCa::new("test CA").expect("ca");
        write_server_pair(&ca, dir.path());
        let client_ca_file = options.client_ca.then(|| {
            let path = dir.path().join("client-ca.crt");
            std::fs::write(&path, ca.cert_pem()).expect("client ca");
            path
        });
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: TlsOptions {
                cert_file: dir.path().join("tls.crt"),
                key_file: dir.path().join("tls.key"),
                client_ca_file,
                http2: options.http2,
            },
            limits: options.limits,
        };
        let bundles = Arc::new(BundleCache::default());
        let lookup = options
            .lookup
            .unwrap_or_else(|| Arc::new(fixture_lookup(&bundles)));
        let settings = options.settings.unwrap_or_default();
        let reviewer = Reviewer::new(settings, lookup, bundles, Clock::System);
        let reviewer = Arc::new(if options.decision_cache {
            reviewer.with_decision_cache(64, 30)
        } else {
            reviewer
        });
        let metrics = Arc::new(Metrics::new());
        let server = Server::bind(&config, reviewer, Arc::clone(&metrics))
            .await
            .expect("binds");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            ca,
            dir,
            metrics,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A server started elsewhere (the real binary) at `addr`, whose certificate `ca` issued.
    pub fn running_at(addr: SocketAddr, ca: DevCa, dir: tempfile::TempDir) -> Self {
        Self {
            addr,
            ca,
            dir,
            metrics: Arc::new(Metrics::new()),
            shutdown: None,
            task: None,
        }
    }

    /// Waits (yielding, never sleeping) until `requests_in_flight` is `n`: that many requests
    /// are in handlers.
    pub async fn until_in_flight(&self, n: usize) {
        let line = format!("backendtls_webhook_requests_in_flight {n}\n");
        while !self.metrics.encode().contains(&line) {
            tokio::task::yield_now().await;
        }
    }

    /// Writes a new serving pair over the old one (as a rotation does).
    pub fn rotate(&self) -> String {
        write_server_pair(&self.ca, self.dir.path())
    }

    /// Signals shutdown and returns the server task to await.
    pub fn shutdown(&mut self) -> JoinHandle<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("running")
    }

    pub async fn connect(&self) -> TlsStream<TcpStream> {
        self.connect_with(&[b"http/1.1"], None)
            .await
            .expect("handshake")
    }

    pub async fn connect_with(
        &self,
        alpn: &[&[u8]],
        client: Option<&backendtls_webhook::certs::Issued>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let mut config = self.client_config(rustls::DEFAULT_VERSIONS, client);
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        self.connect_tls(config).await
    }

    /// A client configuration trusting the server's CA, for the given TLS versions, offering
    /// HTTP/1.1, with an optional client certificate.
    pub fn client_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        client: Option<&backendtls_webhook::certs::Issued>,
    ) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca.cert_pem().as_bytes()).expect("ca pem"))
            .expect("root");
        let builder = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(roots);
        let mut config = match client {
            None => builder.with_no_client_auth(),
            Some(issued) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("cert")],
                    PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key"),
                )
                .expect("client auth"),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    /// Connects with `config`, sending SNI as the apiserver does.
    pub async fn connect_tls(
        &self,
        config: rustls::ClientConfig,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(SNI).expect("name"), tcp)
            .await
    }
}

/// Every fixture object: the sample policy, its ConfigMap, the Services and the test CA
/// ConfigMaps.
pub fn fixture_objects() -> Vec<serde_json::Value> {
    let dirs = [fixtures().join("objects"), fixtures().join("configmaps")];
    objects::load_paths(&dirs)
        .expect("fixtures")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

impl TestServer {
    /// Connects as the apiserver does for a Service-backed webhook: trusting only the PEM
    /// certificates in `ca_pem` (a decoded `caBundle`), with `server_name` as SNI and for
    /// verification, offering HTTP/1.1.
    pub async fn connect_as(
        &self,
        server_name: &str,
        ca_pem: &[u8],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| std::io::Error::other(format!("caBundle: {e}")))?;
            roots.add(cert).map_err(std::io::Error::other)?;
        }
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(server_name.to_owned()).map_err(std::io::Error::other)?;
        let tcp = TcpStream::connect(self.addr).await?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }
}

/// Renders a kustomization of this repository (e.g. `manifests/base`) with `kubectl kustomize`
/// and returns its objects, in output order.
pub fn kustomize(dir: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `kubectl kustomize {dir}`: {e}; the manifest tests render manifests/ \
                 with kubectl (1.27 or newer), which the development machine and CI provide"
            )
        });
    assert!(
        output.status.success(),
        "`kubectl kustomize {dir}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kubectl prints UTF-8");
    objects::parse_str(dir, &text)
        .unwrap_or_else(|e| panic!("rendered {dir} does not parse: {e}"))
        .into_iter()
        .map(|d| d.value)
        .collect()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Writes tls.crt/tls.key issued by `ca` into `dir` (by rename, as a Secret update would);
/// returns the certificate PEM.
pub fn write_server_pair(ca: &DevCa, dir: &Path) -> String {
    let issued = ca
        .issue_server(
            &[SNI, "localhost", "127.0.0.1"],
            std::time::Duration::from_secs(86400),
        )
        .expect("issue");
    for (name, content) in [("tls.key", &issued.key_pem), ("tls.crt", &issued.cert_pem)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content).expect("write");
        std::fs::rename(&tmp, dir.join(name)).expect("rename");
    }
    issued.cert_pem
}

/// An HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("json body")
    }
}

/// Sends one HTTP/1.1 request on a keep-alive connection and reads the response.
pub async fn request<S>(stream: &mut S, method: &str, path: &str, body: &[u8]) -> Response
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    read_response(stream).await
}

/// Reads one HTTP/1.1 response with a Content-Length body.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Response {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Response {
        status,
        headers,
        body: String::from_utf8(body).expect("utf-8 body"),
    }
}

/// Reads until the peer closes; returns what was read.
pub async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all).await;
    all
}

/// A kubeconfig in `dir` for a cluster API at `http://ADDR`, without credentials.
pub fn write_kubeconfig(dir: &Path, addr: SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

/// A kubeconfig in `dir` for a port on 127.0.0.1 that nothing listens on (bound, then closed):
/// an unreachable cluster API. Returns the address too.
pub fn unreachable_kubeconfig(dir: &Path) -> (SocketAddr, PathBuf) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    (closed, write_kubeconfig(dir, closed))
}
