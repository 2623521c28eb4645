//! Why a body did not decode, in words that name the field.
//!
//! Three passes over the body, none of which builds it in memory (a body that failed to decode
//! may be anything up to the body limit):
//!
//! 1. A walk of every value, as `serde_json::Value` would parse it but keeping nothing, that
//!    fails where the body is not JSON and reads the uid (the last `request.uid` that is a
//!    string, as a parsed value would keep it), so that a readable uid is answered.
//! 2. The envelope's shape, decoded through `serde_path_to_error`: the first field of the wrong
//!    JSON type, in document order, with its path (`request.kind must be a object, got
//!    integer`). Null counts as absent.
//! 3. The fields a request needs: `request.uid`, `request.kind`, `request.operation`.
//!
//! What none of them explains keeps the typed decoder's own message.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::decode::BadReview;
use super::request::MAX_UID_BYTES;

/// Turns a decoding failure into a message that names the field, reading the uid if it can.
pub(super) fn explain(body: &[u8], typed_error: &serde_json::Error) -> BadReview {
    if body.iter().all(u8::is_ascii_whitespace) {
        return BadReview::new(
            None,
            "empty body: expected an admission.k8s.io/v1 AdmissionReview",
        );
    }
    let probe = match serde_json::from_slice::<Probe>(body) {
        Ok(probe) => probe,
        Err(e) => return BadReview::not_json(&e),
    };
    let Probe::Object { uid } = probe else {
        return BadReview::new(None, "body is not a JSON object");
    };
    let uid = uid.filter(|u| !u.is_empty() && u.len() <= MAX_UID_BYTES);
    MISMATCH.set(None);
    let shape = serde_path_to_error::deserialize::<_, EnvelopeShape>(
        &mut serde_json::Deserializer::from_slice(body),
    );
    let shape = match (shape, MISMATCH.take()) {
        (Ok(shape), _) => shape,
        (Err(error), Some(Mismatch { expected, found })) => {
            let field = error.path();
            return BadReview::new(uid, format!("{field} must be a {expected}, got {found}"));
        }
        (Err(_), None) => return cannot_decode(uid, typed_error),
    };
    let request = shape.request.map(|ObjectField(request)| request);
    let present = request.as_ref().map_or([false; 3], |r| {
        [r.uid.is_some(), r.kind.is_some(), r.operation.is_some()]
    });
    let required = ["request.uid", "request.kind", "request.operation"];
    if let Some((name, _)) = required.iter().zip(present).find(|(_, there)| !there) {
        return BadReview::new(uid, format!("{name} is required"));
    }
    cannot_decode(uid, typed_error)
}

fn cannot_decode(uid: Option<String>, typed_error: &serde_json::Error) -> BadReview {
    BadReview::new(uid, format!("cannot decode the request: {typed_error}"))
}

// ---------------------------------------------------------------------------------------------
// Pass 1: JSON at all, and the uid

/// What the first pass finds: the body's top-level value.
enum Probe {
    /// An object, and its `request.uid` when that is a string.
    Object { uid: Option<String> },
    /// Any other JSON value.
    Other,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut found = Found::default();
        Walk {
            place: Place::Top,
            found: &mut found,
        }
        .deserialize(deserializer)?;
        Ok(match found {
            Found { object: true, uid } => Probe::Object { uid },
            Found { object: false, .. } => Probe::Other,
        })
    }
}

/// What the walk has found so far.
#[derive(Default)]
struct Found {
    /// Whether the top-level value is an object.
    object: bool,
    /// The uid of the last `request`, if the last `uid` in it is a string.
    uid: Option<String>,
}

/// Where the walk is: the only places it reads are the top, `request` and `request.uid`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Request,
    Uid,
    Elsewhere,
}

