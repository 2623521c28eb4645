//! Table-driven tests: a passing and a failing case for every rule. Each case starts from a
//! valid policy whose references all resolve, applies edits, and states the exact errors and
//! the warnings (by substring) it expects.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::validate::ca_bundle::parse_bundle;

/// 2026-06-01T00:00:00Z: the fixture certificates' reference instant.
const NOW: i64 = 1_780_272_000;

fn base() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": "payments-backend-tls", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}],
            "validation": {
                "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "payments-backend-ca"}],
                "hostname": "payments-backend.shop.svc.cluster.local"
            }
        }
    })
}

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

const ROOT_CA: &str = include_str!("../../tests/fixtures/certs/root-ca.pem");
const EXPIRED_CA: &str = include_str!("../../tests/fixtures/certs/expired-ca.pem");

fn snapshot() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot
        .config_maps
        .insert("payments-backend-ca".into(), ca(ROOT_CA));
    snapshot.services.insert(
        "payments-backend".into(),
        ServiceEntry {
            ports: vec![
                snapshot::ServicePort {
                    name: "https".into(),
                    protocol: "TCP".into(),
                },
                snapshot::ServicePort {
                    name: "dns".into(),
                    protocol: "UDP".into(),
                },
            ],
        },
    );
    snapshot
}

/// Sets the value at a JSON pointer, creating objects on the way; `Value::Null` removes.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut node = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(index) = part.parse::<usize>()
            && node.is_array()
        {
            if last {
                node[index] = value;
                return;
            }
            node = &mut node[index];
            continue;
        }
        let map = node.as_object_mut().expect("object on the way");
        if last {
            if value.is_null() {
                map.remove(*part);
            } else {
                map.insert((*part).to_owned(), value);
            }
            return;
        }
        node = map.entry((*part).to_owned()).or_insert_with(|| json!({}));
    }
}

fn with(edits: &[(&str, Value)]) -> Value {
    let mut doc = base();
    for (pointer, value) in edits {
        set(&mut doc, pointer, value.clone());
    }
    doc
}

fn run(object: &Value, settings: &Settings) -> Report {
    let change = PolicyChange::create(object, "shop");
    policy(&change, &snapshot(), settings, NOW)
}

fn errors(report: &Report) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

fn warnings(report: &Report) -> Vec<String> {
    report.warnings.iter().map(ToString::to_string).collect()
}

#[track_caller]
fn assert_errors(object: &Value, settings: &Settings, expected: &[&str]) {
    let report = run(object, settings);
    assert_eq!(
        errors(&report),
        expected,
        "warnings: {:#?}",
        warnings(&report)
    );
}

#[track_caller]
fn assert_warns(object: &Value, settings: &Settings, fragment: &str) {
    let report = run(object, settings);
    assert!(
        report.is_allowed(),
        "unexpected errors: {:#?}",
        errors(&report)
    );
    assert!(
        warnings(&report).iter().any(|w| w.contains(fragment)),
        "no warning containing {fragment:?} in {:#?}",
        warnings(&report)
    );
}

fn defaults() -> Settings {
    Settings::default()
}

fn strict() -> Settings {
    Settings {
        strict: true,
        ..Settings::default()
    }
}

#[test]
fn the_base_policy_is_clean() {
    let report = run(&base(), &defaults());
    assert_eq!(errors(&report), Vec::<String>::new());
    assert_eq!(warnings(&report), Vec::<String>::new());
}

#[test]
fn the_sample_policy_with_sans_is_clean() {
    let policy = with(&[(
        "/spec/validation/subjectAltNames",
        json!([{"type": "Hostname", "hostname": "payments-backend.shop.svc"}, {"type": "URI", "uri": "spiffe://cluster.local/ns/shop/sa/payments-backend"}]),
    )]);
    let report = run(&policy, &defaults());
    assert!(
        report.is_allowed() && report.warnings.is_empty(),
        "{report:#?}"
    );
}

#[test]
fn v1alpha3_objects_follow_the_same_rules() {
    let policy = with(&[
        ("/apiVersion", json!("gateway.networking.k8s.io/v1alpha3")),
        ("/spec/validation/hostname", json!("10.0.0.7")),
    ]);
    assert_errors(
        &policy,
        &defaults(),
        &[
            r#"spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address"#,
        ],
    );
}

#[test]
fn spec_and_its_required_fields() {
    assert_errors(
        &with(&[("/spec", Value::Null)]),
        &defaults(),
        &["spec: Required value"],
    );
    assert_errors(
        &with(&[("/spec/targetRefs", Value::Null)]),
        &defaults(),
        &["spec.targetRefs: Required value"],
    );
    assert_errors(
        &with(&[("/spec/validation", Value::Null)]),
        &defaults(),
        &["spec.validation: Required value"],
    );
    assert_errors(
        &with(&[("/spec/validation/hostname", Value::Null)]),
        &defaults(),
        &["spec.validation.hostname: Required value"],
    );
    for field in ["group", "kind", "name"] {
        let policy = with(&[(&format!("/spec/targetRefs/0/{field}"), Value::Null)]);
        assert_errors(
            &policy,
            &defaults(),
            &[&format!("spec.targetRefs[0].{field}: Required value")],
        );
        let policy = with(&[(
            &format!("/spec/validation/caCertificateRefs/0/{field}"),
            Value::Null,
        )]);
        assert_errors(
            &policy,
            &defaults(),
            &[&format!(
                "spec.validation.caCertificateRefs[0].{field}: Required value"
            )],
        );
    }
    assert_errors(
        &with(&[(
            "/spec/validation/subjectAltNames",
            json!([{"hostname": "a.example"}]),
        )]),
        &defaults(),
        &["spec.validation.subjectAltNames[0].type: Required value"],
    );
}

#[test]
fn wrong_json_types_are_field_errors() {
    assert_errors(
        &with(&[("/spec/validation/hostname", json!(42))]),
        &defaults(),
        &[
            r#"spec.validation.hostname: Invalid value: "integer": spec.validation.hostname in body must be of type string: "integer""#,
        ],
    );
    assert_errors(
        &with(&[(
            "/spec/targetRefs",
            json!({"group": "", "kind": "Service", "name": "a"}),
        )]),
        &defaults(),
        &[
            r#"spec.targetRefs: Invalid value: "object": spec.targetRefs in body must be of type array: "object""#,
        ],
    );
    assert_errors(
        &with(&[("/spec", json!("text"))]),
        &defaults(),
        &[r#"spec: Invalid value: "string": spec in body must be of type object: "string""#],
    );
    let report = run(
        &with(&[("/spec/targetRefs/0/name", json!(["a"]))]),
        &defaults(),
    );
    assert_eq!(
        errors(&report),
        [
            r#"spec.targetRefs[0].name: Invalid value: "array": spec.targetRefs[0].name in body must be of type string: "array""#
        ]
    );
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains("some validation rules were not checked"))
    );
}

