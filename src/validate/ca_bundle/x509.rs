//! X.509: the DER of a certificate read into [`CertificateFacts`] by `x509-parser`, and what
//! its key size and signature algorithm say about its strength.

use x509_parser::asn1_rs::{FromDer, Header, Length, Oid, oid};
use x509_parser::certificate::X509Certificate;
use x509_parser::nom;
use x509_parser::oid_registry::{
    OID_HASH_SHA1, OID_NIST_HASH_SHA256, OID_NIST_HASH_SHA384, OID_NIST_HASH_SHA512,
    OID_PKCS1_MD2WITHRSAENC, OID_PKCS1_MD4WITHRSAENC, OID_PKCS1_MD5WITHRSAENC, OID_PKCS1_RSASSAPSS,
    OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA224WITHRSA, OID_PKCS1_SHA256WITHRSA,
    OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA, OID_SHA1_WITH_RSA, OID_SIG_DSA_WITH_SHA1,
    OID_SIG_ECDSA_WITH_SHA224, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED448, OID_SIG_ED25519,
};
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::AlgorithmIdentifier;

use super::CertificateFacts;
use super::names::format_name;

// Algorithms oid-registry 0.8 does not name.
/// `md5WithRSA` (OIW).
const OID_OIW_MD5_WITH_RSA: Oid<'static> = oid!(1.3.14.3.2.3);
/// `dsaWithSHA` (OIW, SHA-0).
const OID_OIW_DSA_WITH_SHA: Oid<'static> = oid!(1.3.14.3.2.13);
/// `dsaWithSHA1` (OIW).
const OID_OIW_DSA_WITH_SHA1: Oid<'static> = oid!(1.3.14.3.2.27);
/// `dsa-with-sha224` (NIST).
const OID_SIG_DSA_WITH_SHA224: Oid<'static> = oid!(2.16.840.1.101.3.4.3.1);
/// `dsa-with-sha256` (NIST).
const OID_SIG_DSA_WITH_SHA256: Oid<'static> = oid!(2.16.840.1.101.3.4.3.2);
/// `ecdsa-with-SHA1` (X9.62).
const OID_SIG_ECDSA_WITH_SHA1: Oid<'static> = oid!(1.2.840.10045.4.1);
/// MD5 (RSADSI), as the hash of RSASSA-PSS.
const OID_HASH_MD5: Oid<'static> = oid!(1.2.840.113549.2.5);
/// SHA-224 (NIST), as the hash of RSASSA-PSS.
const OID_NIST_HASH_SHA224: Oid<'static> = oid!(2.16.840.1.101.3.4.2.4);

