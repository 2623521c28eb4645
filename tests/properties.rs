//! Properties of `validate::policy`, checked with proptest on generated objects:
//!
//! - it never panics, whatever the object, the old object, the operation, the subresource, the
//!   namespace and the settings;
//! - it is deterministic: the same input gives the same report, also against a snapshot built
//!   again from scratch (hash maps iterate in another order);
//! - its report is in stable order: errors and warnings sorted by `FieldPath` (document order)
//!   and `Report::finish` leaves it unchanged;
//! - every valid object (valid under the CRD facts, which the test checks, and the prose rules)
//!   is allowed with no errors;
//! - ratcheting: an UPDATE whose object equals the old object is never denied;
//! - what admission's decoder keeps of an object is what the rules read: validating the pruned
//!   policy, ConfigMap, Secret or ClusterTrustBundle (and old object) gives the same report as
//!   validating the whole one, under every built-in profile.
//!
//! Objects come from three strategies: arbitrary JSON, policy-shaped objects whose every field
//! may be missing, mistyped or odd, and valid policies. Runs are deterministic (a fixed RNG
//! seed unless `PROPTEST_RNG_SEED` is set) and write no regression files. 256 cases per
//! property by default; `PROPTEST_CASES=N` changes that.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use backendtls_webhook::admission;
use backendtls_webhook::validate::ca_bundle::parse_bundle;
use backendtls_webhook::validate::snapshot::ServicePort;
use backendtls_webhook::validate::{
    self, CaObjectChange, CaText, ConfigMapEntry, Enforcement, GroupKind, Operation, PolicyChange,
    PolicySummary, Report, ServiceEntry, Settings, Snapshot, TargetKey,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use regex::Regex;
use serde_json::{Map, Value, json};

/// 2026-06-01T00:00:00Z: the fixture certificates' reference instant.
const NOW: i64 = 1_780_272_000;
const SEED: u64 = 0x05ee_d0fb_7e5e;
const ROOT_CA: &str = include_str!("fixtures/certs/root-ca.pem");
const EXPIRED_CA: &str = include_str!("fixtures/certs/expired-ca.pem");
const LEAF: &str = include_str!("fixtures/certs/leaf.pem");
const PRIVATE_KEY: &str = include_str!("fixtures/certs/private-key.pem");

fn config() -> ProptestConfig {
    // The defaults honour PROPTEST_CASES (256 if unset) and the other PROPTEST_* variables.
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config.failure_persistence = None;
    config
}

// =============================================================================================
// Snapshots and settings

fn ca(text: &str) -> ConfigMapEntry {
    ConfigMapEntry {
        ca_crt: Some(CaText {
            text: Arc::from(text),
            bundle: Arc::new(parse_bundle(text)),
        }),
        binary_ca_crt: false,
        ..Default::default()
    }
}

/// References of every sort: good, expired, unusable and missing CA bundles, Services with TCP
/// and UDP ports, and other policies on the same targets.
fn rich_snapshot() -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (name, entry) in [
        ("ca", ca(ROOT_CA)),
        ("expired", ca(EXPIRED_CA)),
        ("leaf", ca(LEAF)),
        ("key", ca(PRIVATE_KEY)),
        ("empty", ca("")),
        (
            "garbage",
            ca("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
        ),
        (
            "binary",
            ConfigMapEntry {
                ca_crt: None,
                binary_ca_crt: true,
                ..Default::default()
            },
        ),
    ] {
        snapshot.config_maps.insert(name.into(), entry);
    }
    let port = |name: &str, protocol: &str| ServicePort {
        name: name.into(),
        protocol: protocol.into(),
    };
    snapshot.services.insert(
        "svc-0".into(),
        ServiceEntry {
            ports: vec![port("https", "TCP"), port("dns", "UDP")],
        },
    );
    snapshot.services.insert(
        "backend".into(),
        ServiceEntry {
            ports: vec![port("", "UDP")],
        },
    );
    let target = |name: &str, section: Option<&str>| TargetKey {
        group: String::new(),
        kind: "Service".into(),
        name: name.into(),
        section: section.map(str::to_owned),
    };
    for (name, created, targets) in [
        ("older", Some(0), vec![target("svc-0", None)]),
        ("newer", Some(NOW), vec![target("svc-0", Some("https"))]),
        ("undated", None, vec![target("backend", None)]),
    ] {
        snapshot.policies.push(Arc::new(PolicySummary {
            namespace: "shop".into(),
            name: name.into(),
            created,
            targets,
            ca_refs: vec![(validate::CaKind::ConfigMap, "ca".into())],
        }));
    }
    snapshot
}

static RICH: LazyLock<Snapshot> = LazyLock::new(rich_snapshot);

/// The same snapshot in new hash maps (another random hash order), entries inserted in reverse
/// order; the parsed bundles are shared.
fn reordered(snapshot: &Snapshot) -> Snapshot {
    fn rebuild<V: Clone>(map: &HashMap<String, V>) -> HashMap<String, V> {
        let mut entries: Vec<(String, V)> =
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.reverse();
        entries.into_iter().collect()
    }
    Snapshot {
        config_maps: rebuild(&snapshot.config_maps),
        services: rebuild(&snapshot.services),
        policies: snapshot.policies.clone(),
        ..Snapshot::default()
    }
}

/// What valid objects refer to: a good CA bundle and a Service (other names are missing,
/// which only warns under the default settings).
static GOOD: LazyLock<Snapshot> = LazyLock::new(|| {
    let mut snapshot = rich_snapshot();
    snapshot.config_maps.retain(|name, _| name == "ca");
    snapshot.policies.clear();
    snapshot
});

fn enforcement() -> impl Strategy<Value = Enforcement> {
    prop_oneof![Just(Enforcement::Warn), Just(Enforcement::Deny)]
}

fn any_settings() -> impl Strategy<Value = Settings> {
    let kinds = prop::collection::vec(
        prop::sample::select(vec![
            ("", "Service"),
            ("multicluster.x-k8s.io", "ServiceImport"),
            ("gateway.networking.k8s.io", "Gateway"),
            ("", "service"),
        ]),
        0..3,
    );
    let window = prop_oneof![
        2 => Just(validate::DEFAULT_EXPIRY_WINDOW_SECS),
        2 => 0..400 * 86_400i64,
        1 => any::<i64>(),
    ];
    (
        enforcement(),
        enforcement(),
        kinds,
        any::<bool>(),
        window,
        enforcement(),
    )
        .prop_map(
            |(missing_refs, invalid_refs, kinds, strict, window, unknown_fields)| Settings {
                missing_refs,
                invalid_refs,
                extra_target_kinds: kinds
                    .into_iter()
                    .map(|(group, kind)| GroupKind {
                        group: group.into(),
                        kind: kind.into(),
                    })
                    .collect(),
                strict,
                expiry_window_secs: window,
                unknown_fields,
                ..Settings::default()
            },
        )
}

fn operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(vec![
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Connect,
    ])
}

