//! AdmissionReview in, AdmissionReview out (`admission.k8s.io/v1`).
//!
//! [`Reviewer::review`] decodes a request body, looks up what the object refers to, runs the
//! pure validators and maps their [`Report`] to a response: a denial carries `code: 422`,
//! `reason: Invalid`, a message listing every error and `details.causes[]` with one entry per
//! field, as the apiserver's own validation does, so `kubectl` prints one line per field.
//! Every body that holds a readable `request.uid` gets an AdmissionReview back, even when it
//! is not a valid request (then `allowed: false`, code 400).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use self::decisions::DecisionCache;
use crate::lookup::{BundleCache, Lookup};
use crate::validate::field::Echo;
use crate::validate::{self, ConfigMapChange, Operation, PolicyChange, Report, Settings, Wants};

/// The only AdmissionReview version this webhook speaks.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The kind of the envelope.
pub const REVIEW_KIND: &str = "AdmissionReview";
/// At most this many errors are spelled out in `status.message` (more are in `causes`).
const MESSAGE_ERRORS: usize = 32;
/// Byte budgets of an answer's parts, so that no answer exceeds [`MAX_ANSWER_BYTES`] whatever
/// the input (each item is also clipped to [`ITEM_BYTES`]): `status.message`, the causes
/// together, the warnings together.
const MESSAGE_BYTES: usize = 32 * 1024;
const CAUSES_BYTES: usize = 128 * 1024;
const WARNINGS_BYTES: usize = 64 * 1024;
/// Longest single cause message, warning or status message.
const ITEM_BYTES: usize = 4 * 1024;
/// The largest answer this webhook sends (the budgets above, the uid and the envelope).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Longest `request.uid` accepted: it is echoed whole, and the apiserver's are UUIDs (36 bytes).
pub const MAX_UID_BYTES: usize = 256;

/// `{group, version, kind}` of `request.kind`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// The fields of `request` this webhook reads; the rest (userInfo, options, …) are skipped.
/// Decoded through [`RawRequest`], in one pass over the body ([`decode`]) or, when decisions
/// are cached, leaving the objects raw until a miss needs them.
#[derive(Clone, Debug)]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// What is being reviewed (after any version conversion).
    pub kind: GroupVersionKind,
    /// `status` for the status subresource.
    pub sub_resource: Option<String>,
    /// Object name (may be empty on CREATE with generateName).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// The new object (null for DELETE), without the metadata and data no rule reads.
    pub object: Option<Value>,
    /// The stored object (UPDATE, DELETE), pruned likewise.
    pub old_object: Option<Value>,
    /// Whether this is a dry run.
    pub dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a, O> {
    #[serde(borrow)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request: Option<RawRequest<'a, O>>,
}

/// How `request.object` and `request.oldObject` are held once the envelope is decoded.
///
/// - [`Pruned`]: parsed (and pruned) in the same pass as the envelope: the cheapest way to the
///   objects when every request is reviewed.
/// - `&RawValue`: borrowed from the body, unparsed, so that a decision cache can key on their
///   bytes and parse them only on a miss (which then reads them twice: once to find their end,
///   once to parse them).
trait ObjectSlot<'a>: Deserialize<'a> {
    /// The object as the validators take it (`None` for `null`), pruned as [`prune`]
    /// describes.
    fn into_object(self) -> serde_json::Result<Option<Value>>;
}

/// An object already parsed and pruned ([`prune::object`]).
struct Pruned(Option<Value>);

impl<'de> Deserialize<'de> for Pruned {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        prune::object(deserializer).map(Self)
    }
}

impl ObjectSlot<'_> for Pruned {
    fn into_object(self) -> serde_json::Result<Option<Value>> {
        Ok(self.0)
    }
}

impl<'a> ObjectSlot<'a> for &'a RawValue {
    fn into_object(self) -> serde_json::Result<Option<Value>> {
        prune::object(&mut serde_json::Deserializer::from_str(self.get()))
    }
}

