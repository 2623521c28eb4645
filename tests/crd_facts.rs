//! The webhook against the upstream CRDs, through the facts `make crds` extracts from them
//! (`tests/fixtures/crd-facts.json`, see `examples/crd-facts.rs`).
//!
//! - Structural parity: the Gateway API v1.6.1 CRDs (both channels, `v1` and `v1alpha3`) have
//!   identical schemas, and `schema::ROOT` and `cel::ALL` describe exactly those facts.
//! - Behaviour: for every constrained node under `spec` and `status`, values at and past each
//!   limit the facts state are accepted and rejected as the apiserver would. The cases are
//!   generated from the facts, not from the Rust schema, so a CRD update shows up here.
//!
//! `cargo test --test crd_facts -- --nocapture` prints how many cases each test ran.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use backendtls_webhook::validate::schema::{self, Format, ListType, Schema};
use backendtls_webhook::validate::{
    self, Enforcement, ErrorKind, FieldPath, GroupKind, Operation, PolicyChange, Settings,
    Snapshot, cel,
};
use regex::Regex;
use serde_json::{Value, json};

/// The Gateway API release the webhook implements.
const BASELINE: &str = "v1.6.1";
/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;
/// The key used for `[*]` of a map (`spec.options`).
const MAP_KEY: &str = "example.com/option";
/// A SAN URI that satisfies the pattern and the webhook's RFC 3986 checks.
const SAN_URI: &str = "spiffe://cluster.local/ns/shop/sa/backend";

// ---------------------------------------------------------------------------------------------
// The facts file

#[path = "common/crd_facts.rs"]
mod crd_facts_model;

use crd_facts_model::{Node, Rule, Source, Version, facts};

#[test]
fn generated_from_lists_the_crds_in_order() {
    let sources: Vec<Source> = facts()
        .crds
        .iter()
        .map(|c| Source {
            file: c.file.clone(),
            bundle_version: c.bundle_version.clone(),
            channel: c.channel.clone(),
        })
        .collect();
    assert_eq!(facts().generated_from, sources);
    assert!(!sources.is_empty(), "the facts list CRDs");
}

/// Every version of every baseline CRD, labelled `channel/version`.
fn baseline() -> Vec<(String, &'static Version)> {
    facts()
        .crds
        .iter()
        .filter(|crd| crd.bundle_version == BASELINE)
        .flat_map(|crd| {
            crd.versions
                .iter()
                .map(move |v| (format!("{}/{}", crd.channel, v.name), v))
        })
        .collect()
}

/// The version the behaviour tests are generated from: `v1` of the baseline standard CRD
/// (the parity test checks that the other baseline versions are identical).
fn target() -> &'static Version {
    facts().crd(BASELINE, "standard").version("v1")
}

fn target_node(path: &str) -> &'static Node {
    target()
        .nodes
        .iter()
        .find(|n| n.path == path)
        .unwrap_or_else(|| panic!("no node {path:?} in the facts"))
}

/// The nodes the behaviour tests cover: `spec` and `status` and everything below them.
fn scoped_nodes() -> impl Iterator<Item = &'static Node> {
    target().nodes.iter().filter(|n| {
        ["spec", "status"]
            .iter()
            .any(|top| n.path == *top || n.path.starts_with(&format!("{top}.")))
    })
}

// ---------------------------------------------------------------------------------------------
// Structural parity

/// The comparable facts of one node, rendered: absent facts are absent keys.
type Shape = BTreeMap<&'static str, String>;

fn put<T: ToString>(shape: &mut Shape, key: &'static str, value: Option<T>) {
    if let Some(value) = value {
        shape.insert(key, value.to_string());
    }
}

/// All facts of a node.
fn facts_shape(node: &Node) -> Shape {
    let mut shape = Shape::new();
    put(&mut shape, "type", node.type_.as_deref());
    put(&mut shape, "format", node.format.as_deref());
    put(&mut shape, "required", Some(node.required));
    put(&mut shape, "minLength", node.min_length);
    put(&mut shape, "maxLength", node.max_length);
    put(&mut shape, "pattern", node.pattern.as_deref());
    put(
        &mut shape,
        "enum",
        node.enum_values.as_ref().map(|v| format!("{v:?}")),
    );
    put(&mut shape, "minItems", node.min_items);
    put(&mut shape, "maxItems", node.max_items);
    put(&mut shape, "maxProperties", node.max_properties);
    put(&mut shape, "minimum", node.minimum);
    put(&mut shape, "maximum", node.maximum);
    put(&mut shape, "default", node.default.as_ref());
    put(
        &mut shape,
        "x-kubernetes-list-type",
        node.list_type.as_deref(),
    );
    put(
        &mut shape,
        "x-kubernetes-list-map-keys",
        node.list_map_keys.as_ref().map(|k| format!("{k:?}")),
    );
    if !node.other_keywords.is_empty() {
        put(
            &mut shape,
            "otherKeywords",
            Some(format!("{:?}", node.other_keywords)),
        );
    }
    shape
}

/// A node's facts as the webhook can express them: `default` is left out (the webhook does not
/// default) and an integer's `format: int64` is the webhook's plain integer.
fn modelled_shape(node: &Node) -> Shape {
    let mut shape = facts_shape(node);
    shape.remove("default");
    if node.type_.as_deref() == Some("integer") && node.format.as_deref() == Some("int64") {
        shape.remove("format");
    }
    shape
}

