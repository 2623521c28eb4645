//! Decoding a request body into the request it carries, or into the reason it carries none
//! ([`BadReview`]).

use serde_json::value::RawValue;

use super::explain::explain;
use super::prune;
use super::request::{
    API_VERSION, AdmissionRequest, MAX_UID_BYTES, ObjectSlot, Pruned, REVIEW_KIND, RawRequest,
    ReviewIn,
};
use super::response::{AdmissionResponse, AdmissionReview};
use super::status::{clip_text, failure};

/// A body that is not a usable AdmissionReview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadReview {
    /// `request.uid`, when it could be read: then the answer is an AdmissionReview.
    pub uid: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Whether the body is not JSON at all (then `uid` is `None`).
    pub not_json: bool,
}

impl BadReview {
    /// A bad review; `message` is clipped to [`ITEM_BYTES`](super::status::ITEM_BYTES)
    /// (decoding errors can quote the input).
    pub(super) fn new(uid: Option<String>, message: impl Into<String>) -> Self {
        Self {
            uid,
            message: clip_text(message.into()),
            not_json: false,
        }
    }

    /// A body that is not JSON, for `error`.
    pub(super) fn not_json(error: &serde_json::Error) -> Self {
        Self {
            not_json: true,
            ..Self::new(None, format!("body is not JSON: {error}"))
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
    let budget = prune::budget_for(body.len());
    match prune::DecodingBudget::run(budget, || decode_envelope::<Pruned>(body)) {
        Ok(request) => request.parse(body.len()),
        // Decoding again with the objects left raw tells which part is wrong, the envelope or
        // an object, and keeps the uid for the answer: an object nested past serde_json's
        // recursion limit, counted from the body rather than from the object, or past the
        // decoding budget, fails here only.
        Err(_) => decode_envelope::<&RawValue>(body)?.parse(body.len()),
    }
}

/// Decodes the envelope, with the objects held as `O`.
pub(super) fn decode_envelope<'a, O: ObjectSlot<'a>>(
    body: &'a [u8],
) -> Result<RawRequest<'a, O>, BadReview> {
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

/// The answer to a `request.uid` too long to echo.
fn long_uid(bytes: usize) -> BadReview {
    BadReview::new(
        None,
        format!(
            "request.uid is {bytes} bytes long: at most {MAX_UID_BYTES} are accepted (the apiserver sends 36-byte UUIDs)"
        ),
    )
}
