//! Response bodies on their way to the browser: HTML is decoded, rewritten chunk by chunk and sent on; everything
//! else streams through byte for byte. The only call site of the rewrite engine.
//!
//! Memory per response is bounded: one upstream chunk, the decoder's window and the engine's own caps.

use std::io;
use std::sync::Arc;

use async_compression::tokio::write::GzipEncoder;
use async_compression::Level;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::response::Parts;
use http::{Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

use super::budget::{self, Reservation, RewriteBudget};
use super::decode::{self, OriginBody};
use super::headers::strip_hop_by_hop;
use super::log::RequestLog;
use super::{BoxError, ProxyBody};
use crate::config::{Limits, ResponseEncoding};
use crate::csp;
use crate::filters::survey::Survey;
use crate::rewrite::{RewriteOptions, Rewriter};
use crate::rules::RuleSet;

/// What the forwarder knows about the request when the response head arrives.
pub struct ResponseContext {
    /// The request method (HEAD responses have no body).
    pub method: Method,
    /// The page's host, for rule scopes.
    pub site: String,
    /// Host rules allow rewriting this host.
    pub rewrite_allowed: bool,
    /// The browser's `Accept-Encoding` offered gzip.
    pub client_accepts_gzip: bool,
    /// The rules snapshot taken for this request.
    pub rules: Arc<RuleSet>,
    /// The global rewrite memory budget; a response that finds it spent passes through unfiltered.
    pub budget: Arc<RewriteBudget>,
}

/// Headers that vouch for the exact bytes of a body, wrong once it is rewritten.
const DIGEST_HEADERS: [&str; 4] = ["content-md5", "digest", "content-digest", "repr-digest"];

/// Turns the origin's response into the browser's: rewrites HTML, streams the rest. `log` is emitted when the
/// body ends.
pub async fn respond(
    upstream: Response<Incoming>,
    ctx: ResponseContext,
    limits: &Limits,
    encoding: ResponseEncoding,
    mut log: RequestLog,
) -> Response<ProxyBody> {
    let (mut parts, incoming) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    log.status = parts.status.as_u16();
    log.content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let origin = OriginBody::new(incoming, limits.idle_timeout, log.bytes_in.clone()).boxed();

    let codings = decode::codings(&parts.headers);
    let rewrite = match codings {
        Some(codings) if should_rewrite(&ctx.method, &parts, ctx.rewrite_allowed) => {
            // Reserved before the rewriter exists, given back when it is finished or dropped.
            ctx.budget.try_reserve(budget::per_response(limits)).map(|reservation| (codings, reservation))
        }
        _ => None,
    };
    let pipeline = match rewrite {
        None => {
            let declared = if has_no_body(&ctx.method, parts.status) {
                Some(0)
            } else {
                parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok())
            };
            Pipeline::new(origin, None, None, log).with_declared_length(declared)
        }
        Some((codings, reservation)) => {
            let inject_styles = csp_allows_inline_styles(&parts.headers);
            // Generic class/id hiding rules of the filter lists: a survey of the page, its style appended at the end.
            let survey = match &ctx.rules.filters {
                Some(filters)
                    if inject_styles && is_text_html(&parts.headers) && !is_utf16(&parts.headers) =>
                {
                    filters.survey(&ctx.site)
                }
                _ => None,
            };
            let options = RewriteOptions {
                site: Some(ctx.site.clone()),
                header_charset: header_charset(&parts.headers),
                hold_cap: limits.hold_cap,
                memory_limit: limits.rewrite_memory,
                inject_styles,
                extra_css: ctx.rules.filters.as_ref().map(|f| f.stylesheet(&ctx.site)).unwrap_or_default(),
                explain: false,
                record_hits: false,
            };
            let gzip = encoding == ResponseEncoding::Gzip && ctx.client_accepts_gzip;
            prepare_rewritten_headers(&mut parts.headers, !codings.is_empty(), gzip);
            let decoded = decode::decode(origin, &codings).await;
            log.rewritten = true;
            let encoder = gzip.then(|| GzipEncoder::with_quality(Vec::new(), Level::Fastest));
            // With filter lists, the site's stream selectors join the rules for this page.
            let rules = match &ctx.rules.filters {
                Some(filters) => filters.rules_for(&ctx.rules, &ctx.site),
                None => ctx.rules,
            };
            Pipeline::new(decoded, Some(Rewriter::new(rules, options)), encoder, log)
                .with_reservation(reservation)
                .with_survey(survey)
        }
    };
    let frames = pipeline.into_stream().map_ok(Frame::data).map_err(BoxError::from);
    let body = StreamBody::new(frames).boxed_unsync();
    Response::from_parts(parts, body)
}

