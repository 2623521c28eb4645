//! The HTTPS server: an axum router behind a hand-written accept loop, with every resource a
//! client can consume bounded.
//!
//! - Connections ([`connections`]): at most `max_connections`; when all are taken, the one idle
//!   or handshaking the longest is closed to make room. Each connection is handed to its own
//!   task at once; the TLS handshake happens there, under a timeout, so a client that stalls
//!   its handshake never holds up the accept loop (axum's `serve` would handshake inside
//!   `accept`, one connection at a time). Writes that make no progress for `write_timeout`
//!   drop the connection; connections idle for `idle_timeout` are closed (HTTP/1.1 keep-alive
//!   waits are also cut by the header timeout). A plain-HTTP request to the TLS port is
//!   answered with a one-line 400, like Go's servers do.
//! - Bodies ([`budget`]): each request reserves its body's size from a global budget before
//!   reading it, waiting (without reading) for room, and is answered 503 with `Retry-After` when
//!   none is made in time; small bodies always have a share.
//! - Work: a review of a body over [`budget::SMALL_BODY`] runs on a bounded pool of blocking
//!   threads (`review_workers` at once), so a 7 MiB review never stalls the workers that accept
//!   connections and answer probes; a request whose deadline (the apiserver's `?timeout=`, else
//!   `default_budget`) passes while it waits for a worker, or whose client has gone, is not
//!   reviewed. Every review is bounded in CPU by design (linear checks, bounded decoding).
//! - Client certificates: with `--client-ca-file`, `/validate` and `/metrics` require one;
//!   `/healthz` and `/readyz` do not, so that kubelet's HTTPS probes work.
//!
//! On SIGTERM the server stops accepting, lets in-flight requests finish (idle connections are
//! closed at once), and returns within `shutdown_timeout`.

pub mod budget;
pub mod connections;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use self::budget::Budget;
use self::connections::{Activity, Slots, TimedIo};
use self::metrics::{KindLabel, Metrics, OperationLabel, RequestLabels, Shed};
use self::tls::{ReloadingCert, TlsOptions};
use crate::admission::{Answer, Decision, Reviewer};
use crate::validate::field::Echo;

/// Limits and timeouts of the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body; larger ones get 413. An UPDATE carries two objects of up to
    /// about 1 MiB each, hence 7 MiB.
    pub body_bytes: usize,
    /// Bytes of request bodies in flight at once (see [`budget`]); must leave room for one
    /// body of `body_bytes` besides the share kept for small bodies.
    pub body_budget: usize,
    /// Connections served at once; when all are taken, the longest-idle one is closed.
    pub max_connections: usize,
    /// Reviews of big bodies run at once, on blocking threads.
    pub review_workers: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed to send request headers, and to stay idle between HTTP/1.1 requests.
    pub header_timeout: Duration,
    /// Time allowed to send a request body; also the longest wait for room in the body budget
    /// (which the request's own budget may shorten).
    pub body_timeout: Duration,
    /// Time a write to the client may make no progress before the connection is dropped.
    pub write_timeout: Duration,
    /// Time a connection may go without a request (HTTP/2 in particular) before it is closed.
    pub idle_timeout: Duration,
    /// Lookup budget when the apiserver does not send `?timeout=`.
    pub default_budget: Duration,
    /// Time allowed to drain in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 7 << 20,
            body_budget: 16 << 20,
            max_connections: 1024,
            review_workers: default_review_workers(),
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            default_budget: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// One worker for big reviews per CPU but one (the other answers everything else), at least one.
pub fn default_review_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

impl Limits {
    /// Why these limits cannot work together, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let budget = Budget::new(self.body_budget);
        let for_big = self.body_budget - budget.reserve();
        if self.body_bytes > budget::SMALL_BODY && self.body_bytes > for_big {
            return Err(format!(
                "--max-inflight-body-bytes {} leaves {for_big} bytes for big bodies (it keeps {} for small ones): it must be at least {} to admit one body of --max-body-bytes {}",
                self.body_budget,
                budget.reserve(),
                self.body_bytes + budget.reserve(),
                self.body_bytes
            ));
        }
        Ok(())
    }
}

/// What the server needs to start.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    pub tls: TlsOptions,
    pub limits: Limits,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The address `addr` could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The limits contradict each other.
    #[error("{0}")]
    Limits(String),
}

