use rustls_pki_types::pem::{PemObject, SectionKind};

use super::names::{MAX_SUBJECT_CHARS, display_subject, escape_rfc4514, is_unsafe_char, sanitize};
use super::x509::{
    PSS_HASHES, SIGNATURE_ALGORITHMS, der_sequence_len, modulus_bits, signature_algorithm,
};
use super::{Finding, FindingKind, Severity, TimeStatus, assess, format_timestamp, parse_bundle};

const ROOT_CA: &str = include_str!("../../../tests/fixtures/certs/root-ca.pem");
const SECOND_CA: &str = include_str!("../../../tests/fixtures/certs/second-ca.pem");
const EXPIRED_CA: &str = include_str!("../../../tests/fixtures/certs/expired-ca.pem");
const FUTURE_CA: &str = include_str!("../../../tests/fixtures/certs/future-ca.pem");
const EXPIRING_CA: &str = include_str!("../../../tests/fixtures/certs/expiring-ca.pem");
const LEAF: &str = include_str!("../../../tests/fixtures/certs/leaf.pem");
const SELF_SIGNED_LEAF: &str = include_str!("../../../tests/fixtures/certs/self-signed-leaf.pem");
const WEAK_RSA_CA: &str = include_str!("../../../tests/fixtures/certs/weak-rsa1024-ca.pem");
const SHA1_CA: &str = include_str!("../../../tests/fixtures/certs/sha1-ca.pem");
const MD5_CA: &str = include_str!("../../../tests/fixtures/certs/md5-ca.pem");
const BUNDLE_50: &str = include_str!("../../../tests/fixtures/certs/bundle-50.pem");
const PRIVATE_KEY: &str = include_str!("../../../tests/fixtures/certs/private-key.pem");
const RSA_PRIVATE_KEY: &str = include_str!("../../../tests/fixtures/certs/rsa-private-key.pem");

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;
const DAY: i64 = 86_400;
const WINDOW: i64 = 30 * DAY;
/// 2026-06-15T00:00:00Z, `expiring-ca.pem`'s notAfter.
const EXPIRING_NOT_AFTER: i64 = 1_781_481_600;

fn run(text: &str) -> Vec<Finding> {
    assess(&parse_bundle(text), NOW, WINDOW)
}

fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
    findings.iter().map(|f| f.kind).collect()
}

fn cat(parts: &[&str]) -> String {
    parts.concat()
}

/// The base64 body of a single-certificate PEM.
fn body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pem(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn decode(pem: &str) -> Vec<u8> {
    match <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem.as_bytes()).next() {
        Some(Ok((_, der))) => der,
        other => panic!("fixture does not decode: {other:?}"),
    }
}

fn assert_message_style(findings: &[Finding]) {
    for f in findings {
        assert!(!f.message.ends_with('.'), "{}", f.message);
        assert!(
            f.message.starts_with(|c: char| c.is_lowercase()),
            "{}",
            f.message
        );
        assert!(!f.message.chars().any(is_unsafe_char), "{:?}", f.message);
    }
}

// --- facts -------------------------------------------------------------------------------

