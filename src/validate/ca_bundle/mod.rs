//! Pure, synchronous analysis of a PEM CA bundle: the `ca.crt` value of a ConfigMap that a
//! `BackendTLSPolicy` names in `caCertificateRefs`.
//!
//! The work is split in two so callers can cache the expensive part by content:
//!
//! * [`parse_bundle`] does everything that does not depend on the clock, once per distinct
//!   text: it frames the PEM blocks, decodes every `CERTIFICATE` block, extracts
//!   [`CertificateFacts`] and prepares the time-independent findings.
//! * [`assess`] evaluates a [`ParsedBundle`] at an instant `now` (unix seconds) and returns every
//!   [`Finding`]; it allocates only for the findings it returns.
//!
//! # Framing
//!
//! A small line-oriented pass finds `-----BEGIN LABEL-----` / `-----END LABEL-----` lines and the
//! text outside them. Lines end with `\n`, `\r\n` or a lone `\r`; blank lines and trailing
//! whitespace are ignored. As in OpenSSL and Go's `encoding/pem`, markers must start their line:
//! a marker preceded by indentation or a byte-order mark is still framed (so the block's body is
//! not reported as stray text) but the block is malformed. A `BEGIN` inside an open block ends
//! that block, which then has no `END`. Each well-framed `CERTIFICATE` body is base64-decoded by
//! `rustls-pki-types` and the DER handed to `x509-parser`; bytes after the certificate's DER make
//! the block malformed.
//!
//! Labels containing `PRIVATE KEY` (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`,
//! `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, …) are private keys
//! whatever their framing. Other labels (`X509 CRL`, `TRUSTED CERTIFICATE`, …) are ignored.
//!
//! # Findings and severity
//!
//! [`Severity::Invalid`] means the `ca.crt` can never work (or leaks a secret):
//! [`FindingKind::Empty`], [`FindingKind::NoCertificate`], [`FindingKind::MalformedCertificate`],
//! [`FindingKind::PrivateKey`] and [`FindingKind::NoUsableAnchor`]. Everything else is a
//! [`Severity::Warning`].
//!
//! Warnings are reported alongside invalid findings, with two exceptions that avoid saying the
//! same thing twice:
//!
//! * when the text has no `CERTIFICATE` block at all, the bundle-level warnings (stray text,
//!   ignored blocks) are folded into the [`FindingKind::NoCertificate`] message;
//! * when no certificate can anchor trust at `now`, the time-dependent per-certificate warnings
//!   ([`FindingKind::Expired`], [`FindingKind::NotYetValid`], [`FindingKind::ExpiringSoon`],
//!   [`FindingKind::NotCa`]) are folded into the [`FindingKind::NoUsableAnchor`] message.
//!
//! A certificate that duplicates an earlier one gets only the [`FindingKind::Duplicate`] warning;
//! everything else about it was already said about the first copy.
//!
//! # Time
//!
//! A certificate is valid at `now` when `not_before <= now <= not_after`: both ends are
//! inclusive, as X.509 defines validity, so a certificate is still valid at the very second of
//! its `notAfter` and expired one second later. A certificate can anchor trust at `now` when it
//! is valid and is either a CA (`basicConstraints CA:TRUE`) or self-issued (subject equals
//! issuer, for example a pinned self-signed server certificate). A valid certificate is
//! *expiring soon* when `not_after - now < expiry_window_secs`: exactly at the window edge it is
//! not reported, one second inside it is; a window of zero or less disables the warning.
//!
//! # Ordering and messages
//!
//! Findings are ordered invalid first, then warnings; within a severity in bundle order (by the
//! line of the block or text concerned; bundle-wide summaries last), then by [`FindingKind`]
//! declaration order. Messages are short lowercase sentences without a trailing period and
//! without naming the ConfigMap or key (the caller prefixes them). They name certificates as
//! `certificate N (SUBJECT)`, `N` being the 0-based position among `CERTIFICATE` blocks (broken
//! ones included) and the subject in RFC 4514 form, truncated to 60 characters. Text that comes
//! from the input is escaped so that messages never contain control characters.
//!
//! # Robustness
//!
//! Nothing here panics on any input, and the work is linear in the input size.
//!
//! # Layout
//!
//! One file per job: `pem.rs` frames the text and decodes `CERTIFICATE` blocks, `x509.rs` reads
//! a certificate's DER into [`CertificateFacts`], `names.rs` writes names (RFC 4514) and any
//! input-derived text safely into messages, and `assess.rs` words every finding and judges a
//! parsed bundle at an instant. This file holds the public types and [`parse_bundle`], which
//! runs the first three over a text.

mod assess;
mod names;
mod pem;
#[cfg(test)]
mod tests;
mod x509;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

pub use self::assess::{assess, format_timestamp};
use self::assess::{no_certificate_message, push_certificate_findings};
use self::names::{MAX_LABEL_CHARS, sanitize};
use self::pem::{Block, decode_certificate, frame};
use self::x509::certificate_facts;

