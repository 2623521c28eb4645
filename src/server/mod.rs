//! The HTTPS server: an axum router behind a hand-written accept loop.
//!
//! Each TCP connection is handed to its own task at once; the TLS handshake happens there,
//! under a timeout, so a client that stalls its handshake never holds up the accept loop (axum's
//! `serve` would handshake inside `accept`, one connection at a time). A plain-HTTP request to
//! the TLS port is answered with a one-line 400, like Go's servers do. Connections beyond
//! `max_connections` wait in the kernel's accept backlog until a slot frees; idle keep-alive
//! connections are closed after `header_timeout` (hyper applies its header-read timer to the
//! wait for the next request too), so idle clients cannot hold slots for long.
//!
//! On SIGTERM the server stops accepting, lets in-flight requests finish (idle connections are
//! closed at once), and returns within `shutdown_timeout`.

pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use self::metrics::{Metrics, RequestLabels};
use self::tls::{ReloadingCert, TlsOptions};
use crate::admission::{AdmissionReview, BadReview, Decision, Subject};
use crate::admission::{Reviewer, Verdict};

/// Limits and timeouts of the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body; larger ones get 413. An UPDATE carries two objects of up to
    /// about 1 MiB each, hence 7 MiB.
    pub body_bytes: usize,
    /// Connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed to send request headers, and to stay idle between keep-alive requests.
    pub header_timeout: Duration,
    /// Time allowed to send a request body.
    pub body_timeout: Duration,
    /// Lookup budget when the apiserver does not send `?timeout=`.
    pub default_budget: Duration,
    /// Time allowed to drain in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 7 << 20,
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            default_budget: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// What the server needs to start.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Certificates and protocols.
    pub tls: TlsOptions,
    /// Limits and timeouts.
    pub limits: Limits,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// Shared by every request.
pub struct AppState {
    reviewer: Arc<Reviewer>,
    metrics: Arc<Metrics>,
    cert: Option<Arc<ReloadingCert>>,
    limits: Limits,
}

impl AppState {
    /// State for the router; `cert` is the served certificate, when there is one (tests of the
    /// router alone run without TLS).
    pub fn new(
        reviewer: Arc<Reviewer>,
        metrics: Arc<Metrics>,
        cert: Option<Arc<ReloadingCert>>,
        limits: Limits,
    ) -> Self {
        Self {
            reviewer,
            metrics,
            cert,
            limits,
        }
    }
}

/// The routes: `POST /validate`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/validate",
            post(validate_handler).fallback(method_not_allowed("POST")),
        )
        .route(
            "/healthz",
            get(|| async { "ok\n" }).fallback(method_not_allowed("GET")),
        )
        .route(
            "/readyz",
            get(readyz_handler).fallback(method_not_allowed("GET")),
        )
        .route(
            "/metrics",
            get(metrics_handler).fallback(method_not_allowed("GET")),
        )
        .fallback(not_found_handler)
        .with_state(state)
}

fn method_not_allowed(
    allow: &'static str,
) -> impl Fn(Request) -> std::future::Ready<Response> + Clone {
    move |request: Request| {
        let message = format!(
            "method {} not allowed on {}: use {allow}\n",
            request.method(),
            request.uri().path()
        );
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, message);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        std::future::ready(response)
    }
}

