//! `certs`: development certificates for `make run` and kind clusters.

use super::EXIT_OK;
use crate::certs;
use crate::cli::CertsArgs;

/// Writes ca.crt, tls.crt and tls.key (or leaves existing ones with `--if-missing`).
pub fn run(args: &CertsArgs) -> anyhow::Result<u8> {
    if args.if_missing && certs::exist(&args.out) {
        eprintln!(
            "certificates already in {}; keeping them",
            args.out.display()
        );
        return Ok(EXIT_OK);
    }
    let written = certs::generate(
        &args.out,
        &args.service,
        &args.namespace,
        certs::SERVER_VALIDITY,
    )?;
    eprintln!(
        "wrote {}, {} and {} (valid for {})",
        written.ca_cert.display(),
        written.server_cert.display(),
        written.server_key.display(),
        written.names.join(", ")
    );
    Ok(EXIT_OK)
}
