//! `audit`: what the webhook would now say about a cluster's policies and CA bundles.
//!
//! Every BackendTLSPolicy is validated as if it were being created now, against the cluster's
//! current ConfigMaps, Services and other policies (through the same watch caches `serve`
//! uses), and every CA certificate in a referenced ConfigMap is listed with its expiry. Exit 1
//! when a policy would be denied. The cluster is found as kubectl finds it (`--kubeconfig`,
//! `$KUBECONFIG`, `~/.kube/config`, the pod's service account), and one that does not answer
//! is reported at once with the cause.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use super::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};
use crate::cli::{AuditArgs, OutputFormat};
use crate::lookup::{BundleCache, ClusterLookup, ClusterOptions, Lookup, cluster};
use crate::validate::{self, PolicyChange, Wants, ca_bundle};

/// How long to wait for the first sync of the caches.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the API server may take to answer at all (`GET /version`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `audit`.
pub fn run(args: &AuditArgs) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(audit(args))
}

/// One policy's findings.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyFindings {
    namespace: String,
    name: String,
    allowed: bool,
    errors: Vec<AuditFinding>,
    warnings: Vec<AuditFinding>,
}

#[derive(Debug, Serialize)]
struct AuditFinding {
    field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    message: String,
}

/// One CA certificate in a referenced ConfigMap.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CaCertificate {
    namespace: String,
    config_map: String,
    index: usize,
    subject: String,
    not_after: String,
    days_left: i64,
    status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    policies: usize,
    denied: usize,
    with_warnings: usize,
    ca_certificates: usize,
    expired: usize,
    expiring: usize,
}

