//! Development certificates: a throw-away CA and a server certificate signed by it.
//!
//! [`generate`] writes `ca.crt`, `tls.crt` and `tls.key` for running the webhook locally or in
//! a development cluster (the CA goes into the `ValidatingWebhookConfiguration`'s `caBundle`).
//! The CA's private key is never written: to get a new server certificate, generate a new set.
//!
//! [`DevCa`] is the in-memory API underneath, also used by tests to mint server certificates
//! (say, a second one for a rotation test) and client certificates (for mutual TLS).
//!
//! All keys are ECDSA P-256. Serial numbers are random (128 bits); `notBefore` is backdated by
//! five minutes to tolerate clock skew between the machine that generates and the one that
//! verifies.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

/// File name of the CA certificate written by [`generate`].
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the server certificate written by [`generate`].
pub const SERVER_CERT_FILE: &str = "tls.crt";
/// File name of the server private key written by [`generate`].
pub const SERVER_KEY_FILE: &str = "tls.key";

/// Default validity of the development CA: ten years.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Default validity of a server certificate: 365 days.
pub const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Validity of client certificates minted by [`DevCa::issue_client`]: 365 days.
pub const CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How far `notBefore` is backdated, for clock skew.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Paths written by [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevCerts {
    /// The CA certificate (`ca.crt`), PEM: what clients trust.
    pub ca_cert: PathBuf,
    /// The server certificate (`tls.crt`), PEM.
    pub server_cert: PathBuf,
    /// The server private key (`tls.key`), PKCS#8 PEM, mode 0600.
    pub server_key: PathBuf,
    /// The names and addresses the server certificate is valid for.
    pub names: Vec<String>,
}

/// Errors of certificate generation.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The output directory could not be created.
    #[error("cannot create directory {}: {error}", path.display())]
    CreateDir {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file could not be written (or renamed into place).
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A service or namespace name is not a DNS label.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// `service` or `namespace`.
        what: &'static str,
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// rcgen refused to build a certificate (an invalid name, a validity out of range).
    #[error("cannot generate {what}: {error}")]
    Generate {
        /// Which certificate or key.
        what: String,
        error: rcgen::Error,
    },
    /// The system's random number generator failed.
    #[error("cannot read random bytes from the system")]
    Random,
    /// The validity does not fit in a certificate date.
    #[error("validity of {what} is out of range: {validity:?}")]
    Validity { what: String, validity: Duration },
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[elided]")
            .finish()
    }
}

/// An in-memory development CA (ECDSA P-256, `CA:true, pathlen:0`,
/// keyUsage `keyCertSign, cRLSign`) that issues server and client certificates.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa")
            .field("issuer", &*self.issuer)
            .finish()
    }
}

impl DevCa {
    /// A new CA named `common_name`, valid for [`CA_VALIDITY`] (ten years).
    pub fn new(common_name: &str) -> Result<Self, CertsError> {
        Self::with_validity(common_name, CA_VALIDITY)
    }

    /// A new CA named `common_name`, valid for `validity` from now.
    pub fn with_validity(common_name: &str, validity: Duration) -> Result<Self, CertsError> {
        let what = || format!("CA certificate {common_name:?}");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, validity, &what)?;
        params.serial_number = Some(random_serial()?);
        let key = new_key(&what)?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).map_err(|source| CertsError::Generate {
                what: what(),
                error: source,
            })?;
        Ok(Self { issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Issues a server certificate for `sans` (DNS names or IP addresses), valid for `validity`
    /// from now: `CA:false`, keyUsage `digitalSignature`, extKeyUsage `serverAuth`, with the
    /// first SAN as common name.
    pub fn issue_server(&self, sans: &[&str], validity: Duration) -> Result<Issued, CertsError> {
        let what = || format!("server certificate for {sans:?}");
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(|source| CertsError::Generate {
                    what: what(),
                    error: source,
                })?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(first) = sans.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue_leaf(params, validity, &what)
    }

    /// Issues a client certificate with common name `common_name`, valid for
    /// [`CLIENT_VALIDITY`]: `CA:false`, keyUsage `digitalSignature`, extKeyUsage `clientAuth`.
    pub fn issue_client(&self, common_name: &str) -> Result<Issued, CertsError> {
        let what = || format!("client certificate {common_name:?}");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue_leaf(params, CLIENT_VALIDITY, &what)
    }

    fn issue_leaf(
        &self,
        mut params: CertificateParams,
        validity: Duration,
        what: &dyn Fn() -> String,
    ) -> Result<Issued, CertsError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        set_validity(&mut params, validity, what)?;
        let key = new_key(what)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| CertsError::Generate {
                what: what(),
                error: source,
            })?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn new_key(what: &dyn Fn() -> String) -> Result<KeyPair, CertsError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| CertsError::Generate {
        what: format!("key of {}", what()),
        error: source,
    })
}

