//! WebSocket upgrades (plain, and inside intercepted HTTPS): the upgrade request goes to the origin on a fresh,
//! unpooled HTTP/1.1 connection; the origin's `101` goes back to the browser; then both upgraded connections are
//! spliced byte for byte. Frames are never parsed or rewritten.

use std::sync::Arc;

use http::header::{HeaderValue, CONNECTION, HOST, UPGRADE};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use super::client::{connect_tcp, rustls_cause};
use super::forward::{target_host, RequestContext};
use super::headers::{host_header, strip_hop_by_hop};
use super::relay::splice;
use super::respond::{self, Failure};
use super::{ProxyBody, State};
use crate::config::Config;
use crate::metrics::{Mode, Open};
use crate::rules::HostDecision;
use crate::tls::upstream::{client_config, UpstreamTlsError};

/// Is `request` an HTTP/1.1 WebSocket upgrade (`Connection: upgrade` and `Upgrade: websocket`)?
pub fn is_upgrade<B>(request: &Request<B>) -> bool {
    let connection_upgrade = request
        .headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = request
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket")));
    request.version() == Version::HTTP_11 && connection_upgrade && websocket
}

/// TLS settings towards WebSocket origins: the upstream roots, ALPN `http/1.1` only (upgrades are HTTP/1.1).
pub fn tls_config(config: &Config) -> Result<rustls::ClientConfig, UpstreamTlsError> {
    let mut tls = client_config(&config.upstream_ca)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Relays a WebSocket upgrade to the origin named by the request's absolute URI and splices the two connections
/// after a `101`. Any other answer from the origin is passed back as it is.
pub async fn relay(
    state: Arc<State>,
    ctx: RequestContext,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let mut log = ctx.start_log(&state, &request);
    let uri = request.uri().clone();
    // `target_host` also insists on an http or https URL: a `ws://` target would dodge the host rules.
    let (Some(host), Some(path)) = (target_host(&uri), uri.path_and_query()) else {
        let failure = Failure::BadRequest("a WebSocket upgrade needs an absolute http(s) URL".to_owned());
        log.fail(&failure);
        return log.answer(failure.response());
    };
    if let HostDecision::Block(rule) = state.rules.current().host_decision(&host) {
        log.mode = Mode::Blocked;
        return log.answer(respond::blocked(&host, rule.as_str(), false));
    }
    if let Some(filters) = &state.rules.current().filters {
        // Filter lists name WebSocket targets as `ws://` / `wss://` URLs (`|wss://host^`, `$websocket`).
        let url = uri.to_string().replacen("http", "ws", 1);
        let page = request.headers().get(http::header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or(&url);
        if let Some(blocked) = filters.check_request(&url, page, "websocket") {
            log.mode = Mode::Blocked;
            tracing::debug!(host, list = blocked.list, rule = blocked.rule, "blocked by a filter list");
            return log.answer(respond::blocked(&host, &blocked.rule, false));
        }
    }
    let secure = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });

    let client_upgrade = hyper::upgrade::on(&mut request);
    let mut upstream = Request::new(http_body_util::Empty::<bytes::Bytes>::new());
    *upstream.method_mut() = request.method().clone();
    *upstream.uri_mut() = path.as_str().parse().unwrap_or_default();
    *upstream.headers_mut() = request.headers().clone();
    strip_hop_by_hop(upstream.headers_mut());
    let headers = upstream.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(protocol) = request.headers().get(UPGRADE) {
        headers.insert(UPGRADE, protocol.clone());
    }
    if let Some(value) = host_header(&uri) {
        headers.insert(HOST, value);
    }

    let response = match send(&state, &host, port, secure, upstream).await {
        Ok(response) => response,
        Err(failure) => {
            log.fail(&failure);
            return log.answer(failure.response());
        }
    };
    log.upstream_answered();
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = response.into_parts();
        let body = body.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync();
        return log.answer(Response::from_parts(parts, body));
    }

    let mut response = response;
    let origin_upgrade = hyper::upgrade::on(&mut response);
    let mut switching = Response::new(respond::empty_body());
    *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *switching.headers_mut() = response.headers().clone();
    log.status = StatusCode::SWITCHING_PROTOCOLS.as_u16();
    let idle = state.config.limits.tunnel_idle_timeout;
    let open = state.metrics.open(Open::WebSocket);
    tokio::spawn(
        async move {
            let _slot = ctx.slot;
            let _open = open;
            match tokio::try_join!(client_upgrade, origin_upgrade) {
                Ok((client_io, origin_io)) => {
                    splice(TokioIo::new(client_io), TokioIo::new(origin_io), idle, &mut log, "WebSocket")
                        .await;
                }
                Err(error) => log.fail(format!("WebSocket upgrade failed: {error}")),
            }
        }
        .in_current_span(),
    );
    switching
}

/// Opens a fresh connection (TLS for `secure`) and sends `request` on it with upgrades enabled.
async fn send(
    state: &State,
    host: &str,
    port: u16,
    secure: bool,
    request: Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<Response<Incoming>, Failure> {
    let tcp = connect_tcp(state, host, port).await?;
    if !secure {
        return handshake_and_send(tcp, host, request, state.config.limits.first_byte_timeout).await;
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Failure::BadRequest(format!("{host} is not a valid TLS server name")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&state.websocket_tls));
    let tls =
        match tokio::time::timeout(state.config.limits.connect_timeout, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => return Err(tls_failure(host, &error)),
            Err(_) => return Err(Failure::ConnectTimeout { host: host.to_owned() }),
        };
    handshake_and_send(tls, host, request, state.config.limits.first_byte_timeout).await
}

async fn handshake_and_send<IO>(
    io: IO,
    host: &str,
    request: Request<http_body_util::Empty<bytes::Bytes>>,
    first_byte_timeout: std::time::Duration,
) -> Result<Response<Incoming>, Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let broken =
        |error: hyper::Error| Failure::Unreachable { host: host.to_owned(), detail: error.to_string() };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(broken)?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(error = %error, "WebSocket origin connection ended with an error");
        }
    });
    match tokio::time::timeout(first_byte_timeout, sender.send_request(request)).await {
        Ok(answered) => answered.map_err(broken),
        Err(_) => Err(Failure::FirstByteTimeout { host: host.to_owned() }),
    }
}

/// The failure for a TLS handshake error towards the origin.
fn tls_failure(host: &str, error: &std::io::Error) -> Failure {
    match rustls_cause(error) {
        Some(tls) => Failure::UpstreamTls { host: host.to_owned(), reason: tls.to_string() },
        None => Failure::Unreachable { host: host.to_owned(), detail: error.to_string() },
    }
}
