//! `backendtls-webhook`: parse the command line, run the command, exit with its code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use backendtls_webhook::cli::Command;
use backendtls_webhook::cmd;

/// mimalloc: reviews allocate many small, short-lived objects; it is markedly cheaper than the
/// system allocator for that pattern (see docs/performance.md).
///
/// It returns freed memory to the OS only a while after it is freed (1 s by default in v3), and
/// then only when the thread that owns it allocates again. The watch caches' initial lists
/// (pages of ConfigMaps, read and freed on different threads) then stay resident: 80-107 MiB
/// with 5,000 ConfigMaps of 10 KiB (`make bench-memory`). The image and the manifests set
/// `MIMALLOC_PURGE_DELAY=10` (ms, mimalloc v2's default), which gives 57-62 MiB; 0 would give
/// about 45 MiB but costs some 800 madvise calls and 4,500 page faults a second under request
/// load, 10 ms a few. The variable is read by mimalloc itself, so no code here sets it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = backendtls_webhook::cli::parse();
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