fn subresource() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "status".to_owned(),
        "scale".to_owned(),
        String::new(),
    ]))
}

fn run(
    object: &Value,
    old: Option<&Value>,
    operation: Operation,
    subresource: Option<&str>,
    snapshot: &Snapshot,
    settings: &Settings,
) -> Report {
    let change = PolicyChange {
        object,
        old_object: old,
        operation,
        subresource,
        namespace: "shop",
    };
    validate::policy(&change, snapshot, settings, NOW)
}

// =============================================================================================
// Arbitrary and policy-shaped JSON

/// Strings the rules care about.
const INTERESTING: &[&str] = &[
    "",
    " ",
    "\n",
    "Service",
    "service",
    "ServiceImport",
    "ConfigMap",
    "Secret",
    "core",
    "v1",
    "multicluster.x-k8s.io",
    "System",
    "example.com/custom",
    "example.com/timeout",
    "timeout",
    "a/b/c",
    "Hostname",
    "URI",
    "DNS",
    "10.0.0.7",
    "::1",
    "[::1]",
    "*.example.com",
    "*",
    "a.example",
    "Backend.Example",
    "spiffe://cluster.local/ns/shop/sa/backend",
    "spiffe:///path",
    "https://a b/",
    "https://[zz]/",
    "urn:x:y",
    "ns/name",
    "ca",
    "expired",
    "leaf",
    "key",
    "empty",
    "garbage",
    "binary",
    "svc-0",
    "backend",
    "https",
    "dns",
    "gateway.networking.k8s.io/v1",
    "gateway.networking.k8s.io/v1alpha3",
    "BackendTLSPolicy",
    "True",
    "Accepted",
    "2026-01-01T00:00:00Z",
    "example.com/controller",
];

/// Field names of the schema and of metadata, so arbitrary objects hit the walker's paths.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "creationTimestamp",
    "spec",
    "status",
    "targetRefs",
    "targetRef",
    "validation",
    "options",
    "group",
    "sectionName",
    "port",
    "caCertificateRefs",
    "wellKnownCACertificates",
    "hostname",
    "subjectAltNames",
    "type",
    "uri",
    "ancestors",
    "ancestorRef",
    "conditions",
    "controllerName",
    "reason",
    "message",
    "lastTransitionTime",
    "observedGeneration",
];

fn text() -> BoxedStrategy<String> {
    let long = (
        prop::sample::select(vec!["a", "é", "-", ".", "/", "1"]),
        prop::sample::select(vec![63usize, 64, 253, 254, 4096, 4097]),
    )
        .prop_map(|(s, n)| s.repeat(n));
    prop_oneof![
        4 => prop::sample::select(INTERESTING).prop_map(str::to_owned),
        2 => "[a-z0-9.*/:-]{0,12}",
        2 => any::<String>(),
        1 => long,
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => prop::sample::select(FIELDS).prop_map(str::to_owned), 1 => text()].boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-2i64..70_000).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
    ]
    .boxed()
}

