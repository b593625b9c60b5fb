//! Every response strainer makes up itself, and the one map from failure to status code.
//!
//! Pages are short, readable HTML naming the host and the cause; everything echoed is HTML-escaped. Owns no
//! networking: callers classify what went wrong into a [`Failure`] and get a response back.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PROXY_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};

use super::ProxyBody;

/// Why a request could not be answered by the origin. Each kind maps to one status in [`Failure::status`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The request itself is malformed (no host, bad URI, unsupported form).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The origin's name does not resolve.
    #[error("cannot resolve {host}")]
    Dns {
        /// The origin host.
        host: String,
    },
    /// The origin refused the connection.
    #[error("{host} refused the connection")]
    Refused {
        /// The origin host.
        host: String,
    },
    /// The origin could not be reached or broke the exchange.
    #[error("{host} is unreachable: {detail}")]
    Unreachable {
        /// The origin host.
        host: String,
        /// What failed, for the page and the log.
        detail: String,
    },
    /// Connecting to the origin took too long.
    #[error("connecting to {host} timed out")]
    ConnectTimeout {
        /// The origin host.
        host: String,
    },
    /// The origin accepted the request but sent no response head in time.
    #[error("{host} did not answer in time")]
    FirstByteTimeout {
        /// The origin host.
        host: String,
    },
    /// The origin's TLS certificate or handshake failed verification.
    #[error("the TLS certificate of {host} is not valid: {reason}")]
    UpstreamTls {
        /// The origin host.
        host: String,
        /// What rustls rejected.
        reason: String,
    },
    /// A `CONNECT` inside a decrypted HTTPS session: tunnels nest only through the proxy itself, never through
    /// an origin.
    #[error("CONNECT inside an HTTPS session is not allowed")]
    NestedConnect,
    /// The request would come back to strainer itself.
    #[error("request to {host} loops back to strainer")]
    Loop {
        /// The host that points back at strainer.
        host: String,
    },
}

// === impl Failure ===

impl Failure {
    /// The status code this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Dns { .. }
            | Failure::Refused { .. }
            | Failure::Unreachable { .. }
            | Failure::UpstreamTls { .. } => StatusCode::BAD_GATEWAY,
            Failure::ConnectTimeout { .. } | Failure::FirstByteTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Failure::Loop { .. } => StatusCode::LOOP_DETECTED,
            Failure::NestedConnect => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The error page for this failure.
    pub fn response(&self) -> Response<ProxyBody> {
        let (title, advice) = match self {
            Failure::BadRequest(_) => ("Bad request", "The browser sent a request strainer cannot forward."),
            Failure::Dns { .. } => ("Unknown host", "Check the address; the name does not exist in DNS."),
            Failure::Refused { .. } => {
                ("Connection refused", "The site is down or does not serve on this port.")
            }
            Failure::Unreachable { .. } => ("Site unreachable", "The network path to the site failed."),
            Failure::ConnectTimeout { .. } => {
                ("Connection timed out", "The site did not accept a connection.")
            }
            Failure::FirstByteTimeout { .. } => {
                ("Site too slow", "The site accepted the request but did not answer.")
            }
            Failure::UpstreamTls { .. } => (
                "Untrusted certificate",
                "The site's HTTPS certificate did not verify, so strainer did not connect. It may be \
                 misconfigured or someone may be intercepting the connection.",
            ),
            Failure::Loop { .. } => ("Request loop", "This address points back at strainer itself."),
            Failure::NestedConnect => {
                ("Method not allowed", "Open tunnels through the proxy itself, not inside an HTTPS page.")
            }
        };
        let mut response = html_page(self.status(), title, &self.to_string(), advice);
        if self.status() == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(ALLOWED_INSIDE_HTTPS));
        }
        response
    }
}

/// The methods a decrypted HTTPS session takes: every standard one but `CONNECT`.
const ALLOWED_INSIDE_HTTPS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

/// The 403 answer to a blocked host: a short page for navigations, an empty body for subresources.
pub fn blocked(host: &str, rule: &str, navigation: bool) -> Response<ProxyBody> {
    if !navigation {
        return empty(StatusCode::FORBIDDEN);
    }
    let cause = format!("{host} is blocked by rule {rule}");
    html_page(StatusCode::FORBIDDEN, "Blocked", &cause, "Edit the rule files to unblock this host.")
}

