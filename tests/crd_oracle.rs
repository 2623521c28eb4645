//! Differential test: the webhook against an oracle built only from the upstream CRD facts
//! (`tests/fixtures/crd-facts.json`).
//!
//! # Design: a second validator, sharing nothing it could copy a mistake from
//!
//! The webhook's schema rules are the CRD written out by hand as Rust tables (with byte scans
//! standing in for the DNS-name regular expressions), and its CEL rules are hand-written Rust
//! translations. Tests that compare that code with fixtures written by the same hands share its
//! misreadings of the CRD. This file is a second, deliberately plain implementation that is
//! independent of all of it:
//!
//! - **Not `validate::schema`**: the schema is read from the facts file, which `make crds`
//!   (`examples/crd-facts.rs`) extracts from the upstream CRD YAML. (`tests/crd_facts.rs`
//!   checks, separately, that the webhook's tables equal the same facts.)
//! - **Not the webhook's CEL translations**: every `x-kubernetes-validations` rule runs as
//!   upstream writes it, through the `cel` crate.
//! - **Not the byte scans**: `pattern`s are compiled from the facts with `regex`.
//! - **Not the webhook's name checks**: the prose rules no CRD states are recognised by path
//!   and message and re-checked on the value by code of their own here ([`PROSE_RULES`]).
//! - **Not the webhook's fixtures or generators**: objects come from a deterministic PRNG that
//!   mutates seed policies written here, not from `tests/fixtures/` or `tests/properties.rs`.
//!
//! From the webhook it uses only the entry point under test (`validate::policy`) and the types
//! of its report. What it does rely on, and so what a shared mistake could still hide in: the
//! facts extractor, the `cel` crate's semantics, and the model of the apiserver below (pruning,
//! the status subresource, blocking errors), taken from the Kubernetes behaviour SPEC.md cites.
//! Plain means long and slow: its one shortcut is a cache of CEL results by rule and value,
//! and `cargo test` judges 3,000 objects (`make fuzz-oracle` 200,000, in release).
//!
//! # The oracle
//!
//! It models what the apiserver does to a BackendTLSPolicy with `fieldValidation=Strict`,
//! knowing nothing but the facts file:
//!
//! 1. On a main-resource CREATE, `status` is dropped (the status subresource is enabled:
//!    `PrepareForCreate` resets it). On an UPDATE of the status subresource only the `status`
//!    subtree is judged (the apiserver keeps the stored spec).
//! 2. Decoding prunes fields the schema does not declare; under Strict each is an error.
//!    Objects with no declared properties and no `[*]` child (`metadata`) are opaque.
//! 3. Non-nullable `null`s are pruned, for declared properties and for map (`[*]`) values alike
//!    (`PruneNonNullableNullsWithoutDefaults`); list items are not pruned.
//! 4. Structural validation driven by each node's facts: JSON type, required, `minLength` and
//!    `maxLength` in code points, `pattern` (the `regex` crate: RE2 syntax, `$` at end of text
//!    only), `enum`, `format: date-time` (a port of strfmt's `IsDateTime`, which is not RFC
//!    3339), `minimum`/`maximum`/`int32`, `minItems`/`maxItems`, `maxProperties`, and
//!    `x-kubernetes-list-type: map` key uniqueness.
//! 5. Every `x-kubernetes-validations` rule is evaluated by the `cel` crate with `self` bound to
//!    the (pruned) node it sits on, converted from JSON. A rule runs where the node's subtree is
//!    type-correct, has all its required fields and is not a list longer than its `maxItems`
//!    (TooMany is blocking, and the lists' rules are quadratic). Rules read required fields
//!    without `has()`, and Kubernetes never evaluates them on an object lacking one (Required
//!    is a blocking error). Evaluating anyway would not always give a runtime error: CEL's
//!    `false && error` is `false`, so `[A, A, B-without-group]` fails T2 in CEL although the
//!    apiserver reports only the Required error. The apiserver goes further and skips all CEL
//!    when any blocking error (Required, enum, TooLong, TooMany, type) exists anywhere; that
//!    changes which errors are listed, never the verdict (a blocking error rejects anyway), so
//!    verdicts are the apiserver's. A rule that fails to evaluate (a CEL runtime error) must sit
//!    on a subtree that already has a blocking error: the oracle checks that, so a rule it
//!    cannot evaluate is a test failure, not a silent pass.
//!
//! The version's schema is chosen by `apiVersion` (`v1` or `v1alpha3` of the v1.6.1 standard
//! CRD; anything else is checked as `v1`).
//!
//! # The assertions
//!
//! Seeds (valid policies) are mutated at random by a small deterministic PRNG; one case in
//! five is a status-subresource UPDATE with a mutated `status`. Each object is judged by the
//! oracle and by `validate::policy` (references warn, unknown fields deny):
//!
//! - (a) no object the oracle rejects is allowed by the webhook;
//! - (b) every webhook error on an object the oracle accepts is one of the prose rules of the
//!   README's "Rules" table, recognised by field path pattern and message and confirmed on the
//!   offending value by an independent check ([`PROSE_RULES`]);
//! - (c) where both reject, every oracle error has a webhook error at the same path or an
//!   ancestor; other path disagreements are printed.
//!
//! Webhook bugs found this way are listed in [`KNOWN_BUGS`]: what they explain is counted and
//! printed instead of failing, and each has an `#[ignore]`d test with a minimal case.
//!
//! `cargo test --test crd_oracle -- --nocapture` prints the counts. `ORACLE_CASES=N` changes
//! the number of objects (default 3,000; `make fuzz-oracle` runs 200,000 in release),
//! `ORACLE_SEED=N` the seed, and `ORACLE_CASE=I` replays case `I` alone, printing it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use backendtls_webhook::validate::field::Segment;
use backendtls_webhook::validate::{
    self, Enforcement, ErrorKind, FieldError, FieldPath, Operation, PolicyChange, Report, Settings,
    Snapshot,
};
use regex::Regex;
use serde_json::{Map, Value, json};

/// The Gateway API release the webhook implements.
const BASELINE: &str = "v1.6.1";
/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;
/// Objects judged by `cargo test`.
const DEFAULT_CASES: u64 = 3_000;
const DEFAULT_SEED: u64 = 0x0b7e_5eed_2026_0601;

// =============================================================================================
// The facts file

#[path = "common/crd_facts.rs"]
mod crd_facts_model;

use crd_facts_model::Version as FactsVersion;

// =============================================================================================
// The oracle

/// What an oracle error is, with the apiserver's notion of blocking (blocking errors stop CEL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum OracleKind {
    Unknown,
    TypeInvalid,
    Required,
    TooLong,
    MinLength,
    Pattern,
    Enum,
    Format,
    Minimum,
    Maximum,
    TooMany,
    MinItems,
    Duplicate,
    Cel,
}

impl OracleKind {
    fn blocking(self) -> bool {
        matches!(
            self,
            Self::Unknown | Self::TypeInvalid | Self::Required | Self::TooLong | Self::Enum
        ) || self == Self::TooMany
    }
}

#[derive(Clone, Debug)]
struct OracleError {
    path: FieldPath,
    kind: OracleKind,
    detail: String,
}

impl fmt::Display for OracleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}: {}", self.path, self.kind, self.detail)
    }
}

/// A node's facts, compiled.
struct OracleNode {
    type_: String,
    format: Option<String>,
    required: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<(String, Regex)>,
    enum_values: Option<Vec<String>>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    max_properties: Option<usize>,
    minimum: Option<i64>,
    maximum: Option<i64>,
    list_map_keys: Option<Vec<String>>,
    /// Declared property names (empty for maps and opaque objects).
    properties: Vec<String>,
    /// Whether the node has a `[*]` child (an array's items or a map's values).
    has_items: bool,
}

struct OracleRule {
    source: String,
    message: String,
    program: cel::Program,
}

/// One CRD version's schema, from the facts only.
struct OracleSchema {
    nodes: HashMap<String, OracleNode>,
    rules: HashMap<String, Vec<OracleRule>>,
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

impl OracleSchema {
    fn new(version: &FactsVersion) -> Self {
        let mut nodes: HashMap<String, OracleNode> = HashMap::new();
        for node in &version.nodes {
            assert!(
                node.other_keywords.is_empty(),
                "{}: the oracle does not model {:?}",
                node.path,
                node.other_keywords
            );
            if let Some(list_type) = &node.list_type {
                assert!(
                    matches!(list_type.as_str(), "atomic" | "map"),
                    "{}: the oracle does not model x-kubernetes-list-type {list_type}",
                    node.path
                );
            }
            let pattern = node.pattern.as_ref().map(|p| {
                let regex = Regex::new(p).unwrap_or_else(|e| panic!("{}: {e}", node.path));
                (p.clone(), regex)
            });
            let type_ = node
                .type_
                .clone()
                .unwrap_or_else(|| panic!("{}: the oracle needs a type", node.path));
            nodes.insert(
                node.path.clone(),
                OracleNode {
                    type_,
                    format: node.format.clone(),
                    required: node.required,
                    min_length: node.min_length,
                    max_length: node.max_length,
                    pattern,
                    enum_values: node.enum_values.clone(),
                    min_items: node.min_items,
                    max_items: node.max_items,
                    max_properties: node.max_properties,
                    minimum: node.minimum,
                    maximum: node.maximum,
                    list_map_keys: node.list_map_keys.clone(),
                    properties: Vec::new(),
                    has_items: false,
                },
            );
        }
        for node in &version.nodes {
            if node.path.is_empty() {
                continue;
            }
            if let Some(parent) = node.path.strip_suffix("[*]") {
                nodes.get_mut(parent).expect("the parent node").has_items = true;
            } else {
                let (parent, name) = node.path.rsplit_once('.').unwrap_or(("", &node.path));
                nodes
                    .get_mut(parent)
                    .unwrap_or_else(|| panic!("no parent node for {}", node.path))
                    .properties
                    .push(name.to_owned());
            }
        }
        let mut rules: HashMap<String, Vec<OracleRule>> = HashMap::new();
        for rule in &version.rules {
            let unmodelled = [
                ("messageExpression", rule.message_expression.is_some()),
                ("reason", rule.reason.is_some()),
                ("fieldPath", rule.field_path.is_some()),
                ("optionalOldSelf", rule.optional_old_self.is_some()),
                ("otherKeywords", !rule.other_keywords.is_empty()),
            ];
            for (what, present) in unmodelled {
                assert!(!present, "{}: the oracle does not model {what}", rule.path);
            }
            assert!(
                nodes.contains_key(&rule.path),
                "rule on the unknown node {}",
                rule.path
            );
            let program = cel::Program::compile(&rule.rule)
                .unwrap_or_else(|e| panic!("{}: CEL does not compile: {e}", rule.rule));
            rules
                .entry(rule.path.clone())
                .or_default()
                .push(OracleRule {
                    source: rule.rule.clone(),
                    message: rule.message.clone().unwrap_or_default(),
                    program,
                });
        }
        Self { nodes, rules }
    }

    fn node(&self, path: &str) -> &OracleNode {
        self.nodes
            .get(path)
            .unwrap_or_else(|| panic!("no node {path:?} in the facts"))
    }

