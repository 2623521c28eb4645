//! `backendtls-webhook`: parse the command line, run the command, exit with its code.

use std::process::ExitCode;

use backendtls_webhook::cli::Command;
use backendtls_webhook::cmd;

/// mimalloc: reviews allocate many small, short-lived objects; it is markedly cheaper than the
/// system allocator for that pattern (see the README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (its position in mimalloc's `mi_option_e`, the same in v2 and v3;
/// the bindings leave it out "for stability reasons").
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc returns freed memory to the OS only a while after it is freed (1 s by default in
/// v3), and then only when the thread that owns it allocates again. The watch caches' initial
/// lists (pages of ConfigMaps, read and freed on different threads) then stayed resident:
/// 80-107 MiB with 5,000 ConfigMaps of 10 KiB (`make bench-memory`). 10 ms (mimalloc v2's
/// default) gives 57-62 MiB; 0 would give about 45 MiB but costs some 800 madvise calls and
/// 4,500 page faults a second under request load, 10 ms a few. `MIMALLOC_PURGE_DELAY` still
/// overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: called first thing in main, before any other thread exists (the call is not
        // thread-safe); it sets a plain integer option.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
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