async fn not_found_handler(request: Request) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {}: the webhook answers POST /validate\n",
            request.uri().path()
        ),
    )
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn readyz_handler(State(state): State<Arc<AppState>>) -> Response {
    let lookup = state.reviewer.lookup();
    if !lookup.is_ready() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {} is syncing\n", lookup.describe()),
        );
    }
    match state.cert.as_ref().and_then(|c| c.reload_error()) {
        Some(error) => text(
            StatusCode::OK,
            format!(
                "ok, but serving the previous certificate: the new one failed to load: {error}\n"
            ),
        ),
        None => text(StatusCode::OK, "ok\n".to_owned()),
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    if let Some(cert) = &state.cert {
        state.metrics.set_certificate_expiry(cert.not_after());
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn validate_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.in_flight();
    let limit = state.limits.body_bytes;
    let budget = request
        .uri()
        .query()
        .and_then(timeout_parameter)
        .unwrap_or(state.limits.default_budget);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(&state, limit, started);
    }
    let body = match crate::timeout::within(
        state.limits.body_timeout,
        axum::body::to_bytes(request.into_body(), limit),
    )
    .await
    {
        Some(Ok(body)) => body,
        Some(Err(error)) if is_length_limit(&error) => return too_large(&state, limit, started),
        Some(Err(error)) => {
            return refuse(
                &state,
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {error}"),
                started,
            );
        }
        None => {
            let message = format!(
                "request body not received within {:?}",
                state.limits.body_timeout
            );
            return refuse(&state, StatusCode::REQUEST_TIMEOUT, message, started);
        }
    };
    let answer = state.reviewer.review(&body, budget).await;
    debug_body(&body, &answer);
    match answer {
        Ok((decision, review)) => {
            let elapsed = started.elapsed();
            let seconds = elapsed.as_secs_f64();
            match &decision {
                Some(decision) => {
                    let labels = RequestLabels {
                        kind: decision.subject.label(),
                        operation: decision.operation.map_or("unknown", |o| o.as_str()),
                        verdict: decision.verdict.label(),
                    };
                    info!(
                        uid = review.response().uid.as_str(),
                        kind = labels.kind,
                        namespace = decision.namespace.as_str(),
                        name = decision.name.as_str(),
                        operation = labels.operation,
                        verdict = labels.verdict,
                        warnings = review.response().warnings.len(),
                        cached = decision.cached,
                        latency_us = elapsed.as_micros() as u64,
                        "decision"
                    );
                    state.metrics.observe(labels, seconds);
                    if decision.cached {
                        state.metrics.decision_cache_hit();
                    }
                }
                None => {
                    let message = review
                        .response()
                        .status
                        .as_ref()
                        .and_then(|s| s.message.as_deref())
                        .unwrap_or("");
                    warn!(uid = %review.response().uid, %message, "bad AdmissionReview answered with 400");
                    state.metrics.observe(error_labels(), seconds);
                }
            }
            (
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(review.to_json()),
            )
                .into_response()
        }
        Err(bad) => refuse(&state, StatusCode::BAD_REQUEST, bad.message, started),
    }
}

fn error_labels() -> RequestLabels {
    RequestLabels {
        kind: "unknown",
        operation: "unknown",
        verdict: Verdict::Error.label(),
    }
}

fn too_large(state: &AppState, limit: usize, started: Instant) -> Response {
    let message = format!("request body exceeds the limit of {limit} bytes");
    refuse(state, StatusCode::PAYLOAD_TOO_LARGE, message, started)
}

/// Answers a body that carries no AdmissionReview with a status and a one-line message.
/// The request body at debug level, once reviewed, except a Secret's: with the Secret check
/// (manifests/overlays/secret-ca) the apiserver sends every key of a Secret, private keys
/// included, and none may reach a log. A body that is not a readable review is shown unless it
/// mentions `Secret`.
fn debug_body(body: &[u8], answer: &Result<(Option<Decision>, AdmissionReview), BadReview>) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let secret = match answer {
        Ok((Some(decision), _)) => decision.subject == Subject::Secret,
        _ => body.windows(8).any(|w| w == b"\"Secret\""),
    };
    if secret {
        debug!(bytes = body.len(), "request body not shown: a Secret");
    } else {
        debug!(body = %String::from_utf8_lossy(body), "request body");
    }
}

fn refuse(state: &AppState, status: StatusCode, message: String, started: Instant) -> Response {
    warn!(status = status.as_u16(), %message, "request refused");
    state
        .metrics
        .observe(error_labels(), started.elapsed().as_secs_f64());
    text(status, format!("{message}\n"))
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The `timeout` query parameter the apiserver adds (a Go duration such as `10s` or `1m30s`).
fn timeout_parameter(query: &str) -> Option<Duration> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))
        .and_then(parse_go_duration)
}