/// RSA keys shorter than this many bits are reported as weak.
pub const MIN_RSA_BITS: u32 = 2048;

/// Sort position of bundle-wide summary findings: after every block-level finding.
const SUMMARY_POS: usize = usize::MAX;

/// How serious a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The `ca.crt` can never work, or leaks a secret.
    Invalid,
    /// The bundle works (or is already invalid for another reason) but something is risky.
    Warning,
}

/// The class of a [`Finding`]; each class has a fixed [`Severity`] (see [`FindingKind::severity`]).
///
/// The declaration order is the tie-break order of findings about the same line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// Invalid: the text is empty or only whitespace.
    Empty,
    /// Invalid: a private key block is present (a secret leaked into a ConfigMap).
    PrivateKey,
    /// Invalid: a `CERTIFICATE` block does not frame, decode or parse as X.509.
    MalformedCertificate,
    /// Invalid: the text has no `CERTIFICATE` block at all.
    NoCertificate,
    /// Invalid: no certificate can anchor trust at `now`.
    NoUsableAnchor,
    /// Warning: a certificate has expired (others can still anchor trust).
    Expired,
    /// Warning: a certificate is not valid yet (others can anchor trust).
    NotYetValid,
    /// Warning: a certificate expires within the expiry window.
    ExpiringSoon,
    /// Warning: a certificate that is neither a CA nor self-issued cannot anchor trust.
    NotCa,
    /// Warning: a certificate repeats an earlier one byte for byte.
    Duplicate,
    /// Warning: an RSA key shorter than [`MIN_RSA_BITS`].
    WeakRsaKey,
    /// Warning: a certificate signed with MD2, MD4, MD5 or SHA-1.
    WeakSignature,
    /// Warning: a PEM block that is neither a certificate nor a private key is ignored.
    IgnoredBlock,
    /// Warning: text outside the PEM blocks (one finding for the whole bundle).
    StrayText,
}

impl FindingKind {
    /// The severity every finding of this kind has.
    pub const fn severity(self) -> Severity {
        match self {
            Self::Empty
            | Self::PrivateKey
            | Self::MalformedCertificate
            | Self::NoCertificate
            | Self::NoUsableAnchor => Severity::Invalid,
            Self::Expired
            | Self::NotYetValid
            | Self::ExpiringSoon
            | Self::NotCa
            | Self::Duplicate
            | Self::WeakRsaKey
            | Self::WeakSignature
            | Self::IgnoredBlock
            | Self::StrayText => Severity::Warning,
        }
    }
}

/// One thing wrong or risky with a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Finding {
    /// What it is about (and so how severe it is: [`Finding::severity`]).
    pub kind: FindingKind,
    /// A short lowercase sentence without trailing period and without naming the ConfigMap or
    /// key, for example `certificate 1 (CN=Old Root) expired on 2024-03-01T00:00:00Z`.
    pub message: String,
}

impl Finding {
    fn new(kind: FindingKind, message: String) -> Self {
        Self { kind, message }
    }

    /// Whether it makes the bundle unusable: its kind's severity.
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where a certificate stands at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeStatus {
    /// `now < not_before`.
    NotYetValid,
    /// `not_before <= now <= not_after` (both inclusive).
    Valid,
    /// `now > not_after`.
    Expired,
}

/// Time-independent facts about one decoded certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertificateFacts {
    /// 0-based position among the bundle's `CERTIFICATE` blocks (malformed blocks count).
    pub index: usize,
    /// 1-based line of the block's `-----BEGIN CERTIFICATE-----`.
    pub line: usize,
    /// Subject in RFC 4514 form, e.g. `CN=Example Root CA,O=Example` (not truncated).
    pub subject: String,
    /// Issuer in RFC 4514 form.
    pub issuer: String,
    /// `notBefore`, unix seconds.
    pub not_before: i64,
    /// `notAfter`, unix seconds (the certificate is still valid at this second).
    pub not_after: i64,
    /// `basicConstraints` has `CA:TRUE`.
    pub is_ca: bool,
    /// Subject and issuer are the same name (raw DER comparison); no signature is checked.
    pub self_issued: bool,
    /// Modulus size of an RSA public key; `None` for other key types.
    pub rsa_bits: Option<u32>,
    /// Signature algorithm name, e.g. `sha256WithRSAEncryption` or `ecdsa-with-SHA256`, or the
    /// dotted OID when unknown.
    pub signature_algorithm: String,
    /// The signature uses MD2, MD4, MD5 or SHA-1.
    pub weak_signature: bool,
    /// `Some(i)` when this certificate's DER equals that of the earlier certificate `i`.
    pub duplicate_of: Option<usize>,
}

impl CertificateFacts {
    /// Where the certificate stands at `now` (unix seconds); validity includes both ends.
    pub fn status_at(&self, now: i64) -> TimeStatus {
        if now < self.not_before {
            TimeStatus::NotYetValid
        } else if now > self.not_after {
            TimeStatus::Expired
        } else {
            TimeStatus::Valid
        }
    }