fn rust_shape(schema: &Schema, required: bool) -> Shape {
    let mut shape = Shape::new();
    put(&mut shape, "required", Some(required));
    match schema {
        Schema::Object(object) => {
            put(&mut shape, "type", Some("object"));
            put(&mut shape, "maxProperties", object.max_properties);
        }
        Schema::OpaqueObject => put(&mut shape, "type", Some("object")),
        Schema::Array(array) => {
            put(&mut shape, "type", Some("array"));
            put(&mut shape, "minItems", array.min_items);
            put(&mut shape, "maxItems", array.max_items);
            match array.list_type {
                ListType::Atomic => put(&mut shape, "x-kubernetes-list-type", Some("atomic")),
                ListType::Map(keys) => {
                    put(&mut shape, "x-kubernetes-list-type", Some("map"));
                    put(
                        &mut shape,
                        "x-kubernetes-list-map-keys",
                        Some(format!("{keys:?}")),
                    );
                }
            }
        }
        Schema::String(string) => {
            put(&mut shape, "type", Some("string"));
            put(&mut shape, "minLength", string.min_length);
            put(&mut shape, "maxLength", string.max_length);
            put(&mut shape, "pattern", string.pattern.map(|p| p.source));
            if !string.enum_values.is_empty() {
                put(
                    &mut shape,
                    "enum",
                    Some(format!("{:?}", string.enum_values)),
                );
            }
            // Exhaustive on purpose: a new format must be compared here.
            match string.format {
                Some(Format::DateTime) => put(&mut shape, "format", Some("date-time")),
                None => {}
            }
        }
        Schema::Integer(integer) => {
            put(&mut shape, "type", Some("integer"));
            put(&mut shape, "minimum", integer.minimum);
            put(&mut shape, "maximum", integer.maximum);
            if integer.int32 {
                put(&mut shape, "format", Some("int32"));
            }
        }
        Schema::Ignored => put(&mut shape, "type", Some("(not examined)")),
    }
    shape
}

fn rust_nodes() -> Vec<(String, &'static Schema)> {
    let mut out = Vec::new();
    schema::nodes("", &schema::ROOT, &mut out);
    out
}

/// Every node of `schema::ROOT` by path, with whether its parent requires it.
fn rust_shapes() -> BTreeMap<String, Shape> {
    let nodes = rust_nodes();
    let mut required = BTreeSet::new();
    for (path, schema) in &nodes {
        if let Schema::Object(object) = schema {
            for name in object.required {
                required.insert(if path.is_empty() {
                    (*name).to_owned()
                } else {
                    format!("{path}.{name}")
                });
            }
        }
    }
    nodes
        .iter()
        .map(|(path, schema)| (path.clone(), rust_shape(schema, required.contains(path))))
        .collect()
}

/// The `x-kubernetes-validations` rules attached in `schema::ROOT`: (path, rule, message).
fn rust_rules() -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (path, schema) in rust_nodes() {
        let rules: &[schema::CelRule] = match schema {
            Schema::Object(object) => object.rules,
            Schema::Array(array) => array.rules,
            _ => &[],
        };
        out.extend(rules.iter().map(|r| (path.clone(), r.rule, r.message)));
    }
    out
}