    /// Steps 2 and 3: prunes unknown fields (reporting them) and non-nullable nulls.
    fn prune(&self, value: &mut Value, at: &str, path: &FieldPath, errors: &mut Vec<OracleError>) {
        let node = self.node(at);
        match value {
            Value::Object(map) if node.type_ == "object" => {
                if node.has_items {
                    map.retain(|_, v| !v.is_null());
                    let items = format!("{at}[*]");
                    for (key, item) in map.iter_mut() {
                        self.prune(item, &items, &path.key(key), errors);
                    }
                } else if !node.properties.is_empty() {
                    let unknown: Vec<String> = map
                        .keys()
                        .filter(|k| !node.properties.contains(k))
                        .cloned()
                        .collect();
                    for key in unknown {
                        map.remove(&key);
                        errors.push(OracleError {
                            path: path.field_owned(&key),
                            kind: OracleKind::Unknown,
                            detail: "unknown field (strict field validation)".into(),
                        });
                    }
                    map.retain(|_, v| !v.is_null());
                    for (key, child) in map.iter_mut() {
                        self.prune(child, &child_path(at, key), &path.field_owned(key), errors);
                    }
                }
            }
            Value::Array(items) if node.type_ == "array" => {
                let at_items = format!("{at}[*]");
                for (i, item) in items.iter_mut().enumerate() {
                    self.prune(item, &at_items, &path.index(i), errors);
                }
            }
            _ => {}
        }
    }

    /// Steps 4 and 5 on a pruned value; returns whether the subtree is type-correct and has
    /// every required field (whether rules above it can be evaluated).
    fn check(&self, value: &Value, at: &str, path: &FieldPath, out: &mut Checked) -> bool {
        let node = self.node(at);
        let mut error = |kind, detail: String| {
            out.errors.push(OracleError {
                path: path.clone(),
                kind,
                detail,
            });
        };
        let type_ok = match node.type_.as_str() {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("{at}: the oracle does not model type {other}"),
        };
        if !type_ok {
            error(
                OracleKind::TypeInvalid,
                format!("must be of type {}", node.type_),
            );
            return false;
        }
        let mut typed = true;
        match value {
            Value::String(s) => {
                // kube-openapi's stringValidator: the first of maxLength, minLength and
                // pattern that fails, only.
                let length = s.chars().count();
                if let Some(max) = node.max_length
                    && length > max
                {
                    error(OracleKind::TooLong, format!("longer than {max}"));
                } else if let Some(min) = node.min_length
                    && length < min
                {
                    error(OracleKind::MinLength, format!("shorter than {min}"));
                } else if let Some((source, regex)) = &node.pattern
                    && !regex.is_match(s)
                {
                    error(OracleKind::Pattern, format!("should match '{source}'"));
                }
                if let Some(values) = &node.enum_values
                    && !values.contains(s)
                {
                    error(OracleKind::Enum, format!("not one of {values:?}"));
                }
                match node.format.as_deref() {
                    None => {}
                    Some("date-time") if !is_date_time(s) => {
                        error(OracleKind::Format, "not a date-time".into());
                    }
                    Some("date-time") => {}
                    Some(other) => panic!("{at}: the oracle does not model format {other}"),
                }
            }
            Value::Number(n) => {
                let n = n.as_i64().unwrap_or(i64::MAX);
                if node.format.as_deref() == Some("int32") && i32::try_from(n).is_err() {
                    error(OracleKind::Format, "not an int32".into());
                }
                if let Some(min) = node.minimum
                    && n < min
                {
                    error(OracleKind::Minimum, format!("less than {min}"));
                }
                if let Some(max) = node.maximum
                    && n > max
                {
                    error(OracleKind::Maximum, format!("more than {max}"));
                }
            }
            Value::Array(items) => {
                if let Some(max) = node.max_items
                    && items.len() > max
                {
                    // Blocking: the apiserver evaluates no rule on (or in) such a list.
                    typed = false;
                    error(OracleKind::TooMany, format!("more than {max} items"));
                }
                if let Some(min) = node.min_items
                    && items.len() < min
                {
                    error(OracleKind::MinItems, format!("fewer than {min} items"));
                }
                let at_items = format!("{at}[*]");
                for (i, item) in items.iter().enumerate() {
                    typed &= self.check(item, &at_items, &path.index(i), out);
                }
                // As apiextensions' listtype validation: only when every item is an object (or
                // null); a missing key is "unspecified", and each repeated key is reported once,
                // at its second occurrence.
                let objects = items.iter().all(|v| v.is_object() || v.is_null());
                if let Some(keys) = &node.list_map_keys
                    && objects
                {
                    let key_of = |v: &Value| -> Vec<Option<Value>> {
                        keys.iter().map(|k| v.get(k).cloned()).collect()
                    };
                    let mut seen: Vec<(Vec<Option<Value>>, usize)> = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let key = key_of(item);
                        match seen.iter_mut().find(|(k, _)| *k == key) {
                            None => seen.push((key, 1)),
                            Some((_, times)) => {
                                *times += 1;
                                if *times == 2 {
                                    out.errors.push(OracleError {
                                        path: path.index(i),
                                        kind: OracleKind::Duplicate,
                                        detail: format!("duplicate list-map key {keys:?}"),
                                    });
                                }
                            }
                        }
                    }
                }
            }
            Value::Object(map) => {
                if let Some(max) = node.max_properties
                    && map.len() > max
                {
                    error(OracleKind::TooMany, format!("more than {max} properties"));
                }
                if node.has_items {
                    let at_items = format!("{at}[*]");
                    for (key, item) in map {
                        typed &= self.check(item, &at_items, &path.key(key), out);
                    }
                } else {
                    for name in &node.properties {
                        let child_at = child_path(at, name);
                        match map.get(name) {
                            Some(child) => {
                                typed &= self.check(child, &child_at, &path.field_owned(name), out);
                            }
                            None if self.node(&child_at).required => {
                                typed = false;
                                out.errors.push(OracleError {
                                    path: path.field_owned(name),
                                    kind: OracleKind::Required,
                                    detail: "required".into(),
                                });
                            }
                            None => {}
                        }
                    }
                }
            }
            _ => {}
        }
        if typed && let Some(rules) = self.rules.get(at) {
            let json = value.to_string();
            for rule in rules {
                out.cel_runs += 1;
                match rule.evaluate_cached(value, &json, &mut out.cel_evaluations) {
                    Ok(true) => {}
                    Ok(false) => out.errors.push(OracleError {
                        path: path.clone(),
                        kind: OracleKind::Cel,
                        detail: rule.message.clone(),
                    }),
                    Err(e) => out
                        .unevaluated
                        .push((path.clone(), format!("{}: {e}", rule.source))),
                }
            }
        }
        typed
    }
}

impl OracleRule {
    /// The rule's verdict on `value` (whose JSON text is `json`), memoized per thread: the
    /// generated objects share most of their nodes, and interpreting CEL dominates the
    /// oracle's cost in debug builds. `evaluations` counts actual evaluations.
    fn evaluate_cached(
        &self,
        value: &Value,
        json: &str,
        evaluations: &mut u64,
    ) -> Result<bool, String> {
        thread_local! {
            static CACHE: RefCell<HashMap<(usize, String), Result<bool, String>>> =
                RefCell::new(HashMap::new());
        }
        let key = (std::ptr::from_ref(self) as usize, json.to_owned());
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
            return hit;
        }
        *evaluations += 1;
        let this = cel::to_value(value).expect("JSON converts to CEL");
        let verdict = match evaluate(&self.program, &this) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => panic!("{}: evaluated to {other:?}", self.source),
            Err(e) => Err(e.to_string()),
        };
        CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            if cache.len() >= 200_000 {
                cache.clear();
            }
            cache.insert(key, verdict.clone());
        });
        verdict
    }
}

thread_local! {
    /// The CEL standard environment, built once per thread (building it dominates the cost of
    /// an evaluation).
    static CEL_ROOT: cel::Context<'static, 'static> = cel::Context::default();
}

/// Runs a rule with `self` bound to `this`.
fn evaluate(program: &cel::Program, this: &cel::Value) -> Result<cel::Value, cel::ExecutionError> {
    CEL_ROOT.with(|root| {
        let mut context = root.new_inner_scope();
        context
            .add_variable("self", this.clone())
            .expect("self binds");
        program.execute(&context)
    })
}

/// What the oracle found in one object.
#[derive(Default)]
struct Checked {
    errors: Vec<OracleError>,
    /// Rules that failed to evaluate (CEL runtime errors), by node.
    unevaluated: Vec<(FieldPath, String)>,
    /// Rules applied, and rules actually evaluated (not answered from the cache).
    cel_runs: u64,
    cel_evaluations: u64,
}

struct Oracle {
    versions: Vec<(String, OracleSchema)>,
}

impl Oracle {
    fn get() -> &'static Oracle {
        static ORACLE: OnceLock<Oracle> = OnceLock::new();
        ORACLE.get_or_init(|| {
            let crd = crd_facts_model::facts().crd(BASELINE, "standard");
            let versions = crd
                .versions
                .iter()
                .map(|v| (v.name.clone(), OracleSchema::new(v)))
                .collect::<Vec<_>>();
            assert!(
                versions.iter().any(|(name, _)| name == "v1"),
                "the baseline CRD has v1"
            );
            Oracle { versions }
        })
    }

    fn schema_for(&self, object: &Value) -> &OracleSchema {
        let version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.strip_prefix("gateway.networking.k8s.io/"))
            .unwrap_or("v1");
        let find = |name: &str| self.versions.iter().find(|(n, _)| n == name);
        &find(version).or_else(|| find("v1")).expect("v1 is there").1
    }

    /// Judges a main-resource CREATE.
    fn judge(&self, object: &Value) -> Checked {
        let schema = self.schema_for(object);
        let mut pruned = object.clone();
        if let Some(map) = pruned.as_object_mut() {
            map.remove("status");
        }
        let mut out = Checked::default();
        schema.prune(&mut pruned, "", &FieldPath::root(), &mut out.errors);
        schema.check(&pruned, "", &FieldPath::root(), &mut out);
        Self::finish(object, out)
    }

    /// Judges an update of the status subresource: the `status` subtree (the apiserver keeps
    /// the stored spec, so only status changes can be new errors).
    fn judge_status(&self, object: &Value) -> Checked {
        let schema = self.schema_for(object);
        let mut out = Checked::default();
        if let Some(status) = object.get("status").filter(|s| !s.is_null()) {
            let mut pruned = status.clone();
            let path = FieldPath::root().field("status");
            schema.prune(&mut pruned, "status", &path, &mut out.errors);
            schema.check(&pruned, "status", &path, &mut out);
        }
        Self::finish(object, out)
    }

    fn finish(object: &Value, out: Checked) -> Checked {
        for (at, why) in &out.unevaluated {
            let blocked = out
                .errors
                .iter()
                .any(|e| e.kind.blocking() && e.path.starts_with(at));
            assert!(
                blocked,
                "the oracle could not evaluate a rule on {at} with no blocking error below it: {why}\nobject: {object}"
            );
        }
        out
    }
}

