//! `CONNECT`: a blind tunnel, or man-in-the-middle interception that serves the decrypted requests through the
//! same handler as plain HTTP.
//!
//! Decision per CONNECT: a `block` host rule → 403 on ports not intercepted, and on interception ports the TLS is
//! intercepted so that every request inside gets the readable block answer (browsers never show a CONNECT's own
//! error page) while non-TLS bytes for the host are refused; a host exempt from MITM (`pass` rules) or a port not
//! configured for interception (default: only 443) → blind tunnel to the origin (`mode=tunnel`, one log event when it closes);
//! otherwise → answer 200, read the first byte: TLS → handshake with a leaf for the SNI name (else the CONNECT host)
//! under one deadline, then HTTP/1.1 or HTTP/2 (by ALPN) on the decrypted stream with scheme `https`
//! (`mode=mitm`); anything else → blind tunnel. Extended CONNECT (RFC 8441) stays off, so browsers run WebSockets
//! over HTTP/1.1, which [`super::websocket`] relays.
//!
//! Shutdown: decrypted sessions are tracked in `State::sessions` ([`super::drain`]): told to stop taking requests,
//! they finish the ones in flight within the grace period. Blind tunnels carry opaque bytes and are cut when the
//! process exits.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tracing::Instrument;

use super::client::connect_tcp;
use super::forward::RequestContext;
use super::log::RequestLog;
use super::relay::{splice, Activity, Watched};
use super::respond::{self, Failure};
use super::{dispatch, ProxyBody, State};
use crate::metrics::{Mode, Open};
use crate::rules::HostDecision;
use crate::tls::accept::accept;
use crate::url_host::normalise_host;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Answers a `CONNECT` request: 403 (blocked), an error page (bad target, origin unreachable for a tunnel), or
/// 200 followed by a tunnel or interception on the upgraded connection.
pub async fn handle(
    state: Arc<State>,
    ctx: RequestContext,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let client = ctx.client;
    let Some(target) = Target::of(request.uri()) else {
        let mut log =
            RequestLog::start(state.metrics.clone(), client, request.method(), request.uri(), false);
        let failure = Failure::BadRequest("CONNECT needs a host:port target".to_owned());
        log.fail(&failure);
        return log.answer(failure.response());
    };
    let rules = state.rules.current();
    let decision = rules.host_decision(&target.host);
    let interception_port = state.config.mitm_ports.contains(&target.port);
    let intercept = match &decision {
        // Requests decrypted from the tunnel meet the same block rule in `forward` and get its page.
        HostDecision::Block(_) if interception_port => true,
        HostDecision::Block(rule) => {
            let mut log = target.log(&state, client, &request);
            log.mode = Mode::Blocked;
            return log.answer(respond::blocked(&target.host, rule.as_str(), true));
        }
        HostDecision::Tunnel(_) => false,
        HostDecision::NoRewrite(_) | HostDecision::Normal => interception_port,
    };
    if intercept {
        tracing::debug!(host = %target.host, port = target.port, "CONNECT intercepted");
        let sessions = state.sessions.clone();
        let upgrade = hyper::upgrade::on(request);
        sessions.spawn(intercept_upgraded(state, ctx, target, upgrade).in_current_span());
        return respond::connect_established();
    }

    let mut log = target.log(&state, client, &request);
    log.mode = Mode::Tunnel;
    let origin = match connect_tcp(&state, &target.host, target.port).await {
        Ok(origin) => origin,
        Err(failure) => {
            log.fail(&failure);
            return log.answer(failure.response());
        }
    };
    log.status = StatusCode::OK.as_u16();
    let upgrade = hyper::upgrade::on(request);
    let idle = state.config.limits.tunnel_idle_timeout;
    let open = state.metrics.open(Open::Tunnel);
    tokio::spawn(
        async move {
            let _slot = ctx.slot;
            let _open = open;
            match upgrade.await {
                Ok(upgraded) => splice(TokioIo::new(upgraded), origin, idle, &mut log, "tunnel").await,
                Err(error) => log.fail(format!("CONNECT upgrade failed: {error}")),
            }
        }
        .in_current_span(),
    );
    respond::connect_established()
}

/// Where a CONNECT goes.
#[derive(Clone, Debug)]
struct Target {
    /// The host in normal form (lower-cased, without brackets or trailing dot).
    host: String,
    port: u16,
    /// The authority for `https://` URIs of decrypted requests (`host`, or `host:port` off 443).
    authority: Authority,
}

impl Target {
    fn of(uri: &Uri) -> Option<Self> {
        let authority = uri.authority()?;
        let port = authority.port_u16()?;
        let host = normalise_host(authority.host()).into_owned();
        if host.is_empty() || port == 0 {
            return None;
        }
        let host_part = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let text = if port == 443 { host_part } else { format!("{host_part}:{port}") };
        let authority = Authority::try_from(text).ok()?;
        Some(Self { host, port, authority })
    }

    fn log(&self, state: &State, client: SocketAddr, request: &Request<Incoming>) -> RequestLog {
        let mut log =
            RequestLog::start(state.metrics.clone(), client, request.method(), request.uri(), false);
        log.scheme = "https";
        log.host.clone_from(&self.host);
        log.path = String::new();
        log
    }
}

