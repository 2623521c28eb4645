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
/// control characters; a character RFC 3986 does not allow (non-ASCII ones included) or a `%`
/// not followed by two hex digits; a scheme that is not `ALPHA *( ALPHA / DIGIT / "+" / "-" /
/// "." )`; `[` or `]` anywhere but around an IPv6 host; a second `#`; a second `@` in the
/// authority; an empty authority; a port that is not a number; or a host that is neither an
/// FQDN nor an IP literal.
pub fn uri_problem(uri: &str) -> Option<String> {
    if !uri.bytes().all(is_uri_byte) {
        return Some(uri_character_problem(uri));
    }
    if let Some(problem) = percent_encoding_problem(uri) {
        return Some(problem);
    }
    let (scheme, rest) = uri.split_once(':')?;
    if let Some(problem) = scheme_problem(scheme) {
        return Some(problem);
    }
    let after = rest.strip_prefix("//")?;
    let (authority, tail) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
    let (userinfo, host_port) = authority
        .split_once('@')
        .map_or(("", authority), |(user, host)| (user, host));
    if let Some(problem) = delimiter_problem(userinfo, host_port, tail) {
        return Some(problem);
    }
    match split_host_port(host_port) {
        Ok((host, port)) => host_problem(host, port),
        Err(problem) => Some(problem),
    }
}

/// Whether `scheme` is `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, as a message if not.
fn scheme_problem(scheme: &str) -> Option<String> {
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (!scheme_ok).then(|| format!("scheme {scheme:?} is not a valid RFC 3986 scheme"))
}

/// A delimiter out of place: `[` or `]` outside the host, a second `#`, a second `@`.
fn delimiter_problem(userinfo: &str, host_port: &str, tail: &str) -> Option<String> {
    let bracket = |b: u8| matches!(b, b'[' | b']');
    if tail.bytes().any(bracket) || userinfo.bytes().any(bracket) {
        return Some(
            "'[' and ']' are only allowed around an IPv6 host (RFC 3986); percent-encode them"
                .into(),
        );
    }
    if tail.split_once('#').is_some_and(|(_, f)| f.contains('#')) {
        return Some(
            "'#' may appear only once, before the fragment (RFC 3986); percent-encode it".into(),
        );
    }
    if host_port.contains('@') {
        return Some(
            "'@' may appear only once in the authority (RFC 3986); percent-encode it".into(),
        );
    }
    None
}

/// The host (an IPv6 literal keeps its brackets) and the port, if any.
fn split_host_port(host_port: &str) -> Result<(&str, Option<&str>), String> {
    let Some(inner) = host_port.strip_prefix('[') else {
        return Ok(host_port
            .split_once(':')
            .map_or((host_port, None), |(host, port)| (host, Some(port))));
    };
    let Some(close) = inner.find(']') else {
        return Err(format!("host {host_port:?} is not a valid IPv6 literal"));
    };
    let (host, rest) = host_port.split_at(close + 2);
    match rest.strip_prefix(':') {
        Some(port) => Ok((host, Some(port))),
        None if rest.is_empty() => Ok((host, None)),
        None => Err(format!(
            "unexpected {rest:?} after the IPv6 host {host:?} (RFC 3986: only ':' and a port may follow)"
        )),
    }
}

/// Problems with the host and port of an absolute URI: an empty host, a port that is not a
/// number, a host that is neither an FQDN nor an IP literal.
fn host_problem(host: &str, port: Option<&str>) -> Option<String> {
    if host.is_empty() {
        return Some("must have a non-empty authority (scheme://host/...), as RFC 3986 absolute URIs for SANs do".into());
    }
    if let Some(port) = port
        && !port.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(format!("port {port:?} must be a number (RFC 3986)"));
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

/// Whether RFC 3986 allows `b` in a URI: printable ASCII but for the nine characters it
/// leaves out.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

/// What is wrong with a URI that has a byte [`is_uri_byte`] refuses: spaces and control
/// characters first, else the first character RFC 3986 does not allow.
fn uri_character_problem(uri: &str) -> String {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return "must not contain spaces or control characters (RFC 3986); percent-encode them"
            .into();
    }
    let c = uri
        .chars()
        .find(|&c| !u8::try_from(c).is_ok_and(is_uri_byte))
        .unwrap_or_default();
    format!("character {c:?} is not allowed in a URI (RFC 3986); percent-encode it")
}

/// The first `%` not followed by two hex digits, as a message.
fn percent_encoding_problem(uri: &str) -> Option<String> {
    let bytes = uri.as_bytes();
    let (at, _) = uri.match_indices('%').find(|&(i, _)| {
        !bytes
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })?;
    let shown = &uri[at..uri.len().min(at + 3)];
    Some(format!(
        "{shown:?} is not a percent-encoding (RFC 3986: '%' and two hex digits)"
    ))
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
        } else {
            problems.extend(
                dns_subdomain_problems(prefix)
                    .into_iter()
                    .map(|problem| format!("prefix part {problem}")),
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
    dns_subdomain_problems(s).is_empty()
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
            "https://[::1]:8443/a",
            "https://example.com:/",
            "urn://a_b.example",
            "spiffe://example.com/a%2Fb%c3%a9?q=1/2?x#frag/?",
            "https://user:pa%20ss@example.com/~a-b_c.d!$&'()*+,;=:@",
        ] {
            assert_eq!(uri_problem(ok), None, "{ok}");
        }
        for (bad, problem) in [
            ("spiffe:///path", "non-empty authority"),
            ("spiffe://a/b c", "spaces"),
            ("https://-bad.example/", "fully qualified"),
            ("1http://a/", "scheme"),
            ("https://[zz]/", "IPv6 literal"),
            ("https://[::1/", "IPv6 literal"),
            ("https://user@/x", "non-empty authority"),
            ("https://example.com:abc/", r#"port "abc" must be a number"#),
            ("https://exa:mple:com/", r#"port "mple:com""#),
            (
                "https://[::1]x/",
                r#"unexpected "x" after the IPv6 host "[::1]""#,
            ),
            (
                "spiffe://example.com/%zz",
                r#""%zz" is not a percent-encoding"#,
            ),
            (
                "spiffe://example.com/a%2",
                r#""%2" is not a percent-encoding"#,
            ),
            ("spiffe://example.com/a|b", "character '|' is not allowed"),
            ("spiffe://example.com/<a>", "character '<' is not allowed"),
            ("https://bücher.example/", "character 'ü' is not allowed"),
            (
                "https://example.com/a[0]",
                "only allowed around an IPv6 host",
            ),
            (
                "https://us[er@example.com/",
                "only allowed around an IPv6 host",
            ),
            ("https://example.com/#a#b", "'#' may appear only once"),
            ("https://a@b@example.com/", "'@' may appear only once"),
        ] {
            let found = uri_problem(bad);
            assert!(
                found.as_deref().is_some_and(|p| p.contains(problem)),
                "{bad}: {found:?}"
            );
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
        assert_eq!(
            qualified_name_problems(&long_prefix),
            ["prefix part must be no more than 253 characters"]
        );
        assert_eq!(
            qualified_name_problems("Example.com/x"),
            [format!("prefix part {DNS_SUBDOMAIN_MESSAGE}")]
        );
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
