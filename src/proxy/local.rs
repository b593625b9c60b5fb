//! Requests meant for strainer itself: `http://strainer.internal/…` (or the older `strainer.local`) through the
//! proxy, and origin-form requests sent straight to the listener (`http://127.0.0.1:8080/proxy.pac`).
//!
//! Pages: `/` (status: where strainer listens, how to trust its CA, rules loaded per file, counters, last reload
//! error), `/proxy.pac` (a PAC file sending http and https through this listener, local destinations DIRECT unless
//! `pac_direct_local = false`), `/metrics` (Prometheus text format) and the CA certificate as `/ca.pem` and
//! `/ca.der` ([`super::onboarding`]), `/healthz` and `/readyz` ([`super::health`]).
//!
//! The primary name is under `.internal` (reserved for private use, never in public DNS): macOS bypasses proxies
//! for `*.local` by default, so `strainer.local` cannot reach the onboarding page there.

use std::fmt::Write as _;
use std::net::SocketAddr;

use http::header::HOST;
use http::{Request, Response, Uri};

use super::log::RequestLog;
use super::{onboarding, respond};
use super::{ProxyBody, State};
use crate::metrics::{self, Mode};
use crate::url_host::same_host;

/// The host name browsers use to reach strainer's own pages through the proxy.
pub const LOCAL_HOST: &str = "strainer.internal";

/// Other names of strainer's own pages: the name used before `strainer.internal`, kept so old bookmarks work.
pub const LOCAL_HOST_ALIASES: [&str; 1] = ["strainer.local"];

/// The URL of the status page, as printed and linked everywhere.
pub const LOCAL_URL: &str = "http://strainer.internal/";

/// Is this request for strainer itself? Origin-form requests (no authority: sent straight to the listener, not
/// proxied) and any request to [`LOCAL_HOST`] or one of its [`LOCAL_HOST_ALIASES`].
pub fn is_local(uri: &Uri) -> bool {
    match uri.host() {
        None => true,
        Some(host) => own_names().any(|name| same_host(host, name)),
    }
}

/// Every name of strainer's own pages, the primary one first.
fn own_names() -> impl Iterator<Item = &'static str> {
    std::iter::once(LOCAL_HOST).chain(LOCAL_HOST_ALIASES)
}

/// Pages anyone who can connect may fetch, even when proxy credentials are required: browsers fetch the PAC
/// file and the CA certificate straight from the listener, without proxy credentials.
const PUBLIC_PATHS: [&str; 3] = ["/proxy.pac", "/ca.pem", "/ca.der"];

/// Is this an origin-form request for one of the [`PUBLIC_PATHS`]?
pub fn is_public(uri: &Uri) -> bool {
    uri.host().is_none() && PUBLIC_PATHS.contains(&uri.path())
}

/// Answers a request for strainer itself.
pub fn answer<B>(state: &State, client: SocketAddr, request: &Request<B>) -> Response<ProxyBody> {
    let mut log = RequestLog::start(state.metrics.clone(), client, request.method(), request.uri(), false);
    log.mode = Mode::Local;
    log.host = LOCAL_HOST.to_owned();
    let response = match request.uri().path() {
        "/" => respond::ok("text/html; charset=utf-8", status_page(state)),
        "/proxy.pac" => respond::ok(
            "application/x-ns-proxy-autoconfig",
            pac(&proxy_address(state, request), state.config.pac_direct_local),
        ),
        "/metrics" => respond::ok(metrics::PROMETHEUS_CONTENT_TYPE, state.metrics.render()),
        "/healthz" | "/readyz" => super::health::answer(state, request.uri().path()),
        "/ca.pem" => onboarding::ca_pem(state.leaf_certs.ca()),
        "/ca.der" => onboarding::ca_der(state.leaf_certs.ca()),
        path => respond::not_found(path),
    };
    log.answer(response)
}

/// The address browsers should use for the proxy: the listen address, or, when listening on every interface,
/// the address the browser used to reach us.
fn proxy_address<B>(state: &State, request: &Request<B>) -> String {
    if !state.local_addr.ip().is_unspecified() {
        return state.local_addr.to_string();
    }
    let asked =
        request.headers().get(HOST).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<SocketAddr>().ok());
    match asked {
        Some(addr) => addr.to_string(),
        None => SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), state.local_addr.port()).to_string(),
    }
}

