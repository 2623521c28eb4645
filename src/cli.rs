//! Command-line arguments (clap derive). Every flag of `serve` has an environment-variable
//! twin named `BACKENDTLS_WEBHOOK_<FLAG>`; the validation settings are shared by `serve`,
//! `review` and `validate`, with the same defaults everywhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Answer one AdmissionReview (JSON) from a file or stdin on stdout.
    Review(ReviewArgs),
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

    /// Evaluate certificate validity at this instant (RFC 3339) instead of the system clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub now: Option<i64>,

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
        }
    }
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
        let Command::Review(args) = cli.command;
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
        let Command::Review(args) = cli.command;
        let settings = args.policy.settings();
        assert_eq!(settings.missing_refs, Enforcement::Deny);
        assert_eq!(settings.invalid_refs, Enforcement::Warn);
        assert_eq!(
            settings.extra_target_kinds[0].to_string(),
            "multicluster.x-k8s.io/ServiceImport"
        );
        assert!(settings.strict);
        assert_eq!(settings.expiry_window_secs, 7 * 86400);
        assert_eq!(args.now, Some(1_780_272_000));
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
