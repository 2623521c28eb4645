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

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::{self, Write as _};

use rustls_pki_types::pem::{PemObject, SectionKind};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use x509_parser::asn1_rs::{Any, Oid, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::nom;
use x509_parser::oid_registry::{
    OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME,
    OID_X509_GIVEN_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME,
    OID_X509_ORGANIZATIONAL_UNIT, OID_X509_SERIALNUMBER, OID_X509_STATE_OR_PROVINCE_NAME,
    OID_X509_STREET_ADDRESS, OID_X509_SURNAME, OID_X509_TITLE,
};
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, X509Name};

/// RSA keys shorter than this many bits are reported as weak.
pub const MIN_RSA_BITS: u32 = 2048;

/// Subjects longer than this many characters are truncated (with `…`) in messages.
const MAX_SUBJECT_CHARS: usize = 60;
/// PEM labels longer than this many characters are truncated (with `…`) in messages.
const MAX_LABEL_CHARS: usize = 40;
/// How many certificates a [`FindingKind::NoUsableAnchor`] message names before "and N more".
const MAX_ANCHOR_REASONS: usize = 3;
/// Below this many base64 characters, stray text is not called "base64 without armour".
const MIN_BARE_BASE64: usize = 32;
/// Sort position of bundle-wide summary findings: after every block-level finding.
const SUMMARY_POS: usize = usize::MAX;

const SECS_PER_DAY: i64 = 86_400;
const TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

// ---------------------------------------------------------------------------------------------
// Public types

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

// ---------------------------------------------------------------------------------------------
// Parsing

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

/// Time-independent warnings about one decoded certificate.
fn push_certificate_findings(bundle: &mut ParsedBundle, facts: &CertificateFacts) {
    let line = facts.line;
    if let Some(first) = facts.duplicate_of {
        let subject = display_subject(&facts.subject);
        let message = format!(
            "certificate {} duplicates certificate {first} ({subject})",
            facts.index
        );
        bundle.push(line, FindingKind::Duplicate, message);
        return;
    }
    if let Some(bits) = facts.rsa_bits.filter(|&bits| bits < MIN_RSA_BITS) {
        let message = format!(
            "{} has a weak {bits}-bit RSA key (use at least {MIN_RSA_BITS} bits)",
            certificate_name(facts)
        );
        bundle.push(line, FindingKind::WeakRsaKey, message);
    }
    if facts.weak_signature {
        let message = format!(
            "{} is signed with the weak algorithm {}",
            certificate_name(facts),
            sanitize(&facts.signature_algorithm, MAX_LABEL_CHARS)
        );
        bundle.push(line, FindingKind::WeakSignature, message);
    }
}

fn no_certificate_message(framing: &Framing<'_>) -> String {
    const PREFIX: &str = "no CERTIFICATE block found";
    if framing.blocks.is_empty() {
        let stray = &framing.stray;
        if stray.all_base64 && stray.base64_chars >= MIN_BARE_BASE64 {
            // "LS0tLS1CRUdJT" is base64 for "-----BEGIN".
            if stray.first_text.starts_with("LS0tLS1CRUdJT") {
                return format!(
                    "{PREFIX}: the value looks like base64-encoded PEM; store the decoded PEM text"
                );
            }
            return format!(
                "{PREFIX}: the value looks like base64 DER without PEM armour \
                 (-----BEGIN CERTIFICATE-----)"
            );
        }
        return format!(
            "{PREFIX} (expected -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)"
        );
    }
    let mut labels: Vec<&str> = Vec::new();
    let mut more = false;
    for block in &framing.blocks {
        if labels.contains(&block.label) {
            continue;
        }
        if labels.len() == 3 {
            more = true;
            break;
        }
        labels.push(block.label);
    }
    let mut message = format!("{PREFIX} (only ");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            message.push_str(", ");
        }
        message.push_str(&sanitize(label, MAX_LABEL_CHARS));
    }
    if more {
        message.push_str(", …");
    }
    message.push(')');
    message
}

