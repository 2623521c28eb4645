//! The BackendTLSPolicy OpenAPI schema (Gateway API v1.6.1, identical for `v1` and `v1alpha3`),
//! written down as data, and a walker that checks a JSON value against it the way the
//! apiserver's structural-schema validation does: types, required fields, lengths in code
//! points, patterns (RE2 semantics: `$` is end of text), enums, item and property counts,
//! list-map keys, and the `x-kubernetes-validations` rules attached to each node.
//!
//! The schema is deliberately not read from the CRD file at run time: `tests/crd_facts.rs`
//! compares it with the facts `make crds` extracts from the upstream CRDs, so that a CRD update
//! shows up as failing tests instead of silently changing behaviour.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::cel;
use super::field::{
    BadValue, ErrorKind, FieldError, FieldPath, Quoted, REPORT_ITEMS, Report, Segment,
};

/// A regular expression from the CRD, with its source text for messages.
pub struct Pattern {
    /// The pattern exactly as the CRD writes it.
    pub source: &'static str,
    /// For the DNS-name patterns every policy's names and hostnames go through: a byte scan
    /// that accepts exactly what the regular expression accepts (the tests compare the two on
    /// generated strings), at a tenth of the cost.
    scan: Option<fn(&str) -> bool>,
    regex: LazyLock<Regex>,
}

impl Pattern {
    /// Whether `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        match self.scan {
            Some(scan) => scan(value),
            None => self.regex.is_match(value),
        }
    }
}