/// Whether the client of a request presented a verified certificate; inserted into requests
/// only when client certificates are configured.
#[derive(Clone, Copy, Debug)]
pub struct ClientCertificate(pub bool);

/// Shared by every request.
pub struct AppState {
    reviewer: Arc<Reviewer>,
    metrics: Arc<Metrics>,
    cert: Option<Arc<ReloadingCert>>,
    limits: Limits,
    budget: Arc<Budget>,
    workers: Arc<Semaphore>,
    slots: Option<Arc<Slots>>,
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
            budget: Budget::new(limits.body_budget),
            workers: Arc::new(Semaphore::new(limits.review_workers.max(1))),
            limits,
            slots: None,
        }
    }

    /// The same state, reporting these connection slots in its metrics.
    pub fn with_slots(mut self, slots: Arc<Slots>) -> Self {
        self.slots = Some(slots);
        self
    }
}

/// The routes: `POST /validate` and `GET /metrics`, whose handlers take a [`VerifiedClient`]
/// (a client certificate when `--client-ca-file` is set); `GET /healthz` and `GET /readyz`,
/// which kubelet probes without one.
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
            Echo(request.uri().path())
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
            Echo(request.uri().path())
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

/// A handler argument that refuses (401) a request without a client certificate where one is
/// required: a handler that takes it cannot forget the check. An extractor rather than a
/// middleware layer, which would box every request's future (about 2,300 instructions per
/// request, measured with `make bench-instructions`).
pub struct VerifiedClient;

impl<S: Sync> axum::extract::FromRequestParts<S> for VerifiedClient {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Response> {
        match parts.extensions.get::<ClientCertificate>() {
            Some(ClientCertificate(false)) => Err(text(
                StatusCode::UNAUTHORIZED,
                format!(
                    "{} needs a client certificate signed by --client-ca-file (the apiserver's client identity); /healthz and /readyz do not\n",
                    Echo(parts.uri.path())
                ),
            )),
            _ => Ok(Self),
        }
    }
}

async fn readyz_handler(State(state): State<Arc<AppState>>) -> Response {
    let lookup = state.reviewer.lookup();
    if !lookup.is_ready() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: syncing {}\n", lookup.describe()),
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

async fn metrics_handler(_: VerifiedClient, State(state): State<Arc<AppState>>) -> Response {
    if let Some(cert) = &state.cert {
        state.metrics.set_certificate_expiry(cert.not_after());
    }
    state.metrics.set_server_state(
        state.slots.as_deref(),
        state.budget.used(),
        crate::telemetry::dropped_lines(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn validate_handler(
    _: VerifiedClient,
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.in_flight();
    let budget = request
        .uri()
        .query()
        .and_then(timeout_parameter)
        .unwrap_or(state.limits.default_budget);
    let body = match read_body(&state, request, budget, started).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let (bytes, _reservation) = body;
    let review = if bytes.len() <= budget::SMALL_BODY {
        state.reviewer.review(&bytes, budget).await
    } else {
        match review_on_pool(&state, bytes, budget, started).await {
            Ok(review) => review,
            Err(refusal) => return refusal,
        }
    };
    let (decision, review) = match review {
        Answer::Decided(decision, review) => (Some(decision), review),
        Answer::Malformed(review) => (None, review),
        Answer::Unreadable(bad) => {
            return refuse(&state, StatusCode::BAD_REQUEST, bad.message, started);
        }
    };
    record(&state, decision.as_ref(), &review, started.elapsed());
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(review.to_json()),
    )
        .into_response()
}

/// Reads the body within the body budget: waits for room at most `body_timeout` (and at most
/// the request's lookup budget: waiting past the apiserver's own timeout helps nobody), then
/// allows `body_timeout` for the body to arrive. The body and its reservation, or the answer
/// that refuses it.
///
/// Not `tower-http` layers: `RequestBodyLimitLayer` answers its own 413 (`length limit
/// exceeded`, neither logged nor counted), and the reservation needs the declared length first
/// anyway; `RequestBodyTimeoutLayer` is an idle timeout that restarts at every chunk (a client
/// trickling a byte at a time never trips it), and `RequestBodyDeadlineLayer` and `TimeoutLayer`
/// start when the request arrives, where this deadline starts once the body is admitted. The
/// limit is `http-body-util`'s `Limited` (inside `to_bytes`).
async fn read_body(
    state: &AppState,
    request: Request,
    budget: Duration,
    started: Instant,
) -> Result<(axum::body::Bytes, budget::Reservation), Response> {
    let limit = state.limits.body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(state, limit, started));
    }
    // A body without a length may be as long as the limit.
    let reserve = declared.map_or(limit, |n| n as usize);
    let wait = state
        .limits
        .body_timeout
        .min(crate::admission::lookup_budget(budget))
        .saturating_sub(started.elapsed());
    let Some(reservation) = state.budget.acquire(reserve, wait).await else {
        return Err(overloaded(
            state,
            Shed::BodyBudget,
            format!(
                "too many request bodies in flight (--max-inflight-body-bytes {}): no room for {reserve} bytes within {wait:?}",
                state.limits.body_budget
            ),
            started,
        ));
    };
    // Most bodies arrive with their headers: `within` arms no timer for those.
    let read = crate::timeout::within(
        state.limits.body_timeout,
        axum::body::to_bytes(request.into_body(), limit),
    );
    match read.await {
        Some(Ok(body)) => Ok((body, reservation)),
        Some(Err(error)) if is_length_limit(&error) => Err(too_large(state, limit, started)),
        Some(Err(error)) => Err(refuse(
            state,
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}"),
            started,
        )),
        None => {
            let message = format!(
                "request body not received within {:?}",
                state.limits.body_timeout
            );
            Err(refuse(state, StatusCode::REQUEST_TIMEOUT, message, started))
        }
    }
}