fn set_validity(
    params: &mut CertificateParams,
    validity: Duration,
    what: &dyn Fn() -> String,
) -> Result<(), CertsError> {
    let now = OffsetDateTime::now_utc();
    let out_of_range = || CertsError::Validity {
        what: what(),
        validity,
    };
    let validity_time = time::Duration::try_from(validity).map_err(|_| out_of_range())?;
    let backdate = time::Duration::try_from(BACKDATE).map_err(|_| out_of_range())?;
    params.not_before = now.checked_sub(backdate).ok_or_else(out_of_range)?;
    params.not_after = now.checked_add(validity_time).ok_or_else(out_of_range)?;
    // X.509 dates end at year 9999 (GeneralizedTime).
    if params.not_after.year() > 9999 {
        return Err(out_of_range());
    }
    Ok(())
}

/// Random bytes from the ring provider's system RNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], CertsError> {
    let mut bytes = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| CertsError::Random)?;
    Ok(bytes)
}

/// A random, positive 128-bit serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> Result<SerialNumber, CertsError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x40; // no leading zero octet, so always 16 octets
    Ok(SerialNumber::from_slice(&bytes))
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` into `out` (created if missing): a new CA and a
/// server certificate signed by it, valid for `validity` (the CA for [`CA_VALIDITY`]), for
/// `NAME.NS.svc` (the common name), `NAME.NS.svc.cluster.local`, `NAME.NS`, `NAME`,
/// `localhost`, `127.0.0.1` and `::1`, where NAME is `service` and NS is `namespace`.
///
/// Each file is written to a temporary file in `out` and renamed into place, so a watcher never
/// sees a half-written file; the key is created with mode 0600. Existing files are replaced.
pub fn generate(
    out: &Path,
    service: &str,
    namespace: &str,
    validity: Duration,
) -> Result<DevCerts, CertsError> {
    check_label("service", service)?;
    check_label("namespace", namespace)?;
    fs::create_dir_all(out).map_err(|source| CertsError::CreateDir {
        path: out.to_path_buf(),
        error: source,
    })?;

    let ca = DevCa::new(&format!("{service} development CA"))?;
    let svc = format!("{service}.{namespace}.svc");
    let fqdn = format!("{svc}.cluster.local");
    let short = format!("{service}.{namespace}");
    let sans = [
        svc.as_str(),
        fqdn.as_str(),
        short.as_str(),
        service,
        "localhost",
        "127.0.0.1",
        "::1",
    ];
    let server = ca.issue_server(&sans, validity)?;

    let certs = DevCerts {
        ca_cert: out.join(CA_CERT_FILE),
        server_cert: out.join(SERVER_CERT_FILE),
        server_key: out.join(SERVER_KEY_FILE),
        names: sans.iter().map(|&name| name.to_owned()).collect(),
    };
    write_atomically(&certs.ca_cert, ca.cert_pem().as_bytes(), 0o644)?;
    write_atomically(&certs.server_key, server.key_pem.as_bytes(), 0o600)?;
    write_atomically(&certs.server_cert, server.cert_pem.as_bytes(), 0o644)?;
    Ok(certs)
}

/// Whether `ca.crt`, `tls.crt` and `tls.key` all exist in `out` (to create them only if absent).
pub fn exist(out: &Path) -> bool {
    [CA_CERT_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE]
        .iter()
        .all(|name| out.join(name).is_file())
}

/// RFC 1123 label, as Kubernetes requires of service and namespace names.
fn check_label(what: &'static str, name: &str) -> Result<(), CertsError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 63 {
        Some("must be at most 63 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("must consist of lower case letters, digits and '-'")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must start and end with a letter or digit")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CertsError::InvalidName {
            what,
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Writes `contents` to a new temporary file next to `path` (created with `mode` on Unix),
/// syncs it, and renames it over `path`.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertsError> {
    let error = |source| CertsError::Write {
        path: path.to_path_buf(),
        error: source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = u64::from_le_bytes(random_bytes::<8>()?);
    let tmp = dir.join(format!(".{name}.tmp-{}-{suffix:016x}", std::process::id()));

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let result = result.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::parse_x509_pem;

    fn parse<T>(
        pem: &[u8],
        check: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
    ) -> T {
        let (rest, pem) = parse_x509_pem(pem).expect("PEM");
        assert!(rest.iter().all(u8::is_ascii_whitespace), "one PEM block");
        let cert = pem.parse_x509().expect("X.509");
        check(&cert)
    }

    fn sans(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
        let ext = cert
            .subject_alternative_name()
            .expect("SAN")
            .expect("SAN present");
        ext.value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.to_string(),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*ip).unwrap()).to_string(),
                    16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*ip).unwrap()).to_string(),
                    _ => panic!("bad IP SAN"),
                },
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect()
    }

    #[test]
    fn generate_writes_three_parseable_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        assert!(!exist(&out));
        let certs = generate(
            &out,
            "backendtls-webhook",
            "backendtls-webhook",
            SERVER_VALIDITY,
        )
        .unwrap();
        assert!(exist(&out));
        assert_eq!(certs.ca_cert, out.join("ca.crt"));
        assert_eq!(certs.server_cert, out.join("tls.crt"));
        assert_eq!(certs.server_key, out.join("tls.key"));

        // No temporary files are left behind.
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["ca.crt", "tls.crt", "tls.key"]);

        let now = OffsetDateTime::now_utc().unix_timestamp();
        let ca_pem = fs::read(&certs.ca_cert).unwrap();
        let ca_subject = parse(&ca_pem, |ca| {
            let bc = ca.basic_constraints().unwrap().unwrap().value;
            assert!(bc.ca);
            assert_eq!(bc.path_len_constraint, Some(0));
            let ku = ca.key_usage().unwrap().unwrap().value;
            assert!(ku.key_cert_sign() && ku.crl_sign());
            let not_after = ca.validity().not_after.timestamp();
            assert!((not_after - now - CA_VALIDITY.as_secs() as i64).abs() < 120);
            ca.subject().to_string()
        });

        let server_pem = fs::read(&certs.server_cert).unwrap();
        parse(&server_pem, |cert| {
            assert_eq!(cert.issuer().to_string(), ca_subject);
            assert_eq!(
                cert.subject().to_string(),
                "CN=backendtls-webhook.backendtls-webhook.svc"
            );
            let bc = cert.basic_constraints().unwrap().unwrap().value;
            assert!(!bc.ca);
            let ku = cert.key_usage().unwrap().unwrap().value;
            assert!(ku.digital_signature() && !ku.key_cert_sign());
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && !eku.client_auth);
            let names = sans(cert);
            for want in [
                "backendtls-webhook.backendtls-webhook.svc",
                "backendtls-webhook.backendtls-webhook.svc.cluster.local",
                "backendtls-webhook.backendtls-webhook",
                "backendtls-webhook",
                "localhost",
                "127.0.0.1",
                "::1",
            ] {
                assert!(
                    names.iter().any(|n| n == want),
                    "{want} missing from {names:?}"
                );
            }
            let validity = cert.validity();
            assert!(validity.not_before.timestamp() <= now);
            let not_after = validity.not_after.timestamp();
            assert!((not_after - now - SERVER_VALIDITY.as_secs() as i64).abs() < 120);
            assert_eq!(cert.raw_serial().len(), 16);
        });

        let key_pem = fs::read_to_string(&certs.server_key).unwrap();
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // The key belongs to the certificate.
        let key = KeyPair::from_pem(&key_pem).unwrap();
        parse(&server_pem, |cert| {
            assert_eq!(
                cert.public_key().raw,
                key.subject_public_key_info().as_slice()
            );
        });

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&certs.server_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn generate_replaces_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path(), "svc", "ns", Duration::from_secs(86400)).unwrap();
        let before = fs::read(&first.server_cert).unwrap();
        generate(dir.path(), "svc", "ns", Duration::from_secs(86400)).unwrap();
        assert_ne!(fs::read(&first.server_cert).unwrap(), before);
        assert!(exist(dir.path()));
        fs::remove_file(&first.server_key).unwrap();
        assert!(!exist(dir.path()));
    }

    #[test]
    fn generate_refuses_bad_names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let err = generate(dir.path(), "Bad_Name", "ns", SERVER_VALIDITY).unwrap_err();
        assert!(
            err.to_string().contains("invalid service \"Bad_Name\""),
            "{err}"
        );
        let err = generate(dir.path(), "svc", "", SERVER_VALIDITY).unwrap_err();
        assert!(err.to_string().contains("invalid namespace"), "{err}");

        let file = dir.path().join("file");
        fs::write(&file, "not a directory").unwrap();
        let err = generate(&file.join("certs"), "svc", "ns", SERVER_VALIDITY).unwrap_err();
        assert!(matches!(err, CertsError::CreateDir { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&file.join("certs").display().to_string()),
            "{err}"
        );
        // The cause is in the message, and printed once when the error is shown as a chain
        // (as `main` shows errors).
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(chain.matches("Not a directory").count(), 1, "{chain}");

        let err = generate(dir.path(), "svc", "ns", Duration::from_secs(u64::MAX)).unwrap_err();
        assert!(matches!(err, CertsError::Validity { .. }), "{err:?}");
    }

    #[test]
    fn client_certificates() {
        let ca = DevCa::new("test CA").unwrap();
        let client = ca.issue_client("kube-apiserver").unwrap();
        parse(client.cert_pem.as_bytes(), |cert| {
            assert_eq!(cert.subject().to_string(), "CN=kube-apiserver");
            assert_eq!(cert.issuer().to_string(), "CN=test CA");
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && !eku.server_auth);
        });
        // Every certificate gets its own serial number.
        let a = ca.issue_server(&["a.example"], SERVER_VALIDITY).unwrap();
        let b = ca.issue_server(&["a.example"], SERVER_VALIDITY).unwrap();
        let serial = |pem: &str| parse(pem.as_bytes(), |c| c.raw_serial().to_vec());
        assert_ne!(serial(&a.cert_pem), serial(&b.cert_pem));
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }
}
