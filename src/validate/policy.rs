//! Rules on a BackendTLSPolicy that the CRD states only in prose, or that the spec discourages:
//! target kinds, cross-namespace references, hostnames, SANs, option keys, unknown fields.
//! They read the object leniently: a field of the wrong type was reported by the schema walk
//! and is skipped here.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::field::{
    BadValue, Echo, ErrorKind, FieldError, FieldPath, Quoted, Report, Segment, WarningKind,
};
use super::names;
use super::profile::{OptionsSupport, Profile, UnsupportedTarget, WellKnown, When};
use super::schema::UnknownField;
use super::{Enforcement, GroupKind, Settings};

/// Kubernetes' own object-name rule, which the apiserver applies before any webhook.
pub(crate) fn check_metadata(object: &Value, report: &mut Report) {
    let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    if name.is_empty() {
        return;
    }
    for problem in names::dns_subdomain_problems(name) {
        let path = FieldPath::root().field("metadata").field("name");
        report.error(FieldError::invalid_str(path, name, problem));
    }
}

/// Reports fields the schema does not declare (`omitted` more were counted but not recorded),
/// with a hint for the usual mistakes or else the declared field of the same object closest in
/// name (`did you mean "subjectAltNames"?`). A `namespace` inside a reference is an error
/// whatever the settings: the apiserver would drop it silently and the reference would resolve
/// in the policy's own namespace instead.
pub(crate) fn check_unknown_fields(
    unknown: &[UnknownField],
    omitted: usize,
    settings: &Settings,
    report: &mut Report,
) {
    for UnknownField { path, closest } in unknown {
        if super::schema::is_reference_namespace(path) {
            report.error_with(|| FieldError::forbidden(
                path.clone(),
                "cross-namespace references are not allowed: targets and CA certificates must be in the policy's namespace",
            ));
            continue;
        }
        let hint = || match (unknown_field_hint(path), closest) {
            ("", Some(closest)) => Cow::Owned(format!(": did you mean {}?", Quoted(closest))),
            (hint, _) => Cow::Borrowed(hint),
        };
        match settings.unknown_fields {
            Enforcement::Deny => report.error_with(|| {
                let detail = format!("unknown field{}", hint());
                FieldError::new(path.clone(), ErrorKind::Forbidden, BadValue::None, detail)
            }),
            Enforcement::Warn => report.warn_kind_with(WarningKind::UnknownField, || {
                let message = format!("unknown field, ignored (pruned by the apiserver){}", hint());
                (path.clone(), message)
            }),
        }
    }
    report.omit(settings.unknown_fields, omitted);
}

/// Hints for the usual mistakes: v1alpha2 field names and backendRef habits.
fn unknown_field_hint(path: &FieldPath) -> &'static str {
    let Some((Segment::Field(last), parent)) = path.segments().split_last() else {
        return "";
    };
    let named = |segment: &Segment, name: &str| matches!(segment, Segment::Field(f) if f == name);
    let (spec, validation) = match parent {
        [first, second, ..] => (named(first, "spec"), named(second, "validation")),
        [first] => (named(first, "spec"), false),
        [] => (false, false),
    };
    match (parent.len(), last.as_ref()) {
        (1, "targetRef") if spec => ": v1alpha2 shape; v1 uses spec.targetRefs (a list)",
        (1, "tls") if spec => ": v1alpha2 shape; v1 uses spec.validation",
        (2, "caCertRefs") if spec && validation => ": v1alpha2 name; v1 uses caCertificateRefs",
        (2, "wellKnownCACerts") if spec && validation => {
            ": v1alpha2 name; v1 uses wellKnownCACertificates"
        }
        (1, "hostname") if spec => ": hostname belongs under spec.validation",
        (_, "port") if in_target_ref(parent) => ": select a Service port by name with sectionName",
        _ => "",
    }
}

/// Whether `parent` is a `spec.targetRefs` item or lies below one.
fn in_target_ref(parent: &[Segment]) -> bool {
    matches!(parent, [Segment::Field(spec), Segment::Field(targets), Segment::Index(_), ..]
        if spec == "spec" && targets == "targetRefs")
}

