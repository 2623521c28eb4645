//! Why a body did not decode, in words that name the field.

use serde_json::Value;

use super::decode::BadReview;
use super::request::MAX_UID_BYTES;
use crate::validate;

/// An envelope field, its expected JSON type and the check for it.
type FieldCheck = (&'static str, &'static str, fn(&Value) -> bool);

/// Turns a decoding failure into a message that names the field, reading the uid if it can.
pub(super) fn explain(body: &[u8], typed_error: &serde_json::Error) -> BadReview {
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
