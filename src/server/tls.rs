//! The rustls server configuration, with a certificate that reloads itself when its files change.
//!
//! # Protocol
//!
//! [`server_config`] builds a [`ServerConfig`] on the `ring` provider (passed explicitly; the
//! process-wide default provider is neither used nor installed) with TLS 1.3 and 1.2 only, ALPN
//! `http/1.1` (or `h2, http/1.1`), and no session resumption at all: no TLS 1.3 tickets, no
//! stateless ticketer and no session cache, because the apiserver never resumes sessions and a
//! resumed session would skip the certificate check below. With a client CA file, every client
//! must present a certificate that chains to it; without one, clients are not asked for one.
//! The client CA file is read once, at startup.
//!
//! # Certificate reload
//!
//! The server certificate comes from [`ReloadingCert`], a [`ResolvesServerCert`] that serves
//! the last good pair read from `cert_file` and `key_file`. On every handshake it `stat`s both
//! files, following symlinks, and compares (device, inode, length, mtime) with what it saw
//! last. That is two `stat(2)` calls and an uncontended read lock per handshake — microseconds,
//! next to the hundreds of microseconds of the handshake's own cryptography, and handshakes are
//! rare because the apiserver keeps its connections alive. There is no background watcher and
//! no polling interval: the first handshake after a change serves the new certificate.
//!
//! Following symlinks means a Kubernetes Secret volume works: the kubelet writes a new
//! `..2026_…` directory and atomically repoints `..data` at it, so `tls.crt -> ..data/tls.crt`
//! resolves to a new inode. Tools that rename a new file into place (cert-manager's CSI driver,
//! `mv`, [`crate::certs::generate`]) also change the inode.
//!
//! When the files change, both are read and parsed, and the key is checked against the
//! certificate. A broken pair (unparsable, half-written, or a key that does not belong to the
//! certificate — say, the key already renamed into place and the certificate not yet) is logged
//! at `warn`, reported by [`ReloadingCert::reload_error`], and the old pair is served on. The
//! broken pair is not read again until the files change again, so a bad Secret costs one warning,
//! not one per handshake. Reloads are serialised by a mutex; readers are never blocked for
//! longer than it takes to swap an `Arc`.
//!
//! Limitation: a file rewritten in place (same inode) to the same length within one tick of the
//! filesystem's timestamp clock is not noticed until its next change. Every real rotation
//! mechanism replaces the file instead.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, TryLockError};

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info, warn};

/// Where the TLS material is and which protocols to offer.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1; EC P-256/P-384, RSA or Ed25519).
    pub key_file: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate issued by one of them.
    pub client_ca_file: Option<PathBuf>,
    /// Offer HTTP/2 (`h2`) by ALPN besides HTTP/1.1.
    pub http2: bool,
}

