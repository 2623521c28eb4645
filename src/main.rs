//! `backendtls-webhook`: parse the command line, run the command, exit with its code.

use std::process::ExitCode;

use backendtls_webhook::cli::{Cli, Command};
use backendtls_webhook::cmd;
use clap::Parser;

/// mimalloc: reviews allocate many small, short-lived objects; it is markedly cheaper than the
/// system allocator for that pattern (see the README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Review(args) => cmd::review::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Certs(args) => cmd::certs::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("backendtls-webhook: {error:#}");
            ExitCode::from(cmd::EXIT_INPUT)
        }
    }
}