/// `format: date-time` as the apiserver checks it (kube-openapi's strfmt `IsDateTime`): a
/// `2006-01-02` date (Go `time.Parse`), then, after the first `t` of the lowercased text, a time
/// matching `^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$` (any
/// character before the fraction) with hours at most 23 and minutes and seconds at most 59.
fn is_date_time(text: &str) -> bool {
    static TIME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
            .expect("compiles")
    });
    if text.len() < 4 {
        return false;
    }
    let lower = text.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    TIME.captures(parts[1])
        .is_some_and(|m| &m[1] <= "23" && &m[2] <= "59" && &m[3] <= "59")
}

/// Go's `time.Parse("2006-01-02", s)`: four-digit year, two-digit month and day, a real date.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let number = |r: std::ops::Range<usize>| s[r].parse::<u32>().expect("digits");
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

// =============================================================================================
// The webhook

fn settings() -> Settings {
    Settings {
        missing_refs: Enforcement::Warn,
        invalid_refs: Enforcement::Warn,
        unknown_fields: Enforcement::Deny,
        ..Settings::default()
    }
}

/// The webhook on a main-resource CREATE, or (`status`) an UPDATE of the status subresource
/// (no old object: nothing is ratcheted).
fn webhook(object: &Value, status: bool) -> Report {
    static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(Snapshot::default);
    let change = PolicyChange {
        object,
        old_object: None,
        operation: if status {
            Operation::Update
        } else {
            Operation::Create
        },
        subresource: status.then_some("status"),
        namespace: "shop",
    };
    validate::policy(&change, &SNAPSHOT, &settings(), NOW)
}

// =============================================================================================
// The prose rules: webhook errors the CRD does not state

/// `spec.targetRefs[*].kind`: a field path with indexes and keys as `[*]`.
fn pattern_of(path: &FieldPath) -> String {
    let mut out = String::new();
    for segment in path.segments() {
        match segment {
            Segment::Field(name) if out.is_empty() => out.push_str(name),
            Segment::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Segment::Index(_) | Segment::Key(_) => out.push_str("[*]"),
        }
    }
    out
}

/// A documented prose rule: where its errors are, how they read, and an independent check that
/// the offending value really breaks the rule.
struct ProseRule {
    name: &'static str,
    paths: &'static [&'static str],
    /// Fragments of the error's detail; one must occur.
    messages: &'static [&'static str],
    kind: ErrorKind,
    /// Given the error and the whole object, whether the value breaks the rule.
    witness: fn(&FieldError, &Value) -> bool,
}

const HOSTNAMES: &[&str] = &[
    "spec.validation.hostname",
    "spec.validation.subjectAltNames[*].hostname",
];
const REFS_NAMESPACE: &[&str] = &[
    "spec.targetRefs[*].namespace",
    "spec.validation.caCertificateRefs[*].namespace",
];

const PROSE_RULES: &[ProseRule] = &[
    ProseRule {
        name: "hostname is an IP address",
        paths: HOSTNAMES,
        messages: &["must be a DNS name, not an IP address"],
        kind: ErrorKind::Invalid,
        witness: |e, doc| string_at(e, doc).is_some_and(|h| looks_like_ip(unwildcard(h))),
    },
    ProseRule {
        name: "hostname has a DNS label > 63",
        paths: HOSTNAMES,
        messages: &["each DNS label must be no more than 63 characters"],
        kind: ErrorKind::Invalid,
        witness: |e, doc| {
            string_at(e, doc).is_some_and(|h| unwildcard(h).split('.').any(|l| l.len() > 63))
        },
    },
    ProseRule {
        name: "hostname is a wildcard",
        paths: &["spec.validation.hostname"],
        messages: &["wildcards are not allowed"],
        kind: ErrorKind::Invalid,
        witness: |e, doc| string_at(e, doc).is_some_and(|h| h.starts_with('*')),
    },
    ProseRule {
        name: "SAN URI is not RFC 3986 with an FQDN or IP host",
        paths: &["spec.validation.subjectAltNames[*].uri"],
        messages: &[
            "must not contain spaces or control characters",
            "is not a valid RFC 3986 scheme",
            "must have a non-empty authority",
            "must be a fully qualified domain name or an IP address",
            "is not a valid IPv6 literal",
            "is not allowed in a URI",
            "is not a percent-encoding",
            "are only allowed around an IPv6 host",
            "may appear only once",
            "must be a number",
            "after the IPv6 host",
        ],
        kind: ErrorKind::Invalid,
        witness: |e, doc| string_at(e, doc).is_some_and(uri_breaks_rfc3986),
    },
    ProseRule {
        name: "options key is not a qualified name",
        paths: &["spec.options[*]"],
        messages: &["option keys must be qualified names"],
        kind: ErrorKind::Invalid,
        witness: |e, _| match e.path.segments().last() {
            Some(Segment::Key(key)) => !is_qualified_name(key),
            _ => false,
        },
    },
    ProseRule {
        name: "target kind is not a core Service",
        paths: &["spec.targetRefs[*].kind"],
        messages: &["supported values: \"Service\""],
        kind: ErrorKind::NotSupported,
        witness: |e, doc| target_group_kind(e, doc).is_some_and(|gk| gk != ("", "Service")),
    },
    ProseRule {
        name: "target group \"core\" (the core group is \"\")",
        paths: &["spec.targetRefs[*].group"],
        messages: &["the core API group is written as \"\""],
        kind: ErrorKind::Invalid,
        witness: |e, doc| target_group_kind(e, doc).is_some_and(|(g, _)| !g.is_empty()),
    },
    ProseRule {
        name: "target kind in the wrong case",
        paths: &["spec.targetRefs[*].kind"],
        messages: &["kinds are case-sensitive"],
        kind: ErrorKind::Invalid,
        witness: |e, doc| {
            target_group_kind(e, doc)
                .is_some_and(|(_, k)| k != "Service" && k.eq_ignore_ascii_case("Service"))
        },
    },
    ProseRule {
        name: "cross-namespace `namespace` in a reference",
        paths: REFS_NAMESPACE,
        messages: &["cross-namespace references are not allowed"],
        kind: ErrorKind::Forbidden,
        witness: |e, doc| e.path.resolve(doc).is_some(),
    },
    ProseRule {
        name: "metadata.name is not a DNS subdomain",
        paths: &["metadata.name"],
        messages: &[
            "a lowercase RFC 1123 subdomain",
            "must be no more than 253 characters",
        ],
        kind: ErrorKind::Invalid,
        witness: |e, doc| string_at(e, doc).is_some_and(|n| !is_dns_subdomain(n)),
    },
];

/// A known webhook bug: what it explains is counted and printed, not failed. Each has an
/// `#[ignore]`d test of its own; remove the entry when un-ignoring that test.
struct KnownBug {
    name: &'static str,
    test: &'static str,
    /// A webhook error the CRD does not make (an extra denial).
    extra: fn(&FieldError, &Value) -> bool,
    /// An oracle error the webhook does not make (a missed denial); the flag is status mode.
    missed: fn(&OracleError, &Value, bool) -> bool,
}

const KNOWN_BUGS: &[KnownBug] = &[];

fn known_extra(error: &FieldError, doc: &Value) -> Option<&'static KnownBug> {
    KNOWN_BUGS.iter().find(|bug| (bug.extra)(error, doc))
}

fn known_miss(error: &OracleError, doc: &Value, status: bool) -> Option<&'static KnownBug> {
    KNOWN_BUGS
        .iter()
        .find(|bug| (bug.missed)(error, doc, status))
}

/// The prose rule that explains a webhook error, if any (`Err` names a rule whose message
/// matched but whose witness did not: a misattributed error).
fn classify(error: &FieldError, doc: &Value) -> Option<Result<&'static str, &'static str>> {
    let pattern = pattern_of(&error.path);
    let rule = PROSE_RULES.iter().find(|rule| {
        rule.kind == error.kind
            && rule.paths.contains(&pattern.as_str())
            && rule.messages.iter().any(|m| error.detail.contains(m))
    })?;
    Some(if (rule.witness)(error, doc) {
        Ok(rule.name)
    } else {
        Err(rule.name)
    })
}

fn string_at<'v>(error: &FieldError, doc: &'v Value) -> Option<&'v str> {
    error.path.resolve(doc)?.as_str()
}

fn target_group_kind<'v>(error: &FieldError, doc: &'v Value) -> Option<(&'v str, &'v str)> {
    let target = error.path.parent().resolve(doc)?;
    Some((
        target.get("group")?.as_str()?,
        target.get("kind")?.as_str()?,
    ))
}

fn unwildcard(host: &str) -> &str {
    host.strip_prefix("*.").unwrap_or(host)
}

/// An IPv4 or IPv6 literal, or four dot-separated decimal numbers (`010.0.0.1`, `10.0.0.256`),
/// which resolvers treat as addresses too.
fn looks_like_ip(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    host.parse::<Ipv4Addr>().is_ok()
        || bare.parse::<Ipv6Addr>().is_ok()
        || (parts.len() == 4
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())))
}

static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("compiles")
});

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && DNS_SUBDOMAIN.is_match(s)
}

/// `[prefix/]name`: prefix a DNS subdomain of at most 253, name 1 to 63 characters of
/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_qualified_name(key: &str) -> bool {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$").expect("compiles")
    });
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns_subdomain) && name.len() <= 63 && NAME.is_match(name)
}

/// Breaks RFC 3986 as the SAN URI prose reads: whitespace or control characters, a bad scheme,
/// an empty authority, or a host that is neither an FQDN nor an IP literal.
fn uri_breaks_rfc3986(uri: &str) -> bool {
    static PARTS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^([^:/?#]+)://([^/?#]*)").expect("compiles"));
    // RFC 3986's `scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ]`, written
    // out from its ABNF; the host is captured and checked below.
    static GRAMMAR: LazyLock<Regex> = LazyLock::new(|| {
        let pct = "%[0-9A-Fa-f]{2}";
        let userinfo = format!(r"(?:[A-Za-z0-9._~!$&'()*+,;=:-]|{pct})*");
        let pchar = format!(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|{pct})");
        let pattern = format!(
            r"^[A-Za-z][A-Za-z0-9+.-]*://(?:{userinfo}@)?(\[[^\]/?#@]*\]|[^:/?#\[\]@]*)(?::[0-9]*)?(?:/(?:{pchar}|/)*)?(?:\?(?:{pchar}|[/?])*)?(?:#(?:{pchar}|[/?])*)?$"
        );
        Regex::new(&pattern).expect("compiles")
    });
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?$").expect("compiles")
    });
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return true;
    }
    if !PARTS.is_match(uri) {
        return false;
    }
    let Some(parts) = GRAMMAR.captures(uri) else {
        return true;
    };
    let host = &parts[1];
    if let Some(literal) = host.strip_prefix('[') {
        return literal
            .strip_suffix(']')
            .is_none_or(|inner| inner.parse::<Ipv6Addr>().is_err());
    }
    if host.is_empty() {
        return true;
    }
    if looks_like_ip(host) {
        return false;
    }
    let fqdn = host.strip_suffix('.').unwrap_or(host);
    !fqdn.split('.').all(|l| LABEL.is_match(l))
}