fn show(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// Differences between two sets of node shapes by path, fact by fact.
fn shape_differences(
    left: (&str, &BTreeMap<String, Shape>),
    right: (&str, &BTreeMap<String, Shape>),
) -> Vec<String> {
    let ((left_name, left), (right_name, right)) = (left, right);
    let mut out = Vec::new();
    let paths: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    for path in paths {
        match (left.get(path), right.get(path)) {
            (Some(_), None) => out.push(format!(
                "{}: in {left_name}, missing from {right_name}",
                show(path)
            )),
            (None, Some(_)) => out.push(format!(
                "{}: in {right_name}, missing from {left_name}",
                show(path)
            )),
            (Some(l), Some(r)) => {
                let render = |v: Option<&String>| {
                    v.map_or_else(|| "(absent)".to_owned(), |v| format!("{v:?}"))
                };
                let keys: BTreeSet<&str> = l.keys().chain(r.keys()).copied().collect();
                for key in keys {
                    let (lv, rv) = (l.get(key), r.get(key));
                    if lv != rv {
                        out.push(format!(
                            "{}: {key}: {left_name} {}, {right_name} {}",
                            show(path),
                            render(lv),
                            render(rv)
                        ));
                    }
                }
            }
            (None, None) => unreachable!("the path comes from one of the maps"),
        }
    }
    out
}

fn shapes(version: &Version, shape: fn(&Node) -> Shape) -> BTreeMap<String, Shape> {
    version
        .nodes
        .iter()
        .map(|n| (n.path.clone(), shape(n)))
        .collect()
}

/// A rule as one line, with whatever it has beyond `rule` and `message`.
fn rule_line(rule: &Rule) -> String {
    let mut line = format!(
        "{}: {:?} ({})",
        show(&rule.path),
        rule.message.as_deref().unwrap_or("(no message)"),
        rule.rule
    );
    let extras = [
        ("messageExpression", rule.message_expression.clone()),
        ("reason", rule.reason.clone()),
        ("fieldPath", rule.field_path.clone()),
        (
            "optionalOldSelf",
            rule.optional_old_self.map(|b| b.to_string()),
        ),
        (
            "otherKeywords",
            (!rule.other_keywords.is_empty()).then(|| format!("{:?}", rule.other_keywords)),
        ),
    ];
    for (key, value) in extras {
        if let Some(value) = value {
            let _ = write!(line, " {key}={value:?}");
        }
    }
    line
}

/// Differences between the facts' rules of one version, the rules attached in `schema::ROOT`
/// and `cel::ALL`.
fn rule_differences(version: &Version) -> Vec<String> {
    let mut out = Vec::new();
    let rust = rust_rules();
    let rust_by_key: BTreeMap<(&str, &str), &str> = rust
        .iter()
        .map(|(p, r, m)| ((p.as_str(), *r), *m))
        .collect();
    let mut seen = BTreeSet::new();
    for rule in &version.rules {
        let key = (rule.path.as_str(), rule.rule.as_str());
        let crd_message = rule.message.as_deref().unwrap_or("(no message)");
        match rust_by_key.get(&key) {
            None => out.push(format!(
                "{}: CRD rule missing from schema::ROOT: {crd_message:?} ({})",
                show(&rule.path),
                rule.rule
            )),
            Some(message) if *message != crd_message => {
                out.push(format!(
                    "{}: message of {}: CRD {crd_message:?}, Rust {message:?}",
                    show(&rule.path),
                    rule.rule
                ));
            }
            Some(_) => {}
        }
        if !seen.insert(key) {
            out.push(format!(
                "{}: the CRD repeats the rule {}",
                show(&rule.path),
                rule.rule
            ));
        }
        let unmodelled = [
            ("messageExpression", rule.message_expression.is_some()),
            ("reason", rule.reason.is_some()),
            ("fieldPath", rule.field_path.is_some()),
            ("optionalOldSelf", rule.optional_old_self.is_some()),
            ("otherKeywords", !rule.other_keywords.is_empty()),
        ];
        for (what, present) in unmodelled {
            if present {
                out.push(format!(
                    "{}: rule {crd_message:?} has {what}, which the webhook does not model",
                    show(&rule.path)
                ));
            }
        }
    }
    for (path, rule, message) in &rust {
        if !seen.contains(&(path.as_str(), *rule)) {
            out.push(format!(
                "{}: schema::ROOT has a rule the CRD does not: {message:?} ({rule})",
                show(path)
            ));
        }
    }
    let attached: Vec<&str> = rust.iter().map(|(_, rule, _)| *rule).collect();
    for rule in cel::ALL {
        let times = attached.iter().filter(|r| **r == rule.rule).count();
        if times != 1 {
            out.push(format!(
                "cel::ALL rule {:?} is attached {times} times in schema::ROOT",
                rule.message
            ));
        }
    }
    for rule in &attached {
        if !cel::ALL.iter().any(|r| r.rule == *rule) {
            out.push(format!(
                "schema::ROOT has a rule that is not in cel::ALL: {rule}"
            ));
        }
    }
    out
}

#[track_caller]
fn assert_no_differences(what: &str, differences: &[String]) {
    assert!(
        differences.is_empty(),
        "{what}: {} difference(s):\n  {}",
        differences.len(),
        differences.join("\n  ")
    );
}

#[test]
fn baseline_versions_have_identical_schemas() {
    let versions = baseline();
    let labels: BTreeSet<&str> = versions.iter().map(|(label, _)| label.as_str()).collect();
    let expected = [
        "experimental/v1",
        "experimental/v1alpha3",
        "standard/v1",
        "standard/v1alpha3",
    ];
    assert_eq!(
        labels,
        expected.into_iter().collect(),
        "the {BASELINE} CRDs in the facts"
    );

    let (first_label, first) = &versions[0];
    let first_shapes = shapes(first, facts_shape);
    let first_rules: Vec<String> = first.rules.iter().map(rule_line).collect();
    let mut differences = Vec::new();
    for (label, version) in &versions[1..] {
        differences.extend(shape_differences(
            (first_label, &first_shapes),
            (label, &shapes(version, facts_shape)),
        ));
        let rules: Vec<String> = version.rules.iter().map(rule_line).collect();
        differences.extend(
            first_rules
                .iter()
                .filter(|r| !rules.contains(r))
                .map(|r| format!("rule only in {first_label}: {r}")),
        );
        differences.extend(
            rules
                .iter()
                .filter(|r| !first_rules.contains(r))
                .map(|r| format!("rule only in {label}: {r}")),
        );
    }
    assert_no_differences(&format!("{BASELINE} versions"), &differences);
}

#[test]
fn schema_nodes_match_the_crd() {
    for (label, version) in baseline() {
        let differences = shape_differences(
            ("the CRD", &shapes(version, modelled_shape)),
            ("schema::ROOT", &rust_shapes()),
        );
        assert_no_differences(&format!("schema::ROOT vs {BASELINE} {label}"), &differences);
    }
}

#[test]
fn cel_rules_match_the_crd() {
    for (label, version) in baseline() {
        assert_no_differences(
            &format!("cel rules vs {BASELINE} {label}"),
            &rule_differences(version),
        );
    }
}

#[test]
fn validated_versions_are_the_served_versions() {
    let served: BTreeSet<&str> = baseline()
        .into_iter()
        .filter(|(_, v)| v.served)
        .map(|(_, v)| v.name.as_str())
        .collect();
    assert_eq!(
        served,
        validate::VERSIONS.into_iter().collect(),
        "versions served by the {BASELINE} CRDs"
    );
}

#[test]
fn the_deprecation_warning_is_the_crds() {
    let deprecated: Vec<(&str, Option<&str>)> = baseline()
        .into_iter()
        .filter(|(_, v)| v.served && v.deprecated)
        .map(|(_, v)| (v.name.as_str(), v.deprecation_warning.as_deref()))
        .collect();
    assert_eq!(
        deprecated,
        [(
            validate::DEPRECATED_VERSION,
            Some(validate::DEPRECATION_WARNING)
        )],
        "deprecated versions served by the {BASELINE} CRDs"
    );
}

// ---------------------------------------------------------------------------------------------
// Values for patterns

/// How to make strings for one CRD pattern.
struct PatternValues {
    /// The pattern exactly as the CRD writes it.
    source: &'static str,
    /// A matching value of exactly `n` code points that the webhook's prose rules also accept
    /// (no IP addresses, DNS labels of at most 63), or `None` if there is none.
    of_len: fn(usize) -> Option<String>,
    /// A short value that does not match.
    mismatch: &'static str,
}

const PATTERNS: &[PatternValues] = &[
    PatternValues {
        // Group: empty or a DNS subdomain.
        source: r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        of_len: |n| Some(dns_name(n)),
        mismatch: "Example.com",
    },
    PatternValues {
        // Kind.
        source: r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
        of_len: |n| (n >= 1).then(|| format!("K{}", "k".repeat(n - 1))),
        mismatch: "9Service",
    },
    PatternValues {
        // SectionName, PreciseHostname.
        source: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        of_len: |n| (n >= 1).then(|| dns_name(n)),
        mismatch: "backend_tls",
    },
    PatternValues {
        // Hostname (an optional leading `*.`).
        source: r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        of_len: |n| (n >= 1).then(|| dns_name(n)),
        mismatch: "*.*.example",
    },
    PatternValues {
        // AbsoluteURI.
        source: r"^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?",
        of_len: |n| {
            let prefix = "spiffe://a.example/";
            (n >= prefix.len()).then(|| format!("{prefix}{}", "p".repeat(n - prefix.len())))
        },
        mismatch: "urn:example:backend",
    },
    PatternValues {
        // WellKnownCACertificatesType: `System` or `<subdomain>/<name>`.
        source: r"^(System|([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$",
        of_len: |n| (n >= 3).then(|| format!("{}/c", dns_name(n - 2))),
        mismatch: "system",
    },
    PatternValues {
        // Namespace.
        source: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        of_len: |n| (n >= 1).then(|| "n".repeat(n)),
        mismatch: "Shop",
    },
    PatternValues {
        // GatewayController: `DOMAIN/PATH`.
        source: r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
        of_len: |n| {
            let prefix = "example.com/";
            (n > prefix.len()).then(|| format!("{prefix}{}", "c".repeat(n - prefix.len())))
        },
        mismatch: "example.com",
    },
    PatternValues {
        // metav1.Condition type.
        source: r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        of_len: |n| (n >= 1).then(|| format!("T{}", "y".repeat(n - 1))),
        mismatch: "Accepted-",
    },
    PatternValues {
        // metav1.Condition reason.
        source: r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        of_len: |n| (n >= 1).then(|| format!("R{}", "r".repeat(n - 1))),
        mismatch: "Not Accepted",
    },
];

/// A DNS name of exactly `n` characters with labels of at most 63 (empty for 0).
fn dns_name(n: usize) -> String {
    let mut labels = Vec::new();
    let mut left = n;
    while left > 0 {
        // Leave room for a dot and a one-character label when this cannot be the last label.
        let take = if left <= 63 { left } else { (left - 2).min(63) };
        labels.push("a".repeat(take));
        left -= take;
        left = left.saturating_sub(1);
    }
    labels.join(".")
}

/// Makes string values for a node: from its pattern, or any text (multi-byte, so lengths are
/// counted in code points, not bytes) when it has none.
struct Strings {
    pattern: Option<(&'static PatternValues, Regex)>,
}

impl Strings {
    fn for_node(node: &Node) -> Self {
        let pattern = node.pattern.as_deref().map(|source| {
            let values = PATTERNS
                .iter()
                .find(|p| p.source == source)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no value generator for pattern {source:?}: add one to PATTERNS",
                        node.path
                    )
                });
            (values, Regex::new(source).expect("CRD pattern compiles"))
        });
        Self { pattern }
    }

    /// A valid value of exactly `n` code points, checked against the pattern.
    fn of_len(&self, n: usize) -> Option<String> {
        let Some((values, regex)) = &self.pattern else {
            return Some("é".repeat(n));
        };
        let value = (values.of_len)(n)?;
        assert_eq!(
            value.chars().count(),
            n,
            "generator for {:?} made a value of the wrong length",
            values.source
        );
        assert!(
            regex.is_match(&value),
            "generator for {:?} made {value:?}, which does not match",
            values.source
        );
        Some(value)
    }

    /// Any text of `n` code points (for values past a limit that the pattern cannot produce).
    fn any_of_len(&self, n: usize) -> String {
        self.of_len(n).unwrap_or_else(|| "x".repeat(n))
    }

    /// A valid value of a typical length within `node`'s limits.
    fn typical(&self, node: &Node) -> String {
        let min = node.min_length.unwrap_or(0);
        let max = node.max_length.unwrap_or(64);
        (12.clamp(min, max)..=max)
            .find_map(|n| self.of_len(n))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no valid value of {min} to {max} code points",
                    node.path
                )
            })
    }

    /// A value that does not match the pattern.
    fn mismatch(&self) -> Option<&'static str> {
        let (values, regex) = self.pattern.as_ref()?;
        assert!(
            !regex.is_match(values.mismatch),
            "{:?} matches {:?}",
            values.mismatch,
            values.source
        );
        Some(values.mismatch)
    }
}

