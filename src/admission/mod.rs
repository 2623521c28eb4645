//! AdmissionReview in, AdmissionReview out (`admission.k8s.io/v1`).
//!
//! [`Reviewer::review`] decodes a request body, looks up what the object refers to, runs the
//! pure validators and maps their [`Report`](crate::validate::Report) to a response: a denial
//! carries `code: 422`, `reason: Invalid`, a message listing every error and `details.causes[]`
//! with one entry per field, as the apiserver's own validation does, so `kubectl` prints one
//! line per field.
//! Every body that holds a readable `request.uid` gets an AdmissionReview back, even when it
//! is not a valid request (then `allowed: false`, code 400).
//!
//! By job (one file each):
//! - `request` and `response`: the wire format, in and out (the answer's encoding too);
//! - `decode` and `explain`: a body to a request, or to what is wrong with it;
//! - `prune`: the objects decoded without what no rule reads, within a decoding budget;
//! - `reviewer`: the [`Reviewer`], which answers bodies; `decision`: what it decided;
//! - `status`: the wording of `Status` answers and the answers' byte budgets;
//! - `decisions`: the cache of decisions on identical requests; `clock`: now.

mod clock;
mod decision;
mod decisions;
mod decode;
mod explain;
mod prune;
mod request;
mod response;
mod reviewer;
mod status;
#[cfg(test)]
mod tests;

pub use self::clock::Clock;
pub use self::decision::{Answer, Decision, Verdict};
pub use self::decode::{BadReview, decode};
pub use self::request::{
    API_VERSION, AdmissionRequest, GroupVersionKind, MAX_UID_BYTES, REVIEW_KIND, UnknownOperation,
};
pub use self::response::{AdmissionResponse, AdmissionReview};
pub use self::reviewer::{Reviewer, lookup_budget};
pub use self::status::{MAX_ANSWER_BYTES, denial};
