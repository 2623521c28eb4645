//! What was decided about a request, for logs and metrics.

use super::decode::BadReview;
use super::response::AdmissionReview;
use crate::validate::{Operation, Report, Subject};

/// What [`Reviewer::review`](super::Reviewer::review) makes of a body.
#[derive(Debug)]
pub enum Answer {
    /// A request, decided: the AdmissionReview to send, and what was decided.
    Decided(Decision, AdmissionReview),
    /// Not a valid request, but with a readable uid: the AdmissionReview to send refuses it
    /// (`allowed: false`, code 400, with what is wrong).
    Malformed(AdmissionReview),
    /// No readable uid, so no AdmissionReview can answer it: the caller answers 400 with what
    /// is wrong.
    Unreadable(BadReview),
}

impl Answer {
    /// The decision on a decided request.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Self::Decided(decision, _) => Some(decision),
            Self::Malformed(_) | Self::Unreadable(_) => None,
        }
    }

    /// The AdmissionReview to send, or what is wrong with a body that none can answer.
    pub fn into_review(self) -> Result<AdmissionReview, BadReview> {
        match self {
            Self::Decided(_, review) | Self::Malformed(review) => Ok(review),
            Self::Unreadable(bad) => Err(bad),
        }
    }
}

/// The decision on one request.
#[derive(Clone, Debug)]
pub struct Decision {
    /// What was reviewed: `None` for a kind the rules do not judge (which this webhook should
    /// not have been sent).
    pub subject: Option<Subject>,
    /// The operation, if it was a known one.
    pub operation: Option<Operation>,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// What the answer says.
    pub verdict: Verdict,
    /// Whether the answer came from the decision cache.
    pub cached: bool,
}

/// What an answer says, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Allowed, possibly with warnings.
    Allowed,
    /// Denied on validation grounds (code 422).
    Denied,
    /// Refused for another reason: a bad request or a failed lookup.
    Error,
}

impl Verdict {
    /// The verdict on a request the rules judged: allowed unless the report has errors.
    pub fn of(report: &Report) -> Self {
        if report.is_allowed() {
            Self::Allowed
        } else {
            Self::Denied
        }
    }

    /// `allowed`, `denied` or `error`: the log field and metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}
