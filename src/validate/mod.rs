//! Every rule, in one pure, synchronous place.
//!
//! Input: an object as JSON, how it is being changed, and a [`Snapshot`] of what it refers to.
//! Output: a [`Report`] of field errors (which deny) and warnings (which only inform). Nothing
//! here performs I/O or reads the clock: time is the `now` argument.
//!
//! The order of checks on a policy: the CRD schema ([`schema`]) with its CEL rules ([`cel`]),
//! the rules the spec states in prose ([`policy`]), then the references ([`refs`]). On UPDATE,
//! errors in values that did not change are demoted to warnings, as the apiserver's validation
//! ratcheting does.

pub mod ca_bundle;
pub mod cel;
pub mod field;
pub mod names;
pub mod offline;
mod policy;
pub mod profile;
pub mod reads;
mod refs;
pub mod schema;
pub mod snapshot;
mod subject;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

pub use self::field::{
    BadValue, Enforcement, ErrorKind, FieldError, FieldPath, Report, Warning, WarningKind,
};
pub use self::profile::{CaKind, Profile};
use self::schema::Walker;
pub use self::snapshot::{
    CaText, ClusterTrustBundleEntry, ConfigMapEntry, PolicySummary, SecretCa, SecretEntry,
    ServiceEntry, Snapshot, TargetKey, Tiebreak, Wants,
};
pub use self::subject::{Subject, is_known_version, not_judged, unknown_version};

/// The API group of BackendTLSPolicy.
pub const GROUP: &str = "gateway.networking.k8s.io";
pub const KIND: &str = "BackendTLSPolicy";
/// The versions this validator knows (identical schemas at Gateway API v1.6.1).
pub const VERSIONS: [&str; 2] = ["v1", "v1alpha3"];
/// The served version the CRDs mark `deprecated: true`.
pub const DEPRECATED_VERSION: &str = "v1alpha3";
/// The CRDs' `deprecationWarning` for it, which the apiserver returns with every request to
/// that version.
pub const DEPRECATION_WARNING: &str = "The v1alpha3 version of BackendTLSPolicy has been deprecated and will be removed in a future release of the API. Please upgrade to v1.";

/// Whether `api_version` is a BackendTLSPolicy version this webhook validates
/// (`gateway.networking.k8s.io/v1` or `/v1alpha3`).
pub fn is_policy_api_version(api_version: &str) -> bool {
    api_version
        .split_once('/')
        .is_some_and(|(group, version)| group == GROUP && is_known_version(version))
}
/// The ConfigMap key implementations read the CA bundle from.
pub const CA_KEY: &str = "ca.crt";
/// Default for [`Settings::expiry_window_secs`]: 30 days.
pub const DEFAULT_EXPIRY_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// A group and kind, written `GROUP/KIND` (or just `KIND` for the core group).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupKind {
    /// API group; empty for core.
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    /// The core `Service`, the only target kind with Extended support.
    pub fn service() -> Self {
        Self {
            group: String::new(),
            kind: "Service".to_owned(),
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}/{}", self.group, self.kind)
        }
    }
}

impl FromStr for GroupKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (group, kind) = s.rsplit_once('/').unwrap_or(("", s));
        let valid_group = group.is_empty() || names::is_dns_subdomain(group);
        if kind.is_empty() || !schema::KIND.is_match(kind) || !valid_group {
            return Err(format!(
                "{s:?} is not GROUP/KIND (for example multicluster.x-k8s.io/ServiceImport)"
            ));
        }
        Ok(Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

/// Operator choices, the same for `review`, `serve` and `validate`.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// A CA ConfigMap that does not exist, or has no `ca.crt` in `data`.
    pub missing_refs: Enforcement,
    /// A CA reference of the wrong kind, or a `ca.crt` that can never work.
    pub invalid_refs: Enforcement,
    /// Target kinds admitted besides the profile's.
    pub extra_target_kinds: Vec<GroupKind>,
    /// Turn what the spec discourages (several targets, duplicates, un-prefixed option keys,
    /// wildcard SANs) into errors.
    pub strict: bool,
    /// Warn about CA certificates that expire within this many seconds.
    pub expiry_window_secs: i64,
    /// Fields the schema does not declare: a warning for admission (the apiserver prunes them),
    /// an error for offline linting (as kubectl's strict field validation).
    pub unknown_fields: Enforcement,
    /// What the implementation in use honours ([`profile::CORE`] by default).
    pub profile: Arc<Profile>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            missing_refs: Enforcement::Warn,
            invalid_refs: Enforcement::Deny,
            extra_target_kinds: Vec::new(),
            strict: false,
            expiry_window_secs: DEFAULT_EXPIRY_WINDOW_SECS,
            unknown_fields: Enforcement::Warn,
            profile: Arc::new(profile::CORE),
        }
    }
}

