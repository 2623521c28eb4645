//! Validating admission webhook for Gateway API `BackendTLSPolicy`.
//!
//! - [`validate`]: every rule, pure and synchronous.
//! - [`admission`]: AdmissionReview in, AdmissionReview out.
//! - [`lookup`]: what an object refers to (in memory, or from the cluster).
//! - [`objects`]: YAML/JSON object files with positions.
//! - [`server`]: HTTPS, TLS with hot reload, limits, health, metrics.
//! - [`certs`]: development certificates.
//! - [`cli`] and [`cmd`]: the command line.
#![forbid(unsafe_code)]

pub mod admission;
pub mod bounded;
pub mod certs;
pub mod cli;
pub mod cmd;
pub mod lookup;
pub mod objects;
pub mod server;
pub mod telemetry;
pub mod timeout;
pub mod validate;