// ---------------------------------------------------------------------------------------------
// Objects and cases

/// A status condition; its `type` (the list-map key) is `Ready<i>`.
fn condition(i: usize) -> Value {
    json!({
        "type": format!("Ready{i}"),
        "status": "True",
        "reason": "Ready",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// Item `i` of a list, by the list's facts path; items made for different `i` are distinct.
fn item(list: &str, i: usize) -> Value {
    match list {
        "spec.targetRefs" => {
            json!({"group": "", "kind": "Service", "name": format!("backend-{i}")})
        }
        "spec.validation.caCertificateRefs" => {
            json!({"group": "", "kind": "ConfigMap", "name": format!("backend-ca-{i}")})
        }
        "spec.validation.subjectAltNames" => {
            json!({"type": "Hostname", "hostname": format!("san-{i}.example")})
        }
        "status.ancestors" => json!({
            "ancestorRef": {"name": format!("gateway-{i}")},
            "controllerName": "example.com/gateway-controller",
            "conditions": [condition(0)],
        }),
        "status.ancestors[*].conditions" => condition(i),
        other => panic!("no item template for the list {other}: add one to item()"),
    }
}

/// A valid policy (as in `src/validate/tests.rs`, with `wellKnownCACertificates` instead of a CA
/// reference) with a valid status.
fn base() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": "payments-backend-tls", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}],
            "validation": {"hostname": "payments-backend.shop.svc.cluster.local", "wellKnownCACertificates": "System"}
        },
        "status": {"ancestors": [item("status.ancestors", 0)]}
    })
}