macro_rules! patterns {
    (@scan) => { None };
    (@scan $scan:expr) => { Some($scan) };
    ($($(#[$doc:meta])* $name:ident = $src:literal $(, scan $scan:expr)?;)*) => {
        $(
            $(#[$doc])*
            pub static $name: Pattern = Pattern {
                source: $src,
                scan: patterns!(@scan $($scan)?),
                // The sources are literals checked by the tests below; compiling them cannot
                // fail.
                regex: LazyLock::new(|| Regex::new($src).expect("CRD pattern compiles")),
            };
        )*
        /// Every pattern of the block, for the tests that check them all.
        #[cfg(test)]
        static ALL_PATTERNS: &[&Pattern] = &[$(&$name),*];
    };
}

patterns! {
    /// `Group`: empty (the core group) or a DNS subdomain.
    GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        scan |s: &str| s.is_empty() || is_subdomain(s, is_lower_alphanumeric);
    /// `Kind`.
    KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
        scan |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && is_label(s.as_bytes(), u8::is_ascii_alphanumeric);
    /// `SectionName` and `PreciseHostname`: a DNS subdomain (labels not limited to 63 chars).
    SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        scan |s: &str| is_subdomain(s, is_lower_alphanumeric);
    /// `Hostname`: a DNS subdomain with an optional leading `*.`.
    WILDCARD_HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        scan |s: &str| is_subdomain(s.strip_prefix("*.").unwrap_or(s), is_lower_alphanumeric);
    /// `AbsoluteURI` (no `$`: any tail is accepted).
    ABSOLUTE_URI = r"^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?";
    /// `WellKnownCACertificatesType` since v1.5.0.
    WELL_KNOWN_CA = r"^(System|([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$";
    /// `Namespace` (RFC 1123 label).
    NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        scan |s: &str| is_label(s.as_bytes(), is_lower_alphanumeric);
    /// `GatewayController`: `DOMAIN/PATH`.
    CONTROLLER_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$";
    /// `metav1.Condition.type`.
    CONDITION_TYPE = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
    /// `metav1.Condition.reason`.
    CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";
}

fn is_lower_alphanumeric(b: &u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^E([-E]*E)?$` for the byte class `E`: non-empty, `E` or `-` throughout, `E` at both ends.
fn is_label(label: &[u8], end: fn(&u8) -> bool) -> bool {
    match (label.first(), label.last()) {
        (Some(first), Some(last)) => {
            end(first) && end(last) && label.iter().all(|b| *b == b'-' || end(b))
        }
        _ => false,
    }
}

/// Labels ([`is_label`]) joined by single dots.
fn is_subdomain(s: &str, end: fn(&u8) -> bool) -> bool {
    s.as_bytes()
        .split(|b| *b == b'.')
        .all(|label| is_label(label, end))
}

/// A node of the schema.
pub enum Schema {
    /// An object with known properties (or a string map when `additional` is set).
    Object(ObjectSchema),
    Array(ArraySchema),
    String(StringSchema),
    Integer(IntegerSchema),
    /// An object whose content this schema does not describe (`metadata`).
    OpaqueObject,
    /// Anything: a field that is accepted and not examined (`status` in a main-resource
    /// request, which the apiserver drops or restores).
    Ignored,
}

/// A named property of an object.
pub struct Property {
    pub name: &'static str,
    pub schema: &'static Schema,
}

/// An `x-kubernetes-validations` rule, evaluated natively.
pub struct CelRule {
    /// The CEL expression as the CRD writes it (for the facts test and documentation).
    pub rule: &'static str,
    /// The CRD's message, reported verbatim.
    pub message: &'static str,
    /// The native evaluation: `Some(true)` passes, `Some(false)` fails, `None` means the rule
    /// cannot be evaluated because a field it reads is missing or of the wrong type (an error
    /// for that field is reported by the schema walk already).
    pub eval: fn(&Value) -> Option<bool>,
}

pub struct ObjectSchema {
    /// Declared properties, in the CRD's order.
    pub properties: &'static [Property],
    /// Required property names.
    pub required: &'static [&'static str],
    /// The schema of every value when the object is a map (`additionalProperties`).
    pub additional: Option<&'static Schema>,
    /// `maxProperties`.
    pub max_properties: Option<usize>,
    /// The `x-kubernetes-validations` rules on the object.
    pub rules: &'static [CelRule],
}

/// How a list is merged (`x-kubernetes-list-type`).
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Keyed by these fields; duplicate keys are rejected.
    Map(&'static [&'static str]),
}

pub struct ArraySchema {
    /// The schema of each item.
    pub items: &'static Schema,
    /// `minItems`.
    pub min_items: Option<usize>,
    /// `maxItems`.
    pub max_items: Option<usize>,
    /// `x-kubernetes-list-type`.
    pub list_type: ListType,
    /// Rules on the list itself.
    pub rules: &'static [CelRule],
}

/// String formats the schema uses.
pub enum Format {
    /// RFC 3339 `date-time`.
    DateTime,
}

pub struct StringSchema {
    /// `minLength`, in code points.
    pub min_length: Option<usize>,
    /// `maxLength`, in code points.
    pub max_length: Option<usize>,
    /// `pattern`.
    pub pattern: Option<&'static Pattern>,
    /// `enum`.
    pub enum_values: &'static [&'static str],
    /// `format`.
    pub format: Option<Format>,
}

pub struct IntegerSchema {
    /// `minimum`.
    pub minimum: Option<i64>,
    /// `maximum`.
    pub maximum: Option<i64>,
    /// `format: int32` (otherwise int64).
    pub int32: bool,
}

const fn string(
    min: Option<usize>,
    max: Option<usize>,
    pattern: Option<&'static Pattern>,
) -> Schema {
    Schema::String(StringSchema {
        min_length: min,
        max_length: max,
        pattern,
        enum_values: &[],
        format: None,
    })
}

const fn object(
    properties: &'static [Property],
    required: &'static [&'static str],
    rules: &'static [CelRule],
) -> Schema {
    Schema::Object(ObjectSchema {
        properties,
        required,
        additional: None,
        max_properties: None,
        rules,
    })
}

const fn prop(name: &'static str, schema: &'static Schema) -> Property {
    Property { name, schema }
}

static GROUP_STRING: Schema = string(None, Some(253), Some(&GROUP));
static KIND_STRING: Schema = string(Some(1), Some(63), Some(&KIND));
static OBJECT_NAME: Schema = string(Some(1), Some(253), None);
static SECTION_NAME: Schema = string(Some(1), Some(253), Some(&SUBDOMAIN));
static ANY_STRING: Schema = string(None, None, None);

static TARGET_REF: Schema = object(
    &[
        prop("group", &GROUP_STRING),
        prop("kind", &KIND_STRING),
        prop("name", &OBJECT_NAME),
        prop("sectionName", &SECTION_NAME),
    ],
    &["group", "kind", "name"],
    &[],
);

static TARGET_REFS: Schema = Schema::Array(ArraySchema {
    items: &TARGET_REF,
    min_items: Some(1),
    max_items: Some(16),
    list_type: ListType::Atomic,
    rules: &[cel::TARGET_SECTION_SPECIFIED, cel::TARGET_SECTION_UNIQUE],
});

static CA_REF: Schema = object(
    &[
        prop("group", &GROUP_STRING),
        prop("kind", &KIND_STRING),
        prop("name", &OBJECT_NAME),
    ],
    &["group", "kind", "name"],
    &[],
);

static CA_REFS: Schema = Schema::Array(ArraySchema {
    items: &CA_REF,
    min_items: None,
    max_items: Some(8),
    list_type: ListType::Atomic,
    rules: &[],
});

static HOSTNAME: Schema = string(Some(1), Some(253), Some(&SUBDOMAIN));

static SAN_TYPE: Schema = Schema::String(StringSchema {
    min_length: None,
    max_length: None,
    pattern: None,
    enum_values: &["Hostname", "URI"],
    format: None,
});

static SAN: Schema = object(
    &[
        prop("hostname", &SAN_HOSTNAME),
        prop("type", &SAN_TYPE),
        prop("uri", &SAN_URI),
    ],
    &["type"],
    &[
        cel::SAN_HOSTNAME_REQUIRED,
        cel::SAN_HOSTNAME_FORBIDDEN,
        cel::SAN_URI_REQUIRED,
        cel::SAN_URI_FORBIDDEN,
    ],
);
static SAN_HOSTNAME: Schema = string(Some(1), Some(253), Some(&WILDCARD_HOSTNAME));
static SAN_URI: Schema = string(Some(1), Some(253), Some(&ABSOLUTE_URI));

static SANS: Schema = Schema::Array(ArraySchema {
    items: &SAN,
    min_items: None,
    max_items: Some(5),
    list_type: ListType::Atomic,
    rules: &[],
});

static WELL_KNOWN: Schema = string(Some(1), Some(253), Some(&WELL_KNOWN_CA));

static VALIDATION: Schema = object(
    &[
        prop("caCertificateRefs", &CA_REFS),
        prop("hostname", &HOSTNAME),
        prop("subjectAltNames", &SANS),
        prop("wellKnownCACertificates", &WELL_KNOWN),
    ],
    &["hostname"],
    &[cel::VALIDATION_NOT_BOTH, cel::VALIDATION_EITHER],
);

static OPTION_VALUE: Schema = string(Some(0), Some(4096), None);

static OPTIONS: Schema = Schema::Object(ObjectSchema {
    properties: &[],
    required: &[],
    additional: Some(&OPTION_VALUE),
    max_properties: Some(16),
    rules: &[],
});

/// `spec`.
pub static SPEC: Schema = object(
    &[
        prop("options", &OPTIONS),
        prop("targetRefs", &TARGET_REFS),
        prop("validation", &VALIDATION),
    ],
    &["targetRefs", "validation"],
    &[],
);

static ANCESTOR_REF: Schema = object(
    &[
        prop("group", &ANCESTOR_GROUP),
        prop("kind", &KIND_STRING),
        prop("name", &OBJECT_NAME),
        prop("namespace", &ANCESTOR_NAMESPACE),
        prop("port", &PORT),
        prop("sectionName", &SECTION_NAME),
    ],
    &["name"],
    &[],
);
static ANCESTOR_GROUP: Schema = string(None, Some(253), Some(&GROUP));
static ANCESTOR_NAMESPACE: Schema = string(Some(1), Some(63), Some(&NAMESPACE));
static PORT: Schema = Schema::Integer(IntegerSchema {
    minimum: Some(1),
    maximum: Some(65535),
    int32: true,
});

static CONDITION: Schema = object(
    &[
        prop("lastTransitionTime", &DATE_TIME),
        prop("message", &CONDITION_MESSAGE),
        prop("observedGeneration", &OBSERVED_GENERATION),
        prop("reason", &CONDITION_REASON_STRING),
        prop("status", &CONDITION_STATUS),
        prop("type", &CONDITION_TYPE_STRING),
    ],
    &["lastTransitionTime", "message", "reason", "status", "type"],
    &[],
);
static DATE_TIME: Schema = Schema::String(StringSchema {
    min_length: None,
    max_length: None,
    pattern: None,
    enum_values: &[],
    format: Some(Format::DateTime),
});
static CONDITION_MESSAGE: Schema = string(None, Some(32768), None);
static OBSERVED_GENERATION: Schema = Schema::Integer(IntegerSchema {
    minimum: Some(0),
    maximum: None,
    int32: false,
});
static CONDITION_REASON_STRING: Schema = string(Some(1), Some(1024), Some(&CONDITION_REASON));
static CONDITION_STATUS: Schema = Schema::String(StringSchema {
    min_length: None,
    max_length: None,
    pattern: None,
    enum_values: &["True", "False", "Unknown"],
    format: None,
});
static CONDITION_TYPE_STRING: Schema = string(None, Some(316), Some(&CONDITION_TYPE));

static CONDITIONS: Schema = Schema::Array(ArraySchema {
    items: &CONDITION,
    min_items: Some(1),
    max_items: Some(8),
    list_type: ListType::Map(&["type"]),
    rules: &[],
});

static CONTROLLER: Schema = string(Some(1), Some(253), Some(&CONTROLLER_NAME));

static ANCESTOR: Schema = object(
    &[
        prop("ancestorRef", &ANCESTOR_REF),
        prop("conditions", &CONDITIONS),
        prop("controllerName", &CONTROLLER),
    ],
    &["ancestorRef", "conditions", "controllerName"],
    &[],
);

static ANCESTORS: Schema = Schema::Array(ArraySchema {
    items: &ANCESTOR,
    min_items: None,
    max_items: Some(16),
    list_type: ListType::Atomic,
    rules: &[],
});

/// `status`.
pub static STATUS: Schema = object(&[prop("ancestors", &ANCESTORS)], &["ancestors"], &[]);

/// The whole object, as the CRD describes it.
pub static ROOT: Schema = object(
    &[
        prop("apiVersion", &ANY_STRING),
        prop("kind", &ANY_STRING),
        prop("metadata", &Schema::OpaqueObject),
        prop("spec", &SPEC),
        prop("status", &STATUS),
    ],
    &["spec"],
    &[],
);

/// The whole object in a main-resource request: `status` is not examined.
pub static MAIN: Schema = object(
    &[
        prop("apiVersion", &ANY_STRING),
        prop("kind", &ANY_STRING),
        prop("metadata", &Schema::OpaqueObject),
        prop("spec", &SPEC),
        prop("status", &Schema::Ignored),
    ],
    &["spec"],
    &[],
);

/// One step of the path being walked (borrowed; rendered only when something is reported).
#[derive(Clone, Copy)]
enum Step<'v> {
    Field(&'static str),
    /// A field the schema does not declare (named by the input).
    Unknown(&'v str),
    Index(usize),
    Key(&'v str),
}

/// A field the schema does not declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// Where it is.
    pub path: FieldPath,
    /// The declared field of the same object whose name is closest to it (a typo or a case
    /// slip: `subjectAltName`, `hostName`), if one is close.
    pub closest: Option<&'static str>,
}

/// The longest unknown field name that is compared with the declared ones (the longest
/// declared name has 23 characters).
const MAX_SUGGESTED_LEN: usize = 64;

/// The declared name closest to `name`, if it is close: the same ignoring case, or within a
/// few edits (insertions, deletions, substitutions, swaps of neighbours; 1 for names of up
/// to 4 characters, 2 up to 8, 3 beyond), compared in lowercase. The first of equally close
/// names wins.
pub fn closest_name(
    name: &str,
    declared: impl Iterator<Item = &'static str>,
) -> Option<&'static str> {
    if name.len() > MAX_SUGGESTED_LEN || !name.is_ascii() {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let allowed = match name.len() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    declared
        .filter_map(|candidate| {
            let distance =
                edit_distance(name.as_bytes(), candidate.to_ascii_lowercase().as_bytes());
            (distance <= allowed).then_some((distance, candidate))
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// The optimal string alignment distance (Levenshtein with swaps of neighbours).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    // Rows i-2, i-1 and i of the table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Checks values against a schema, collecting errors and the paths of unknown fields.
pub struct Walker<'r> {
    report: &'r mut Report,
    /// Fields the schema does not declare (the caller decides how to report them): the first
    /// [`REPORT_ITEMS`], and every `namespace` inside a reference.
    pub unknown_fields: Vec<UnknownField>,
    /// Unknown fields found beyond those: counted, not built.
    pub unknown_omitted: usize,
    /// Whether some rule was skipped because the node it sits on was invalid.
    pub skipped_rules: bool,
    steps: Vec<Step<'r>>,
}

impl<'r> Walker<'r> {
    /// A walker that adds its errors to `report`.
    pub fn new(report: &'r mut Report) -> Self {
        Self {
            report,
            unknown_fields: Vec::new(),
            unknown_omitted: 0,
            skipped_rules: false,
            steps: Vec::with_capacity(8),
        }
    }

    /// Checks `value` against `schema`; `field` is the top-level field it sits in (`None` when
    /// `value` is the whole object).
    pub fn check(&mut self, field: Option<&'static str>, schema: &Schema, value: &'r Value) {
        self.steps.clear();
        self.steps.extend(field.map(Step::Field));
        self.node(schema, value);
    }

    fn path_with(&mut self, step: Step<'r>) -> FieldPath {
        self.steps.push(step);
        let path = path_of(&self.steps);
        self.steps.pop();
        path
    }

    /// Records a field the schema does not declare: its path while there is room, and always
    /// when it is a `namespace` inside a reference (an error, which must not go uncounted as a
    /// warning); otherwise only counts it.
    fn unknown(&mut self, key: &'r str, object: &ObjectSchema) {
        let room = self.unknown_fields.len() < REPORT_ITEMS;
        if room || key == "namespace" {
            let path = self.path_with(Step::Unknown(key));
            if room || is_reference_namespace(&path) {
                let closest = closest_name(key, object.properties.iter().map(|p| p.name));
                self.unknown_fields.push(UnknownField { path, closest });
                return;
            }
        }
        self.unknown_omitted += 1;
    }

    /// Reports an error at the current path: `make` turns the rendered path into the value
    /// and the detail. Nothing is built once the report is full (the error is only counted).
    fn fail(&mut self, kind: ErrorKind, make: impl FnOnce(&FieldPath) -> (BadValue, String)) {
        let Self { report, steps, .. } = self;
        report.error_with(|| {
            let path = path_of(steps);
            let (value, detail) = make(&path);
            FieldError::new(path, kind, value, detail)
        });
    }

    fn type_error(&mut self, expected: &str, value: &Value) {
        let actual = json_type(value);
        self.fail(ErrorKind::TypeInvalid, |path| {
            let detail = format!(
                "{path} in body must be of type {expected}: {}",
                Quoted(actual)
            );
            (BadValue::str(actual), detail)
        });
    }

    /// Walks one node; returns whether its subtree is free of type errors (CEL rules read
    /// fields by type, so they only run on well-typed subtrees).
    fn node(&mut self, schema: &Schema, value: &'r Value) -> bool {
        match schema {
            Schema::Object(object) => self.object(object, value),
            Schema::Array(array) => self.array(array, value),
            Schema::String(string) => self.string(string, value),
            Schema::Integer(integer) => self.integer(integer, value),
            Schema::Ignored => true,
            Schema::OpaqueObject => {
                if value.is_object() {
                    true
                } else {
                    self.type_error("object", value);
                    false
                }
            }
        }
    }

    fn object(&mut self, schema: &ObjectSchema, value: &'r Value) -> bool {
        let Some(map) = value.as_object() else {
            self.type_error("object", value);
            return false;
        };
        let mut well_typed = true;
        if let Some(additional) = schema.additional {
            // Null values of a non-nullable map are pruned by the apiserver, like null fields.
            let entries = map.values().filter(|v| !v.is_null()).count();
            if let Some(max) = schema.max_properties
                && entries > max
            {
                self.fail(ErrorKind::TooMany, |_| {
                    let detail = format!("must have at most {max} items");
                    (BadValue::Raw(entries.to_string()), detail)
                });
            }
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                self.steps.push(Step::Key(key));
                well_typed &= self.node(additional, item);
                self.steps.pop();
            }
        } else {
            // One pass over the fields, each found among the handful of declared properties
            // by a linear scan: cheaper than a map lookup per property. Bit `i` of `seen`:
            // `properties[i]` is present and not null.
            let mut seen = 0u64;
            for (key, child) in map {
                let Some(i) = schema.properties.iter().position(|p| p.name == key) else {
                    self.unknown(key, schema);
                    continue;
                };
                if child.is_null() {
                    continue;
                }
                seen |= 1u64.checked_shl(i as u32).unwrap_or(0);
                let property = &schema.properties[i];
                self.steps.push(Step::Field(property.name));
                well_typed &= self.node(property.schema, child);
                self.steps.pop();
            }
            for required in schema.required {
                let is_present = match schema.properties.iter().position(|p| p.name == *required) {
                    Some(i) if i < 64 => seen & (1 << i) != 0,
                    _ => present(map, required).is_some(),
                };
                if !is_present {
                    let Self { report, steps, .. } = &mut *self;
                    report.error_with(|| {
                        let mut path = path_of(steps);
                        path = path.field(required);
                        FieldError::required(path, "")
                    });
                }
            }
        }
        if well_typed {
            self.rules(schema.rules, value);
        } else if !schema.rules.is_empty() {
            self.skipped_rules = true;
        }
        well_typed
    }

    fn array(&mut self, schema: &ArraySchema, value: &'r Value) -> bool {
        let Some(items) = value.as_array() else {
            self.type_error("array", value);
            return false;
        };
        let mut well_typed = true;
        let too_many = schema.max_items.is_some_and(|max| items.len() > max);
        if let Some(max) = schema.max_items
            && too_many
        {
            self.fail(ErrorKind::TooMany, |_| {
                let detail = format!("must have at most {max} items");
                (BadValue::Raw(items.len().to_string()), detail)
            });
        }
        if let Some(min) = schema.min_items
            && items.len() < min
        {
            // The apiserver shows the list's size as the bad value.
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body should have at least {min} items");
                (BadValue::Raw(items.len().to_string()), detail)
            });
        }
        for (i, item) in items.iter().enumerate() {
            self.steps.push(Step::Index(i));
            well_typed &= self.node(schema.items, item);
            self.steps.pop();
        }
        if let ListType::Map(keys) = schema.list_type {
            self.duplicate_keys(keys, items);
        }
        if well_typed && !too_many {
            self.rules(schema.rules, value);
        } else if !schema.rules.is_empty() {
            self.skipped_rules = true;
        }
        well_typed
    }

    /// As apiextensions' list-type validation: each repeated key once, at its second
    /// occurrence, shown as Go shows the key map (`%#v`).
    fn duplicate_keys(&mut self, keys: &[&str], items: &'r [Value]) {
        // Items that are not objects have their type error; the apiserver then checks no keys.
        if !items.iter().all(|v| v.is_object() || v.is_null()) {
            return;
        }
        // Keys counted in a hash map: linear in the length of the list, however long.
        let mut seen: HashMap<Vec<Option<&Value>>, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(items.len(), Default::default());
        for (i, item) in items.iter().enumerate() {
            // A null key is pruned by the apiserver: unspecified, like a missing one.
            let key: Vec<Option<&Value>> = keys
                .iter()
                .map(|k| item.get(k).filter(|v| !v.is_null()))
                .collect();
            let times = seen.entry(key.clone()).or_insert(0);
            *times += 1;
            if *times != 2 {
                continue;
            }
            self.steps.push(Step::Index(i));
            self.fail(ErrorKind::Duplicate, |_| {
                let mut shown: Vec<(&str, &Value)> = keys
                    .iter()
                    .zip(key)
                    .filter_map(|(k, v)| Some((*k, v?)))
                    .collect();
                shown.sort_by_key(|(k, _)| *k);
                let entries: Vec<String> = shown
                    .iter()
                    .map(|(k, v)| format!("{}:{}", Quoted(k), go_value(v)))
                    .collect();
                let shown = format!("map[string]interface {{}}{{{}}}", entries.join(", "));
                (BadValue::Raw(shown), String::new())
            });
            self.steps.pop();
        }
    }

    fn string(&mut self, schema: &StringSchema, value: &Value) -> bool {
        let Some(s) = value.as_str() else {
            self.type_error("string", value);
            return false;
        };
        // As the apiserver's schema validator (kube-openapi's stringValidator): maxLength, then
        // minLength, then pattern, and only the first that fails is reported (`hostname: ""`
        // gets the length error, not also the pattern's). Enum and format are separate
        // validators there and are checked independently.
        let length = || {
            if s.is_ascii() {
                s.len()
            } else {
                s.chars().count()
            }
        };
        if let Some(max) = schema.max_length
            && length() > max
        {
            self.fail(ErrorKind::TooLong, |_| {
                (BadValue::None, format!("may not be more than {max} bytes"))
            });
        } else if let Some(min) = schema.min_length
            && length() < min
        {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body should be at least {min} chars long");
                (BadValue::str(s), detail)
            });
        } else if let Some(pattern) = schema.pattern
            && !pattern.is_match(s)
        {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body should match '{}'", pattern.source);
                (BadValue::str(s), detail)
            });
        }
        if !schema.enum_values.is_empty() && !schema.enum_values.contains(&s) {
            let Self { report, steps, .. } = &mut *self;
            report.error_with(|| FieldError::not_supported(path_of(steps), s, schema.enum_values));
        }
        if let Some(Format::DateTime) = schema.format
            && !is_date_time(s)
        {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body must be of type date-time: {}", Quoted(s));
                (BadValue::str(s), detail)
            });
        }
        true
    }

    fn integer(&mut self, schema: &IntegerSchema, value: &Value) -> bool {
        let Some(n) = value.as_i64() else {
            self.type_error("integer", value);
            return false;
        };
        if schema.int32 && i32::try_from(n).is_err() {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!(
                    "{path} in body must be of type int32: {}",
                    Quoted(&n.to_string())
                );
                (BadValue::Raw(n.to_string()), detail)
            });
        }
        if let Some(min) = schema.minimum
            && n < min
        {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body should be greater than or equal to {min}");
                (BadValue::Raw(n.to_string()), detail)
            });
        }
        if let Some(max) = schema.maximum
            && n > max
        {
            self.fail(ErrorKind::Invalid, |path| {
                let detail = format!("{path} in body should be less than or equal to {max}");
                (BadValue::Raw(n.to_string()), detail)
            });
        }
        true
    }

    fn rules(&mut self, rules: &[CelRule], value: &Value) {
        for rule in rules {
            if (rule.eval)(value) == Some(false) {
                self.fail(ErrorKind::Invalid, |_| {
                    (BadValue::None, rule.message.to_owned())
                });
            }
        }
    }
}