/// Walks any JSON value as `serde_json::Value` reads it (every string checked as UTF-8, every
/// number parsed, nesting counted against the recursion limit), keeping only what [`Found`]
/// holds.
struct Walk<'f> {
    place: Place,
    found: &'f mut Found,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if matches!(self.place, Place::Request | Place::Uid) {
            // A later `request` or `uid` replaces an earlier one, as in a parsed value.
            self.found.uid = None;
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.found.object |= self.place == Place::Top;
        while let Some(WalkKey(key)) = map.next_key::<WalkKey>()? {
            let place = match (self.place, key) {
                (Place::Top, Some("request")) => Place::Request,
                (Place::Request, Some("uid")) => Place::Uid,
                _ => Place::Elsewhere,
            };
            map.next_value_seed(Walk {
                place,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let place = Place::Elsewhere;
        while seq
            .next_element_seed(Walk {
                place,
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        if self.place == Place::Uid {
            self.found.uid = Some(text.to_owned());
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key of an object, named when it is one the walk looks for.
struct WalkKey(Option<&'static str>);

impl<'de> Deserialize<'de> for WalkKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = WalkKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<WalkKey, E> {
                Ok(WalkKey(["request", "uid"].into_iter().find(|k| *k == key)))
            }
        }
        // Through `deserialize_any`, as `Value` reads keys: UTF-8 checked.
        deserializer.deserialize_any(Name)
    }
}

// ---------------------------------------------------------------------------------------------
// Pass 2: the envelope's shape

thread_local! {
    /// The type mismatch that failed the shape's decoding on this thread, if one did (a
    /// serde_json error cannot carry it, and other errors, such as a duplicate field, fail it
    /// too).
    static MISMATCH: Cell<Option<Mismatch>> = const { Cell::new(None) };
}

/// A field of the wrong JSON type.
#[derive(Clone, Copy)]
struct Mismatch {
    expected: &'static str,
    found: &'static str,
}

/// Records the mismatch and fails with it.
fn mismatch<E: de::Error>(expected: &'static str, found: &'static str) -> E {
    MISMATCH.set(Some(Mismatch { expected, found }));
    E::custom(format_args!("must be a {expected}, got {found}"))
}

/// The envelope's typed fields (the rest is not read).
#[derive(Deserialize)]
struct EnvelopeShape {
    #[serde(rename = "apiVersion")]
    _api_version: Option<TextField>,
    #[serde(rename = "kind")]
    _kind: Option<TextField>,
    request: Option<ObjectField<RequestShape>>,
}

/// `request`'s typed fields.
#[derive(Deserialize)]
struct RequestShape {
    uid: Option<TextField>,
    kind: Option<ObjectField<KindShape>>,
    operation: Option<TextField>,
    #[serde(rename = "name")]
    _name: Option<TextField>,
    #[serde(rename = "namespace")]
    _namespace: Option<TextField>,
    #[serde(rename = "subResource")]
    _sub_resource: Option<TextField>,
    #[serde(rename = "dryRun")]
    _dry_run: Option<FlagField>,
}

/// `request.kind`'s fields.
#[derive(Deserialize)]
struct KindShape {
    #[serde(rename = "group")]
    _group: Option<TextField>,
    #[serde(rename = "version")]
    _version: Option<TextField>,
    #[serde(rename = "kind")]
    _kind: Option<TextField>,
}

/// A value as a field of the shape sees it: an object (its fields read as `T`), or the JSON
/// type of anything else, named as the schema walk names it. (Null never gets here: an
/// `Option` field reads it as absent.)
enum SeenValue<T> {
    Object(T),
    Other(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SeenValue<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SeenValueVisitor(PhantomData))
    }
}

struct SeenValueVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SeenValueVisitor<T> {
    type Value = SeenValue<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SeenValue<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(SeenValue::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SeenValue<T>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| SeenValue::Other("array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<SeenValue<T>, E> {
        Ok(SeenValue::Other("null"))
    }
}

/// A field that must be of the JSON type `expected`.
fn expect<'de, D: de::Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<(), D::Error> {
    match SeenValue::<IgnoredAny>::deserialize(deserializer)? {
        SeenValue::Other(found) if found == expected => Ok(()),
        SeenValue::Other(found) => Err(mismatch(expected, found)),
        SeenValue::Object(_) => Err(mismatch(expected, "object")),
    }
}

struct TextField;

impl<'de> Deserialize<'de> for TextField {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect(deserializer, "string").map(|()| TextField)
    }
}

struct FlagField;

impl<'de> Deserialize<'de> for FlagField {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect(deserializer, "boolean").map(|()| FlagField)
    }
}

/// An object field, with its own typed fields.
struct ObjectField<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectField<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match SeenValue::<T>::deserialize(deserializer)? {
            SeenValue::Object(fields) => Ok(ObjectField(fields)),
            SeenValue::Other(found) => Err(mismatch("object", found)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the typed decoder said, as `decode` passes it on.
    fn typed_error() -> serde_json::Error {
        serde_json::from_str::<Vec<u8>>("{}").expect_err("not a list")
    }

    fn explained(body: &str) -> BadReview {
        explain(body.as_bytes(), &typed_error())
    }

    #[test]
    fn the_first_mistyped_field_is_named_with_its_path_and_type() {
        for (body, message) in [
            (
                r#"{"apiVersion": 1}"#,
                "apiVersion must be a string, got integer",
            ),
            (r#"{"kind": 1.5}"#, "kind must be a string, got number"),
            (r#"{"request": []}"#, "request must be a object, got array"),
            (
                r#"{"request": "r"}"#,
                "request must be a object, got string",
            ),
            (
                r#"{"request": {"uid": true}}"#,
                "request.uid must be a string, got boolean",
            ),
            (
                r#"{"request": {"kind": {"group": {}}}}"#,
                "request.kind.group must be a string, got object",
            ),
            (
                r#"{"request": {"kind": {"kind": [1]}}}"#,
                "request.kind.kind must be a string, got array",
            ),
            (
                r#"{"request": {"uid": "u", "subResource": -1}}"#,
                "request.subResource must be a string, got integer",
            ),
            (
                r#"{"request": {"uid": "u", "dryRun": "yes"}}"#,
                "request.dryRun must be a boolean, got string",
            ),
            // Document order: the first mistyped field is named.
            (
                r#"{"request": {"operation": 7, "uid": 5}}"#,
                "request.operation must be a string, got integer",
            ),
        ] {
            assert_eq!(explained(body).message, message, "{body}");
        }
    }

    #[test]
    fn null_is_absent_and_required_fields_are_named() {
        for (body, message) in [
            (r#"{"request": {}}"#, "request.uid is required"),
            (
                r#"{"request": {"uid": null, "kind": {}}}"#,
                "request.uid is required",
            ),
            (
                r#"{"request": {"uid": "u", "operation": "CREATE"}}"#,
                "request.kind is required",
            ),
            (
                r#"{"request": {"uid": "u", "kind": {}}}"#,
                "request.operation is required",
            ),
        ] {
            assert_eq!(explained(body).message, message, "{body}");
        }
        // Nothing else wrong: the typed decoder's message (a duplicate field, say).
        let body = r#"{"request": {"uid": "u", "kind": {"group": null}, "operation": "CREATE", "name": null}}"#;
        assert_eq!(
            explained(body).message,
            format!("cannot decode the request: {}", typed_error())
        );
        let body = r#"{"request": {"uid": "u", "kind": {}, "operation": "CREATE", "uid": "u"}}"#;
        assert!(
            explained(body)
                .message
                .starts_with("cannot decode the request: ")
        );
    }

    #[test]
    fn the_uid_is_read_whatever_else_is_wrong() {
        let bad = explained(r#"{"request": {"kind": 7, "uid": "late"}}"#);
        assert_eq!(bad.uid.as_deref(), Some("late"));
        // The last uid and the last request count, as in a parsed value.
        let bad = explained(r#"{"request": {"uid": "a", "uid": "b", "kind": 7}}"#);
        assert_eq!(bad.uid.as_deref(), Some("b"));
        let bad = explained(r#"{"request": {"uid": "a"}, "request": 5}"#);
        assert_eq!(bad.uid, None);
        // No uid when it is empty, too long or not a string.
        let long = format!("{:?}", "u".repeat(MAX_UID_BYTES + 1));
        for uid in [r#""""#, &long, "5"] {
            let bad = explained(&format!(r#"{{"request": {{"uid": {uid}, "kind": 7}}}}"#));
            assert_eq!(bad.uid, None, "{uid}");
        }
    }

    #[test]
    fn bodies_that_are_not_json_objects() {
        for body in ["", " \n"] {
            assert_eq!(
                explained(body).message,
                "empty body: expected an admission.k8s.io/v1 AdmissionReview"
            );
        }
        for body in ["[1, 2]", "\"x\"", "null"] {
            let bad = explained(body);
            assert_eq!(bad.message, "body is not a JSON object");
            assert!(!bad.not_json);
        }
        // Not JSON as serde_json::Value finds it: the same error, wherever it is (a string
        // that is not UTF-8, even in a part of the body the webhook never reads).
        let mut not_utf8 = br#"{"request": {"userInfo": {"username": "al"#.to_vec();
        not_utf8.extend_from_slice(b"\xff\"}}}");
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for body in [
            b"not json".to_vec(),
            br#"{"a": 1} x"#.to_vec(),
            br#"{"a": 1e999}"#.to_vec(),
            br#"{"request": {"uid": 5, "kind": 7} "#.to_vec(),
            not_utf8,
            deep.into_bytes(),
        ] {
            let value_error =
                serde_json::from_slice::<serde_json::Value>(&body).expect_err("not JSON");
            let bad = explain(&body, &typed_error());
            let shown = String::from_utf8_lossy(&body);
            assert_eq!(
                bad.message,
                format!("body is not JSON: {value_error}"),
                "{shown}"
            );
            assert!(bad.not_json && bad.uid.is_none(), "{shown}");
        }
    }
}
