//! Findings: the time-independent ones [`parse_bundle`](super::parse_bundle) records, and
//! [`assess`], which judges a parsed bundle at an instant. Every message's wording is here.

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::names::{MAX_LABEL_CHARS, certificate_name, display_subject, sanitize};
use super::pem::Framing;
use super::{
    CertificateFacts, Finding, FindingKind, MIN_RSA_BITS, ParsedBundle, Ranked, SUMMARY_POS,
    TimeStatus,
};

/// How many certificates a [`FindingKind::NoUsableAnchor`] message names before "and N more".
const MAX_ANCHOR_REASONS: usize = 3;
/// Below this many base64 characters, stray text is not called "base64 without armour".
const MIN_BARE_BASE64: usize = 32;

const SECS_PER_DAY: i64 = 86_400;

/// Time-independent warnings about one decoded certificate.
pub(super) fn push_certificate_findings(bundle: &mut ParsedBundle, facts: &CertificateFacts) {
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

pub(super) fn no_certificate_message(framing: &Framing<'_>) -> String {
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

/// Unix seconds as RFC 3339 in UTC, `2035-01-01T00:00:00Z` (`@SECONDS` outside years 0 to
/// 9999, which no certificate's validity can express): how messages and `audit` show a
/// certificate's dates.
pub fn format_timestamp(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}