#[test]
fn root_ca_facts() {
    let bundle = parse_bundle(ROOT_CA);
    let [root] = bundle.certificates() else {
        panic!("{bundle:?}")
    };
    assert_eq!(root.index, 0);
    assert_eq!(root.line, 1);
    assert_eq!(root.subject, "CN=Example Root CA,O=Example");
    assert_eq!(root.issuer, root.subject);
    assert_eq!(root.not_before, 1_735_689_600); // 2025-01-01
    assert_eq!(root.not_after, 2_051_222_400); // 2035-01-01
    assert!(root.is_ca && root.self_issued && !root.weak_signature);
    assert_eq!(root.rsa_bits, Some(2048));
    assert_eq!(root.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(root.duplicate_of, None);
    assert_eq!(bundle.certificate_blocks(), 1);
    assert!(!bundle.contains_private_key());
    assert!(run(ROOT_CA).is_empty());
}

#[test]
fn leaf_and_ec_facts() {
    let bundle = parse_bundle(&cat(&[SECOND_CA, LEAF]));
    let [second, leaf] = bundle.certificates() else {
        panic!("{bundle:?}")
    };
    assert_eq!(second.rsa_bits, None);
    assert_eq!(second.signature_algorithm, "ecdsa-with-SHA256");
    assert_eq!(leaf.index, 1);
    assert_eq!(leaf.subject, "CN=payments.shop.svc.cluster.local,O=Example");
    assert_eq!(leaf.issuer, "CN=Example Root CA,O=Example");
    assert!(!leaf.is_ca && !leaf.self_issued);
    assert_eq!((second.duplicate_of, leaf.duplicate_of), (None, None));
}

// --- Empty -------------------------------------------------------------------------------

#[test]
fn empty_and_whitespace_are_invalid() {
    let findings = run("");
    assert_eq!(kinds(&findings), [FindingKind::Empty]);
    assert_eq!(findings[0].severity(), Severity::Invalid);
    assert_eq!(findings[0].message, "the CA bundle is empty");
    let findings = run(" \r\n\t\n  ");
    assert_eq!(kinds(&findings), [FindingKind::Empty]);
    assert!(findings[0].message.contains("only whitespace"));
    assert!(!kinds(&run(ROOT_CA)).contains(&FindingKind::Empty));
}

// --- NoCertificate -----------------------------------------------------------------------

#[test]
fn text_without_pem_has_no_certificate() {
    let findings = run("garbage");
    assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
    assert!(
        findings[0]
            .message
            .starts_with("no CERTIFICATE block found"),
        "{findings:?}"
    );
    assert!(parse_bundle(ROOT_CA).certificate_blocks() > 0);
}

#[test]
fn bare_base64_is_recognised() {
    let findings = run(&body(ROOT_CA));
    assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
    assert!(
        findings[0]
            .message
            .ends_with("looks like base64 DER without PEM armour (-----BEGIN CERTIFICATE-----)"),
        "{findings:?}"
    );
    // Base64 of the PEM itself (what binaryData holds).
    let findings = run(&base64(ROOT_CA.as_bytes()));
    assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
    assert!(
        findings[0].message.contains("base64-encoded PEM"),
        "{findings:?}"
    );
    // Short base64-looking words are not called DER.
    assert!(!run("abc")[0].message.contains("base64"));
}

#[test]
fn other_blocks_alone_are_no_certificate_not_ignored() {
    let crl = pem("X509 CRL", "AAAA");
    let findings = run(&cat(&["# comment\n", &crl]));
    assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
    assert!(
        findings[0].message.contains("(only X509 CRL)"),
        "{findings:?}"
    );
    // With a certificate, the same block is only ignored.
    assert_eq!(
        kinds(&run(&cat(&[ROOT_CA, &crl]))),
        [FindingKind::IgnoredBlock]
    );
}

// --- MalformedCertificate ----------------------------------------------------------------

#[test]
fn bad_base64_is_malformed() {
    let garbage = "-----BEGIN CERTIFICATE-----\nthis is not base64 at all!\n\
                   MIIBszCCAVmgAwIBAgIU???garbage???\n-----END CERTIFICATE-----\n";
    let findings = run(garbage);
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (line 1) is not valid base64: unexpected character '!' on line 2",
        "{findings:?}"
    );
    assert!(run(ROOT_CA).is_empty());
}

#[test]
fn malformed_block_is_named_by_index() {
    let findings = run(&cat(&[ROOT_CA, &pem("CERTIFICATE", "AAAA!")]));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0].message.starts_with("certificate 1 (line "),
        "{findings:?}"
    );
    assert!(
        findings[0].message.contains("unexpected character '!'"),
        "{findings:?}"
    );
}

#[test]
fn truncated_certificate_is_malformed() {
    let full = body(ROOT_CA);
    let lines: Vec<&str> = full.lines().map(str::trim).collect();
    let half = lines[..lines.len() / 2].join("\n");
    let findings = run(&pem("CERTIFICATE", &half));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(findings[0].message.contains("truncated"), "{findings:?}");
}

#[test]
fn begin_without_end_is_malformed() {
    let text = ROOT_CA.replace("-----END CERTIFICATE-----", "");
    let findings = run(&text);
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (line 1) has no -----END CERTIFICATE----- line"
    );
    // A BEGIN inside an open block ends it; the next certificate still parses.
    let text = cat(&[
        &ROOT_CA.replace("-----END CERTIFICATE-----\n", ""),
        SECOND_CA,
    ]);
    let bundle = parse_bundle(&text);
    assert_eq!(bundle.certificate_blocks(), 2);
    assert_eq!(bundle.certificates().len(), 1);
    assert_eq!(
        kinds(&assess(&bundle, NOW, WINDOW)),
        [FindingKind::MalformedCertificate]
    );
}

#[test]
fn mismatched_and_decorated_markers_are_malformed() {
    let mismatched = ROOT_CA.replace("END CERTIFICATE", "END X509 CRL");
    let findings = run(&mismatched);
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0]
            .message
            .contains("mismatched -----END X509 CRL----- line")
    );

    let trailing = ROOT_CA.replace("END CERTIFICATE-----", "END CERTIFICATE-----junk");
    assert!(
        run(&trailing)[0]
            .message
            .contains("text after its -----END marker")
    );

    let one_line = ROOT_CA.replace('\n', "");
    let findings = run(&one_line);
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0].message.contains("lost its line breaks"),
        "{findings:?}"
    );

    let indented = ROOT_CA.replace("-----END", "  -----END");
    let findings = run(&indented);
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0].message.contains("does not start its line"),
        "{findings:?}"
    );

    let bom = format!("\u{feff}{ROOT_CA}");
    assert_eq!(kinds(&run(&bom)), [FindingKind::MalformedCertificate]);
}

