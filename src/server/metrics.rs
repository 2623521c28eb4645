//! Prometheus metrics (OpenMetrics text at `GET /metrics`).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use tokio::sync::watch;

use crate::admission::Verdict;
use crate::lookup::ClusterLookup;
use crate::validate::{Operation, Subject};

/// Labels of the request counter. Values are enums, so a client cannot create series at will
/// and every value is in one place.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub kind: KindLabel,
    pub operation: OperationLabel,
    /// `allowed`, `denied` or `error`.
    pub verdict: Verdict,
}

impl RequestLabels {
    /// The labels of a request answered without a review: a body that is not one, or a request
    /// refused before it was read.
    pub fn unreadable() -> Self {
        Self {
            kind: KindLabel::Unknown,
            operation: OperationLabel::Unknown,
            verdict: Verdict::Error,
        }
    }
}

/// The `kind` label of a request: `BackendTLSPolicy`, `ConfigMap`, `Secret`,
/// `ClusterTrustBundle`, `other` or `unknown`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum KindLabel {
    /// A kind the rules judge.
    Judged(Subject),
    /// A kind this webhook should not have been sent.
    Other,
    /// No review could be read.
    Unknown,
}

impl KindLabel {
    /// The label value (also the log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Judged(subject) => subject.kind(),
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }
}

impl From<Option<Subject>> for KindLabel {
    fn from(subject: Option<Subject>) -> Self {
        subject.map_or(Self::Other, Self::Judged)
    }
}