/// Parses a Go `time.Duration` string: a sequence of decimal numbers with units `ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    limits: Limits,
}

impl Server {
    /// Loads the TLS material (failing before binding if it is unusable), then binds, serving
    /// the webhook's [`router`].
    pub async fn bind(
        config: &ServeConfig,
        reviewer: Arc<Reviewer>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServeError> {
        let limits = config.limits.clone();
        // The certificate-expiry gauge is set on each scrape of /metrics.
        Self::bind_router(config, move |cert| {
            router(Arc::new(AppState::new(
                reviewer,
                metrics,
                Some(cert),
                limits,
            )))
        })
        .await
    }

    /// Like [`Server::bind`], with any router on the same TLS and connection handling (the
    /// load benchmark's null webhook uses this).
    pub async fn bind_router(
        config: &ServeConfig,
        make_router: impl FnOnce(Arc<ReloadingCert>) -> Router,
    ) -> Result<Self, ServeError> {
        let (tls_config, cert) = tls::server_config(&config.tls)?;
        let listener = listen(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            error: source,
        })?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(tls_config),
            router: make_router(cert),
            limits: config.limits.clone(),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for at most
    /// `shutdown_timeout`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let Self {
            listener,
            acceptor,
            router,
            limits,
        } = self;
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
        http1
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
        http2
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(128)
            .keep_alive_interval(Some(limits.header_timeout))
            .keep_alive_timeout(limits.handshake_timeout);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (tcp, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let connection = Connection {
                acceptor: acceptor.clone(),
                router: router.clone(),
                handshake_timeout: limits.handshake_timeout,
                http1: http1.clone(),
                http2: http2.clone(),
                watcher: graceful.watcher(),
            };
            // No per-connection span: entering a span on every poll of a keep-alive connection
            // costs more than the decision's own log line. Connection events name the peer.
            tokio::spawn(async move {
                connection.serve(tcp, peer).await;
                drop(permit);
            });
        }
        drop(listener);
        info!(timeout = ?limits.shutdown_timeout, "shutting down: draining in-flight requests");
        match tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await {
            Ok(()) => info!("all connections closed"),
            Err(_) => warn!("shutdown timeout elapsed with connections still open"),
        }
    }
}

/// Connections the kernel queues while every slot is busy (std's default is 128).
const ACCEPT_BACKLOG: u32 = 1024;

/// Binds `addr` with `SO_REUSEADDR` (a restarted server can bind at once) and a deep accept
/// backlog, so that connections beyond `max_connections` wait instead of being dropped.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// One accepted TCP connection and what it needs.
struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    handshake_timeout: Duration,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    async fn serve(self, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let handshake = async {
            if speaks_plain_http(&tcp).await {
                return Err(Some(tcp));
            }
            self.acceptor.accept(tcp).await.map_err(|error| {
                debug!(%peer, %error, "TLS handshake failed");
                None
            })
        };
        let stream = match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(Some(mut plain))) => {
                debug!(%peer, "plain HTTP on the TLS port");
                let _ = plain
                    .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                    .await;
                let _ = plain.shutdown().await;
                return;
            }
            Ok(Err(None)) => return,
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let service = TowerToHyperService::new(self.router);
        let builder = if h2 { &self.http2 } else { &self.http1 };
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        if let Err(error) = self.watcher.watch(connection).await {
            debug!(%peer, %error, "connection ended with an error");
        }
    }
}

/// Whether the client's first bytes look like an HTTP request line rather than a TLS record.
async fn speaks_plain_http(tcp: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => first[0].is_ascii_uppercase(),
        _ => false,
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("received Ctrl-C"),
        () = terminate => info!("received SIGTERM"),
    }
}

#[cfg(test)]
mod tests;