// =============================================================================================
// A deterministic PRNG (SplitMix64)

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut rng = Self(seed);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// =============================================================================================
// Values

/// A DNS name of exactly `n` characters with labels of at most `label` (empty for 0).
fn dns_name(n: usize, label: usize) -> String {
    let mut labels = Vec::new();
    let mut left = n;
    while left > 0 {
        let take = if left <= label {
            left
        } else {
            (left - 2).min(label)
        };
        labels.push("a".repeat(take));
        left -= take;
        left = left.saturating_sub(1);
    }
    labels.join(".")
}

/// Characters that matter to the patterns and prose rules.
const ALPHABET: &[char] = &[
    'a', 'b', 'z', 'A', 'Z', '0', '1', '9', '-', '.', '_', '*', '/', ':', ' ', '\n', '\t', 'é',
    '€', '@', '[', ']', '%', '?', '#', '+', '~', '\u{0}',
];

/// A random short string over [`ALPHABET`].
fn random_text(rng: &mut Rng, max: usize) -> String {
    let len = rng.below(max + 1);
    (0..len).map(|_| *rng.pick(ALPHABET)).collect()
}

/// A value from a corpus, a random string, or a corpus value with a random edit.
fn text(rng: &mut Rng, corpus: &[String]) -> String {
    match rng.below(10) {
        0 => random_text(rng, 12),
        1 => {
            let mut s = rng.pick(corpus).clone();
            let at = rng.below(s.chars().count() + 1);
            let byte = s.char_indices().nth(at).map_or(s.len(), |(i, _)| i);
            s.insert(byte, *rng.pick(ALPHABET));
            s
        }
        _ => rng.pick(corpus).clone(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

struct Corpus {
    hostnames: Vec<String>,
    san_hostnames: Vec<String>,
    uris: Vec<String>,
    groups: Vec<String>,
    target_kinds: Vec<String>,
    ca_kinds: Vec<String>,
    names: Vec<String>,
    sections: Vec<String>,
    well_known: Vec<String>,
    option_keys: Vec<String>,
    option_values: Vec<String>,
    san_types: Vec<String>,
    unknown_fields: Vec<String>,
    metadata_names: Vec<String>,
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let mut hostnames = strings(&[
        "payments-backend.shop.svc.cluster.local",
        "a",
        "a.example",
        "xn--bcher-kva.example",
        "A",
        "Backend.example",
        "10.0.0.7",
        "010.0.0.1",
        "10.0.0.256",
        "1.2.3",
        "1.2.3.4.5",
        "::1",
        "[::1]",
        "2001:db8::1",
        "1e100.net",
        "10.0.0.7.nip.io",
        "*.example.com",
        "*",
        "a.*.example",
        "example.com.",
        "example.com\n",
        " example.com",
        "-a.example",
        "a-.example",
        "a..b",
        "",
        "a_b.example",
        "é.example",
        "a/b",
    ]);
    for n in [1, 62, 63, 64, 65, 252, 253, 254] {
        hostnames.push(dns_name(n, 63));
    }
    for label in [63, 64, 100] {
        hostnames.push(format!("{}.example", "a".repeat(label)));
        hostnames.push(format!("x.{}", "b".repeat(label)));
    }
    hostnames.push("a".repeat(253));
    hostnames.push(dns_name(253, 64));
    let mut san_hostnames = hostnames.clone();
    san_hostnames.extend(strings(&[
        "*.example.com",
        "*.a",
        "*.10.0.0.1",
        "*.*.example",
        "**.example",
        "*example.com",
    ]));
    san_hostnames.push(format!("*.{}", dns_name(251, 63)));
    san_hostnames.push(format!("*.{}", dns_name(252, 63)));
    san_hostnames.push(format!("*.{}.example", "w".repeat(64)));
    let mut uris = strings(&[
        "spiffe://cluster.local/ns/shop/sa/backend",
        "https://example.com",
        "https://example.com:8443/path?q=1#frag",
        "spiffe://a_b.example/x",
        "x://y",
        "a+b.c-d://host/",
        "HTTP://EXAMPLE.COM/",
        "https://example.com./",
        "https://user:pw@example.com/",
        "https://[2001:db8::1]:443/",
        "https://[::1/",
        "https://[zz]/",
        "https://10.0.0.1:8443/x",
        "https://10.0.0.256/",
        "https://a..b/",
        "https://a b/",
        "spiffe://a/b c",
        "spiffe://a/b%20c",
        "https://a%20b/",
        "https://é.example/",
        "https://example.com/\t",
        "http://host:port/",
        "http://:80/",
        "https://user@/x",
        "spiffe:///path",
        "scheme:/x",
        "//x",
        ":",
        "",
        "urn:example:backend",
        "1http://a/",
        "ht_tp://a/",
        "h*://a/",
        "https://-bad.example/",
        "https://bad-.example/",
        "https://example.com\n",
        "spiffe://example.com/\u{0}",
    ]);
    for n in [252, 253, 254] {
        let prefix = "spiffe://a.example/";
        uris.push(format!("{prefix}{}", "p".repeat(n - prefix.len())));
    }
    uris.push(format!("https://{}.example/", "l".repeat(64)));
    uris.push(format!("https://{}.example/", "l".repeat(63)));
    let mut groups = strings(&[
        "",
        "core",
        "Core",
        "CORE",
        "v1",
        "V1",
        "apps",
        "multicluster.x-k8s.io",
        "gateway.networking.k8s.io",
        "Example.com",
        "a_b",
        "-a",
        "a.",
    ]);
    groups.push(dns_name(253, 63));
    groups.push(dns_name(254, 63));
    let mut target_kinds = strings(&[
        "Service",
        "service",
        "SERVICE",
        "sERVICE",
        "Gateway",
        "ServiceImport",
        "",
        "9Service",
        "Ser vice",
        "Service-",
        "Sérvice",
        "ConfigMap",
    ]);
    target_kinds.push(format!("K{}", "k".repeat(62)));
    target_kinds.push(format!("K{}", "k".repeat(63)));
    let mut ca_kinds = strings(&[
        "ConfigMap",
        "configmap",
        "CONFIGMAP",
        "Secret",
        "ClusterTrustBundle",
        "",
        "Config Map",
    ]);
    ca_kinds.push(format!("C{}", "m".repeat(63)));
    let mut names = strings(&[
        "payments-backend",
        "a",
        "",
        "ns/svc",
        "MyService",
        "svc.with.dots",
        " ",
        "a\n",
        "\u{0}",
    ]);
    for n in [252, 253, 254] {
        names.push("a".repeat(n));
        names.push("é".repeat(n));
    }
    let mut sections = strings(&[
        "https", "http", "grpc", "", "HTTPS", "a_b", "a.b", "-a", "a-", "8443",
    ]);
    sections.push("a".repeat(64));
    sections.push(dns_name(253, 63));
    sections.push(dns_name(254, 63));
    let mut well_known = strings(&[
        "System",
        "system",
        "SYSTEM",
        "MySystem",
        "",
        "example.com/custom",
        "example.com/Custom_CA.v2",
        "example.com/",
        "example.com/a/b",
        "Example.com/x",
        "example.com/-x",
        "example.com/x-",
        "a/b",
        "/x",
        "System ",
        "in..va..lid./x",
    ]);
    well_known.push(format!("example.com/{}", "a".repeat(63)));
    well_known.push(format!("example.com/{}", "a".repeat(64)));
    well_known.push(format!("{}/c", dns_name(251, 63)));
    well_known.push(format!("{}/c", dns_name(252, 63)));
    let mut option_keys = strings(&[
        "example.com/timeout",
        "example.com/A.b_c-1",
        "timeout",
        "a",
        "",
        "/x",
        "Example.com/x",
        "a/b/c",
        "example.com/",
        "-x",
        "x-",
        "a b",
        "é",
        "a.b",
        "a_b",
        "gateway.networking.k8s.io/tls-min-version",
    ]);
    option_keys.push("k".repeat(63));
    option_keys.push("k".repeat(64));
    option_keys.push(format!("{}/k", dns_name(253, 63)));
    option_keys.push(format!("{}/k", dns_name(254, 63)));
    option_keys.push(format!("example.com/{}", "k".repeat(64)));
    let mut option_values = strings(&["", "1s", "true", "TLSv1.3", "é"]);
    for n in [4095, 4096, 4097] {
        option_values.push("v".repeat(n));
        option_values.push("é".repeat(n));
    }
    let san_types = strings(&["Hostname", "URI", "hostname", "uri", "DNS", "IP", ""]);
    let unknown_fields = strings(&[
        "namespace",
        "port",
        "targetRef",
        "tls",
        "caCertRefs",
        "wellKnownCACerts",
        "hostname",
        "sectionname",
        "Kind",
        "extra",
    ]);
    let mut metadata_names = strings(&[
        "payments-backend-tls",
        "a",
        "",
        "A",
        "a_b",
        "a..b",
        "-a",
        "a-",
        "a.b",
        "é",
        "ns/name",
    ]);
    metadata_names.push("n".repeat(253));
    metadata_names.push("n".repeat(254));
    Corpus {
        hostnames,
        san_hostnames,
        uris,
        groups,
        target_kinds,
        ca_kinds,
        names,
        sections,
        well_known,
        option_keys,
        option_values,
        san_types,
        unknown_fields,
        metadata_names,
    }
});

// =============================================================================================
// Seeds and mutations

fn seeds() -> Vec<Value> {
    let metadata = json!({"name": "payments-backend-tls", "namespace": "shop"});
    vec![
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "BackendTLSPolicy",
            "metadata": metadata,
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}],
                "validation": {
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "payments-backend-ca"}],
                    "hostname": "payments-backend.shop.svc.cluster.local"
                }
            }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "BackendTLSPolicy",
            "metadata": metadata,
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend"}],
                "validation": {"wellKnownCACertificates": "System", "hostname": "payments.example"}
            }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1alpha3",
            "kind": "BackendTLSPolicy",
            "metadata": metadata,
            "spec": {
                "targetRefs": [
                    {"group": "", "kind": "Service", "name": "backend", "sectionName": "https"},
                    {"group": "", "kind": "Service", "name": "backend", "sectionName": "grpc"}
                ],
                "validation": {
                    "caCertificateRefs": [
                        {"group": "", "kind": "ConfigMap", "name": "ca-1"},
                        {"group": "", "kind": "ConfigMap", "name": "ca-2"}
                    ],
                    "hostname": "backend.shop.svc",
                    "subjectAltNames": [
                        {"type": "Hostname", "hostname": "backend.shop.svc"},
                        {"type": "URI", "uri": "spiffe://cluster.local/ns/shop/sa/backend"}
                    ]
                },
                "options": {"example.com/min-version": "1.3", "example.com/empty": ""}
            }
        }),
        json!({
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "a"}],
                "validation": {"wellKnownCACertificates": "example.com/bundle", "hostname": "a"}
            }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "BackendTLSPolicy",
            "metadata": {"name": "p", "labels": {"app": "x"}},
            "spec": {
                "targetRefs": [
                    {"group": "", "kind": "Service", "name": "one"},
                    {"group": "", "kind": "Service", "name": "two"}
                ],
                "validation": {
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
                    "hostname": "two.example",
                    "subjectAltNames": [{"type": "URI", "uri": "https://two.example:8443/"}]
                },
                "options": {"example.com/x": "y"}
            },
            "status": {"ancestors": []}
        }),
    ]
}

