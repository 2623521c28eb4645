//! Checks that need the referenced objects: CA ConfigMaps, Secrets and ClusterTrustBundles and
//! their bundles, as the profile's implementation reads them; target Services
//! and their ports, and other policies on the same targets.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ca_bundle::{self, ParsedBundle, Severity};
use super::field::{BadValue, ErrorKind, FieldError, FieldPath, Quoted, Report};
use super::profile::{CaKind, CaRefUse, CaSource, Profile, Text, UnsupportedCaKind, When};
use super::snapshot::{
    CaData, ClusterTrustBundleEntry, PolicySummary, SecretCa, SecretEntry, Snapshot, TargetKey,
    Tiebreak,
};
use super::{GroupKind, Settings};

/// Resolves every CA reference in `validation` against the snapshot, as the profile's
/// implementation would: kinds it does not read, references it ignores, the keys it reads.
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
    let profile = &*settings.profile;
    let list = FieldPath::root()
        .field("spec")
        .field("validation")
        .field("caCertificateRefs");
    if profile.ca_refs == CaRefUse::One && refs.len() > 1 {
        too_many_ca_refs(refs.len(), &list, settings, report);
    }
    let mut check = CaRefsCheck {
        any_read: refs.iter().any(|r| read_ca_kind(profile, r).is_some()),
        list,
        namespace,
        snapshot,
        settings,
        now,
        kinds_seen: Vec::new(),
        resolved_before: HashMap::default(),
        outcome: CaRefsOutcome {
            usable: true,
            content_ok: true,
        },
    };
    for (i, reference) in refs.iter().enumerate() {
        if i > 0 && profile.ca_refs == CaRefUse::FirstOnly {
            report.warn_with(|| {
                let message = format!(
                    "{} uses only the first CA reference: caCertificateRefs[{i}] is ignored",
                    profile.label()
                );
                (check.list.index(i), message)
            });
            continue;
        }
        check.reference(i, reference, report);
    }
    let CaRefsCheck { list, outcome, .. } = check;
    let applies = |when: &When| {
        (*when == When::BadCaRef && !outcome.usable)
            || (*when == When::BadCaContent && !outcome.content_ok)
    };
    for pitfall in profile.pitfalls_where(applies) {
        report.warn(list.clone(), profile.pitfall_warning(pitfall));
    }
}

/// The kind of CA object a reference names, when the profile's implementation reads it.
fn read_ca_kind(profile: &Profile, reference: &Value) -> Option<CaKind> {
    let text = |f: &str| reference.get(f).and_then(Value::as_str);
    let group = profile.read_group(text("group")?);
    CaKind::of(group, text("kind")?).filter(|k| profile.ca_source(*k).is_some())
}

/// One policy's CA references, checked one after the other.
struct CaRefsCheck<'a> {
    /// `spec.validation.caCertificateRefs`.
    list: FieldPath,
    namespace: &'a str,
    snapshot: &'a Snapshot,
    settings: &'a Settings,
    now: i64,
    /// Some reference names a kind the implementation reads.
    any_read: bool,
    /// The kinds referenced so far (each kind's pitfalls are warned once).
    kinds_seen: Vec<CaKind>,
    /// What each referenced object gave, so that one referenced again is not judged again
    /// (its findings are reported at its first reference; repeats are warned as duplicates).
    resolved_before: HashMap<(CaKind, &'a str), Option<Resolution>, foldhash::fast::RandomState>,
    outcome: CaRefsOutcome,
}

