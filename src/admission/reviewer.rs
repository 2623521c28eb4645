//! The [`Reviewer`]: decodes a body, looks up what the object refers to, runs the validators
//! and answers, from the decision cache when it can.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde_json::Value;
use serde_json::value::RawValue;

use super::clock::Clock;
use super::decision::{Answer, Decision, Verdict};
use super::decisions::{self, DecisionCache};
use super::decode::{BadReview, decode, decode_envelope};
use super::request::{AdmissionRequest, RawRequest, name_of, namespace_of};
use super::response::{AdmissionResponse, AdmissionReview};
use super::status::{self, bad_request, failure};
use crate::lookup::{BundleCache, Lookup};
use crate::validate::{self, CaKind, Operation, PolicyChange, Report, Settings, Subject, Wants};

/// Answers AdmissionReviews: settings, a lookup, a bundle cache, a clock and (optionally) a
/// cache of decisions on identical requests.
pub struct Reviewer {
    settings: Settings,
    lookup: Arc<dyn Lookup>,
    bundles: Arc<BundleCache>,
    clock: Clock,
    pub(super) decisions: DecisionCache,
}

impl Reviewer {
    pub fn new(
        settings: Settings,
        lookup: Arc<dyn Lookup>,
        bundles: Arc<BundleCache>,
        clock: Clock,
    ) -> Self {
        Self {
            settings,
            lookup,
            bundles,
            clock,
            decisions: DecisionCache::new(0, 0),
        }
    }

    /// Reuses decisions on byte-identical requests: at most `capacity` of them, each for at
    /// most `ttl_secs` (see [`decisions`](super::decisions)). Zero capacity switches it off.
    /// The byte bound set by [`with_decision_cache_bytes`](Self::with_decision_cache_bytes) is
    /// kept, whichever is called first.
    pub fn with_decision_cache(mut self, capacity: usize, ttl_secs: i64) -> Self {
        let max_bytes = self.decisions.max_bytes();
        self.decisions = DecisionCache::new(capacity, ttl_secs).with_max_bytes(max_bytes);
        self
    }

    /// Bounds the decision cache to `max_bytes` (keys and answers; see
    /// [`decisions`](super::decisions)).
    pub fn with_decision_cache_bytes(mut self, max_bytes: usize) -> Self {
        self.decisions = self.decisions.with_max_bytes(max_bytes);
        self
    }

    pub fn lookup(&self) -> &Arc<dyn Lookup> {
        &self.lookup
    }

    /// Answers a decoded request at `now` (the reviewer's clock); lookups give up after
    /// `budget`.
    async fn decide(
        &self,
        request: &AdmissionRequest,
        budget: Duration,
        now: i64,
    ) -> (Decision, AdmissionResponse) {
        let kind = &request.kind;
        let subject = Subject::of(&kind.group, &kind.kind);
        let result = match subject {
            Some(Subject::Policy) => self.policy(request, budget, now).await,
            Some(Subject::Ca(ca_kind)) => self.ca_object(request, ca_kind, budget, now).await,
            None => {
                let report = validate::not_judged(&kind.group, &kind.version, &kind.kind);
                Ok(report)
            }
        };
        let (response, verdict) = match result {
            Ok(report) => (
                status::judged(&report, subject, request),
                Verdict::of(&report),
            ),
            Err(status) => (status::refused(*status, request), Verdict::Error),
        };
        let decision = Decision {
            subject,
            operation: request.operation.as_ref().ok().copied(),
            namespace: request.namespace.clone(),
            name: request.name.clone(),
            verdict,
            cached: false,
        };
        (decision, response)
    }

    /// Decodes and answers a body: decided, malformed (answered with a refusal) or unreadable
    /// (no uid to answer to).
    pub async fn review(&self, body: &[u8], budget: Duration) -> Answer {
        let answer = if self.decisions.enabled() {
            match decode_envelope::<&RawValue>(body) {
                Ok(raw) => self.review_cached(raw, body.len(), budget).await,
                // For a UTF-8 body the one pass fails wherever this does, and `decode` then
                // explains it by this very decoding: keep its answer rather than decode again.
                Err(bad) if std::str::from_utf8(body).is_ok() => Err(bad),
                // A raw value must be UTF-8, while the one pass skips the parts it prunes (as
                // it does the envelope's userInfo): such a body takes the one pass, so that an
                // answer never depends on whether decisions are cached.
                Err(_) => self.review_one_pass(body, budget).await,
            }
        } else {
            self.review_one_pass(body, budget).await
        };
        match answer {
            Ok((decision, review)) => Answer::Decided(decision, review),
            Err(bad) => match bad.to_review() {
                Some(review) => Answer::Malformed(review),
                None => Answer::Unreadable(bad),
            },
        }
    }

    /// Decodes in one pass and decides.
    async fn review_one_pass(
        &self,
        body: &[u8],
        budget: Duration,
    ) -> Result<(Decision, AdmissionReview), BadReview> {
        let request = decode(body)?;
        let (decision, response) = self.decide(&request, budget, self.clock.now()).await;
        Ok((decision, AdmissionReview::new(response)))
    }