impl Settings {
    /// Every admitted target kind: the profile's (core `Service` first), then those added with
    /// `--allow-target-kind`.
    pub fn target_kinds(&self) -> Vec<GroupKind> {
        let mut kinds: Vec<GroupKind> = self
            .profile
            .target_kinds
            .iter()
            .map(profile::Kind::group_kind)
            .collect();
        kinds.extend(
            self.extra_target_kinds
                .iter()
                .filter(|k| !self.profile.supports_target(&k.group, &k.kind))
                .cloned(),
        );
        kinds
    }
}

/// What is being done to the object: `request.operation` of an AdmissionReview, decoded as
/// kube-core decodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
}

impl Operation {
    /// The operation as the AdmissionReview spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A BackendTLSPolicy change to validate.
#[derive(Clone, Copy, Debug)]
pub struct PolicyChange<'a> {
    pub object: &'a Value,
    /// The stored object (UPDATE only): unchanged violations do not block.
    pub old_object: Option<&'a Value>,
    /// CREATE or UPDATE.
    pub operation: Operation,
    /// `Some("status")` for the status subresource.
    pub subresource: Option<&'a str>,
    /// The policy's namespace.
    pub namespace: &'a str,
}

impl<'a> PolicyChange<'a> {
    /// A CREATE of `object` in `namespace` (what `validate` and `audit` judge: an object as
    /// if it were applied anew).
    pub fn create(object: &'a Value, namespace: &'a str) -> Self {
        Self {
            object,
            old_object: None,
            operation: Operation::Create,
            subresource: None,
            namespace,
        }
    }
}

/// Validates a BackendTLSPolicy (CREATE or UPDATE, main resource or `status`).
pub fn policy(
    change: &PolicyChange<'_>,
    snapshot: &Snapshot,
    settings: &Settings,
    now: i64,
) -> Report {
    let mut report = Report::default();
    let object = change.object;
    if change.subresource == Some("status") {
        if let Some(status) = object.get("status").filter(|s| !s.is_null()) {
            let mut walker = Walker::new(&mut report);
            walker.check(Some("status"), &schema::STATUS, status);
            let unknown = std::mem::take(&mut walker.unknown_fields);
            let omitted = walker.unknown_omitted;
            policy::check_unknown_fields(&unknown, omitted, settings, &mut report);
        }
    } else {
        policy_main(
            object,
            change.namespace,
            snapshot,
            settings,
            now,
            &mut report,
        );
    }
    if change.operation == Operation::Update
        && let Some(old) = change.old_object
    {
        ratchet(&mut report, object, old);
    }
    report.finish();
    report
}

fn policy_main(
    object: &Value,
    namespace: &str,
    snapshot: &Snapshot,
    settings: &Settings,
    now: i64,
    report: &mut Report,
) {
    let mut walker = Walker::new(report);
    walker.check(None, &schema::MAIN, object);
    let unknown = std::mem::take(&mut walker.unknown_fields);
    let (omitted, skipped_rules) = (walker.unknown_omitted, walker.skipped_rules);
    policy::check_metadata(object, report);
    policy::check_unknown_fields(&unknown, omitted, settings, report);
    let Some(spec) = object.get("spec").and_then(Value::as_object) else {
        return;
    };
    policy::check_spec(spec, settings, report);
    if let Some(validation) = spec.get("validation").and_then(Value::as_object) {
        refs::check_ca_refs(validation, namespace, snapshot, settings, now, report);
    }
    let own = PolicySummary::targets_of(object, namespace).unwrap_or_else(|| PolicySummary {
        namespace: namespace.to_owned(),
        name: String::new(),
        created: None,
        targets: snapshot::targets(object.get("spec")),
        ca_refs: Vec::new(),
    });
    refs::check_targets(&own, spec, snapshot, report);
    if skipped_rules {
        report.warn(
            FieldPath::root(),
            "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        );
    }
}

/// A change to an object policies may use as a CA bundle: a ConfigMap, a Secret or a
/// ClusterTrustBundle.
#[derive(Clone, Copy, Debug)]
pub struct CaObjectChange<'a> {
    pub kind: CaKind,
    /// The new object (`None` for DELETE).
    pub object: Option<&'a Value>,
    /// The stored object (UPDATE and DELETE).
    pub old_object: Option<&'a Value>,
    pub operation: Operation,
    /// Namespace (ignored for the cluster-scoped ClusterTrustBundle).
    pub namespace: &'a str,
    pub name: &'a str,
}

/// At most this many policies are named in a finding about a CA object they share.
const MAX_NAMED_REFERRERS: usize = 8;