impl<'a> CaRefsCheck<'a> {
    /// Checks `caCertificateRefs[i]`.
    fn reference(&mut self, i: usize, reference: &'a Value, report: &mut Report) {
        let profile = &*self.settings.profile;
        let path = self.list.index(i);
        let (Some(group), Some(kind), Some(name)) = (
            reference.get("group").and_then(Value::as_str),
            reference.get("kind").and_then(Value::as_str),
            reference.get("name").and_then(Value::as_str),
        ) else {
            return;
        };
        let Some(ca_kind) = read_ca_kind(profile, reference) else {
            if profile.unsupported_ca_kind == UnsupportedCaKind::IgnoredBesideSupported
                && self.any_read
            {
                report.warn_with(|| {
                    let message = format!(
                        "{} ignores this reference without a condition: it reads {} only",
                        profile.label(),
                        supported_kinds(profile).join(", ")
                    );
                    (path, message)
                });
            } else {
                invalid_kind(group, kind, &path, self.settings, report);
                self.outcome.usable = false;
            }
            return;
        };
        if group != ca_kind.group() {
            warn_core_alias(group, profile, &|| path.clone(), report);
        }
        if !self.kinds_seen.contains(&ca_kind) {
            self.kinds_seen.push(ca_kind);
            for pitfall in profile.pitfalls_where(|w| *w == When::CaKind(ca_kind)) {
                report.warn(path.clone(), profile.pitfall_warning(pitfall));
            }
        }
        if let Some(earlier) = self.resolved_before.get(&(ca_kind, name)) {
            self.outcome.add(*earlier);
            return;
        }
        let (snapshot, settings, now) = (self.snapshot, self.settings, self.now);
        let resolved = resolve_ca_ref(ca_kind, name, &path, snapshot, settings, now, report);
        self.resolved_before.insert((ca_kind, name), resolved);
        self.outcome.add(resolved);
        if resolved.is_none() {
            report.enforce_with(settings.missing_refs, || {
                FieldError::new(
                    path,
                    ErrorKind::NotFound,
                    BadValue::str(name),
                    not_found(ca_kind, name, self.namespace),
                )
            });
        }
    }
}

/// What a policy's CA references add up to, for the profile's pitfalls about them.
struct CaRefsOutcome {
    /// Every reference resolves to a usable bundle.
    usable: bool,
    /// No referenced bundle is unusable for its content.
    content_ok: bool,
}

impl CaRefsOutcome {
    /// Counts a reference's resolution (`None`: its object does not exist).
    fn add(&mut self, resolution: Option<Resolution>) {
        match resolution {
            Some(Resolution::Usable) => {}
            Some(Resolution::BadContent) => {
                self.usable = false;
                self.content_ok = false;
            }
            Some(Resolution::Unresolved) | None => self.usable = false,
        }
    }
}

/// `caCertificateRefs` with more than the one reference the profile's implementation accepts.
fn too_many_ca_refs(count: usize, list: &FieldPath, settings: &Settings, report: &mut Report) {
    let mut error = FieldError::new(
        list.clone(),
        ErrorKind::TooMany,
        BadValue::Raw(count.to_string()),
        "must have at most 1 items".to_owned(),
    );
    error.detail.push_str(&format!(
        " ({} accepts one CA reference: Accepted=False, Invalid)",
        settings.profile.label()
    ));
    report.enforce(settings.invalid_refs, error);
}

/// Checks the object a CA reference names, as the profile's implementation reads it; `None`
/// when the snapshot does not have it (it does not exist).
fn resolve_ca_ref(
    ca_kind: CaKind,
    name: &str,
    path: &FieldPath,
    snapshot: &Snapshot,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) -> Option<Resolution> {
    let about = Phrasing::Reference {
        kind: ca_kind,
        name,
    };
    let source = settings.profile.ca_source(ca_kind);
    match ca_kind {
        CaKind::ConfigMap => snapshot
            .config_maps
            .get(name)
            .map(|entry| check_data(entry, source, &about, path, settings, now, report)),
        CaKind::Secret => snapshot.secrets.get(name).map(|entry| match entry {
            SecretEntry::Read(secret) => {
                check_secret(secret, source, &about, path, settings, now, report)
            }
            SecretEntry::Unchecked(why) => {
                report.warn(path.clone(), about.unchecked(why));
                Resolution::Usable
            }
        }),
        CaKind::ClusterTrustBundle => {
            let entry = snapshot.cluster_trust_bundles.get(name);
            entry.map(|e| check_trust_bundle(e, &about, path, settings, now, report))
        }
    }
}

/// What resolving a CA reference's object found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// A usable bundle (or one that could not be checked).
    Usable,
    /// The bundle the implementation reads cannot be used.
    BadContent,
    /// No bundle: a missing key, a Secret type the implementation refuses.
    Unresolved,
}

