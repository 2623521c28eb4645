//! Rules on a BackendTLSPolicy that the CRD states only in prose, or that the spec discourages:
//! target kinds, cross-namespace references, hostnames, SANs, option keys, unknown fields.
//! They read the object leniently: a field of the wrong type was reported by the schema walk
//! and is skipped here.

use serde_json::{Map, Value};

use super::field::{BadValue, ErrorKind, FieldError, FieldPath, Quoted, Report, Segment};
use super::names;
use super::profile::{OptionsSupport, UnsupportedTarget, WellKnown, When};
use super::{GroupKind, Settings};

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

/// Reports fields the schema does not declare. A `namespace` inside a reference is an error
/// whatever the settings: the apiserver would drop it silently and the reference would
/// resolve in the policy's own namespace instead.
pub(crate) fn check_unknown_fields(
    unknown: &[FieldPath],
    settings: &Settings,
    report: &mut Report,
) {
    for path in unknown {
        if is_reference_namespace(path) {
            report.error(FieldError::forbidden(
                path.clone(),
                "cross-namespace references are not allowed: targets and CA certificates must be in the policy's namespace",
            ));
            continue;
        }
        let hint = unknown_field_hint(path);
        let error = FieldError::new(
            path.clone(),
            ErrorKind::Forbidden,
            BadValue::None,
            format!("unknown field{hint}"),
        );
        match settings.unknown_fields {
            super::Enforcement::Deny => report.error(error),
            super::Enforcement::Warn => report.warn(
                path.clone(),
                format!("unknown field, ignored (pruned by the apiserver){hint}"),
            ),
        }
    }
}

fn is_reference_namespace(path: &FieldPath) -> bool {
    let rendered = path.to_string();
    let Some(parent) = rendered.strip_suffix(".namespace") else {
        return false;
    };
    let list = parent.rsplit_once('[').map_or("", |(list, _)| list);
    list == "spec.targetRefs" || list == "spec.validation.caCertificateRefs"
}

/// Hints for the usual mistakes: v1alpha2 field names and backendRef habits.
fn unknown_field_hint(path: &FieldPath) -> &'static str {
    let Some(Segment::Field(last)) = path.segments().last() else {
        return "";
    };
    let parent = path.parent().to_string();
    match (parent.as_str(), last.as_ref()) {
        ("spec", "targetRef") => ": v1alpha2 shape; v1 uses spec.targetRefs (a list)",
        ("spec", "tls") => ": v1alpha2 shape; v1 uses spec.validation",
        ("spec.validation", "caCertRefs") => ": v1alpha2 name; v1 uses caCertificateRefs",
        ("spec.validation", "wellKnownCACerts") => {
            ": v1alpha2 name; v1 uses wellKnownCACertificates"
        }
        ("spec", "hostname") => ": hostname belongs under spec.validation",
        (_, "port") if parent.starts_with("spec.targetRefs[") => {
            ": select a Service port by name with sectionName"
        }
        _ => "",
    }
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
    for (i, target) in targets.iter().enumerate() {
        let group = target.get("group").and_then(Value::as_str);
        let kind = target.get("kind").and_then(Value::as_str);
        if let (Some(group), Some(kind)) = (group, kind) {
            let profile = &settings.profile;
            let read = profile.read_group(group);
            let aliased = read != group
                && settings
                    .target_kinds()
                    .iter()
                    .any(|k| k.group == read && k.kind == kind);
            if aliased {
                super::refs::warn_core_alias(group, profile, &path.index(i), report);
            }
            for pitfall in profile.pitfalls_where(
                |w| matches!(w, When::TargetKind(k) if k.group == group && k.kind == kind),
            ) {
                report.warn(path.index(i), profile.pitfall_warning(pitfall));
            }
            let service = group.is_empty() && kind == "Service";
            if !aliased && !service {
                check_target_kind(group, kind, &path.index(i), settings, report);
            }
        }
        if let Some(name) = target.get("name").and_then(Value::as_str)
            && name.contains('/')
        {
            let at = path.index(i).field("name");
            warn_namespaced_name(name, kind.unwrap_or("object"), &at, report);
        }
    }
}

