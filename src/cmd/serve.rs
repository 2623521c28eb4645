//! `serve`: the HTTPS webhook.

use std::sync::Arc;

use anyhow::Context;
use tracing::{info, warn};

use super::EXIT_OK;
use crate::admission::{Clock, Reviewer};
use crate::cli::ServeArgs;
use crate::lookup::{BundleCache, ClusterLookup, ClusterOptions, Lookup, MemoryLookup, cluster};
use crate::objects;
use crate::server::metrics::Metrics;
use crate::server::tls::TlsOptions;
use crate::server::{Limits, ServeConfig, Server, shutdown_signal};
use crate::validate::CaKind;
use crate::validate::profile::Profile;

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> anyhow::Result<u8> {
    let _log = crate::telemetry::init(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve(args));
    // The server has drained (within --shutdown-timeout); a review still running on a worker
    // thread does not keep the process alive.
    runtime.shutdown_timeout(EXIT_GRACE);
    served?;
    Ok(EXIT_OK)
}

/// How long work left after the drain may delay the exit.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    check_certificate_files(args)?;
    let bundles = Arc::new(BundleCache::default());
    let metrics = Arc::new(Metrics::new());
    let settings = args.policy.settings();
    let lookup = start_lookup(args, &settings.profile, &bundles, &metrics).await?;
    let ttl = i64::try_from(args.decision_cache_ttl.as_secs()).unwrap_or(i64::MAX);
    let reviewer = Arc::new(
        Reviewer::new(settings, lookup, bundles, Clock::System)
            .with_decision_cache(args.decision_cache_size, ttl)
            .with_decision_cache_bytes(args.decision_cache_bytes),
    );
    let server = Server::bind(&serve_config(args), reviewer, metrics).await?;
    info!(
        address = %server.local_addr(),
        certificate = %args.tls_cert_file.display(),
        mtls = args.client_ca_file.is_some(),
        http2 = args.http2,
        "serving https://{}/validate",
        server.local_addr()
    );
    server.run(shutdown_signal()).await;
    Ok(())
}

/// The lookup `serve` answers from: the cluster's watch caches (with the CA-expiry metrics
/// following them) when a cluster is configured, else the objects of `--objects`.
async fn start_lookup(
    args: &ServeArgs,
    profile: &Arc<Profile>,
    bundles: &Arc<BundleCache>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn Lookup>> {
    let Some(client) = cluster::client(args.kubeconfig.as_deref()).await? else {
        let documents = objects::load_paths(&args.objects).context("cannot load --objects")?;
        let objects = documents.iter().map(|d| &d.value);
        let lookup = MemoryLookup::from_objects_for(objects, bundles, Arc::clone(profile));
        info!(lookup = %lookup.describe(), implementation = %profile.name, "running clusterless: references are resolved from --objects only");
        return Ok(Arc::new(lookup));
    };
    if !args.objects.is_empty() {
        anyhow::bail!(
            "--objects seeds the clusterless lookup; it cannot be combined with a cluster"
        );
    }
    info!(
        implementation = %profile.name,
        read_secrets = args.read_secrets,
        "cluster mode: watching BackendTLSPolicies, Services and ConfigMaps"
    );
    if args.read_secrets && profile.ca_source(CaKind::Secret).is_none() {
        warn!(
            implementation = %profile.name,
            "--read-secrets has no effect: this implementation reads no Secret CA references"
        );
    }
    let options = ClusterOptions {
        profile: Arc::clone(profile),
        read_secrets: args.read_secrets,
        ..ClusterOptions::default()
    };
    let lookup = Arc::new(ClusterLookup::start_with(
        client,
        Arc::clone(bundles),
        options,
    ));
    tokio::spawn(crate::server::metrics::follow_ca_expiry(
        Arc::clone(&lookup),
        Arc::clone(metrics),
        crate::server::metrics::CA_EXPIRY_INTERVAL,
    ));
    Ok(lookup)
}

/// The listener, TLS files and limits the flags give.
fn serve_config(args: &ServeArgs) -> ServeConfig {
    ServeConfig {
        listen: args.listen,
        tls: TlsOptions {
            cert_file: args.tls_cert_file.clone(),
            key_file: args.tls_key_file.clone(),
            client_ca_file: args.client_ca_file.clone(),
            http2: args.http2,
        },
        limits: Limits {
            body_bytes: args.max_body_bytes,
            body_budget: args.max_inflight_body_bytes,
            max_connections: args.max_connections.max(1),
            review_workers: args
                .review_workers
                .unwrap_or_else(crate::server::default_review_workers)
                .max(1),
            handshake_timeout: args.handshake_timeout,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            write_timeout: args.write_timeout,
            idle_timeout: args.idle_timeout,
            shutdown_timeout: args.shutdown_timeout,
            ..Limits::default()
        },
    }
}

/// The serving certificate and key must exist before anything starts; when they do not, say
/// how to make development ones.
fn check_certificate_files(args: &ServeArgs) -> anyhow::Result<()> {
    let missing: Vec<String> = [&args.tls_cert_file, &args.tls_key_file]
        .into_iter()
        .filter(|path| !path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let folder = args
        .tls_cert_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| ".".to_owned(), |p| p.display().to_string());
    anyhow::bail!(
        "no serving certificate: {} not found; for development, create one with `backendtls-webhook certs --out {folder}` (in a checkout: `make certs`, or `make run`, which does both), or pass --tls-cert-file and --tls-key-file",
        missing.join(" and ")
    )
}
