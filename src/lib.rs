//! Validating admission webhook for Gateway API `BackendTLSPolicy`.
#![forbid(unsafe_code)]