/// Checks a ClusterTrustBundle a reference names: its `spec.trustBundle`.
pub(crate) fn check_trust_bundle(
    entry: &ClusterTrustBundleEntry,
    about: &Phrasing<'_>,
    path: &FieldPath,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) -> Resolution {
    match entry {
        ClusterTrustBundleEntry::Read(Some(ca)) => {
            let at = about.path(path, TRUST_BUNDLE);
            if check_bundle(&ca.bundle, about, TRUST_BUNDLE, &at, settings, now, report) {
                Resolution::Usable
            } else {
                Resolution::BadContent
            }
        }
        ClusterTrustBundleEntry::Read(None) => {
            missing_key(about, path, &[], "", settings, report);
            Resolution::Unresolved
        }
        ClusterTrustBundleEntry::Unchecked(why) => {
            report.warn(path.clone(), about.unchecked(why));
            Resolution::Usable
        }
    }
}

/// A group `core` the implementation reads as the core group: allowed, with a warning.
pub(crate) fn warn_core_alias(
    group: &str,
    profile: &Profile,
    path: &dyn Fn() -> FieldPath,
    report: &mut Report,
) {
    report.warn_with(|| {
        let message = format!(
            "{} reads group {} as the core group, the API and other implementations do not: write \"\"",
            profile.label(),
            Quoted(group)
        );
        (path().field("group"), message)
    });
}

/// Checks a Secret used as a CA bundle: its type, a private key beside the CA, then its data as
/// [`check_data`] does.
pub(crate) fn check_secret(
    secret: &SecretCa,
    source: Option<&CaSource>,
    about: &Phrasing<'_>,
    path: &FieldPath,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) -> Resolution {
    warn_private_keys(&secret.private_keys, about, path, settings, report);
    if let Some(source) = source
        && !source.secret_types.is_empty()
    {
        let secret_type = secret.secret_type.as_deref().unwrap_or("Opaque");
        if !source.secret_types.iter().any(|t| t == secret_type) {
            let types: Vec<String> = source
                .secret_types
                .iter()
                .map(|t| Quoted(t).to_string())
                .collect();
            let at = match about {
                Phrasing::Reference { .. } => path.clone(),
                Phrasing::Object { .. } => FieldPath::root().field("type"),
            };
            report.enforce(
                settings.invalid_refs,
                FieldError::new(
                    at,
                    ErrorKind::Invalid,
                    BadValue::None,
                    format!(
                        "{} is of type {}: {} reads Secrets of type {} only (ResolvedRefs=False, InvalidCACertificateRef)",
                        about.subject(),
                        Quoted(secret_type),
                        settings.profile.label(),
                        types.join(", ")
                    ),
                ),
            );
            return Resolution::Unresolved;
        }
    }
    check_data(secret, source, about, path, settings, now, report)
}

/// `ConfigMap "ca" not found in "shop": ResolvedRefs=False until created`.
fn not_found(kind: CaKind, name: &str, namespace: &str) -> String {
    match kind {
        CaKind::ClusterTrustBundle => format!(
            "ClusterTrustBundle {} not found: ResolvedRefs=False until created",
            Quoted(name)
        ),
        _ => format!(
            "{kind} {} not found in {}: ResolvedRefs=False until created",
            Quoted(name),
            Quoted(namespace)
        ),
    }
}

/// Where a ClusterTrustBundle holds its bundle.
const TRUST_BUNDLE: &str = "spec.trustBundle";

/// The CA kinds a profile reads, as `GROUP/KIND` values are shown.
fn supported_kinds(profile: &Profile) -> Vec<String> {
    profile
        .ca_sources
        .iter()
        .map(|s| s.kind.group_kind().to_string())
        .collect()
}

/// Why a CA reference is not of a kind the implementation reads (InvalidKind), under
/// `--invalid-refs`: the typo hints targets get (`group: core`, a kind in the wrong case; both
/// when both are wrong), else Unsupported value.
fn invalid_kind(
    group: &str,
    kind: &str,
    path: &FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    let profile = &*settings.profile;
    let allowed: Vec<GroupKind> = profile
        .ca_sources
        .iter()
        .map(|s| s.kind.group_kind())
        .collect();
    let status = if profile.is_core() {
        " (ResolvedRefs=False, InvalidKind)".to_owned()
    } else {
        format!(" ({}: ResolvedRefs=False, InvalidKind)", profile.label())
    };
    let enforcement = settings.invalid_refs;
    let at = || path.clone();
    if super::policy::report_typos(group, kind, &allowed, &at, enforcement, &status, report) {
        return;
    }
    report.enforce_with(enforcement, || {
        let value = GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        };
        let shown = supported_kinds(profile);
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        let mut error = FieldError::not_supported(path.field("kind"), &value.to_string(), &shown);
        error.detail.push_str(&status);
        error
    });
}