/// One step of a facts path made concrete.
enum Step {
    Field(String),
    Index(usize),
    Key(String),
}

impl Step {
    /// The facts path `at` followed by this step.
    fn extend(&self, at: &str) -> String {
        match self {
            Step::Field(name) if at.is_empty() => name.clone(),
            Step::Field(name) => format!("{at}.{name}"),
            Step::Index(_) | Step::Key(_) => format!("{at}[*]"),
        }
    }
}

/// The steps of a facts path, with `[*]` as item 0 of a list or key [`MAP_KEY`] of a map.
fn steps(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = String::new();
    for part in path.split('.') {
        let name = part.trim_end_matches("[*]");
        let field = Step::Field(name.to_owned());
        at = field.extend(&at);
        steps.push(field);
        for _ in 0..(part.len() - name.len()) / "[*]".len() {
            let star = match target_node(&at).type_.as_deref() {
                Some("array") => Step::Index(0),
                Some("object") => Step::Key(MAP_KEY.to_owned()),
                other => panic!("{at}[*] under a node of type {other:?}"),
            };
            at = star.extend(&at);
            steps.push(star);
        }
    }
    steps
}

/// Where errors about the node at a facts path are reported.
fn field_path(path: &str) -> FieldPath {
    steps(path)
        .iter()
        .fold(FieldPath::root(), |at, step| match step {
            Step::Field(name) => at.field_owned(name),
            Step::Index(i) => at.index(*i),
            Step::Key(key) => at.key(key),
        })
}

/// Sets (or with `None` removes) the node at a facts path, creating missing lists from
/// [`item`] templates and missing objects empty.
fn place(doc: &mut Value, path: &str, value: Option<Value>) {
    let steps = steps(path);
    let mut node = doc;
    let mut at = String::new();
    for (i, step) in steps[..steps.len() - 1].iter().enumerate() {
        at = step.extend(&at);
        node = match step {
            Step::Index(index) => &mut node[*index],
            Step::Field(name) | Step::Key(name) => node
                .as_object_mut()
                .expect("an object on the way")
                .entry(name.clone())
                .or_insert_with(|| match steps[i + 1] {
                    Step::Index(_) => json!([item(&at, 0)]),
                    _ => json!({}),
                }),
        };
    }
    match (steps.last().expect("a non-empty path"), value) {
        (Step::Field(name) | Step::Key(name), Some(value)) => {
            node.as_object_mut()
                .expect("an object")
                .insert(name.clone(), value);
        }
        (Step::Field(name) | Step::Key(name), None) => {
            node.as_object_mut().expect("an object").remove(name);
        }
        (Step::Index(index), Some(value)) => node[*index] = value,
        (Step::Index(_), None) => panic!("{path}: list items are not removed"),
    }
}

/// Keeps the object consistent with the CEL rules around the node that was set: CA
/// references replace `wellKnownCACertificates`, and a SAN's `type` follows its field.
fn fit(doc: &mut Value, path: &str) {
    if path.starts_with("spec.validation.caCertificateRefs")
        && let Some(validation) = doc
            .pointer_mut("/spec/validation")
            .and_then(Value::as_object_mut)
    {
        validation.remove("wellKnownCACertificates");
    }
    let Some(field) = path.strip_prefix("spec.validation.subjectAltNames[*].") else {
        return;
    };
    let Some(san) = doc
        .pointer_mut("/spec/validation/subjectAltNames/0")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    match field {
        "hostname" => {
            san.insert("type".into(), json!("Hostname"));
            san.remove("uri");
        }
        "uri" => {
            san.insert("type".into(), json!("URI"));
            san.remove("hostname");
        }
        "type" if san.get("type") == Some(&json!("URI")) => {
            san.remove("hostname");
            san.insert("uri".into(), json!(SAN_URI));
        }
        _ => {}
    }
}

/// Settings under which only schema facts and the deliberate prose rules can deny: missing and
/// unusable CA references warn, and the targets' group/kind are admitted (target kinds other
/// than Service are an operator choice, not a schema fact).
fn settings_for(object: &Value) -> Settings {
    let targets = object.pointer("/spec/targetRefs").and_then(Value::as_array);
    let extra_target_kinds = targets
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(GroupKind {
                group: t.get("group")?.as_str()?.to_owned(),
                kind: t.get("kind")?.as_str()?.to_owned(),
            })
        })
        .collect();
    Settings {
        missing_refs: Enforcement::Warn,
        invalid_refs: Enforcement::Warn,
        extra_target_kinds,
        ..Settings::default()
    }
}

/// What a case expects.
enum Expect {
    /// No errors (warnings are fine).
    Pass,
    /// An error of this kind at this path whose detail contains (or equals) this text.
    Fail {
        at: FieldPath,
        kind: ErrorKind,
        detail: Detail,
    },
}

enum Detail {
    Contains(String),
    Equals(String),
    Any,
}

struct Case {
    label: String,
    object: Value,
    subresource: Option<&'static str>,
    expect: Expect,
}

/// The base object with the node at `path` set to `value` (removed for `None`).
fn case(label: String, path: &str, value: Option<Value>, expect: Expect) -> Case {
    let mut object = base();
    place(&mut object, path, value);
    fit(&mut object, path);
    let subresource = path.starts_with("status").then_some("status");
    Case {
        label,
        object,
        subresource,
        expect,
    }
}