// ---------------------------------------------------------------------------------------------
// Framing

/// One line of the input, without its terminator.
struct Line<'a> {
    /// 1-based line number.
    number: usize,
    /// Byte offset of the line's first byte.
    start: usize,
    /// Byte offset just after the line's terminator.
    next: usize,
    text: &'a str,
}

/// Lines ending in `\n`, `\r\n` or a lone `\r`.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str, first_number: usize) -> Self {
        Self {
            text,
            pos: 0,
            number: first_number,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let rest = self.text.get(self.pos..).filter(|r| !r.is_empty())?;
        let bytes = rest.as_bytes();
        let (len, terminator) = match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                let crlf = bytes.get(i) == Some(&b'\r') && bytes.get(i + 1) == Some(&b'\n');
                (i, if crlf { 2 } else { 1 })
            }
            None => (rest.len(), 0),
        };
        let line = Line {
            number: self.number,
            start: self.pos,
            next: self.pos + len + terminator,
            text: rest.get(..len).unwrap_or(""),
        };
        self.pos = line.next;
        self.number += 1;
        Some(line)
    }
}

/// Why a block's framing is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameProblem<'a> {
    /// The block has no `END` line (end of text or another `BEGIN` came first).
    MissingEnd,
    /// The `END` line names another label.
    MismatchedEnd(&'a str),
    /// Text follows the `END` marker on its line.
    EndTrailingText,
    /// The `BEGIN` line lacks its closing dashes or has text after them.
    BadBeginLine,
    /// `BEGIN`, body and `END` are all on one line.
    OneLine,
    /// A marker does not start its line (indentation or a byte-order mark).
    IndentedMarker,
}

impl FrameProblem<'_> {
    fn describe(self, label: &str) -> String {
        match self {
            Self::MissingEnd => format!("has no -----END {label}----- line"),
            Self::MismatchedEnd(end) => format!(
                "ends with a mismatched -----END {}----- line",
                sanitize(end, MAX_LABEL_CHARS)
            ),
            Self::EndTrailingText => "has text after its -----END marker".to_owned(),
            Self::BadBeginLine => "has a malformed -----BEGIN line".to_owned(),
            Self::OneLine => "is all on one line: the PEM lost its line breaks".to_owned(),
            Self::IndentedMarker => "has a BEGIN or END marker that does not start its line \
                                     (indentation or byte-order mark)"
                .to_owned(),
        }
    }
}

/// A framed PEM block.
struct Block<'a> {
    label: &'a str,
    /// 1-based line of the `BEGIN` marker.
    line: usize,
    /// Everything between the `BEGIN` line and the `END` line (or where the block was cut).
    body: &'a str,
    /// 1-based line number of the body's first line.
    body_line: usize,
    problem: Option<FrameProblem<'a>>,
}

/// A block whose `END` has not been seen yet.
struct OpenBlock<'a> {
    label: &'a str,
    line: usize,
    body_start: usize,
    problem: Option<FrameProblem<'a>>,
}

impl<'a> OpenBlock<'a> {
    fn close(self, text: &'a str, body_end: usize, problem: Option<FrameProblem<'a>>) -> Block<'a> {
        Block {
            label: self.label,
            line: self.line,
            body: text.get(self.body_start..body_end).unwrap_or(""),
            body_line: self.line + 1,
            problem: self.problem.or(problem),
        }
    }
}

/// Non-blank lines outside every block.
struct Stray<'a> {
    lines: usize,
    first_line: usize,
    /// The first stray line, trimmed.
    first_text: &'a str,
    /// Every non-whitespace character of every stray line is in the base64 alphabet.
    all_base64: bool,
    base64_chars: usize,
}

impl<'a> Stray<'a> {
    fn add(&mut self, line: &Line<'a>) {
        if self.lines == 0 {
            self.first_line = line.number;
            self.first_text = line.text.trim();
        }
        self.lines += 1;
        if self.all_base64 {
            for byte in line.text.bytes() {
                if is_base64_byte(byte) {
                    self.base64_chars += 1;
                } else if !byte.is_ascii_whitespace() {
                    self.all_base64 = false;
                    break;
                }
            }
        }
    }
}