/// How findings about a CA object are worded: from a policy's reference (`ConfigMap "ca"
/// ca.crt: …`) or in a review of the object itself (`… (this ConfigMap is the CA bundle of
/// BackendTLSPolicy ns/p)`). Messages are built only when there is something to report.
pub(crate) enum Phrasing<'a> {
    /// A policy's `caCertificateRefs[i]` naming this object.
    Reference { kind: CaKind, name: &'a str },
    /// A review of the object itself.
    Object {
        kind: CaKind,
        /// Which policies use it, e.g. `CA bundle of BackendTLSPolicy shop/p`.
        users: &'a str,
    },
}

impl Phrasing<'_> {
    /// Where a finding about `key` goes: the reference, or the key in the object.
    fn path(&self, reference: &FieldPath, key: &str) -> FieldPath {
        match self {
            Self::Reference { .. } => reference.clone(),
            Self::Object { .. } if key == TRUST_BUNDLE => {
                FieldPath::root().field("spec").field("trustBundle")
            }
            Self::Object { .. } => FieldPath::root().field("data").key(key),
        }
    }

    /// `has no key "ca.crt" in data` (`"cacert" or "ca.crt"` for several keys), or for a
    /// ClusterTrustBundle `has no spec.trustBundle`.
    fn missing_key(&self, keys: &[Text], hint: &str) -> String {
        let what = if keys.is_empty() {
            "no spec.trustBundle".to_owned()
        } else {
            let quoted: Vec<String> = keys.iter().map(|k| Quoted(k).to_string()).collect();
            format!("no key {} in data", quoted.join(" or "))
        };
        match self {
            Self::Reference { kind, name } => {
                format!("{kind} {} has {what}{hint}", Quoted(name))
            }
            Self::Object { kind, users } => {
                format!("this {kind} has {what}{hint} (this {kind} is the {users})")
            }
        }
    }

    fn finding(&self, key: &str, message: &str) -> String {
        match self {
            Self::Reference { kind, name } => {
                format!("{kind} {} {key}: {message}", Quoted(name))
            }
            Self::Object { kind, users } => format!("{message} (this {kind} is the {users})"),
        }
    }

    fn unchecked(&self, why: &str) -> String {
        match self {
            Self::Reference { kind, name } => {
                format!(
                    "{kind} {}: its content was not checked: {why}",
                    Quoted(name)
                )
            }
            Self::Object { kind, users } => {
                format!("this {kind}'s content was not checked: {why} (this {kind} is the {users})")
            }
        }
    }

    fn subject(&self) -> String {
        match self {
            Self::Reference { kind, name } => format!("{kind} {}", Quoted(name)),
            Self::Object { kind, .. } => format!("this {kind}"),
        }
    }
}

/// Reports a missing key (or trustBundle) under `--missing-refs`.
fn missing_key(
    about: &Phrasing<'_>,
    path: &FieldPath,
    keys: &[Text],
    hint: &str,
    settings: &Settings,
    report: &mut Report,
) {
    let first = keys.first().map_or(TRUST_BUNDLE, |k| k.as_ref());
    report.enforce(
        settings.missing_refs,
        FieldError::new(
            about.path(path, first),
            ErrorKind::NotFound,
            BadValue::Str(first.to_owned()),
            about.missing_key(keys, hint),
        ),
    );
}