/// Any JSON value, biased towards the schema's field names and interesting strings.
fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Mostly `strategy`, sometimes any JSON value (a wrong type, a null, ...).
fn or_junk(strategy: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![9 => strategy, 1 => arb_json()].boxed()
}

fn string(pool: &'static [&'static str]) -> BoxedStrategy<Value> {
    or_junk(
        prop_oneof![3 => prop::sample::select(pool).prop_map(str::to_owned), 1 => text()]
            .prop_map(Value::String)
            .boxed(),
    )
}

/// An object with each field present at 85 %, sometimes an extra field.
fn object_of(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let names: Vec<&'static str> = fields.iter().map(|f| f.0).collect();
    let values: Vec<_> = fields
        .into_iter()
        .map(|(_, s)| prop::option::weighted(0.85, s))
        .collect();
    let extra = prop::option::weighted(0.1, (key(), arb_json()));
    or_junk(
        (values, extra)
            .prop_map(move |(values, extra)| {
                let mut map = Map::new();
                for (name, value) in names.iter().zip(values) {
                    if let Some(value) = value {
                        map.insert((*name).to_owned(), value);
                    }
                }
                if let Some((k, v)) = extra {
                    map.insert(k, v);
                }
                Value::Object(map)
            })
            .boxed(),
    )
}

fn list_of(item: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    let lengths = prop_oneof![4 => 0..=3usize, 1 => 0..=max];
    or_junk(
        lengths
            .prop_flat_map(move |n| prop::collection::vec(item.clone(), n))
            .prop_map(Value::Array)
            .boxed(),
    )
}

const GROUPS: &[&str] = &["", "core", "multicluster.x-k8s.io", "Example.com"];
const TARGET_KINDS: &[&str] = &["Service", "service", "ServiceImport", "Gateway"];
const NAMES: &[&str] = &[
    "svc-0", "backend", "ca", "expired", "empty", "binary", "ns/x",
];
const SECTIONS: &[&str] = &["https", "dns", "http", "HTTPS"];

fn target_like() -> BoxedStrategy<Value> {
    object_of(vec![
        ("group", string(GROUPS)),
        ("kind", string(TARGET_KINDS)),
        ("name", string(NAMES)),
        ("sectionName", string(SECTIONS)),
    ])
}

fn ca_ref_like() -> BoxedStrategy<Value> {
    object_of(vec![
        ("group", string(GROUPS)),
        ("kind", string(&["ConfigMap", "configmap", "Secret"])),
        ("name", string(NAMES)),
    ])
}

fn san_like() -> BoxedStrategy<Value> {
    object_of(vec![
        ("type", string(&["Hostname", "URI", "DNS"])),
        (
            "hostname",
            string(&["a.example", "*.example.com", "10.0.0.7", "A"]),
        ),
        (
            "uri",
            string(&["spiffe://a/b", "spiffe:///p", "https://a b/", "urn:x"]),
        ),
    ])
}

fn status_like() -> BoxedStrategy<Value> {
    let condition = object_of(vec![
        ("type", string(&["Accepted", "ResolvedRefs", "bad type"])),
        ("status", string(&["True", "False", "Unknown", "Maybe"])),
        ("reason", string(&["Accepted", "Invalid", "not a reason"])),
        ("message", string(&[""])),
        (
            "lastTransitionTime",
            string(&["2026-01-01T00:00:00Z", "yesterday"]),
        ),
        ("observedGeneration", or_junk(number())),
    ]);
    let ancestor = object_of(vec![
        (
            "ancestorRef",
            object_of(vec![
                ("name", string(&["gw"])),
                ("group", string(GROUPS)),
                ("kind", string(&["Gateway"])),
                ("namespace", string(&["shop", "Shop"])),
                ("port", or_junk(number())),
                ("sectionName", string(SECTIONS)),
            ]),
        ),
        ("conditions", list_of(condition, 9)),
        (
            "controllerName",
            string(&["example.com/controller", "example.com"]),
        ),
    ]);
    object_of(vec![("ancestors", list_of(ancestor, 17))])
}

