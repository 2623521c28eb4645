//! Checks that need the referenced objects: CA ConfigMaps and their bundles, target Services
//! and their ports, and other policies on the same targets.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ca_bundle::{self, Finding, Severity};
use super::field::{BadValue, ErrorKind, FieldError, FieldPath, Quoted, Report};
use super::snapshot::{
    ConfigMapEntry, PolicySummary, Snapshot, TargetKey, Tiebreak, is_core_config_map,
};
use super::{GroupKind, Settings};

/// Resolves every CA reference in `validation` against the snapshot.
pub(crate) fn check_ca_refs(
    validation: &Map<String, Value>,
    namespace: &str,
    snapshot: &Snapshot,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) {
    let Some(refs) = validation
        .get("caCertificateRefs")
        .and_then(Value::as_array)
    else {
        return;
    };
    let list = FieldPath::root()
        .field("spec")
        .field("validation")
        .field("caCertificateRefs");
    // The findings on each ConfigMap, worked out once however often it is referenced.
    let mut assessed: HashMap<&str, Vec<Finding>, foldhash::fast::RandomState> = HashMap::default();
    for (i, reference) in refs.iter().enumerate() {
        let (Some(group), Some(kind), Some(name)) = (
            reference.get("group").and_then(Value::as_str),
            reference.get("kind").and_then(Value::as_str),
            reference.get("name").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !is_core_config_map(reference) {
            invalid_kind(group, kind, &|| list.index(i), settings, report);
            continue;
        }
        match snapshot.config_maps.get(name) {
            None => report.enforce_with(settings.missing_refs, || {
                FieldError::new(
                    list.index(i),
                    ErrorKind::NotFound,
                    BadValue::str(name),
                    format!(
                        "ConfigMap {} not found in {}: ResolvedRefs=False until created",
                        Quoted(name),
                        Quoted(namespace)
                    ),
                )
            }),
            Some(entry) => {
                let about = Phrasing::Reference { config_map: name };
                let findings = entry.ca_crt.as_ref().map(|ca| {
                    assessed
                        .entry(name)
                        .or_insert_with(|| {
                            ca_bundle::assess(&ca.bundle, now, settings.expiry_window_secs)
                        })
                        .as_slice()
                });
                report_config_map(entry, findings, &about, &|| list.index(i), settings, report);
            }
        }
    }
}

/// Why a CA reference is not a core ConfigMap (InvalidKind): the typo hints targets get
/// (`group: core`, a kind in the wrong case; both when both are wrong), else Unsupported value.
fn invalid_kind(
    group: &str,
    kind: &str,
    path: &dyn Fn() -> FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    const SUFFIX: &str = " (ResolvedRefs=False, InvalidKind)";
    let config_map = GroupKind {
        group: String::new(),
        kind: "ConfigMap".to_owned(),
    };
    let enforcement = settings.invalid_refs;
    let allowed = std::slice::from_ref(&config_map);
    if super::policy::report_typos(group, kind, allowed, path, enforcement, SUFFIX, report) {
        return;
    }
    report.enforce_with(enforcement, || {
        let value = GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        };
        let mut error =
            FieldError::not_supported(path().field("kind"), &value.to_string(), &["ConfigMap"]);
        error.detail.push_str(SUFFIX);
        error
    });
}

/// How findings about a ConfigMap are worded: from a policy's reference (`ConfigMap "ca"
/// ca.crt: …`) or in a review of the ConfigMap itself (`… (this ConfigMap is the CA bundle of
/// BackendTLSPolicy ns/p)`). Messages are built only when there is something to report.
pub(crate) enum Phrasing<'a> {
    /// A policy's `caCertificateRefs[i]` naming this ConfigMap.
    Reference {
        /// The ConfigMap's name.
        config_map: &'a str,
    },
    /// A review of the ConfigMap itself.
    ConfigMap {
        /// Which policies use it, e.g. `CA bundle of BackendTLSPolicy shop/p`.
        users: &'a str,
    },
}

