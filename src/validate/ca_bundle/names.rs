//! Names and text in messages: X.509 names in RFC 4514 form, and input-derived text made safe
//! to show (control and bidi characters escaped, long values truncated).

use std::borrow::Cow;
use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Oid, Tag};
use x509_parser::oid_registry::{
    OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME,
    OID_X509_GIVEN_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME,
    OID_X509_ORGANIZATIONAL_UNIT, OID_X509_SERIALNUMBER, OID_X509_STATE_OR_PROVINCE_NAME,
    OID_X509_STREET_ADDRESS, OID_X509_SURNAME, OID_X509_TITLE,
};
use x509_parser::x509::X509Name;

use super::CertificateFacts;

/// Subjects longer than this many characters are truncated (with `…`) in messages.
pub(super) const MAX_SUBJECT_CHARS: usize = 60;
/// PEM labels longer than this many characters are truncated (with `…`) in messages.
pub(super) const MAX_LABEL_CHARS: usize = 40;

/// An X.509 name in RFC 4514 form: last RDN first, `,` between RDNs, `+` inside one.
pub(super) fn format_name(name: &X509Name<'_>) -> String {
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
pub(super) fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || c == '\u{feff}'
}

/// RFC 4514 string escaping, plus hex escapes for unsafe characters.
pub(super) fn escape_rfc4514(out: &mut String, value: &str) {
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
pub(super) fn sanitize(text: &str, max_chars: usize) -> Cow<'_, str> {
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
pub(super) fn display_subject(subject: &str) -> Cow<'_, str> {
    if subject.is_empty() {
        return Cow::Borrowed("empty subject");
    }
    sanitize(subject, MAX_SUBJECT_CHARS)
}

/// `certificate N (SUBJECT)`.
pub(super) fn certificate_name(facts: &CertificateFacts) -> String {
    format!(
        "certificate {} ({})",
        facts.index,
        display_subject(&facts.subject)
    )
}
