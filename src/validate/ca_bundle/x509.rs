//! X.509: the DER of a certificate read into [`CertificateFacts`] by `x509-parser`, and what
//! its key size and signature algorithm say about its strength.

use x509_parser::certificate::X509Certificate;
use x509_parser::nom;
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::AlgorithmIdentifier;

use super::CertificateFacts;
use super::names::format_name;

/// The length of a DER SEQUENCE (header included) as its header declares, if it is one.
fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > std::mem::size_of::<usize>() {
        return None;
    }
    let bytes = rest.get(..count)?;
    let len = bytes.iter().try_fold(0usize, |acc, &b| {
        acc.checked_mul(256)?.checked_add(usize::from(b))
    })?;
    len.checked_add(2 + count)
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

/// Name and weakness of a signature algorithm.
fn signature_algorithm(alg: &AlgorithmIdentifier<'_>) -> (String, bool) {
    let id = alg.algorithm.to_id_string();
    let known = |name: &str, weak: bool| (name.to_owned(), weak);
    match id.as_str() {
        "1.2.840.113549.1.1.2" => known("md2WithRSAEncryption", true),
        "1.2.840.113549.1.1.3" => known("md4WithRSAEncryption", true),
        "1.2.840.113549.1.1.4" => known("md5WithRSAEncryption", true),
        "1.2.840.113549.1.1.5" => known("sha1WithRSAEncryption", true),
        "1.2.840.113549.1.1.11" => known("sha256WithRSAEncryption", false),
        "1.2.840.113549.1.1.12" => known("sha384WithRSAEncryption", false),
        "1.2.840.113549.1.1.13" => known("sha512WithRSAEncryption", false),
        "1.2.840.113549.1.1.14" => known("sha224WithRSAEncryption", false),
        "1.3.14.3.2.3" => known("md5WithRSA", true),
        "1.3.14.3.2.13" => known("dsaWithSHA", true),
        "1.3.14.3.2.27" => known("dsaWithSHA1", true),
        "1.3.14.3.2.29" => known("sha1WithRSA", true),
        "1.2.840.10040.4.3" => known("dsa-with-sha1", true),
        "2.16.840.1.101.3.4.3.1" => known("dsa-with-SHA224", false),
        "2.16.840.1.101.3.4.3.2" => known("dsa-with-SHA256", false),
        "1.2.840.10045.4.1" => known("ecdsa-with-SHA1", true),
        "1.2.840.10045.4.3.1" => known("ecdsa-with-SHA224", false),
        "1.2.840.10045.4.3.2" => known("ecdsa-with-SHA256", false),
        "1.2.840.10045.4.3.3" => known("ecdsa-with-SHA384", false),
        "1.2.840.10045.4.3.4" => known("ecdsa-with-SHA512", false),
        "1.3.101.112" => known("ED25519", false),
        "1.3.101.113" => known("ED448", false),
        "1.2.840.113549.1.1.10" => rsassa_pss(alg),
        _ => (id, false),
    }
}

/// RSASSA-PSS: the hash is in the parameters, SHA-1 when they are absent (RFC 4055).
fn rsassa_pss(alg: &AlgorithmIdentifier<'_>) -> (String, bool) {
    let hash = match alg.parameters.as_ref() {
        None => Some("1.3.14.3.2.26".to_owned()),
        Some(params) => RsaSsaPssParams::try_from(params)
            .ok()
            .map(|p| p.hash_algorithm_oid().to_id_string()),
    };
    let (hash_name, weak) = match hash.as_deref() {
        Some("1.3.14.3.2.26") => ("SHA-1", true),
        Some("1.2.840.113549.2.5") => ("MD5", true),
        Some("2.16.840.1.101.3.4.2.1") => ("SHA-256", false),
        Some("2.16.840.1.101.3.4.2.2") => ("SHA-384", false),
        Some("2.16.840.1.101.3.4.2.3") => ("SHA-512", false),
        Some("2.16.840.1.101.3.4.2.4") => ("SHA-224", false),
        _ => return ("rsassa-pss".to_owned(), false),
    };
    (format!("rsassa-pss with {hash_name}"), weak)
}
