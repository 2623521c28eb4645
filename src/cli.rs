//! Command-line arguments (clap derive). Every flag of every subcommand has an
//! environment-variable twin, `BACKENDTLS_WEBHOOK_` and the flag's long name in capitals with
//! `_` for `-` (`--missing-refs`: `BACKENDTLS_WEBHOOK_MISSING_REFS`); the exceptions are
//! `--allow-target-kind` (`BACKENDTLS_WEBHOOK_ALLOW_TARGET_KINDS`, a list) and the flags of
//! `certs`, whose names start `BACKENDTLS_WEBHOOK_CERTS_` (their `--namespace` is not
//! `audit`'s). Subcommands share a variable only where their flags mean the same thing
//! (`--output`, `--now`, `--kubeconfig`, `--objects`). A flag on the command line wins over its
//! variable; repeatable flags take a comma-separated list; boolean variables take `1`/`0`,
//! `true`/`false`, `yes`/`no` or `on`/`off`, in any case. A unit test below walks the command
//! tree and fails for a flag without its twin. [`parse`] names the variable when its value is
//! invalid. The validation settings are shared by `serve`, `review`, `validate` and `audit`,
//! with the same defaults everywhere.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::builder::{BoolishValueParser, TypedValueParser as _};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

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
    /// Address to listen on: IP:PORT, or HOST:PORT with a host name resolved once at start
    /// (its first IPv4 address, else its first). The default is loopback only; in a cluster
    /// (manifests/, the image) it is 0.0.0.0:8443.
    #[arg(
        long,
        value_name = "ADDRESS:PORT",
        default_value = "127.0.0.1:8443",
        value_parser = parse_listen,
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
    #[arg(long, env = "BACKENDTLS_WEBHOOK_HTTP2", value_parser = BoolishValueParser::new())]
    pub http2: bool,

    /// Watch this cluster (kubeconfig file). In a pod the service account is used without
    /// this flag; with neither, the webhook runs clusterless.
    #[arg(long, value_name = "PATH", env = "BACKENDTLS_WEBHOOK_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Read the Secrets that policies name as CA bundles, with GET (the profile must read
    /// Secrets; needs `get` on secrets, which manifests/overlays/secret-ca grants). Without it
    /// their content is reported as not checked.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_READ_SECRETS", value_parser = BoolishValueParser::new())]
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

    /// Bytes the decision cache may hold (keys hold whole objects); a decision over 256 KiB
    /// is not cached.
    #[arg(long, default_value_t = 8 << 20, env = "BACKENDTLS_WEBHOOK_DECISION_CACHE_BYTES")]
    pub decision_cache_bytes: usize,

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

    /// Bytes of request bodies in flight at once; a request waits (unread) for room, and gets
    /// 503 with Retry-After when none is made within --body-timeout. Small bodies (64 KiB and
    /// less) always have an eighth of it. Decoded objects take at most about twice their body.
    #[arg(long, default_value_t = 16 << 20, env = "BACKENDTLS_WEBHOOK_MAX_INFLIGHT_BODY_BYTES")]
    pub max_inflight_body_bytes: usize,

    /// Connections served at once; when all are taken, the longest-idle (or still
    /// handshaking) connection is closed to make room.
    #[arg(
        long,
        default_value_t = 1024,
        env = "BACKENDTLS_WEBHOOK_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,

    /// Reviews of bodies over 64 KiB run at once, on their own threads (default: CPUs - 1,
    /// at least 1), so that big requests cannot stall probes and small reviews.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_REVIEW_WORKERS")]
    pub review_workers: Option<usize>,

    /// Time allowed for a TLS handshake.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: std::time::Duration,

    /// Time allowed to send request headers; also how long a keep-alive connection may idle.
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_HEADER_TIMEOUT")]
    pub header_timeout: std::time::Duration,

    /// Time allowed to send a request body; also the longest wait for room in the body budget.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_BODY_TIMEOUT")]
    pub body_timeout: std::time::Duration,

    /// Time a write to a client may make no progress before the connection is dropped (a
    /// client that does not read its answer).
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_WRITE_TIMEOUT")]
    pub write_timeout: std::time::Duration,

    /// Time a connection may go without a request before it is closed (HTTP/2 connections,
    /// kept alive by PINGs, in particular).
    #[arg(long, default_value = "90s", value_parser = parse_duration, env = "BACKENDTLS_WEBHOOK_IDLE_TIMEOUT")]
    pub idle_timeout: std::time::Duration,

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
    #[arg(long, value_name = "KUBECONFIG", env = "BACKENDTLS_WEBHOOK_CLUSTER")]
    pub cluster: Option<PathBuf>,

    /// Output format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "BACKENDTLS_WEBHOOK_OUTPUT"
    )]
    pub output: OutputFormat,

    /// Exit 1 when there are warnings, not only errors.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_WARNINGS_AS_ERRORS", value_parser = BoolishValueParser::new())]
    pub warnings_as_errors: bool,

    /// Exit 0 when the input holds no BackendTLSPolicy and no ConfigMap with ca.crt (by
    /// default that exits 2: a mistyped path must not pass).
    #[arg(long, env = "BACKENDTLS_WEBHOOK_ALLOW_EMPTY", value_parser = BoolishValueParser::new())]
    pub allow_empty: bool,

    /// Files found in directories that do not parse as YAML or JSON (Helm templates, ...) are
    /// errors; by default they are skipped with a note. Files named explicitly must parse.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_STRICT_FILES", value_parser = BoolishValueParser::new())]
    pub strict_files: bool,

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
    #[arg(long, short = 'n', env = "BACKENDTLS_WEBHOOK_NAMESPACE")]
    pub namespace: Option<String>,

    /// Every namespace (the default when --namespace is not given; the two conflict).
    #[arg(long, short = 'A', env = "BACKENDTLS_WEBHOOK_ALL_NAMESPACES", value_parser = BoolishValueParser::new())]
    pub all_namespaces: bool,

    /// Read the Secrets that policies name as CA bundles, with GET (see `serve --help`).
    #[arg(long, env = "BACKENDTLS_WEBHOOK_READ_SECRETS", value_parser = BoolishValueParser::new())]
    pub read_secrets: bool,

    /// Output format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "BACKENDTLS_WEBHOOK_OUTPUT"
    )]
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
    #[arg(long, default_value = "certs", env = "BACKENDTLS_WEBHOOK_CERTS_OUT")]
    pub out: PathBuf,

    /// Name of the webhook's Service (the certificate is valid for NAME.NS.svc).
    #[arg(
        long,
        default_value = "backendtls-webhook",
        env = "BACKENDTLS_WEBHOOK_CERTS_SERVICE"
    )]
    pub service: String,

    /// Namespace of the webhook's Service.
    #[arg(
        long,
        default_value = "backendtls-webhook",
        env = "BACKENDTLS_WEBHOOK_CERTS_NAMESPACE"
    )]
    pub namespace: String,

    /// Only write certificates when they do not exist yet.
    #[arg(long, env = "BACKENDTLS_WEBHOOK_CERTS_IF_MISSING", value_parser = BoolishValueParser::new())]
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
    #[arg(
        long,
        value_name = "PATH",
        env = "BACKENDTLS_WEBHOOK_OBJECTS",
        value_delimiter = ','
    )]
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
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339, env = "BACKENDTLS_WEBHOOK_NOW")]
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
    #[arg(long, env = "BACKENDTLS_WEBHOOK_STRICT", value_parser = BoolishValueParser::new())]
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
                    let (line, column) = document.positions.locate(&error.path, error.on_key);
                    format!("{}:{line}:{column}: {error}", document.source)
                })
                .collect();
            lines.join("\n")
        })
}