/// Private, loopback, shared (CGNAT) and link-local IPv4 networks as PAC `isInNet` arguments: the same networks
/// `allow_clients` admits by default. Only IP literals are tested, so the PAC file never resolves names.
const PAC_DIRECT_V4: [(&str, &str); 7] = [
    ("127.0.0.0", "255.0.0.0"),
    ("10.0.0.0", "255.0.0.0"),
    ("172.16.0.0", "255.240.0.0"),
    ("192.168.0.0", "255.255.0.0"),
    ("100.64.0.0", "255.192.0.0"),
    ("169.254.0.0", "255.255.0.0"),
    ("0.0.0.0", "255.0.0.0"),
];

/// Loopback, unique-local (fc00::/7) and link-local IPv6 literals as `shExpMatch` patterns, tried on hosts with
/// a `:` only (an IPv6 literal has no dot, so `isPlainHostName` would call every one of them local).
const PAC_DIRECT_V6: [&str; 4] = ["::1", "fc*:*", "fd*:*", "fe80:*"];

/// Domains of the local network: mDNS (`.local`) and the home network (`.home.arpa`, RFC 8375).
const PAC_DIRECT_DOMAINS: [&str; 2] = [".local", ".home.arpa"];

/// A PAC file sending every http and https request through `proxy` (no DIRECT fallback: a filter that silently
/// stops filtering when it is down would surprise its user). With `direct_local`, plain host names (no dot),
/// local-network domains and loopback, private and link-local addresses go DIRECT (routers and NAS boxes serve
/// certificates of their own) — except strainer's own names, which only the proxy answers.
fn pac(proxy: &str, direct_local: bool) -> String {
    let mut text = String::from(
        "// strainer proxy auto-configuration\nfunction FindProxyForURL(url, host) {\n  \
         if (url.substring(0, 5) !== \"http:\" && url.substring(0, 6) !== \"https:\") {\n    \
         return \"DIRECT\";\n  }\n",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(text, "  var proxy = \"PROXY {proxy}\";");
    if direct_local {
        let own = own_names().map(|name| format!("h === \"{name}\"")).collect::<Vec<_>>().join(" || ");
        let domains = PAC_DIRECT_DOMAINS
            .iter()
            .map(|d| format!("dnsDomainIs(h, \"{d}\")"))
            .collect::<Vec<_>>()
            .join(" || ");
        let v4 = PAC_DIRECT_V4
            .iter()
            .map(|(net, mask)| format!("isInNet(h, \"{net}\", \"{mask}\")"))
            .collect::<Vec<_>>()
            .join(" ||\n      ");
        let v6 =
            PAC_DIRECT_V6.iter().map(|p| format!("shExpMatch(h, \"{p}\")")).collect::<Vec<_>>().join(" || ");
        let _ = write!(
            text,
            "  var h = host.toLowerCase().replace(/^\\[(.*)\\]$/, \"$1\").replace(/\\.$/, \"\");\n  \
             if ({own}) {{\n    return proxy;\n  }}\n  \
             if (h.indexOf(\":\") !== -1) {{\n    return ({v6}) ? \"DIRECT\" : proxy;\n  }}\n  \
             if (isPlainHostName(h) || {domains}) {{\n    return \"DIRECT\";\n  }}\n  \
             if (/^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$/.test(h) && (\n      {v4})) {{\n    return \"DIRECT\";\n  }}\n"
        );
    }
    text.push_str("  return proxy;\n}\n");
    text
}

fn status_page(state: &State) -> String {
    let rules = state.rules.current();
    let counters = state.metrics.snapshot();
    let addr = state.local_addr;
    let mut page = String::with_capacity(4096);
    page.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>strainer</title>\
         <style>body{font:16px/1.5 system-ui,sans-serif;max-width:48em;margin:2em auto;padding:0 1em}\
         td,th{padding:0 1em 0 0;text-align:left}code{background:#eee;padding:0 .2em}</style></head><body>\
         <h1>strainer is running</h1>\n",
    );
    // Writing to a String cannot fail.
    let _ = write!(
        page,
        "<h2>Use it</h2><p>Set the browser's HTTP and HTTPS proxy to <code>{addr}</code>, or its automatic \
         configuration URL to <code>http://{addr}/proxy.pac</code>. This page is \
         <a href=\"{LOCAL_URL}\">{LOCAL_URL}</a> through the proxy.</p>\n{ca}<h2>Rules</h2><p>{total} rule(s) \
         loaded.</p><table><tr><th>file</th><th>rules</th></tr>",
        ca = onboarding::ca_section(state.leaf_certs.ca(), &format!("http://{addr}/proxy.pac")),
        total = rules.rule_count(),
    );
    for file in &rules.files {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            html_escape::encode_text(&file.file),
            file.rule_ids.len()
        );
    }
    page.push_str("</table>\n");
    if let Some(filters) = &rules.filters {
        page.push_str(
            "<h2>Filter lists</h2><table><tr><th>list</th><th>lines taken</th><th>skipped</th><th>by kind</th></tr>",
        );
        for list in filters.files() {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape::encode_text(&list.file),
                list.taken_total(),
                list.skipped.len(),
                html_escape::encode_text(&list.summary()),
            );
        }
        page.push_str("</table>\n");
    }
    let login = match &state.config.proxy_auth {
        Some(credentials) => format!("required ({} user(s))", credentials.user_count()),
        None => "not required".to_owned(),
    };
    let _ = writeln!(
        page,
        "<h2>Access</h2><p>Clients allowed from <code>{}</code>; proxy login {login}.</p>",
        html_escape::encode_text(&state.config.allow_clients.to_string()),
    );
    if let Some(error) = state.reload_status.as_ref().and_then(|status| status()) {
        let _ = write!(
            page,
            "<p><strong>Last reload failed:</strong> <code>{}</code></p>",
            html_escape::encode_text(&error)
        );
    }
    let _ = write!(
        page,
        "<h2>Since start</h2><table><tr><td>requests</td><td>{}</td></tr><tr><td>removed</td><td>{}</td></tr>\
         <tr><td>tagged</td><td>{}</td></tr><tr><td>links cleaned</td><td>{}</td></tr>\
         <tr><td>errors</td><td>{}</td></tr><tr><td>bytes in / out</td><td>{} / {}</td></tr>",
        counters.requests,
        counters.removed,
        counters.tagged,
        counters.links_cleaned,
        counters.errors,
        counters.bytes_in,
        counters.bytes_out
    );
    for (mode, count) in &counters.requests_by_mode {
        let _ = write!(page, "<tr><td>mode {mode}</td><td>{count}</td></tr>");
    }
    page.push_str("</table></body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_requests_are_origin_form_or_strainer_local() {
        let uri = |s: &str| s.parse::<Uri>().expect("valid uri");
        assert!(is_local(&uri("/proxy.pac")));
        assert!(is_local(&uri("http://Strainer.Local/")));
        assert!(is_local(&uri("http://strainer.internal./")));
        assert!(!is_local(&uri("http://strainer.internal.example/")));
        assert!(!is_local(&uri("http://news.test/")));
    }

    #[test]
    fn pac_sends_web_traffic_to_the_proxy() {
        for direct_local in [true, false] {
            let text = pac("127.0.0.1:8080", direct_local);
            assert!(text.contains("function FindProxyForURL(url, host)"));
            assert!(text.contains("\"PROXY 127.0.0.1:8080\""));
            assert_eq!(text.contains("isInNet("), direct_local, "{text}");
        }
    }

    #[test]
    fn pac_sends_local_destinations_direct_with_the_standard_functions() {
        let text = pac("127.0.0.1:8080", true);
        for expected in [
            "isPlainHostName(h)",
            "dnsDomainIs(h, \".local\")",
            "isInNet(h, \"192.168.0.0\", \"255.255.0.0\")",
            "isInNet(h, \"169.254.0.0\", \"255.255.0.0\")",
            "shExpMatch(h, \"fe80:*\")",
            "h === \"strainer.internal\" || h === \"strainer.local\"",
        ] {
            assert!(text.contains(expected), "{expected} missing:\n{text}");
        }
        // strainer's own names are decided before the local-network rule that would send `.local` DIRECT.
        let own = text.find("h === \"strainer.local\"").unwrap_or(usize::MAX);
        let local = text.find("dnsDomainIs(h, \".local\")").unwrap_or(0);
        assert!(own < local, "{text}");
    }
}