struct Framing<'a> {
    blocks: Vec<Block<'a>>,
    stray: Stray<'a>,
}

enum Marker<'a> {
    Begin {
        label: &'a str,
        problem: Option<FrameProblem<'a>>,
    },
    End {
        rest: &'a str,
        indented: bool,
    },
    Other,
}

fn classify(line: &str) -> Marker<'_> {
    let unindented = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let indented = unindented.len() != line.len();
    let trimmed = unindented.trim_end();
    if let Some(rest) = trimmed.strip_prefix("-----BEGIN ") {
        let (label, problem) = match rest.find("-----") {
            Some(p) => {
                let label = rest.get(..p).unwrap_or(rest);
                let tail = rest.get(p + 5..).unwrap_or("");
                if tail.is_empty() {
                    (label, indented.then_some(FrameProblem::IndentedMarker))
                } else if tail.contains("-----END ") {
                    (label, Some(FrameProblem::OneLine))
                } else {
                    (label, Some(FrameProblem::BadBeginLine))
                }
            }
            None => (rest, Some(FrameProblem::BadBeginLine)),
        };
        return Marker::Begin { label, problem };
    }
    if let Some(rest) = trimmed.strip_prefix("-----END ") {
        return Marker::End { rest, indented };
    }
    Marker::Other
}

fn end_problem<'a>(label: &str, rest: &'a str, indented: bool) -> Option<FrameProblem<'a>> {
    match rest
        .strip_prefix(label)
        .and_then(|r| r.strip_prefix("-----"))
    {
        Some("") if indented => Some(FrameProblem::IndentedMarker),
        Some("") => None,
        Some(_) => Some(FrameProblem::EndTrailingText),
        None => {
            let end_label = rest
                .find("-----")
                .and_then(|p| rest.get(..p))
                .unwrap_or(rest);
            Some(FrameProblem::MismatchedEnd(end_label))
        }
    }
}

fn frame(text: &str) -> Framing<'_> {
    let mut blocks = Vec::new();
    let mut stray = Stray {
        lines: 0,
        first_line: 0,
        first_text: "",
        all_base64: true,
        base64_chars: 0,
    };
    let mut open: Option<OpenBlock<'_>> = None;
    for line in Lines::new(text, 1) {
        match classify(line.text) {
            Marker::Begin { label, problem } => {
                if let Some(block) = open.take() {
                    blocks.push(block.close(text, line.start, Some(FrameProblem::MissingEnd)));
                }
                if problem == Some(FrameProblem::OneLine) {
                    blocks.push(Block {
                        label,
                        line: line.number,
                        body: "",
                        body_line: line.number,
                        problem,
                    });
                } else {
                    open = Some(OpenBlock {
                        label,
                        line: line.number,
                        body_start: line.next,
                        problem,
                    });
                }
            }
            Marker::End { rest, indented } => match open.take() {
                Some(block) => {
                    let problem = end_problem(block.label, rest, indented);
                    blocks.push(block.close(text, line.start, problem));
                }
                None => stray.add(&line),
            },
            Marker::Other => {
                if open.is_none() && !line.text.trim().is_empty() {
                    stray.add(&line);
                }
            }
        }
    }
    if let Some(block) = open.take() {
        blocks.push(block.close(text, text.len(), Some(FrameProblem::MissingEnd)));
    }
    Framing { blocks, stray }
}

