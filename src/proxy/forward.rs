//! Forwarding one absolute-form request to its origin: host rules (block / no-rewrite), request-side link
//! cleaning, hop-by-hop hygiene, the upstream call with its timeouts, and hand-over to [`super::body`].
//!
//! Request-side link cleaning: a GET navigation to a URL the link rules would clean is answered with a
//! `307 Temporary Redirect` to the clean URL instead of being forwarded. A redirect (not a silent rewrite of the
//! upstream URL) keeps the address bar honest, lets the page's relative links resolve against the clean URL,
//! and costs one loopback round trip; 307 keeps the method should a non-GET ever be redirected.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, HOST, VIA};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;

use super::body::{self, ResponseContext};
use super::client::{self, UpstreamBody};
use super::headers::{host_header, limit_accept_encoding, strip_hop_by_hop};
use super::log::RequestLog;
use super::respond::{self, Failure};
use super::{ConnectionSlot, ProxyBody, State};
use crate::filters::FilterLists;
use crate::metrics::Mode;
use crate::rules::HostDecision;
use crate::url_host::normalise_host;

/// How a request reached [`forward`].
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The browser's address.
    pub client: SocketAddr,
    /// `Plain` for plain HTTP; `Mitm` for requests decrypted from a CONNECT tunnel.
    pub mode: Mode,
    /// The client connection's slot, for whatever outlives this request (tunnels, WebSockets).
    pub slot: ConnectionSlot,
}

impl RequestContext {
    /// Starts the request's log record: who asked for what, and how it reached strainer.
    pub fn start_log<B>(&self, state: &State, request: &Request<B>) -> RequestLog {
        let mut log = RequestLog::start(
            state.metrics.clone(),
            self.client,
            request.method(),
            request.uri(),
            state.config.log_query,
        );
        log.mode = self.mode;
        log
    }
}

/// The `Via` token strainer adds when configured to.
const VIA_TOKEN: &str = "1.1 strainer";

/// Forwards `request` (absolute-form URI: `http://host/path` or, from a decrypted tunnel, `https://…`) and
/// returns the response for the browser. Never fails: every failure becomes an error page.
pub async fn forward(
    state: Arc<State>,
    ctx: RequestContext,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let mut log = ctx.start_log(&state, &request);
    let Some(host) = target_host(request.uri()) else {
        return log
            .answer(Failure::BadRequest("the request has no http(s) URL with a host".to_owned()).response());
    };

    let rules = state.rules.current();
    let decision = rules.host_decision(&host);
    if let HostDecision::Block(rule) = &decision {
        log.mode = Mode::Blocked;
        return log.answer(respond::blocked(&host, rule.as_str(), is_navigation(request.headers())));
    }
    if let Some(answer) = rules.filters.as_ref().and_then(|filters| filtered(filters, &request, &host)) {
        log.mode = Mode::Blocked;
        return log.answer(answer);
    }
    let rewrite_allowed = decision == HostDecision::Normal;
    if rewrite_allowed && request.method() == Method::GET && is_navigation(request.headers()) {
        let url = request.uri().to_string();
        let site = referer_host(request.headers()).unwrap_or_else(|| host.clone());
        if let Some(clean) = rules.links.clean(&url, Some(&site)).filter(|clean| clean.url != url) {
            log.report.links_cleaned = 1;
            log.report.hits_by_rule = clean.rules.iter().map(|rule| (rule.clone(), 1)).collect();
            return log.answer(respond::redirect(&clean.url));
        }
    }

    let method = request.method().clone();
    let client_accepts_gzip = accepts_gzip(request.headers());
    let upstream = match send(&state, request, &host).await {
        Ok(upstream) => upstream,
        Err(failure) => {
            log.fail(&failure);
            return log.answer(failure.response());
        }
    };
    log.upstream_answered();
    let mut response = body::respond(
        upstream,
        ResponseContext {
            method,
            site: host,
            rewrite_allowed,
            client_accepts_gzip,
            rules,
            budget: state.rewrite_budget.clone(),
        },
        &state.config.limits,
        state.config.response_encoding,
        log,
    )
    .await;
    if state.config.via {
        response.headers_mut().append(VIA, HeaderValue::from_static(VIA_TOKEN));
    }
    response
}

/// The answer to a request the filter lists block (see [`respond::filtered`]), or `None` to let it through. The
/// request type comes from `Sec-Fetch-Dest` (else navigation or `Accept`), the page from the `Referer`.
fn filtered(filters: &FilterLists, request: &Request<Incoming>, host: &str) -> Option<Response<ProxyBody>> {
    let url = request.uri().to_string();
    let headers = request.headers();
    let dest = headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok());
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let request_type = crate::filters::request_type(dest, is_navigation(headers), accept);
    let referer = headers.get(http::header::REFERER).and_then(|v| v.to_str().ok());
    let source = if request_type == "document" { &url } else { referer.unwrap_or(&url) };
    let method = request.method().as_str().to_ascii_lowercase();
    let blocked = filters.check(&url, source, request_type, &method)?;
    tracing::debug!(host, list = blocked.list, rule = blocked.rule, "blocked by a filter list");
    Some(respond::filtered(&url, &blocked.list, &blocked.rule, request_type))
}

