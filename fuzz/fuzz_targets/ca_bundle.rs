//! CA bundle parsing and assessment: `ca_bundle::parse_bundle` on arbitrary text (bytes that are
//! not UTF-8 are replaced, as a ConfigMap's `data` is always a string), then `assess` at three
//! instants.
//!
//! Besides "no panic, no hang", it checks the documented shape of the findings: each has a
//! message, invalid findings come first, a bundle without a decoded
//! certificate is invalid, and one with a usable anchor has no `NoUsableAnchor`.
#![no_main]

use backendtls_webhook::validate::ca_bundle::{FindingKind, Severity, assess, parse_bundle};
use libfuzzer_sys::fuzz_target;

/// 1970-01-01, 2026-06-01 and 9999-12-31T23:59:59Z.
const INSTANTS: [i64; 3] = [0, 1_780_272_000, 253_402_300_799];
/// 30 days, the default expiry window.
const WINDOW: i64 = 30 * 86_400;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let bundle = parse_bundle(&text);
    assert!(bundle.certificates().len() <= bundle.certificate_blocks());
    for now in INSTANTS {
        let findings = assess(&bundle, now, WINDOW);
        for finding in &findings {
            assert!(!finding.message.is_empty(), "{finding:?}");
        }
        assert!(
            findings
                .windows(2)
                .all(|pair| pair[0].severity() <= pair[1].severity()),
            "invalid findings first: {findings:?}"
        );
        if bundle.certificates().is_empty() {
            assert!(
                findings.iter().any(|f| f.severity() == Severity::Invalid),
                "no certificate, yet not invalid: {findings:?}"
            );
        }
        if bundle.certificates().iter().any(|c| c.can_anchor_at(now)) {
            assert!(
                !findings
                    .iter()
                    .any(|f| f.kind == FindingKind::NoUsableAnchor),
                "{findings:?}"
            );
        }
        if bundle.contains_private_key() {
            assert!(
                findings.iter().any(|f| f.kind == FindingKind::PrivateKey),
                "{findings:?}"
            );
        }
    }
});
