//! `validate`: lint BackendTLSPolicies and CA ConfigMaps in YAML/JSON files (for CI and GitOps).
//!
//! Every BackendTLSPolicy (`gateway.networking.k8s.io/v1` or `v1alpha3`) and every ConfigMap in
//! the input is validated as a CREATE in its own namespace (`metadata.namespace`, else
//! `default`), with every rule the webhook applies, except that unknown fields are errors (as
//! kubectl's strict field validation makes them). References resolve against the objects of the
//! input (ConfigMaps, Services and the other policies) and, with `--cluster`, against the live
//! cluster; an object in the input wins over the cluster's object of the same name. Other kinds
//! are skipped. A BackendTLSPolicy of a version Gateway API v1.6 does not serve is an error, as
//! are an object without a name (the apiserver's check) and the same object (kind, namespace,
//! name) defined twice.
//!
//! # Input
//!
//! Documents that are not Kubernetes objects (a top-level list, a CI configuration: no string
//! `apiVersion` and `kind`) are skipped and counted. A file found by walking a directory that
//! does not parse as YAML or JSON (a Helm template) is skipped with a note on stderr
//! (`FILE:LINE:COLUMN: note: skipped, ...`), and counted; with `--strict-files` it is an error,
//! as a file named explicitly always is.
//!
//! # Output
//!
//! Text (the default): one line per finding, then a summary line, all on stdout:
//!
//! ```text
//! policies/payments.yaml:12:21: error: spec.validation.hostname: Invalid value: "10.0.0.7": must be a DNS name, not an IP address
//! policies/payments.yaml:9:7: warning: spec.targetRefs[0]: Service "payments" not found in "shop": Accepted=False (TargetNotFound) until created
//! 1 error, 1 warning in 1 object; checked 1 BackendTLSPolicy and 1 ConfigMap from 2 files
//! ```
//!
//! `FILE:LINE:COLUMN: SEVERITY: FIELD: MESSAGE`, where the position is that of the offending
//! value (of the key, for unknown fields, `namespace` in references and `spec.options` keys),
//! or of the nearest enclosing node that exists; `FIELD: ` is left out for findings about the
//! whole object; standard input is the file `-`. Findings are ordered by file (in the order
//! read), document, then position. The summary counts findings and the objects that have
//! them, the policies and ConfigMaps checked, the files read, and what was skipped.
//!
//! `--output json`: one document, `{"summary": {"errors", "warnings", "objects",
//! "objectsWithFindings", "files", "policies", "configMaps", "otherObjects", "notObjects",
//! "unparsableFiles"}, "findings": [{"file", "line", "column", "document", "kind",
//! "namespace", "name", "severity", "field", "message", "reason"}]}` where `document` counts
//! from 1, `field` is `""` for the whole object, and `reason` is the Kubernetes cause reason of
//! an error (`FieldValueInvalid`, ...) and `null` for a warning.
//!
//! Exit codes: 0 clean (warnings allowed), 1 errors (or warnings with `--warnings-as-errors`),
//! 2 input that cannot be read or parsed (`FILE:LINE:COLUMN: error: ...` on stderr), a cluster
//! that cannot be used, or an input without any BackendTLSPolicy or ConfigMap holding
//! `ca.crt` (unless `--allow-empty`: a mistyped path must not pass).

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use super::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};
use crate::cli::{OutputFormat, ValidateArgs};
use crate::lookup::{BundleCache, ClusterLookup, ClusterOptions, MemoryLookup, cluster};
use crate::objects::{self, Document, LoadError};
use crate::validate::field::Segment;
use crate::validate::{
    self, CaKind, Enforcement, ErrorKind, FieldPath, Operation, PolicyChange, Report, Settings,
    Snapshot, Subject, Wants, WarningKind, offline,
};

/// How long `--cluster` may take to list ConfigMaps, Services and BackendTLSPolicies.
const CLUSTER_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the `--cluster` API server may take to answer at all.
const CLUSTER_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Inputs with at least this many objects to check are checked on several threads.
const PARALLEL_MIN_OBJECTS: usize = 512;