/// Policy-shaped objects: every field may be missing, mistyped or odd.
fn policy_like() -> BoxedStrategy<Value> {
    let options = or_junk(
        prop::collection::btree_map(
            prop_oneof![3 => "example\\.com/[a-z]{1,8}", 1 => text()],
            string(&["", "x"]),
            0..18,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed(),
    );
    let validation = object_of(vec![
        ("caCertificateRefs", list_of(ca_ref_like(), 9)),
        (
            "hostname",
            string(&["a.example", "10.0.0.7", "*.example.com", "A"]),
        ),
        ("subjectAltNames", list_of(san_like(), 6)),
        (
            "wellKnownCACertificates",
            string(&["System", "example.com/x", "system"]),
        ),
    ]);
    let spec = object_of(vec![
        ("targetRefs", list_of(target_like(), 17)),
        ("validation", validation),
        ("options", options),
    ]);
    let metadata = object_of(vec![
        ("name", string(&["p", "P", "a_b"])),
        ("namespace", string(&["shop"])),
        (
            "creationTimestamp",
            string(&["2026-01-01T00:00:00Z", "later"]),
        ),
    ]);
    object_of(vec![
        (
            "apiVersion",
            string(&[
                "gateway.networking.k8s.io/v1",
                "gateway.networking.k8s.io/v1alpha3",
            ]),
        ),
        ("kind", string(&["BackendTLSPolicy"])),
        ("metadata", metadata),
        ("spec", spec),
        ("status", status_like()),
    ])
}

fn any_object() -> BoxedStrategy<Value> {
    prop_oneof![3 => policy_like(), 1 => arb_json()].boxed()
}

// =============================================================================================
// Valid policies

const LABEL: &str = "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?";
/// A last label that starts with a letter: the name is never an IP address.
const LAST_LABEL: &str = "[a-z]([-a-z0-9]{0,14}[a-z0-9])?";

/// A DNS name that is no IP address, with labels of at most 63 characters.
fn dns_name() -> BoxedStrategy<String> {
    let long_label = prop_oneof![9 => Just(None), 1 => Just(Some("l".repeat(63)))];
    (prop::collection::vec(LABEL, 0..4), long_label, LAST_LABEL)
        .prop_map(|(mut labels, long, last)| {
            labels.extend(long);
            labels.push(last);
            labels.join(".")
        })
        .boxed()
}

/// Any non-empty text of at most 253 code points, or a plain name.
fn object_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?",
        1 => any::<String>().prop_map(|s| {
            let s: String = s.chars().take(240).collect();
            format!("{s}n")
        }),
    ]
    .boxed()
}

fn qualified_name() -> BoxedStrategy<String> {
    "[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?".boxed()
}

fn valid_uri() -> BoxedStrategy<String> {
    let host = prop_oneof![
        4 => dns_name(),
        1 => Just("10.0.0.1".to_owned()),
        1 => Just("[2001:db8::1]".to_owned()),
    ];
    (
        "[a-z][a-z0-9+.-]{0,6}",
        host,
        prop::option::of(1..=65_535u32),
        "(/[A-Za-z0-9._~-]{0,8}){0,3}",
        prop::option::of("[a-z0-9=&]{0,8}"),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{path}{query}")
        })
        .boxed()
}

fn valid_san() -> BoxedStrategy<Value> {
    prop_oneof![
        dns_name().prop_map(|h| json!({"type": "Hostname", "hostname": h})),
        dns_name().prop_map(|h| json!({"type": "Hostname", "hostname": format!("*.{h}")})),
        valid_uri().prop_map(|u| json!({"type": "URI", "uri": u})),
    ]
    .boxed()
}

/// Targets that satisfy T1 and T2: distinct objects with optional sections, or one object
/// with distinct sections. `kind` is the group and kind of every target.
fn valid_targets(kind: (&'static str, &'static str)) -> BoxedStrategy<Value> {
    let (group, kind) = kind;
    let distinct = (
        object_name(),
        prop::collection::vec(prop::option::of(dns_name()), 1..=16),
    )
        .prop_map(move |(base, sections)| {
            let base: String = base.chars().take(240).collect();
            let targets = sections
                .into_iter()
                .enumerate()
                .map(|(i, section)| {
                    let mut t =
                        json!({"group": group, "kind": kind, "name": format!("{base}-{i}")});
                    if let Some(section) = section {
                        t["sectionName"] = json!(section);
                    }
                    t
                })
                .collect();
            Value::Array(targets)
        });
    let sectioned = (prop_oneof![Just("svc-0".to_owned()), object_name()], 2..=16usize).prop_map(
        move |(name, n)| {
            let targets = (0..n)
                .map(|i| json!({"group": group, "kind": kind, "name": name, "sectionName": format!("port-{i}")}))
                .collect();
            Value::Array(targets)
        },
    );
    prop_oneof![4 => distinct, 1 => sectioned].boxed()
}

fn valid_ca() -> BoxedStrategy<(&'static str, Value)> {
    let refs = prop::collection::vec(prop_oneof![Just("ca".to_owned()), object_name()], 1..=8)
        .prop_map(|names| {
            let refs: Vec<Value> = names
                .into_iter()
                .map(|n| json!({"group": "", "kind": "ConfigMap", "name": n}))
                .collect();
            ("caCertificateRefs", Value::Array(refs))
        });
    let custom = (dns_name(), qualified_name()).prop_map(|(d, n)| format!("{d}/{n}"));
    let well_known = prop_oneof![Just("System".to_owned()), custom]
        .prop_map(|w| ("wellKnownCACertificates", json!(w)));
    prop_oneof![refs, well_known].boxed()
}

