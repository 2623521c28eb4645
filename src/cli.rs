//! Command-line arguments (clap derive). Every flag of `serve` has an environment-variable
//! twin named `BACKENDTLS_WEBHOOK_<FLAG>`; the validation settings are shared by `serve`,
//! `review` and `validate`, with the same defaults everywhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::admission::Clock;
use crate::validate::profile::{self, Profile};
use crate::validate::{self, Enforcement, GroupKind, Settings};

/// Validating admission webhook for Gateway API BackendTLSPolicy and the CA ConfigMaps it uses.
#[derive(Debug, Parser)]
#[command(name = "backendtls-webhook", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve AdmissionReviews over HTTPS (POST /validate), with /healthz, /readyz, /metrics.
    Serve(Box<ServeArgs>),
    /// Answer one AdmissionReview (JSON) from a file or stdin on stdout.
    Review(ReviewArgs),
    /// Lint BackendTLSPolicies and CA ConfigMaps in YAML/JSON files (for CI and GitOps).
    Validate(ValidateArgs),
    /// Report what the webhook would now say about every policy and CA bundle in a cluster.
    Audit(AuditArgs),
    /// Write development certificates: ca.crt, tls.crt and tls.key.
    Certs(CertsArgs),
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        default_value = "0.0.0.0:8443",
        env = "BACKENDTLS_WEBHOOK_LISTEN"
    )]
    pub listen: std::net::SocketAddr,

    /// Serving certificate (PEM, leaf first). Reloaded when the file changes.
    #[arg(
        long,
        default_value = "certs/tls.crt",
        env = "BACKENDTLS_WEBHOOK_TLS_CERT_FILE"
    )]
    pub tls_cert_file: PathBuf,

    /// Serving private key (PEM). Reloaded when the file changes.
    #[arg(
        long,
        default_value = "certs/tls.key",
        env = "BACKENDTLS_WEBHOOK_TLS_KEY_FILE"
    )]
    pub tls_key_file: PathBuf,

    /// Require client certificates signed by these CAs (the apiserver's client identity).
    #[arg(long, env = "BACKENDTLS_WEBHOOK_CLIENT_CA_FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// Offer HTTP/2 through ALPN (the apiserver uses HTTP/1.1 for webhooks).
    #[arg(long, env = "BACKENDTLS_WEBHOOK_HTTP2")]
    pub http2: bool,

    /// Watch this cluster (kubeconfig file). In a pod the service account is used without
    /// this flag; with neither, the webhook runs clusterless.
    #[arg(long, value_name = "PATH", env = "BACKENDTLS_WEBHOOK_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Read the Secrets that policies name as CA bundles, with GET (the profile must read
    /// Secrets; needs `get` on secrets, which manifests/overlays/secret-ca grants). Without it
    /// their content is reported as not checked.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_READ_SECRETS")]
    pub read_secrets: bool,

    /// Objects that seed the in-memory lookup when no cluster is used (YAML/JSON files or
    /// directories; repeatable).
    #[arg(
        long,
        value_name = "PATH",
        env = "BACKENDTLS_WEBHOOK_OBJECTS",
        value_delimiter = ','
    )]
    pub objects: Vec<PathBuf>,

    /// Decisions on byte-identical requests remembered (GitOps tools re-apply unchanged
    /// objects often); 0 disables the cache. With the cache, a request it cannot answer reads
    /// the object twice (once to key the cache, once to parse it); without it, once.
    #[arg(
        long,
        default_value_t = 1024,
        env = "BACKENDTLS_WEBHOOK_DECISION_CACHE_SIZE"
    )]
    pub decision_cache_size: usize,

    /// How long a remembered decision may be reused (certificate expiry is time-dependent).
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_DECISION_CACHE_TTL")]
    pub decision_cache_ttl: std::time::Duration,

    /// Log format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "BACKENDTLS_WEBHOOK_LOG_FORMAT"
    )]
    pub log_format: crate::telemetry::LogFormat,

    /// Largest request body in bytes (larger bodies get 413).
    #[arg(long, default_value_t = 7 << 20, env = "BACKENDTLS_WEBHOOK_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,

    /// Connections served at once; more wait in the accept backlog.
    #[arg(
        long,
        default_value_t = 4096,
        env = "BACKENDTLS_WEBHOOK_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,

    /// Time allowed for a TLS handshake.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: std::time::Duration,

    /// Time allowed to send request headers; also how long a keep-alive connection may idle.
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_HEADER_TIMEOUT")]
    pub header_timeout: std::time::Duration,

    /// Time allowed to send a request body.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_BODY_TIMEOUT")]
    pub body_timeout: std::time::Duration,

    /// Time allowed to drain in-flight requests after SIGTERM.
    #[arg(long, default_value = "20s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: std::time::Duration,

    /// Validation settings.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Output format of `validate` and `audit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// `file:line:column: field: message` lines (validate) or a table (audit), then a summary.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories (YAML or JSON, multi-document, recursive); `-` reads stdin.
    #[arg(value_name = "PATH|-", required = true)]
    pub paths: Vec<PathBuf>,

    /// Also resolve references against the live cluster (this kubeconfig).
    #[arg(long, value_name = "KUBECONFIG")]
    pub cluster: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,

    /// Exit 1 when there are warnings, not only errors.
    #[arg(long)]
    pub warnings_as_errors: bool,

    /// The clock (`--now`).
    #[command(flatten)]
    pub clock: ClockArgs,

    /// Validation settings.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Kubeconfig of the cluster to audit (default: the in-cluster service account).
    #[arg(long, value_name = "PATH", env = "BACKENDTLS_WEBHOOK_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Only this namespace.
    #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,

    /// Every namespace (the default when --namespace is not given).
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,

    /// Read the Secrets that policies name as CA bundles, with GET (see `serve --help`).
    #[arg(long, env = "BACKENDTLS_WEBHOOK_READ_SECRETS")]
    pub read_secrets: bool,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,

    /// The clock (`--now`).
    #[command(flatten)]
    pub clock: ClockArgs,

    /// Validation settings (`--expiry-window` sets what counts as expiring soon).
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Folder to write ca.crt, tls.crt and tls.key into.
    #[arg(long, default_value = "certs")]
    pub out: PathBuf,

    /// Name of the webhook's Service (the certificate is valid for NAME.NS.svc).
    #[arg(long, default_value = "backendtls-webhook")]
    pub service: String,

    /// Namespace of the webhook's Service.
    #[arg(long, default_value = "backendtls-webhook")]
    pub namespace: String,

    /// Only write certificates when they do not exist yet.
    #[arg(long)]
    pub if_missing: bool,
}