/// Prose and discouraged-but-legal rules on `spec`.
pub(crate) fn check_spec(spec: &Map<String, Value>, settings: &Settings, report: &mut Report) {
    let profile = &settings.profile;
    for pitfall in profile.pitfalls_where(|w| *w == When::Always) {
        report.warn(FieldPath::root(), profile.pitfall_warning(pitfall));
    }
    let spec_path = FieldPath::root().field("spec");
    if let Some(targets) = spec.get("targetRefs").and_then(Value::as_array) {
        check_targets(targets, &spec_path.field("targetRefs"), settings, report);
    }
    if let Some(validation) = spec.get("validation").and_then(Value::as_object) {
        check_validation(validation, &spec_path.field("validation"), settings, report);
    }
    if let Some(options) = spec.get("options").and_then(Value::as_object) {
        check_options(options, &spec_path.field("options"), settings, report);
    }
}

fn check_targets(targets: &[Value], path: &FieldPath, settings: &Settings, report: &mut Report) {
    if targets.len() > 1 {
        let detail =
            "implementations SHOULD NOT support more than one targetRef (Gateway API v1.5+)";
        report.discouraged(
            settings.strict,
            FieldError::new(
                path.clone(),
                ErrorKind::TooMany,
                BadValue::Raw(targets.len().to_string()),
                format!("must have at most 1 items (--strict: {detail})"),
            ),
            format!("{} targets: {detail}", targets.len()),
        );
    }
    let profile = &*settings.profile;
    let allowed = settings.target_kinds();
    for (i, target) in targets.iter().enumerate() {
        let at = || path.index(i);
        let group = target.get("group").and_then(Value::as_str);
        let kind = target.get("kind").and_then(Value::as_str);
        if let (Some(group), Some(kind)) = (group, kind) {
            let read = profile.read_group(group);
            let aliased =
                read != group && allowed.iter().any(|k| k.group == read && k.kind == kind);
            if aliased {
                super::refs::warn_core_alias(group, profile, &at, report);
            }
            for pitfall in profile.pitfalls_where(
                |w| matches!(w, When::TargetKind(k) if k.group == group && k.kind == kind),
            ) {
                report.warn_with(|| (at(), profile.pitfall_warning(pitfall)));
            }
            let service = group.is_empty() && kind == "Service";
            if !aliased && !service {
                check_target_kind(group, kind, &allowed, profile, &at, report);
            }
        }
        if let Some(name) = target.get("name").and_then(Value::as_str)
            && name.contains('/')
        {
            let at = || path.index(i).field("name");
            warn_namespaced_name(name, kind.unwrap_or("object"), &at, report);
        }
    }
}

/// Targets are of the kinds the profile supports (core Services unless a profile says more),
/// and those the operator admitted (`allowed`). A kind the implementation ignores is a
/// warning. `path` builds the target's path, only when there is something to report and room
/// to report it.
fn check_target_kind(
    group: &str,
    kind: &str,
    allowed: &[GroupKind],
    profile: &Profile,
    path: &dyn Fn() -> FieldPath,
    report: &mut Report,
) {
    if allowed
        .iter()
        .any(|gk| gk.group == group && gk.kind == kind)
    {
        return;
    }
    if report_typos(group, kind, allowed, path, Enforcement::Deny, "", report) {
        return;
    }
    let value = || {
        GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        }
        .to_string()
    };
    let shown = || -> Vec<String> { allowed.iter().map(GroupKind::to_string).collect() };
    if profile.unsupported_target == UnsupportedTarget::Ignored {
        report.warn_with(|| {
            let message = format!(
                "{} ignores targets of kind {} without a condition (it supports {}): this policy has no effect on it",
                profile.label(),
                Quoted(&value()),
                shown().join(", ")
            );
            (path(), message)
        });
        return;
    }
    report.error_with(|| {
        let shown = shown();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        FieldError::not_supported(path().field("kind"), &value(), &shown)
    });
}

/// `group: core` and kinds in the wrong case are almost always typos: says what was meant
/// (both, when both are wrong) under `enforcement`, each detail followed by `suffix`. Whether
/// `group`/`kind` was such a typo of one of `allowed`.
pub(crate) fn report_typos(
    group: &str,
    kind: &str,
    allowed: &[GroupKind],
    path: &dyn Fn() -> FieldPath,
    enforcement: Enforcement,
    suffix: &str,
    report: &mut Report,
) -> bool {
    let core_meant = group.eq_ignore_ascii_case("core") || group == "v1";
    let Some(intended) = allowed.iter().find(|gk| {
        gk.kind.eq_ignore_ascii_case(kind)
            && (gk.group == group || (core_meant && gk.group.is_empty()))
    }) else {
        return false;
    };
    if intended.group != group {
        report.enforce_with(enforcement, || {
            FieldError::invalid_str(
                path().field("group"),
                group,
                format!(
                    r#"the core API group is written as "" (an empty string), not "core"{suffix}"#
                ),
            )
        });
    }
    if intended.kind != kind {
        report.enforce_with(enforcement, || {
            FieldError::invalid_str(
                path().field("kind"),
                kind,
                format!(
                    "kinds are case-sensitive: did you mean {}?{suffix}",
                    Quoted(&intended.kind)
                ),
            )
        });
    }
    true
}