    /// Whether the certificate can anchor trust at `now`: valid, and a CA or self-issued.
    pub fn can_anchor_at(&self, now: i64) -> bool {
        self.status_at(now) == TimeStatus::Valid && (self.is_ca || self.self_issued)
    }
}

/// Time-independent facts parsed once per distinct bundle text (callers cache it by content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedBundle {
    certificates: Vec<CertificateFacts>,
    /// Findings that do not depend on the clock, with their sort position.
    static_findings: Vec<Ranked>,
    certificate_blocks: usize,
    contains_private_key: bool,
}

impl ParsedBundle {
    /// The certificates that decoded, in bundle order.
    pub fn certificates(&self) -> &[CertificateFacts] {
        &self.certificates
    }

    /// How many `CERTIFICATE` blocks the text has, including those that did not decode.
    pub fn certificate_blocks(&self) -> usize {
        self.certificate_blocks
    }

    /// Whether the text holds a private key block of any kind.
    pub fn contains_private_key(&self) -> bool {
        self.contains_private_key
    }

    /// About how many bytes of memory this parsed form holds, for caches bounded in bytes.
    pub fn approx_bytes(&self) -> usize {
        let certificates: usize = self
            .certificates
            .iter()
            .map(|c| {
                std::mem::size_of::<CertificateFacts>()
                    + c.subject.len()
                    + c.issuer.len()
                    + c.signature_algorithm.len()
            })
            .sum();
        let findings: usize = self
            .static_findings
            .iter()
            .map(|f| std::mem::size_of::<Ranked>() + f.finding.message.len())
            .sum();
        std::mem::size_of::<Self>() + certificates + findings
    }

    fn push(&mut self, pos: usize, kind: FindingKind, message: String) {
        self.static_findings.push(Ranked {
            pos,
            finding: Finding::new(kind, message),
        });
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Ranked {
    pos: usize,
    finding: Finding,
}

/// Parses a CA bundle's text. Never fails: problems become findings reported by [`assess`].
pub fn parse_bundle(text: &str) -> ParsedBundle {
    let mut bundle = ParsedBundle::default();
    if text.trim().is_empty() {
        let message = if text.is_empty() {
            "the CA bundle is empty"
        } else {
            "the CA bundle contains only whitespace"
        };
        bundle.push(1, FindingKind::Empty, message.to_owned());
        return bundle;
    }

    let framing = frame(text);
    // The first certificate (its index) with each DER, to find duplicates.
    let mut first_by_der: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut ignored: Vec<&Block<'_>> = Vec::new();

    for block in &framing.blocks {
        if block.label == "CERTIFICATE" {
            let index = bundle.certificate_blocks;
            bundle.certificate_blocks += 1;
            let facts = decode_certificate(block).and_then(|der| {
                let facts = certificate_facts(index, block.line, &der)?;
                Ok((facts, der))
            });
            match facts {
                Ok((mut facts, der)) => {
                    match first_by_der.entry(der) {
                        Entry::Occupied(first) => facts.duplicate_of = Some(*first.get()),
                        Entry::Vacant(slot) => {
                            slot.insert(facts.index);
                        }
                    }
                    push_certificate_findings(&mut bundle, &facts);
                    bundle.certificates.push(facts);
                }
                Err(reason) => {
                    let message = format!("certificate {index} (line {}) {reason}", block.line);
                    bundle.push(block.line, FindingKind::MalformedCertificate, message);
                }
            }
        } else if block.label.contains("PRIVATE KEY") {
            bundle.contains_private_key = true;
            let message = format!(
                "private key leaked: line {} holds a {} block; ConfigMaps are readable far more \
                 widely than Secrets, so remove it and rotate the key",
                block.line,
                sanitize(block.label, MAX_LABEL_CHARS)
            );
            bundle.push(block.line, FindingKind::PrivateKey, message);
        } else {
            ignored.push(block);
        }
    }

    if bundle.certificate_blocks == 0 {
        let message = no_certificate_message(&framing);
        bundle.push(SUMMARY_POS, FindingKind::NoCertificate, message);
        return bundle;
    }
    for block in ignored {
        let label = sanitize(block.label, MAX_LABEL_CHARS);
        let why = match block.label {
            "TRUSTED CERTIFICATE" => "OpenSSL's trusted format is not read; use plain CERTIFICATE",
            _ => "only CERTIFICATE blocks are used",
        };
        let message = format!("ignored {label} block at line {}: {why}", block.line);
        bundle.push(block.line, FindingKind::IgnoredBlock, message);
    }
    if framing.stray.lines > 0 {
        let lines = framing.stray.lines;
        let message = format!(
            "ignored {lines} line{} of text outside PEM blocks (first at line {})",
            if lines == 1 { "" } else { "s" },
            framing.stray.first_line
        );
        bundle.push(framing.stray.first_line, FindingKind::StrayText, message);
    }
    bundle
}
