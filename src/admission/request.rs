//! The request side of the wire format: what this webhook reads of an `admission.k8s.io/v1`
//! AdmissionReview, borrowed from the body while it is decoded ([`RawRequest`]), then owned
//! ([`AdmissionRequest`]).

use std::borrow::Cow;

use std::fmt;

use serde::de::{self, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::decode::BadReview;
use super::prune;
use crate::validate::Operation;
use crate::validate::field::Quoted;

/// The only AdmissionReview version this webhook speaks.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The kind of the envelope.
pub const REVIEW_KIND: &str = "AdmissionReview";
/// Longest `request.uid` accepted: it is echoed whole, and the apiserver's are UUIDs (36 bytes).
pub const MAX_UID_BYTES: usize = 256;

/// `{group, version, kind}` of `request.kind`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The fields of `request` this webhook reads; the rest (userInfo, options, …) are skipped.
/// Decoded through [`RawRequest`], in one pass over the body ([`decode`](super::decode())) or,
/// when decisions are cached, leaving the objects raw until a miss needs them.
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
    pub namespace: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`, or another text (which the kinds this webhook
    /// judges answer with 400).
    pub operation: Result<Operation, UnknownOperation>,
    /// The new object (null for DELETE), without the metadata and data no rule reads.
    pub object: Option<Value>,
    /// The stored object (UPDATE, DELETE), pruned likewise.
    pub old_object: Option<Value>,
    /// Whether this is a dry run.
    pub dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReviewIn<'a, O> {
    #[serde(borrow)]
    pub(super) api_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) request: Option<RawRequest<'a, O>>,
}

/// How `request.object` and `request.oldObject` are held once the envelope is decoded.
///
/// - [`Pruned`]: parsed (and pruned) in the same pass as the envelope: the cheapest way to the
///   objects when every request is reviewed.
/// - `&RawValue`: borrowed from the body, unparsed, so that a decision cache can key on their
///   bytes and parse them only on a miss (which then reads them twice: once to find their end,
///   once to parse them).
pub(super) trait ObjectSlot<'a>: Deserialize<'a> {
    /// The object as the validators take it (`None` for `null`), pruned as [`prune`]
    /// describes.
    fn into_object(self) -> serde_json::Result<Option<Value>>;
}

/// An object already parsed and pruned ([`prune::object`]).
pub(super) struct Pruned(Option<Value>);

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
pub(super) struct RawRequest<'a, O> {
    #[serde(borrow)]
    pub(super) uid: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) kind: RawKind<'a>,
    #[serde(default, borrow)]
    pub(super) sub_resource: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) namespace: Cow<'a, str>,
    #[serde(deserialize_with = "operation")]
    pub(super) operation: Result<Operation, UnknownOperation>,
    // Missing means `None` (serde's rule for `Option` fields).
    pub(super) object: Option<O>,
    pub(super) old_object: Option<O>,
    #[serde(default)]
    pub(super) dry_run: Option<bool>,
}

/// An operation the AdmissionReview API does not define, kept to be named in the answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation {}", Quoted(.0))]
pub struct UnknownOperation(pub String);

/// Decodes `request.operation` once: the derived [`Operation`] for the four the API defines,
/// the text of any other string (a type other than a string fails the decoding).
fn operation<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Result<Operation, UnknownOperation>, D::Error> {
    struct OperationText;
    impl Visitor<'_> for OperationText {
        type Value = Result<Operation, UnknownOperation>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an operation")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            let known = Operation::deserialize(text.into_deserializer());
            Ok(known.map_err(|_: E| UnknownOperation(text.to_owned())))
        }
    }
    deserializer.deserialize_str(OperationText)
}

/// The operation as the request spelled it.
fn operation_text(operation: &Result<Operation, UnknownOperation>) -> &str {
    match operation {
        Ok(known) => known.as_str(),
        Err(UnknownOperation(text)) => text,
    }
}

/// `request.kind`, borrowed.
#[derive(Deserialize)]
pub(super) struct RawKind<'a> {
    #[serde(default, borrow)]
    pub(super) group: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) version: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) kind: Cow<'a, str>,
}

impl<'a, O: ObjectSlot<'a>> RawRequest<'a, O> {
    /// The request with its objects parsed (and pruned), within the decoding budget of a body
    /// of `body_len` bytes (see `prune`): no caller can parse without one.
    pub(super) fn parse(self, body_len: usize) -> Result<AdmissionRequest, BadReview> {
        super::prune::DecodingBudget::run(super::prune::budget_for(body_len), || {
            self.parse_unbounded()
        })
    }

    fn parse_unbounded(self) -> Result<AdmissionRequest, BadReview> {
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
            operation: self.operation,
            object,
            old_object,
            dry_run: self.dry_run,
        })
    }
}

impl RawRequest<'_, &RawValue> {
    /// What identifies this request's decision, besides the lookup's generation.
    pub(super) fn cache_parts(&self) -> [&[u8]; 9] {
        fn raw(value: Option<&RawValue>) -> &[u8] {
            value.map_or(&b""[..], |v| v.get().as_bytes())
        }
        [
            self.kind.group.as_bytes(),
            self.kind.version.as_bytes(),
            self.kind.kind.as_bytes(),
            operation_text(&self.operation).as_bytes(),
            self.sub_resource.as_deref().unwrap_or("").as_bytes(),
            self.namespace.as_bytes(),
            self.name.as_bytes(),
            raw(self.object),
            raw(self.old_object),
        ]
    }
}

/// `request.name`, else the object's `metadata.name` (empty on CREATE with generateName).
pub(super) fn name_of<'a>(request: &'a AdmissionRequest, object: Option<&'a Value>) -> &'a str {
    if !request.name.is_empty() {
        return &request.name;
    }
    object
        .and_then(|o| o.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) fn namespace_of<'a>(request: &'a AdmissionRequest, object: &'a Value) -> &'a str {
    if !request.namespace.is_empty() {
        return &request.namespace;
    }
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}