/// `request` with its strings borrowed from the body (nothing is copied until it is needed)
/// and its objects held as `O` ([`ObjectSlot`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest<'a, O> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    kind: RawKind<'a>,
    #[serde(default, borrow)]
    sub_resource: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    // Missing means `None` (serde's rule for `Option` fields).
    object: Option<O>,
    old_object: Option<O>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// `request.kind`, borrowed.
#[derive(Deserialize)]
struct RawKind<'a> {
    #[serde(default, borrow)]
    group: Cow<'a, str>,
    #[serde(default, borrow)]
    version: Cow<'a, str>,
    #[serde(default, borrow)]
    kind: Cow<'a, str>,
}

impl<'a, O: ObjectSlot<'a>> RawRequest<'a, O> {
    /// The request with its objects parsed (and pruned).
    fn parse(self) -> Result<AdmissionRequest, BadReview> {
        let uid = self.uid.into_owned();
        let parse = |slot: Option<O>, field: &str| -> Result<Option<Value>, BadReview> {
            let Some(slot) = slot else { return Ok(None) };
            slot.into_object()
                .map_err(|e| BadReview::new(Some(uid.clone()), format!("request.{field}: {e}")))
        };
        let object = parse(self.object, "object")?;
        let old_object = parse(self.old_object, "oldObject")?;
        Ok(AdmissionRequest {
            uid,
            kind: GroupVersionKind {
                group: self.kind.group.into_owned(),
                version: self.kind.version.into_owned(),
                kind: self.kind.kind.into_owned(),
            },
            sub_resource: self.sub_resource.map(Cow::into_owned),
            name: self.name.into_owned(),
            namespace: self.namespace.into_owned(),
            operation: self.operation.into_owned(),
            object,
            old_object,
            dry_run: self.dry_run,
        })
    }
}

impl RawRequest<'_, &RawValue> {
    /// What identifies this request's decision, besides the lookup's generation.
    fn cache_parts(&self) -> [&[u8]; 9] {
        fn raw(value: Option<&RawValue>) -> &[u8] {
            value.map_or(&b""[..], |v| v.get().as_bytes())
        }
        [
            self.kind.group.as_bytes(),
            self.kind.version.as_bytes(),
            self.kind.kind.as_bytes(),
            self.operation.as_bytes(),
            self.sub_resource.as_deref().unwrap_or("").as_bytes(),
            self.namespace.as_bytes(),
            self.name.as_bytes(),
            raw(self.object),
            raw(self.old_object),
        ]
    }
}

/// `response` of the answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// `request.uid`.
    pub uid: String,
    /// The verdict.
    pub allowed: bool,
    /// Why not (only read by the apiserver when `allowed` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Shown to the client whatever the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The answer envelope: `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
/// "response": {...}}`. Read-only once built, so that an answer from the decision cache can
/// keep its encoding.
#[derive(Clone, Debug)]
pub struct AdmissionReview {
    response: AdmissionResponse,
    /// For an answer from the decision cache: its encoding after `"uid":"…"`, shared by every
    /// request given that answer (encoding warnings and statuses costs more than the rest of a
    /// cached review).
    encoded_rest: Option<Arc<[u8]>>,
}

/// How an [`AdmissionReview`] serialises.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: &'a AdmissionResponse,
}

/// Every answer's encoding up to the uid's value.
const ENCODED_PREFIX: &[u8] =
    br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#;

impl Serialize for AdmissionReview {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Envelope {
            api_version: API_VERSION,
            kind: REVIEW_KIND,
            response: &self.response,
        }
        .serialize(serializer)
    }
}

impl PartialEq for AdmissionReview {
    /// Answers are equal when their responses are (however they are encoded).
    fn eq(&self, other: &Self) -> bool {
        self.response == other.response
    }
}

impl AdmissionReview {
    /// Wraps a response.
    pub fn new(response: AdmissionResponse) -> Self {
        Self {
            response,
            encoded_rest: None,
        }
    }