/// One step of a JSON location.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn locations(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push(Step::Key(key.clone()));
                locations(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                locations(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn locate<'v>(doc: &'v mut Value, at: &[Step]) -> Option<&'v mut Value> {
    at.iter().try_fold(doc, |node, step| match step {
        Step::Key(key) => node.as_object_mut()?.get_mut(key),
        Step::Index(i) => node.as_array_mut()?.get_mut(*i),
    })
}

/// A random location in the document (the root when `with_root` and drawn).
fn random_location(rng: &mut Rng, doc: &Value, with_root: bool) -> Vec<Step> {
    let mut all = Vec::new();
    locations(doc, &mut Vec::new(), &mut all);
    if !with_root {
        all.remove(0);
    }
    if all.is_empty() {
        return Vec::new();
    }
    rng.pick(&all).clone()
}

/// A JSON value of another type than `value`.
fn other_type(rng: &mut Rng, value: &Value) -> Value {
    let candidates = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("x"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
        json!(["Service"]),
    ];
    let kind = |v: &Value| std::mem::discriminant(v);
    loop {
        let candidate = rng.pick(&candidates);
        if kind(candidate) != kind(value) {
            return candidate.clone();
        }
    }
}

/// The object at a JSON pointer, created (as an object) when absent or not an object.
fn object_at<'v>(doc: &'v mut Value, pointer: &str) -> &'v mut Map<String, Value> {
    let mut node = doc;
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .expect("an object")
            .entry(part)
            .or_insert_with(|| json!({}));
    }
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut().expect("an object")
}

/// The list under `field` of the object at `pointer`, created when absent or not a list.
fn list_at<'v>(doc: &'v mut Value, pointer: &str, field: &str) -> &'v mut Vec<Value> {
    let parent = object_at(doc, pointer);
    let list = parent.entry(field).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("a list")
}

fn random_target(rng: &mut Rng) -> Value {
    let c = &*CORPUS;
    let mut target = Map::new();
    let plain = rng.chance(60);
    let field = |rng: &mut Rng, corpus: &[String], usual: &str| {
        if plain && rng.chance(80) {
            usual.to_owned()
        } else {
            text(rng, corpus)
        }
    };
    target.insert("group".into(), json!(field(rng, &c.groups, "")));
    target.insert("kind".into(), json!(field(rng, &c.target_kinds, "Service")));
    let name = format!("svc-{}", rng.below(4));
    target.insert("name".into(), json!(field(rng, &c.names, &name)));
    if rng.chance(50) {
        let section = *rng.pick(&["https", "http", "grpc"]);
        target.insert(
            "sectionName".into(),
            json!(field(rng, &c.sections, section)),
        );
    }
    Value::Object(target)
}

fn mutate_target_field(rng: &mut Rng, doc: &mut Value) {
    let c = &*CORPUS;
    let targets = list_at(doc, "/spec", "targetRefs");
    if targets.is_empty() {
        targets.push(random_target(rng));
    }
    let i = rng.below(targets.len());
    let Some(target) = targets[i].as_object_mut() else {
        return;
    };
    let (field, corpus) = match rng.below(4) {
        0 => ("group", &c.groups),
        1 => ("kind", &c.target_kinds),
        2 => ("name", &c.names),
        _ => ("sectionName", &c.sections),
    };
    if rng.chance(15) {
        target.remove(field);
    } else {
        target.insert(field.into(), json!(text(rng, corpus)));
    }
}

/// Duplicates, near-duplicates and list lengths around the limits.
fn mutate_target_list(rng: &mut Rng, doc: &mut Value) {
    let targets = list_at(doc, "/spec", "targetRefs");
    match rng.below(5) {
        0 => targets.clear(),
        1 | 2 if !targets.is_empty() => {
            // A copy of an existing target, its section changed or not.
            let mut copy = rng.pick(targets).clone();
            if let Some(map) = copy.as_object_mut() {
                match rng.below(4) {
                    0 => {
                        map.remove("sectionName");
                    }
                    1 => {
                        map.insert("sectionName".into(), json!("other"));
                    }
                    2 => {
                        map.insert("sectionName".into(), json!(""));
                    }
                    _ => {}
                }
            }
            let at = rng.below(targets.len() + 1);
            targets.insert(at, copy);
        }
        _ => {
            let len = *rng.pick(&[2, 3, 4, 15, 16, 17, 20]);
            targets.truncate(len);
            while targets.len() < len {
                let mut target = random_target(rng);
                if rng.chance(80) {
                    target["name"] = json!(format!("svc-{}", targets.len()));
                }
                targets.push(target);
            }
        }
    }
}

fn mutate_hostname(rng: &mut Rng, doc: &mut Value) {
    let value = text(rng, &CORPUS.hostnames);
    object_at(doc, "/spec/validation").insert("hostname".into(), json!(value));
}

fn random_san(rng: &mut Rng) -> Value {
    let c = &*CORPUS;
    let mut san = Map::new();
    let kind = rng.below(10);
    let type_ = match kind {
        0..=3 => "Hostname".to_owned(),
        4..=7 => "URI".to_owned(),
        _ => text(rng, &c.san_types),
    };
    if !rng.chance(5) {
        san.insert("type".into(), json!(type_));
    }
    let (hostname, uri) = match rng.below(10) {
        0..=6 => (type_ == "Hostname", type_ == "URI"),
        7 => (true, true),
        8 => (false, false),
        _ => (type_ != "Hostname", type_ != "URI"),
    };
    if hostname {
        san.insert("hostname".into(), json!(text(rng, &c.san_hostnames)));
    }
    if uri {
        san.insert("uri".into(), json!(text(rng, &c.uris)));
    }
    Value::Object(san)
}

fn mutate_sans(rng: &mut Rng, doc: &mut Value) {
    let sans = list_at(doc, "/spec/validation", "subjectAltNames");
    if !sans.is_empty() && rng.chance(40) {
        let i = rng.below(sans.len());
        sans[i] = random_san(rng);
        return;
    }
    let len = *rng.pick(&[0, 1, 1, 2, 4, 5, 5, 6]);
    sans.clear();
    for _ in 0..len {
        let san = if !sans.is_empty() && rng.chance(15) {
            rng.pick(sans).clone()
        } else {
            random_san(rng)
        };
        sans.push(san);
    }
}

fn mutate_options(rng: &mut Rng, doc: &mut Value) {
    let c = &*CORPUS;
    let spec = object_at(doc, "/spec");
    let options = spec.entry("options").or_insert_with(|| json!({}));
    if !options.is_object() {
        *options = json!({});
    }
    let options = options.as_object_mut().expect("an object");
    let value = |rng: &mut Rng| -> Value {
        match rng.below(20) {
            0 => other_type(rng, &json!("")),
            _ => json!(text(rng, &c.option_values)),
        }
    };
    if rng.chance(50) {
        let key = text(rng, &c.option_keys);
        options.insert(key, value(rng));
    } else {
        let len = *rng.pick(&[0, 1, 3, 15, 16, 17]);
        options.clear();
        for i in 0..len {
            let key = if rng.chance(70) {
                format!("example.com/option-{i}")
            } else {
                text(rng, &c.option_keys)
            };
            options.insert(key, value(rng));
        }
    }
}

fn mutate_ca(rng: &mut Rng, doc: &mut Value) {
    let c = &*CORPUS;
    let validation = object_at(doc, "/spec/validation");
    match rng.below(6) {
        0 => {
            validation.remove("wellKnownCACertificates");
        }
        1 => {
            validation.remove("caCertificateRefs");
        }
        2 | 3 => {
            validation.insert(
                "wellKnownCACertificates".into(),
                json!(text(rng, &c.well_known)),
            );
            if rng.chance(70) {
                validation.remove("caCertificateRefs");
            }
        }
        _ => {
            let len = *rng.pick(&[0, 1, 1, 2, 8, 9]);
            let refs: Vec<Value> = (0..len)
                .map(|i| {
                    let mut reference =
                        json!({"group": "", "kind": "ConfigMap", "name": format!("ca-{i}")});
                    if rng.chance(30) {
                        let (field, corpus) = match rng.below(3) {
                            0 => ("group", &c.groups),
                            1 => ("kind", &c.ca_kinds),
                            _ => ("name", &c.names),
                        };
                        reference[field] = json!(text(rng, corpus));
                    }
                    if rng.chance(5) {
                        reference.as_object_mut().expect("an object").remove("name");
                    }
                    reference
                })
                .collect();
            validation.insert("caCertificateRefs".into(), Value::Array(refs));
            if rng.chance(70) {
                validation.remove("wellKnownCACertificates");
            }
        }
    }
}

fn mutate_wrong_type(rng: &mut Rng, doc: &mut Value) {
    let with_root = rng.chance(2);
    let at = random_location(rng, doc, with_root);
    if let Some(node) = locate(doc, &at) {
        *node = other_type(rng, node);
    }
}

fn mutate_remove(rng: &mut Rng, doc: &mut Value) {
    let at = random_location(rng, doc, false);
    let Some((last, parent)) = at.split_last() else {
        return;
    };
    match (locate(doc, parent), last) {
        (Some(Value::Object(map)), Step::Key(key)) => {
            map.remove(key);
        }
        (Some(Value::Array(items)), Step::Index(i)) => {
            items.remove(*i);
        }
        _ => {}
    }
}

fn mutate_null(rng: &mut Rng, doc: &mut Value) {
    let at = random_location(rng, doc, false);
    if let Some(node) = locate(doc, &at) {
        *node = Value::Null;
    }
}

fn mutate_unknown_field(rng: &mut Rng, doc: &mut Value) {
    let mut objects = Vec::new();
    let mut all = Vec::new();
    locations(doc, &mut Vec::new(), &mut all);
    for at in all {
        if locate(doc, &at).is_some_and(|v| v.is_object()) {
            objects.push(at);
        }
    }
    if objects.is_empty() {
        return;
    }
    let at = rng.pick(&objects).clone();
    let name = text(rng, &CORPUS.unknown_fields);
    let value = match rng.below(4) {
        0 => json!("other"),
        1 => json!(443),
        2 => json!(null),
        _ => json!({"name": "x"}),
    };
    if let Some(Value::Object(map)) = locate(doc, &at) {
        map.insert(name, value);
    }
}

fn mutate_metadata(rng: &mut Rng, doc: &mut Value) {
    let name = text(rng, &CORPUS.metadata_names);
    object_at(doc, "/metadata").insert("name".into(), json!(name));
}