impl Phrasing<'_> {
    fn missing_key(&self, hint: &str) -> String {
        match self {
            Self::Reference { config_map } => {
                format!(
                    "ConfigMap {} has no key \"ca.crt\" in data{hint}",
                    Quoted(config_map)
                )
            }
            Self::ConfigMap { users } => {
                format!(
                    "this ConfigMap has no key \"ca.crt\" in data{hint} (this ConfigMap is the {users})"
                )
            }
        }
    }

    fn finding(&self, message: &str) -> String {
        match self {
            Self::Reference { config_map } => {
                format!("ConfigMap {} ca.crt: {message}", Quoted(config_map))
            }
            Self::ConfigMap { users } => format!("{message} (this ConfigMap is the {users})"),
        }
    }
}

/// Checks a ConfigMap used as a CA bundle: the `ca.crt` key and the bundle in it. Findings are
/// reported at `path` (a policy's reference, or a ConfigMap's `data[ca.crt]`), prefixed with
/// as `about` says.
pub(crate) fn check_config_map(
    entry: &ConfigMapEntry,
    about: &Phrasing<'_>,
    path: &FieldPath,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) {
    let findings = entry
        .ca_crt
        .as_ref()
        .map(|ca| ca_bundle::assess(&ca.bundle, now, settings.expiry_window_secs));
    report_config_map(
        entry,
        findings.as_deref(),
        about,
        &|| path.clone(),
        settings,
        report,
    );
}

/// Reports what [`check_config_map`] finds: a missing `ca.crt` (when `findings` is `None`),
/// else the findings on its bundle. `path` is built only for what is reported.
fn report_config_map(
    entry: &ConfigMapEntry,
    findings: Option<&[Finding]>,
    about: &Phrasing<'_>,
    path: &dyn Fn() -> FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    let Some(findings) = findings else {
        let hint = if entry.binary_ca_crt {
            ": it is in binaryData, but implementations read PEM text from data"
        } else {
            ""
        };
        report.enforce_with(settings.missing_refs, || {
            FieldError::new(
                path(),
                ErrorKind::NotFound,
                BadValue::str("ca.crt"),
                about.missing_key(hint),
            )
        });
        return;
    };
    for finding in findings {
        match finding.severity() {
            Severity::Invalid => report.enforce_with(settings.invalid_refs, || {
                let message = about.finding(&finding.message);
                FieldError::new(path(), ErrorKind::Invalid, BadValue::None, message)
            }),
            Severity::Warning => report.warn_with(|| (path(), about.finding(&finding.message))),
        }
    }
}

/// Target Services and their ports, and other policies on the same targets.
pub(crate) fn check_targets(
    own: &PolicySummary,
    spec: &Map<String, Value>,
    snapshot: &Snapshot,
    report: &mut Report,
) {
    let Some(list) = spec.get("targetRefs").and_then(Value::as_array) else {
        return;
    };
    let path = FieldPath::root().field("spec").field("targetRefs");
    let rivals = rivals_by_target(own, snapshot);
    for (i, raw) in list.iter().enumerate() {
        // Malformed entries have their schema errors already.
        let Some(target) = TargetKey::from_ref(raw) else {
            continue;
        };
        let at = || path.index(i);
        if target.group.is_empty() && target.kind == "Service" {
            check_service(&target, &own.namespace, snapshot, &at, report);
        }
        check_conflicts(own, &target, &rivals, &at, report);
    }
}