    /// The response.
    pub fn response(&self) -> &AdmissionResponse {
        &self.response
    }

    /// The response, unwrapped.
    pub fn into_response(self) -> AdmissionResponse {
        self.response
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        match &self.encoded_rest {
            Some(rest) => {
                let uid = &self.response.uid;
                let mut out = Vec::with_capacity(ENCODED_PREFIX.len() + uid.len() + 2 + rest.len());
                out.extend_from_slice(ENCODED_PREFIX);
                // Writing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, uid);
                out.extend_from_slice(rest);
                out
            }
            // Serializing these plain structs to a Vec cannot fail.
            None => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// The encoding of an answer with `response`'s verdict after its uid, for
    /// [`with_encoded_rest`](Self::with_encoded_rest).
    fn encode_rest(response: &AdmissionResponse) -> Option<Arc<[u8]>> {
        let json = Self::new(AdmissionResponse {
            uid: String::new(),
            ..response.clone()
        })
        .to_json();
        let rest = json.strip_prefix(ENCODED_PREFIX)?.strip_prefix(b"\"\"")?;
        Some(Arc::from(rest))
    }

    /// An answer that encodes as `ENCODED_PREFIX`, its uid, then `rest`: `rest` must come from
    /// [`encode_rest`](Self::encode_rest) of a response equal to this one but for the uid.
    fn with_encoded_rest(response: AdmissionResponse, rest: Option<Arc<[u8]>>) -> Self {
        Self {
            response,
            encoded_rest: rest,
        }
    }
}

/// A body that is not a usable AdmissionReview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadReview {
    /// `request.uid`, when it could be read: then the answer is an AdmissionReview.
    pub uid: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl BadReview {
    /// A bad review; `message` is clipped to [`ITEM_BYTES`] (decoding errors can quote the
    /// input).
    fn new(uid: Option<String>, message: impl Into<String>) -> Self {
        Self {
            uid,
            message: clip_text(message.into()),
        }
    }

    /// The AdmissionReview answer (`allowed: false`, code 400), when a uid was read.
    pub fn to_review(&self) -> Option<AdmissionReview> {
        let uid = self.uid.clone()?;
        Some(AdmissionReview::new(AdmissionResponse {
            uid,
            allowed: false,
            status: Some(failure(
                400,
                "BadRequest",
                format!("invalid AdmissionReview: {}", self.message),
                None,
            )),
            warnings: Vec::new(),
        }))
    }
}

/// Decodes a request body into the request it carries, in one pass, its objects within the
/// body's decoding budget ([`prune`]).
pub fn decode(body: &[u8]) -> Result<AdmissionRequest, BadReview> {
    prune::Budget::run(prune::budget_for(body.len()), || {
        match decode_envelope::<Pruned>(body) {
            Ok(request) => request.parse(),
            // Decoding again with the objects left raw tells which part is wrong, the envelope
            // or an object, and keeps the uid for the answer: an object nested past
            // serde_json's recursion limit, counted from the body rather than from the object,
            // or past the decoding budget, fails here only.
            Err(_) => decode_envelope::<&RawValue>(body)?.parse(),
        }
    })
}

/// Decodes the envelope, with the objects held as `O`.
fn decode_envelope<'a, O: ObjectSlot<'a>>(body: &'a [u8]) -> Result<RawRequest<'a, O>, BadReview> {
    // Strings borrowed from a `&str` need no UTF-8 check of their own (one pass over the body
    // is cheaper); a body that is not UTF-8 takes serde_json's byte path and its errors.
    let decoded = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<ReviewIn<'_, O>>(text),
        Err(_) => serde_json::from_slice::<ReviewIn<'_, O>>(body),
    };
    match decoded {
        Ok(review) => {
            if let Err(message) =
                check_envelope(review.api_version.as_deref(), review.kind.as_deref())
            {
                let uid = review
                    .request
                    .as_ref()
                    .map(|r| r.uid.to_string())
                    .filter(|u| !u.is_empty() && u.len() <= MAX_UID_BYTES);
                return Err(BadReview::new(uid, message));
            }
            let request = review.request.ok_or_else(|| {
                BadReview::new(None, "request is missing: expected {\"request\": {...}}")
            })?;
            if request.uid.is_empty() {
                return Err(BadReview::new(None, "request.uid is empty"));
            }
            if request.uid.len() > MAX_UID_BYTES {
                return Err(long_uid(request.uid.len()));
            }
            Ok(request)
        }
        Err(typed_error) => Err(explain(body, &typed_error)),
    }
}

/// Why an envelope is not an `admission.k8s.io/v1` AdmissionReview, if it is not, with what to
/// do: an older AdmissionReview version is the registration's `admissionReviewVersions`; an
/// object of another kind is an object sent where its review belongs.
fn check_envelope(api_version: Option<&str>, kind: Option<&str>) -> Result<(), String> {
    if kind == Some(REVIEW_KIND) && api_version == Some(API_VERSION) {
        return Ok(());
    }
    let got = format!(
        "expected apiVersion {API_VERSION:?} and kind {REVIEW_KIND:?}, got {:?} and {:?}",
        api_version.unwrap_or(""),
        kind.unwrap_or("")
    );
    Err(match kind {
        // The kind is already in `got` (the apiserver's webhook never sends an object bare).
        Some(kind) if kind != REVIEW_KIND && !kind.is_empty() => format!(
            "{got}: an object, not the AdmissionReview the apiserver sends about one; to check objects, use `backendtls-webhook validate FILE` (tests/fixtures/reviews/ holds AdmissionReviews as the apiserver sends them)"
        ),
        _ => format!("{got} (register the webhook with admissionReviewVersions: [v1])"),
    })
}

/// An envelope field, its expected JSON type and the check for it.
type FieldCheck = (&'static str, &'static str, fn(&Value) -> bool);

/// Turns a decoding failure into a message that names the field, reading the uid if it can.
fn explain(body: &[u8], typed_error: &serde_json::Error) -> BadReview {
    if body.iter().all(u8::is_ascii_whitespace) {
        return BadReview::new(
            None,
            "empty body: expected an admission.k8s.io/v1 AdmissionReview",
        );
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return BadReview::new(None, format!("body is not JSON: {e}")),
    };
    if !value.is_object() {
        return BadReview::new(None, "body is not a JSON object");
    }
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.len() <= MAX_UID_BYTES)
        .map(str::to_owned);
    let field_types: [FieldCheck; 12] = [
        ("/apiVersion", "string", Value::is_string),
        ("/kind", "string", Value::is_string),
        ("/request", "object", Value::is_object),
        ("/request/uid", "string", Value::is_string),
        ("/request/kind", "object", Value::is_object),
        ("/request/kind/group", "string", Value::is_string),
        ("/request/kind/version", "string", Value::is_string),
        ("/request/kind/kind", "string", Value::is_string),
        ("/request/operation", "string", Value::is_string),
        ("/request/name", "string", Value::is_string),
        ("/request/namespace", "string", Value::is_string),
        ("/request/subResource", "string", Value::is_string),
    ];
    for (pointer, expected, check) in field_types {
        if let Some(v) = value.pointer(pointer)
            && !v.is_null()
            && !check(v)
        {
            let field = pointer.trim_start_matches('/').replace('/', ".");
            return BadReview::new(
                uid,
                format!(
                    "{field} must be a {expected}, got {}",
                    validate::schema::json_type(v)
                ),
            );
        }
    }
    for (pointer, name) in [
        ("/request/uid", "request.uid"),
        ("/request/kind", "request.kind"),
        ("/request/operation", "request.operation"),
    ] {
        if value.pointer(pointer).is_none_or(Value::is_null) {
            return BadReview::new(uid, format!("{name} is required"));
        }
    }
    if value
        .pointer("/request/dryRun")
        .is_some_and(|v| !v.is_boolean() && !v.is_null())
    {
        return BadReview::new(uid, "request.dryRun must be a boolean");
    }
    BadReview::new(uid, format!("cannot decode the request: {typed_error}"))
}

/// Where the clock comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant (Unix seconds), for tests and `--now`.
    Fixed(i64),
}