fn pass(path: &str, what: &str, value: Value) -> Case {
    case(
        format!("{path} {what}: passes"),
        path,
        Some(value),
        Expect::Pass,
    )
}

fn fail(path: &str, what: &str, value: Option<Value>, kind: ErrorKind, detail: Detail) -> Case {
    let expect = Expect::Fail {
        at: field_path(path),
        kind,
        detail,
    };
    case(
        format!("{path} {what}: fails with {kind:?}"),
        path,
        value,
        expect,
    )
}

/// Shortens long texts (values of thousands of characters) in failure messages.
fn shorten(text: String) -> String {
    if text.chars().count() <= 200 {
        return text;
    }
    let head: String = text.chars().take(200).collect();
    format!("{head}… ({} chars)", text.chars().count())
}

fn check(case: &Case) -> Result<(), String> {
    let settings = settings_for(&case.object);
    let change = PolicyChange {
        object: &case.object,
        old_object: None,
        operation: Operation::Create,
        subresource: case.subresource,
        namespace: "shop",
    };
    let report = validate::policy(&change, &Snapshot::default(), &settings, NOW);
    let found = match &case.expect {
        Expect::Pass => report.errors.is_empty(),
        Expect::Fail { at, kind, detail } => report.errors.iter().any(|e| {
            e.path == *at
                && e.kind == *kind
                && match detail {
                    Detail::Contains(text) => e.detail.contains(text.as_str()),
                    Detail::Equals(text) => e.detail == *text,
                    Detail::Any => true,
                }
        }),
    };
    if found {
        return Ok(());
    }
    let wanted = match &case.expect {
        Expect::Pass => "no errors".to_owned(),
        Expect::Fail { at, kind, detail } => {
            let detail = match detail {
                Detail::Contains(text) => format!(" with detail containing {text:?}"),
                Detail::Equals(text) => format!(" with detail {text:?}"),
                Detail::Any => String::new(),
            };
            format!("a {kind:?} error at {at}{detail}")
        }
    };
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|e| shorten(e.to_string()))
        .collect();
    Err(format!(
        "{}: expected {wanted}; errors: {errors:#?}",
        case.label
    ))
}

/// Runs cases, counting them by category and collecting every failure.
#[derive(Default)]
struct Run {
    counts: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Run {
    fn check(&mut self, category: &'static str, case: Case) {
        *self.counts.entry(category).or_default() += 1;
        if let Err(failure) = check(&case) {
            self.failures.push(failure);
        }
    }

    /// Prints the counts, then fails on any failed case or when a category ran fewer cases
    /// than `minimums` says (so an empty or truncated facts file cannot pass).
    #[track_caller]
    fn finish(self, test: &str, minimums: &[(&str, usize)]) {
        let total: usize = self.counts.values().sum();
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("{test}: {total} cases ({})", counts.join(", "));
        assert!(
            self.failures.is_empty(),
            "{test}: {} of {total} cases failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        for (category, minimum) in minimums {
            let count = self.counts.get(category).copied().unwrap_or(0);
            assert!(
                count >= *minimum,
                "{test}: only {count} {category} cases, expected at least {minimum}"
            );
        }
    }
}

fn is_string(node: &Node) -> bool {
    node.type_.as_deref() == Some("string")
}

// ---------------------------------------------------------------------------------------------
// Behaviour

#[test]
fn string_lengths_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes().filter(|n| is_string(n)) {
        let path = node.path.as_str();
        let strings = Strings::for_node(node);
        if let Some(max) = node.max_length {
            let what = format!("maxLength {max}");
            match strings.of_len(max) {
                Some(value) => run.check(
                    "maxLength",
                    pass(path, &format!("{what}: {max} code points"), json!(value)),
                ),
                None => run
                    .failures
                    .push(format!("{path}: no valid value of {max} code points")),
            }
            let long = strings.any_of_len(max + 1);
            let detail = Detail::Contains(format!("may not be more than {max} bytes"));
            run.check(
                "maxLength",
                fail(
                    path,
                    &format!("{what}: {} code points", max + 1),
                    Some(json!(long)),
                    ErrorKind::TooLong,
                    detail,
                ),
            );
        }
        if let Some(min) = node.min_length {
            let what = format!("minLength {min}");
            if let Some(value) = strings.of_len(min) {
                run.check(
                    "minLength",
                    pass(path, &format!("{what}: {min} code points"), json!(value)),
                );
            }
            if min > 0 {
                let short = strings.any_of_len(min - 1);
                let detail = Detail::Contains(format!("should be at least {min} chars long"));
                run.check(
                    "minLength",
                    fail(
                        path,
                        &format!("{what}: {} code points", min - 1),
                        Some(json!(short)),
                        ErrorKind::Invalid,
                        detail,
                    ),
                );
            }
        }
    }
    run.finish("string lengths", &[("maxLength", 42), ("minLength", 28)]);
}

#[test]
fn patterns_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes().filter(|n| n.pattern.is_some()) {
        let path = node.path.as_str();
        let pattern = node.pattern.as_deref().unwrap_or_default();
        let strings = Strings::for_node(node);
        let good = strings.typical(node);
        run.check(
            "pattern",
            pass(path, &format!("pattern, {good:?}"), json!(good)),
        );
        let bad = strings.mismatch().unwrap_or_default();
        let detail = Detail::Contains(format!("should match '{pattern}'"));
        run.check(
            "pattern",
            fail(
                path,
                &format!("pattern, {bad:?}"),
                Some(json!(bad)),
                ErrorKind::Invalid,
                detail,
            ),
        );
    }
    run.finish("patterns", &[("pattern", 32)]);
}