/// Runs on the connection after the 200: TLS → interception; anything else → blind tunnel.
async fn intercept_upgraded(
    state: Arc<State>,
    ctx: RequestContext,
    target: Target,
    upgrade: hyper::upgrade::OnUpgrade,
) {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(host = %target.host, error = %error, "CONNECT upgrade failed");
            return;
        }
    };
    let deadline = Instant::now() + state.config.limits.tls_handshake_timeout;
    let mut io = TokioIo::new(upgraded);
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, io.read(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) => return,
        Ok(Err(error)) => {
            tracing::debug!(host = %target.host, error = %error, "client closed the tunnel");
            return;
        }
        Err(_) => {
            tracing::warn!(host = %target.host, reason = "no data before the handshake deadline", "TLS handshake with the client failed");
            return;
        }
    }
    let io = Prefixed { first: Some(first[0]), inner: io };
    if first[0] != TLS_HANDSHAKE_RECORD {
        tunnel_not_tls(&state, ctx.client, &target, io).await;
        return;
    }
    let accepted = match accept(io, &state.leaf_certs, &target.host, deadline).await {
        Ok(accepted) => accepted,
        Err(error) => {
            tracing::warn!(host = %target.host, reason = %error, "TLS handshake with the client failed");
            return;
        }
    };
    tracing::debug!(
        host = %target.host,
        sni = %accepted.host,
        alpn = %String::from_utf8_lossy(accepted.alpn.as_deref().unwrap_or_default()),
        "TLS intercepted"
    );
    serve_decrypted(state, ctx, target, accepted.stream).await;
}

/// Serves HTTP/1.1 or HTTP/2 (by the client's preface) on a decrypted stream; every request goes through
/// [`dispatch`] as `https://` to the tunnel's authority.
async fn serve_decrypted<IO>(state: Arc<State>, ctx: RequestContext, target: Target, stream: IO)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let _open = state.metrics.open(Open::MitmSession);
    let stopping = state.sessions.stopping();
    let idle = state.config.limits.tunnel_idle_timeout;
    let max_header_bytes = state.config.limits.max_header_bytes;
    let max_headers = state.config.limits.max_headers;
    let authority = target.authority.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let ctx = RequestContext { mode: Mode::Mitm, ..ctx.clone() };
        let uri = https_uri(&authority, request.uri());
        async move {
            let Some(uri) = uri else {
                let failure = Failure::BadRequest("the request target is not a path".to_owned());
                return Ok::<_, Infallible>(failure.response());
            };
            *request.uri_mut() = uri;
            Ok(dispatch(state, ctx, request).await)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .max_buf_size(max_header_bytes)
        .max_headers(max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    // A session silent both ways for the tunnel idle limit is closed like one at shutdown: it holds a connection
    // slot, and HTTP/2 sessions have no idle limit of their own.
    let activity = Activity::new();
    let stream = Watched::new(stream, activity.clone());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let stop = async {
        tokio::select! {
            () = stopping.cancelled() => "shutdown",
            () = activity.silence(idle) => "idle",
        }
    };
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        reason = stop => {
            tracing::debug!(host = %target.host, reason, "closing intercepted session after its requests");
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(host = %target.host, error = %error, "intercepted connection ended with an error");
    }
}

/// A client that sent something other than TLS on an interception port: tunnel it to the origin untouched.
async fn tunnel_not_tls(state: &State, client: SocketAddr, target: &Target, io: Prefixed<TokioIo<Upgraded>>) {
    let mut log = RequestLog::start(
        state.metrics.clone(),
        client,
        &http::Method::CONNECT,
        &Uri::from(target.authority.clone()),
        false,
    );
    log.host.clone_from(&target.host);
    if let HostDecision::Block(rule) = state.rules.current().host_decision(&target.host) {
        // Not TLS, so no page can be shown: the connection is closed.
        log.mode = Mode::Blocked;
        log.status = StatusCode::FORBIDDEN.as_u16();
        tracing::debug!(host = %target.host, rule = %rule.as_str(), "non-TLS bytes to a blocked host refused");
        return;
    }
    log.mode = Mode::Tunnel;
    log.status = StatusCode::OK.as_u16();
    match connect_tcp(state, &target.host, target.port).await {
        Ok(origin) => {
            let _open = state.metrics.open(Open::Tunnel);
            splice(io, origin, state.config.limits.tunnel_idle_timeout, &mut log, "tunnel").await;
        }
        Err(failure) => log.fail(failure),
    }
}

/// The absolute `https://` URI of a request decrypted from a tunnel to `authority`. The tunnel's authority wins
/// over `Host` / `:authority`: it is the name the browser verified the certificate for.
fn https_uri(authority: &Authority, uri: &Uri) -> Option<Uri> {
    let path = uri.path_and_query().cloned().or_else(|| "/".parse().ok())?;
    Uri::builder().scheme(Scheme::HTTPS).authority(authority.clone()).path_and_query(path).build().ok()
}

/// A stream with one byte already read from it put back in front.
struct Prefixed<IO> {
    first: Option<u8>,
    inner: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(byte) = self.first {
            if buf.remaining() > 0 {
                buf.put_slice(&[byte]);
                self.first = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_need_host_and_port() {
        let target = |s: &str| Target::of(&s.parse::<Uri>().expect("valid uri"));
        let t = target("News.Test.:443").expect("valid");
        assert_eq!((t.host.as_str(), t.port, t.authority.as_str()), ("news.test", 443, "news.test"));
        let t = target("[::1]:8443").expect("valid");
        assert_eq!((t.host.as_str(), t.authority.as_str()), ("::1", "[::1]:8443"));
        assert!(target("news.test").is_none());
        assert!(target("news.test:0").is_none());
    }

    #[test]
    fn decrypted_requests_get_the_tunnel_authority() {
        let authority = Authority::from_static("news.test");
        let uri = |s: &str| https_uri(&authority, &s.parse::<Uri>().expect("valid uri")).expect("uri");
        assert_eq!(uri("/a?b=c").to_string(), "https://news.test/a?b=c");
        assert_eq!(uri("https://other.test/x").to_string(), "https://news.test/x");
    }
}