/// The signature algorithms named in messages (RSASSA-PSS aside, see [`rsassa_pss`]): the
/// name, and whether its hash (MD2, MD4, MD5, SHA-0 or SHA-1) is weak.
pub(super) static SIGNATURE_ALGORITHMS: [(Oid<'static>, &str, bool); 22] = [
    (OID_PKCS1_MD2WITHRSAENC, "md2WithRSAEncryption", true),
    (OID_PKCS1_MD4WITHRSAENC, "md4WithRSAEncryption", true),
    (OID_PKCS1_MD5WITHRSAENC, "md5WithRSAEncryption", true),
    (OID_PKCS1_SHA1WITHRSA, "sha1WithRSAEncryption", true),
    (OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption", false),
    (OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption", false),
    (OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption", false),
    (OID_PKCS1_SHA224WITHRSA, "sha224WithRSAEncryption", false),
    (OID_OIW_MD5_WITH_RSA, "md5WithRSA", true),
    (OID_OIW_DSA_WITH_SHA, "dsaWithSHA", true),
    (OID_OIW_DSA_WITH_SHA1, "dsaWithSHA1", true),
    (OID_SHA1_WITH_RSA, "sha1WithRSA", true),
    (OID_SIG_DSA_WITH_SHA1, "dsa-with-sha1", true),
    (OID_SIG_DSA_WITH_SHA224, "dsa-with-SHA224", false),
    (OID_SIG_DSA_WITH_SHA256, "dsa-with-SHA256", false),
    (OID_SIG_ECDSA_WITH_SHA1, "ecdsa-with-SHA1", true),
    (OID_SIG_ECDSA_WITH_SHA224, "ecdsa-with-SHA224", false),
    (OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256", false),
    (OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384", false),
    (OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512", false),
    (OID_SIG_ED25519, "ED25519", false),
    (OID_SIG_ED448, "ED448", false),
];

/// The hashes of RSASSA-PSS named in messages, and whether each is weak.
pub(super) static PSS_HASHES: [(Oid<'static>, &str, bool); 6] = [
    (OID_HASH_SHA1, "SHA-1", true),
    (OID_HASH_MD5, "MD5", true),
    (OID_NIST_HASH_SHA256, "SHA-256", false),
    (OID_NIST_HASH_SHA384, "SHA-384", false),
    (OID_NIST_HASH_SHA512, "SHA-512", false),
    (OID_NIST_HASH_SHA224, "SHA-224", false),
];

/// The length of a DER SEQUENCE (header included) as its header declares, if it is one.
pub(super) fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (rest, header) = Header::from_der(der).ok()?;
    let header_len = der.len() - rest.len();
    // What a certificate starts with: one identifier byte, 0x30 (a universal, constructed
    // SEQUENCE), and a length in at most eight bytes.
    if header.raw_tag() != Some(&[0x30][..]) || header_len > 2 + std::mem::size_of::<u64>() {
        return None;
    }
    match header.length() {
        Length::Definite(len) => len.checked_add(header_len),
        Length::Indefinite => None,
    }
}

/// Parses DER as X.509 and extracts the facts; the error is the rest of a sentence.
pub(super) fn certificate_facts(
    index: usize,
    line: usize,
    der: &[u8],
) -> Result<CertificateFacts, String> {
    let Some(declared) = der_sequence_len(der) else {
        return Err("does not contain DER (it is not an X.509 certificate)".to_owned());
    };
    if declared > der.len() {
        return Err("is truncated: its DER ends early".to_owned());
    }
    let cert = match x509_parser::parse_x509_certificate(der) {
        Ok((rest, _)) if !rest.is_empty() => {
            return Err(format!(
                "has {} bytes of trailing data after the certificate",
                rest.len()
            ));
        }
        Ok((_, cert)) => cert,
        Err(nom::Err::Incomplete(_)) => return Err("is truncated: its DER ends early".to_owned()),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            return Err(format!("is not a valid X.509 certificate ({e})"));
        }
    };
    Ok(facts_of(index, line, &cert))
}

fn facts_of(index: usize, line: usize, cert: &X509Certificate<'_>) -> CertificateFacts {
    let validity = cert.validity();
    let rsa_bits = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(modulus_bits(rsa.modulus)),
        _ => None,
    };
    let (signature_algorithm, weak_signature) = signature_algorithm(&cert.signature_algorithm);
    CertificateFacts {
        index,
        line,
        subject: format_name(cert.subject()),
        issuer: format_name(cert.issuer()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        is_ca: cert.is_ca(),
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        rsa_bits,
        signature_algorithm,
        weak_signature,
        duplicate_of: None,
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
pub(super) fn modulus_bits(modulus: &[u8]) -> u32 {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    let significant = modulus.get(start..).unwrap_or(&[]);
    match significant.first() {
        None => 0,
        Some(&top) => {
            let bits = significant
                .len()
                .saturating_mul(8)
                .saturating_sub(top.leading_zeros() as usize);
            u32::try_from(bits).unwrap_or(u32::MAX)
        }
    }
}

/// Name and weakness of a signature algorithm (the dotted OID when it is not known).
pub(super) fn signature_algorithm(alg: &AlgorithmIdentifier<'_>) -> (String, bool) {
    if alg.algorithm == OID_PKCS1_RSASSAPSS {
        return rsassa_pss(alg);
    }
    match SIGNATURE_ALGORITHMS
        .iter()
        .find(|(oid, _, _)| *oid == alg.algorithm)
    {
        Some((_, name, weak)) => ((*name).to_owned(), *weak),
        None => (alg.algorithm.to_id_string(), false),
    }
}

/// RSASSA-PSS: the hash is in the parameters, SHA-1 when they are absent (RFC 4055).
fn rsassa_pss(alg: &AlgorithmIdentifier<'_>) -> (String, bool) {
    let known = |hash: &Oid<'_>| {
        PSS_HASHES
            .iter()
            .find(|(oid, _, _)| oid == hash)
            .map(|(_, name, weak)| (*name, *weak))
    };
    let hash = match alg.parameters.as_ref() {
        None => known(&OID_HASH_SHA1),
        Some(params) => RsaSsaPssParams::try_from(params)
            .ok()
            .and_then(|p| known(p.hash_algorithm_oid())),
    };
    match hash {
        Some((hash_name, weak)) => (format!("rsassa-pss with {hash_name}"), weak),
        None => ("rsassa-pss".to_owned(), false),
    }
}