#[test]
fn random_bytes_and_non_certificate_der_are_malformed() {
    let random: Vec<u8> = (0u32..300)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let findings = run(&pem("CERTIFICATE", &base64(&random)));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0].message.contains("does not contain DER"),
        "{findings:?}"
    );

    // A well-formed DER SEQUENCE { INTEGER 1 } that is not a certificate.
    let findings = run(&pem(
        "CERTIFICATE",
        &base64(&[0x30, 0x03, 0x02, 0x01, 0x01]),
    ));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0]
            .message
            .contains("not a valid X.509 certificate"),
        "{findings:?}"
    );

    let findings = run(&pem("CERTIFICATE", ""));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(findings[0].message.ends_with("is empty"), "{findings:?}");
}

#[test]
fn trailing_bytes_after_der_are_malformed() {
    let mut der = decode(ROOT_CA);
    der.extend_from_slice(&[0, 0]);
    let findings = run(&pem("CERTIFICATE", &base64(&der)));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    assert!(
        findings[0].message.contains("2 bytes of trailing data"),
        "{findings:?}"
    );
    // The same DER without the extra bytes, re-encoded on one long line, is fine.
    assert!(run(&pem("CERTIFICATE", &base64(&decode(ROOT_CA)))).is_empty());
}

// --- PrivateKey --------------------------------------------------------------------------

#[test]
fn private_keys_are_invalid() {
    for key in [PRIVATE_KEY, RSA_PRIVATE_KEY] {
        let bundle = parse_bundle(&cat(&[ROOT_CA, key]));
        assert!(bundle.contains_private_key());
        let findings = assess(&bundle, NOW, WINDOW);
        assert_eq!(kinds(&findings), [FindingKind::PrivateKey]);
        assert_eq!(findings[0].severity(), Severity::Invalid);
        let m = &findings[0].message;
        assert!(m.starts_with("private key leaked: line "), "{m}");
        assert!(m.contains("rotate the key") && m.contains("Secrets"), "{m}");
        assert!(
            !m.contains(key.lines().nth(1).unwrap_or("-")),
            "must not echo key material"
        );
    }
    assert!(
        run(RSA_PRIVATE_KEY)[0]
            .message
            .contains("RSA PRIVATE KEY block")
    );
    for label in [
        "EC PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ANY PRIVATE KEY",
    ] {
        let findings = run(&cat(&[ROOT_CA, &pem(label, "AAAA")]));
        assert_eq!(kinds(&findings), [FindingKind::PrivateKey], "{label}");
    }
    // Even badly framed, a key is a key; alone it also means no certificate.
    let findings = run("-----BEGIN PRIVATE KEY-----\nAAAA\n");
    assert_eq!(
        kinds(&findings),
        [FindingKind::PrivateKey, FindingKind::NoCertificate]
    );
    assert!(!parse_bundle(ROOT_CA).contains_private_key());
}

// --- NoUsableAnchor ----------------------------------------------------------------------

#[test]
fn expired_only_has_no_anchor() {
    let findings = run(EXPIRED_CA);
    assert_eq!(kinds(&findings), [FindingKind::NoUsableAnchor]);
    assert_eq!(
        findings[0].message,
        "no certificate can anchor trust: certificate 0 (CN=Example Expired CA,O=Example) \
         expired on 2020-01-01T00:00:00Z"
    );
}

#[test]
fn future_and_leaf_only_have_no_anchor() {
    let findings = run(FUTURE_CA);
    assert_eq!(kinds(&findings), [FindingKind::NoUsableAnchor]);
    assert!(
        findings[0]
            .message
            .ends_with("is not valid until 2030-01-01T00:00:00Z")
    );

    let findings = run(LEAF);
    assert_eq!(kinds(&findings), [FindingKind::NoUsableAnchor]);
    assert!(findings[0].message.ends_with(
        "certificate 0 (CN=payments.shop.svc.cluster.local,O=Example) is not a CA certificate"
    ));

    let findings = run(&cat(&[EXPIRED_CA, FUTURE_CA, LEAF, EXPIRED_CA]));
    let m = &findings[0].message;
    assert!(
        m.contains(": certificate 0 (CN=Example Expired CA,O=Example) expired"),
        "{m}"
    );
    assert!(
        m.contains("; certificate 1 (CN=Example Future CA,O=Example) is not valid"),
        "{m}"
    );
    assert!(
        m.ends_with(
            "; certificate 2 (CN=payments.shop.svc.cluster.local,O=Example) is not a CA certificate"
        ),
        "{m}"
    );
    // Folded: no per-certificate time or CA warnings, but static ones remain.
    assert_eq!(
        kinds(&findings),
        [FindingKind::NoUsableAnchor, FindingKind::Duplicate]
    );

    // In 2041 everything has expired: three are named, the rest counted.
    let bundle = parse_bundle(&cat(&[EXPIRED_CA, FUTURE_CA, ROOT_CA, SECOND_CA, SHA1_CA]));
    let findings = assess(&bundle, 2_240_000_000, WINDOW);
    assert_eq!(
        kinds(&findings),
        [FindingKind::NoUsableAnchor, FindingKind::WeakSignature]
    );
    assert!(
        findings[0]
            .message
            .ends_with("expired on 2035-01-01T00:00:00Z; and 2 more"),
        "{findings:?}"
    );
}