/// The prefix of every flag's environment variable.
pub const ENV_PREFIX: &str = "BACKENDTLS_WEBHOOK_";

/// Parses the process's arguments (and the flags' environment variables), exiting with clap's
/// usage error on failure. When an invalid value came from an environment variable rather than
/// the command line, the error names the variable.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    Cli::try_parse_from(&args)
        .unwrap_or_else(|error| name_env_source(error, &args, |name| std::env::var_os(name)).exit())
}

/// Rewrites an invalid-value error whose value came from a flag's environment variable (the
/// flag is not on the command line `args`, and `env` has the variable) so that it names the
/// variable, with a tip naming its flag. Other errors are returned as they are.
pub fn name_env_source(
    mut error: clap::Error,
    args: &[OsString],
    env: impl Fn(&str) -> Option<OsString>,
) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return error;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let shown = shown.clone();
    // `--missing-refs <MISSING_REFS>`, `--strict`.
    let Some(long) = shown
        .split_whitespace()
        .next()
        .and_then(|flag| flag.strip_prefix("--"))
    else {
        return error;
    };
    let command = Cli::command();
    // The top-level command has no options of its own: the subcommand comes first.
    let Some(subcommand) = args.get(1).and_then(|name| command.find_subcommand(name)) else {
        return error;
    };
    let Some(arg) = subcommand
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
    else {
        return error;
    };
    let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else {
        return error;
    };
    let on_command_line = args.iter().skip(2).any(|given| {
        let given = given.to_string_lossy();
        given
            .strip_prefix("--")
            .is_some_and(|rest| rest == long || rest.starts_with(&format!("{long}=")))
            || arg.get_short().is_some_and(|short| {
                given
                    .strip_prefix('-')
                    .is_some_and(|rest| !rest.starts_with('-') && rest.contains(short))
            })
    });
    if on_command_line || env(variable).is_none() {
        return error;
    }
    error.insert(
        ContextKind::InvalidArg,
        ContextValue::String(variable.to_owned()),
    );
    error.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![
            format!(
                "the environment variable {variable} sets '{shown}': correct or unset it (a flag on the command line wins over it)"
            )
            .into(),
        ]),
    );
    error
}