impl Clock {
    /// Now, in Unix seconds.
    pub fn now(self) -> i64 {
        match self {
            Self::System => time::OffsetDateTime::now_utc().unix_timestamp(),
            Self::Fixed(t) => t,
        }
    }
}

/// What a decision was about, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A BackendTLSPolicy.
    Policy,
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
    /// A ClusterTrustBundle.
    ClusterTrustBundle,
    /// Something this webhook should not have been sent.
    Other,
}

impl Subject {
    /// A metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Policy => "BackendTLSPolicy",
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::ClusterTrustBundle => "ClusterTrustBundle",
            Self::Other => "other",
        }
    }
}

/// A review of a Secret or a ClusterTrustBundle (any served version): the CA kinds other than
/// ConfigMap.
fn ca_subject(kind: &GroupVersionKind) -> Option<(Subject, validate::CaKind)> {
    match validate::CaKind::of(&kind.group, &kind.kind)? {
        validate::CaKind::ConfigMap => None,
        validate::CaKind::Secret => Some((Subject::Secret, validate::CaKind::Secret)),
        validate::CaKind::ClusterTrustBundle => Some((
            Subject::ClusterTrustBundle,
            validate::CaKind::ClusterTrustBundle,
        )),
    }
}

/// Whether a request is about a Secret: its decision is never cached, since the cache keeps
/// the request's object bytes, which would hold every key of the Secret.
fn is_secret(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Secret"
}