#[test]
fn anchors_make_the_bundle_usable() {
    // A self-signed (self-issued) non-CA certificate can anchor trust (pinning).
    assert!(run(SELF_SIGNED_LEAF).is_empty());
    assert!(!kinds(&run(&cat(&[ROOT_CA, EXPIRED_CA]))).contains(&FindingKind::NoUsableAnchor));
    // Only malformed blocks: the malformed findings say it all.
    assert_eq!(
        kinds(&run(&pem("CERTIFICATE", "AAAA"))),
        [FindingKind::MalformedCertificate]
    );
}

// --- Expired / NotYetValid ---------------------------------------------------------------

#[test]
fn some_expired_is_a_warning() {
    let findings = run(&cat(&[ROOT_CA, EXPIRED_CA]));
    assert_eq!(kinds(&findings), [FindingKind::Expired]);
    assert_eq!(findings[0].severity(), Severity::Warning);
    assert_eq!(
        findings[0].message,
        "certificate 1 (CN=Example Expired CA,O=Example) expired on 2020-01-01T00:00:00Z"
    );
    assert!(run(&cat(&[ROOT_CA, SECOND_CA])).is_empty());
}

#[test]
fn some_not_yet_valid_is_a_warning() {
    let findings = run(&cat(&[FUTURE_CA, ROOT_CA]));
    assert_eq!(kinds(&findings), [FindingKind::NotYetValid]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (CN=Example Future CA,O=Example) is not valid until 2030-01-01T00:00:00Z"
    );
    // Once its window opens it is fine.
    let bundle = parse_bundle(&cat(&[FUTURE_CA, ROOT_CA]));
    assert!(assess(&bundle, 1_893_456_000, WINDOW).is_empty());
}

// --- ExpiringSoon ------------------------------------------------------------------------

#[test]
fn expiring_within_window_is_a_warning() {
    let findings = run(EXPIRING_CA);
    assert_eq!(kinds(&findings), [FindingKind::ExpiringSoon]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (CN=Example Expiring CA,O=Example) expires on 2026-06-15T00:00:00Z \
         (14 days left)"
    );
    let bundle = parse_bundle(EXPIRING_CA);
    assert!(assess(&bundle, NOW, 7 * DAY).is_empty());
    assert!(assess(&bundle, NOW, 0).is_empty());
    assert!(assess(&bundle, NOW, -1).is_empty());
}

#[test]
fn expiry_window_boundary() {
    let bundle = parse_bundle(EXPIRING_CA);
    let window = 14 * DAY;
    // Exactly at the edge: not_after - now == window: not reported.
    assert!(assess(&bundle, EXPIRING_NOT_AFTER - window, window).is_empty());
    // One second inside the window: reported.
    let findings = assess(&bundle, EXPIRING_NOT_AFTER - window + 1, window);
    assert_eq!(kinds(&findings), [FindingKind::ExpiringSoon]);
    assert!(
        findings[0].message.ends_with("(13 days left)"),
        "{findings:?}"
    );
    let findings = assess(&bundle, EXPIRING_NOT_AFTER - DAY, window);
    assert!(
        findings[0].message.ends_with("(1 day left)"),
        "{findings:?}"
    );
}

#[test]
fn validity_includes_not_after() {
    let bundle = parse_bundle(EXPIRING_CA);
    let facts = &bundle.certificates()[0];
    assert_eq!(facts.not_after, EXPIRING_NOT_AFTER);
    assert_eq!(facts.status_at(EXPIRING_NOT_AFTER), TimeStatus::Valid);
    assert_eq!(facts.status_at(EXPIRING_NOT_AFTER + 1), TimeStatus::Expired);
    assert_eq!(facts.status_at(facts.not_before), TimeStatus::Valid);
    assert_eq!(
        facts.status_at(facts.not_before - 1),
        TimeStatus::NotYetValid
    );

    let at_end = assess(&bundle, EXPIRING_NOT_AFTER, WINDOW);
    assert_eq!(kinds(&at_end), [FindingKind::ExpiringSoon]);
    assert!(at_end[0].message.ends_with("(less than a day left)"));
    let after = assess(&bundle, EXPIRING_NOT_AFTER + 1, WINDOW);
    assert_eq!(kinds(&after), [FindingKind::NoUsableAnchor]);
    assert!(
        after[0]
            .message
            .ends_with("expired on 2026-06-15T00:00:00Z")
    );
}

#[test]
fn timestamps_are_rfc3339_in_utc_to_the_second() {
    assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_timestamp(EXPIRING_NOT_AFTER), "2026-06-15T00:00:00Z");
    assert_eq!(
        format_timestamp(EXPIRING_NOT_AFTER - 1),
        "2026-06-14T23:59:59Z"
    );
    // GeneralizedTime's range: years 0000 to 9999.
    assert_eq!(format_timestamp(-62_167_219_200), "0000-01-01T00:00:00Z");
    assert_eq!(format_timestamp(253_402_300_799), "9999-12-31T23:59:59Z");
    assert_eq!(format_timestamp(253_402_300_800), "@253402300800");
    assert_eq!(format_timestamp(i64::MIN), format!("@{}", i64::MIN));
}