/// Parses `--listen`: `IP:PORT` (`[IPv6]:PORT`), or `HOST:PORT` with the host name resolved
/// now, preferring its first IPv4 address (`localhost:8443` is `127.0.0.1:8443`).
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{SocketAddr, ToSocketAddrs};
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let example = "such as 127.0.0.1:8443, localhost:8443 or 0.0.0.0:8443 (all interfaces)";
    let Some((host, port)) = text.rsplit_once(':').filter(|(host, _)| !host.is_empty()) else {
        return Err(format!("expected ADDRESS:PORT, {example}"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number; expected ADDRESS:PORT, {example}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?} ({e}); give an IP address, {example}"))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address; give an IP address, {example}"))
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

    /// The variable a flag of `subcommand` must have: the naming rule of the module docs.
    fn expected_variable(subcommand: &str, long: &str) -> String {
        let name = match long {
            "allow-target-kind" => "allow-target-kinds",
            other => other,
        };
        let prefix = if subcommand == "certs" { "CERTS_" } else { "" };
        format!(
            "{ENV_PREFIX}{prefix}{}",
            name.to_uppercase().replace('-', "_")
        )
    }

    /// Every flag of every subcommand (positional arguments, help and version excepted) has its
    /// environment variable, named by the rule; a variable belongs to one flag name only; and a
    /// boolean variable takes what people write in env files. A flag added without its twin
    /// fails here.
    #[test]
    fn every_flag_has_an_environment_variable() {
        use std::collections::BTreeMap;
        let mut command = Cli::command();
        command.build();
        let mut problems = Vec::new();
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut flags = 0;
        for subcommand in command.get_subcommands() {
            let sub = subcommand.get_name();
            for arg in subcommand.get_arguments() {
                if arg.is_positional()
                    || matches!(
                        arg.get_action(),
                        clap::ArgAction::Help
                            | clap::ArgAction::HelpShort
                            | clap::ArgAction::HelpLong
                            | clap::ArgAction::Version
                    )
                {
                    continue;
                }
                flags += 1;
                let Some(long) = arg.get_long() else {
                    problems.push(format!("{sub} {}: no long name", arg.get_id()));
                    continue;
                };
                let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else {
                    problems.push(format!("{sub} --{long}: no environment variable"));
                    continue;
                };
                let expected = expected_variable(sub, long);
                if variable != expected {
                    problems.push(format!("{sub} --{long}: {variable}, expected {expected}"));
                }
                let owner = owners
                    .entry(variable.to_owned())
                    .or_insert_with(|| long.to_owned());
                if owner != long {
                    problems.push(format!(
                        "{variable} is the variable of --{owner} and of {sub} --{long}"
                    ));
                }
                if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                    let accepted: Vec<String> = arg
                        .get_value_parser()
                        .possible_values()
                        .map(|values| values.map(|v| v.get_name().to_owned()).collect())
                        .unwrap_or_default();
                    for word in ["1", "0", "true", "false", "yes", "no", "on", "off"] {
                        if !accepted.iter().any(|a| a == word) {
                            problems.push(format!(
                                "{sub} --{long}: {variable}={word} is refused (use BoolishValueParser)"
                            ));
                        }
                    }
                }
            }
        }
        assert!(flags >= 30, "the walk found only {flags} flags");
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn an_invalid_value_from_a_variable_names_the_variable() {
        // clap reads the process environment, which tests do not change: the error is made on
        // the command line, then explained as if the value came from the variable.
        let error = Cli::try_parse_from(["backendtls-webhook", "review", "--missing-refs=maybe"])
            .expect_err("maybe is not warn or deny");
        let args: Vec<OsString> = ["backendtls-webhook", "review", "in.json"]
            .iter()
            .map(OsString::from)
            .collect();
        let env = |name: &str| {
            (name == "BACKENDTLS_WEBHOOK_MISSING_REFS").then(|| OsString::from("maybe"))
        };
        let message = name_env_source(error, &args, env).render().to_string();
        assert!(
            message.starts_with(
                "error: invalid value 'maybe' for 'BACKENDTLS_WEBHOOK_MISSING_REFS'\n"
            ),
            "{message}"
        );
        assert!(
            message.contains("[possible values: warn, deny]"),
            "{message}"
        );
        assert!(
            message.contains(
                "tip: the environment variable BACKENDTLS_WEBHOOK_MISSING_REFS sets '--missing-refs <MISSING_REFS>': correct or unset it"
            ),
            "{message}"
        );
        // On the command line, the flag is what is wrong.
        let error = Cli::try_parse_from(["backendtls-webhook", "review", "--missing-refs=maybe"])
            .expect_err("refused");
        let args: Vec<OsString> = ["backendtls-webhook", "review", "--missing-refs=maybe"]
            .iter()
            .map(OsString::from)
            .collect();
        let message = name_env_source(error, &args, env).render().to_string();
        assert!(
            message.starts_with("error: invalid value 'maybe' for '--missing-refs <MISSING_REFS>'"),
            "{message}"
        );
        assert!(!message.contains("BACKENDTLS_WEBHOOK"), "{message}");
    }

    #[test]
    fn listen_takes_addresses_and_host_names() {
        assert_eq!(
            parse_listen("0.0.0.0:8443"),
            Ok("0.0.0.0:8443".parse().expect("addr"))
        );
        assert_eq!(
            parse_listen("[::1]:9443"),
            Ok("[::1]:9443".parse().expect("addr"))
        );
        assert_eq!(
            parse_listen("localhost:8443"),
            Ok("127.0.0.1:8443".parse().expect("addr")),
            "a host name is resolved, IPv4 first"
        );
        let error = parse_listen("localhost").expect_err("no port");
        assert_eq!(
            error,
            "expected ADDRESS:PORT, such as 127.0.0.1:8443, localhost:8443 or 0.0.0.0:8443 (all interfaces)"
        );
        let error = parse_listen("localhost:https").expect_err("not a number");
        assert!(
            error.starts_with("\"https\" is not a port number"),
            "{error}"
        );
        // (An unresolvable name would need a DNS query; tests send traffic to loopback only.)
        let cli = Cli::try_parse_from(["backendtls-webhook", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(
            args.listen,
            "127.0.0.1:8443".parse().expect("addr"),
            "loopback unless told otherwise"
        );
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
