//! The subcommands' bodies. Each returns the process exit code.

pub mod audit;
pub mod certs;
pub mod review;
pub mod serve;
pub mod validate;

/// Exit code: done (a review answered, a lint clean).
pub const EXIT_OK: u8 = 0;
/// Exit code: findings (lint errors).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the input could not be read or understood.
pub const EXIT_INPUT: u8 = 2;