/// Validates a change to a ConfigMap, Secret or ClusterTrustBundle. Only objects that
/// policies in the snapshot use as CA bundles, as the profile's implementation reads them, are
/// examined: a broken bundle is an error under `invalid_refs: Deny` naming the policies (a
/// Secret that also holds a private key gets a warning, an error under `--strict`); deleting
/// one is allowed with a warning. `ca` turns a ConfigMap's `ca.crt` or a ClusterTrustBundle's
/// `spec.trustBundle` into its parsed form (callers pass a cache) and is called only for
/// referenced objects; a Secret's values are parsed without a cache, so that nothing of a
/// Secret outlives the review.
pub fn ca_object(
    change: &CaObjectChange<'_>,
    snapshot: &Snapshot,
    settings: &Settings,
    now: i64,
    ca: impl FnOnce(&str) -> CaText,
) -> Report {
    let mut report = Report::default();
    let profile = &*settings.profile;
    let cluster_scoped = change.kind == CaKind::ClusterTrustBundle;
    let mut referrers: Vec<String> = snapshot
        .policies
        .iter()
        .filter(|p| cluster_scoped || p.namespace == change.namespace)
        .filter(|p| p.reads(profile, change.kind, change.name))
        .map(|p| p.id())
        .collect();
    if referrers.is_empty() {
        return report;
    }
    referrers.sort();
    referrers.dedup();
    let count = referrers.len();
    let mut users = referrers
        .iter()
        .take(MAX_NAMED_REFERRERS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if count > MAX_NAMED_REFERRERS {
        users.push_str(&format!(" and {} more", count - MAX_NAMED_REFERRERS));
    }
    let subject = if count == 1 {
        format!("CA bundle of BackendTLSPolicy {users}")
    } else {
        format!("CA bundle of BackendTLSPolicies {users}")
    };
    match change.operation {
        Operation::Delete => report.warn(
            FieldPath::root(),
            format!("deleting the {subject}: TLS to its backends fails (ResolvedRefs=False)"),
        ),
        Operation::Create | Operation::Update => {
            if let Some(object) = change.object {
                let about = refs::Phrasing::Object {
                    kind: change.kind,
                    users: &subject,
                };
                check_ca_object(change.kind, object, &about, settings, now, ca, &mut report);
            }
            if change.operation == Operation::Update
                && let (Some(new), Some(old)) = (change.object, change.old_object)
            {
                ratchet(&mut report, new, old);
            }
        }
        Operation::Connect => {}
    }
    report.finish();
    report
}

/// The content checks of a CA object under review, one bundle checker for the three kinds.
fn check_ca_object(
    kind: CaKind,
    object: &Value,
    about: &refs::Phrasing<'_>,
    settings: &Settings,
    now: i64,
    ca: impl FnOnce(&str) -> CaText,
    report: &mut Report,
) {
    let source = settings.profile.ca_source(kind);
    let parse = |text: &str| Arc::new(ca_bundle::parse_bundle(text));
    let root = FieldPath::root();
    match kind {
        CaKind::ConfigMap => {
            let entry = ConfigMapEntry::from_object(object, source, ca, parse);
            refs::check_data(&entry, source, about, &root, settings, now, report);
        }
        CaKind::Secret => {
            let secret = SecretCa::from_object(object, source, parse);
            refs::check_secret(&secret, source, about, &root, settings, now, report);
        }
        CaKind::ClusterTrustBundle => {
            let entry = ClusterTrustBundleEntry::from_object(object, ca);
            refs::check_trust_bundle(&entry, about, &root, settings, now, report);
        }
    }
}

/// Validation ratcheting: an error whose value is the same in the stored object does not
/// block an UPDATE; it is kept as a warning. Lists are atomic, so an error inside a list is
/// ratcheted only when the whole list is unchanged. A `Required` error belongs to the object
/// that lacks the field. What is compared is what the rules read of both objects
/// ([`reads::view`]): metadata or data that no rule reads never decides it.
fn ratchet(report: &mut Report, new: &Value, old: &Value) {
    if report.errors.is_empty() {
        return;
    }
    let views = std::cell::OnceCell::new();
    let views = || views.get_or_init(|| (reads::view(new), reads::view(old)));
    let (kept, ratcheted): (Vec<FieldError>, Vec<FieldError>) = std::mem::take(&mut report.errors)
        .into_iter()
        .partition(|error| !unchanged(error, new, old, views));
    report.errors = kept;
    for error in ratcheted {
        let message = format!("{} (not blocking: unchanged)", error.body());
        report.warn(error.path, message);
    }
}

/// Whether the value an error is about is the same in the new and the old object, compared in
/// their `views` where a reading leaves out part of it (the whole object, its metadata, its data
/// maps).
fn unchanged<'v>(
    error: &FieldError,
    new: &Value,
    old: &Value,
    views: impl FnOnce() -> &'v (Value, Value),
) -> bool {
    let mut node = if error.kind == ErrorKind::Required {
        error.path.parent()
    } else {
        error.path.clone()
    };
    if let Some(first_index) = node
        .segments()
        .iter()
        .position(|s| matches!(s, field::Segment::Index(_)))
    {
        node = node.prefix(first_index);
    }
    let read_in_part = match node.segments().first() {
        // An error about the whole object (no spec, not an object) ratchets when nothing the
        // rules read changed.
        None => true,
        Some(field::Segment::Field(first)) => {
            first == "metadata" || reads::DATA_MAPS.contains(&first.as_ref())
        }
        Some(_) => false,
    };
    if read_in_part {
        let (new, old) = views();
        return node.resolve(new) == node.resolve(old);
    }
    node.resolve(new) == node.resolve(old)
}

#[cfg(test)]
mod tests;