/// Checks the `data` of a ConfigMap or Secret used as a CA bundle: the key the implementation
/// reads (the first of `source.keys` present, else the only key when it falls back to it) and
/// the bundle in it.
pub(crate) fn check_data(
    data: &dyn CaData,
    source: Option<&CaSource>,
    about: &Phrasing<'_>,
    path: &FieldPath,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) -> Resolution {
    let default_keys = [Text::Borrowed(super::CA_KEY)];
    let keys: &[Text] = source.map_or(&default_keys, |s| &s.keys);
    let listed = keys
        .iter()
        .enumerate()
        .find_map(|(i, key)| Some((key.as_ref(), data.value(key)?, i > 0)));
    let fallback_only = source.is_some_and(|s| s.only_key_fallback);
    let chosen = listed.or_else(|| {
        let (key, bundle) = data.only_key().filter(|_| fallback_only)?;
        Some((key, bundle, true))
    });
    let Some((key, bundle, fallback)) = chosen else {
        let hint = if keys.first().is_some_and(|k| data.in_binary_data(k)) {
            ": it is in binaryData, but implementations read PEM text from data"
        } else {
            ""
        };
        missing_key(about, path, keys, hint, settings, report);
        return Resolution::Unresolved;
    };
    // Reading `ca.crt` is what every user expects, whichever key an implementation tries first.
    if fallback && key != super::CA_KEY {
        let profile = &settings.profile;
        let tried: Vec<String> = keys
            .iter()
            .take_while(|k| k.as_ref() != key)
            .map(|k| Quoted(k).to_string())
            .collect();
        report.warn(
            about.path(path, key),
            format!(
                "{} has no key {}: {} reads {} instead",
                about.subject(),
                tried.join(" or "),
                profile.label(),
                Quoted(key)
            ),
        );
        for pitfall in profile.pitfalls_where(|w| *w == When::FallbackKey) {
            report.warn(about.path(path, key), profile.pitfall_warning(pitfall));
        }
    }
    let shadowed = keys
        .iter()
        .skip_while(|k| k.as_ref() != key)
        .skip(1)
        .find(|k| k.as_ref() == super::CA_KEY && data.value(k).is_some());
    if let Some(ignored) = shadowed {
        report.warn(
            about.path(path, key),
            format!(
                "{} reads {} of {}: its {} is ignored",
                settings.profile.label(),
                Quoted(key),
                about.subject(),
                Quoted(ignored)
            ),
        );
    }
    let at = about.path(path, key);
    if check_bundle(bundle, about, key, &at, settings, now, report) {
        Resolution::Usable
    } else {
        Resolution::BadContent
    }
}

/// Warns (`--strict`: errs) that a CA Secret also holds a private key.
pub(crate) fn warn_private_keys(
    keys: &[Box<str>],
    about: &Phrasing<'_>,
    path: &FieldPath,
    settings: &Settings,
    report: &mut Report,
) {
    let Some(first) = keys.first() else {
        return;
    };
    let names: Vec<String> = keys.iter().map(|k| Quoted(k).to_string()).collect();
    let detail = format!(
        "{} also holds a private key ({}): the gateway controller will be able to read a key it does not need; point at a CA-only Secret or ConfigMap (cert-manager trust-manager writes such bundles)",
        about.subject(),
        names.join(", ")
    );
    let at = match about {
        Phrasing::Reference { .. } => path.clone(),
        Phrasing::Object { .. } => FieldPath::root().field("data").key(first),
    };
    report.discouraged(
        settings.strict,
        FieldError::new(
            at,
            ErrorKind::Forbidden,
            BadValue::None,
            format!("--strict: {detail}"),
        ),
        detail,
    );
}

/// The one bundle checker for every CA source (a ConfigMap's or Secret's key, a
/// ClusterTrustBundle's `spec.trustBundle`): the findings of [`ca_bundle::assess`] at `path`,
/// invalid ones under `--invalid-refs`. Returns whether the bundle is usable.
pub(crate) fn check_bundle(
    bundle: &ParsedBundle,
    about: &Phrasing<'_>,
    key: &str,
    path: &FieldPath,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) -> bool {
    let mut usable = true;
    for finding in ca_bundle::assess(bundle, now, settings.expiry_window_secs) {
        let message = about.finding(key, &finding.message);
        match finding.severity() {
            Severity::Invalid => {
                usable = false;
                report.enforce(
                    settings.invalid_refs,
                    FieldError::new(path.clone(), ErrorKind::Invalid, BadValue::None, message),
                );
            }
            Severity::Warning => report.warn(path.clone(), message),
        }
    }
    usable
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