impl EncodeLabelValue for KindLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The `operation` label of a request: `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `unknown`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum OperationLabel {
    /// An operation the AdmissionReview API defines.
    Known(Operation),
    /// Another, or none read.
    Unknown,
}

impl OperationLabel {
    /// The label value (also the log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Known(operation) => operation.as_str(),
            Self::Unknown => "unknown",
        }
    }
}

impl From<Option<Operation>> for OperationLabel {
    fn from(operation: Option<Operation>) -> Self {
        operation.map_or(Self::Unknown, Self::Known)
    }
}

impl EncodeLabelValue for OperationLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for Verdict {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Why a request was shed (answered 503 with `Retry-After`) rather than reviewed.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Shed {
    /// No room in the body budget in time.
    BodyBudget,
    /// No review worker free within the request's budget.
    Workers,
    /// The request's budget passed before its review could start.
    Deadline,
}

impl Shed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BodyBudget => "body_budget",
            Self::Workers => "review_workers",
            Self::Deadline => "deadline",
        }
    }
}

impl EncodeLabelValue for Shed {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Labels of the shed-request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    reason: Shed,
}

/// Labels of the CA certificate expiry gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CaCertificateLabels {
    /// Namespace of the ConfigMap.
    pub namespace: String,
    /// Name of the ConfigMap.
    pub configmap: String,
    /// Subject of the certificate.
    pub subject: String,
}

/// The webhook's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    in_flight: Gauge,
    decision_cache_hits: Counter,
    certificate_expiry: Gauge<i64, AtomicI64>,
    ca_certificate_expiry: Family<CaCertificateLabels, Gauge<i64, AtomicI64>>,
    shed: Family<ShedLabels, Counter>,
    connections_open: Gauge,
    connections_evicted: Counter,
    body_bytes_in_flight: Gauge,
    log_lines_dropped: Counter,
    /// Counts replacements of the CA series, for whoever waits for one (tests).
    ca_updates: watch::Sender<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets in seconds, from 50 µs to 10 s.
const BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under the `backendtls_webhook` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("backendtls_webhook");
        let r = &mut registry;
        let requests = registered(
            r,
            "requests",
            "AdmissionReview requests by kind, operation and verdict",
            Family::default(),
        );
        let duration = registered(
            r,
            "request_duration_seconds",
            "Time from the request head to the answer, for POST /validate",
            Histogram::new(BUCKETS),
        );
        let in_flight = registered(
            r,
            "requests_in_flight",
            "AdmissionReview requests being answered",
            Gauge::default(),
        );
        let decision_cache_hits = registered(
            r,
            "decision_cache_hits",
            "AdmissionReview requests answered from the decision cache (counted in requests too)",
            Counter::default(),
        );
        let certificate_expiry = registered(
            r,
            "tls_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, in Unix seconds",
            Gauge::default(),
        );
        let ca_certificate_expiry = registered(
            r,
            "ca_certificate_expiry_timestamp_seconds",
            "notAfter of each CA certificate in ConfigMaps referenced by BackendTLSPolicies, in Unix seconds",
            Family::default(),
        );
        let shed = registered(
            r,
            "requests_shed",
            "Requests answered 503 with Retry-After instead of reviewed, by reason (body_budget, review_workers, deadline)",
            Family::default(),
        );
        let (connections_open, connections_evicted, body_bytes_in_flight, log_lines_dropped) =
            server_state(r);
        Self {
            requests,
            duration,
            in_flight,
            decision_cache_hits,
            certificate_expiry,
            ca_certificate_expiry,
            shed,
            connections_open,
            connections_evicted,
            body_bytes_in_flight,
            log_lines_dropped,
            ca_updates: watch::Sender::new(0),
            registry,
        }
    }

    /// Counts one answered request and its latency.
    pub fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.duration.observe(seconds);
    }

    /// Counts a request answered from the decision cache (besides `observe`).
    pub fn decision_cache_hit(&self) {
        self.decision_cache_hits.inc();
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn in_flight(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(Arc::clone(self))
    }

    /// Counts a request shed under load.
    pub fn shed(&self, why: Shed) {
        self.shed.get_or_create(&ShedLabels { reason: why }).inc();
    }

    /// Sets what the server reads on each scrape: its connections (when it has slots), the
    /// body bytes in flight and the log lines dropped so far.
    pub fn set_server_state(
        &self,
        slots: Option<&crate::server::connections::Slots>,
        body_bytes: usize,
        dropped_lines: u64,
    ) {
        if let Some(slots) = slots {
            self.connections_open
                .set(i64::try_from(slots.open()).unwrap_or(i64::MAX));
            self.connections_evicted
                .inner()
                .store(slots.evicted(), std::sync::atomic::Ordering::Relaxed);
        }
        self.body_bytes_in_flight
            .set(i64::try_from(body_bytes).unwrap_or(i64::MAX));
        self.log_lines_dropped
            .inner()
            .store(dropped_lines, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets the serving certificate's expiry.
    pub fn set_certificate_expiry(&self, not_after: i64) {
        self.certificate_expiry.set(not_after);
    }

    /// Replaces the CA certificate expiry series with `certificates`: `(namespace, ConfigMap,
    /// subject, notAfter)`. Certificates with the same subject in one ConfigMap report the
    /// earliest expiry.
    pub fn set_ca_certificates(
        &self,
        certificates: impl IntoIterator<Item = (String, String, String, i64)>,
    ) {
        let mut earliest: std::collections::BTreeMap<(String, String, String), i64> =
            std::collections::BTreeMap::new();
        for (namespace, configmap, subject, not_after) in certificates {
            let slot = earliest
                .entry((namespace, configmap, subject))
                .or_insert(not_after);
            *slot = (*slot).min(not_after);
        }
        self.ca_certificate_expiry.clear();
        for ((namespace, configmap, subject), not_after) in earliest {
            self.ca_certificate_expiry
                .get_or_create(&CaCertificateLabels {
                    namespace,
                    configmap,
                    subject,
                })
                .set(not_after);
        }
        self.ca_updates.send_modify(|n| *n += 1);
    }

    /// Notified after each `set_ca_certificates`: a way to wait for `follow_ca_expiry` without
    /// sleeping.
    pub fn ca_updates(&self) -> watch::Receiver<u64> {
        self.ca_updates.subscribe()
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Registers what [`Metrics::set_server_state`] sets on each scrape: connections open and
/// evicted, body bytes in flight, log lines dropped.
fn server_state(r: &mut Registry) -> (Gauge, Counter, Gauge, Counter) {
    let connections_open = registered(
        r,
        "connections_open",
        "Client connections open (TLS handshakes included)",
        Gauge::default(),
    );
    let connections_evicted = registered(
        r,
        "connections_evicted",
        "Idle or handshaking connections closed to make room for new ones (--max-connections)",
        Counter::default(),
    );
    let body_bytes_in_flight = registered(
        r,
        "body_bytes_in_flight",
        "Bytes of request bodies reserved from the budget (--max-inflight-body-bytes)",
        Gauge::default(),
    );
    let log_lines_dropped = registered(
        r,
        "log_lines_dropped",
        "Log lines dropped because stderr did not keep up (the log buffer is bounded)",
        Counter::default(),
    );
    (
        connections_open,
        connections_evicted,
        body_bytes_in_flight,
        log_lines_dropped,
    )
}

/// Registers `metric` under `name` and returns it (metrics share their state with their clones).
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Every certificate in every ConfigMap a policy references: `(namespace, ConfigMap, subject,
/// notAfter)`.
pub fn ca_certificates(lookup: &ClusterLookup) -> Vec<(String, String, String, i64)> {
    lookup
        .referenced_bundles()
        .into_iter()
        .flat_map(|(namespace, configmap, bundle)| {
            bundle
                .certificates()
                .iter()
                .map(|c| {
                    (
                        namespace.clone(),
                        configmap.clone(),
                        c.subject.clone(),
                        c.not_after,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How often `serve` recomputes the CA expiry series at most.
pub const CA_EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps `backendtls_webhook_ca_certificate_expiry_timestamp_seconds` in step with the cluster
/// caches, so an alert can fire before a backend's trust breaks. Recomputed after changes, at
/// most once per `min_interval` (`serve` uses [`CA_EXPIRY_INTERVAL`]); runs until the caches go
/// away.
pub async fn follow_ca_expiry(
    lookup: Arc<ClusterLookup>,
    metrics: Arc<Metrics>,
    min_interval: Duration,
) {
    let changes = lookup.changes();
    throttled(changes, min_interval, || {
        metrics.set_ca_certificates(ca_certificates(&lookup));
    })
    .await;
}

/// Calls `update` now, then after each change on `changes`, at most once per `min_interval`:
/// changes that arrive while it waits are folded into one call (a burst of watch events, such
/// as a namespace deleted or a relist, costs one recomputation). Returns when the sender is
/// gone.
async fn throttled<T>(
    mut changes: watch::Receiver<T>,
    min_interval: Duration,
    mut update: impl FnMut(),
) {
    loop {
        // Whatever changed before this point is seen by this call.
        changes.borrow_and_update();
        update();
        if changes.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(min_interval).await;
    }
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlightGuard(Arc<Metrics>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::CaKind;

    #[test]
    fn exposition_names_and_labels() {
        let metrics = Arc::new(Metrics::new());
        {
            let _guard = metrics.in_flight();
            assert!(
                metrics
                    .encode()
                    .contains("backendtls_webhook_requests_in_flight 1")
            );
        }
        metrics.observe(
            RequestLabels {
                kind: KindLabel::Judged(Subject::Policy),
                operation: OperationLabel::Known(Operation::Create),
                verdict: Verdict::Denied,
            },
            0.000_2,
        );
        metrics.set_certificate_expiry(1_800_000_000);
        let text = metrics.encode();
        assert!(text.contains("backendtls_webhook_decision_cache_hits_total 0\n"));
        metrics.decision_cache_hit();
        let text = metrics.encode();
        assert!(text.contains("backendtls_webhook_decision_cache_hits_total 1\n"));
        assert!(text.contains(r#"backendtls_webhook_requests_total{kind="BackendTLSPolicy",operation="CREATE",verdict="denied"} 1"#), "{text}");
        assert!(text.contains("backendtls_webhook_requests_in_flight 0"));
        assert!(
            text.contains(r#"backendtls_webhook_request_duration_seconds_bucket{le="0.00025"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("backendtls_webhook_tls_certificate_expiry_timestamp_seconds 1800000000")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_the_documented_ones() {
        let metrics = Metrics::new();
        metrics.observe(RequestLabels::unreadable(), 0.001);
        metrics.observe(
            RequestLabels {
                kind: KindLabel::from(None),
                operation: OperationLabel::from(Some(Operation::Connect)),
                verdict: Verdict::Allowed,
            },
            0.001,
        );
        metrics.observe(
            RequestLabels {
                kind: KindLabel::from(Some(Subject::Ca(CaKind::ClusterTrustBundle))),
                operation: OperationLabel::from(None),
                verdict: Verdict::Error,
            },
            0.001,
        );
        for why in [Shed::BodyBudget, Shed::Workers, Shed::Deadline] {
            metrics.shed(why);
        }
        let text = metrics.encode();
        for series in [
            r#"requests_total{kind="unknown",operation="unknown",verdict="error"} 1"#,
            r#"requests_total{kind="other",operation="CONNECT",verdict="allowed"} 1"#,
            r#"requests_total{kind="ClusterTrustBundle",operation="unknown",verdict="error"} 1"#,
            r#"requests_shed_total{reason="body_budget"} 1"#,
            r#"requests_shed_total{reason="review_workers"} 1"#,
            r#"requests_shed_total{reason="deadline"} 1"#,
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }

    /// A burst of changes, and changes that arrive while the throttle waits, cost one call
    /// each `min_interval`; nothing changes, nothing is called. Tokio's paused clock: the
    /// sleeps below advance virtual time once every task is idle.
    #[tokio::test(start_paused = true)]
    async fn changes_are_folded_into_one_call_per_interval() {
        use tokio::time::{Instant, sleep};
        let interval = Duration::from_secs(1);
        let (changes, receiver) = watch::channel(0u64);
        let (calls, mut called) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(throttled(receiver, interval, move || {
            let _ = calls.send(Instant::now());
        }));
        let start = Instant::now();
        assert_eq!(called.recv().await, Some(start), "called at once");

        for _ in 0..5 {
            changes.send_modify(|n| *n += 1);
        }
        let second = called.recv().await.expect("called after the burst");
        assert_eq!(second - start, interval, "one call, an interval later");

        // A change, then another while the throttle waits: still one call.
        changes.send_modify(|n| *n += 1);
        sleep(interval / 2).await;
        changes.send_modify(|n| *n += 1);
        let third = called.recv().await.expect("called after the two changes");
        assert_eq!(third - second, interval);
        sleep(interval * 10).await;
        assert!(called.try_recv().is_err(), "no change, no call");

        drop(changes);
        task.await.expect("returns when the sender is gone");
        assert!(called.recv().await.is_none());
    }

    #[test]
    fn ca_expiry_series_are_replaced_and_keep_the_earliest() {
        let metrics = Metrics::new();
        let cert = |cm: &str, subject: &str, t: i64| {
            ("shop".to_owned(), cm.to_owned(), subject.to_owned(), t)
        };
        metrics.set_ca_certificates([
            cert("a", "CN=x", 200),
            cert("a", "CN=x", 100),
            cert("b", "CN=y", 300),
        ]);
        let text = metrics.encode();
        assert!(text.contains(r#"backendtls_webhook_ca_certificate_expiry_timestamp_seconds{namespace="shop",configmap="a",subject="CN=x"} 100"#), "{text}");
        assert!(text.contains(r#"configmap="b",subject="CN=y"} 300"#));
        metrics.set_ca_certificates([cert("b", "CN=y", 300)]);
        assert!(
            !metrics.encode().contains(r#"configmap="a""#),
            "stale series removed"
        );
    }
}