// --- WeakRsaKey / WeakSignature ----------------------------------------------------------

#[test]
fn short_rsa_keys_are_weak() {
    let bundle = parse_bundle(WEAK_RSA_CA);
    assert_eq!(bundle.certificates()[0].rsa_bits, Some(1024));
    let findings = assess(&bundle, NOW, WINDOW);
    assert_eq!(kinds(&findings), [FindingKind::WeakRsaKey]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (CN=Example Weak RSA-1024 CA,O=Example) has a weak 1024-bit RSA key \
         (use at least 2048 bits)"
    );
    assert!(run(ROOT_CA).is_empty());
    assert_eq!(modulus_bits(&[0x00, 0x01, 0xff]), 9);
    assert_eq!(modulus_bits(&[0x80, 0x00]), 16);
    assert_eq!(modulus_bits(&[]), 0);
}

#[test]
fn sha1_and_md5_signatures_are_weak() {
    let findings = run(SHA1_CA);
    assert_eq!(kinds(&findings), [FindingKind::WeakSignature]);
    assert_eq!(
        findings[0].message,
        "certificate 0 (CN=Example SHA-1 CA,O=Example) is signed with the weak algorithm \
         sha1WithRSAEncryption"
    );
    let findings = run(MD5_CA);
    assert_eq!(kinds(&findings), [FindingKind::WeakSignature]);
    assert!(findings[0].message.ends_with("md5WithRSAEncryption"));
    let bundle = parse_bundle(&cat(&[ROOT_CA, SECOND_CA]));
    assert!(bundle.certificates().iter().all(|c| !c.weak_signature));
    assert!(assess(&bundle, NOW, WINDOW).is_empty());
}

#[test]
fn signature_algorithms_are_named_by_their_oids() {
    // Each OID as dotted text, with the name and weakness messages give it.
    let expected = [
        ("1.2.840.113549.1.1.2", "md2WithRSAEncryption", true),
        ("1.2.840.113549.1.1.3", "md4WithRSAEncryption", true),
        ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", true),
        ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption", true),
        ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption", false),
        ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption", false),
        ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption", false),
        ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption", false),
        ("1.3.14.3.2.3", "md5WithRSA", true),
        ("1.3.14.3.2.13", "dsaWithSHA", true),
        ("1.3.14.3.2.27", "dsaWithSHA1", true),
        ("1.3.14.3.2.29", "sha1WithRSA", true),
        ("1.2.840.10040.4.3", "dsa-with-sha1", true),
        ("2.16.840.1.101.3.4.3.1", "dsa-with-SHA224", false),
        ("2.16.840.1.101.3.4.3.2", "dsa-with-SHA256", false),
        ("1.2.840.10045.4.1", "ecdsa-with-SHA1", true),
        ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224", false),
        ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", false),
        ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", false),
        ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", false),
        ("1.3.101.112", "ED25519", false),
        ("1.3.101.113", "ED448", false),
    ];
    let table: Vec<(String, &str, bool)> = SIGNATURE_ALGORITHMS
        .iter()
        .map(|(oid, name, weak)| (oid.to_id_string(), *name, *weak))
        .collect();
    let expected: Vec<(String, &str, bool)> = expected
        .iter()
        .map(|(oid, name, weak)| ((*oid).to_owned(), *name, *weak))
        .collect();
    assert_eq!(table, expected);
    let hashes: Vec<(String, &str, bool)> = PSS_HASHES
        .iter()
        .map(|(oid, name, weak)| (oid.to_id_string(), *name, *weak))
        .collect();
    let expected_hashes = [
        ("1.3.14.3.2.26", "SHA-1", true),
        ("1.2.840.113549.2.5", "MD5", true),
        ("2.16.840.1.101.3.4.2.1", "SHA-256", false),
        ("2.16.840.1.101.3.4.2.2", "SHA-384", false),
        ("2.16.840.1.101.3.4.2.3", "SHA-512", false),
        ("2.16.840.1.101.3.4.2.4", "SHA-224", false),
    ];
    let expected_hashes: Vec<(String, &str, bool)> = expected_hashes
        .iter()
        .map(|(oid, name, weak)| ((*oid).to_owned(), *name, *weak))
        .collect();
    assert_eq!(hashes, expected_hashes);
}