fn mutate_top(rng: &mut Rng, doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    match rng.below(6) {
        0 => {
            root.insert(
                "apiVersion".into(),
                json!(*rng.pick(&[
                    "gateway.networking.k8s.io/v1",
                    "gateway.networking.k8s.io/v1alpha3",
                    "gateway.networking.k8s.io/v1alpha2",
                    "v1",
                    ""
                ])),
            );
        }
        1 => {
            root.insert("status".into(), other_type(rng, &json!(0)));
        }
        2 => {
            root.insert("spec".into(), json!({}));
        }
        3 => {
            object_at(doc, "/spec").insert("validation".into(), json!({}));
        }
        4 => {
            let validation = object_at(doc, "/spec/validation");
            validation.insert("caCertificateRefs".into(), json!([]));
            validation.insert("wellKnownCACertificates".into(), json!(""));
        }
        _ => {
            object_at(doc, "/spec/validation").insert(
                "wellKnownCACertificates".into(),
                json!(*rng.pick(&["System", "example.com/custom"])),
            );
        }
    }
}

type Mutation = fn(&mut Rng, &mut Value);

/// Mutations with weights.
const MUTATIONS: &[(&str, u64, Mutation)] = &[
    ("target field", 14, mutate_target_field),
    ("target list", 8, mutate_target_list),
    ("hostname", 12, mutate_hostname),
    ("subjectAltNames", 12, mutate_sans),
    ("options", 10, mutate_options),
    ("CA refs / well-known", 10, mutate_ca),
    ("wrong type", 8, mutate_wrong_type),
    ("remove", 6, mutate_remove),
    ("null", 4, mutate_null),
    ("unknown field", 4, mutate_unknown_field),
    ("metadata.name", 5, mutate_metadata),
    ("top level", 4, mutate_top),
];

// ---------------------------------------------------------------------------------------------
// The status subresource

fn condition(type_: &str) -> Value {
    json!({
        "type": type_,
        "status": "True",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1
    })
}

fn ancestor(name: &str) -> Value {
    json!({
        "ancestorRef": {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": name,
            "namespace": "shop",
            "port": 443,
            "sectionName": "https"
        },
        "controllerName": "example.com/gateway-controller",
        "conditions": [condition("Accepted"), condition("ResolvedRefs")]
    })
}

/// Strings and numbers for the status fields, by field name.
fn status_values(rng: &mut Rng, field: &str) -> Value {
    let long = |c: &str, n: usize| c.repeat(n);
    let strings: Vec<String> = match field {
        "type" => {
            let mut v = strings(&[
                "Accepted",
                "ResolvedRefs",
                "example.com/Custom",
                "bad type",
                "",
                "Accepted-",
                "a/b/c",
                "Example.com/x",
            ]);
            v.push(format!("T{}", long("y", 315)));
            v.push(format!("T{}", long("y", 316)));
            v
        }
        "status" => strings(&["True", "False", "Unknown", "true", "Maybe", ""]),
        "reason" => {
            let mut v = strings(&[
                "Accepted",
                "Invalid",
                "Not Accepted",
                "a,b:c_d",
                "",
                "R_",
                "R,",
            ]);
            v.push(format!("R{}", long("r", 1023)));
            v.push(format!("R{}", long("r", 1024)));
            v
        }
        "message" => {
            let mut v = strings(&["", "ok", "é"]);
            v.push(long("m", 32768));
            v.push(long("é", 32769));
            v
        }
        "lastTransitionTime" => strings(&[
            "2026-01-01T00:00:00Z",
            "2026-01-01t00:00:00z",
            "2026-01-01T00:00:00.123456789Z",
            "2026-01-01T00:00:00+02:00",
            "2026-01-01T00:00:00-0200",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-06-30T23:59:60Z",
            "2016-12-31T23:59:60Z",
            "2026-02-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "026-01-01T00:00:00Z",
            "2026-01-01T00:00:00X5Z",
            "2026-01-01T00:00:00Zt",
            "yesterday",
            "",
        ]),
        "controllerName" => {
            let mut v = strings(&[
                "example.com/gateway-controller",
                "example.com",
                "Example.com/x",
                "example.com/a b",
                "example.com/a/b~c%d",
                "/x",
            ]);
            v.push(format!("example.com/{}", long("c", 241)));
            v.push(format!("example.com/{}", long("c", 242)));
            v
        }
        "namespace" => {
            let mut v = strings(&["shop", "Shop", "", "a_b", "a.b", "-a"]);
            v.push(long("n", 63));
            v.push(long("n", 64));
            v
        }
        "group" => CORPUS.groups.clone(),
        "kind" => CORPUS.target_kinds.clone(),
        "name" => CORPUS.names.clone(),
        "sectionName" => CORPUS.sections.clone(),
        "port" | "observedGeneration" => {
            let numbers = [
                json!(0),
                json!(1),
                json!(443),
                json!(65535),
                json!(65536),
                json!(-1),
                json!(2_147_483_647),
                json!(2_147_483_648_i64),
                json!(-2_147_483_649_i64),
                json!(1.5),
                json!("443"),
            ];
            return rng.pick(&numbers).clone();
        }
        other => panic!("no status values for {other}"),
    };
    json!(text(rng, &strings))
}

fn status_doc(doc: &mut Value) -> &mut Value {
    let root = object_at(doc, "");
    root.entry("status")
        .or_insert_with(|| json!({"ancestors": [ancestor("gw")]}))
}

/// A random location inside `status`.
fn status_location(rng: &mut Rng, doc: &Value) -> Vec<Step> {
    let mut all = Vec::new();
    locations(doc, &mut Vec::new(), &mut all);
    all.retain(|at| matches!(at.first(), Some(Step::Key(k)) if k == "status") && at.len() > 1);
    if all.is_empty() {
        return vec![Step::Key("status".into())];
    }
    rng.pick(&all).clone()
}

fn mutate_status_field(rng: &mut Rng, doc: &mut Value) {
    let ancestors = list_at(status_doc(doc), "", "ancestors");
    if ancestors.is_empty() {
        ancestors.push(ancestor("gw"));
    }
    let i = rng.below(ancestors.len());
    let Some(ancestor) = ancestors[i].as_object_mut() else {
        return;
    };
    let (object, field) = match rng.below(4) {
        0 => {
            let field = *rng.pick(&["group", "kind", "name", "namespace", "port", "sectionName"]);
            (ancestor.get_mut("ancestorRef"), field)
        }
        1 => {
            let value = status_values(rng, "controllerName");
            ancestor.insert("controllerName".into(), value);
            return;
        }
        _ => {
            let field = *rng.pick(&[
                "type",
                "status",
                "reason",
                "message",
                "lastTransitionTime",
                "lastTransitionTime",
                "observedGeneration",
            ]);
            let conditions = ancestor.get_mut("conditions").and_then(Value::as_array_mut);
            let condition = conditions.and_then(|c| {
                let n = c.len();
                (n > 0).then(|| &mut c[rng.below(n)])
            });
            (condition, field)
        }
    };
    let value = status_values(rng, field);
    if let Some(Value::Object(map)) = object {
        if rng.chance(10) {
            map.remove(field);
        } else {
            map.insert(field.into(), value);
        }
    }
}

fn mutate_status_lists(rng: &mut Rng, doc: &mut Value) {
    let ancestors = list_at(status_doc(doc), "", "ancestors");
    if rng.chance(40) {
        let len = *rng.pick(&[0, 1, 2, 16, 17]);
        ancestors.truncate(len);
        while ancestors.len() < len {
            ancestors.push(ancestor(&format!("gw-{}", ancestors.len())));
        }
        return;
    }
    if ancestors.is_empty() {
        ancestors.push(ancestor("gw"));
    }
    let i = rng.below(ancestors.len());
    let conditions = list_at(&mut ancestors[i], "", "conditions");
    match rng.below(3) {
        0 if !conditions.is_empty() => {
            // A repeated list-map key.
            let copy = rng.pick(conditions).clone();
            conditions.push(copy);
        }
        _ => {
            let len = *rng.pick(&[0, 1, 2, 8, 9]);
            conditions.truncate(len);
            while conditions.len() < len {
                conditions.push(condition(&format!("Cond{}", conditions.len())));
            }
        }
    }
}

fn mutate_status_generic(rng: &mut Rng, doc: &mut Value) {
    status_doc(doc);
    let at = status_location(rng, doc);
    match rng.below(4) {
        0 => {
            if let Some(node) = locate(doc, &at) {
                *node = other_type(rng, node);
            }
        }
        1 => {
            if let Some(node) = locate(doc, &at) {
                *node = Value::Null;
            }
        }
        2 => {
            if let Some((Step::Key(key), parent)) = at.split_last()
                && let Some(Value::Object(map)) = locate(doc, parent)
            {
                map.remove(key);
            }
        }
        _ => {
            if let Some(Value::Object(map)) = locate(doc, &at) {
                let name = text(rng, &CORPUS.unknown_fields);
                map.insert(name, json!("x"));
            }
        }
    }
}

const STATUS_MUTATIONS: &[(&str, u64, Mutation)] = &[
    ("status field", 10, mutate_status_field),
    ("status lists", 4, mutate_status_lists),
    ("status generic", 4, mutate_status_generic),
];

/// One generated object and how it is sent.
#[derive(Debug, PartialEq)]
struct Case {
    doc: Value,
    mutations: Vec<&'static str>,
    /// An update of the status subresource (else a main-resource create).
    status: bool,
}

/// Case `i` of a run: a seed and 0 to 3 mutations; one case in five is a status update.
fn generate(base_seed: u64, i: u64) -> Case {
    let mut rng = Rng::new(base_seed ^ i.wrapping_mul(0xA076_1D64_78BD_642F));
    let seeds = seeds();
    let mut doc = rng.pick(&seeds).clone();
    let status = rng.chance(20);
    let mutations = if status {
        status_doc(&mut doc);
        STATUS_MUTATIONS
    } else {
        MUTATIONS
    };
    let count = match rng.below(10) {
        0 => 0,
        1..=4 => 1,
        5..=7 => 2,
        _ => 3,
    };
    let total: u64 = mutations.iter().map(|m| m.1).sum();
    let mut applied = Vec::new();
    for _ in 0..count {
        let mut draw = rng.next() % total;
        for (name, weight, mutation) in mutations {
            if draw < *weight {
                mutation(&mut rng, &mut doc);
                applied.push(*name);
                break;
            }
            draw -= weight;
        }
    }
    Case {
        doc,
        mutations: applied,
        status,
    }
}

// =============================================================================================
// The differential run