fn valid_options() -> BoxedStrategy<Value> {
    let key = (prop::option::of(dns_name()), qualified_name())
        .prop_map(|(prefix, name)| prefix.map_or_else(|| name.clone(), |p| format!("{p}/{name}")));
    let value = prop_oneof![
        8 => any::<String>(),
        1 => Just("é".repeat(4096)),
        1 => Just(String::new()),
    ];
    prop::collection::btree_map(key, value, 0..=16)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, json!(v))).collect()))
        .boxed()
}

/// A valid policy, and the settings it is valid under (an extra target kind, sometimes).
fn valid_policy() -> BoxedStrategy<(Value, Settings)> {
    let kind = prop::sample::select(vec![
        ("", "Service"),
        ("multicluster.x-k8s.io", "ServiceImport"),
    ]);
    kind.prop_flat_map(|kind| {
        (
            valid_targets(kind),
            dns_name(),
            valid_ca(),
            prop::option::of(prop::collection::vec(valid_san(), 0..=5)),
            prop::option::of(valid_options()),
            prop::option::of(dns_name()),
            prop::sample::select(vec![
                "gateway.networking.k8s.io/v1",
                "gateway.networking.k8s.io/v1alpha3",
            ]),
            Just(kind),
        )
    })
    .prop_map(
        |(targets, hostname, (ca_field, ca), sans, options, name, api_version, kind)| {
            let mut validation = json!({"hostname": hostname});
            validation[ca_field] = ca;
            if let Some(sans) = sans {
                validation["subjectAltNames"] = Value::Array(sans);
            }
            let mut spec = json!({"targetRefs": targets, "validation": validation});
            if let Some(options) = options {
                spec["options"] = options;
            }
            let mut policy =
                json!({"apiVersion": api_version, "kind": "BackendTLSPolicy", "spec": spec});
            if let Some(name) = name {
                policy["metadata"] = json!({"name": name, "namespace": "shop"});
            }
            let mut settings = Settings::default();
            if kind.1 != "Service" {
                settings.extra_target_kinds.push(GroupKind {
                    group: kind.0.into(),
                    kind: kind.1.into(),
                });
            }
            (policy, settings)
        },
    )
    .boxed()
}

// =============================================================================================
// The valid strategy checked against the CRD facts (types, required fields, lengths, patterns,
// enums, counts, no unknown fields; the CEL rules hold by construction)

#[path = "common/crd_facts.rs"]
mod crd_facts_model;

/// The nodes of `v1` of the v1.6.1 standard CRD by path, with their compiled patterns.
static NODES: LazyLock<HashMap<&'static str, (&'static crd_facts_model::Node, Option<Regex>)>> =
    LazyLock::new(|| {
        crd_facts_model::facts()
            .crd("v1.6.1", "standard")
            .version("v1")
            .nodes
            .iter()
            .map(|n| {
                let regex = n
                    .pattern
                    .as_deref()
                    .map(|p| Regex::new(p).expect("compiles"));
                (n.path.as_str(), (n, regex))
            })
            .collect()
    });

/// How `value` (at facts path `at`) breaks the facts.
fn facts_violations(value: &Value, at: &str, out: &mut Vec<String>) {
    let Some((node, regex)) = NODES.get(at) else {
        out.push(format!("{at}: not in the schema"));
        return;
    };
    let join = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    // Every node of the facts has a type; "untyped" would match no value.
    let type_ = node.type_.as_deref().unwrap_or("untyped");
    match (type_, value) {
        ("string", Value::String(s)) => {
            let n = s.chars().count();
            if node.min_length.is_some_and(|min| n < min)
                || node.max_length.is_some_and(|max| n > max)
                || regex.as_ref().is_some_and(|r| !r.is_match(s))
                || node.enum_values.as_ref().is_some_and(|e| !e.contains(s))
            {
                out.push(format!("{at}: {s:?}"));
            }
        }
        ("array", Value::Array(items)) => {
            if node.min_items.is_some_and(|min| items.len() < min)
                || node.max_items.is_some_and(|max| items.len() > max)
            {
                out.push(format!("{at}: {} items", items.len()));
            }
            for item in items {
                facts_violations(item, &format!("{at}[*]"), out);
            }
        }
        ("object", Value::Object(map)) => {
            if node.max_properties.is_some_and(|max| map.len() > max) {
                out.push(format!("{at}: {} properties", map.len()));
            }
            let items = format!("{at}[*]");
            if NODES.contains_key(items.as_str()) {
                for item in map.values() {
                    facts_violations(item, &items, out);
                }
            } else {
                for (key, child) in map {
                    if at != "metadata" {
                        facts_violations(child, &join(key), out);
                    }
                }
                let prefix = join("");
                for (path, (child, _)) in NODES.iter() {
                    let direct = path
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.is_empty() && !rest.contains(['.', '[']));
                    let name = &path[prefix.len().min(path.len())..];
                    if direct && child.required && !map.contains_key(name) {
                        out.push(format!("{path}: required"));
                    }
                }
            }
        }
        _ => out.push(format!("{at}: not of type {type_}")),
    }
}

