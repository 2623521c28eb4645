//! Name checks the CRD states only in prose: IP literals, DNS label lengths, RFC 3986 URIs and
//! Kubernetes qualified names. Each function returns the problems it finds as short phrases.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest DNS label (RFC 1123).
pub const MAX_LABEL: usize = 63;

/// Whether `host` is an IPv4 or IPv6 literal (IPv6 optionally in brackets).
pub fn is_ip_literal(host: &str) -> bool {
    // Cheap rejection first: addresses use only hex digits, dots, colons and brackets.
    if !host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'[' | b']'))
    {
        return false;
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse::<Ipv4Addr>().is_ok()
        || unbracketed.parse::<Ipv6Addr>().is_ok()
        || looks_like_dotted_quad(host)
}

/// Four dot-separated decimal numbers: an IPv4 address even when a part is out of range or
/// has leading zeros (`10.0.0.256`, `010.0.0.1`), which resolvers still treat as an address.
fn looks_like_dotted_quad(host: &str) -> bool {
    host.split('.').count() == 4
        && host
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The first DNS label longer than 63 characters, if any.
pub fn long_label(host: &str) -> Option<&str> {
    host.split('.').find(|label| label.len() > MAX_LABEL)
}

/// Problems with an absolute URI beyond what the CRD pattern checks (RFC 3986): whitespace or
/// control characters, a scheme that is not `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, an
/// empty authority, or a host that is neither an FQDN nor an IP literal.
pub fn uri_problem(uri: &str) -> Option<String> {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(
            "must not contain spaces or control characters (RFC 3986); percent-encode them".into(),
        );
    }
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Some(format!("scheme {scheme:?} is not a valid RFC 3986 scheme"));
    }
    let after = rest.strip_prefix("//")?;
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        host_port.split_once(':').map_or(host_port, |(h, _)| h)
    };
    if host.is_empty() {
        return Some("must have a non-empty authority (scheme://host/...), as RFC 3986 absolute URIs for SANs do".into());
    }
    if host.starts_with('[') {
        return (!is_ip_literal(host))
            .then(|| format!("host {host:?} is not a valid IPv6 literal"));
    }
    if is_ip_literal(host) {
        return None;
    }
    let fqdn = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!fqdn.split('.').all(label_ok))
        .then(|| format!("host {host:?} must be a fully qualified domain name or an IP address"))
}

/// Problems with a Kubernetes qualified name (`[prefix/]name`, as used for label and
/// annotation keys): the prefix a lowercase DNS subdomain of at most 253 characters, the name
/// 1 to 63 characters of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if name.contains('/') {
            problems.push("a qualified name must have at most one '/'".to_owned());
            return problems;
        }
        if prefix.is_empty() {
            problems.push("prefix part must be non-empty".to_owned());
        } else if prefix.len() > 253 {
            problems.push("prefix part must be no more than 253 characters".to_owned());
        } else if !is_dns_subdomain(prefix) {
            problems.push(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
                    .to_owned(),
            );
        }
    }
    if name.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > MAX_LABEL {
            problems.push("name part must be no more than 63 characters".to_owned());
        }
        let bytes = name.as_bytes();
        let edge_ok = |b: &u8| b.is_ascii_alphanumeric();
        let inner_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !(inner_ok && bytes.first().is_some_and(edge_ok) && bytes.last().is_some_and(edge_ok)) {
            problems.push(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')"
                    .to_owned(),
            );
        }
    }
    problems
}

/// RFC 1123 subdomain (lowercase), the rule for object names and qualified-name prefixes: the
/// CRD's subdomain pattern, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && super::schema::SUBDOMAIN.is_match(s)
}

/// What Kubernetes says of a name that is not an RFC 1123 subdomain (`IsDNS1123Subdomain`):
/// one message for the length, one for the pattern, or both.
pub fn dns_subdomain_problems(s: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if s.len() > 253 {
        problems.push("must be no more than 253 characters");
    }
    if !super::schema::SUBDOMAIN.is_match(s) {
        problems.push(DNS_SUBDOMAIN_MESSAGE);
    }
    problems
}

/// The message Kubernetes gives for a name that does not match the RFC 1123 subdomain pattern.
pub const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals() {
        for ip in [
            "10.0.0.7",
            "::1",
            "[::1]",
            "2001:db8::1",
            "010.0.0.1",
            "10.0.0.256",
        ] {
            assert!(is_ip_literal(ip), "{ip}");
        }
        for host in ["a.example", "10.0.0.7.nip.io", "1.2.3", "1e100.net"] {
            assert!(!is_ip_literal(host), "{host}");
        }
    }

    #[test]
    fn label_lengths() {
        let ok = format!("{}.example", "a".repeat(63));
        let long = format!("{}.example", "a".repeat(64));
        assert_eq!(long_label(&ok), None);
        assert_eq!(long_label(&long).map(str::len), Some(64));
    }

    #[test]
    fn uris() {
        for ok in [
            "spiffe://cluster.local/ns/shop/sa/x",
            "https://10.0.0.1:8443/x",
            "https://[::1]/",
            "urn://a_b.example",
        ] {
            assert_eq!(uri_problem(ok), None, "{ok}");
        }
        for bad in [
            "spiffe:///path",
            "spiffe://a/b c",
            "https://-bad.example/",
            "1http://a/",
            "https://[zz]/",
            "https://user@/x",
        ] {
            assert!(uri_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "example.com/timeout",
            "timeout",
            "a",
            "example.com/A.b_c-1",
            &"a".repeat(63),
        ] {
            assert!(qualified_name_problems(ok).is_empty(), "{ok}");
        }
        for bad in [
            "",
            "/x",
            "Example.com/x",
            "a/b/c",
            "example.com/",
            "-x",
            "x-",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!qualified_name_problems(bad).is_empty(), "{bad:?}");
        }
        let long_prefix = format!("{}/x", "a".repeat(254));
        assert!(!qualified_name_problems(&long_prefix).is_empty());
    }

    #[test]
    fn subdomains() {
        assert!(is_dns_subdomain("payments-backend-tls"));
        assert!(is_dns_subdomain("a.b-c.d"));
        for bad in ["", "A", "a..b", "-a", "a-", "a_b", &"a".repeat(254)] {
            assert!(!is_dns_subdomain(bad), "{bad:?}");
            assert!(!dns_subdomain_problems(bad).is_empty(), "{bad:?}");
        }
        assert!(dns_subdomain_problems(&"a".repeat(253)).is_empty());
        // As IsDNS1123Subdomain: the length and the pattern are separate findings.
        assert_eq!(
            dns_subdomain_problems(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
        assert_eq!(
            dns_subdomain_problems(&format!("{}_", "a".repeat(253))),
            ["must be no more than 253 characters", DNS_SUBDOMAIN_MESSAGE]
        );
        assert_eq!(dns_subdomain_problems("A"), [DNS_SUBDOMAIN_MESSAGE]);
    }
}
