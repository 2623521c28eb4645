//! The answer side of the wire format: an [`AdmissionResponse`] in its [`AdmissionReview`]
//! envelope, and the envelope's encoding (kept with the answer when it comes from the decision
//! cache).

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::Serialize;

use super::request::{API_VERSION, REVIEW_KIND};

/// `response` of the answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// `request.uid`.
    pub uid: String,
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
    pub(super) encoded_rest: Option<Arc<[u8]>>,
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
    pub fn new(response: AdmissionResponse) -> Self {
        Self {
            response,
            encoded_rest: None,
        }
    }

    pub fn response(&self) -> &AdmissionResponse {
        &self.response
    }

    /// The response, unwrapped.
    pub fn into_response(self) -> AdmissionResponse {
        self.response
    }

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
    pub(super) fn encode_rest(response: &AdmissionResponse) -> Option<Arc<[u8]>> {
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
    pub(super) fn with_encoded_rest(response: AdmissionResponse, rest: Option<Arc<[u8]>>) -> Self {
        Self {
            response,
            encoded_rest: rest,
        }
    }
}