/// Is this response an HTML body strainer may rewrite?
fn should_rewrite(method: &Method, parts: &Parts, rewrite_allowed: bool) -> bool {
    let status = parts.status;
    let no_body = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT;
    rewrite_allowed
        && !no_body
        && is_html(&parts.headers)
        && !is_attachment(&parts.headers)
        && !no_transform(&parts.headers)
}

/// Responses that carry no body whatever their headers say.
fn has_no_body(method: &Method, status: StatusCode) -> bool {
    *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

fn is_html(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html") || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// `text/html` itself (not XHTML, which must end with its root element).
fn is_text_html(headers: &HeaderMap) -> bool {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/html")
}

/// Declared UTF-16 (an ASCII style appended to it would be garbage).
fn is_utf16(headers: &HeaderMap) -> bool {
    header_charset(headers).is_some_and(|c| c.to_ascii_lowercase().starts_with("utf-16"))
}

fn is_attachment(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().get(..10).is_some_and(|kind| kind.eq_ignore_ascii_case("attachment")))
}

fn no_transform(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-transform"))
}

/// The `charset` parameter of `Content-Type`, unquoted.
fn header_charset(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Does every enforced CSP header allow inline `<style>`? (See [`csp::allows_inline_style`].)
fn csp_allows_inline_styles(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .all(|value| value.to_str().is_ok_and(csp::allows_inline_style))
}

/// Header edits for a rewritten body: no length, no byte digests, no ranges, a weak validator, and the new
/// content coding.
fn prepare_rewritten_headers(headers: &mut HeaderMap, decoded: bool, gzip: bool) {
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_RANGES);
    for name in DIGEST_HEADERS {
        headers.remove(name);
    }
    if decoded {
        headers.remove(header::CONTENT_ENCODING);
    }
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
        if !etag.starts_with("W/") {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                headers.insert(header::ETAG, weak);
            }
        }
    }
}

// === impl Pipeline ===

/// The body stream towards the browser: source → (rewriter) → (encoder), counting bytes out. Dropping it ends
/// the request's log record.
struct Pipeline {
    source: BoxStream<'static, io::Result<Bytes>>,
    rewriter: Option<Rewriter>,
    encoder: Option<GzipEncoder<Vec<u8>>>,
    log: RequestLog,
    done: bool,
    /// The `Content-Length` sent to the browser: hyper stops polling once it has that many bytes.
    declared_length: Option<u64>,
    /// The rewriter's share of the rewrite budget, given back as soon as the rewriter is finished.
    reservation: Option<Reservation>,
    /// The filter lists' survey of the page's classes and ids; its `<style>` goes after the last byte.
    survey: Option<Survey>,
}

impl Pipeline {
    fn new(
        source: BoxStream<'static, io::Result<Bytes>>,
        rewriter: Option<Rewriter>,
        encoder: Option<GzipEncoder<Vec<u8>>>,
        log: RequestLog,
    ) -> Self {
        Self {
            source,
            rewriter,
            encoder,
            log,
            done: false,
            declared_length: None,
            reservation: None,
            survey: None,
        }
    }

    fn with_survey(mut self, survey: Option<Survey>) -> Self {
        self.survey = survey;
        self
    }

    fn with_reservation(mut self, reservation: Reservation) -> Self {
        self.reservation = Some(reservation);
        self
    }

    fn with_declared_length(mut self, length: Option<u64>) -> Self {
        self.declared_length = length;
        self
    }