// =============================================================================================
// Properties

fn assert_sorted(report: &Report) -> Result<(), TestCaseError> {
    let errors_sorted = report.errors.windows(2).all(|w| w[0].path <= w[1].path);
    prop_assert!(
        errors_sorted,
        "errors not in document order: {:#?}",
        report.errors
    );
    let warnings_sorted = report.warnings.windows(2).all(|w| w[0].path <= w[1].path);
    prop_assert!(
        warnings_sorted,
        "warnings not in document order: {:#?}",
        report.warnings
    );
    let mut again = report.clone();
    again.finish();
    prop_assert_eq!(&again, report, "finish() changed a finished report");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Never panics, is deterministic (also against a snapshot rebuilt from scratch, whose hash
    /// maps iterate in another order), and reports in stable order.
    #[test]
    fn policy_validation_is_total_deterministic_and_ordered(
        object in any_object(),
        old in prop::option::of(any_object()),
        operation in operation(),
        subresource in subresource(),
        namespace in prop_oneof![Just("shop".to_owned()), any::<String>()],
        settings in any_settings(),
    ) {
        let change = PolicyChange {
            object: &object,
            old_object: old.as_ref(),
            operation,
            subresource: subresource.as_deref(),
            namespace: &namespace,
        };
        let first = validate::policy(&change, &RICH, &settings, NOW);
        let again = validate::policy(&change, &RICH, &settings, NOW);
        prop_assert_eq!(&first, &again, "two runs on the same input differ");
        let rebuilt = reordered(&RICH);
        let copy = object.clone();
        let change = PolicyChange { object: &copy, ..change };
        let fresh = validate::policy(&change, &rebuilt, &settings, NOW);
        prop_assert_eq!(&first, &fresh, "a rebuilt snapshot changed the report");
        assert_sorted(&first)?;
    }

    /// Arbitrary JSON, not shaped like a policy at all.
    #[test]
    fn policy_validation_accepts_any_json(
        object in arb_json(),
        old in prop::option::of(arb_json()),
        operation in operation(),
        subresource in subresource(),
        settings in any_settings(),
    ) {
        let report = run(&object, old.as_ref(), operation, subresource.as_deref(), &RICH, &settings);
        assert_sorted(&report)?;
    }

    /// ConfigMap reviews: total, deterministic and ordered too.
    #[test]
    fn config_map_validation_is_total_and_deterministic(
        object in prop::option::of(prop_oneof![
            arb_json(),
            (prop::sample::select(vec![ROOT_CA, EXPIRED_CA, LEAF, PRIVATE_KEY, "", "junk"]), arb_json())
                .prop_map(|(ca, binary)| json!({"data": {"ca.crt": ca}, "binaryData": {"ca.crt": binary}})),
        ]),
        old in prop::option::of(arb_json()),
        operation in operation(),
        name in prop::sample::select(vec!["ca", "expired", "other"]),
        settings in any_settings(),
    ) {
        let change = CaObjectChange {
            kind: validate::CaKind::ConfigMap,
            object: object.as_ref(),
            old_object: old.as_ref(),
            operation,
            namespace: "shop",
            name,
        };
        let parse = |text: &str| CaText { text: Arc::from(text), bundle: Arc::new(parse_bundle(text)) };
        let first = validate::ca_object(&change, &RICH, &settings, NOW, parse);
        let again = validate::ca_object(&change, &RICH, &settings, NOW, parse);
        prop_assert_eq!(&first, &again);
        assert_sorted(&first)?;
    }

    /// Every valid policy is allowed with no errors, whatever the unknown-field setting, and
    /// the generated object is valid under the CRD facts.
    #[test]
    fn valid_policies_are_allowed((policy, settings) in valid_policy(), deny_unknown in any::<bool>()) {
        let mut violations = Vec::new();
        facts_violations(&policy, "", &mut violations);
        prop_assert!(violations.is_empty(), "the generator made an invalid policy: {:?}", violations);
        let settings = Settings {
            unknown_fields: if deny_unknown { Enforcement::Deny } else { Enforcement::Warn },
            ..settings
        };
        let report = run(&policy, None, Operation::Create, None, &GOOD, &settings);
        prop_assert!(report.errors.is_empty(), "{:#?}\n{}", report.errors, policy);
        let update = run(&policy, Some(&policy), Operation::Update, None, &GOOD, &settings);
        prop_assert!(update.errors.is_empty(), "{:#?}\n{}", update.errors, policy);
    }

    /// Ratcheting: an UPDATE that changes nothing is never denied.
    #[test]
    fn unchanged_updates_are_never_denied(
        object in any_object(),
        subresource in prop_oneof![Just(None), Just(Some("status"))],
        settings in any_settings(),
    ) {
        let report = run(&object, Some(&object), Operation::Update, subresource, &RICH, &settings);
        let blocking: Vec<_> = report.errors.iter().collect();
        prop_assert!(blocking.is_empty(), "{:#?}\nobject: {}", blocking, object);
    }
}

// =============================================================================================
// Pruning: admission's decoder drops what no rule reads

/// `object` and `old` as admission's decoder gives them to the rules: pruned of every metadata
/// field and data value no rule reads (`null` for an absent object).
fn pruned(object: &Value, old: Option<&Value>) -> (Value, Option<Value>) {
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                    "operation": "UPDATE", "object": object, "oldObject": old}
    });
    let request = admission::decode(&serde_json::to_vec(&body).expect("json")).expect("decodes");
    (request.object.unwrap_or(Value::Null), request.old_object)
}