fn warn_namespaced_name(name: &str, kind: &str, path: &dyn Fn() -> FieldPath, report: &mut Report) {
    if let Some((namespace, _)) = name.split_once('/') {
        report.warn_with(|| {
            let message = format!(
                "{} looks like namespace/name, but references are same-namespace only: no {} can have this name (namespace {} is ignored)",
                Quoted(name),
                Echo(kind),
                Quoted(namespace)
            );
            (path(), message)
        });
    }
}

fn check_validation(
    validation: &Map<String, Value>,
    path: &FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    if let Some(hostname) = validation.get("hostname").and_then(Value::as_str) {
        if hostname.starts_with("*.") || hostname == "*" {
            report.error(FieldError::invalid_str(
                path.field("hostname"),
                hostname,
                "wildcards are not allowed: hostname is the exact SNI name sent to the backend",
            ));
        }
        if let Some(problem) = dns_name_problem(hostname) {
            report.error(FieldError::invalid_str(
                path.field("hostname"),
                hostname,
                problem,
            ));
        }
    }
    if let Some(refs) = validation
        .get("caCertificateRefs")
        .and_then(Value::as_array)
    {
        let list = path.field("caCertificateRefs");
        for (i, reference) in refs.iter().enumerate() {
            if let Some(name) = reference.get("name").and_then(Value::as_str)
                && name.contains('/')
            {
                let kind = reference.get("kind").and_then(Value::as_str);
                let at = || list.index(i).field("name");
                warn_namespaced_name(name, kind.unwrap_or("ConfigMap"), &at, report);
            }
        }
        duplicates(refs, &list, "CA certificate reference", settings, report);
    }
    if let Some(sans) = validation.get("subjectAltNames").and_then(Value::as_array) {
        let list = path.field("subjectAltNames");
        if !sans.is_empty() {
            let profile = &settings.profile;
            for pitfall in profile.pitfalls_where(|w| *w == When::SubjectAltNames) {
                report.warn(list.clone(), profile.pitfall_warning(pitfall));
            }
        }
        for (i, san) in sans.iter().enumerate() {
            check_san(san, &list, i, settings, report);
        }
        duplicates(sans, &list, "subjectAltName", settings, report);
    }
    if let Some(well_known) = validation
        .get("wellKnownCACertificates")
        .and_then(Value::as_str)
    {
        check_well_known(
            well_known,
            &path.field("wellKnownCACertificates"),
            settings,
            report,
        );
    }
}

/// `wellKnownCACertificates`: a value the profile's implementation does not accept is an error
/// under `--invalid-refs`; without a stated list, values other than `System` are warned about.
fn check_well_known(value: &str, path: &FieldPath, settings: &Settings, report: &mut Report) {
    let profile = &settings.profile;
    for pitfall in profile.pitfalls_where(|w| matches!(w, When::WellKnown(v) if v == value)) {
        report.warn(path.clone(), profile.pitfall_warning(pitfall));
    }
    let any = profile.pitfalls_where(|w| *w == When::AnyWellKnown);
    for pitfall in any {
        report.warn(path.clone(), profile.pitfall_warning(pitfall));
    }
    match &profile.well_known {
        WellKnown::Only(accepted) if !accepted.iter().any(|v| v == value) => {
            let shown: Vec<&str> = accepted.iter().map(AsRef::as_ref).collect();
            let mut error = FieldError::not_supported(path.clone(), value, &shown);
            error.detail.push_str(&format!(
                " ({}: Accepted=False, Invalid)",
                profile.label()
            ));
            report.enforce(settings.invalid_refs, error);
        }
        WellKnown::Only(_) => {}
        WellKnown::AnyAsSystem if value != "System" => report.warn(
            path.clone(),
            format!(
                "{} uses the system trust store for any value: {} means System",
                profile.label(),
                Quoted(value)
            ),
        ),
        WellKnown::AnyAsSystem => {}
        WellKnown::Unstated if value != "System" && value.contains('/') => report.warn(
            path.clone(),
            format!(
                "{} is implementation-specific: Gateways that do not recognise it report Accepted=False (Invalid)",
                Quoted(value)
            ),
        ),
        WellKnown::Unstated => {}
    }
}