    fn into_stream(self) -> BoxStream<'static, io::Result<Bytes>> {
        stream::unfold(self, |mut pipeline| async move {
            let item = pipeline.next_chunk().await?;
            Some((item, pipeline))
        })
        .boxed()
    }

    /// The next non-empty output chunk; `None` at the end.
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        while !self.done {
            let output = match self.source.next().await {
                Some(Ok(chunk)) => match &mut self.rewriter {
                    Some(rewriter) => {
                        let started = std::time::Instant::now();
                        let output = rewriter.write(&chunk);
                        *self.log.engine.get_or_insert_default() += started.elapsed();
                        if let Some(survey) = &mut self.survey {
                            survey.feed(&output);
                        }
                        output
                    }
                    None => chunk,
                },
                Some(Err(error)) => return Some(Err(self.failed(error))),
                None => {
                    self.done = true;
                    match self.rewriter.take() {
                        Some(rewriter) => {
                            let started = std::time::Instant::now();
                            let (tail, report) = rewriter.finish();
                            *self.log.engine.get_or_insert_default() += started.elapsed();
                            self.reservation = None;
                            self.log.report = report;
                            self.append_survey_style(tail)
                        }
                        None => Bytes::new(),
                    }
                }
            };
            match self.encode(output).await {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => {
                    self.log.bytes_out += bytes.len() as u64;
                    return Some(Ok(bytes));
                }
                Err(error) => return Some(Err(self.failed(error))),
            }
        }
        None
    }

    /// `tail` (the end of the rewritten page) with the survey's `<style>` after it, if there is one.
    fn append_survey_style(&mut self, tail: Bytes) -> Bytes {
        let Some(mut survey) = self.survey.take() else {
            return tail;
        };
        survey.feed(&tail);
        match survey.finish() {
            Some(style) => [&tail[..], style.as_bytes()].concat().into(),
            None => tail,
        }
    }

    /// Passes `output` through the encoder, if any; flushes so the browser sees every batch at once.
    async fn encode(&mut self, output: Bytes) -> io::Result<Bytes> {
        let Some(encoder) = &mut self.encoder else {
            return Ok(output);
        };
        encoder.write_all(&output).await?;
        if self.done {
            encoder.shutdown().await?;
        } else if !output.is_empty() {
            encoder.flush().await?;
        }
        Ok(Bytes::from(std::mem::take(encoder.get_mut())))
    }

    fn failed(&mut self, error: io::Error) -> io::Error {
        self.done = true;
        self.log.fail(&error);
        error
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let complete = self.done || self.declared_length == Some(self.log.bytes_out);
        if !complete {
            self.log.fail("client closed the connection before the body ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proxy::headers::test_map as headers;

    #[test]
    fn only_html_without_opt_outs_is_rewritten() {
        let parts = |status: u16, pairs: &[(&'static str, &'static str)]| {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
            *response.headers_mut() = headers(pairs);
            response.into_parts().0
        };
        let html = [("content-type", "text/html; charset=utf-8")];
        assert!(should_rewrite(&Method::GET, &parts(200, &html), true));
        assert!(should_rewrite(
            &Method::GET,
            &parts(200, &[("content-type", "application/xhtml+xml")]),
            true
        ));
        assert!(!should_rewrite(&Method::GET, &parts(200, &html), false));
        assert!(!should_rewrite(&Method::HEAD, &parts(200, &html), true));
        assert!(!should_rewrite(&Method::GET, &parts(206, &html), true));
        assert!(!should_rewrite(&Method::GET, &parts(304, &html), true));
        assert!(!should_rewrite(&Method::GET, &parts(200, &[("content-type", "application/json")]), true));
        let attachment =
            [("content-type", "text/html"), ("content-disposition", "Attachment; filename=x.html")];
        assert!(!should_rewrite(&Method::GET, &parts(200, &attachment), true));
        let no_transform = [("content-type", "text/html"), ("cache-control", "public, No-Transform")];
        assert!(!should_rewrite(&Method::GET, &parts(200, &no_transform), true));
    }

    #[test]
    fn charset_comes_from_content_type() {
        assert_eq!(
            header_charset(&headers(&[("content-type", "text/html; Charset=\"windows-1252\"")])).as_deref(),
            Some("windows-1252")
        );
        assert_eq!(header_charset(&headers(&[("content-type", "text/html")])), None);
    }

    #[test]
    fn csp_decides_inline_style_injection() {
        assert!(csp_allows_inline_styles(&headers(&[])));
        assert!(csp_allows_inline_styles(&headers(&[("content-security-policy", "script-src 'self'")])));
        assert!(!csp_allows_inline_styles(&headers(&[("content-security-policy", "default-src 'self'")])));
        assert!(csp_allows_inline_styles(&headers(&[(
            "content-security-policy",
            "style-src 'self' 'unsafe-inline'"
        )])));
        assert!(!csp_allows_inline_styles(&headers(&[(
            "content-security-policy",
            "style-src 'unsafe-inline' 'nonce-abc'"
        )])));
        assert!(!csp_allows_inline_styles(&headers(&[(
            "content-security-policy",
            "default-src *; style-src-elem 'self'"
        )])));
    }

    #[test]
    fn rewritten_headers_lose_length_digests_and_strong_etag() {
        let mut map = headers(&[
            ("content-length", "10"),
            ("content-encoding", "gzip"),
            ("etag", "\"abc\""),
            ("digest", "sha-256=x"),
            ("content-md5", "x"),
            ("accept-ranges", "bytes"),
        ]);
        prepare_rewritten_headers(&mut map, true, false);
        assert_eq!(map.len(), 1, "{map:?}");
        assert_eq!(map.get(header::ETAG).map(|v| v.as_bytes()), Some(&b"W/\"abc\""[..]));
    }
}