/// The implementation the policies were judged for.
#[derive(Debug, Serialize)]
struct Implementation {
    name: String,
    implementation: String,
    versions: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditReport {
    implementation: Implementation,
    policies: Vec<PolicyFindings>,
    ca_certificates: Vec<CaCertificate>,
    summary: Summary,
}

async fn audit(args: &AuditArgs) -> anyhow::Result<u8> {
    if args.namespace.is_some() && args.all_namespaces {
        eprintln!(
            "backendtls-webhook audit: --namespace and --all-namespaces conflict (check BACKENDTLS_WEBHOOK_NAMESPACE and BACKENDTLS_WEBHOOK_ALL_NAMESPACES too)"
        );
        return Ok(EXIT_INPUT);
    }
    let connection = match connect(args).await {
        Ok(connection) => connection,
        Err(exit) => return Ok(exit),
    };
    let settings = args.policy.settings();
    let lookup = match synced_lookup(args, &connection, &settings).await {
        Ok(lookup) => lookup,
        Err(exit) => return Ok(exit),
    };
    let namespace = args.namespace.as_deref();
    // The version the caches found by discovery: no second discovery, and the listed policies
    // are of the version the caches hold.
    let Some(resource) = lookup.policy_resource() else {
        eprintln!(
            "backendtls-webhook audit: BackendTLSPolicy is not served by this cluster (Gateway API CRDs missing?)"
        );
        return Ok(EXIT_OK);
    };
    let mut objects = cluster::list_policies(&connection.client, &resource, namespace)
        .await
        .context("cannot list BackendTLSPolicies")?;
    objects.sort_by_key(|o| (text(o, "/metadata/namespace"), text(o, "/metadata/name")));
    let now = args.clock.clock().now();
    let policies = judge_policies(&lookup, &objects, &settings, now).await?;
    let ca_certificates = ca_certificates(&lookup, namespace, now, settings.expiry_window_secs);
    let report = AuditReport::new(&settings, policies, ca_certificates);
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => print!("{}", render_text(&report, settings.expiry_window_secs)),
    }
    Ok(if report.summary.denied > 0 {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// A client for the cluster kubectl would talk to, once its API has answered; else the exit
/// code, the reason already printed.
async fn connect(args: &AuditArgs) -> Result<cluster::ClusterConnection, u8> {
    let connection = match cluster::client_like_kubectl(args.kubeconfig.as_deref()).await {
        Ok(Some(connection)) => connection,
        Ok(None) => {
            eprintln!(
                "backendtls-webhook audit: no cluster: pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config (in a pod, the service account is used)"
            );
            return Err(EXIT_INPUT);
        }
        Err(error) => {
            eprintln!("backendtls-webhook audit: {error}");
            return Err(EXIT_INPUT);
        }
    };
    if let Err(cause) = cluster::probe(&connection.client, PROBE_TIMEOUT).await {
        eprintln!(
            "backendtls-webhook audit: cannot reach the cluster at {}: {cause}",
            connection.description
        );
        return Err(EXIT_INPUT);
    }
    Ok(connection)
}

/// The watch caches `serve` uses, once they have listed everything; else the exit code, the
/// reason already printed.
async fn synced_lookup(
    args: &AuditArgs,
    connection: &cluster::ClusterConnection,
    settings: &validate::Settings,
) -> Result<ClusterLookup, u8> {
    let options = ClusterOptions {
        profile: Arc::clone(&settings.profile),
        read_secrets: args.read_secrets,
        ..ClusterOptions::default()
    };
    let bundles = Arc::new(BundleCache::default());
    let lookup = ClusterLookup::start_with(connection.client.clone(), bundles, options);
    if tokio::time::timeout(SYNC_TIMEOUT, lookup.wait_until_ready())
        .await
        .is_ok()
    {
        return Ok(lookup);
    }
    let failures = lookup.failures();
    let cause = if failures.is_empty() {
        String::new()
    } else {
        format!(": {}", failures.join("; "))
    };
    eprintln!(
        "backendtls-webhook audit: the ConfigMaps, Services and BackendTLSPolicies of {} were not listed within {} s{cause}",
        connection.description,
        SYNC_TIMEOUT.as_secs()
    );
    Err(EXIT_INPUT)
}

/// Each policy validated as if it were being created now, against the cluster's snapshot
/// (Secrets read with GET when --read-secrets is given).
async fn judge_policies(
    lookup: &ClusterLookup,
    objects: &[Value],
    settings: &validate::Settings,
    now: i64,
) -> anyhow::Result<Vec<PolicyFindings>> {
    let mut policies = Vec::with_capacity(objects.len());
    for object in objects {
        let ns = text(object, "/metadata/namespace");
        let change = PolicyChange::create(object, &ns);
        let wants = Wants::for_policy_with(object, &ns, &settings.profile);
        let snapshot = lookup.snapshot(&wants).await?;
        let report = validate::policy(&change, &snapshot, settings, now);
        policies.push(PolicyFindings {
            namespace: ns.clone(),
            name: text(object, "/metadata/name"),
            allowed: report.is_allowed(),
            errors: report
                .errors
                .iter()
                .map(|e| AuditFinding {
                    field: e.path.to_string(),
                    reason: Some(e.kind.reason()),
                    message: e.body(),
                })
                .collect(),
            warnings: report
                .warnings
                .iter()
                .map(|w| AuditFinding {
                    field: w.path.to_string(),
                    reason: None,
                    message: w.message.clone(),
                })
                .collect(),
        });
    }
    Ok(policies)
}

impl AuditReport {
    /// The report on `policies` and `ca_certificates`, judged for `settings`' profile, with
    /// its counts.
    fn new(
        settings: &validate::Settings,
        policies: Vec<PolicyFindings>,
        ca_certificates: Vec<CaCertificate>,
    ) -> Self {
        let summary = Summary {
            policies: policies.len(),
            denied: policies.iter().filter(|p| !p.allowed).count(),
            with_warnings: policies.iter().filter(|p| !p.warnings.is_empty()).count(),
            ca_certificates: ca_certificates.len(),
            expired: ca_certificates
                .iter()
                .filter(|c| c.status == "expired")
                .count(),
            expiring: ca_certificates
                .iter()
                .filter(|c| c.status == "expiring")
                .count(),
        };
        let profile = &settings.profile;
        Self {
            implementation: Implementation {
                name: profile.name.to_string(),
                implementation: profile.implementation.to_string(),
                versions: profile.versions.to_string(),
            },
            policies,
            ca_certificates,
            summary,
        }
    }
}

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn ca_certificates(
    lookup: &ClusterLookup,
    namespace: Option<&str>,
    now: i64,
    window: i64,
) -> Vec<CaCertificate> {
    let mut out = Vec::new();
    for (ns, config_map, bundle) in lookup.referenced_bundles() {
        if namespace.is_some_and(|wanted| wanted != ns) {
            continue;
        }
        for cert in bundle.certificates() {
            let days_left = (cert.not_after - now).div_euclid(86_400);
            let status = if now > cert.not_after {
                "expired"
            } else if now < cert.not_before {
                "not yet valid"
            } else if cert.not_after - now < window {
                "expiring"
            } else {
                "ok"
            };
            out.push(CaCertificate {
                namespace: ns.clone(),
                config_map: config_map.clone(),
                index: cert.index,
                subject: cert.subject.clone(),
                not_after: ca_bundle::format_timestamp(cert.not_after),
                days_left,
                status,
            });
        }
    }
    out
}

fn render_text(report: &AuditReport, window_secs: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let judged = &report.implementation;
    if judged.name != crate::validate::profile::CORE.name {
        let _ = writeln!(
            out,
            "Judged for {} {} (--implementation {})",
            judged.implementation, judged.versions, judged.name
        );
    }
    let _ = writeln!(out, "BackendTLSPolicies: {}", report.policies.len());
    for policy in &report.policies {
        let verdict = if !policy.allowed {
            "DENIED"
        } else if !policy.warnings.is_empty() {
            "allowed, with warnings"
        } else {
            "ok"
        };
        let _ = writeln!(out, "  {}/{}: {verdict}", policy.namespace, policy.name);
        for e in &policy.errors {
            let _ = writeln!(out, "    error: {}: {}", e.field, e.message);
        }
        for w in &policy.warnings {
            if w.field.is_empty() {
                let _ = writeln!(out, "    warning: {}", w.message);
            } else {
                let _ = writeln!(out, "    warning: {}: {}", w.field, w.message);
            }
        }
    }
    let _ = writeln!(
        out,
        "\nCA certificates in referenced ConfigMaps (expiring = within {} days): {}",
        window_secs / 86_400,
        report.ca_certificates.len()
    );
    if !report.ca_certificates.is_empty() {
        let _ = writeln!(
            out,
            "  {:<20} {:<28} {:>3}  {:<21} {:>6}  {:<14} SUBJECT",
            "NAMESPACE", "CONFIGMAP", "#", "NOT AFTER", "DAYS", "STATUS"
        );
        for c in &report.ca_certificates {
            let _ = writeln!(
                out,
                "  {:<20} {:<28} {:>3}  {:<21} {:>6}  {:<14} {}",
                c.namespace, c.config_map, c.index, c.not_after, c.days_left, c.status, c.subject
            );
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} policies: {} would be denied, {} with warnings; {} CA certificates: {} expired, {} expiring",
        s.policies, s.denied, s.with_warnings, s.ca_certificates, s.expired, s.expiring
    );
    out
}