/// Metadata fields no rule reads, as the apiserver sends them (labels, annotations with the
/// whole object again, managed fields, owners, finalizers) or made up.
fn unread_metadata() -> BoxedStrategy<Map<String, Value>> {
    let field = prop_oneof![
        3 => prop::sample::select(vec![
            "labels", "annotations", "managedFields", "ownerReferences", "finalizers",
            "resourceVersion", "generation", "deletionTimestamp",
        ])
        .prop_map(str::to_owned),
        1 => key(),
    ];
    prop::collection::btree_map(field, arb_json(), 0..4)
        .prop_map(|m| {
            m.into_iter()
                .filter(|(k, _)| !validate::reads::reads_metadata(k))
                .collect()
        })
        .boxed()
}

/// `object` with `extra` added to its metadata (when it has a metadata object).
fn with_metadata(mut object: Value, extra: &Map<String, Value>) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.extend(extra.clone());
    }
    object
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Data maps of ConfigMaps and Secrets: keys a profile reads a CA bundle from and keys it does
/// not, with CA bundles, private keys (as text and base64), junk and values of other types.
fn data_map() -> BoxedStrategy<Value> {
    let key = prop_oneof![
        3 => prop::sample::select(vec![
            "ca.crt", "tls.crt", "cacert", "ca-bundle.crt", "root-cert.pem", "tls.key",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec!["password", "notes", "my-ca.pem", "bundle", "z"])
            .prop_map(str::to_owned),
        1 => "[a-z.]{1,8}",
    ];
    let texts = vec![
        ROOT_CA.to_owned(),
        LEAF.to_owned(),
        EXPIRED_CA.to_owned(),
        PRIVATE_KEY.to_owned(),
        format!("{ROOT_CA}{PRIVATE_KEY}"),
        base64(ROOT_CA),
        base64(PRIVATE_KEY),
        String::new(),
        "junk".to_owned(),
    ];
    let value = prop_oneof![
        6 => prop::sample::select(texts).prop_map(Value::String),
        1 => arb_json(),
    ];
    or_junk(
        prop::collection::btree_map(key, value, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
    )
}

/// ConfigMaps, Secrets and ClusterTrustBundles, every field possibly missing or odd.
fn ca_object_like() -> BoxedStrategy<Value> {
    let metadata = object_of(vec![
        ("name", string(&["ca", "other"])),
        ("namespace", string(&["shop"])),
    ]);
    object_of(vec![
        ("apiVersion", string(&["v1", "certificates.k8s.io/v1beta1"])),
        (
            "kind",
            string(&["ConfigMap", "Secret", "ClusterTrustBundle"]),
        ),
        ("metadata", metadata),
        ("type", string(&["kubernetes.io/tls", "Opaque"])),
        ("data", data_map()),
        ("binaryData", data_map()),
        ("stringData", data_map()),
        (
            "spec",
            object_of(vec![("trustBundle", string(&[ROOT_CA, "junk"]))]),
        ),
    ])
}

/// A policy in `shop` that uses the ConfigMap, the Secret and the ClusterTrustBundle `ca`.
static CA_USERS: LazyLock<Snapshot> = LazyLock::new(|| {
    let mut snapshot = Snapshot::default();
    snapshot.policies.push(Arc::new(PolicySummary {
        namespace: "shop".into(),
        name: "user".into(),
        ca_refs: vec![(validate::CaKind::ConfigMap, "ca".into())],
        ..Default::default()
    }));
    for kind in [
        validate::CaKind::Secret,
        validate::CaKind::ClusterTrustBundle,
    ] {
        snapshot.policies.push(Arc::new(PolicySummary {
            namespace: "shop".into(),
            name: format!("{kind}-user"),
            ca_refs: vec![(kind, "ca".into())],
            ..Default::default()
        }));
    }
    snapshot
});

/// Settings with any built-in implementation profile.
fn settings_with_profiles() -> impl Strategy<Value = Settings> {
    (
        any_settings(),
        prop::sample::select(validate::profile::BUILT_IN.to_vec()),
    )
        .prop_map(|(settings, profile)| Settings {
            profile: Arc::new(profile),
            ..settings
        })
}

/// Everything the rules say about a policy change, including what only the offline check adds.
fn policy_report(
    object: &Value,
    old: Option<&Value>,
    operation: Operation,
    subresource: Option<&str>,
    settings: &Settings,
) -> Report {
    let mut report = run(object, old, operation, subresource, &RICH, settings);
    validate::offline::require_name(object, &mut report);
    validate::offline::warn_deprecated_version(object, &mut report);
    let unserved = validate::offline::unserved(object);
    report.errors.extend(unserved.errors);
    report
}

fn ca_report(
    kind: validate::CaKind,
    object: Option<&Value>,
    old: Option<&Value>,
    operation: Operation,
    settings: &Settings,
) -> Report {
    let change = validate::CaObjectChange {
        kind,
        object,
        old_object: old,
        operation,
        namespace: "shop",
        name: "ca",
    };
    let parse = |text: &str| CaText {
        text: Arc::from(text),
        bundle: Arc::new(parse_bundle(text)),
    };
    validate::ca_object(&change, &CA_USERS, settings, NOW, parse)
}

proptest! {
    #![proptest_config(config())]

    /// Every rule on a policy gives the same report on the object admission's decoder prunes
    /// as on the whole object (the old object of an UPDATE differing in what no rule reads).
    #[test]
    fn pruned_policies_get_the_same_report(
        object in any_object(),
        noise in unread_metadata(),
        old_noise in unread_metadata(),
        old_differs in any::<bool>(),
        operation in operation(),
        subresource in subresource(),
        settings in settings_with_profiles(),
    ) {
        let object = with_metadata(object, &noise);
        let old = if old_differs {
            with_metadata(policy_like_base(&object), &old_noise)
        } else {
            object.clone()
        };
        let (pruned_object, pruned_old) = pruned(&object, Some(&old));
        // A null old object is none, to admission as here.
        let old = Some(old).filter(|o| !o.is_null());
        let whole = policy_report(&object, old.as_ref(), operation, subresource.as_deref(), &settings);
        let cut = policy_report(
            &pruned_object, pruned_old.as_ref(), operation, subresource.as_deref(), &settings,
        );
        prop_assert_eq!(whole, cut, "object: {}", object);
    }

    /// Every rule on a ConfigMap, Secret or ClusterTrustBundle gives the same report on the
    /// objects admission's decoder prunes as on the whole objects.
    #[test]
    fn pruned_ca_objects_get_the_same_report(
        object in prop::option::of(ca_object_like()),
        old in prop::option::of(ca_object_like()),
        noise in unread_metadata(),
        kind in prop::sample::select(validate::CaKind::ALL.to_vec()),
        operation in operation(),
        settings in settings_with_profiles(),
    ) {
        // A null object is none, to admission as here.
        let object = object.filter(|o| !o.is_null()).map(|o| with_metadata(o, &noise));
        let old = old.filter(|o| !o.is_null());
        let (pruned_object, pruned_old) = pruned(object.as_ref().unwrap_or(&Value::Null), old.as_ref());
        let pruned_object = Some(pruned_object).filter(|o| !o.is_null());
        let whole = ca_report(kind, object.as_ref(), old.as_ref(), operation, &settings);
        let cut = ca_report(kind, pruned_object.as_ref(), pruned_old.as_ref(), operation, &settings);
        prop_assert_eq!(whole, cut, "object: {:?}\nold: {:?}", object, old);
    }
}

/// `object` with its metadata's unread fields removed, so that an old object built from it
/// differs from `object` in those fields only.
fn policy_like_base(object: &Value) -> Value {
    let mut old = object.clone();
    if let Some(metadata) = old.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|k, _| validate::reads::reads_metadata(k));
    }
    old
}

// =============================================================================================
// Regressions: inputs the properties above once failed on, fixed, kept as plain tests

/// Ratcheting at the root: an UPDATE that changes nothing is allowed even when the object's
/// errors are at its root (no `spec`; not an object at all). `unchanged_updates_are_never_denied`
/// found them denied.
#[test]
fn an_unchanged_update_with_root_level_errors_is_allowed() {
    for object in [json!({"metadata": {"name": "p"}}), json!(5)] {
        let report = run(
            &object,
            Some(&object),
            Operation::Update,
            None,
            &Snapshot::default(),
            &Settings::default(),
        );
        assert!(report.is_allowed(), "{object}: {:?}", report.errors);
    }
}