#[test]
fn rsassa_pss_is_named_by_its_hash() {
    use x509_parser::prelude::FromDer;
    use x509_parser::x509::AlgorithmIdentifier;
    // AlgorithmIdentifier { rsassa-pss, RSASSA-PSS-params } with `params` as its parameters.
    let identifier = |params: &[u8]| {
        let oid = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        let mut der = vec![0x30, u8::try_from(oid.len() + params.len()).expect("short")];
        der.extend_from_slice(&oid);
        der.extend_from_slice(params);
        der
    };
    // RSASSA-PSS-params with hashAlgorithm [0] set to the hash OID `hash` (without NULL).
    let with_hash = |hash: &[u8]| {
        let algorithm = [&[0x30, u8::try_from(hash.len()).expect("short")][..], hash].concat();
        let tagged = [
            &[0xa0, u8::try_from(algorithm.len()).expect("short")][..],
            &algorithm,
        ]
        .concat();
        identifier(
            &[
                &[0x30, u8::try_from(tagged.len()).expect("short")][..],
                &tagged,
            ]
            .concat(),
        )
    };
    let name = |der: &[u8]| {
        let (_, alg) = AlgorithmIdentifier::from_der(der).expect("an AlgorithmIdentifier");
        signature_algorithm(&alg)
    };
    let sha256 = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let md5 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05];
    let unknown = [0x06, 0x03, 0x2a, 0x03, 0x04];
    assert_eq!(
        name(&with_hash(&sha256)),
        ("rsassa-pss with SHA-256".to_owned(), false)
    );
    assert_eq!(
        name(&with_hash(&md5)),
        ("rsassa-pss with MD5".to_owned(), true)
    );
    assert_eq!(name(&with_hash(&unknown)), ("rsassa-pss".to_owned(), false));
    // Empty parameters: every field has its default, SHA-1.
    assert_eq!(
        name(&identifier(&[0x30, 0x00])),
        ("rsassa-pss with SHA-1".to_owned(), true)
    );
    // No parameters at all: SHA-1 too.
    assert_eq!(
        name(&identifier(&[])),
        ("rsassa-pss with SHA-1".to_owned(), true)
    );
    // Parameters that are not RSASSA-PSS-params.
    assert_eq!(
        name(&identifier(&[0x05, 0x00])),
        ("rsassa-pss".to_owned(), false)
    );
    // Another algorithm, known or not.
    let (_, alg) = AlgorithmIdentifier::from_der(&[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ])
    .expect("ecdsa-with-SHA256");
    assert_eq!(
        signature_algorithm(&alg),
        ("ecdsa-with-SHA256".to_owned(), false)
    );
    let (_, alg) = AlgorithmIdentifier::from_der(&[0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04])
        .expect("1.2.3.4");
    assert_eq!(signature_algorithm(&alg), ("1.2.3.4".to_owned(), false));
}

/// The DER length reader `der_sequence_len` replaced, kept as the model it must agree with.
fn der_sequence_len_model(der: &[u8]) -> Option<usize> {
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

#[test]
fn sequence_lengths_are_read_from_the_der_header() {
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x30],
        vec![0x30, 0x00],
        vec![0x30, 0x7f],
        vec![0x30, 0x80],
        vec![0x30, 0x81],
        vec![0x30, 0x81, 0x05],
        vec![0x30, 0x82, 0x04, 0xd2],
        vec![0x30, 0x82, 0x04],
        vec![0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0],
        vec![0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x30, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5],
        vec![0x30, 0xff, 1],
        vec![0x31, 0x03],
        vec![0x10, 0x03],
        vec![0x3f, 0x10, 0x03],
        vec![0x02, 0x01, 0x01],
        decode(ROOT_CA),
    ];
    // And every two-to-four-byte prefix whose first byte is 0x30.
    for second in 0..=255u8 {
        for third in [0u8, 1, 0x7f, 0x80, 0xff] {
            cases.push(vec![0x30, second, third]);
            cases.push(vec![0x30, second, third, 0x42]);
        }
    }
    for der in cases {
        assert_eq!(
            der_sequence_len(&der),
            der_sequence_len_model(&der),
            "{der:02x?}"
        );
    }
    assert_eq!(
        der_sequence_len(&decode(ROOT_CA)),
        Some(decode(ROOT_CA).len())
    );
}

// --- Duplicate ---------------------------------------------------------------------------

#[test]
fn duplicates_are_reported_once() {
    let bundle = parse_bundle(&cat(&[ROOT_CA, SECOND_CA, ROOT_CA]));
    assert_eq!(bundle.certificates()[2].duplicate_of, Some(0));
    assert_eq!(bundle.certificates()[1].duplicate_of, None);
    let findings = assess(&bundle, NOW, WINDOW);
    assert_eq!(kinds(&findings), [FindingKind::Duplicate]);
    assert_eq!(
        findings[0].message,
        "certificate 2 duplicates certificate 0 (CN=Example Root CA,O=Example)"
    );
    // A duplicated weak certificate is weak once.
    let findings = run(&cat(&[ROOT_CA, SHA1_CA, SHA1_CA]));
    assert_eq!(
        kinds(&findings),
        [FindingKind::WeakSignature, FindingKind::Duplicate]
    );
    assert!(run(&cat(&[ROOT_CA, SECOND_CA])).is_empty());
}

// --- StrayText ---------------------------------------------------------------------------