    /// Answers from the decision cache, or decides and remembers.
    async fn review_cached(
        &self,
        raw: RawRequest<'_, &RawValue>,
        body_len: usize,
        budget: Duration,
    ) -> Result<(Decision, AdmissionReview), BadReview> {
        let now = self.clock.now();
        // A Secret's decision is never cached: the cache keeps the request's object bytes, which
        // would hold every key of the Secret.
        if Subject::of(&raw.kind.group, &raw.kind.kind) == Some(Subject::Ca(CaKind::Secret)) {
            let (decision, response) = self.decide(&raw.parse(body_len)?, budget, now).await;
            return Ok((decision, AdmissionReview::new(response)));
        }
        let generation = self.lookup.generation();
        let parts = raw.cache_parts();
        if let Some(answer) = self.decisions.get(&parts, generation, now) {
            let response = AdmissionResponse {
                uid: raw.uid.into_owned(),
                allowed: answer.status.is_none(),
                status: answer.status.clone(),
                warnings: answer.warnings.clone(),
            };
            let decision = Decision {
                subject: answer.subject,
                operation: raw.operation.as_ref().ok().copied(),
                namespace: raw.namespace.into_owned(),
                name: raw.name.into_owned(),
                verdict: answer.verdict,
                cached: true,
            };
            let review = AdmissionReview::with_encoded_rest(response, answer.encoded_rest.clone());
            return Ok((decision, review));
        }
        let key = self.decisions.cacheable_key(&parts, generation);
        let request = raw.parse(body_len)?;
        let (decision, response) = self.decide(&request, budget, now).await;
        let Some(key) = key.filter(|_| decision.verdict != Verdict::Error) else {
            return Ok((decision, AdmissionReview::new(response)));
        };
        // Encoded once: the answer to this request and every later hit share it.
        let encoded_rest = AdmissionReview::encode_rest(&response);
        let answer = decisions::CachedAnswer {
            subject: decision.subject,
            verdict: decision.verdict,
            status: response.status.clone(),
            warnings: response.warnings.clone(),
            encoded_rest: encoded_rest.clone(),
        };
        self.decisions.put(key, answer, now);
        Ok((
            decision,
            AdmissionReview::with_encoded_rest(response, encoded_rest),
        ))
    }

    async fn policy(
        &self,
        request: &AdmissionRequest,
        budget: Duration,
        now: i64,
    ) -> Result<Report, Box<Status>> {
        let operation = known_operation(request)?;
        if !matches!(operation, Operation::Create | Operation::Update) {
            return Ok(Report::default());
        }
        if !validate::is_known_version(&request.kind.version) {
            return Ok(validate::unknown_version(&request.kind.version));
        }
        let object = required_object(request, operation)?;
        let namespace = namespace_of(request, object);
        let wants = Wants::for_policy_with(object, namespace, &self.settings.profile);
        let snapshot = self.snapshot(&wants, budget).await?;
        let change = PolicyChange {
            object,
            old_object: request.old_object.as_ref().filter(|o| !o.is_null()),
            operation,
            subresource: request.sub_resource.as_deref().filter(|s| !s.is_empty()),
            namespace,
        };
        Ok(validate::policy(&change, &snapshot, &self.settings, now))
    }

    /// A ConfigMap, Secret or ClusterTrustBundle that policies may use as a CA bundle.
    async fn ca_object(
        &self,
        request: &AdmissionRequest,
        kind: validate::CaKind,
        budget: Duration,
        now: i64,
    ) -> Result<Report, Box<Status>> {
        let operation = known_operation(request)?;
        let Objects {
            object,
            old_object,
            any,
        } = objects_of(request)?;
        let namespace = match kind {
            validate::CaKind::ClusterTrustBundle => "",
            _ => namespace_of(request, any),
        };
        let name = name_of(request, Some(any));
        let wants = Wants::for_ca_object(kind, namespace, name);
        let snapshot = self.snapshot(&wants, budget).await?;
        let change = validate::CaObjectChange {
            kind,
            object,
            old_object,
            operation,
            namespace,
            name,
        };
        let report = validate::ca_object(&change, &snapshot, &self.settings, now, |text| {
            self.bundles.get(text)
        });
        Ok(report)
    }

    async fn snapshot(
        &self,
        wants: &Wants,
        budget: Duration,
    ) -> Result<validate::Snapshot, Box<Status>> {
        let limit = lookup_budget(budget);
        let result = crate::lookup::snapshot_within(&*self.lookup, wants, limit).await;
        result.map_err(|e| {
            Box::new(failure(
                503,
                "ServiceUnavailable",
                format!(
                    "backendtls-webhook could not check the references ({e}); retry the request"
                ),
                None,
            ))
        })
    }
}

/// How long a lookup may take within the apiserver's budget: 60 % of it, leaving time to
/// answer before the apiserver gives up.
pub fn lookup_budget(budget: Duration) -> Duration {
    budget.mul_f64(0.6)
}

/// The operation of a request about a kind this webhook judges: an unknown one is a bad request.
fn known_operation(request: &AdmissionRequest) -> Result<Operation, Box<Status>> {
    match &request.operation {
        Ok(operation) => Ok(*operation),
        Err(unknown) => Err(bad_request(format!("request.operation: {unknown}"))),
    }
}

fn required_object(
    request: &AdmissionRequest,
    operation: Operation,
) -> Result<&Value, Box<Status>> {
    match request.object.as_ref() {
        Some(object) if object.is_object() => Ok(object),
        Some(other) if !other.is_null() => Err(bad_request(format!(
            "request.object must be an object, got {}",
            validate::schema::json_type(other)
        ))),
        _ => Err(bad_request(format!(
            "request.object is required for {operation}"
        ))),
    }
}

/// A request's object and old object (`null` counts as absent), and whichever is there.
struct Objects<'r> {
    object: Option<&'r Value>,
    old_object: Option<&'r Value>,
    any: &'r Value,
}

/// The objects of a CA object's review, which needs at least one of them.
fn objects_of(request: &AdmissionRequest) -> Result<Objects<'_>, Box<Status>> {
    let object = request.object.as_ref().filter(|o| !o.is_null());
    let old_object = request.old_object.as_ref().filter(|o| !o.is_null());
    let any = object
        .or(old_object)
        .ok_or_else(|| bad_request("request.object and request.oldObject are both missing"))?;
    Ok(Objects {
        object,
        old_object,
        any,
    })
}