#[test]
fn target_ref_limits() {
    assert_errors(
        &with(&[("/spec/targetRefs", json!([]))]),
        &defaults(),
        &[
            "spec.targetRefs: Invalid value: 0: spec.targetRefs in body should have at least 1 items",
        ],
    );
    let many: Vec<Value> = (0..17).map(|i| json!({"group": "", "kind": "Service", "name": format!("payments-backend"), "sectionName": format!("p{i}")})).collect();
    let report = run(
        &with(&[("/spec/targetRefs", Value::Array(many))]),
        &defaults(),
    );
    assert_eq!(
        errors(&report),
        ["spec.targetRefs: Too many: 17: must have at most 16 items"]
    );
    let sixteen: Vec<Value> = (0..16).map(|i| json!({"group": "", "kind": "Service", "name": "payments-backend", "sectionName": format!("p{i}")})).collect();
    assert!(
        run(
            &with(&[("/spec/targetRefs", Value::Array(sixteen))]),
            &defaults()
        )
        .is_allowed()
    );
    assert_errors(
        &with(&[("/spec/targetRefs/0/name", json!(""))]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].name: Invalid value: "": spec.targetRefs[0].name in body should be at least 1 chars long"#,
        ],
    );
    let long = "a".repeat(254);
    assert_errors(
        &with(&[("/spec/targetRefs/0/name", json!(long))]),
        &defaults(),
        &["spec.targetRefs[0].name: Too long: may not be more than 253 bytes"],
    );
    assert_errors(
        &with(&[("/spec/targetRefs/0/sectionName", json!("HTTPS"))]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].sectionName: Invalid value: "HTTPS": spec.targetRefs[0].sectionName in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"#,
        ],
    );
}

#[test]
fn targets_are_core_services_unless_allowed() {
    assert_errors(
        &with(&[
            (
                "/spec/targetRefs/0/group",
                json!("gateway.networking.k8s.io"),
            ),
            ("/spec/targetRefs/0/kind", json!("Gateway")),
        ]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].kind: Unsupported value: "gateway.networking.k8s.io/Gateway": supported values: "Service""#,
        ],
    );
    let import = with(&[
        ("/spec/targetRefs/0/group", json!("multicluster.x-k8s.io")),
        ("/spec/targetRefs/0/kind", json!("ServiceImport")),
    ]);
    let allowed = Settings {
        extra_target_kinds: vec![
            "multicluster.x-k8s.io/ServiceImport"
                .parse()
                .expect("group/kind"),
        ],
        ..Settings::default()
    };
    assert!(run(&import, &allowed).is_allowed());
    assert_errors(
        &import,
        &defaults(),
        &[
            r#"spec.targetRefs[0].kind: Unsupported value: "multicluster.x-k8s.io/ServiceImport": supported values: "Service""#,
        ],
    );
}

#[test]
fn target_typos_are_named() {
    assert_errors(
        &with(&[("/spec/targetRefs/0/group", json!("core"))]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].group: Invalid value: "core": the core API group is written as "" (an empty string), not "core""#,
        ],
    );
    assert_errors(
        &with(&[("/spec/targetRefs/0/kind", json!("service"))]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].kind: Invalid value: "service": kinds are case-sensitive: did you mean "Service"?"#,
        ],
    );
    assert_errors(
        &with(&[
            ("/spec/targetRefs/0/group", json!("core")),
            ("/spec/targetRefs/0/kind", json!("SERVICE")),
        ]),
        &defaults(),
        &[
            r#"spec.targetRefs[0].group: Invalid value: "core": the core API group is written as "" (an empty string), not "core""#,
            r#"spec.targetRefs[0].kind: Invalid value: "SERVICE": kinds are case-sensitive: did you mean "Service"?"#,
        ],
    );
}

#[test]
fn references_are_same_namespace_only() {
    assert_errors(
        &with(&[("/spec/targetRefs/0/namespace", json!("other"))]),
        &defaults(),
        &[
            "spec.targetRefs[0].namespace: Forbidden: cross-namespace references are not allowed: targets and CA certificates must be in the policy's namespace",
        ],
    );
    assert_errors(
        &with(&[(
            "/spec/validation/caCertificateRefs/0/namespace",
            json!("other"),
        )]),
        &defaults(),
        &[
            "spec.validation.caCertificateRefs[0].namespace: Forbidden: cross-namespace references are not allowed: targets and CA certificates must be in the policy's namespace",
        ],
    );
    assert_warns(
        &with(&[("/spec/targetRefs/0/name", json!("other/payments-backend"))]),
        &defaults(),
        "looks like namespace/name",
    );
    assert_warns(
        &with(&[(
            "/spec/validation/caCertificateRefs/0/name",
            json!("other/payments-backend-ca"),
        )]),
        &Settings {
            missing_refs: Enforcement::Warn,
            ..Settings::default()
        },
        "looks like namespace/name",
    );
}