fn check_service(
    target: &TargetKey,
    namespace: &str,
    snapshot: &Snapshot,
    path: &dyn Fn() -> FieldPath,
    report: &mut Report,
) {
    let Some(service) = snapshot.services.get(&target.name) else {
        report.warn_with(|| {
            let message = format!(
                "Service {} not found in {}: Accepted=False (TargetNotFound) until created",
                Quoted(&target.name),
                Quoted(namespace)
            );
            (path(), message)
        });
        return;
    };
    match &target.section {
        Some(section) => match service.ports.iter().find(|p| &p.name == section) {
            None => report.warn_with(|| {
                let names: Vec<String> = service
                    .ports
                    .iter()
                    .filter(|p| !p.name.is_empty())
                    .map(|p| Quoted(&p.name).to_string())
                    .collect();
                let known = if names.is_empty() {
                    "none named".to_owned()
                } else {
                    names.join(", ")
                };
                let message = format!(
                    "Service {} has no port {} (ports: {known}): not attached",
                    Quoted(&target.name),
                    Quoted(section)
                );
                (path().field("sectionName"), message)
            }),
            Some(port) if port.protocol == "UDP" => report.warn_with(|| {
                let message = format!(
                    "port {} of Service {} is UDP: TLS needs TCP (Accepted=False, Invalid)",
                    Quoted(section),
                    Quoted(&target.name)
                );
                (path().field("sectionName"), message)
            }),
            Some(_) => {}
        },
        None if !service.ports.is_empty() && service.ports.iter().all(|p| p.protocol == "UDP") => {
            report.warn_with(|| {
                let message = format!(
                    "every port of Service {} is UDP: TLS needs TCP (Accepted=False, Invalid)",
                    Quoted(&target.name)
                );
                (path(), message)
            })
        }
        None => {}
    }
}

/// Another policy with the same target and section conflicts; the older one (then the first
/// by `namespace/name`) wins. A whole-Service policy and a per-port one do not conflict.
fn check_conflicts(
    own: &PolicySummary,
    target: &TargetKey,
    rivals_of: &HashMap<&TargetKey, Vec<&PolicySummary>, foldhash::fast::RandomState>,
    path: &dyn Fn() -> FieldPath,
    report: &mut Report,
) {
    let Some(rivals) = rivals_of.get(target) else {
        return;
    };
    for rival in rivals {
        report.warn_with(|| {
            let (own_wins, tiebreak) = own.precedes(rival);
            let wins = match tiebreak {
                Tiebreak::Older => "is older and wins",
                Tiebreak::SameAge => "wins (same age, first by namespace/name)",
                Tiebreak::AgeUnknown => {
                    "wins (no creation time to compare, first by namespace/name)"
                }
            };
            let verdict = if own_wins {
                format!(
                    "this policy {wins}: {} will be Accepted=False (Conflicted)",
                    rival.id()
                )
            } else {
                format!(
                    "{} {wins}: this policy will be Accepted=False (Conflicted)",
                    rival.id()
                )
            };
            let message = format!(
                "BackendTLSPolicy {} also targets {}; {verdict}",
                rival.id(),
                target.describe()
            );
            (path(), message)
        });
    }
}

/// The other policies in `own`'s namespace by target, each list in precedence order: one pass
/// over the snapshot, so that checking every target costs one lookup each.
fn rivals_by_target<'s>(
    own: &PolicySummary,
    snapshot: &'s Snapshot,
) -> HashMap<&'s TargetKey, Vec<&'s PolicySummary>, foldhash::fast::RandomState> {
    let mut rivals: HashMap<&TargetKey, Vec<&PolicySummary>, foldhash::fast::RandomState> =
        HashMap::default();
    for policy in snapshot.policies.iter().map(AsRef::as_ref) {
        if policy.namespace != own.namespace || policy.name == own.name {
            continue;
        }
        for target in &policy.targets {
            let list = rivals.entry(target).or_default();
            // A policy naming the same target twice is one rival.
            if !list.last().is_some_and(|p| std::ptr::eq(*p, policy)) {
                list.push(policy);
            }
        }
    }
    for list in rivals.values_mut() {
        list.sort_by_cached_key(|p| p.precedence());
    }
    rivals
}