/// Reviews a big body on the blocking pool, once a worker is free: not at all when the
/// request's lookup budget passes first, or when its client has gone by the time a worker
/// takes it.
async fn review_on_pool(
    state: &AppState,
    body: axum::body::Bytes,
    budget: Duration,
    started: Instant,
) -> Result<Answer, Response> {
    let deadline = started + crate::admission::lookup_budget(budget);
    let wait = deadline.saturating_duration_since(Instant::now());
    let worker = crate::timeout::within(wait, Arc::clone(&state.workers).acquire_owned()).await;
    let Some(Ok(worker)) = worker else {
        return Err(overloaded(
            state,
            Shed::Workers,
            format!(
                "every review worker is busy with a big request (--review-workers {}); none was free within the request's budget",
                state.limits.review_workers
            ),
            started,
        ));
    };
    // Set when this handler is dropped (the client went away): the work is then skipped.
    let gone = Arc::new(AtomicBool::new(false));
    let _on_drop = SetOnDrop(Arc::clone(&gone));
    let reviewer = Arc::clone(&state.reviewer);
    let runtime = tokio::runtime::Handle::current();
    let work = tokio::task::spawn_blocking(move || {
        let _worker = worker;
        if gone.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return None;
        }
        Some(runtime.block_on(reviewer.review(&body, budget)))
    });
    match work.await {
        Ok(Some(review)) => Ok(review),
        // A review that panicked fails as it would have on the request's own task.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Ok(None) | Err(_) => Err(overloaded(
            state,
            Shed::Deadline,
            "the request's budget passed before a review worker could start".to_owned(),
            started,
        )),
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Logs and counts an answered review.
fn record(
    state: &AppState,
    decision: Option<&Decision>,
    review: &crate::admission::AdmissionReview,
    elapsed: Duration,
) {
    let seconds = elapsed.as_secs_f64();
    let response = review.response();
    match decision {
        Some(decision) => {
            let labels = RequestLabels {
                kind: KindLabel::from(decision.subject),
                operation: OperationLabel::from(decision.operation),
                verdict: decision.verdict,
            };
            info!(
                uid = response.uid.as_str(),
                kind = labels.kind.as_str(),
                namespace = decision.namespace.as_str(),
                name = decision.name.as_str(),
                operation = labels.operation.as_str(),
                verdict = labels.verdict.as_str(),
                warnings = response.warnings.len(),
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
            let error = response
                .status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .unwrap_or("");
            warn!(uid = %response.uid, %error, "bad AdmissionReview answered with 400");
            state.metrics.observe(RequestLabels::unreadable(), seconds);
        }
    }
}

fn too_large(state: &AppState, limit: usize, started: Instant) -> Response {
    let message = format!("request body exceeds the limit of {limit} bytes");
    refuse(state, StatusCode::PAYLOAD_TOO_LARGE, message, started)
}

/// Seconds a client told to come back (503) should wait.
const RETRY_AFTER_SECONDS: &str = "1";

/// A 503 with `Retry-After` for a request shed under load.
fn overloaded(state: &AppState, why: Shed, message: String, started: Instant) -> Response {
    state.metrics.shed(why);
    let mut response = refuse(state, StatusCode::SERVICE_UNAVAILABLE, message, started);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

/// Answers a body that carries no AdmissionReview with a status and a one-line message.
fn refuse(state: &AppState, status: StatusCode, message: String, started: Instant) -> Response {
    warn!(status = status.as_u16(), error = %message, "request refused");
    state
        .metrics
        .observe(RequestLabels::unreadable(), started.elapsed().as_secs_f64());
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
        .map(|budget| budget.min(MAX_BUDGET))
}

/// The longest `?timeout=` honoured: the apiserver's own limit on a webhook's `timeoutSeconds`.
/// A longer value (which only a client other than the apiserver sends) would let one request
/// hold a worker, a body reservation and a slot for as long as it asked.
pub const MAX_BUDGET: Duration = Duration::from_secs(30);

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
    slots: Arc<Slots>,
    client_auth: bool,
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
        Self::bind_router(config, move |cert, slots| {
            let state = AppState::new(reviewer, metrics, Some(cert), limits).with_slots(slots);
            router(Arc::new(state))
        })
        .await
    }

    /// Like [`Server::bind`], with any router on the same TLS and connection handling (the
    /// load benchmark's null webhook uses this).
    pub async fn bind_router(
        config: &ServeConfig,
        make_router: impl FnOnce(Arc<ReloadingCert>, Arc<Slots>) -> Router,
    ) -> Result<Self, ServeError> {
        config.limits.check().map_err(ServeError::Limits)?;
        let (tls_config, cert) = tls::server_config(&config.tls)?;
        let listener = listen(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            error: source,
        })?;
        let slots = Slots::new(config.limits.max_connections);
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(tls_config),
            router: make_router(cert, Arc::clone(&slots)),
            limits: config.limits.clone(),
            slots,
            client_auth: config.tls.client_ca_file.is_some(),
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
            slots,
            client_auth,
        } = self;
        let (draining, drain) = watch::channel(false);
        let template = Arc::new(ConnectionContext {
            acceptor,
            router,
            http1: http1_builder(&limits),
            http2: http2_builder(&limits),
            limits: limits.clone(),
            client_auth,
            drain,
        });
        accept_until(&listener, &slots, &template, shutdown).await;
        drop(listener);
        info!(timeout = ?limits.shutdown_timeout, "shutting down: draining in-flight requests");
        let _ = draining.send(true);
        match tokio::time::timeout(limits.shutdown_timeout, slots.all_closed()).await {
            Ok(()) => info!("all connections closed"),
            Err(_) => warn!(
                open = slots.open(),
                "shutdown timeout elapsed with connections still open"
            ),
        }
    }
}