/// The path the walker is at.
fn path_of(steps: &[Step<'_>]) -> FieldPath {
    let mut path = FieldPath::root();
    for step in steps {
        path = match step {
            Step::Field(name) => path.field(name),
            Step::Unknown(name) => path.field_owned(name),
            Step::Index(i) => path.index(*i),
            Step::Key(key) => path.key(key),
        };
    }
    path
}

/// Whether `path` is a `namespace` field inside a target or CA reference (an unknown field
/// there would silently make the reference resolve in the policy's own namespace).
pub(crate) fn is_reference_namespace(path: &FieldPath) -> bool {
    fn is(segment: &Segment, name: &str) -> bool {
        matches!(segment, Segment::Field(field) if field == name)
    }
    match path.segments() {
        [spec, list, Segment::Index(_), last] => {
            is(spec, "spec") && is(list, "targetRefs") && is(last, "namespace")
        }
        [spec, validation, list, Segment::Index(_), last] => {
            is(spec, "spec")
                && is(validation, "validation")
                && is(list, "caCertificateRefs")
                && is(last, "namespace")
        }
        _ => false,
    }
}

/// The time part of a Kubernetes `date-time` (kube-openapi's strfmt): note the unescaped `.`
/// before the fraction, which the apiserver's pattern has too.
static DATE_TIME_CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    // A literal, checked by the tests below.
    Regex::new(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
        .expect("date-time pattern compiles")
});