/// Hostnames must be DNS names: not IP literals, labels of at most 63 characters.
fn dns_name_problem(host: &str) -> Option<String> {
    if names::is_ip_literal(host) {
        return Some("must be a DNS name, not an IP address".to_owned());
    }
    names::long_label(host).map(|label| {
        format!(
            "each DNS label must be no more than {} characters (label of {} characters)",
            names::MAX_LABEL,
            label.chars().count()
        )
    })
}

/// Prose rules on `subjectAltNames[i]` (paths are built only when something is reported).
fn check_san(san: &Value, list: &FieldPath, i: usize, settings: &Settings, report: &mut Report) {
    let at = |field: &'static str| list.index(i).field(field);
    if let Some(hostname) = san.get("hostname").and_then(Value::as_str) {
        let wildcard = hostname.starts_with("*.");
        if let Some(problem) = dns_name_problem(hostname.strip_prefix("*.").unwrap_or(hostname)) {
            report.error_with(|| FieldError::invalid_str(at("hostname"), hostname, problem));
        }
        if wildcard {
            let detail = "wildcard SAN hostnames are allowed by the CRD but the API reference says they are not; prefer exact names";
            report.discouraged_with(settings.strict, || {
                let error = FieldError::invalid_str(
                    at("hostname"),
                    hostname,
                    format!("--strict: {detail}"),
                );
                (error, detail.to_owned())
            });
        }
    }
    if let Some(uri) = san.get("uri").and_then(Value::as_str)
        && let Some(problem) = names::uri_problem(uri)
    {
        report.error_with(|| FieldError::invalid_str(at("uri"), uri, problem));
    }
}

/// Warns (or, with `--strict`, errs) on list items equal to an earlier item. Linear: each item
/// is looked up in a hash map of the items before it.
fn duplicates(
    items: &[Value],
    path: &FieldPath,
    what: &str,
    settings: &Settings,
    report: &mut Report,
) {
    if items.len() < 2 {
        return;
    }
    let mut first_of: HashMap<&Value, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(items.len(), Default::default());
    for (i, item) in items.iter().enumerate() {
        let first = *first_of.entry(item).or_insert(i);
        if first == i {
            continue;
        }
        report.discouraged_with(settings.strict, || {
            let error = FieldError::new(
                path.index(i),
                ErrorKind::Duplicate,
                BadValue::of(item),
                format!("same as item {first}"),
            );
            (error, format!("duplicate {what}: same as item {first}"))
        });
    }
}

fn check_options(
    options: &Map<String, Value>,
    path: &FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    let profile = &settings.profile;
    match &profile.options {
        OptionsSupport::Ignored if !options.is_empty() => report.warn(
            path.clone(),
            format!(
                "{} does not read spec.options: {} option{} without effect",
                profile.label(),
                options.len(),
                if options.len() == 1 { " is" } else { "s are" }
            ),
        ),
        OptionsSupport::Keys(known) => {
            for key in options.keys().filter(|k| !known.iter().any(|n| n == *k)) {
                report.warn_with(|| {
                    let message = format!(
                        "{} does not read this option: it is without effect",
                        profile.label()
                    );
                    (path.key(key), message)
                });
            }
        }
        _ => {}
    }
    for key in options.keys() {
        let problems = names::qualified_name_problems(key);
        if !problems.is_empty() {
            report.error_with(|| {
                let detail = format!(
                    "option keys must be qualified names: {}",
                    problems.join("; ")
                );
                FieldError::invalid_str(path.key(key), key, detail)
            });
        } else if !key.contains('/') {
            let detail = "un-prefixed option keys are reserved for Gateway API; implementation-specific keys MUST be domain-prefixed (example.com/key)";
            report.discouraged_with(settings.strict, || {
                let error =
                    FieldError::invalid_str(path.key(key), key, format!("--strict: {detail}"));
                (error, detail.to_owned())
            });
        }
    }
}