fn is_base64_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Base64-decodes a `CERTIFICATE` block; the error is the rest of a sentence about the block.
fn decode_certificate(block: &Block<'_>) -> Result<Vec<u8>, String> {
    if let Some(problem) = block.problem {
        return Err(problem.describe(block.label));
    }
    // Re-frame the body canonically: the framing above is authoritative (it tolerates trailing
    // whitespace of any kind on marker lines); rustls-pki-types only decodes the base64.
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----\n";
    const END: &str = "\n-----END CERTIFICATE-----\n";
    let mut pem = String::with_capacity(BEGIN.len() + block.body.len() + END.len());
    pem.push_str(BEGIN);
    pem.push_str(block.body);
    pem.push_str(END);
    match <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem.as_bytes()).next() {
        Some(Ok((SectionKind::Certificate, der))) if der.is_empty() => Err("is empty".to_owned()),
        Some(Ok((SectionKind::Certificate, der))) => Ok(der),
        Some(Err(_)) => Err(base64_problem(block)),
        Some(Ok(_)) | None => Err("could not be decoded".to_owned()),
    }
}

/// Explains why a block body is not valid base64.
fn base64_problem(block: &Block<'_>) -> String {
    for line in Lines::new(block.body, block.body_line) {
        let bad = line
            .text
            .chars()
            .find(|&c| !(c.is_ascii() && (is_base64_byte(c as u8) || c.is_ascii_whitespace())));
        if let Some(c) = bad {
            return format!(
                "is not valid base64: unexpected character {} on line {}",
                c.escape_debug_quoted(),
                line.number
            );
        }
    }
    "is not valid base64 (bad padding or length)".to_owned()
}

/// Quoting that never lets control characters into a message.
trait EscapeQuoted {
    fn escape_debug_quoted(self) -> String;
}

impl EscapeQuoted for char {
    fn escape_debug_quoted(self) -> String {
        let mut out = String::from("'");
        if is_unsafe_char(self) || self == '\'' || self == '\\' {
            out.extend(self.escape_unicode());
        } else {
            out.push(self);
        }
        out.push('\'');
        out
    }
}

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
fn certificate_facts(index: usize, line: usize, der: &[u8]) -> Result<CertificateFacts, String> {
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
fn modulus_bits(modulus: &[u8]) -> u32 {
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

// ---------------------------------------------------------------------------------------------
// Names

/// An X.509 name in RFC 4514 form: last RDN first, `,` between RDNs, `+` inside one.
fn format_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_attribute_type(&mut out, attribute.attr_type());
            out.push('=');
            push_attribute_value(&mut out, attribute.attr_value());
        }
    }
    out
}

fn push_attribute_type(out: &mut String, oid: &Oid<'_>) {
    let short = [
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_STREET_ADDRESS, "STREET"),
        (&OID_DOMAIN_COMPONENT, "DC"),
        (&OID_PKCS9_EMAIL_ADDRESS, "emailAddress"),
        (&OID_X509_SERIALNUMBER, "serialNumber"),
        (&OID_X509_TITLE, "title"),
        (&OID_X509_SURNAME, "SN"),
        (&OID_X509_GIVEN_NAME, "GN"),
    ]
    .into_iter()
    .find(|(known, _)| *known == oid)
    .map(|(_, short)| short);
    match short {
        Some(short) => out.push_str(short),
        None => out.push_str(&oid.to_id_string()),
    }
}