#[test]
fn enums_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes() {
        let Some(values) = &node.enum_values else {
            continue;
        };
        let path = node.path.as_str();
        for value in values {
            run.check(
                "enum",
                pass(path, &format!("enum value {value:?}"), json!(value)),
            );
        }
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        let detail = Detail::Equals(format!("supported values: {}", quoted.join(", ")));
        run.check(
            "enum",
            fail(
                path,
                "enum, \"Unlisted\"",
                Some(json!("Unlisted")),
                ErrorKind::NotSupported,
                detail,
            ),
        );
    }
    run.finish("enums", &[("enum", 7)]);
}

#[test]
fn list_and_map_sizes_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes() {
        let path = node.path.as_str();
        let items = |n: usize| Value::Array((0..n).map(|i| item(path, i)).collect());
        if let Some(max) = node.max_items {
            let what = format!("maxItems {max}");
            run.check(
                "maxItems",
                pass(path, &format!("{what}: {max} items"), items(max)),
            );
            let detail = Detail::Contains(format!("must have at most {max} items"));
            run.check(
                "maxItems",
                fail(
                    path,
                    &format!("{what}: {} items", max + 1),
                    Some(items(max + 1)),
                    ErrorKind::TooMany,
                    detail,
                ),
            );
        }
        if let Some(min) = node.min_items {
            let what = format!("minItems {min}");
            run.check(
                "minItems",
                pass(path, &format!("{what}: {min} items"), items(min)),
            );
            if min > 0 {
                let detail = Detail::Contains(format!("should have at least {min} items"));
                run.check(
                    "minItems",
                    fail(
                        path,
                        &format!("{what}: {} items", min - 1),
                        Some(items(min - 1)),
                        ErrorKind::Invalid,
                        detail,
                    ),
                );
            }
        }
        if let Some(max) = node.max_properties {
            let value = Strings::for_node(target_node(&format!("{path}[*]")))
                .typical(target_node(&format!("{path}[*]")));
            let entries = |n: usize| {
                Value::Object(
                    (0..n)
                        .map(|i| (format!("example.com/option-{i}"), json!(value)))
                        .collect(),
                )
            };
            let what = format!("maxProperties {max}");
            run.check(
                "maxProperties",
                pass(path, &format!("{what}: {max} keys"), entries(max)),
            );
            let detail = Detail::Contains(format!("must have at most {max} items"));
            run.check(
                "maxProperties",
                fail(
                    path,
                    &format!("{what}: {} keys", max + 1),
                    Some(entries(max + 1)),
                    ErrorKind::TooMany,
                    detail,
                ),
            );
        }
        if node.list_type.as_deref() == Some("map") {
            let keys = node.list_map_keys.as_deref().unwrap_or_default();
            assert!(!keys.is_empty(), "{path}: a map list without keys");
            run.check(
                "listMapKeys",
                pass(path, &format!("list-map keys {keys:?}: distinct"), items(2)),
            );
            let mut twins = items(2);
            for key in keys {
                twins[1][key] = twins[0][key].clone();
            }
            let expect = Expect::Fail {
                at: field_path(path).index(1),
                kind: ErrorKind::Duplicate,
                detail: Detail::Any,
            };
            run.check(
                "listMapKeys",
                case(
                    format!("{path} list-map keys {keys:?}: repeated"),
                    path,
                    Some(twins),
                    expect,
                ),
            );
        }
    }
    run.finish(
        "list and map sizes",
        &[
            ("maxItems", 10),
            ("minItems", 4),
            ("maxProperties", 2),
            ("listMapKeys", 2),
        ],
    );
}

#[test]
fn integers_and_formats_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes() {
        let path = node.path.as_str();
        if let Some(min) = node.minimum {
            run.check(
                "minimum",
                pass(path, &format!("minimum {min}: {min}"), json!(min)),
            );
            let detail = Detail::Contains(format!("should be greater than or equal to {min}"));
            run.check(
                "minimum",
                fail(
                    path,
                    &format!("minimum {min}: {}", min - 1),
                    Some(json!(min - 1)),
                    ErrorKind::Invalid,
                    detail,
                ),
            );
        }
        if let Some(max) = node.maximum {
            run.check(
                "maximum",
                pass(path, &format!("maximum {max}: {max}"), json!(max)),
            );
            let detail = Detail::Contains(format!("should be less than or equal to {max}"));
            run.check(
                "maximum",
                fail(
                    path,
                    &format!("maximum {max}: {}", max + 1),
                    Some(json!(max + 1)),
                    ErrorKind::Invalid,
                    detail,
                ),
            );
        }
        match node.format.as_deref() {
            None | Some("int64") => {}
            Some("int32") => {
                let too_big = i64::from(i32::MAX) + 1;
                let detail = Detail::Contains("must be of type int32".to_owned());
                run.check(
                    "format",
                    fail(
                        path,
                        "format int32: 2^31",
                        Some(json!(too_big)),
                        ErrorKind::Invalid,
                        detail,
                    ),
                );
            }
            Some("date-time") => {
                run.check(
                    "format",
                    pass(
                        path,
                        "format date-time",
                        json!("2026-05-31T23:59:59.5+02:00"),
                    ),
                );
                let detail = Detail::Contains("must be of type date-time".to_owned());
                run.check(
                    "format",
                    fail(
                        path,
                        "format date-time: \"yesterday\"",
                        Some(json!("yesterday")),
                        ErrorKind::Invalid,
                        detail,
                    ),
                );
            }
            Some(other) => run
                .failures
                .push(format!("{path}: no cases for format {other:?}: add them")),
        }
    }
    run.finish(
        "integers and formats",
        &[("minimum", 4), ("maximum", 2), ("format", 3)],
    );
}