/// `review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The AdmissionReview to answer; `-` or nothing reads stdin.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,

    /// YAML or JSON files or directories (multi-document) of ConfigMaps, Services and
    /// BackendTLSPolicies that form the lookup snapshot. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub objects: Vec<PathBuf>,

    /// The clock (`--now`).
    #[command(flatten)]
    pub clock: ClockArgs,

    /// Validation settings.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Warn or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EnforcementArg {
    /// Allow, with a warning.
    Warn,
    /// Deny.
    Deny,
}

impl From<EnforcementArg> for Enforcement {
    fn from(arg: EnforcementArg) -> Self {
        match arg {
            EnforcementArg::Warn => Enforcement::Warn,
            EnforcementArg::Deny => Enforcement::Deny,
        }
    }
}

/// `--now`, shared by the commands that judge certificates offline.
#[derive(Debug, Clone, Args)]
pub struct ClockArgs {
    /// Evaluate certificate validity at this instant (RFC 3339) instead of the system clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub now: Option<i64>,
}

impl ClockArgs {
    /// The fixed instant given, else the system clock.
    pub fn clock(&self) -> Clock {
        self.now.map_or(Clock::System, Clock::Fixed)
    }
}

/// The validation settings shared by `serve`, `review` and `validate`.
#[derive(Clone, Debug, Args)]
pub struct PolicyArgs {
    /// A referenced CA ConfigMap that does not exist or has no `ca.crt` in `data`.
    #[arg(
        long,
        value_enum,
        default_value = "warn",
        env = "BACKENDTLS_WEBHOOK_MISSING_REFS"
    )]
    pub missing_refs: EnforcementArg,

    /// A CA reference of the wrong kind, or a `ca.crt` that can never work (empty, not PEM,
    /// undecodable, a private key, no usable CA certificate).
    #[arg(
        long,
        value_enum,
        default_value = "deny",
        env = "BACKENDTLS_WEBHOOK_INVALID_REFS"
    )]
    pub invalid_refs: EnforcementArg,

    /// Admit targets of this GROUP/KIND besides core Services (repeatable), e.g.
    /// multicluster.x-k8s.io/ServiceImport.
    #[arg(
        long = "allow-target-kind",
        value_name = "GROUP/KIND",
        env = "BACKENDTLS_WEBHOOK_ALLOW_TARGET_KINDS",
        value_delimiter = ','
    )]
    pub allow_target_kinds: Vec<GroupKind>,

    /// Deny what the spec discourages: several targetRefs, duplicate CA refs or SANs,
    /// un-prefixed option keys, wildcard SAN hostnames.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_STRICT")]
    pub strict: bool,

    /// Warn about CA certificates that expire within this window (e.g. 30d, 720h).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_EXPIRY_WINDOW")]
    pub expiry_window: std::time::Duration,

    /// The Gateway API implementation the policies are for: judge them by what it honours
    /// (default: core, the Gateway API core conformance profile).
    #[arg(
        long,
        value_name = "NAME",
        env = "BACKENDTLS_WEBHOOK_IMPLEMENTATION",
        value_parser = clap::builder::PossibleValuesParser::new(profile::built_in_names())
            .map(|name: String| Arc::new(profile::built_in(&name).cloned().unwrap_or_default())),
        conflicts_with = "implementation_file"
    )]
    pub implementation: Option<Arc<Profile>>,

    /// A profile (YAML) for an implementation or version that is not built in (see the
    /// README's "Implementation profiles").
    #[arg(
        long,
        value_name = "PATH",
        env = "BACKENDTLS_WEBHOOK_IMPLEMENTATION_FILE",
        value_parser = load_profile_file
    )]
    pub implementation_file: Option<Arc<Profile>>,
}