/// Whether `value` is a `date-time` as the apiserver's OpenAPI validation decides it
/// (`strfmt.IsDateTime`): lower-cased and split at each `t`, the first part a calendar date
/// (`YYYY-MM-DD`, day valid for the month), the second a clock time whose hours, minutes and
/// seconds are at most 23, 59 and 59, with a `z` or `±hh:mm` zone. Leap seconds are refused and
/// a few oddities (`Zt` at the end) are accepted, exactly as the apiserver does.
pub(crate) fn is_date_time(value: &str) -> bool {
    if value.len() < 4 {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(clock)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_full_date(date) {
        return false;
    }
    let Some(captures) = DATE_TIME_CLOCK.captures(clock) else {
        return false;
    };
    let field = |i: usize| captures.get(i).map_or("", |m| m.as_str());
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// `YYYY-MM-DD` with a day that exists in that month (Go's `time.Parse("2006-01-02")`). `time`
/// reads the date; the length check refuses the sign `time` accepts before a year (`+2026-...`),
/// which Go's layout does not.
fn is_full_date(date: &str) -> bool {
    const FULL_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");
    date.len() == 10 && time::Date::parse(date, FULL_DATE).is_ok()
}

/// A scalar key value as Go's `%#v` shows it inside a `map[string]interface {}`.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => Quoted(s).to_string(),
        other => other.to_string(),
    }
}

/// A field that is present and not null (the apiserver drops nulls of non-nullable fields).
pub(crate) fn present<'v>(map: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    map.get(name).filter(|v| !v.is_null())
}

/// The OpenAPI type name of a JSON value.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every schema node below `schema` with its path (lists as `[*]`, map values as `[*]`), for
/// the facts test.
pub fn nodes(path: &str, schema: &'static Schema, out: &mut Vec<(String, &'static Schema)>) {
    out.push((path.to_owned(), schema));
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match schema {
        Schema::Object(object) => {
            for property in object.properties {
                nodes(&join(property.name), property.schema, out);
            }
            if let Some(additional) = object.additional {
                nodes(&format!("{path}[*]"), additional, out);
            }
        }
        Schema::Array(array) => nodes(&format!("{path}[*]"), array.items, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
