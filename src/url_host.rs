//! The one place that finds the host of a URL and brings a host name to its normal form. Every filter decision
//! (host rules, link rules, `links_to`, loop and local-page checks, the certificate cache) goes through these, so
//! no two parts of strainer can read the same URL two ways.
//!
//! Decisions:
//! - Leading and trailing spaces and C0 controls around a URL are ignored, as browsers do.
//! - A URL has an authority when it is `scheme:` followed by two slashes, or scheme-relative (two slashes
//!   first); browsers read `\` as `/` there, so `https:\\host` and `/\host` have an authority too. Any scheme
//!   counts; callers that only handle web links check [`scheme`] themselves.
//! - The authority ends at the first `/`, `\`, `?` or `#`; userinfo (up to the last `@`) and the port are not
//!   part of the host.
//! - The normal form of a host: no surrounding spaces, no IPv6 brackets (`[::1]` is `::1`), no trailing dot,
//!   ASCII lower case. The host of a URL is returned as written; compare hosts only in normal form.
//!
//! Knows no HTTP types and no I/O; the rule compiler, the engine and the proxy all use it.

use std::borrow::Cow;

/// Where a URL's authority sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthoritySpan<'a> {
    /// The authority as written (userinfo and port included; may be empty).
    pub authority: &'a str,
    /// Byte offset in the URL just past the authority, where the path starts.
    pub end: usize,
}

/// Strips what browsers strip around a URL: spaces and C0 controls.
pub fn trim_url(url: &str) -> &str {
    url.trim_matches(|c: char| c <= ' ')
}

/// The scheme of `url` (before its `:`), if it starts with one: a letter, then letters, digits, `+`, `-`, `.`.
pub fn scheme(url: &str) -> Option<&str> {
    let bytes = url.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    for (i, b) in bytes.iter().enumerate().skip(1) {
        match b {
            b':' => return Some(&url[..i]),
            b if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') => {}
            _ => return None,
        }
    }
    None
}

/// The authority of `url` (already trimmed), if it has one: after `scheme:` and two slashes, or after two leading
/// slashes (either slash may be `\`).
pub fn authority(url: &str) -> Option<AuthoritySpan<'_>> {
    let after_scheme = scheme(url).map_or(0, |s| s.len() + 1);
    let bytes = url.as_bytes();
    let is_slash = |i: usize| matches!(bytes.get(i), Some(b'/' | b'\\'));
    if !(is_slash(after_scheme) && is_slash(after_scheme + 1)) {
        return None;
    }
    let start = after_scheme + 2;
    let rest = &url[start..];
    let len = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    Some(AuthoritySpan { authority: &rest[..len], end: start + len })
}

/// The host of an authority (`user:pw@host:port`): userinfo, port and IPv6 brackets removed; `None` when empty.
pub fn host_of_authority(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, after)| after);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => &bracketed[..bracketed.find(']')?],
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    (!host.is_empty()).then_some(host)
}

/// The host of an absolute (`scheme://`) or scheme-relative (`//`) URL, as written; `None` for relative URLs,
/// URLs without an authority (`mailto:`) and empty hosts.
pub fn url_host(url: &str) -> Option<&str> {
    host_of_authority(authority(trim_url(url))?.authority)
}

/// `host` in normal form: trimmed, without IPv6 brackets or a trailing dot, ASCII lower-cased. Borrowed when
/// already normal.
pub fn normalise_host(host: &str) -> Cow<'_, str> {
    let trimmed = host.trim();
    let unbracketed = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(trimmed);
    let host = unbracketed.trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// Are `a` and `b` the same host once normalised?
pub fn same_host(a: &str, b: &str) -> bool {
    normalise_host(a) == normalise_host(b)
}