impl PolicyArgs {
    /// The settings, for admission (unknown fields warn, since the apiserver prunes them).
    pub fn settings(&self) -> Settings {
        Settings {
            missing_refs: self.missing_refs.into(),
            invalid_refs: self.invalid_refs.into(),
            extra_target_kinds: self.allow_target_kinds.clone(),
            strict: self.strict,
            expiry_window_secs: i64::try_from(self.expiry_window.as_secs()).unwrap_or(i64::MAX),
            unknown_fields: Enforcement::Warn,
            profile: self.profile(),
        }
    }

    /// The profile chosen with `--implementation` or `--implementation-file`, else core.
    pub fn profile(&self) -> Arc<Profile> {
        self.implementation
            .as_ref()
            .or(self.implementation_file.as_ref())
            .map_or_else(|| Arc::new(profile::CORE), Arc::clone)
    }
}

/// The largest profile file read.
const MAX_PROFILE_FILE_BYTES: u64 = 1 << 20;

/// Reads a profile file (`--implementation-file`): one YAML or JSON document. Problems are
/// reported as `FILE:LINE:COLUMN: FIELD: MESSAGE`, one per line.
pub fn load_profile_file(path: &str) -> Result<Arc<Profile>, String> {
    let file = Path::new(path);
    let size = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {path}: {e}"))?
        .len();
    if size > MAX_PROFILE_FILE_BYTES {
        return Err(format!(
            "{path}: {size} bytes: a profile is at most {MAX_PROFILE_FILE_BYTES} bytes"
        ));
    }
    let documents = crate::objects::load_path(file).map_err(|e| e.to_string())?;
    let [document] = documents.as_slice() else {
        return Err(format!(
            "{path}: holds {} documents: a profile file holds one",
            documents.len()
        ));
    };
    Profile::from_value(&document.value)
        .map(Arc::new)
        .map_err(|errors| {
            let lines: Vec<String> = errors
                .iter()
                .map(|error| {
                    let field = error.path.to_string();
                    let positions = &document.positions;
                    let exact = if error.message.starts_with("unknown field") {
                        positions.key(&field)
                    } else {
                        positions.value(&field)
                    };
                    let (line, column) = exact.unwrap_or_else(|| positions.nearest(&field));
                    format!("{}:{line}:{column}: {error}", document.source)
                })
                .collect();
            lines.join("\n")
        })
}

/// Parses an RFC 3339 instant to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    validate::snapshot::parse_time(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 time such as 2026-06-01T00:00:00Z"))
}