/// Targets are of the kinds the profile supports (core Services unless a profile says more),
/// and those the operator admitted. A kind the implementation ignores is a warning.
fn check_target_kind(
    group: &str,
    kind: &str,
    path: &FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    let profile = &settings.profile;
    let allowed = settings.target_kinds();
    if allowed
        .iter()
        .any(|gk| gk.group == group && gk.kind == kind)
    {
        return;
    }
    let typos = typos(group, kind, &allowed, path);
    if !typos.is_empty() {
        typos.into_iter().for_each(|e| report.error(e));
        return;
    }
    let shown: Vec<String> = allowed.iter().map(GroupKind::to_string).collect();
    let value = GroupKind {
        group: group.to_owned(),
        kind: kind.to_owned(),
    }
    .to_string();
    if profile.unsupported_target == UnsupportedTarget::Ignored {
        report.warn(
            path.clone(),
            format!(
                "{} ignores targets of kind {} without a condition (it supports {}): this policy has no effect on it",
                profile.label(),
                Quoted(&value),
                shown.join(", ")
            ),
        );
        return;
    }
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    report.error(FieldError::not_supported(
        path.field("kind"),
        &value,
        &shown,
    ));
}

/// `group: core` and kinds in the wrong case are almost always typos: say what was meant
/// (both, when both are wrong).
pub(crate) fn typos(
    group: &str,
    kind: &str,
    allowed: &[GroupKind],
    path: &FieldPath,
) -> Vec<FieldError> {
    let core_meant = group.eq_ignore_ascii_case("core") || group == "v1";
    let Some(intended) = allowed.iter().find(|gk| {
        gk.kind.eq_ignore_ascii_case(kind)
            && (gk.group == group || (core_meant && gk.group.is_empty()))
    }) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    if intended.group != group {
        errors.push(FieldError::invalid_str(
            path.field("group"),
            group,
            r#"the core API group is written as "" (an empty string), not "core""#,
        ));
    }
    if intended.kind != kind {
        errors.push(FieldError::invalid_str(
            path.field("kind"),
            kind,
            format!(
                "kinds are case-sensitive: did you mean {}?",
                Quoted(&intended.kind)
            ),
        ));
    }
    errors
}

fn warn_namespaced_name(name: &str, kind: &str, path: &FieldPath, report: &mut Report) {
    if let Some((namespace, _)) = name.split_once('/') {
        report.warn(
            path.clone(),
            format!(
                "{} looks like namespace/name, but references are same-namespace only: no {kind} can have this name (namespace {namespace:?} is ignored)",
                Quoted(name)
            ),
        );
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
                let at = list.index(i).field("name");
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
            report.error(FieldError::invalid_str(at("hostname"), hostname, problem));
        }
        if wildcard {
            let detail = "wildcard SAN hostnames are allowed by the CRD but the API reference says they are not; prefer exact names";
            report.discouraged(
                settings.strict,
                FieldError::invalid_str(at("hostname"), hostname, format!("--strict: {detail}")),
                detail,
            );
        }
    }
    if let Some(uri) = san.get("uri").and_then(Value::as_str)
        && let Some(problem) = names::uri_problem(uri)
    {
        report.error(FieldError::invalid_str(at("uri"), uri, problem));
    }
}

/// Warns (or, with `--strict`, errs) on list items equal to an earlier item.
fn duplicates(
    items: &[Value],
    path: &FieldPath,
    what: &str,
    settings: &Settings,
    report: &mut Report,
) {
    for (i, item) in items.iter().enumerate() {
        let Some(first) = items[..i].iter().position(|earlier| earlier == item) else {
            continue;
        };
        report.discouraged(
            settings.strict,
            FieldError::new(
                path.index(i),
                ErrorKind::Duplicate,
                BadValue::of(item),
                format!("same as item {first}"),
            ),
            format!("duplicate {what}: same as item {first}"),
        );
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
                report.warn(
                    path.key(key),
                    format!(
                        "{} does not read this option: it is without effect",
                        profile.label()
                    ),
                );
            }
        }
        _ => {}
    }
    for key in options.keys() {
        let at = path.key(key);
        let problems = names::qualified_name_problems(key);
        if !problems.is_empty() {
            report.error(FieldError::invalid_str(
                at,
                key,
                format!(
                    "option keys must be qualified names: {}",
                    problems.join("; ")
                ),
            ));
        } else if !key.contains('/') {
            let detail = "un-prefixed option keys are reserved for Gateway API; implementation-specific keys MUST be domain-prefixed (example.com/key)";
            report.discouraged(
                settings.strict,
                FieldError::invalid_str(at, key, format!("--strict: {detail}")),
                detail,
            );
        }
    }
}