#[test]
fn target_cel_rules() {
    let t1 = json!([{"group": "", "kind": "Service", "name": "payments-backend"}, {"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}]);
    assert_errors(
        &with(&[("/spec/targetRefs", t1)]),
        &defaults(),
        &[
            "spec.targetRefs: Invalid value: sectionName must be specified when targetRefs includes 2 or more references to the same target",
        ],
    );
    let t2 = json!([{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}, {"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}]);
    assert_errors(
        &with(&[("/spec/targetRefs", t2)]),
        &defaults(),
        &[
            "spec.targetRefs: Invalid value: sectionName must be unique when targetRefs includes 2 or more references to the same target",
        ],
    );
    let ok = json!([{"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "https"}, {"group": "", "kind": "Service", "name": "payments-backend", "sectionName": "dns"}]);
    assert_warns(
        &with(&[("/spec/targetRefs", ok)]),
        &defaults(),
        "SHOULD NOT support more than one targetRef",
    );
}

#[test]
fn several_targets_warn_or_fail_when_strict() {
    let two = json!([{"group": "", "kind": "Service", "name": "payments-backend"}, {"group": "", "kind": "Service", "name": "other"}]);
    let policy = with(&[("/spec/targetRefs", two)]);
    assert_warns(
        &policy,
        &defaults(),
        "2 targets: implementations SHOULD NOT support more than one targetRef",
    );
    assert_errors(
        &policy,
        &strict(),
        &[
            "spec.targetRefs: Too many: 2: must have at most 1 items (--strict: implementations SHOULD NOT support more than one targetRef (Gateway API v1.5+))",
        ],
    );
}

#[test]
fn hostname_rules() {
    let host = |h: &str| with(&[("/spec/validation/hostname", json!(h))]);
    let pattern = r"'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'";
    assert_errors(
        &host("10.0.0.7"),
        &defaults(),
        &[
            r#"spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address"#,
        ],
    );
    assert_errors(
        &host("::1"),
        &defaults(),
        &[
            &format!(
                r#"spec.validation.hostname: Invalid value: "::1": spec.validation.hostname in body should match {pattern}"#
            ),
            r#"spec.validation.hostname: Invalid value: "::1": must be a DNS name, not an IP address"#,
        ],
    );
    assert_errors(
        &host("*.example.com"),
        &defaults(),
        &[
            &format!(
                r#"spec.validation.hostname: Invalid value: "*.example.com": spec.validation.hostname in body should match {pattern}"#
            ),
            r#"spec.validation.hostname: Invalid value: "*.example.com": wildcards are not allowed: hostname is the exact SNI name sent to the backend"#,
        ],
    );
    let long_label = format!("{}.example", "a".repeat(64));
    assert_errors(
        &host(&long_label),
        &defaults(),
        &[&format!(
            r#"spec.validation.hostname: Invalid value: "{long_label}": each DNS label must be no more than 63 characters (label of 64 characters)"#
        )],
    );
    assert!(run(&host(&format!("{}.example", "a".repeat(63))), &defaults()).is_allowed());
    assert_errors(
        &host("Payments.example"),
        &defaults(),
        &[&format!(
            r#"spec.validation.hostname: Invalid value: "Payments.example": spec.validation.hostname in body should match {pattern}"#
        )],
    );
    assert_errors(
        &host("a.example\n"),
        &defaults(),
        &[&format!(
            r#"spec.validation.hostname: Invalid value: "a.example\n": spec.validation.hostname in body should match {pattern}"#
        )],
    );
    let max = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
    assert_eq!(max.len(), 253);
    assert!(run(&host(&max), &defaults()).is_allowed());
    assert_errors(
        &host(&format!("{max}b")),
        &defaults(),
        &["spec.validation.hostname: Too long: may not be more than 253 bytes"],
    );
    // The apiserver's schema validator (kube-openapi's stringValidator) reports the first of
    // maxLength, minLength and pattern that fails: an empty hostname gets the length error
    // only, and a long one that also breaks the pattern gets "Too long" only.
    assert_errors(
        &host(""),
        &defaults(),
        &[
            r#"spec.validation.hostname: Invalid value: "": spec.validation.hostname in body should be at least 1 chars long"#,
        ],
    );
    assert_errors(
        &host(&format!("{max}_")),
        &defaults(),
        &["spec.validation.hostname: Too long: may not be more than 253 bytes"],
    );
}

#[test]
fn ca_refs_xor_well_known() {
    assert_errors(
        &with(&[("/spec/validation/wellKnownCACertificates", json!("System"))]),
        &defaults(),
        &[
            "spec.validation: Invalid value: must not contain both CACertificateRefs and WellKnownCACertificates",
        ],
    );
    assert_errors(
        &with(&[("/spec/validation/caCertificateRefs", json!([]))]),
        &defaults(),
        &[
            "spec.validation: Invalid value: must specify either CACertificateRefs or WellKnownCACertificates",
        ],
    );
    let system = with(&[
        ("/spec/validation/caCertificateRefs", Value::Null),
        ("/spec/validation/wellKnownCACertificates", json!("System")),
    ]);
    let report = run(&system, &defaults());
    assert!(
        report.is_allowed() && report.warnings.is_empty(),
        "{report:#?}"
    );
}

#[test]
fn well_known_values() {
    let value = |v: &str| {
        with(&[
            ("/spec/validation/caCertificateRefs", Value::Null),
            ("/spec/validation/wellKnownCACertificates", json!(v)),
        ])
    };
    let report = run(&value("system"), &defaults());
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().starts_with(r#"spec.validation.wellKnownCACertificates: Invalid value: "system": spec.validation.wellKnownCACertificates in body should match '^(System|"#));
    assert_warns(
        &value("example.com/corporate-roots"),
        &defaults(),
        "is implementation-specific",
    );
    assert!(!run(&value("example.com/a/b"), &defaults()).is_allowed());
}

fn profiled(profile: profile::Profile) -> Settings {
    Settings {
        profile: Arc::new(profile),
        ..Settings::default()
    }
}

#[test]
fn an_implementation_that_reads_any_well_known_value_as_system_warns_on_the_others() {
    let value = |v: &str| {
        with(&[
            ("/spec/validation/caCertificateRefs", Value::Null),
            ("/spec/validation/wellKnownCACertificates", json!(v)),
        ])
    };
    let traefik = profiled(profile::TRAEFIK);
    assert_warns(
        &value("example.com/corporate-roots"),
        &traefik,
        r#"uses the system trust store for any value: "example.com/corporate-roots" means System"#,
    );
    let system = run(&value("System"), &traefik);
    assert!(
        !warnings(&system)
            .iter()
            .any(|w| w.contains("system trust store for any value")),
        "{:#?}",
        warnings(&system)
    );
}

#[test]
fn group_core_is_the_core_group_only_where_the_implementation_reads_it_so() {
    let core_group = with(&[(
        "/spec/validation/caCertificateRefs",
        json!([{"group": "core", "kind": "ConfigMap", "name": "payments-backend-ca"}]),
    )]);
    assert_warns(
        &core_group,
        &profiled(profile::ENVOY_GATEWAY),
        r#"reads group "core" as the core group, the API and other implementations do not: write """#,
    );
    // The core profile (the API) does not: the reference is of an unsupported kind.
    assert!(!run(&core_group, &defaults()).is_allowed());
    // Written "", there is nothing to say.
    let report = run(&base(), &profiled(profile::ENVOY_GATEWAY));
    assert!(
        !warnings(&report)
            .iter()
            .any(|w| w.contains("as the core group")),
        "{:#?}",
        warnings(&report)
    );
}

#[test]
fn a_reference_of_a_kind_not_read_beside_one_that_is_is_ignored_with_a_warning() {
    let refs = |kinds: &[(&str, &str)]| {
        let list: Vec<Value> = kinds
            .iter()
            .map(|(group, kind)| json!({"group": group, "kind": kind, "name": "payments-backend-ca"}))
            .collect();
        with(&[("/spec/validation/caCertificateRefs", json!(list))])
    };
    let eg = profiled(profile::ENVOY_GATEWAY);
    let mixed = refs(&[("", "ConfigMap"), ("example.com", "Vault")]);
    assert_warns(
        &mixed,
        &eg,
        "ignores this reference without a condition: it reads",
    );
    // Alone, the kind is not ignored but refused.
    assert!(!run(&refs(&[("example.com", "Vault")]), &eg).is_allowed());
}

#[test]
fn option_keys_a_profile_lists_are_read_and_the_others_are_without_effect() {
    let listed = profile::Profile {
        options: profile::OptionsSupport::Keys(std::borrow::Cow::Owned(vec![
            profile::Text::Borrowed("example.com/min-version"),
        ])),
        ..profile::CORE
    };
    let settings = profiled(listed);
    let option = |k: &str| with(&[("/spec/options", json!({k: "1.3"}))]);
    assert!(
        run(&option("example.com/min-version"), &settings)
            .warnings
            .is_empty()
    );
    assert_warns(
        &option("example.com/other"),
        &settings,
        "does not read this option: it is without effect",
    );
}

#[test]
fn ca_ref_limits_and_kinds() {
    let refs: Vec<Value> = (0..9)
        .map(|i| json!({"group": "", "kind": "ConfigMap", "name": format!("ca-{i}")}))
        .collect();
    let report = run(
        &with(&[("/spec/validation/caCertificateRefs", Value::Array(refs))]),
        &defaults(),
    );
    assert_eq!(
        errors(&report),
        ["spec.validation.caCertificateRefs: Too many: 9: must have at most 8 items"]
    );
    let secret = with(&[("/spec/validation/caCertificateRefs/0/kind", json!("Secret"))]);
    assert_errors(
        &secret,
        &defaults(),
        &[
            r#"spec.validation.caCertificateRefs[0].kind: Unsupported value: "Secret": supported values: "ConfigMap" (ResolvedRefs=False, InvalidKind)"#,
        ],
    );
    let lenient = Settings {
        invalid_refs: Enforcement::Warn,
        ..Settings::default()
    };
    assert_warns(&secret, &lenient, "InvalidKind");
    assert_errors(
        &with(&[("/spec/validation/caCertificateRefs/0/group", json!("core"))]),
        &defaults(),
        &[
            r#"spec.validation.caCertificateRefs[0].group: Invalid value: "core": the core API group is written as "" (an empty string), not "core" (ResolvedRefs=False, InvalidKind)"#,
        ],
    );
    assert_errors(
        &with(&[(
            "/spec/validation/caCertificateRefs/0/kind",
            json!("configmap"),
        )]),
        &defaults(),
        &[
            r#"spec.validation.caCertificateRefs[0].kind: Invalid value: "configmap": kinds are case-sensitive: did you mean "ConfigMap"? (ResolvedRefs=False, InvalidKind)"#,
        ],
    );
    // The same hints as for targets: any case of "core", and both mistakes at once.
    assert_errors(
        &with(&[
            ("/spec/validation/caCertificateRefs/0/group", json!("Core")),
            (
                "/spec/validation/caCertificateRefs/0/kind",
                json!("configmap"),
            ),
        ]),
        &defaults(),
        &[
            r#"spec.validation.caCertificateRefs[0].group: Invalid value: "Core": spec.validation.caCertificateRefs[0].group in body should match '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"#,
            r#"spec.validation.caCertificateRefs[0].group: Invalid value: "Core": the core API group is written as "" (an empty string), not "core" (ResolvedRefs=False, InvalidKind)"#,
            r#"spec.validation.caCertificateRefs[0].kind: Invalid value: "configmap": kinds are case-sensitive: did you mean "ConfigMap"? (ResolvedRefs=False, InvalidKind)"#,
        ],
    );
}

#[test]
fn duplicates_warn_or_fail_when_strict() {
    let refs = json!([{"group": "", "kind": "ConfigMap", "name": "payments-backend-ca"}, {"group": "", "kind": "ConfigMap", "name": "payments-backend-ca"}]);
    let policy = with(&[("/spec/validation/caCertificateRefs", refs)]);
    assert_warns(
        &policy,
        &defaults(),
        "spec.validation.caCertificateRefs[1]: duplicate CA certificate reference: same as item 0",
    );
    assert_errors(
        &policy,
        &strict(),
        &["spec.validation.caCertificateRefs[1]: Duplicate value: same as item 0"],
    );
    let sans = json!([{"type": "Hostname", "hostname": "a.example"}, {"type": "Hostname", "hostname": "a.example"}]);
    let policy = with(&[("/spec/validation/subjectAltNames", sans)]);
    assert_warns(
        &policy,
        &defaults(),
        "spec.validation.subjectAltNames[1]: duplicate subjectAltName: same as item 0",
    );
    assert!(!run(&policy, &strict()).is_allowed());
}

#[test]
fn subject_alt_name_rules() {
    let san = |s: Value| with(&[("/spec/validation/subjectAltNames", json!([s]))]);
    assert_errors(
        &san(json!({"type": "DNS", "hostname": "a.example"})),
        &defaults(),
        &[
            r#"spec.validation.subjectAltNames[0]: Invalid value: SubjectAltName element must not contain Hostname, if Type is not set to Hostname"#,
            r#"spec.validation.subjectAltNames[0].type: Unsupported value: "DNS": supported values: "Hostname", "URI""#,
        ],
    );
    assert_errors(
        &san(json!({"type": "Hostname"})),
        &defaults(),
        &[
            "spec.validation.subjectAltNames[0]: Invalid value: SubjectAltName element must contain Hostname, if Type is set to Hostname",
        ],
    );
    assert_errors(
        &san(json!({"type": "URI", "hostname": "a.example"})),
        &defaults(),
        &[
            "spec.validation.subjectAltNames[0]: Invalid value: SubjectAltName element must not contain Hostname, if Type is not set to Hostname",
            "spec.validation.subjectAltNames[0]: Invalid value: SubjectAltName element must contain URI, if Type is set to URI",
        ],
    );
    assert_errors(
        &san(json!({"type": "Hostname", "hostname": "a.example", "uri": "spiffe://a/b"})),
        &defaults(),
        &[
            "spec.validation.subjectAltNames[0]: Invalid value: SubjectAltName element must not contain URI, if Type is not set to URI",
        ],
    );
    assert_errors(
        &san(json!({"type": "Hostname", "hostname": "10.1.2.3"})),
        &defaults(),
        &[
            r#"spec.validation.subjectAltNames[0].hostname: Invalid value: "10.1.2.3": must be a DNS name, not an IP address"#,
        ],
    );
    assert_warns(
        &san(json!({"type": "Hostname", "hostname": "*.shop.svc"})),
        &defaults(),
        "wildcard SAN hostnames",
    );
    assert!(
        !run(
            &san(json!({"type": "Hostname", "hostname": "*.shop.svc"})),
            &strict()
        )
        .is_allowed()
    );
    assert_errors(
        &san(json!({"type": "URI", "uri": "spiffe:///ns/shop"})),
        &defaults(),
        &[
            r#"spec.validation.subjectAltNames[0].uri: Invalid value: "spiffe:///ns/shop": must have a non-empty authority (scheme://host/...), as RFC 3986 absolute URIs for SANs do"#,
        ],
    );
    assert_errors(
        &san(json!({"type": "URI", "uri": "spiffe://a/b c"})),
        &defaults(),
        &[
            r#"spec.validation.subjectAltNames[0].uri: Invalid value: "spiffe://a/b c": must not contain spaces or control characters (RFC 3986); percent-encode them"#,
        ],
    );
    assert_errors(
        &san(json!({"type": "URI", "uri": "urn:example:x"})),
        &defaults(),
        &[
            r#"spec.validation.subjectAltNames[0].uri: Invalid value: "urn:example:x": spec.validation.subjectAltNames[0].uri in body should match '^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?'"#,
        ],
    );
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"type": "Hostname", "hostname": format!("h{i}.example")}))
        .collect();
    assert_errors(
        &with(&[("/spec/validation/subjectAltNames", Value::Array(six))]),
        &defaults(),
        &["spec.validation.subjectAltNames: Too many: 6: must have at most 5 items"],
    );
}

#[test]
fn option_rules() {
    let option = |k: &str, v: &str| with(&[("/spec/options", json!({k: v}))]);
    assert!(
        run(&option("example.com/min-version", "1.3"), &defaults())
            .warnings
            .is_empty()
    );
    assert_warns(
        &option("min-version", "1.3"),
        &defaults(),
        "un-prefixed option keys are reserved",
    );
    assert!(!run(&option("min-version", "1.3"), &strict()).is_allowed());
    let report = run(&option("Example.com/x", "1"), &defaults());
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().starts_with(r#"spec.options[Example.com/x]: Invalid value: "Example.com/x": option keys must be qualified names: prefix part"#));
    assert!(!run(&option("a b", "1"), &defaults()).is_allowed());
    assert!(
        !run(
            &option(&format!("example.com/{}", "n".repeat(64)), "1"),
            &defaults()
        )
        .is_allowed()
    );
    assert!(run(&option("example.com/x", &"v".repeat(4096)), &defaults()).is_allowed());
    assert_errors(
        &option("example.com/x", &"v".repeat(4097)),
        &defaults(),
        &["spec.options[example.com/x]: Too long: may not be more than 4096 bytes"],
    );
    let many: serde_json::Map<String, Value> = (0..17)
        .map(|i| (format!("example.com/k{i}"), json!("v")))
        .collect();
    assert_errors(
        &with(&[("/spec/options", Value::Object(many))]),
        &defaults(),
        &["spec.options: Too many: 17: must have at most 16 items"],
    );
    assert_errors(
        &with(&[("/spec/options", json!({"example.com/x": 5}))]),
        &defaults(),
        &[
            r#"spec.options[example.com/x]: Invalid value: "integer": spec.options[example.com/x] in body must be of type string: "integer""#,
        ],
    );
}

#[test]
fn object_names_are_dns_subdomains() {
    let report = run(
        &with(&[("/metadata/name", json!("Payments_TLS"))]),
        &defaults(),
    );
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().starts_with(
        r#"metadata.name: Invalid value: "Payments_TLS": a lowercase RFC 1123 subdomain"#
    ));
    // Too long but well-formed: the apiserver's length message alone.
    let long = "a".repeat(254);
    let report = run(&with(&[("/metadata/name", json!(long))]), &defaults());
    assert_eq!(
        errors(&report),
        [format!(
            r#"metadata.name: Invalid value: "{long}": must be no more than 253 characters"#
        )]
    );
    let report = run(
        &with(&[("/metadata/name", json!("a".repeat(253)))]),
        &defaults(),
    );
    assert!(report.is_allowed(), "{:?}", errors(&report));
}

#[test]
fn unknown_fields_warn_by_default_and_fail_offline() {
    let policy = with(&[
        ("/spec/targetRefs/0/port", json!(443)),
        ("/spec/targetRef", json!({})),
    ]);
    let report = run(&policy, &defaults());
    assert!(report.is_allowed());
    assert_eq!(
        warnings(&report),
        [
            "spec.targetRef: unknown field, ignored (pruned by the apiserver): v1alpha2 shape; v1 uses spec.targetRefs (a list)",
            "spec.targetRefs[0].port: unknown field, ignored (pruned by the apiserver): select a Service port by name with sectionName",
        ]
    );
    // They are about a field's name, the other warnings about values.
    assert!(
        report
            .warnings
            .iter()
            .all(|w| w.kind == WarningKind::UnknownField)
    );
    let mut missing_ca = policy.clone();
    missing_ca["spec"]["validation"]["caCertificateRefs"][0]["name"] = json!("not-there");
    let report = run(&missing_ca, &defaults());
    let kinds: Vec<WarningKind> = report.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        [
            WarningKind::UnknownField,
            WarningKind::UnknownField,
            WarningKind::Value
        ],
        "{:?}",
        warnings(&report)
    );
    let offline = Settings {
        unknown_fields: Enforcement::Deny,
        ..Settings::default()
    };
    assert_errors(
        &policy,
        &offline,
        &[
            "spec.targetRef: Forbidden: unknown field: v1alpha2 shape; v1 uses spec.targetRefs (a list)",
            "spec.targetRefs[0].port: Forbidden: unknown field: select a Service port by name with sectionName",
        ],
    );
}

#[test]
fn status_is_ignored_on_the_main_resource_and_checked_on_the_subresource() {
    let policy = with(&[("/status", json!({"ancestors": "nonsense"}))]);
    assert!(run(&policy, &defaults()).is_allowed());
    let change = PolicyChange {
        object: &policy,
        old_object: None,
        operation: Operation::Update,
        subresource: Some("status"),
        namespace: "shop",
    };
    let report = super::policy(&change, &snapshot(), &defaults(), NOW);
    assert_eq!(
        errors(&report),
        [
            r#"status.ancestors: Invalid value: "string": status.ancestors in body must be of type array: "string""#
        ]
    );
    let good = with(&[(
        "/status",
        json!({"ancestors": [{"ancestorRef": {"name": "gw", "namespace": "shop"}, "controllerName": "example.com/gateway", "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": "2026-06-01T00:00:00Z", "observedGeneration": 1}
        ]}]}),
    )]);
    let change = PolicyChange {
        object: &good,
        ..change
    };
    assert!(super::policy(&change, &snapshot(), &defaults(), NOW).is_allowed());
}

#[test]
fn missing_config_maps_warn_or_deny() {
    let policy = with(&[("/spec/validation/caCertificateRefs/0/name", json!("nope"))]);
    assert_warns(
        &policy,
        &defaults(),
        r#"spec.validation.caCertificateRefs[0]: ConfigMap "nope" not found in "shop""#,
    );
    let deny = Settings {
        missing_refs: Enforcement::Deny,
        ..Settings::default()
    };
    assert_errors(
        &policy,
        &deny,
        &[
            r#"spec.validation.caCertificateRefs[0]: Not found: "nope": ConfigMap "nope" not found in "shop": ResolvedRefs=False until created"#,
        ],
    );
}

#[test]
fn config_maps_without_ca_crt_are_missing() {
    let mut snap = snapshot();
    snap.config_maps.insert(
        "payments-backend-ca".into(),
        ConfigMapEntry {
            ca_crt: None,
            binary_ca_crt: true,
            ..Default::default()
        },
    );
    let object = base();
    let change = PolicyChange::create(&object, "shop");
    let report = policy(&change, &snap, &defaults(), NOW);
    assert!(report.is_allowed());
    assert_eq!(
        warnings(&report),
        [
            r#"spec.validation.caCertificateRefs[0]: ConfigMap "payments-backend-ca" has no key "ca.crt" in data: it is in binaryData, but implementations read PEM text from data"#
        ]
    );
    let deny = Settings {
        missing_refs: Enforcement::Deny,
        ..Settings::default()
    };
    assert!(!policy(&change, &snap, &deny, NOW).is_allowed());
}

#[test]
fn broken_bundles_deny_by_default() {
    for text in ["", "garbage", EXPIRED_CA] {
        let mut snap = snapshot();
        snap.config_maps
            .insert("payments-backend-ca".into(), ca(text));
        let object = base();
        let change = PolicyChange::create(&object, "shop");
        let report = policy(&change, &snap, &defaults(), NOW);
        assert!(!report.is_allowed(), "{text:?}");
        assert!(
            errors(&report)[0].starts_with(r#"spec.validation.caCertificateRefs[0]: Invalid value: ConfigMap "payments-backend-ca" ca.crt: "#),
            "{:?}",
            errors(&report)
        );
        let lenient = Settings {
            invalid_refs: Enforcement::Warn,
            ..Settings::default()
        };
        let report = policy(&change, &snap, &lenient, NOW);
        assert!(report.is_allowed());
        assert!(!report.warnings.is_empty());
    }
}

#[test]
fn service_checks_warn() {
    assert_warns(
        &with(&[("/spec/targetRefs/0/name", json!("ghost"))]),
        &defaults(),
        r#"spec.targetRefs[0]: Service "ghost" not found in "shop""#,
    );
    assert_warns(
        &with(&[("/spec/targetRefs/0/sectionName", json!("grpc"))]),
        &defaults(),
        r#"spec.targetRefs[0].sectionName: Service "payments-backend" has no port "grpc" (ports: "https", "dns")"#,
    );
    assert_warns(
        &with(&[("/spec/targetRefs/0/sectionName", json!("dns"))]),
        &defaults(),
        "is UDP",
    );
}

#[test]
fn a_service_whose_every_port_is_udp_warns_without_a_section() {
    let target = |protocol: &str| {
        let mut snapshot = snapshot();
        snapshot.services.insert(
            "payments-backend".into(),
            ServiceEntry {
                ports: vec![
                    snapshot::ServicePort::new(Some("dns"), Some(protocol)),
                    snapshot::ServicePort::new(Some("dns-2"), Some(protocol)),
                ],
            },
        );
        let object = with(&[("/spec/targetRefs/0/sectionName", Value::Null)]);
        let change = PolicyChange::create(&object, "shop");
        warnings(&policy(&change, &snapshot, &defaults(), NOW))
    };
    assert_eq!(
        target("UDP"),
        [
            r#"spec.targetRefs[0]: every port of Service "payments-backend" is UDP: TLS needs TCP (Accepted=False, Invalid)"#
        ]
    );
    assert_eq!(target("TCP"), Vec::<String>::new());
}

#[test]
fn a_section_on_a_service_without_named_ports_says_so() {
    let mut snapshot = snapshot();
    snapshot.services.insert(
        "payments-backend".into(),
        ServiceEntry {
            ports: vec![snapshot::ServicePort::new(None, None)],
        },
    );
    let object = with(&[("/spec/targetRefs/0/sectionName", json!("https"))]);
    let change = PolicyChange::create(&object, "shop");
    assert_eq!(
        warnings(&policy(&change, &snapshot, &defaults(), NOW)),
        [
            r#"spec.targetRefs[0].sectionName: Service "payments-backend" has no port "https" (ports: none named): not attached"#
        ]
    );
}

#[test]
fn v1alpha2_and_misplaced_field_names_get_a_hint() {
    let policy = with(&[
        ("/spec/validation/caCertRefs", json!([])),
        ("/spec/validation/wellKnownCACerts", json!("System")),
        ("/spec/hostname", json!("payments.shop.svc")),
    ]);
    let report = run(&policy, &defaults());
    assert!(report.is_allowed(), "{:?}", errors(&report));
    assert_eq!(
        warnings(&report),
        [
            "spec.hostname: unknown field, ignored (pruned by the apiserver): hostname belongs under spec.validation",
            "spec.validation.caCertRefs: unknown field, ignored (pruned by the apiserver): v1alpha2 name; v1 uses caCertificateRefs",
            "spec.validation.wellKnownCACerts: unknown field, ignored (pruned by the apiserver): v1alpha2 name; v1 uses wellKnownCACertificates",
        ]
    );
    // A name close to a declared field of the same object names it; one that is not gets no
    // hint.
    let report = run(
        &with(&[
            ("/spec/validation/hostnames", json!([])),
            ("/spec/validation/subjectAltName", json!([])),
            ("/spec/targetRefs/0/Kind", json!("Service")),
            ("/spec/validation/sni", json!("a")),
        ]),
        &defaults(),
    );
    assert_eq!(
        warnings(&report),
        [
            r#"spec.targetRefs[0].Kind: unknown field, ignored (pruned by the apiserver): did you mean "kind"?"#,
            r#"spec.validation.hostnames: unknown field, ignored (pruned by the apiserver): did you mean "hostname"?"#,
            "spec.validation.sni: unknown field, ignored (pruned by the apiserver)",
            r#"spec.validation.subjectAltName: unknown field, ignored (pruned by the apiserver): did you mean "subjectAltNames"?"#,
        ]
    );
    // Offline (`validate`), the same field is an error with the same hint.
    let offline = Settings {
        unknown_fields: Enforcement::Deny,
        ..defaults()
    };
    let report = run(
        &with(&[("/spec/validation/subjectAltName", json!([]))]),
        &offline,
    );
    assert_eq!(
        errors(&report),
        [
            r#"spec.validation.subjectAltName: Forbidden: unknown field: did you mean "subjectAltNames"?"#
        ]
    );
}

fn rival(name: &str, created: i64, section: Option<&str>) -> Arc<PolicySummary> {
    Arc::new(PolicySummary {
        namespace: "shop".into(),
        name: name.into(),
        created: Some(created),
        targets: vec![TargetKey {
            group: String::new(),
            kind: "Service".into(),
            name: "payments-backend".into(),
            section: section.map(str::to_owned),
        }],
        ..Default::default()
    })
}

#[test]
fn conflicting_policies_warn_and_name_the_winner() {
    let object = base();
    let change = PolicyChange::create(&object, "shop");
    let jan_2026 = 1_767_225_600;
    let older = Settings::default();
    for (other, fragment) in [
        (
            rival("aaa-older", jan_2026 - 10, Some("https")),
            "shop/aaa-older is older and wins: this policy will be Accepted=False (Conflicted)",
        ),
        (
            rival("zzz-newer", jan_2026 + 10, Some("https")),
            "this policy is older and wins: shop/zzz-newer will be Accepted=False (Conflicted)",
        ),
        (
            rival("aaa-same-time", jan_2026, Some("https")),
            "shop/aaa-same-time wins (same age, first by namespace/name): this policy will be",
        ),
        (
            rival("zzz-same-time", jan_2026, Some("https")),
            "this policy wins (same age, first by namespace/name): shop/zzz-same-time will be",
        ),
    ] {
        let mut snap = snapshot();
        snap.policies.push(other);
        let report = policy(&change, &snap, &older, NOW);
        assert!(report.is_allowed(), "conflicts never deny");
        assert!(
            warnings(&report).iter().any(|w| w.contains(fragment)),
            "{fragment}: {:#?}",
            warnings(&report)
        );
    }
    // Without a creation time on either side (files, `--objects`) or with equal ones, the first
    // by namespace/name wins, and exactly one of the two is told it wins, whichever is reviewed.
    let undated = |name: &str| {
        let mut summary = (*rival(name, 0, Some("https"))).clone();
        summary.created = None;
        summary
    };
    for own_created in [Some(jan_2026), None] {
        let mut verdicts = Vec::new();
        for (own_name, rival_name) in [("aaa", "bbb"), ("bbb", "aaa")] {
            // base() is created on 2026-01-01, as a request's object would be.
            let mut object = with(&[("/metadata/name", json!(own_name))]);
            if own_created.is_none() {
                object["metadata"]
                    .as_object_mut()
                    .expect("metadata")
                    .remove("creationTimestamp");
            }
            let change = PolicyChange::create(&object, "shop");
            let mut snap = snapshot();
            snap.policies.push(Arc::new(undated(rival_name)));
            let report = policy(&change, &snap, &older, NOW);
            let warning = warnings(&report)
                .into_iter()
                .find(|w| w.contains("also targets"))
                .expect("a conflict warning");
            verdicts.push((own_name, warning));
        }
        let winners: Vec<&str> = verdicts
            .iter()
            .filter(|(_, w)| w.contains("; this policy wins"))
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(winners, ["aaa"], "{verdicts:#?}");
        assert!(
            verdicts
                .iter()
                .all(|(_, w)| w
                    .contains("wins (no creation time to compare, first by namespace/name)")),
            "{verdicts:#?}"
        );
        assert!(
            verdicts[1].1.ends_with(
                "shop/aaa wins (no creation time to compare, first by namespace/name): this policy will be Accepted=False (Conflicted)"
            ),
            "{verdicts:#?}"
        );
    }
    // The policy under review without a creation time is not stored yet: a stored rival is
    // older (`validate --cluster` of a new policy).
    let mut object = base();
    object["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("creationTimestamp");
    let change = PolicyChange::create(&object, "shop");
    let mut snap = snapshot();
    snap.policies
        .push(rival("zzz-stored", jan_2026 + 10, Some("https")));
    let report = policy(&change, &snap, &older, NOW);
    assert!(
        warnings(&report).iter().any(|w| w.ends_with(
            "shop/zzz-stored is older and wins: this policy will be Accepted=False (Conflicted)"
        )),
        "{:#?}",
        warnings(&report)
    );
    let mut snap = snapshot();
    snap.policies
        .push(rival("whole-service", jan_2026 - 10, None));
    snap.policies
        .push(rival("payments-backend-tls", jan_2026 - 10, Some("https")));
    let report = policy(&change, &snap, &older, NOW);
    assert!(
        report.warnings.is_empty(),
        "a whole-Service policy and itself are not conflicts: {:#?}",
        warnings(&report)
    );
}

#[test]
fn ratcheting_lets_unchanged_violations_through() {
    let old = with(&[("/spec/validation/hostname", json!("10.0.0.7"))]);
    let relabelled = with(&[
        ("/spec/validation/hostname", json!("10.0.0.7")),
        ("/metadata/labels", json!({"team": "payments"})),
    ]);
    let update = |object: &Value| {
        let change = PolicyChange {
            object,
            old_object: Some(&old),
            operation: Operation::Update,
            subresource: None,
            namespace: "shop",
        };
        policy(&change, &snapshot(), &defaults(), NOW)
    };
    let report = update(&relabelled);
    assert!(report.is_allowed(), "{:#?}", errors(&report));
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains("not blocking: unchanged"))
    );
    let changed = with(&[("/spec/validation/hostname", json!("10.0.0.8"))]);
    assert!(!update(&changed).is_allowed());
}

#[test]
fn ratcheting_treats_lists_as_atomic() {
    let dup = json!([{"group": "", "kind": "Service", "name": "payments-backend"}, {"group": "", "kind": "Service", "name": "payments-backend"}]);
    let old = with(&[("/spec/targetRefs", dup.clone())]);
    let change_of = |object: &Value| {
        let change = PolicyChange {
            object,
            old_object: Some(&old),
            operation: Operation::Update,
            subresource: None,
            namespace: "shop",
        };
        policy(&change, &snapshot(), &defaults(), NOW).is_allowed()
    };
    assert!(change_of(&with(&[
        ("/spec/targetRefs", dup.clone()),
        ("/spec/validation/hostname", json!("other.example"))
    ])));
    let mut grown = dup;
    grown
        .as_array_mut()
        .expect("list")
        .push(json!({"group": "", "kind": "Service", "name": "x"}));
    assert!(!change_of(&with(&[("/spec/targetRefs", grown)])));
}

#[test]
fn all_violations_are_collected_in_document_order() {
    let policy = with(&[
        ("/spec/validation/hostname", json!("10.0.0.7")),
        ("/spec/targetRefs/0/kind", json!("service")),
        ("/metadata/name", json!("X")),
        ("/spec/validation/subjectAltNames", json!([{"type": "DNS"}])),
    ]);
    let report = run(&policy, &defaults());
    let fields: Vec<String> = report.errors.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.targetRefs[0].kind",
            "spec.validation.hostname",
            "spec.validation.subjectAltNames[0].type"
        ]
    );
    assert_eq!(report, run(&policy, &defaults()), "deterministic");
}

#[test]
fn group_kind_flags_parse() {
    assert_eq!("Service".parse::<GroupKind>(), Ok(GroupKind::service()));
    let import: GroupKind = "multicluster.x-k8s.io/ServiceImport"
        .parse()
        .expect("valid");
    assert_eq!(import.to_string(), "multicluster.x-k8s.io/ServiceImport");
    for bad in ["", "x/", "Bad_Group/Kind", "a/b c"] {
        assert!(bad.parse::<GroupKind>().is_err(), "{bad:?}");
    }
}

mod config_maps {
    use super::*;

    fn referrer() -> Snapshot {
        let mut snap = Snapshot::default();
        snap.policies.push(Arc::new(PolicySummary {
            namespace: "shop".into(),
            name: "payments-backend-tls".into(),
            created: None,
            targets: Vec::new(),
            ca_refs: vec![(CaKind::ConfigMap, "payments-backend-ca".into())],
        }));
        snap
    }

    fn config_map(ca: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "payments-backend-ca", "namespace": "shop"}, "data": {"ca.crt": ca}})
    }

    fn review(
        operation: Operation,
        object: Option<&Value>,
        old: Option<&Value>,
        snap: &Snapshot,
    ) -> Report {
        let change = CaObjectChange {
            kind: CaKind::ConfigMap,
            object,
            old_object: old,
            operation,
            namespace: "shop",
            name: "payments-backend-ca",
        };
        super::ca_object(&change, snap, &Settings::default(), NOW, |t| {
            ca(t).ca_crt.expect("text")
        })
    }

    #[test]
    fn unreferenced_config_maps_are_not_parsed() {
        let change = CaObjectChange {
            kind: CaKind::ConfigMap,
            object: Some(&config_map("garbage")),
            old_object: None,
            operation: Operation::Create,
            namespace: "shop",
            name: "payments-backend-ca",
        };
        let report = super::super::ca_object(
            &change,
            &Snapshot::default(),
            &Settings::default(),
            NOW,
            |_| panic!("parsed"),
        );
        assert!(report.is_allowed() && report.warnings.is_empty());
    }

    #[test]
    fn a_broken_referenced_bundle_is_denied_naming_the_policy() {
        let report = review(
            Operation::Update,
            Some(&config_map("garbage")),
            Some(&config_map(ROOT_CA)),
            &referrer(),
        );
        assert!(!report.is_allowed());
        let text = errors(&report).join("\n");
        assert!(text.starts_with("data[ca.crt]: Invalid value: "), "{text}");
        assert!(
            text.ends_with(
                " (this ConfigMap is the CA bundle of BackendTLSPolicy shop/payments-backend-tls)"
            ),
            "{text}"
        );
        assert!(
            review(
                Operation::Create,
                Some(&config_map(ROOT_CA)),
                None,
                &referrer()
            )
            .is_allowed()
        );
    }

    #[test]
    fn removing_ca_crt_is_a_missing_reference() {
        let without = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "payments-backend-ca"}, "data": {}});
        let report = review(
            Operation::Update,
            Some(&without),
            Some(&config_map(ROOT_CA)),
            &referrer(),
        );
        assert!(report.is_allowed());
        assert!(warnings(&report)[0].contains(r#"has no key "ca.crt" in data"#));
    }

    #[test]
    fn an_unchanged_broken_bundle_does_not_block_other_edits() {
        let old = config_map("garbage");
        let mut new = config_map("garbage");
        new["metadata"]["labels"] = json!({"a": "b"});
        assert!(review(Operation::Update, Some(&new), Some(&old), &referrer()).is_allowed());
    }

    #[test]
    fn deleting_a_referenced_bundle_warns() {
        let report = review(
            Operation::Delete,
            None,
            Some(&config_map(ROOT_CA)),
            &referrer(),
        );
        assert!(report.is_allowed());
        assert_eq!(
            warnings(&report),
            [
                "deleting the CA bundle of BackendTLSPolicy shop/payments-backend-tls: TLS to its backends fails (ResolvedRefs=False)"
            ]
        );
        assert!(
            review(
                Operation::Delete,
                None,
                Some(&config_map(ROOT_CA)),
                &Snapshot::default()
            )
            .warnings
            .is_empty()
        );
    }
}