/// Errors loading TLS material. Every message names the file (`path`) and, where there is one,
/// the underlying `error` or `reason`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read.
    #[error("cannot read TLS certificate {}: {error}", path.display())]
    ReadCert {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The certificate file is not valid PEM, or its first certificate is not valid X.509.
    #[error("cannot parse TLS certificate {}: {reason}", path.display())]
    ParseCert { path: PathBuf, reason: String },
    /// The certificate file holds no `CERTIFICATE` PEM block.
    #[error("{} holds no certificates", path.display())]
    NoCert { path: PathBuf },
    /// The key file could not be read.
    #[error("cannot read TLS private key {}: {error}", path.display())]
    ReadKey {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The key file is not valid PEM, or holds a key of an unsupported type.
    #[error("cannot parse TLS private key {}: {reason}", path.display())]
    ParseKey { path: PathBuf, reason: String },
    /// The key file holds no private key PEM block.
    #[error("{} holds no private key", path.display())]
    NoKey { path: PathBuf },
    /// The private key does not belong to the certificate.
    #[error("certificate and key in {} / {} do not match", cert.display(), key.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    /// The client CA file could not be read.
    #[error("cannot read client CA file {}: {error}", path.display())]
    ReadClientCa {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The client CA file is not valid PEM, or holds a certificate unusable as trust anchor.
    #[error("cannot parse client CA file {}: {reason}", path.display())]
    ParseClientCa { path: PathBuf, reason: String },
    /// The client CA file holds no `CERTIFICATE` PEM block.
    #[error("client CA file {} holds no certificates", path.display())]
    NoClientCa { path: PathBuf },
    /// rustls refused the configuration.
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// Builds the server configuration and the certificate resolver it uses (keep the latter for
/// the expiry metric and `/readyz`). Fails, naming the file, if the certificate, the key or the
/// client CA cannot be loaded or the key does not match the certificate.
pub fn server_config(
    options: &TlsOptions,
) -> Result<(Arc<ServerConfig>, Arc<ReloadingCert>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = Arc::new(ReloadingCert::load_with_provider(
        &options.cert_file,
        &options.key_file,
        Arc::clone(&provider),
    )?);

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &options.client_ca_file {
        Some(path) => {
            let roots = load_client_ca(path)?;
            // A client may connect without a certificate (kubelet's probes of /healthz and
            // /readyz do); one that presents a certificate must present a valid one. The
            // router refuses /validate and /metrics to clients without one.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(format!("client CA file {}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::clone(&cert) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = if options.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // No resumption: the ticketer is rustls' default, which never produces tickets.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    Ok((Arc::new(config), cert))
}

fn load_client_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = fs::read(path).map_err(|source| TlsError::ReadClientCa {
        path: path.to_path_buf(),
        error: source,
    })?;
    let parse_error = |reason: String| TlsError::ParseClientCa {
        path: path.to_path_buf(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| parse_error(e.to_string()))?;
        roots.add(cert).map_err(|e| parse_error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoClientCa {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

/// Serves the certificate from disk, reloading it when the files change (see the module
/// documentation).
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    state: RwLock<State>,
    /// Serialises reloads, so concurrent handshakes read a changed pair once.
    reload: Mutex<()>,
    /// Reload attempts since startup, good or bad.
    attempts: AtomicU64,
}

struct State {
    served: Arc<CertifiedKey>,
    not_after: i64,
    /// The files as last looked at (whether or not that pair loaded).
    seen: Stamps,
    /// Why the files as last looked at are not served.
    error: Option<String>,
}

/// A loaded, consistent pair.
struct LoadedFiles {
    key: Arc<CertifiedKey>,
    not_after: i64,
    serial: String,
}

impl ReloadingCert {
    /// Loads the pair with the ring provider; fails if it is unusable.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        Self::load_with_provider(
            cert_file,
            key_file,
            Arc::new(rustls::crypto::ring::default_provider()),
        )
    }

    fn load_with_provider(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let seen = Stamps::of(cert_file, key_file);
        let loaded = load_pair(cert_file, key_file, &provider)?;
        info!(
            cert = %cert_file.display(),
            key = %key_file.display(),
            serial = %loaded.serial,
            not_after = loaded.not_after,
            "loaded TLS certificate"
        );
        warn_if_expired(cert_file, loaded.not_after);
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            state: RwLock::new(State {
                served: loaded.key,
                not_after: loaded.not_after,
                seen,
                error: None,
            }),
            reload: Mutex::new(()),
            attempts: AtomicU64::new(0),
        })
    }

    /// `notAfter` of the served leaf certificate, in Unix seconds (for the metric
    /// `backendtls_webhook_tls_certificate_expiry_timestamp_seconds`).
    pub fn not_after(&self) -> i64 {
        self.read().not_after
    }

    /// `None` while the files on disk are served; the error text when the last reload failed
    /// and an older pair is being served (for `/readyz` and logs).
    pub fn reload_error(&self) -> Option<String> {
        self.read().error.clone()
    }

    /// Checks the files now — the check every handshake makes — and returns whether a new pair
    /// was loaded.
    pub fn refresh(&self) -> bool {
        let stamps = Stamps::of(&self.cert_file, &self.key_file);
        if self.read().seen == stamps {
            return false;
        }
        // One reload at a time, and no handshake waits for it (this runs on a runtime worker
        // and the reload reads files): while another handshake reloads, serve the current pair.
        let _reloading = match self.reload.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        // Look again: another handshake may have reloaded just before.
        let stamps = Stamps::of(&self.cert_file, &self.key_file);
        if self.read().seen == stamps {
            return false;
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        // The stamps were taken before reading, so a change made during the read is seen as a
        // change by the next check.
        match load_pair(&self.cert_file, &self.key_file, &self.provider) {
            Ok(loaded) => {
                info!(
                    cert = %self.cert_file.display(),
                    serial = %loaded.serial,
                    not_after = loaded.not_after,
                    "reloaded TLS certificate"
                );
                warn_if_expired(&self.cert_file, loaded.not_after);
                let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
                state.served = loaded.key;
                state.not_after = loaded.not_after;
                state.seen = stamps;
                state.error = None;
                true
            }
            Err(error) => {
                let text = error.to_string();
                warn!(
                    error = %text,
                    "TLS certificate files changed but cannot be loaded; still serving the previous certificate"
                );
                let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
                state.seen = stamps;
                state.error = Some(text);
                false
            }
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(Arc::clone(&self.read().served))
    }
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("not_after", &state.not_after)
            .field("reload_error", &state.error)
            .finish_non_exhaustive()
    }
}

fn warn_if_expired(cert_file: &Path, not_after: i64) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if not_after <= now {
        warn!(cert = %cert_file.display(), not_after, "the TLS certificate has expired");
    }
}

/// Reads, parses and checks a certificate chain and its key.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<LoadedFiles, TlsError> {
    let cert_bytes = fs::read(cert_file).map_err(|source| TlsError::ReadCert {
        path: cert_file.to_path_buf(),
        error: source,
    })?;
    let key_bytes = fs::read(key_file).map_err(|source| TlsError::ReadKey {
        path: key_file.to_path_buf(),
        error: source,
    })?;

    let parse_cert = |reason: String| TlsError::ParseCert {
        path: cert_file.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parse_cert(e.to_string()))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCert {
            path: cert_file.to_path_buf(),
        });
    };
    let (not_after, serial) = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => (
            cert.validity().not_after.timestamp(),
            cert.raw_serial_as_string(),
        ),
        Err(e) => return Err(parse_cert(e.to_string())),
    };

    let key = match PrivateKeyDer::from_pem_slice(&key_bytes) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: key_file.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(TlsError::ParseKey {
                path: key_file.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    // rustls loads the key through the provider and checks it against the leaf's public key
    // (a key whose public half the provider cannot tell passes; the handshake would then fail).
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
        },
        // The leaf could not be read for its public key (x509-parser accepted it above).
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            parse_cert(error.to_string())
        }
        // Anything else comes from loading the key.
        _ => TlsError::ParseKey {
            path: key_file.to_path_buf(),
            reason: error.to_string(),
        },
    })?;
    Ok(LoadedFiles {
        key: Arc::new(certified),
        not_after,
        serial,
    })
}