/// Accepts connections, each served on its own task once it has a slot, until `shutdown`
/// completes.
async fn accept_until(
    listener: &TcpListener,
    slots: &Arc<Slots>,
    template: &Arc<ConnectionContext>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return,
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
        // A slot for this connection (closing an idle one if need be); until one is free,
        // further connections wait in the kernel's backlog.
        let slot = tokio::select! {
            () = &mut shutdown => return,
            slot = slots.admit() => slot,
        };
        let connection = Arc::clone(template);
        // No per-connection span: entering a span on every poll of a keep-alive connection
        // costs more than the decision's own log line. Connection events name the peer.
        tokio::spawn(async move {
            let activity = Arc::clone(slot.activity());
            tokio::select! {
                () = connection.serve(tcp, peer, &activity) => {}
                () = activity.evicted() => debug!(%peer, "closed to make room for a new connection"),
            }
            drop(slot);
        });
    }
}

/// hyper's HTTP/1.1 connection settings under `limits`.
fn http1_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
    http1
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HTTP1_BUFFER_BYTES)
        .max_headers(MAX_HEADERS);
    http1
}

/// hyper's HTTP/2 connection settings under `limits`.
fn http2_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
    http2
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_STREAMS)
        .max_header_list_size(HTTP2_HEADER_BYTES)
        .max_send_buf_size(HTTP2_SEND_BUFFER_BYTES)
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.handshake_timeout);
    http2
}