/// Sends the request upstream with the first-byte timeout; retries once, on a fresh connection, a bodiless
/// idempotent request that met a pooled connection the origin had just closed.
async fn send(state: &State, request: Request<Incoming>, host: &str) -> Result<Response<Incoming>, Failure> {
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    limit_accept_encoding(&mut parts.headers);
    if let Some(value) = host_header(&parts.uri) {
        parts.headers.insert(HOST, value);
    }
    if state.config.via {
        parts.headers.append(VIA, HeaderValue::from_static(VIA_TOKEN));
    }
    // The pool may hold HTTP/2 connections (ALPN); HTTP/1.1 requests work on both, HTTP/2 ones only on h2.
    parts.version = Version::HTTP_11;
    let replayable =
        matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) && body.is_end_stream();
    let retry = replayable.then(|| (parts.method.clone(), parts.uri.clone(), parts.headers.clone()));

    let first = Request::from_parts(parts, body.map_err(client::ClientBodyError).boxed_unsync());
    match call(state, first).await {
        Err(CallError::Client(error)) if retry.is_some() && client::is_stale_connection(&error) => {
            let Some((method, uri, headers)) = retry else {
                return Err(client::classify(&error, host));
            };
            tracing::debug!(host, "retrying on a fresh connection after a stale pooled one");
            let mut again = Request::new(empty_body());
            *again.method_mut() = method;
            *again.uri_mut() = uri;
            *again.headers_mut() = headers;
            call(state, again).await.map_err(|e| e.into_failure(host))
        }
        other => other.map_err(|e| e.into_failure(host)),
    }
}

enum CallError {
    Client(hyper_util::client::legacy::Error),
    Timeout,
}

impl CallError {
    fn into_failure(self, host: &str) -> Failure {
        match self {
            CallError::Client(error) => client::classify(&error, host),
            CallError::Timeout => Failure::FirstByteTimeout { host: host.to_owned() },
        }
    }
}

async fn call(state: &State, request: Request<UpstreamBody>) -> Result<Response<Incoming>, CallError> {
    match tokio::time::timeout(state.config.limits.first_byte_timeout, state.client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(CallError::Client(error)),
        Err(_) => Err(CallError::Timeout),
    }
}

fn empty_body() -> UpstreamBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// The host of an `http`/`https` absolute URI, in normal form ([`normalise_host`]).
pub fn target_host(uri: &Uri) -> Option<String> {
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return None,
    }
    let host = normalise_host(uri.host()?).into_owned();
    (!host.is_empty()).then_some(host)
}

/// A top-level page load: `Sec-Fetch-Mode: navigate`, or an `Accept` that asks for HTML.
pub fn is_navigation(headers: &HeaderMap) -> bool {
    let navigate =
        headers.get("sec-fetch-mode").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"));
    navigate
        || headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut fields = item.split(';');
            let coding = fields.next().unwrap_or("").trim();
            let refused = fields.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            coding.eq_ignore_ascii_case("gzip") && !refused
        },
    )
}

/// The host of the `Referer`, i.e. the page a navigation comes from.
fn referer_host(headers: &HeaderMap) -> Option<String> {
    let referer: Uri = headers.get(http::header::REFERER)?.to_str().ok()?.parse().ok()?;
    target_host(&referer)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proxy::headers::test_map as headers;

    #[test]
    fn navigations_are_recognised() {
        assert!(is_navigation(&headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")])));
        assert!(is_navigation(&headers(&[("sec-fetch-mode", "navigate"), ("accept", "*/*")])));
        assert!(!is_navigation(&headers(&[("accept", "image/avif,image/webp,*/*")])));
        assert!(!is_navigation(&headers(&[])));
    }

    #[test]
    fn target_hosts_need_an_http_url() {
        let host = |s: &str| target_host(&s.parse::<Uri>().expect("valid uri"));
        assert_eq!(host("http://News.Test./a?b").as_deref(), Some("news.test"));
        assert_eq!(host("https://news.test:8443/").as_deref(), Some("news.test"));
        assert_eq!(host("http://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(host("/relative"), None);
        assert_eq!(host("ftp://news.test/"), None);
    }

    #[test]
    fn gzip_acceptance_honours_q_zero() {
        assert!(accepts_gzip(&headers(&[("accept-encoding", "gzip, deflate, br")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br, gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[])));
    }
}
