//! The wording of `Status` answers, and the byte budgets that bound every answer whatever the
//! input.

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use super::request::{AdmissionRequest, name_of};
use super::response::AdmissionResponse;
use crate::validate::{self, Report, Subject};

/// At most this many errors are spelled out in `status.message` (more are in `causes`).
const MESSAGE_ERRORS: usize = 32;
/// Byte budgets of an answer's parts, so that no answer exceeds [`MAX_ANSWER_BYTES`] whatever
/// the input (each item is also clipped to [`ITEM_BYTES`]): `status.message`, the causes
/// together, the warnings together.
const MESSAGE_BYTES: usize = 32 * 1024;
const CAUSES_BYTES: usize = 128 * 1024;
const WARNINGS_BYTES: usize = 64 * 1024;
/// Longest single cause message, warning or status message.
pub(super) const ITEM_BYTES: usize = 4 * 1024;
/// The largest answer this webhook sends (the budgets above, the uid and the envelope).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub(super) fn bad_request(message: impl Into<String>) -> Box<Status> {
    Box::new(failure(400, "BadRequest", message.into(), None))
}

pub(super) fn failure(
    code: i32,
    reason: &str,
    message: String,
    details: Option<StatusDetails>,
) -> Status {
    Status {
        code: Some(code),
        details,
        message: Some(message),
        metadata: Default::default(),
        reason: Some(reason.to_owned()),
        status: Some("Failure".to_owned()),
    }
}

/// The answer to a request the rules judged: allowed with the report's warnings, or denied
/// with its errors ([`denial`]), as a review of `subject` (`None`: a kind they do not judge,
/// which is never denied).
pub(super) fn judged(
    report: &Report,
    subject: Option<Subject>,
    request: &AdmissionRequest,
) -> AdmissionResponse {
    let status = (!report.is_allowed()).then(|| {
        let (group, kind) = subject.map_or(("", ""), |s| (s.group(), s.kind()));
        denial(report, group, kind, request)
    });
    AdmissionResponse {
        uid: request.uid.clone(),
        allowed: status.is_none(),
        status,
        warnings: warning_texts(report),
    }
}

/// The answer to a request refused before the rules could judge it (a bad request, a failed
/// lookup).
pub(super) fn refused(status: Status, request: &AdmissionRequest) -> AdmissionResponse {
    AdmissionResponse {
        uid: request.uid.clone(),
        allowed: false,
        status: Some(status),
        warnings: Vec::new(),
    }
}

/// `text` clipped to [`ITEM_BYTES`] at a character boundary, marked when clipped.
pub(super) fn clip_text(mut text: String) -> String {
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