/// hyper's HTTP/1.1 read buffer at most (request heads must fit; the apiserver's are a few
/// hundred bytes).
const HTTP1_BUFFER_BYTES: usize = 64 * 1024;
/// Request headers at most.
const MAX_HEADERS: usize = 64;
/// HTTP/2 streams per connection at once.
const HTTP2_STREAMS: u32 = 32;
/// HTTP/2 header block at most.
const HTTP2_HEADER_BYTES: u32 = 64 * 1024;
/// HTTP/2 answer bytes buffered per stream at most.
const HTTP2_SEND_BUFFER_BYTES: usize = 256 * 1024;

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

/// What every connection needs, shared.
struct ConnectionContext {
    acceptor: TlsAcceptor,
    router: Router,
    limits: Limits,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    client_auth: bool,
    /// Becomes `true` when the server shuts down.
    drain: watch::Receiver<bool>,
}

impl ConnectionContext {
    /// Serves one connection: the TLS handshake, then HTTP until the client closes, the
    /// server drains, or the connection is idle for `idle_timeout`.
    async fn serve(&self, tcp: TcpStream, peer: SocketAddr, activity: &Arc<Activity>) {
        let _ = tcp.set_nodelay(true);
        let Some(stream) = self.handshake(tcp, peer).await else {
            return;
        };
        let (_, session) = stream.get_ref();
        let h2 = session.alpn_protocol() == Some(b"h2");
        let identity = self
            .client_auth
            .then(|| ClientCertificate(session.peer_certificates().is_some()));
        let router = self.router.clone();
        let requests = Arc::clone(activity);
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let in_flight = requests.begin();
            let mut request = request.map(Body::new);
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        });
        let builder = if h2 { &self.http2 } else { &self.http1 };
        let io = TokioIo::new(TimedIo::new(stream, self.limits.write_timeout));
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut drain = self.drain.clone();
        let idle_timeout = self.limits.idle_timeout;
        let mut closing = false;
        // An idle connection closed gracefully still has its answers to deliver, which an
        // HTTP/2 client can stall through flow control without ever stalling a socket write:
        // it gets a write timeout to finish, then is dropped.
        let give_up = tokio::time::sleep(Duration::MAX);
        tokio::pin!(give_up);
        let mut giving_up = false;
        loop {
            let idle_for = activity.idle_for();
            let idle_check = tokio::time::sleep(idle_timeout.saturating_sub(idle_for));
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                () = &mut give_up, if giving_up => {
                    debug!(%peer, "an idle connection did not close within the write timeout; dropped");
                    return;
                }
                changed = drain.changed(), if !closing => {
                    // Shutdown (or the server gone): finish what is in flight, then close.
                    let _ = changed;
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = idle_check, if !closing => {
                    if activity.idle_for() >= idle_timeout {
                        debug!(%peer, ?idle_timeout, "closing an idle connection");
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                        let deadline = tokio::time::Instant::now() + self.limits.write_timeout;
                        give_up.as_mut().reset(deadline);
                        giving_up = true;
                    }
                }
            }
        }
    }

    /// The TLS handshake within `handshake_timeout`; `None` when it failed or timed out, or
    /// when the client spoke plain HTTP (answered with a 400 first).
    async fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let handshake = async {
            if speaks_plain_http(&tcp).await {
                return Err(Some(tcp));
            }
            self.acceptor.accept(tcp).await.map_err(|error| {
                debug!(%peer, %error, "TLS handshake failed");
                None
            })
        };
        match tokio::time::timeout(self.limits.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(Some(mut plain))) => {
                debug!(%peer, "plain HTTP on the TLS port");
                let _ = plain
                    .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                    .await;
                let _ = plain.shutdown().await;
                None
            }
            Ok(Err(None)) => None,
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                None
            }
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

/// Completes on SIGTERM or Ctrl-C. SIGHUP, SIGUSR1 and SIGUSR2, which would otherwise end the
/// process on the spot, are logged and ignored: there is nothing to reload (certificates
/// reload on their own).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        let ignored = [
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        for (kind, name) in ignored {
            if let Ok(mut stream) = signal(kind) {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        info!(
                            signal = name,
                            "signal ignored: nothing to reload (certificates reload on their own); SIGTERM stops the server"
                        );
                    }
                });
            }
        }
        match signal(SignalKind::terminate()) {
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