/// Whether a link's host belongs to the page's site: the same host, or one a subdomain of the other, once a
/// leading `www.` is set aside (`shop.example.com` and `www.example.com` are one site).
pub fn same_site(host: &str, site: &str) -> bool {
    let host = host.strip_prefix("www.").unwrap_or(host);
    let site = site.strip_prefix("www.").unwrap_or(site);
    let within = |inner: &str, outer: &str| {
        inner.len() > outer.len()
            && inner.ends_with(outer)
            && inner.as_bytes()[inner.len() - outer.len() - 1] == b'.'
    };
    host == site || within(host, site) || within(site, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_absolute_and_scheme_relative_urls() {
        assert_eq!(url_host("https://user@Amzn.to:443/x?y#z"), Some("Amzn.to"));
        assert_eq!(url_host("http://user:pw@a@shop.example/x"), Some("shop.example"));
        assert_eq!(url_host("//shop.example/x"), Some("shop.example"));
        assert_eq!(url_host("https://shop.example?q=1"), Some("shop.example"));
        assert_eq!(url_host("https://shop.example#top"), Some("shop.example"));
        assert_eq!(url_host("  \t\nhttps://shop.example/ \x01"), Some("shop.example"));
        // Any scheme with an authority has a host; callers that only want web links check the scheme.
        assert_eq!(url_host("ftp://files.example/a"), Some("files.example"));
        assert_eq!(scheme("ftp://files.example/a"), Some("ftp"));
    }

    #[test]
    fn browsers_read_backslashes_as_slashes_before_the_host() {
        assert_eq!(url_host("https:\\\\shop.example\\x"), Some("shop.example"));
        assert_eq!(url_host("/\\shop.example/x"), Some("shop.example"));
        assert_eq!(url_host("https://shop.example\\@evil.example/"), Some("shop.example"));
    }

    #[test]
    fn ipv6_literals_lose_their_brackets() {
        assert_eq!(url_host("http://[::1]:8080/"), Some("::1"));
        assert_eq!(url_host("http://[::ffff:127.0.0.1]/"), Some("::ffff:127.0.0.1"));
        assert_eq!(url_host("http://[::1/"), None);
        assert_eq!(normalise_host("[::1]"), "::1");
    }

    #[test]
    fn urls_without_a_host() {
        assert_eq!(url_host("/relative/path"), None);
        assert_eq!(url_host("relative/path"), None);
        assert_eq!(url_host("mailto:a@b.c"), None);
        assert_eq!(url_host("http:shop.example/x"), None);
        assert_eq!(url_host("https:///path"), None);
        assert_eq!(url_host("https://user@:80/"), None);
        assert_eq!(url_host("1http://shop.example/"), None);
        assert_eq!(url_host(""), None);
    }

    #[test]
    fn authority_spans_end_where_the_path_starts() {
        let url = "https://a.example:8/p?q";
        let span = authority(url).expect("has an authority");
        assert_eq!((span.authority, &url[span.end..]), ("a.example:8", "/p?q"));
        assert_eq!(authority("//x").map(|s| (s.authority, s.end)), Some(("x", 3)));
        assert_eq!(authority("/x"), None);
    }

    #[test]
    fn hosts_normalise_to_one_form() {
        assert_eq!(normalise_host(" News.Example. "), "news.example");
        assert_eq!(normalise_host("news.example.."), "news.example");
        assert!(matches!(normalise_host("news.example"), Cow::Borrowed(_)));
        assert!(same_host("Strainer.Internal.", "strainer.internal"));
        assert!(!same_host("strainer.internal", "strainer.internal.evil"));
    }

    #[test]
    fn one_site_spans_www_and_subdomains_only() {
        assert!(same_site("www.example.com", "example.com"));
        assert!(same_site("shop.example.com", "www.example.com"));
        assert!(same_site("example.com", "news.example.com"));
        assert!(!same_site("example.com.evil.net", "example.com"));
        assert!(!same_site("notexample.com", "example.com"));
        assert!(!same_site("amazon.com", "news.example"));
    }
}