/// The decision on one request.
#[derive(Clone, Debug)]
pub struct Decision {
    /// What was reviewed.
    pub subject: Subject,
    /// The operation, if it was a known one.
    pub operation: Option<Operation>,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// The answer's [`verdict`](AdmissionResponse::verdict).
    pub verdict: Verdict,
    /// Whether the answer came from the decision cache.
    pub cached: bool,
}

/// What an answer says, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, possibly with warnings.
    Allowed,
    /// Denied on validation grounds (code 422).
    Denied,
    /// Refused for another reason: a bad request or a failed lookup.
    Error,
}

impl Verdict {
    /// `allowed`, `denied` or `error`: the log field and metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

impl AdmissionResponse {
    /// What this answer says.
    pub fn verdict(&self) -> Verdict {
        match &self.status {
            None => Verdict::Allowed,
            Some(status) if status.code == Some(422) => Verdict::Denied,
            Some(_) => Verdict::Error,
        }
    }
}

/// Answers AdmissionReviews: settings, a lookup, a bundle cache, a clock and (optionally) a
/// cache of decisions on identical requests.
pub struct Reviewer {
    settings: Settings,
    lookup: Arc<dyn Lookup>,
    bundles: Arc<BundleCache>,
    clock: Clock,
    decisions: DecisionCache,
}

impl Reviewer {
    /// A reviewer.
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
    /// most `ttl_secs` (see [`decisions`](self::decisions)). Zero capacity switches it off.
    pub fn with_decision_cache(mut self, capacity: usize, ttl_secs: i64) -> Self {
        self.decisions = DecisionCache::new(capacity, ttl_secs);
        self
    }

    /// Bounds the decision cache to `max_bytes` (keys and answers; see
    /// [`decisions`](self::decisions)).
    pub fn with_decision_cache_bytes(mut self, max_bytes: usize) -> Self {
        self.decisions = self.decisions.with_max_bytes(max_bytes);
        self
    }

