//! `validate`: lint BackendTLSPolicies and CA ConfigMaps in files.

use crate::cli::ValidateArgs;

/// Runs `validate`.
pub fn run(_args: &ValidateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("validate is not implemented yet")
}
