//! `audit`: what the webhook would now say about a cluster's policies and CA bundles.

use crate::cli::AuditArgs;

/// Runs `audit`.
pub fn run(_args: &AuditArgs) -> anyhow::Result<u8> {
    anyhow::bail!("audit is not implemented yet")
}