/// Parses a duration such as `30d`, `720h` or `90s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_library_defaults() {
        let cli = Cli::try_parse_from(["backendtls-webhook", "review"]).expect("parses");
        let Command::Review(args) = cli.command else {
            panic!("review")
        };
        assert_eq!(args.policy.settings(), Settings::default());
    }

    #[test]
    fn flags_map_to_settings() {
        let cli = Cli::try_parse_from([
            "backendtls-webhook",
            "review",
            "in.json",
            "--missing-refs=deny",
            "--invalid-refs",
            "warn",
            "--allow-target-kind",
            "multicluster.x-k8s.io/ServiceImport",
            "--strict",
            "--expiry-window",
            "7d",
            "--now",
            "2026-06-01T00:00:00Z",
        ])
        .expect("parses");
        let Command::Review(args) = cli.command else {
            panic!("review")
        };
        let settings = args.policy.settings();
        assert_eq!(settings.missing_refs, Enforcement::Deny);
        assert_eq!(settings.invalid_refs, Enforcement::Warn);
        assert_eq!(
            settings.extra_target_kinds[0].to_string(),
            "multicluster.x-k8s.io/ServiceImport"
        );
        assert!(settings.strict);
        assert_eq!(settings.expiry_window_secs, 7 * 86400);
        assert_eq!(args.clock.now, Some(1_780_272_000));
    }

    fn review_settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let mut argv = vec!["backendtls-webhook", "review"];
        argv.extend(args);
        let cli = Cli::try_parse_from(argv)?;
        let Command::Review(args) = cli.command else {
            panic!("review")
        };
        Ok(args.policy.settings())
    }

    #[test]
    fn implementations_select_built_in_profiles() {
        let settings = review_settings(&["--implementation", "istio"]).expect("parses");
        assert_eq!(*settings.profile, profile::ISTIO);
        assert_eq!(
            *review_settings(&[]).expect("parses").profile,
            profile::CORE
        );
        let unknown = review_settings(&["--implementation", "envoy"]).expect_err("refused");
        let text = unknown.to_string();
        for name in profile::built_in_names() {
            assert!(text.contains(name), "{name} offered in: {text}");
        }
        // --allow-target-kind adds to the profile's kinds.
        let settings = review_settings(&[
            "--implementation=istio",
            "--allow-target-kind=multicluster.x-k8s.io/ServiceImport",
        ])
        .expect("parses");
        let kinds: Vec<String> = settings
            .target_kinds()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            kinds,
            [
                "Service",
                "networking.istio.io/ServiceEntry",
                "multicluster.x-k8s.io/ServiceImport"
            ]
        );
    }

    #[test]
    fn implementation_files_load_with_positions() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let good = dir.join("good.yaml");
        std::fs::write(
            &good,
            "name: my-gateway\nimplementation: My Gateway\nversions: v2.0 to v2.3\ncaCertificateRefs:\n  sources:\n    - kind: Secret\n      keys: [ca.crt]\ntargetKinds:\n  - kind: Service\n",
        )
        .expect("write");
        let path = good.to_str().expect("utf-8");
        let settings = review_settings(&["--implementation-file", path]).expect("loads");
        assert_eq!(settings.profile.name, "my-gateway");
        assert!(
            settings
                .profile
                .ca_source(validate::CaKind::Secret)
                .is_some()
        );
        let both = review_settings(&["--implementation-file", path, "--implementation", "istio"]);
        assert!(both.is_err(), "one profile at a time");

        let bad = dir.join("bad.yaml");
        std::fs::write(
            &bad,
            "name: my-gateway\nimplementation: My Gateway\nversions: v2\ncaCertificateRefs:\n  sources:\n    - kind: Certificate\ntargetKinds: []\n",
        )
        .expect("write");
        let error = load_profile_file(bad.to_str().expect("utf-8")).expect_err("invalid");
        let source = bad.display();
        assert_eq!(
            error,
            format!(
                "{source}:6:13: caCertificateRefs.sources[0].kind: must be one of ConfigMap, Secret, ClusterTrustBundle\n{source}:7:14: targetKinds: must have at least 1 item"
            )
        );
        let missing = load_profile_file("/nonexistent/profile.yaml").expect_err("missing");
        assert!(
            missing.starts_with("cannot read /nonexistent/profile.yaml"),
            "{missing}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            ["review", "--now", "yesterday"],
            ["review", "--allow-target-kind", "a b"],
            ["review", "--expiry-window", "soon"],
        ] {
            let mut argv = vec!["backendtls-webhook"];
            argv.extend(args);
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }
}