#[test]
fn types_and_required_fields_are_enforced() {
    let mut run = Run::default();
    for node in scoped_nodes() {
        let path = node.path.as_str();
        if let Some(type_) = node.type_.as_deref() {
            let wrong = match type_ {
                "string" => json!(7),
                "integer" => json!("7"),
                "array" => json!({}),
                "object" => json!("text"),
                other => {
                    run.failures.push(format!(
                        "{path}: no wrong value for type {other:?}: add one"
                    ));
                    continue;
                }
            };
            let detail = Detail::Contains(format!("must be of type {type_}"));
            run.check(
                "type",
                fail(
                    path,
                    &format!("type {type_}: {wrong}"),
                    Some(wrong),
                    ErrorKind::TypeInvalid,
                    detail,
                ),
            );
        }
        if node.required {
            run.check(
                "required",
                fail(
                    path,
                    "required: absent",
                    None,
                    ErrorKind::Required,
                    Detail::Any,
                ),
            );
        }
    }
    run.finish(
        "types and required fields",
        &[("type", 41), ("required", 21)],
    );
}

/// A target reference to the Service `backend`, with a section.
fn backend(section: Option<&str>) -> Value {
    let mut target = json!({"group": "", "kind": "Service", "name": "backend"});
    if let Some(section) = section {
        target["sectionName"] = json!(section);
    }
    target
}

/// Edits of the base object: a JSON pointer and its new value (`null` removes).
type Edits = Vec<(&'static str, Value)>;

/// A passing and a failing set of edits for each CEL rule, by the rule's message.
fn cel_examples(message: &str) -> Option<(Edits, Edits)> {
    let ca_refs = json!([item("spec.validation.caCertificateRefs", 0)]);
    let sans = |san: Value| vec![("/spec/validation/subjectAltNames", json!([san]))];
    let hostname_san = json!({"type": "Hostname", "hostname": "backend.example"});
    let uri_san = json!({"type": "URI", "uri": SAN_URI});
    Some(match message {
        "sectionName must be specified when targetRefs includes 2 or more references to the same target" => {
            (
                vec![(
                    "/spec/targetRefs",
                    json!([backend(Some("https")), backend(Some("admin"))]),
                )],
                vec![(
                    "/spec/targetRefs",
                    json!([backend(Some("https")), backend(None)]),
                )],
            )
        }
        "sectionName must be unique when targetRefs includes 2 or more references to the same target" => {
            (
                vec![(
                    "/spec/targetRefs",
                    json!([backend(None), item("spec.targetRefs", 1)]),
                )],
                vec![(
                    "/spec/targetRefs",
                    json!([backend(Some("https")), backend(Some("https"))]),
                )],
            )
        }
        "must not contain both CACertificateRefs and WellKnownCACertificates" => (
            vec![
                ("/spec/validation/caCertificateRefs", ca_refs.clone()),
                ("/spec/validation/wellKnownCACertificates", Value::Null),
            ],
            vec![("/spec/validation/caCertificateRefs", ca_refs)],
        ),
        "must specify either CACertificateRefs or WellKnownCACertificates" => (
            vec![],
            vec![("/spec/validation/wellKnownCACertificates", Value::Null)],
        ),
        "SubjectAltName element must contain Hostname, if Type is set to Hostname" => {
            (sans(hostname_san), sans(json!({"type": "Hostname"})))
        }
        "SubjectAltName element must not contain Hostname, if Type is not set to Hostname" => (
            sans(uri_san),
            sans(json!({"type": "URI", "uri": SAN_URI, "hostname": "backend.example"})),
        ),
        "SubjectAltName element must contain URI, if Type is set to URI" => {
            (sans(uri_san), sans(json!({"type": "URI"})))
        }
        "SubjectAltName element must not contain URI, if Type is not set to URI" => (
            sans(hostname_san),
            sans(json!({"type": "Hostname", "hostname": "backend.example", "uri": SAN_URI})),
        ),
        _ => return None,
    })
}

fn edited(edits: &Edits) -> Value {
    let mut object = base();
    for (pointer, value) in edits {
        let (parent, name) = pointer.rsplit_once('/').expect("a JSON pointer");
        let map = object
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent}"));
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), value.clone());
        }
    }
    object
}

#[test]
fn cel_rules_are_enforced() {
    let mut run = Run::default();
    let rules = &target().rules;
    let messages: BTreeSet<&str> = rules.iter().filter_map(|r| r.message.as_deref()).collect();
    for rule in rules {
        let message = rule.message.as_deref().unwrap_or_default();
        let Some((passing, failing)) = cel_examples(message) else {
            run.failures.push(format!(
                "{}: no examples for the rule {message:?} ({}): add them",
                rule.path, rule.rule
            ));
            continue;
        };
        let label = format!("{} rule {message:?}", rule.path);
        run.check(
            "cel",
            Case {
                label: format!("{label}: passes"),
                object: edited(&passing),
                subresource: None,
                expect: Expect::Pass,
            },
        );
        let failing = Case {
            label: format!("{label}: fails"),
            object: edited(&failing),
            subresource: None,
            expect: Expect::Fail {
                at: field_path(&rule.path),
                kind: ErrorKind::Invalid,
                detail: Detail::Equals(message.to_owned()),
            },
        };
        // The failing object breaks this rule and no other.
        let settings = settings_for(&failing.object);
        let change = PolicyChange::create(&failing.object, "shop");
        let report = validate::policy(&change, &Snapshot::default(), &settings, NOW);
        let broken: BTreeSet<&str> = report
            .errors
            .iter()
            .map(|e| e.detail.as_str())
            .filter(|d| messages.contains(d))
            .collect();
        if broken != BTreeSet::from([message]) {
            run.failures.push(format!(
                "{}: breaks the rules {broken:?}, expected only {message:?}",
                failing.label
            ));
        }
        run.check("cel", failing);
    }
    run.finish("CEL rules", &[("cel", 16)]);
}