#[derive(Default)]
struct Tally {
    generated: u64,
    oracle_rejected: u64,
    webhook_rejected: u64,
    both: u64,
    prose_only: u64,
    /// Status-subresource cases.
    status: u64,
    cel_runs: u64,
    cel_evaluations: u64,
    /// Per prose rule: errors explaining an extra denial.
    prose_rules: BTreeMap<&'static str, u64>,
    /// Per prose rule: errors on objects the oracle rejects too.
    prose_rules_both: BTreeMap<&'static str, u64>,
    /// Per known bug: extra webhook errors it explains.
    known_bugs: BTreeMap<&'static str, u64>,
    /// Per oracle error kind.
    oracle_kinds: BTreeMap<String, u64>,
    /// Path disagreements where both reject: (what, pattern) → count and an example.
    disagreements: BTreeMap<(String, String), (u64, String)>,
    /// (a): oracle rejects, webhook allows.
    missed: Vec<String>,
    /// (b): extra denials no prose rule explains.
    unexplained: Vec<String>,
    /// (c): oracle errors with no webhook error at the same path or an ancestor.
    unmatched: Vec<String>,
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn show_case(i: u64, case: &Case, oracle: &Checked, report: &Report) -> String {
    let how = if case.status {
        "status subresource UPDATE"
    } else {
        "CREATE"
    };
    let mut out = format!(
        "case {i}: {how}, mutations {:?}\n  object: {}\n",
        case.mutations, case.doc
    );
    for e in &oracle.errors {
        let _ = writeln!(out, "  oracle:  {e}");
    }
    for e in &report.errors {
        let _ = writeln!(out, "  webhook: {e}");
    }
    for w in &report.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

fn oracle_for(case: &Case) -> Checked {
    if case.status {
        Oracle::get().judge_status(&case.doc)
    } else {
        Oracle::get().judge(&case.doc)
    }
}

fn judge_case(tally: &mut Tally, i: u64, case: &Case) {
    let (doc, mutations) = (&case.doc, case.mutations.as_slice());
    let oracle = oracle_for(case);
    let report =
        catch_unwind(AssertUnwindSafe(|| webhook(doc, case.status))).unwrap_or_else(|_| {
            panic!("the webhook panicked on case {i} (mutations {mutations:?}): {doc}")
        });
    tally.generated += 1;
    tally.status += u64::from(case.status);
    tally.cel_runs += oracle.cel_runs;
    tally.cel_evaluations += oracle.cel_evaluations;
    let oracle_rejects = !oracle.errors.is_empty();
    let webhook_rejects = !report.is_allowed();
    tally.oracle_rejected += u64::from(oracle_rejects);
    tally.webhook_rejected += u64::from(webhook_rejects);
    for e in &oracle.errors {
        *tally
            .oracle_kinds
            .entry(format!("{:?}", e.kind))
            .or_default() += 1;
    }
    match (oracle_rejects, webhook_rejects) {
        (false, false) => {}
        (true, false) => {
            let known: Vec<_> = oracle
                .errors
                .iter()
                .map(|e| known_miss(e, doc, case.status))
                .collect();
            if known.iter().all(Option::is_some) {
                for bug in known.into_iter().flatten() {
                    *tally.known_bugs.entry(bug.name).or_default() += 1;
                }
            } else {
                tally.missed.push(show_case(i, case, &oracle, &report));
            }
        }
        (false, true) => {
            tally.prose_only += 1;
            for error in &report.errors {
                if let Some(bug) = known_extra(error, doc) {
                    *tally.known_bugs.entry(bug.name).or_default() += 1;
                    continue;
                }
                match classify(error, doc) {
                    Some(Ok(rule)) => *tally.prose_rules.entry(rule).or_default() += 1,
                    Some(Err(rule)) => tally.unexplained.push(format!(
                        "{error}\n  matches the message of {rule:?} but the value does not break it\n{}",
                        show_case(i, case, &oracle, &report)
                    )),
                    None => tally.unexplained.push(format!(
                        "{error}\n{}",
                        show_case(i, case, &oracle, &report)
                    )),
                }
            }
        }
        (true, true) => {
            tally.both += 1;
            compare_paths(tally, i, case, &oracle, &report);
        }
    }
}

/// (c): where both reject.
fn compare_paths(tally: &mut Tally, i: u64, case: &Case, oracle: &Checked, report: &Report) {
    let doc = &case.doc;
    let mut note = |what: &str, pattern: String, example: String| {
        let entry = tally
            .disagreements
            .entry((what.to_owned(), pattern))
            .or_insert((0, example));
        entry.0 += 1;
    };
    for e in &oracle.errors {
        if report.errors.iter().any(|w| w.path == e.path) {
            continue;
        }
        if report.errors.iter().any(|w| e.path.starts_with(&w.path)) {
            note(
                "oracle error reported by the webhook at an ancestor",
                format!("{} ({:?})", pattern_of(&e.path), e.kind),
                e.to_string(),
            );
        } else if e.kind == OracleKind::Duplicate
            && report.errors.iter().any(|w| w.path.starts_with(&e.path))
        {
            // Items whose key is missing (or null, which the apiserver prunes) repeat the
            // "unspecified" key; the webhook reports the missing key as Required below.
            note(
                "duplicate unspecified list-map key reported by the webhook below the item",
                format!("{} ({:?})", pattern_of(&e.path), e.kind),
                e.to_string(),
            );
        } else if let Some(bug) = known_miss(e, doc, case.status) {
            *tally.known_bugs.entry(bug.name).or_default() += 1;
        } else {
            tally
                .unmatched
                .push(format!("{e}\n{}", show_case(i, case, oracle, report)));
        }
    }
    for w in &report.errors {
        let prose = classify(w, doc);
        if let Some(Ok(rule)) = prose {
            *tally.prose_rules_both.entry(rule).or_default() += 1;
            continue;
        }
        if let Some(bug) = known_extra(w, doc) {
            *tally.known_bugs.entry(bug.name).or_default() += 1;
            continue;
        }
        let related = oracle
            .errors
            .iter()
            .any(|e| e.path.starts_with(&w.path) || w.path.starts_with(&e.path));
        if !related {
            note(
                "webhook error with no oracle error on its path",
                format!("{} ({:?})", pattern_of(&w.path), w.kind),
                w.to_string(),
            );
        }
    }
}

fn print_tally(tally: &Tally, seed: u64, elapsed: std::time::Duration) {
    println!(
        "crd_oracle: seed {seed:#x}: {} objects in {elapsed:.2?} ({} CEL rule applications, {} evaluated, the rest cached)",
        tally.generated, tally.cel_runs, tally.cel_evaluations
    );
    println!(
        "  oracle rejected {}, webhook rejected {}, both {}, webhook only (prose rules) {}, oracle only {}",
        tally.oracle_rejected,
        tally.webhook_rejected,
        tally.both,
        tally.prose_only,
        tally.missed.len()
    );
    println!("  oracle errors by kind:");
    for (kind, n) in &tally.oracle_kinds {
        println!("    {n:>8}  {kind}");
    }
    println!("  prose-rule errors on objects the oracle accepts (the extra denials):");
    for rule in PROSE_RULES {
        let n = tally.prose_rules.get(rule.name).copied().unwrap_or(0);
        println!("    {n:>8}  {}", rule.name);
    }
    println!("  prose-rule errors on objects the oracle rejects for other reasons:");
    for (rule, n) in &tally.prose_rules_both {
        println!("    {n:>8}  {rule}");
    }
    println!(
        "  ({} of the objects were status-subresource updates)",
        tally.status
    );
    println!("  known webhook bugs (findings they explain, not failures; see the ignored tests):");
    for bug in KNOWN_BUGS {
        let n = tally.known_bugs.get(bug.name).copied().unwrap_or(0);
        println!("    {n:>8}  {} ({})", bug.name, bug.test);
    }
    println!("  path disagreements where both reject (not failures):");
    if tally.disagreements.is_empty() {
        println!("    none");
    }
    for ((what, pattern), (n, example)) in &tally.disagreements {
        println!("    {n:>8}  {what}: {pattern}\n              e.g. {example}");
    }
}

fn failures(what: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    format!(
        "\n{what}: {} (first {}):\n{}",
        items.len(),
        shown.len(),
        shown.join("\n")
    )
}

#[test]
fn the_webhook_agrees_with_the_crd_oracle() {
    let seed = env_u64("ORACLE_SEED").unwrap_or(DEFAULT_SEED);
    let only = env_u64("ORACLE_CASE");
    let cases = env_u64("ORACLE_CASES").unwrap_or(DEFAULT_CASES);
    let started = Instant::now();
    let mut tally = Tally::default();
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..cases,
    };
    for i in range {
        let case = generate(seed, i);
        if only.is_some() {
            let report = webhook(&case.doc, case.status);
            println!("{}", show_case(i, &case, &oracle_for(&case), &report));
        }
        judge_case(&mut tally, i, &case);
    }
    print_tally(&tally, seed, started.elapsed());
    let report = [
        failures(
            "(a) objects the oracle rejects but the webhook allows",
            &tally.missed,
        ),
        failures(
            "(b) webhook errors on oracle-valid objects that no prose rule explains",
            &tally.unexplained,
        ),
        failures(
            "(c) oracle errors with no webhook error at the same path or an ancestor",
            &tally.unmatched,
        ),
    ]
    .concat();
    assert!(
        report.is_empty(),
        "seed {seed:#x} (replay one case with ORACLE_SEED={seed} ORACLE_CASE=<i>):{report}"
    );
    if only.is_none() {
        // The run must exercise every side of the comparison.
        assert!(tally.generated == cases);
        if cases >= DEFAULT_CASES {
            let accepted = tally.generated - tally.oracle_rejected - tally.prose_only;
            for (what, n) in [
                ("accepted by both", accepted),
                ("rejected by both", tally.both),
                ("denied by prose rules only", tally.prose_only),
            ] {
                assert!(
                    n * 20 >= tally.generated,
                    "only {n} of {} objects {what}: the generator is lopsided",
                    tally.generated
                );
            }
            for rule in PROSE_RULES {
                let seen = tally.prose_rules.get(rule.name).copied().unwrap_or(0)
                    + tally.prose_rules_both.get(rule.name).copied().unwrap_or(0);
                assert!(
                    seen > 0,
                    "no object exercised the prose rule {:?}",
                    rule.name
                );
            }
        }
    }
}

// =============================================================================================
// The oracle itself

fn seed(i: usize) -> Value {
    seeds().swap_remove(i)
}

fn oracle_errors(doc: &Value) -> Vec<String> {
    Oracle::get()
        .judge(doc)
        .errors
        .iter()
        .map(|e| format!("{} {:?}", e.path, e.kind))
        .collect()
}

#[test]
fn the_seeds_are_valid_for_the_oracle_and_the_webhook() {
    for (i, doc) in seeds().iter().enumerate() {
        assert_eq!(oracle_errors(doc), Vec::<String>::new(), "seed {i}");
        let report = webhook(doc, false);
        assert!(report.is_allowed(), "seed {i}: {:?}", report.errors);
    }
}

#[test]
fn the_oracle_rejects_what_the_crd_rejects() {
    let mut doc = seed(1);
    doc["spec"]["validation"]["hostname"] = json!("A.example");
    assert_eq!(
        oracle_errors(&doc),
        ["spec.validation.hostname Pattern"],
        "pattern"
    );

    let mut doc = seed(1);
    doc["spec"]["targetRefs"][0]["name"] = json!("é".repeat(254));
    assert_eq!(
        oracle_errors(&doc),
        ["spec.targetRefs[0].name TooLong"],
        "code points"
    );
    doc["spec"]["targetRefs"][0]["name"] = json!("é".repeat(253));
    assert_eq!(oracle_errors(&doc), Vec::<String>::new(), "253 code points");

    let mut doc = seed(1);
    doc["spec"]["validation"]["hostname"] = json!("a.example\n");
    assert_eq!(
        oracle_errors(&doc),
        ["spec.validation.hostname Pattern"],
        "$ is the end of the text"
    );

    let mut doc = seed(1);
    doc["spec"]["targetRefs"][0]["namespace"] = json!("other");
    doc["spec"]["options"] = json!({"example.com/a": null});
    doc["spec"]["validation"]["subjectAltNames"] = json!(null);
    assert_eq!(
        oracle_errors(&doc),
        ["spec.targetRefs[0].namespace Unknown"],
        "unknown fields are errors, nulls are pruned"
    );

    let mut doc = seed(1);
    doc["spec"]["validation"] = json!({"hostname": 7});
    assert_eq!(
        oracle_errors(&doc),
        ["spec.validation.hostname TypeInvalid"],
        "CEL does not run on a subtree with a type error"
    );

    let mut doc = seed(1);
    doc["spec"]["validation"] = json!({"hostname": ""});
    assert_eq!(
        oracle_errors(&doc),
        ["spec.validation.hostname MinLength", "spec.validation Cel"],
        "minLength does not block CEL, and the pattern is not checked after it"
    );

    let mut doc = seed(1);
    doc["spec"]["targetRefs"] = json!([
        {"group": "", "kind": "Service", "name": "a"},
        {"group": "", "kind": "Service", "name": "a"},
        {"group": "", "kind": "Service", "name": "a", "sectionName": "x"}
    ]);
    assert_eq!(
        oracle_errors(&doc),
        ["spec.targetRefs Cel", "spec.targetRefs Cel"],
        "T1 and T2"
    );

    let mut doc = seed(1);
    doc["spec"]["validation"]["subjectAltNames"] = json!([{"type": "URI", "hostname": "a"}]);
    assert_eq!(
        oracle_errors(&doc),
        [
            "spec.validation.subjectAltNames[0] Cel",
            "spec.validation.subjectAltNames[0] Cel"
        ],
        "S2 and S3"
    );

    let mut doc = seed(1);
    doc["spec"]["targetRefs"][0] = json!({"kind": "Service", "name": "a"});
    assert_eq!(
        oracle_errors(&doc),
        ["spec.targetRefs[0].group Required"],
        "a rule reading a missing required field is not evaluated"
    );

    let mut doc = seed(1);
    doc["status"] = json!({"ancestors": 5, "x": 1});
    doc["metadata"]["anything"] = json!([1]);
    assert_eq!(
        oracle_errors(&doc),
        Vec::<String>::new(),
        "status is dropped on create; metadata is opaque"
    );

    let options: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!(""))).collect();
    let mut doc = seed(1);
    doc["spec"]["options"] = Value::Object(options);
    assert_eq!(
        oracle_errors(&doc),
        ["spec.options TooMany"],
        "maxProperties"
    );
}