/// Runs `validate`.
pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let inputs = match objects::load_inputs(&args.paths, args.strict_files) {
        Ok(inputs) => inputs,
        Err(error) => {
            report_load_error(&error);
            return Ok(EXIT_INPUT);
        }
    };
    for skipped in &inputs.unparsable {
        report_skipped_file(skipped);
    }
    let documents = &inputs.documents;
    let settings = Settings {
        unknown_fields: Enforcement::Deny,
        ..args.policy.settings()
    };
    let now = args.clock.clock().now();
    let bundles = Arc::new(BundleCache::default());
    // The runtime drives the cluster watches; it lives as long as the lookup is read.
    let live = match &args.cluster {
        None => None,
        Some(kubeconfig) => match connect(kubeconfig, &bundles, &settings) {
            Ok(live) => Some(live),
            Err(error) => {
                eprintln!("backendtls-webhook validate: --cluster: {error}");
                return Ok(EXIT_INPUT);
            }
        },
    };
    let resolver = Resolver::new(
        documents,
        &bundles,
        live.as_ref().map(|(_, l)| l),
        &settings,
    );
    let checked = check_all(documents, &resolver, &settings, now);
    let summary = Totals::new(&inputs, &checked);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match args.output {
        OutputFormat::Text => write_text(&mut out, &checked, &summary),
        OutputFormat::Json => write_json(&mut out, &checked, &summary),
    }
    .and_then(|()| out.flush());
    match written {
        // A reader that stopped early (`| head`) does not change the verdict.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write the report");
        }
        _ => {}
    }
    let failed = summary.errors > 0 || (args.warnings_as_errors && summary.warnings > 0);
    if failed {
        return Ok(EXIT_FINDINGS);
    }
    if summary.is_empty(checked.iter().map(|c| c.document)) && !args.allow_empty {
        eprintln!(
            "backendtls-webhook validate: nothing to check: {} (a mistyped path?); pass --allow-empty to accept that",
            describe_empty(&args.paths, &summary)
        );
        return Ok(EXIT_INPUT);
    }
    Ok(EXIT_OK)
}

/// What an input without policies or CA ConfigMaps held, for the message.
fn describe_empty(paths: &[std::path::PathBuf], summary: &Totals) -> String {
    let named = match paths {
        [path] if path.as_os_str() == "-" => "standard input".to_owned(),
        [path] => path.display().to_string(),
        paths => format!("the {} paths given", paths.len()),
    };
    if summary.files == 0 {
        format!("no .yaml, .yml or .json file in {named}")
    } else {
        format!(
            "no BackendTLSPolicy and no ConfigMap with ca.crt in {named} ({} read)",
            plural(summary.files, "file")
        )
    }
}

/// Parse errors print as `FILE:LINE:COLUMN: error: MESSAGE`, like findings.
fn report_load_error(error: &LoadError) {
    match error {
        LoadError::Parse {
            source_name,
            line,
            column,
            message,
        } => eprintln!("{source_name}:{line}:{column}: error: {message}"),
        other => eprintln!("backendtls-webhook validate: {other}"),
    }
}

/// A file found in a directory that does not parse, skipped: a note on stderr in the findings'
/// format, so that a broken manifest is not skipped unseen.
fn report_skipped_file(error: &LoadError) {
    if let LoadError::Parse {
        source_name,
        line,
        column,
        message,
    } = error
    {
        eprintln!(
            "{source_name}:{line}:{column}: note: skipped, not YAML or JSON: {message} (name the file, or pass --strict-files, to make this an error)"
        );
    }
}

/// Connects to the cluster and waits (bounded) until its caches have listed once.
fn connect(
    kubeconfig: &Path,
    bundles: &Arc<BundleCache>,
    settings: &Settings,
) -> anyhow::Result<(tokio::runtime::Runtime, ClusterLookup)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let lookup = runtime.block_on(async {
        let client = cluster::client(Some(kubeconfig))
            .await?
            .context("no cluster configured")?;
        cluster::probe(&client, CLUSTER_PROBE_TIMEOUT)
            .await
            .map_err(|cause| {
                anyhow::anyhow!(
                    "cannot reach the cluster of {}: {cause}",
                    kubeconfig.display()
                )
            })?;
        let options = ClusterOptions {
            profile: Arc::clone(&settings.profile),
            ..ClusterOptions::default()
        };
        let lookup = ClusterLookup::start_with(client, Arc::clone(bundles), options);
        tokio::time::timeout(CLUSTER_SYNC_TIMEOUT, lookup.wait_until_ready())
            .await
            .map_err(|_| {
                let failures = lookup.failures();
                let cause = if failures.is_empty() {
                    " (not allowed to list them?)".to_owned()
                } else {
                    format!(": {}", failures.join("; "))
                };
                anyhow::anyhow!(
                    "the cluster of {} did not list its ConfigMaps, Services and BackendTLSPolicies within {} s{cause}",
                    kubeconfig.display(),
                    CLUSTER_SYNC_TIMEOUT.as_secs()
                )
            })?;
        anyhow::Ok(lookup)
    })?;
    Ok((runtime, lookup))
}