#[test]
fn text_outside_blocks_is_one_warning() {
    let text = cat(&[
        "subject=CN = Example Root CA, O = Example\n",
        "issuer=CN = Example Root CA, O = Example\n",
        ROOT_CA,
        "# the second CA\n",
        SECOND_CA,
    ]);
    let findings = run(&text);
    assert_eq!(kinds(&findings), [FindingKind::StrayText]);
    assert_eq!(
        findings[0].message,
        "ignored 3 lines of text outside PEM blocks (first at line 1)"
    );
    let findings = run(&cat(&[ROOT_CA, "trailing"]));
    assert_eq!(
        findings[0].message,
        "ignored 1 line of text outside PEM blocks (first at line 20)"
    );
}

#[test]
fn crlf_blank_lines_and_whitespace_are_fine() {
    let crlf = cat(&["\r\n", ROOT_CA, "\r\n  \t\r\n", SECOND_CA, "\n\n"]).replace('\n', "\r\n");
    let bundle = parse_bundle(&crlf);
    assert_eq!(bundle.certificates().len(), 2);
    assert!(assess(&bundle, NOW, WINDOW).is_empty());
    // Trailing whitespace on marker and body lines, and lone-CR line endings.
    let spaced = ROOT_CA.replace('\n', " \t\n");
    assert!(run(&spaced).is_empty(), "{:?}", run(&spaced));
    let cr = ROOT_CA.replace('\n', "\r");
    assert!(run(&cr).is_empty());
    // Line numbers count CRLF as one line break.
    let text = cat(&[ROOT_CA, "x\n"]).replace('\n', "\r\n");
    assert!(run(&text)[0].message.ends_with("(first at line 20)"));
}

// --- NotCa -------------------------------------------------------------------------------

#[test]
fn non_ca_certificates_are_a_warning_beside_an_anchor() {
    let findings = run(&cat(&[ROOT_CA, LEAF]));
    assert_eq!(kinds(&findings), [FindingKind::NotCa]);
    assert_eq!(
        findings[0].message,
        "certificate 1 (CN=payments.shop.svc.cluster.local,O=Example) is not a CA certificate: \
         it cannot anchor trust"
    );
    assert!(run(&cat(&[ROOT_CA, SELF_SIGNED_LEAF])).is_empty());
}

// --- IgnoredBlock ------------------------------------------------------------------------

#[test]
fn other_blocks_beside_certificates_are_ignored() {
    for label in [
        "X509 CRL",
        "CERTIFICATE REQUEST",
        "PUBLIC KEY",
        "TRUSTED CERTIFICATE",
    ] {
        let findings = run(&cat(&[ROOT_CA, &pem(label, "AAAA")]));
        assert_eq!(kinds(&findings), [FindingKind::IgnoredBlock], "{label}");
        assert!(
            findings[0]
                .message
                .starts_with(&format!("ignored {label} block at line 20: ")),
            "{findings:?}"
        );
    }
    assert!(
        run(&cat(&[ROOT_CA, &pem("TRUSTED CERTIFICATE", "AAAA")]))[0]
            .message
            .contains("use plain CERTIFICATE")
    );
    assert!(run(ROOT_CA).is_empty());
}

// --- ordering, volume, robustness --------------------------------------------------------

#[test]
fn findings_are_ordered_invalid_first_then_bundle_order() {
    let text = cat(&[
        "comment\n",
        SHA1_CA,
        &pem("CERTIFICATE", "AAAA"),
        LEAF,
        EXPIRED_CA,
        ROOT_CA,
        PRIVATE_KEY,
        &pem("X509 CRL", "AAAA"),
    ]);
    let findings = run(&text);
    assert_eq!(
        kinds(&findings),
        [
            FindingKind::MalformedCertificate,
            FindingKind::PrivateKey,
            FindingKind::StrayText,
            FindingKind::WeakSignature,
            FindingKind::NotCa,
            FindingKind::Expired,
            FindingKind::IgnoredBlock,
        ]
    );
    assert!(findings[4].message.starts_with("certificate 2 "));
    assert!(findings[5].message.starts_with("certificate 3 "));
    assert_message_style(&findings);
}

#[test]
fn fifty_certificates_parse() {
    let bundle = parse_bundle(BUNDLE_50);
    assert_eq!(bundle.certificates().len(), 50);
    assert!(
        bundle
            .certificates()
            .iter()
            .enumerate()
            .all(|(i, c)| c.index == i && c.is_ca)
    );
    assert!(assess(&bundle, NOW, WINDOW).is_empty());
}

/// `len` bytes of noise: printable ASCII with line breaks, dashes and a two-byte character.
fn noise(len: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut garbage = String::with_capacity(len);
    while garbage.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let c = match state % 100 {
            0..=2 => '\n',
            3 => '\r',
            4 => '-',
            5 => 'é',
            _ => char::from(b' ' + (state >> 8) as u8 % 95),
        };
        garbage.push(c);
    }
    garbage
}

/// `len / 28` lines of `-----BEGIN CERTIFICATE-----`.
fn begin_lines(len: usize) -> String {
    "-----BEGIN CERTIFICATE-----\n".repeat(len / 28)
}