fn push_attribute_value(out: &mut String, value: &Any<'_>) {
    let data = value.data;
    let tag = value.header.tag();
    let text: Option<Cow<'_, str>> = if [
        Tag::Utf8String,
        Tag::PrintableString,
        Tag::Ia5String,
        Tag::NumericString,
        Tag::VisibleString,
    ]
    .contains(&tag)
    {
        Some(String::from_utf8_lossy(data))
    } else if tag == Tag::TeletexString {
        // T.61 is close enough to Latin-1 for display.
        Some(Cow::Owned(data.iter().map(|&b| char::from(b)).collect()))
    } else if tag == Tag::BmpString {
        let units = data.chunks_exact(2).map(|c| match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0xfffd,
        });
        Some(Cow::Owned(
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        ))
    } else if tag == Tag::UniversalString {
        let chars = data.chunks_exact(4).map(|c| match c {
            [a, b, d, e] => char::from_u32(u32::from_be_bytes([*a, *b, *d, *e]))
                .unwrap_or(char::REPLACEMENT_CHARACTER),
            _ => char::REPLACEMENT_CHARACTER,
        });
        Some(Cow::Owned(chars.collect()))
    } else {
        None
    };
    match text {
        Some(text) => escape_rfc4514(out, &text),
        None => {
            out.push('#');
            for byte in data {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

/// Characters that must never reach a message verbatim: controls and bidi overrides.
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || c == '\u{feff}'
}

/// RFC 4514 string escaping, plus hex escapes for unsafe characters.
fn escape_rfc4514(out: &mut String, value: &str) {
    for (i, c) in value.char_indices() {
        let first = i == 0;
        let last = i + c.len_utf8() == value.len();
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if first => out.push_str("\\#"),
            ' ' if first || last => out.push_str("\\ "),
            c if is_unsafe_char(c) => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Input-derived text made safe for a message: unsafe characters escaped, truncated with `…`.
fn sanitize(text: &str, max_chars: usize) -> Cow<'_, str> {
    let too_long = text.chars().nth(max_chars).is_some();
    if !too_long && !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let keep = if too_long {
        max_chars.saturating_sub(1)
    } else {
        max_chars
    };
    let mut out = String::new();
    for c in text.chars().take(keep) {
        if is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if too_long {
        out.push('…');
    }
    Cow::Owned(out)
}

/// A subject for a message: truncated to [`MAX_SUBJECT_CHARS`]; `empty subject` when empty.
fn display_subject(subject: &str) -> Cow<'_, str> {
    if subject.is_empty() {
        return Cow::Borrowed("empty subject");
    }
    sanitize(subject, MAX_SUBJECT_CHARS)
}

/// `certificate N (SUBJECT)`.
fn certificate_name(facts: &CertificateFacts) -> String {
    format!(
        "certificate {} ({})",
        facts.index,
        display_subject(&facts.subject)
    )
}

fn format_timestamp(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(TIMESTAMP_FORMAT).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

// ---------------------------------------------------------------------------------------------
// Assessment

/// Everything wrong or risky with the bundle at time `now` (unix seconds), warning about
/// certificates that expire within `expiry_window_secs`. Ordered invalid first, then warnings,
/// each in bundle order (see the module documentation).
pub fn assess(bundle: &ParsedBundle, now: i64, expiry_window_secs: i64) -> Vec<Finding> {
    let mut ranked = bundle.static_findings.clone();
    let certificates = &bundle.certificates;
    let has_anchor = certificates.iter().any(|c| c.can_anchor_at(now));

    if !certificates.is_empty() && !has_anchor {
        ranked.push(Ranked {
            pos: SUMMARY_POS,
            finding: Finding::new(FindingKind::NoUsableAnchor, no_anchor_message(bundle, now)),
        });
    }
    if has_anchor {
        for facts in certificates.iter().filter(|c| c.duplicate_of.is_none()) {
            let mut push = |kind, message| {
                ranked.push(Ranked {
                    pos: facts.line,
                    finding: Finding::new(kind, message),
                });
            };
            match facts.status_at(now) {
                TimeStatus::Expired => push(
                    FindingKind::Expired,
                    format!(
                        "{} expired on {}",
                        certificate_name(facts),
                        format_timestamp(facts.not_after)
                    ),
                ),
                TimeStatus::NotYetValid => push(
                    FindingKind::NotYetValid,
                    format!(
                        "{} is not valid until {}",
                        certificate_name(facts),
                        format_timestamp(facts.not_before)
                    ),
                ),
                TimeStatus::Valid => {
                    let remaining = facts.not_after.saturating_sub(now);
                    if remaining < expiry_window_secs {
                        let days = remaining / SECS_PER_DAY;
                        let left = match days {
                            0 => "less than a day left".to_owned(),
                            1 => "1 day left".to_owned(),
                            n => format!("{n} days left"),
                        };
                        push(
                            FindingKind::ExpiringSoon,
                            format!(
                                "{} expires on {} ({left})",
                                certificate_name(facts),
                                format_timestamp(facts.not_after)
                            ),
                        );
                    }
                }
            }
            if !facts.is_ca && !facts.self_issued {
                push(
                    FindingKind::NotCa,
                    format!(
                        "{} is not a CA certificate: it cannot anchor trust",
                        certificate_name(facts)
                    ),
                );
            }
        }
    }
    ranked.sort_by_key(|r| (r.finding.severity(), r.pos, r.finding.kind));
    ranked.into_iter().map(|r| r.finding).collect()
}

/// Why none of the certificates can anchor trust, naming the first few.
fn no_anchor_message(bundle: &ParsedBundle, now: i64) -> String {
    let mut message = String::from("no certificate can anchor trust: ");
    let mut named = 0;
    let mut unnamed = 0;
    for facts in bundle
        .certificates
        .iter()
        .filter(|c| c.duplicate_of.is_none())
    {
        if named == MAX_ANCHOR_REASONS {
            unnamed += 1;
            continue;
        }
        if named > 0 {
            message.push_str("; ");
        }
        named += 1;
        message.push_str(&certificate_name(facts));
        let _ = match facts.status_at(now) {
            TimeStatus::Expired => {
                write!(message, " expired on {}", format_timestamp(facts.not_after))
            }
            TimeStatus::NotYetValid => write!(
                message,
                " is not valid until {}",
                format_timestamp(facts.not_before)
            ),
            TimeStatus::Valid => write!(message, " is not a CA certificate"),
        };
    }
    if unnamed > 0 {
        let _ = write!(message, "; and {unnamed} more");
    }
    message
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_CA: &str = include_str!("../../tests/fixtures/certs/root-ca.pem");
    const SECOND_CA: &str = include_str!("../../tests/fixtures/certs/second-ca.pem");
    const EXPIRED_CA: &str = include_str!("../../tests/fixtures/certs/expired-ca.pem");
    const FUTURE_CA: &str = include_str!("../../tests/fixtures/certs/future-ca.pem");
    const EXPIRING_CA: &str = include_str!("../../tests/fixtures/certs/expiring-ca.pem");
    const LEAF: &str = include_str!("../../tests/fixtures/certs/leaf.pem");
    const SELF_SIGNED_LEAF: &str = include_str!("../../tests/fixtures/certs/self-signed-leaf.pem");
    const WEAK_RSA_CA: &str = include_str!("../../tests/fixtures/certs/weak-rsa1024-ca.pem");
    const SHA1_CA: &str = include_str!("../../tests/fixtures/certs/sha1-ca.pem");
    const MD5_CA: &str = include_str!("../../tests/fixtures/certs/md5-ca.pem");
    const BUNDLE_50: &str = include_str!("../../tests/fixtures/certs/bundle-50.pem");
    const PRIVATE_KEY: &str = include_str!("../../tests/fixtures/certs/private-key.pem");
    const RSA_PRIVATE_KEY: &str = include_str!("../../tests/fixtures/certs/rsa-private-key.pem");

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
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
            findings[0].message.ends_with(
                "looks like base64 DER without PEM armour (-----BEGIN CERTIFICATE-----)"
            ),
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
        assert!(m.ends_with("; certificate 2 (CN=payments.shop.svc.cluster.local,O=Example) is not a CA certificate"), "{m}");
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

    #[test]
    fn large_garbage_returns_promptly() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut garbage = String::with_capacity(1 << 20);
        while garbage.len() < 1 << 20 {
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
        let start = std::time::Instant::now();
        let findings = run(&garbage);
        assert_eq!(kinds(&findings), [FindingKind::NoCertificate]);
        // The same noise inside a CERTIFICATE block.
        let findings = run(&pem("CERTIFICATE", &garbage));
        assert_eq!(kinds(&findings), [FindingKind::MalformedCertificate]);
        // A megabyte of BEGIN lines: linear, one finding per block.
        let begins = "-----BEGIN CERTIFICATE-----\n".repeat((1 << 20) / 28);
        assert_eq!(run(&begins).len(), (1 << 20) / 28);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
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
}