/// The CEL engine on the rules as the CRD writes them, with the upstream examples
/// (Gateway API `backendtlspolicy_test.go`): `has()` on absent fields, `all`, `exists_one`.
#[test]
fn the_cel_engine_evaluates_the_crd_rules_as_kubernetes_does() {
    let oracle = Oracle::get();
    let schema = oracle.schema_for(&json!({}));
    let eval = |at: &str, value: Value| -> Vec<bool> {
        let this = cel::to_value(&value).expect("converts");
        schema.rules[at]
            .iter()
            .map(|rule| {
                // Uncached on purpose: this checks the engine.
                match evaluate(&rule.program, &this) {
                    Ok(cel::Value::Bool(b)) => b,
                    other => panic!("{}: {other:?}", rule.source),
                }
            })
            .collect()
    };
    let svc = |name: &str, section: Option<&str>| {
        let mut v = json!({"group": "", "kind": "Service", "name": name});
        if let Some(s) = section {
            v["sectionName"] = json!(s);
        }
        v
    };
    // [T1, T2]
    let targets = [
        (vec![svc("a", None)], [true, true]),
        (vec![svc("a", None), svc("b", None)], [true, true]),
        (vec![svc("a", Some("x")), svc("a", Some("y"))], [true, true]),
        (vec![svc("a", None), svc("a", None)], [true, false]),
        (vec![svc("a", None), svc("a", Some("x"))], [false, true]),
        (
            vec![svc("a", Some("x")), svc("a", Some("x"))],
            [true, false],
        ),
        (
            vec![svc("a", None), svc("a", None), svc("a", Some("x"))],
            [false, false],
        ),
        (vec![svc("a", Some("")), svc("a", None)], [true, false]),
    ];
    for (list, expected) in targets {
        let list = Value::Array(list);
        assert_eq!(eval("spec.targetRefs", list.clone()), expected, "{list}");
    }
    // [V1, V2]
    let validations = [
        (
            json!({"caCertificateRefs": [{}], "wellKnownCACertificates": "System"}),
            [false, true],
        ),
        (
            json!({"caCertificateRefs": [], "wellKnownCACertificates": ""}),
            [true, false],
        ),
        (json!({}), [true, false]),
        (json!({"caCertificateRefs": [{}]}), [true, true]),
        (json!({"wellKnownCACertificates": "System"}), [true, true]),
    ];
    for (value, expected) in validations {
        assert_eq!(eval("spec.validation", value.clone()), expected, "{value}");
    }
    // [S1, S2, S3, S4]
    let sans = [
        (json!({"type": "Hostname", "hostname": "a"}), [true; 4]),
        (json!({"type": "URI", "uri": "x://y"}), [true; 4]),
        (json!({"type": "Hostname"}), [false, true, true, true]),
        (
            json!({"type": "Hostname", "hostname": ""}),
            [false, true, true, true],
        ),
        (
            json!({"type": "URI", "hostname": "a"}),
            [true, false, false, true],
        ),
        (
            json!({"type": "Hostname", "hostname": "a", "uri": "x://y"}),
            [true, true, true, false],
        ),
    ];
    for (value, expected) in sans {
        let at = "spec.validation.subjectAltNames[*]";
        assert_eq!(eval(at, value.clone()), expected, "{value}");
    }
}

#[test]
fn the_generator_is_deterministic() {
    let run = |seed: u64| -> Vec<Case> { (0..50).map(|i| generate(seed, i)).collect() };
    assert_eq!(run(DEFAULT_SEED), run(DEFAULT_SEED));
    assert_ne!(run(DEFAULT_SEED), run(DEFAULT_SEED + 1));
}

// =============================================================================================
// Regressions: disagreements with the oracle that were found, fixed, and kept as plain tests
// (one found and not yet fixed goes in KNOWN_BUGS, with an #[ignore]d test here)

#[test]
fn null_option_values_are_pruned_not_rejected() {
    let mut doc = seed(1);
    doc["spec"]["options"] = json!({"example.com/a": null});
    assert_eq!(oracle_errors(&doc), Vec::<String>::new());
    let report = webhook(&doc, false);
    assert!(report.is_allowed(), "{:?}", report.errors);

    let mut options: Map<String, Value> = (0..16)
        .map(|i| (format!("example.com/k{i}"), json!("")))
        .collect();
    options.insert("example.com/gone".into(), Value::Null);
    doc["spec"]["options"] = Value::Object(options);
    assert_eq!(oracle_errors(&doc), Vec::<String>::new());
    let report = webhook(&doc, false);
    assert!(report.is_allowed(), "{:?}", report.errors);
}

fn status_update(status: Value) -> (Value, Vec<String>, Report) {
    let mut doc = seed(1);
    doc["status"] = status;
    let oracle = Oracle::get()
        .judge_status(&doc)
        .errors
        .iter()
        .map(|e| format!("{} {:?}", e.path, e.kind))
        .collect();
    let report = webhook(&doc, true);
    (doc, oracle, report)
}

#[test]
fn unknown_status_fields_are_denied_on_the_status_subresource_as_the_oracle_says() {
    let mut status = json!({"ancestors": [ancestor("gw")]});
    status["ancestors"][0]["conditions"][0]["severity"] = json!("High");
    let (_, oracle, report) = status_update(status);
    assert_eq!(
        oracle,
        ["status.ancestors[0].conditions[0].severity Unknown"]
    );
    assert!(!report.is_allowed(), "{:?}", report.warnings);
}

#[test]
fn status_date_times_are_judged_as_kubernetes_judges_them() {
    let with_time = |t: &str| {
        let mut status = json!({"ancestors": [ancestor("gw")]});
        status["ancestors"][0]["conditions"][0]["lastTransitionTime"] = json!(t);
        status_update(status)
    };
    let (_, oracle, report) = with_time("2016-12-31T23:59:60Z");
    assert_eq!(
        oracle,
        ["status.ancestors[0].conditions[0].lastTransitionTime Format"]
    );
    assert!(!report.is_allowed(), "a leap second is allowed");
    for accepted in ["2026-01-01T00:00:00X5Z", "2026-01-01T00:00:00Zt"] {
        let (_, oracle, report) = with_time(accepted);
        assert_eq!(oracle, Vec::<String>::new(), "{accepted}");
        assert!(report.is_allowed(), "{accepted}: {:?}", report.errors);
    }
}

#[test]
fn is_date_time_follows_strfmt() {
    for ok in [
        "2026-01-01T00:00:00Z",
        "2026-01-01t00:00:00z",
        "2026-01-01T00:00:00.123456789Z",
        "2026-01-01T00:00:00+02:00",
        "2028-02-29T23:59:59Z",
        "2026-01-01T00:00:00X5Z",
        "2026-01-01T00:00:00Zt",
    ] {
        assert!(is_date_time(ok), "{ok}");
    }
    for bad in [
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2016-12-31T23:59:60Z",
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "026-01-01T00:00:00Z",
        "2026-01-01T00:00:00-0200",
        "yesterday",
        "",
    ] {
        assert!(!is_date_time(bad), "{bad}");
    }
}

#[test]
fn the_oracle_checks_list_map_keys_as_the_apiserver_does() {
    let conditions = |items: Value| {
        let status = json!({"ancestors": [{"ancestorRef": {"name": "gw"}, "controllerName": "example.com/c", "conditions": items}]});
        let mut doc = seed(1);
        doc["status"] = status;
        Oracle::get()
            .judge_status(&doc)
            .errors
            .iter()
            .filter(|e| e.kind == OracleKind::Duplicate)
            .map(|e| e.path.to_string())
            .collect::<Vec<_>>()
    };
    let a = condition("A");
    assert_eq!(
        conditions(json!([a, a, a])),
        ["status.ancestors[0].conditions[1]"],
        "each repeated key once, at its second occurrence"
    );
    let mut untyped = condition("A");
    untyped.as_object_mut().expect("an object").remove("type");
    let mut null_type = condition("A");
    null_type["type"] = Value::Null;
    assert_eq!(
        conditions(json!([untyped, null_type])),
        ["status.ancestors[0].conditions[1]"],
        "missing and pruned keys are the same unspecified key"
    );
    assert_eq!(
        conditions(json!(["x", untyped, untyped])),
        Vec::<String>::new(),
        "no key check when an item is not an object"
    );
}