/// About `len` bytes of valid certificates: bundle-50.pem repeated, every copy after the first
/// a duplicate.
fn certificates(len: usize) -> String {
    BUNDLE_50.repeat(len.div_ceil(BUNDLE_50.len()))
}

/// The CPU time this thread has run: what work cost, however busy the machine is otherwise.
fn thread_cpu() -> std::time::Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    std::time::Duration::from_secs(u64::try_from(now.tv_sec).unwrap_or(0))
        + std::time::Duration::from_nanos(nanos)
}

/// The CPU cost of parsing and assessing `text`: the least of three runs (anything else only
/// ever adds to one).
fn cost(text: &str) -> std::time::Duration {
    (0..3)
        .map(|_| {
            let start = thread_cpu();
            std::hint::black_box(run(std::hint::black_box(text)));
            thread_cpu().saturating_sub(start)
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn large_inputs_get_one_finding_per_block() {
    const MIB: usize = 1 << 20;
    let findings = run(&noise(MIB));
    assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
    // The same noise inside a CERTIFICATE block.
    let findings = run(&pem("CERTIFICATE", &noise(MIB)));
    assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
    // A megabyte of BEGIN lines: one finding per block.
    assert_eq!(run(&begin_lines(MIB)).len(), MIB / 28);
    // A megabyte of certificates: each copy after the first is a duplicate.
    let text = certificates(MIB);
    let copies = text.len() / BUNDLE_50.len();
    let findings = run(&text);
    assert_eq!(findings.len(), (copies - 1) * 50);
    assert!(findings.iter().all(|f| f.kind == FindingKind::Duplicate));
}

/// Linear work, checked on CPU time rather than a time limit: eight times the input may cost
/// at most 24 times as much (linear is 8, and sorting the findings adds a little; quadratic
/// would be 64).
#[test]
fn the_cost_grows_linearly_with_the_input() {
    const SMALL: usize = 128 << 10;
    let noise_in_a_block = |len| pem("CERTIFICATE", &noise(len));
    let shapes: [(&str, &dyn Fn(usize) -> String); 4] = [
        ("noise", &noise),
        ("noise in a CERTIFICATE block", &noise_in_a_block),
        ("BEGIN lines", &begin_lines),
        ("certificates", &certificates),
    ];
    for (shape, make) in shapes {
        let (small, big) = (make(SMALL), make(8 * SMALL));
        let (small_cost, big_cost) = (cost(&small), cost(&big));
        let ratio = big_cost.as_secs_f64() / small_cost.as_secs_f64().max(1e-9);
        assert!(
            ratio < 24.0,
            "{shape}: {} bytes cost {big_cost:?} of CPU, {} bytes {small_cost:?}: {ratio:.1} times",
            big.len(),
            small.len()
        );
    }
}

#[test]
fn odd_inputs_do_not_panic() {
    for text in [
        "-----BEGIN ",
        "-----BEGIN -----",
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
        "-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n\u{0}\u{1b}[31m\n-----END CERTIFICATE-----",
        "----------BEGIN CERTIFICATE----------",
        "-----BEGIN CERTIFICATE\u{202e}-----\nAAAA\n-----END CERTIFICATE\u{202e}-----",
        "\r\r\r\n\n\r",
        "\u{feff}",
        "é-----BEGIN CERTIFICATE-----é",
        "-----BEGIN CERTIFICATE-----\n====\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----",
    ] {
        let findings = run(text);
        assert!(
            findings.iter().any(|f| f.severity() == Severity::Invalid),
            "{text:?}: {findings:?}"
        );
        assert_message_style(&findings);
    }
}

#[test]
fn names_are_escaped_and_truncated() {
    let mut out = String::new();
    escape_rfc4514(&mut out, " #a,b+c\\d\u{1b}\u{202e} ");
    assert_eq!(out, "\\ #a\\,b\\+c\\\\d\\1B\\E2\\80\\AE\\ ");
    let mut out = String::new();
    escape_rfc4514(&mut out, "#x");
    assert_eq!(out, "\\#x");

    let long = "CN=".to_owned() + &"x".repeat(100);
    let shown = display_subject(&long);
    assert_eq!(shown.chars().count(), MAX_SUBJECT_CHARS);
    assert!(shown.ends_with('…'));
    assert_eq!(display_subject(&"y".repeat(60)), "y".repeat(60));
    assert_eq!(display_subject(""), "empty subject");
    assert_eq!(sanitize("a\nb", 40), "a\\u{a}b");
}

#[test]
fn fixture_messages_follow_the_style() {
    for text in [
        ROOT_CA,
        SECOND_CA,
        EXPIRED_CA,
        FUTURE_CA,
        EXPIRING_CA,
        LEAF,
        WEAK_RSA_CA,
        SHA1_CA,
        MD5_CA,
        PRIVATE_KEY,
        RSA_PRIVATE_KEY,
        "",
        " ",
        "junk",
    ] {
        assert_message_style(&run(text));
        assert_message_style(&run(&cat(&[ROOT_CA, text, "junk\n"])));
    }
}