// ---------------------------------------------------------------------------------------------
// What the input holds
// ---------------------------------------------------------------------------------------------

fn metadata_text<'v>(object: &'v Value, field: &str) -> Option<&'v str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// `metadata.namespace`, or `default` as `kubectl apply` would use (`""` for the
/// cluster-scoped ClusterTrustBundle).
fn namespace_of(object: &Value) -> &str {
    if object.get("kind").and_then(Value::as_str) == Some("ClusterTrustBundle") {
        return "";
    }
    metadata_text(object, "namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// Resolves references for `validate`: ConfigMaps, Services and served policies of the
/// input (a [`MemoryLookup`], whose policy index makes finding the policies that share a
/// target a hash lookup), completed by the cluster's with `--cluster` (the input's object
/// wins over the cluster's of the same name).
struct Resolver<'c> {
    memory: MemoryLookup,
    cluster: Option<&'c ClusterLookup>,
    /// Parsed CA bundles, shared with the lookups.
    bundles: &'c BundleCache,
}

impl<'c> Resolver<'c> {
    fn new(
        documents: &[Document],
        bundles: &'c BundleCache,
        cluster: Option<&'c ClusterLookup>,
        settings: &Settings,
    ) -> Self {
        let objects = documents.iter().map(|d| &d.value);
        let memory = MemoryLookup::from_objects_for(objects, bundles, settings.profile.clone());
        Self {
            memory,
            cluster,
            bundles,
        }
    }

    /// The snapshot for `wants`: what the input holds, completed by the cluster.
    fn snapshot(&self, wants: &Wants) -> Snapshot {
        let mut snapshot = self.memory.snapshot_now(wants);
        if let Some(cluster) = self.cluster {
            let live = cluster.snapshot_now(wants);
            for (name, entry) in live.config_maps {
                snapshot.config_maps.entry(name).or_insert(entry);
            }
            for (name, entry) in live.services {
                snapshot.services.entry(name).or_insert(entry);
            }
            for (name, entry) in live.secrets {
                snapshot.secrets.entry(name).or_insert(entry);
            }
            for (name, entry) in live.cluster_trust_bundles {
                snapshot.cluster_trust_bundles.entry(name).or_insert(entry);
            }
            for policy in live.policies {
                if !self.memory.has_policy(&policy.namespace, &policy.name) {
                    snapshot.policies.push(policy);
                }
            }
        }
        snapshot
    }
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum LintSeverity {
    Error,
    Warning,
}

impl LintSeverity {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One finding, placed in its source.
#[derive(Clone, Debug)]
struct LintFinding {
    line: usize,
    column: usize,
    severity: LintSeverity,
    field: String,
    message: String,
    reason: Option<&'static str>,
}

/// One checked object and what was found.
#[derive(Debug)]
struct Checked<'d> {
    document: &'d Document,
    subject: Subject,
    findings: Vec<LintFinding>,
}

impl Checked<'_> {
    fn name(&self) -> &str {
        metadata_text(&self.document.value, "name").unwrap_or("")
    }

    fn namespace(&self) -> &str {
        namespace_of(&self.document.value)
    }
}

/// Checks every policy and ConfigMap of `documents`, in input order.
fn check_all<'d>(
    documents: &'d [Document],
    resolver: &Resolver<'_>,
    settings: &Settings,
    now: i64,
) -> Vec<Checked<'d>> {
    // Each object the rules judge and the profile's implementation reads, with whether the
    // rules know its version.
    let subjects: Vec<(&Document, Subject, bool)> = documents
        .iter()
        .filter_map(|d| {
            let (subject, version) = Subject::of_object(&d.value)?;
            let known = subject != Subject::Policy || validate::is_known_version(version);
            subject
                .read_by(&settings.profile)
                .then_some((d, subject, known))
        })
        .collect();
    let check_slice = |slice: &[(&'d Document, Subject, bool)]| -> Vec<Checked<'d>> {
        slice
            .iter()
            .map(|&(document, subject, known)| {
                check_one(document, subject, known, resolver, settings, now)
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut checked = if threads > 1 && subjects.len() >= PARALLEL_MIN_OBJECTS {
        let chunk = subjects.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = subjects
                .chunks(chunk)
                .map(|slice| scope.spawn(move || check_slice(slice)))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    } else {
        check_slice(&subjects)
    };
    mark_duplicates(&mut checked);
    checked
}

/// Checks one object the rules judge; `known`: whether the rules know its version.
fn check_one<'d>(
    document: &'d Document,
    subject: Subject,
    known: bool,
    resolver: &Resolver<'_>,
    settings: &Settings,
    now: i64,
) -> Checked<'d> {
    let object = &document.value;
    let namespace = namespace_of(object);
    let mut report = match subject {
        Subject::Policy if !known => offline::unserved(object),
        Subject::Policy => {
            let wants = Wants::for_policy_with(object, namespace, &settings.profile);
            let snapshot = resolver.snapshot(&wants);
            let change = PolicyChange::create(object, namespace);
            validate::policy(&change, &snapshot, settings, now)
        }
        Subject::Ca(kind) => {
            let name = metadata_text(object, "name").unwrap_or("");
            let snapshot = resolver.snapshot(&Wants::for_ca_object(kind, namespace, name));
            let change = validate::CaObjectChange {
                kind,
                object: Some(object),
                old_object: None,
                operation: Operation::Create,
                namespace,
                name,
            };
            validate::ca_object(&change, &snapshot, settings, now, |text| {
                resolver.bundles.get(text)
            })
        }
    };
    if known {
        offline::require_name(object, &mut report);
    }
    if subject == Subject::Policy && known {
        offline::warn_deprecated_version(object, &mut report);
    }
    Checked {
        document,
        subject,
        findings: place(document, report),
    }
}

/// Turns a report into findings with source positions, in document order (errors before
/// warnings at the same position; otherwise the report's order).
fn place(document: &Document, report: Report) -> Vec<LintFinding> {
    let mut findings = Vec::with_capacity(report.errors.len() + report.warnings.len());
    for error in report.errors {
        let on_key = error.kind == ErrorKind::Forbidden || is_option_key(&error.path);
        findings.push(finding(
            document,
            &error.path,
            on_key,
            LintSeverity::Error,
            error.body(),
            Some(error.kind.reason()),
        ));
    }
    for warning in report.warnings {
        let on_key = is_option_key(&warning.path) || warning.kind == WarningKind::UnknownField;
        findings.push(finding(
            document,
            &warning.path,
            on_key,
            LintSeverity::Warning,
            warning.message,
            None,
        ));
    }
    findings.sort_by_key(|f| (f.line, f.column));
    findings
}

fn finding(
    document: &Document,
    path: &FieldPath,
    on_key: bool,
    severity: LintSeverity,
    message: String,
    reason: Option<&'static str>,
) -> LintFinding {
    let (line, column) = document.positions.locate(path, on_key);
    LintFinding {
        line,
        column,
        severity,
        field: path.to_string(),
        message,
        reason,
    }
}

/// `spec.options[key]`: findings about an option are about its key.
fn is_option_key(path: &FieldPath) -> bool {
    matches!(
        path.segments(),
        [Segment::Field(spec), Segment::Field(options), Segment::Key(_)]
            if spec == "spec" && options == "options"
    )
}

/// The second and later definitions of an object get the duplicate error
/// ([`offline::Definitions`]) at their `metadata.name`.
fn mark_duplicates(checked: &mut [Checked<'_>]) {
    let mut definitions = offline::Definitions::default();
    for item in checked.iter_mut() {
        let document = item.document;
        let name = metadata_text(&document.value, "name").unwrap_or("");
        let namespace = namespace_of(&document.value);
        let path = FieldPath::root().field("metadata").field("name");
        let (line, column) = document.positions.locate(&path, false);
        let at = Location {
            source: &document.source,
            line,
            column,
        };
        let Some(error) = definitions.define(item.subject, namespace, name, at) else {
            continue;
        };
        let duplicate = LintFinding {
            line,
            column,
            severity: LintSeverity::Error,
            field: error.path.to_string(),
            message: error.body(),
            reason: Some(error.kind.reason()),
        };
        let at = item
            .findings
            .partition_point(|f| (f.line, f.column) <= (line, column));
        item.findings.insert(at, duplicate);
    }
}

/// Where an object is defined: `file:line:column`.
struct Location<'d> {
    source: &'d str,
    line: usize,
    column: usize,
}

impl std::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// Totals, and the verdict's inputs.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    errors: usize,
    warnings: usize,
    /// Objects checked: `policies + configMaps + secrets + clusterTrustBundles`.
    objects: usize,
    objects_with_findings: usize,
    /// Files read (standard input counts as one), skipped ones included.
    files: usize,
    /// BackendTLSPolicies checked (of any version).
    policies: usize,
    config_maps: usize,
    /// Checked when the implementation reads CA bundles from them (`--implementation`).
    secrets: usize,
    cluster_trust_bundles: usize,
    /// Kubernetes objects of other kinds, skipped.
    other_objects: usize,
    /// Documents that are not Kubernetes objects, skipped.
    not_objects: usize,
    /// Files found in directories that do not parse, skipped.
    unparsable_files: usize,
}

impl Totals {
    fn new(inputs: &objects::Inputs, checked: &[Checked<'_>]) -> Self {
        let all = checked.iter().flat_map(|c| &c.findings);
        let errors = all
            .clone()
            .filter(|f| f.severity == LintSeverity::Error)
            .count();
        let count = |subject: Subject| checked.iter().filter(|c| c.subject == subject).count();
        Self {
            errors,
            warnings: all.count() - errors,
            objects: checked.len(),
            objects_with_findings: checked.iter().filter(|c| !c.findings.is_empty()).count(),
            files: inputs.files,
            policies: count(Subject::Policy),
            config_maps: count(Subject::Ca(CaKind::ConfigMap)),
            secrets: count(Subject::Ca(CaKind::Secret)),
            cluster_trust_bundles: count(Subject::Ca(CaKind::ClusterTrustBundle)),
            other_objects: inputs.documents.len() - checked.len(),
            not_objects: inputs.not_objects,
            unparsable_files: inputs.unparsable.len(),
        }
    }

    /// Nothing this tool is for: no BackendTLSPolicy and no ConfigMap holding `ca.crt` among
    /// the `checked` documents.
    fn is_empty<'d>(&self, mut checked: impl Iterator<Item = &'d Document>) -> bool {
        self.policies == 0
            && !checked.any(|d| {
                ["data", "binaryData"].iter().any(|map| {
                    d.value
                        .get(map)
                        .and_then(|m| m.get(validate::CA_KEY))
                        .is_some()
                })
            })
    }

    /// `1 error, 2 warnings in 1 object; checked 3 BackendTLSPolicies and 1 ConfigMap from 4
    /// files; skipped 2 objects of other kinds`.
    fn line(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{}, {}",
            plural(self.errors, "error"),
            plural(self.warnings, "warning")
        );
        if self.objects_with_findings > 0 {
            let _ = write!(out, " in {}", plural(self.objects_with_findings, "object"));
        }
        let policies = match self.policies {
            1 => "1 BackendTLSPolicy".to_owned(),
            n => format!("{n} BackendTLSPolicies"),
        };
        // Secrets and ClusterTrustBundles only when a profile has them checked.
        let mut kinds = vec![policies, plural(self.config_maps, "ConfigMap")];
        if self.secrets > 0 {
            kinds.push(plural(self.secrets, "Secret"));
        }
        if self.cluster_trust_bundles > 0 {
            kinds.push(plural(self.cluster_trust_bundles, "ClusterTrustBundle"));
        }
        let last = kinds.pop().unwrap_or_default();
        let _ = write!(
            out,
            "; checked {} and {last} from {}",
            kinds.join(", "),
            plural(self.files, "file")
        );
        let mut skipped = Vec::new();
        if self.other_objects > 0 {
            skipped.push(format!(
                "{} of other kinds",
                plural(self.other_objects, "object")
            ));
        }
        match self.not_objects {
            0 => {}
            1 => skipped.push("1 document that is not a Kubernetes object".to_owned()),
            n => skipped.push(format!("{n} documents that are not Kubernetes objects")),
        }
        match self.unparsable_files {
            0 => {}
            1 => skipped.push("1 file that does not parse".to_owned()),
            n => skipped.push(format!("{n} files that do not parse")),
        }
        if !skipped.is_empty() {
            let _ = write!(out, "; skipped {}", skipped.join(", "));
        }
        out
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn write_text(out: &mut impl Write, checked: &[Checked<'_>], summary: &Totals) -> io::Result<()> {
    for item in checked {
        let source = &item.document.source;
        for f in &item.findings {
            let severity = f.severity.as_str();
            if f.field.is_empty() {
                writeln!(
                    out,
                    "{source}:{}:{}: {severity}: {}",
                    f.line, f.column, f.message
                )?;
            } else {
                writeln!(
                    out,
                    "{source}:{}:{}: {severity}: {}: {}",
                    f.line, f.column, f.field, f.message
                )?;
            }
        }
    }
    writeln!(out, "{}", summary.line())
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    document: usize,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    severity: LintSeverity,
    field: &'a str,
    message: &'a str,
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: &'a Totals,
    findings: Vec<JsonFinding<'a>>,
}

fn write_json(out: &mut impl Write, checked: &[Checked<'_>], summary: &Totals) -> io::Result<()> {
    let findings = checked
        .iter()
        .flat_map(|item| {
            item.findings.iter().map(move |f| JsonFinding {
                file: &item.document.source,
                line: f.line,
                column: f.column,
                document: item.document.index + 1,
                kind: item.subject.kind(),
                namespace: item.namespace(),
                name: item.name(),
                severity: f.severity,
                field: &f.field,
                message: &f.message,
                reason: f.reason,
            })
        })
        .collect();
    let report = JsonReport { summary, findings };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_keys_are_located_by_their_key() {
        assert!(is_option_key(&FieldPath::parse(
            "spec.options[example.com/x]"
        )));
        assert!(!is_option_key(&FieldPath::parse("spec.options")));
        assert!(!is_option_key(&FieldPath::parse("data[ca.crt]")));
        assert!(!is_option_key(&FieldPath::parse(
            "spec.validation.hostname"
        )));
    }

    #[test]
    fn summaries_say_what_was_checked_and_skipped() {
        let summary = Totals {
            errors: 1,
            warnings: 2,
            objects: 1,
            objects_with_findings: 1,
            files: 3,
            policies: 1,
            ..Totals::default()
        };
        assert_eq!(
            summary.line(),
            "1 error, 2 warnings in 1 object; checked 1 BackendTLSPolicy and 0 ConfigMaps from 3 files"
        );
        let summary = Totals {
            objects: 5,
            files: 1,
            policies: 3,
            config_maps: 2,
            other_objects: 1,
            not_objects: 2,
            unparsable_files: 1,
            ..Totals::default()
        };
        assert_eq!(
            summary.line(),
            "0 errors, 0 warnings; checked 3 BackendTLSPolicies and 2 ConfigMaps from 1 file; skipped 1 object of other kinds, 2 documents that are not Kubernetes objects, 1 file that does not parse"
        );
        let summary = Totals {
            objects: 4,
            files: 1,
            policies: 1,
            secrets: 2,
            cluster_trust_bundles: 1,
            ..Totals::default()
        };
        assert!(
            summary.line().ends_with(
                "; checked 1 BackendTLSPolicy, 0 ConfigMaps, 2 Secrets and 1 ClusterTrustBundle from 1 file"
            ),
            "{}",
            summary.line()
        );
        let summary = Totals {
            not_objects: 1,
            unparsable_files: 2,
            ..Totals::default()
        };
        assert!(
            summary.line().ends_with(
                "; skipped 1 document that is not a Kubernetes object, 2 files that do not parse"
            ),
            "{}",
            summary.line()
        );
    }
}