    /// The lookup in use.
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
        let operation = request.operation.parse::<Operation>();
        let known_operation = operation.as_ref().ok().copied();
        let (subject, result) = if kind.group == validate::GROUP && kind.kind == validate::KIND {
            (
                Subject::Policy,
                self.policy(request, operation, budget, now).await,
            )
        } else if kind.group.is_empty() && kind.kind == "ConfigMap" {
            (
                Subject::ConfigMap,
                self.config_map(request, operation, budget, now).await,
            )
        } else if let Some((subject, ca_kind)) = ca_subject(kind) {
            let result = self.ca_object(request, ca_kind, operation, budget, now);
            (subject, result.await)
        } else {
            let warning = format!(
                "backendtls-webhook was sent a {}/{} {} review: only BackendTLSPolicy and its CA sources (ConfigMap, Secret, ClusterTrustBundle) are validated; check the ValidatingWebhookConfiguration's rules",
                Echo(&kind.group),
                Echo(&kind.version),
                Echo(&kind.kind)
            );
            (Subject::Other, Ok(Outcome::allow_with(vec![warning])))
        };
        let response = match result {
            Ok(outcome) => outcome.into_response(request),
            Err(status) => AdmissionResponse {
                uid: request.uid.clone(),
                allowed: false,
                status: Some(*status),
                warnings: Vec::new(),
            },
        };
        let decision = Decision {
            subject,
            operation: known_operation,
            namespace: request.namespace.clone(),
            name: request.name.clone(),
            verdict: response.verdict(),
            cached: false,
        };
        (decision, response)
    }