/// What `stat` says about the two files, to notice replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamps {
    cert: Option<Stamp>,
    key: Option<Stamp>,
}

/// Identity and version of one file (`None` in [`Stamps`] when it cannot be `stat`ed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

impl Stamps {
    fn of(cert_file: &Path, key_file: &Path) -> Self {
        Self {
            cert: Stamp::of(cert_file),
            key: Stamp::of(key_file),
        }
    }
}

impl Stamp {
    /// `stat`, following symlinks.
    #[cfg(unix)]
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(path).ok()?;
        Some(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        })
    }

    /// Length and modification time only.
    #[cfg(not(unix))]
    fn of(path: &Path) -> Option<Self> {
        let meta = fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        Some(Self {
            dev: 0,
            ino: 0,
            len: meta.len(),
            mtime_sec: mtime.as_secs() as i64,
            mtime_nsec: i64::from(mtime.subsec_nanos()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{DevCa, Issued};
    use rustls::ClientConfig;
    use rustls::pki_types::ServerName;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const SNI: &str = "backendtls-webhook.backendtls-webhook.svc";
    const DAY: Duration = Duration::from_secs(86400);

    // Made with `openssl genrsa -traditional 2048` / `openssl ecparam -genkey -noout` and
    // self-signed with `openssl req -x509 -days 36500`.
    const RSA_PKCS1_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA7OSj4B05S2qAFcWOINTc+VVfIx4Wp82TFAyYVe5T48U0lj33
HIoD0X549rx901HigCe5kf1QtWIzuHpQADkcjG4qdSoimE0t6qronLP2JiKGwF6k
OwBTmWh58sKLR6svr138s3Ltn7aZALDDi1027E3A/xjsXU3kbga5M2mfrAt3nJ5e
fLJhKoOEKEHgTBKS72ncA7w9XbiR9toZfnSusl8EqJlzxMfcqo6JXOITO3pamPVV
MvigSd6WaA4M27xXJ4kgN6yOw9XTPxPbx4AAReVt1eVhS7oGos4DHVhJ4z4QQtR6
fq0kgn6fN5qlTWPO6pj5hfN0FUD0/4jtu6fqHQIDAQABAoIBACXzPvmRVPNq/Vf/
jRRfZYMgFRyoHlMFkPFeTy08//12Q0VqaeMNjS0LiM9mRPYMoS+MraLgpQRZ1hVQ
qu5ON++bWnvooyApBRkaBifMgLt9Pn8k6kR1ee8SmK62Ud/KYdpDQU9yMvUqKHq+
1qTF6x2SG0ACuyL7boPd2d+NpUHHSZI5JmhIZ9lfTkjyfKUAnyrlZyyqM1l8QZGH
XrjeUB3jwBxgLLnQKvSHTZWPk1GhE9SBGOoqr0AKXXrJ5MSVPB3F7EbeMkOhRvGw
g+y+oEQZG7XatgiZHYIrSAWp4qSW+DVXYCsssAs8o5tqJvX+9+Xujkfx1ZTU7nS1
INBxyYECgYEA/grZEzKy88k70iPRF0tA3oGZJx0Cjx2zzx/1MyNfnqRXayfMgLlb
l36E2pNefhPXLdJaSXaez0Ntw5UMZzLbXEsRLxC2AZTJ+F5lauFwJY6bRU7+oQAC
4RP9a5I5hTpcKn+jF5yXzjTnNRAl9SGPheAniJ7xg34NxbHZ3DO3Rb0CgYEA7rf2
MQrGyB2Wm6bWt5siaMeII+qqkAv+isNdWNqU4VTdyERlcJ5obF0EfIMdlx/4rQSE
PL1cPqJ6ii7GpoBgzewx3P4JUspBzRoXwwPkxNOW6+k6lWXmQKpGh3noaRCFUbMc
L0yRkIg9sCH/9M53p+Tn/MCsnCKWLIIX+hvui+ECgYBkx8rsCc3iVq+rotfdJNZ8
Lu+iC6krO35MqgHtIphZaBriAKzpWB9UzzVHPPVckORpYiy9PhisYrSVxXhhLFTH
nWQYxsldgThKlrAnIX4K+DLy4O600jtSLUr4tM6q4scTeQUrZcz3Whdq/pgAUisM
0ir80QlAv+4YwoCKEd4gBQKBgQCfByhYFXDFYYiympuR5yQuHzafjrYfjg39TRbD
maHy1sGEp6PYOX8hKXpSpFozEhZs1IRvnkp0Y3M02OJ3izByHjY9nXKCl8DsLMTF
orNlN/vjnxTq795LF+QyXlEopNvbyHEvRVf3q/tEefH0mRL3YzP0mjqjLRtT/TqR
4MeyoQKBgQDw0AD1ccUjPHgajV4kb5VVlVbd2jmN1nMKgYMmSY2eIuf/xEkA9I37
0uOi3u6GNVoMTRMfvO3aW/ZcvPsG6h5zdO/zDsXwzClH+Yt8EKI3R6pTPbT4ueLr
12v7+nQvMvWcPoulje1P+S1VjI8G/Cv/eJ02KP8++xake/Tsk75pzw==
-----END RSA PRIVATE KEY-----
";
    const RSA_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIDHjCCAgagAwIBAgIUemZ8au08gfgnaXCwv8dYMxCD+VMwDQYJKoZIhvcNAQEL
BQAwEzERMA8GA1UEAwwIcnNhLnRlc3QwIBcNMjYxMTI2MTI1MzE0WhgPMjEyNjEx
MDIxMjUzMTRaMBMxETAPBgNVBAMMCHJzYS50ZXN0MIIBIjANBgkqhkiG9w0BAQEF
AAOCAQ8AMIIBCgKCAQEA7OSj4B05S2qAFcWOINTc+VVfIx4Wp82TFAyYVe5T48U0
lj33HIoD0X549rx901HigCe5kf1QtWIzuHpQADkcjG4qdSoimE0t6qronLP2JiKG
wF6kOwBTmWh58sKLR6svr138s3Ltn7aZALDDi1027E3A/xjsXU3kbga5M2mfrAt3
nJ5efLJhKoOEKEHgTBKS72ncA7w9XbiR9toZfnSusl8EqJlzxMfcqo6JXOITO3pa
mPVVMvigSd6WaA4M27xXJ4kgN6yOw9XTPxPbx4AAReVt1eVhS7oGos4DHVhJ4z4Q
QtR6fq0kgn6fN5qlTWPO6pj5hfN0FUD0/4jtu6fqHQIDAQABo2gwZjAdBgNVHQ4E
FgQULPo2rwHTD2nmQ0URo0EkHLaMHjwwHwYDVR0jBBgwFoAULPo2rwHTD2nmQ0UR
o0EkHLaMHjwwDwYDVR0TAQH/BAUwAwEB/zATBgNVHREEDDAKgghyc2EudGVzdDAN
BgkqhkiG9w0BAQsFAAOCAQEAwJL2FUkMWDZ7knGjlxro4tcmSLt9+BLRQtc3pKZF
LAqBRQ1XG2lnkpR/R51yuOVjys58ktFg6lHX2O6rZjQ5Y+V/VPznLyNdFcBxIvmx
fZJRi3HLy/yMOvPgTsGn9zMyoKwOJfwWqMkVdq48Z7kXRHC+VeYbLpu716H1DLR0
l4YNVxA+tTSsTBG9j9ydVQmd0ETmFrLaUOGy61lMwQb7iUeTjTJO3QsN6lGEDKyR
zzin6LJgPbSpOyCX4cwYl/HZVLfO6bcq3osTzkoeZRnAWw14ipJyRxV6ljUTcEhH
VkeL3e5QxCtTKzHwHPiXX80xZ6+xLJXSSYcJ/yTSW74A/Q==
-----END CERTIFICATE-----
";
    const EC_SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMVyIw+yK1sXRDXCJ/6faInK5WBLficaKpnfqx3BEf7JoAoGCCqGSM49
AwEHoUQDQgAEzUUSQyTikRiRe4Vi4cNeestGUTmMkr3ZUhUfxij5ekx6Dh5aAFOf
LxS1puBI3J16n76YH5b8B6tT9RHxiozoqQ==
-----END EC PRIVATE KEY-----
";
    const EC_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATWgAwIBAgIULBrC3R4QTsn7+/+4yMAxh3oPmj8wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHZWMudGVzdDAgFw0yNjExMjYxMjUzMTRaGA8yMTI2MTEwMjEy
NTMxNFowEjEQMA4GA1UEAwwHZWMudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABM1FEkMk4pEYkXuFYuHDXnrLRlE5jJK92VIVH8Yo+XpMeg4eWgBTny8Utabg
SNydep++mB+W/AerU/UR8YqM6KmjZzBlMB0GA1UdDgQWBBRfT0FxfhAAhiZIrLKp
YE4KoibofTAfBgNVHSMEGDAWgBRfT0FxfhAAhiZIrLKpYE4KoibofTAPBgNVHRMB
Af8EBTADAQH/MBIGA1UdEQQLMAmCB2VjLnRlc3QwCgYIKoZIzj0EAwIDRwAwRAIg
Y4LIBaKh4A20Z18n312Kbzd6Y/69d/DfJv9xe5E+AxcCIFu1E0gJeEExC34PGszo
rEsOueqVlezyMWNrPTUg4lu9
-----END CERTIFICATE-----
";

    /// Writes through a temporary file and a rename, as every real rotation does.
    fn write_atomic(path: &Path, contents: &str) {
        let tmp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().unwrap().to_string_lossy()
        ));
        fs::write(&tmp, contents).unwrap();
        fs::rename(&tmp, path).unwrap();
    }

    struct Files {
        _dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        dir: PathBuf,
    }

    impl Files {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_path_buf();
            Self {
                cert: path.join("tls.crt"),
                key: path.join("tls.key"),
                dir: path,
                _dir: dir,
            }
        }

        fn write(&self, cert: &str, key: &str) {
            write_atomic(&self.key, key);
            write_atomic(&self.cert, cert);
        }

        fn write_pair(&self, pair: &Issued) {
            self.write(&pair.cert_pem, &pair.key_pem);
        }

        fn options(&self) -> TlsOptions {
            TlsOptions {
                cert_file: self.cert.clone(),
                key_file: self.key.clone(),
                client_ca_file: None,
                http2: false,
            }
        }
    }

    fn server_pair(ca: &DevCa, validity: Duration) -> Issued {
        ca.issue_server(&[SNI, "localhost", "127.0.0.1"], validity)
            .unwrap()
    }

    /// Files holding the first of three pairs (valid 30, 60 and 90 days, one CA), and a
    /// `ReloadingCert` loaded from them: the start of every reload test.
    fn loaded_first_of_three() -> (Files, ReloadingCert, [Issued; 3]) {
        let ca = DevCa::new("test CA").unwrap();
        let pairs = [30, 60, 90].map(|days| server_pair(&ca, days * DAY));
        let files = Files::new();
        files.write_pair(&pairs[0]);
        let cert = ReloadingCert::load(&files.cert, &files.key).unwrap();
        (files, cert, pairs)
    }

    fn not_after_of(pem: &str) -> i64 {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.validity().not_after.timestamp()
    }

    fn serial_of(der: &[u8]) -> Vec<u8> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        cert.raw_serial().to_vec()
    }

    fn serial_of_pem(pem: &str) -> Vec<u8> {
        serial_of(&CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
    }

    #[test]
    fn loads_a_good_pair() {
        let ca = DevCa::new("test CA").unwrap();
        let pair = server_pair(&ca, 30 * DAY);
        let files = Files::new();
        files.write_pair(&pair);
        let cert = ReloadingCert::load(&files.cert, &files.key).unwrap();
        assert_eq!(cert.not_after(), not_after_of(&pair.cert_pem));
        assert_eq!(cert.reload_error(), None);
        assert!(!cert.refresh(), "nothing changed");
        assert_eq!(cert.attempts.load(Ordering::Relaxed), 0);
        let debug = format!("{cert:?}");
        assert!(
            debug.contains("tls.crt") && !debug.contains("PRIVATE"),
            "{debug}"
        );
    }

    #[test]
    fn loads_every_supported_key_type_and_encoding() {
        let files = Files::new();
        // PKCS#1 RSA and SEC1 EC, from OpenSSL.
        for (cert, key) in [(RSA_CERT, RSA_PKCS1_KEY), (EC_CERT, EC_SEC1_KEY)] {
            files.write(cert, key);
            ReloadingCert::load(&files.cert, &files.key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        // PKCS#8 P-256, P-384 and Ed25519, from rcgen.
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["x.test".to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            files.write(&cert.pem(), &key.serialize_pem());
            ReloadingCert::load(&files.cert, &files.key).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }

    #[test]
    fn refuses_unusable_pairs_naming_the_files() {
        let ca = DevCa::new("test CA").unwrap();
        let a = server_pair(&ca, 30 * DAY);
        let b = server_pair(&ca, 30 * DAY);
        let files = Files::new();
        let cert = files.cert.display().to_string();
        let key = files.key.display().to_string();
        let load = || ReloadingCert::load(&files.cert, &files.key).unwrap_err();

        let err = load();
        assert!(matches!(err, TlsError::ReadCert { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("cannot read TLS certificate {cert}: No such file or directory (os error 2)")
        );

        write_atomic(&files.cert, &a.cert_pem);
        let err = load();
        assert_eq!(
            err.to_string(),
            format!("cannot read TLS private key {key}: No such file or directory (os error 2)")
        );

        write_atomic(&files.key, &b.key_pem);
        let err = load();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("certificate and key in {cert} / {key} do not match")
        );

        // The key file holds only a certificate.
        write_atomic(&files.key, &a.cert_pem);
        assert_eq!(load().to_string(), format!("{key} holds no private key"));

        write_atomic(&files.key, &a.key_pem);
        write_atomic(&files.cert, "garbage\n");
        assert_eq!(load().to_string(), format!("{cert} holds no certificates"));

        // Half-written files.
        let half = &a.cert_pem[..a.cert_pem.len() / 2];
        write_atomic(&files.cert, half);
        let err = load();
        assert!(matches!(err, TlsError::ParseCert { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot parse TLS certificate {cert}: ")),
            "{err}"
        );
        write_atomic(&files.cert, &a.cert_pem);
        write_atomic(&files.key, &a.key_pem[..a.key_pem.len() / 2]);
        let err = load();
        assert!(matches!(err, TlsError::ParseKey { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot parse TLS private key {key}: ")),
            "{err}"
        );

        // A PEM block that is not X.509, and a key block that is no key.
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        write_atomic(&files.key, &a.key_pem);
        write_atomic(&files.cert, bogus);
        assert!(matches!(load(), TlsError::ParseCert { .. }));
        write_atomic(&files.cert, &a.cert_pem);
        write_atomic(
            &files.key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        assert!(matches!(load(), TlsError::ParseKey { .. }));

        // server_config fails the same way, before anything is bound.
        let err = server_config(&files.options()).unwrap_err();
        assert!(matches!(err, TlsError::ParseKey { .. }), "{err:?}");
    }

    #[test]
    fn reloads_a_changed_pair() {
        let (files, cert, [a, b, _]) = loaded_first_of_three();
        assert_eq!(cert.not_after(), not_after_of(&a.cert_pem));

        files.write_pair(&b);
        assert!(cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&b.cert_pem));
        assert_ne!(cert.not_after(), not_after_of(&a.cert_pem));
        assert_eq!(cert.reload_error(), None);
        assert!(!cert.refresh());
        assert_eq!(cert.attempts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_handshake_never_waits_for_another_ones_reload() {
        let (files, cert, [a, b, _]) = loaded_first_of_three();
        files.write_pair(&b);
        {
            // Another handshake is reloading: this one serves the current pair at once.
            let _other = cert.reload.lock().unwrap();
            assert!(!cert.refresh());
            assert_eq!(cert.not_after(), not_after_of(&a.cert_pem));
        }
        assert!(cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&b.cert_pem));
        assert_eq!(cert.attempts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn keeps_the_old_pair_while_the_new_one_is_broken() {
        let (files, cert, [a, b, c]) = loaded_first_of_three();

        // A rotation half done: the new key is in place, the certificate not yet.
        write_atomic(&files.key, &b.key_pem);
        assert!(!cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&a.cert_pem));
        let error = cert.reload_error().expect("reload error");
        assert!(error.contains("do not match"), "{error}");
        assert_eq!(cert.attempts.load(Ordering::Relaxed), 1);

        // The broken pair is not read again until the files change.
        assert!(!cert.refresh());
        assert!(!cert.refresh());
        assert_eq!(cert.attempts.load(Ordering::Relaxed), 1);
        assert!(cert.reload_error().is_some());

        // Garbage is no better.
        write_atomic(&files.cert, "-----BEGIN CERTIFICATE-----\nMIIB");
        assert!(!cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&a.cert_pem));
        assert!(
            cert.reload_error()
                .unwrap()
                .contains("cannot parse TLS certificate")
        );

        // A vanished file neither.
        fs::remove_file(&files.cert).unwrap();
        assert!(!cert.refresh());
        assert!(cert.reload_error().unwrap().contains("No such file"));

        // The rotation completes.
        write_atomic(&files.cert, &b.cert_pem);
        assert!(cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&b.cert_pem));
        assert_eq!(cert.reload_error(), None);

        // And the next one too.
        files.write_pair(&c);
        assert!(cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&c.cert_pem));
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_kubernetes_secret_volume_symlink_swap() {
        use std::os::unix::fs::symlink;
        let ca = DevCa::new("test CA").unwrap();
        let a = server_pair(&ca, 30 * DAY);
        let b = server_pair(&ca, 60 * DAY);
        let files = Files::new();
        let dir = &files.dir;
        let write_version = |name: &str, pair: &Issued| {
            fs::create_dir(dir.join(name)).unwrap();
            fs::write(dir.join(name).join("tls.crt"), &pair.cert_pem).unwrap();
            fs::write(dir.join(name).join("tls.key"), &pair.key_pem).unwrap();
        };
        write_version("..2026_01_01_00_00_00.1", &a);
        symlink("..2026_01_01_00_00_00.1", dir.join("..data")).unwrap();
        symlink("..data/tls.crt", &files.cert).unwrap();
        symlink("..data/tls.key", &files.key).unwrap();
        let cert = ReloadingCert::load(&files.cert, &files.key).unwrap();
        assert_eq!(cert.not_after(), not_after_of(&a.cert_pem));

        // What the kubelet's atomic writer does: a new directory, a new symlink, a rename over
        // `..data`, then the old directory goes.
        write_version("..2026_02_01_00_00_00.2", &b);
        symlink("..2026_02_01_00_00_00.2", dir.join("..data_tmp")).unwrap();
        fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        fs::remove_dir_all(dir.join("..2026_01_01_00_00_00.1")).unwrap();

        assert!(cert.refresh());
        assert_eq!(cert.not_after(), not_after_of(&b.cert_pem));
        assert_eq!(cert.reload_error(), None);
    }

    #[test]
    fn config_protocols_alpn_and_resumption() {
        let ca = DevCa::new("test CA").unwrap();
        let files = Files::new();
        files.write_pair(&server_pair(&ca, 30 * DAY));
        let (config, _) = server_config(&files.options()).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert_eq!(config.send_tls13_tickets, 0);
        assert!(!config.ticketer.enabled());
        assert!(!config.session_storage.can_cache());
        let (config, _) = server_config(&TlsOptions {
            http2: true,
            ..files.options()
        })
        .unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    /// A ClientHello from a TLS 1.0 or 1.1 client: `client_version` 3.1 or 3.2 and no
    /// `supported_versions` extension. It does carry `signature_algorithms` (which only TLS 1.2
    /// defines), so that the server has nothing to object to but the version.
    fn client_hello(minor: u8) -> Vec<u8> {
        let mut body = vec![3, minor];
        body.extend_from_slice(&[7; 32]); // random
        body.push(0); // session id
        // ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-SHA, AES128-SHA
        body.extend_from_slice(&[0, 6, 0xc0, 0x2b, 0xc0, 0x13, 0x00, 0x2f]);
        body.extend_from_slice(&[1, 0]); // null compression
        let extensions: &[u8] = &[
            0x00, 0x0d, 0, 6, 0, 4, 0x04, 0x03, 0x04, 0x01, // signature_algorithms
            0x00, 0x0a, 0, 6, 0, 4, 0x00, 0x1d, 0x00, 0x17, // supported_groups
            0x00, 0x0b, 0, 2, 1, 0, // ec_point_formats: uncompressed
        ];
        body.extend_from_slice(&[0, extensions.len() as u8]);
        body.extend_from_slice(extensions);
        let mut handshake = vec![1, 0, 0, body.len() as u8];
        handshake.extend_from_slice(&body);
        let mut record = vec![0x16, 3, 1, 0, handshake.len() as u8];
        record.extend_from_slice(&handshake);
        record
    }

    #[test]
    fn tls_1_0_and_1_1_are_refused() {
        let ca = DevCa::new("test CA").unwrap();
        let files = Files::new();
        files.write_pair(&server_pair(&ca, 30 * DAY));
        let (config, _) = server_config(&files.options()).unwrap();
        for minor in [1, 2] {
            let mut conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let hello = client_hello(minor);
            conn.read_tls(&mut hello.as_slice()).unwrap();
            let err = conn.process_new_packets().unwrap_err();
            assert!(
                matches!(
                    err,
                    rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
                ),
                "TLS 1.{}: {err:?}",
                minor - 1
            );
            // The server answers with a fatal protocol_version alert.
            let mut out = Vec::new();
            conn.write_tls(&mut out).unwrap();
            assert_eq!(out[0], 0x15, "alert record: {out:?}");
            assert_eq!(
                &out[out.len() - 2..],
                [2, 70],
                "fatal protocol_version: {out:?}"
            );
        }
        // The same hello saying TLS 1.2 is answered with a ServerHello: the version was the
        // only objection.
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        conn.read_tls(&mut client_hello(3).as_slice()).unwrap();
        conn.process_new_packets().unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        assert_eq!(out[..3], [0x16, 3, 3], "handshake record: {out:?}");
        assert_eq!(out[5], 2, "ServerHello: {out:?}");
    }

    struct Seen {
        leaf: Vec<u8>,
        alpn: Option<Vec<u8>>,
        version: rustls::ProtocolVersion,
        reply: Vec<u8>,
    }

    fn client_config(
        ca: &DevCa,
        client_cert: Option<&Issued>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots);
        match client_cert {
            Some(pair) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        }
    }

    /// One connection over loopback: the server handshakes and writes `hello`; the client
    /// handshakes and reads to the end. Returns what each side saw.
    async fn connect(
        server: &Arc<ServerConfig>,
        client: ClientConfig,
    ) -> (std::io::Result<()>, std::io::Result<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::clone(server));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            // Says whether the client presented a (verified) certificate.
            let reply: &[u8] = match tls.get_ref().1.peer_certificates() {
                Some(_) => b"hello, certified client",
                None => b"hello",
            };
            tls.write_all(reply).await?;
            tls.shutdown().await
        });
        let client = async {
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from(SNI).unwrap();
            let mut tls = TlsConnector::from(Arc::new(client))
                .connect(name, tcp)
                .await?;
            let (_, conn) = tls.get_ref();
            let leaf = conn.peer_certificates().unwrap()[0].to_vec();
            let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
            let version = conn.protocol_version().unwrap();
            let mut reply = Vec::new();
            tls.read_to_end(&mut reply).await?;
            Ok(Seen {
                leaf,
                alpn,
                version,
                reply,
            })
        }
        .await;
        (server.await.unwrap(), client)
    }

    const BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];

    #[tokio::test]
    async fn handshakes_serve_the_rotated_certificate() {
        let ca = DevCa::new("test CA").unwrap();
        let a = server_pair(&ca, 30 * DAY);
        let b = server_pair(&ca, 60 * DAY);
        let files = Files::new();
        files.write_pair(&a);
        let (config, cert) = server_config(&TlsOptions {
            http2: true,
            ..files.options()
        })
        .unwrap();

        let (server, client) = connect(&config, client_config(&ca, None, BOTH)).await;
        server.unwrap();
        let seen = client.unwrap();
        assert_eq!(serial_of(&seen.leaf), serial_of_pem(&a.cert_pem));
        assert_eq!(seen.reply, b"hello");
        assert_eq!(seen.version, rustls::ProtocolVersion::TLSv1_3);
        assert_eq!(seen.alpn.as_deref(), None, "the client offered no ALPN");

        // Rotate; the very next handshake serves the new certificate.
        files.write_pair(&b);
        let mut client = client_config(&ca, None, &[&rustls::version::TLS12]);
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let (server, seen) = connect(&config, client).await;
        server.unwrap();
        let seen = seen.unwrap();
        assert_eq!(serial_of(&seen.leaf), serial_of_pem(&b.cert_pem));
        assert_eq!(cert.not_after(), not_after_of(&b.cert_pem));
        assert_eq!(seen.version, rustls::ProtocolVersion::TLSv1_2);
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));

        // A broken rotation: handshakes go on with the previous certificate.
        write_atomic(&files.cert, "-----BEGIN CERTIFICATE-----\n");
        let (server, seen) = connect(&config, client_config(&ca, None, BOTH)).await;
        server.unwrap();
        assert_eq!(serial_of(&seen.unwrap().leaf), serial_of_pem(&b.cert_pem));
        assert!(cert.reload_error().is_some());
    }

    #[tokio::test]
    async fn http1_only_alpn() {
        let ca = DevCa::new("test CA").unwrap();
        let files = Files::new();
        files.write_pair(&server_pair(&ca, 30 * DAY));
        let (config, _) = server_config(&files.options()).unwrap();
        let mut client = client_config(&ca, None, BOTH);
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let (server, seen) = connect(&config, client).await;
        server.unwrap();
        assert_eq!(seen.unwrap().alpn.as_deref(), Some(&b"http/1.1"[..]));
    }

    #[tokio::test]
    async fn client_certificates_are_checked_with_a_client_ca() {
        let ca = DevCa::new("server CA").unwrap();
        let client_ca = DevCa::new("client CA").unwrap();
        let other_ca = DevCa::new("other CA").unwrap();
        let files = Files::new();
        files.write_pair(&server_pair(&ca, 30 * DAY));
        let ca_file = files.dir.join("client-ca.crt");
        fs::write(&ca_file, client_ca.cert_pem()).unwrap();
        let (config, _) = server_config(&TlsOptions {
            client_ca_file: Some(ca_file.clone()),
            ..files.options()
        })
        .unwrap();

        for versions in [BOTH, &[&rustls::version::TLS12][..]] {
            // No certificate: the handshake completes (probes present none); the router then
            // refuses /validate and /metrics (tested with the server).
            let (server, seen) = connect(&config, client_config(&ca, None, versions)).await;
            server.unwrap();
            assert_eq!(seen.unwrap().reply, b"hello");

            // A certificate from another CA: refused too.
            let stranger = other_ca.issue_client("stranger").unwrap();
            let (server, seen) =
                connect(&config, client_config(&ca, Some(&stranger), versions)).await;
            assert!(server.is_err());
            assert!(seen.is_err());

            // A certificate from the client CA: accepted.
            let apiserver = client_ca.issue_client("kube-apiserver").unwrap();
            let (server, seen) =
                connect(&config, client_config(&ca, Some(&apiserver), versions)).await;
            server.unwrap();
            assert_eq!(seen.unwrap().reply, b"hello, certified client");
        }
    }

    #[test]
    fn refuses_unusable_client_ca_files() {
        let ca = DevCa::new("test CA").unwrap();
        let files = Files::new();
        files.write_pair(&server_pair(&ca, 30 * DAY));
        let ca_file = files.dir.join("client-ca.crt");
        let options = TlsOptions {
            client_ca_file: Some(ca_file.clone()),
            ..files.options()
        };
        let path = ca_file.display().to_string();

        let err = server_config(&options).unwrap_err();
        assert!(matches!(err, TlsError::ReadClientCa { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read client CA file {path}: ")),
            "{err}"
        );

        fs::write(&ca_file, "no PEM here\n").unwrap();
        let err = server_config(&options).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("client CA file {path} holds no certificates")
        );

        fs::write(
            &ca_file,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = server_config(&options).unwrap_err();
        assert!(matches!(err, TlsError::ParseClientCa { .. }), "{err:?}");
    }
}