/// A 1×1 transparent GIF: the empty answer to a blocked image.
const EMPTY_GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The answer to a request a filter-list rule blocks: for a navigation (`document`) a 403 page naming the URL,
/// the list and the rule; for a subresource an empty answer of its kind (empty script, stylesheet or frame, a
/// transparent GIF for an image, 204 for anything else), so pages do not wait on it or show broken boxes.
pub fn filtered(url: &str, list: &str, rule: &str, request_type: &str) -> Response<ProxyBody> {
    let content_type = match request_type {
        "document" => {
            let cause = format!("{url} is blocked by the rule {rule} of {list}");
            let advice =
                "Add an @@ exception to a list in rules/filters/, or remove the list, to let it through.";
            return html_page(StatusCode::FORBIDDEN, "Blocked by a filter list", &cause, advice);
        }
        "script" => "text/javascript",
        "stylesheet" => "text/css",
        "sub_frame" => "text/html; charset=utf-8",
        "image" => "image/gif",
        _ => return empty(StatusCode::NO_CONTENT),
    };
    let body: &'static [u8] = if request_type == "image" { EMPTY_GIF } else { b"" };
    ok(content_type, Bytes::from_static(body))
}

/// The 407 answer to a request without accepted proxy credentials, asking for `Basic` ones.
pub fn proxy_auth_required() -> Response<ProxyBody> {
    let mut response = html_page(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "Proxy login required",
        "this strainer proxy needs a user name and password",
        "Enter the credentials its administrator gave you.",
    );
    response
        .headers_mut()
        .insert(PROXY_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"strainer\", charset=\"UTF-8\""));
    response
}

/// A temporary redirect (307, method and body kept) to `location`.
pub fn redirect(location: &str) -> Response<ProxyBody> {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = empty(StatusCode::TEMPORARY_REDIRECT);
            response.headers_mut().insert(LOCATION, value);
            response
        }
        Err(_) => Failure::BadRequest("cleaned URL is not a valid header".to_owned()).response(),
    }
}

/// The `200` that opens a CONNECT tunnel (no body: the connection is handed over after it).
pub fn connect_established() -> Response<ProxyBody> {
    empty(StatusCode::OK)
}

/// 404 for an unknown path on strainer's own pages.
pub fn not_found(path: &str) -> Response<ProxyBody> {
    let cause = format!("strainer has no page at {path}");
    let advice = format!("Start at {}.", super::local::LOCAL_URL);
    html_page(StatusCode::NOT_FOUND, "Not found", &cause, &advice)
}

/// A complete `200 OK` response with `content_type` and `body`, never cached.
pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(full(body.into()));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A body with no bytes.
pub fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

fn empty(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(empty_body());
    *response.status_mut() = status;
    response
}

/// A short HTML page; `title`, `cause` and `advice` are escaped here.
fn html_page(status: StatusCode, title: &str, cause: &str, advice: &str) -> Response<ProxyBody> {
    let title = html_escape::encode_text(title);
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} - strainer</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}}\
         small{{color:#666}}</style></head>\n<body><h1>{title}</h1><p>{cause}</p><p>{advice}</p>\
         <p><small>{status} &middot; strainer</small></p></body></html>\n",
        cause = html_escape::encode_text(cause),
        advice = html_escape::encode_text(advice),
        status = status.as_u16(),
    );
    let mut response = ok("text/html; charset=utf-8", page);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_documented_statuses() {
        let host = || "news.test".to_owned();
        assert_eq!(Failure::Dns { host: host() }.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(Failure::Refused { host: host() }.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(Failure::ConnectTimeout { host: host() }.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(Failure::FirstByteTimeout { host: host() }.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(Failure::Loop { host: host() }.status(), StatusCode::LOOP_DETECTED);
        assert_eq!(Failure::BadRequest("x".into()).status(), StatusCode::BAD_REQUEST);
        let nested = Failure::NestedConnect;
        assert_eq!(nested.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(nested.response().headers().get(ALLOW).is_some_and(|v| !v.as_bytes().is_empty()));
    }

    #[tokio::test]
    async fn pages_escape_what_they_echo() {
        let response = Failure::Dns { host: "<script>x</script>".to_owned() }.response();
        let body = response.into_body().collect().await.expect("full body").to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("&lt;script&gt;x&lt;/script&gt;"), "{text}");
        assert!(!text.contains("<script>"), "{text}");
    }
}