    /// Decodes and answers a body: `Ok` with the AdmissionReview to send, or `Err` when no
    /// uid could be read (the caller answers 400).
    pub async fn review(
        &self,
        body: &[u8],
        budget: Duration,
    ) -> Result<(Option<Decision>, AdmissionReview), BadReview> {
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
            Ok((decision, review)) => Ok((Some(decision), review)),
            Err(bad) => match bad.to_review() {
                Some(review) => Ok((None, review)),
                None => Err(bad),
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
        if is_secret(&raw.kind.group, &raw.kind.kind) {
            let (decision, response) = self.decide(&raw.parse()?, budget, now).await;
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
                operation: raw.operation.parse().ok(),
                namespace: raw.namespace.into_owned(),
                name: raw.name.into_owned(),
                verdict: response.verdict(),
                cached: true,
            };
            let review = AdmissionReview::with_encoded_rest(response, answer.encoded_rest.clone());
            return Ok((decision, review));
        }
        let key = self.decisions.key(&parts, generation);
        let request = prune::Budget::run(prune::budget_for(body_len), || raw.parse())?;
        let (decision, response) = self.decide(&request, budget, now).await;
        if decision.verdict == Verdict::Error {
            return Ok((decision, AdmissionReview::new(response)));
        }
        // Encoded once: the answer to this request and every later hit share it.
        let encoded_rest = AdmissionReview::encode_rest(&response);
        let answer = decisions::Answer {
            subject: decision.subject,
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
        operation: Result<Operation, String>,
        budget: Duration,
        now: i64,
    ) -> Result<Outcome, Box<Status>> {
        let operation = operation.map_err(|e| bad_request(format!("request.operation: {e}")))?;
        if !matches!(operation, Operation::Create | Operation::Update) {
            return Ok(Outcome::allow_with(Vec::new()));
        }
        if !validate::VERSIONS.contains(&request.kind.version.as_str()) {
            return Ok(Outcome::allow_with(vec![format!(
                "BackendTLSPolicy {} is not validated by backendtls-webhook (it knows {})",
                Echo(&request.kind.version),
                validate::VERSIONS.join(", ")
            )]));
        }
        let object = required_object(request)?;
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
        let report = validate::policy(&change, &snapshot, &self.settings, now);
        Ok(Outcome::from_report(
            report,
            validate::GROUP,
            validate::KIND,
        ))
    }

    async fn config_map(
        &self,
        request: &AdmissionRequest,
        operation: Result<Operation, String>,
        budget: Duration,
        now: i64,
    ) -> Result<Outcome, Box<Status>> {
        let operation = operation.map_err(|e| bad_request(format!("request.operation: {e}")))?;
        let object = request.object.as_ref().filter(|o| !o.is_null());
        let old_object = request.old_object.as_ref().filter(|o| !o.is_null());
        let Some(any) = object.or(old_object) else {
            return Err(bad_request(
                "request.object and request.oldObject are both missing",
            ));
        };
        let namespace = namespace_of(request, any);
        let name = name_of(request, Some(any));
        let snapshot = self
            .snapshot(&Wants::for_config_map(namespace, name), budget)
            .await?;
        let change = ConfigMapChange {
            object,
            old_object,
            operation,
            namespace,
            name,
        };
        let report = validate::config_map(&change, &snapshot, &self.settings, now, |text| {
            self.bundles.get(text)
        });
        Ok(Outcome::from_report(report, "", "ConfigMap"))
    }

    /// A Secret or ClusterTrustBundle that policies may use as a CA bundle (the ConfigMap
    /// check, for the other CA kinds).
    async fn ca_object(
        &self,
        request: &AdmissionRequest,
        kind: validate::CaKind,
        operation: Result<Operation, String>,
        budget: Duration,
        now: i64,
    ) -> Result<Outcome, Box<Status>> {
        let operation = operation.map_err(|e| bad_request(format!("request.operation: {e}")))?;
        let object = request.object.as_ref().filter(|o| !o.is_null());
        let old_object = request.old_object.as_ref().filter(|o| !o.is_null());
        let Some(any) = object.or(old_object) else {
            return Err(bad_request(
                "request.object and request.oldObject are both missing",
            ));
        };
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
        let (group, kind) = (kind.group(), kind.kind());
        Ok(Outcome::from_report(report, group, kind))
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

fn required_object(request: &AdmissionRequest) -> Result<&Value, Box<Status>> {
    match request.object.as_ref() {
        Some(object) if object.is_object() => Ok(object),
        Some(other) if !other.is_null() => Err(bad_request(format!(
            "request.object must be an object, got {}",
            validate::schema::json_type(other)
        ))),
        _ => Err(bad_request(format!(
            "request.object is required for {}",
            request.operation
        ))),
    }
}

/// `request.name`, else the object's `metadata.name` (empty on CREATE with generateName).
fn name_of<'a>(request: &'a AdmissionRequest, object: Option<&'a Value>) -> &'a str {
    if !request.name.is_empty() {
        return &request.name;
    }
    object
        .and_then(|o| o.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn namespace_of<'a>(request: &'a AdmissionRequest, object: &'a Value) -> &'a str {
    if !request.namespace.is_empty() {
        return &request.namespace;
    }
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

fn bad_request(message: impl Into<String>) -> Box<Status> {
    Box::new(failure(400, "BadRequest", message.into(), None))
}

fn failure(code: i32, reason: &str, message: String, details: Option<StatusDetails>) -> Status {
    Status {
        code: Some(code),
        details,
        message: Some(message),
        metadata: Default::default(),
        reason: Some(reason.to_owned()),
        status: Some("Failure".to_owned()),
    }
}

/// A verdict before it is addressed to a request.
struct Outcome {
    report: Report,
    group: &'static str,
    kind: &'static str,
}

impl Outcome {
    fn allow_with(warnings: Vec<String>) -> Self {
        let mut report = Report::default();
        for w in warnings {
            report.warn(validate::FieldPath::root(), w);
        }
        Self {
            report,
            group: "",
            kind: "",
        }
    }

    fn from_report(report: Report, group: &'static str, kind: &'static str) -> Self {
        Self {
            report,
            group,
            kind,
        }
    }

    fn into_response(self, request: &AdmissionRequest) -> AdmissionResponse {
        let status = (!self.report.is_allowed())
            .then(|| denial(&self.report, self.group, self.kind, request));
        AdmissionResponse {
            uid: request.uid.clone(),
            allowed: status.is_none(),
            status,
            warnings: warning_texts(&self.report),
        }
    }
}

/// `text` clipped to [`ITEM_BYTES`] at a character boundary, marked when clipped.
fn clip_text(mut text: String) -> String {
    let (head, cut) = validate::field::clip(&text, ITEM_BYTES);
    if cut {
        let (len, end) = (text.len(), head.len());
        text.truncate(end);
        let _ = write!(text, "...({len} bytes, truncated)");
    }
    text
}

/// The report's warnings as the answer carries them: each clipped, at most [`WARNINGS_BYTES`]
/// in all, then one saying how many more there were.
fn warning_texts(report: &Report) -> Vec<String> {
    let mut texts = Vec::with_capacity(report.warnings.len().min(16));
    let mut bytes = 0;
    for warning in &report.warnings {
        if bytes >= WARNINGS_BYTES {
            break;
        }
        let text = clip_text(warning.to_string());
        bytes += text.len();
        texts.push(text);
    }
    let more = report.warning_count() - texts.len();
    if more > 0 {
        texts.push(format!(
            "and {more} more warning{} (not listed: the answer is bounded)",
            if more == 1 { "" } else { "s" }
        ));
    }
    texts
}

/// The `Status` of a denial, worded as the apiserver words a validation failure: the errors
/// in the message (at most [`MESSAGE_ERRORS`] and [`MESSAGE_BYTES`]) and one cause per error (at
/// most [`CAUSES_BYTES`]), each bounded list ending with how many more there were.
pub fn denial(report: &Report, group: &str, kind: &str, request: &AdmissionRequest) -> Status {
    let name = name_of(request, request.object.as_ref());
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let mut message = format!("{qualified} {} is invalid: ", validate::field::Quoted(name));
    let errors = &report.errors;
    let total = report.error_count();
    if total == 1 && errors.len() == 1 {
        message.push_str(&clip_text(errors[0].to_string()));
    } else {
        message.push('[');
        let mut shown = 0;
        for error in errors.iter().take(MESSAGE_ERRORS) {
            if message.len() >= MESSAGE_BYTES {
                break;
            }
            if shown > 0 {
                message.push_str(", ");
            }
            message.push_str(&clip_text(error.to_string()));
            shown += 1;
        }
        if total > shown {
            let _ = write!(message, ", and {} more", total - shown);
        }
        message.push(']');
    }
    let mut causes = Vec::with_capacity(errors.len().min(64));
    let mut bytes = 0;
    for error in errors {
        if bytes >= CAUSES_BYTES {
            break;
        }
        let cause = StatusCause {
            field: Some(error.path.to_string()),
            message: Some(clip_text(error.body())),
            reason: Some(error.kind.reason().to_owned()),
        };
        bytes += cause.field.as_ref().map_or(0, String::len)
            + cause.message.as_ref().map_or(0, String::len)
            + 64;
        causes.push(cause);
    }
    if total > causes.len() {
        let more = total - causes.len();
        causes.push(StatusCause {
            field: None,
            message: Some(format!(
                "and {more} more error{} (not listed: the answer is bounded)",
                if more == 1 { "" } else { "s" }
            )),
            reason: Some("FieldValueTooMany".to_owned()),
        });
    }
    let (shown_name, _) = validate::field::clip(name, validate::field::ECHO_BYTES);
    let details = StatusDetails {
        causes: Some(causes),
        group: Some(group.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(shown_name.to_owned()),
        retry_after_seconds: None,
        uid: None,
    };
    failure(422, "Invalid", message, Some(details))
}

/// The answer to a `request.uid` too long to echo.
fn long_uid(bytes: usize) -> BadReview {
    BadReview::new(
        None,
        format!(
            "request.uid is {bytes} bytes long: at most {MAX_UID_BYTES} are accepted (the apiserver sends 36-byte UUIDs)"
        ),
    )
}

mod decisions;
mod prune;
#[cfg(test)]
mod tests;
