//! Header hygiene between the browser and the origin: hop-by-hop headers (RFC 9110 §7.6.1), the
//! `Accept-Encoding` strainer can decode, and a `Host` (and URI) without userinfo. Pure functions; no I/O.

use http::header::{
    HeaderName, HeaderValue, ACCEPT_ENCODING, CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
};
use http::header::{TRANSFER_ENCODING, UPGRADE};
use http::uri::{Authority, Uri};
use http::HeaderMap;

/// Content codings strainer can decode, so the only ones it lets the browser offer to origins.
const DECODABLE: [&str; 5] = ["gzip", "x-gzip", "deflate", "br", "zstd"];

/// Headers that negotiate compression dictionaries (RFC 9842): strainer cannot decode `dcb`/`dcz`.
const DICTIONARY_HEADERS: [&str; 2] = ["available-dictionary", "dictionary-id"];

/// Removes hop-by-hop headers: those named in `Connection`, and the fixed set (`Connection`, `Proxy-Connection`,
/// `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authorization`, `Proxy-Authenticate`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE, PROXY_AUTHORIZATION, PROXY_AUTHENTICATE] {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
}

/// Limits `Accept-Encoding` to codings strainer can decode (keeping their q-values and order) and drops the
/// dictionary-transport headers. Removes the header when nothing is left, which means identity.
pub fn limit_accept_encoding(headers: &mut HeaderMap) {
    for name in DICTIONARY_HEADERS {
        headers.remove(name);
    }
    let kept: Vec<String> = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|item| {
            let coding = item.split(';').next().unwrap_or("").trim();
            DECODABLE.iter().any(|known| coding.eq_ignore_ascii_case(known))
        })
        .map(str::to_owned)
        .collect();
    headers.remove(ACCEPT_ENCODING);
    if kept.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
        headers.insert(ACCEPT_ENCODING, value);
    }
}

/// `uri` without userinfo (`http://user:pw@host/` → `http://host/`): credentials in a URL are never forwarded,
/// logged or matched. Unchanged when it has none.
pub fn without_userinfo(uri: Uri) -> Uri {
    let Some((_, host_port)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return uri;
    };
    // What follows the `@` of a valid authority is itself a valid authority; if not, keep the URI (its Host is
    // built without userinfo by `host_header` anyway) rather than invent one.
    let Ok(authority) = Authority::try_from(host_port) else {
        return uri;
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(authority);
    Uri::from_parts(parts).unwrap_or(uri)
}

/// The `Host` header for a request to `uri`: its host and port as written, never its userinfo.
pub fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?;
    let value = match authority.port() {
        Some(port) => format!("{}:{}", authority.host(), port.as_str()),
        None => authority.host().to_owned(),
    };
    HeaderValue::from_str(&value).ok()
}

/// A header map from static pairs, for unit tests of the proxy modules.
#[cfg(test)]
pub(super) fn test_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, http::HeaderValue::from_static(value));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::test_map as map;
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_listed_ones_go() {
        let mut headers = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("accept", "text/html"),
        ]);
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key("accept"));
    }

    #[test]
    fn userinfo_is_never_forwarded() {
        let uri = |s: &str| s.parse::<Uri>().expect("valid uri");
        let stripped = without_userinfo(uri("http://user:pw@News.test:8080/a?b#c"));
        assert_eq!(stripped.to_string(), "http://News.test:8080/a?b");
        assert_eq!(without_userinfo(uri("http://news.test/")).to_string(), "http://news.test/");
        assert_eq!(without_userinfo(uri("/path")).to_string(), "/path");
        let host = |s: &str| host_header(&uri(s)).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(host("http://u:p@news.test:81/").as_deref(), Some("news.test:81"));
        assert_eq!(host("http://a@b@[::1]/").as_deref(), Some("[::1]"));
        assert_eq!(host("/path"), None);
    }

    #[test]
    fn accept_encoding_keeps_only_decodable_codings() {
        let mut headers =
            map(&[("accept-encoding", "gzip, deflate, br, zstd, dcb, dcz"), ("available-dictionary", ":x:")]);
        limit_accept_encoding(&mut headers);
        assert_eq!(headers.get(ACCEPT_ENCODING).map(|v| v.as_bytes()), Some(&b"gzip, deflate, br, zstd"[..]));
        assert!(!headers.contains_key("available-dictionary"));

        let mut headers = map(&[("accept-encoding", "compress, dcz")]);
        limit_accept_encoding(&mut headers);
        assert!(!headers.contains_key(ACCEPT_ENCODING));

        let mut headers = map(&[("accept-encoding", "br;q=1.0, gzip;q=0.8")]);
        limit_accept_encoding(&mut headers);
        assert_eq!(headers.get(ACCEPT_ENCODING).map(|v| v.as_bytes()), Some(&b"br;q=1.0, gzip;q=0.8"[..]));
    }
}
