//! The pooled upstream client (HTTP and HTTPS origins), its resolver with `resolve` overrides, and the guard
//! that refuses connections back to strainer's own listener.
//!
//! Also classifies client errors into [`Failure`]s by walking the error's source chain (never by matching text).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower_service::Service;

use super::respond::Failure;
use crate::config::Config;
use crate::tls::upstream::{client_config, UpstreamTlsError};
use crate::url_host::normalise_host;

/// The body type of requests sent upstream; a client's body that breaks fails with [`ClientBodyError`].
pub type UpstreamBody = UnsyncBoxBody<Bytes, ClientBodyError>;

/// The client's request body broke while strainer forwarded it (bad chunked framing, an early close): the
/// client's fault, never the origin's.
#[derive(Debug, thiserror::Error)]
#[error("the request body from the client is malformed or incomplete: {0}")]
pub struct ClientBodyError(#[source] pub hyper::Error);

/// The shared upstream client: pooled, HTTP/1.1 and HTTP/2 (by ALPN), verifying TLS.
pub type UpstreamClient = Client<HttpsConnector<LoopGuard>, UpstreamBody>;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections kept per origin.
const POOL_MAX_IDLE_PER_HOST: usize = 16;

/// The TCP connector to origins for a proxy listening on `listen`: `resolve` overrides, connect timeout, loop guard.
pub fn tcp_connector(config: &Config, listen: SocketAddr) -> LoopGuard {
    let mut http =
        HttpConnector::new_with_resolver(OverrideResolver { overrides: Arc::new(config.resolve.clone()) });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.limits.connect_timeout));
    LoopGuard { inner: http, listen }
}

/// Builds the pooled upstream client over `guarded` (see [`tcp_connector`]).
pub fn build(config: &Config, guarded: LoopGuard) -> Result<UpstreamClient, UpstreamTlsError> {
    let tls = client_config(&config.upstream_ca)?;
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(guarded);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .build(https))
}

/// Opens a plain TCP connection to `host:port` (tunnels, WebSockets) with the client's resolver, connect timeout
/// and loop guard.
pub async fn connect_tcp(state: &super::State, host: &str, port: u16) -> Result<TcpStream, Failure> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let uri: Uri = format!("http://{authority}/")
        .parse()
        .map_err(|_| Failure::BadRequest(format!("{authority} is not a valid address")))?;
    let mut connector = state.connector.clone();
    match connector.call(uri).await {
        Ok(stream) => Ok(stream.into_inner()),
        Err(error) => Err(classify_chain(Some(error.as_ref()), host, error.to_string())),
    }
}

/// Classifies an upstream client error for the error page and the log.
pub fn classify(error: &hyper_util::client::legacy::Error, host: &str) -> Failure {
    let detail = match error.source() {
        Some(inner) => inner.to_string(),
        None => error.to_string(),
    };
    classify_chain(error.source(), host, detail)
}

/// Walks an error's source chain (starting at `source`) for a known cause, outermost first (so a client's broken
/// body is its own error whatever it wraps); `Unreachable` with `detail` otherwise.
fn classify_chain(mut source: Option<&(dyn StdError + 'static)>, host: &str, detail: String) -> Failure {
    let host = host.to_owned();
    while let Some(err) = source {
        if let Some(client_body) = err.downcast_ref::<ClientBodyError>() {
            return Failure::BadRequest(client_body.to_string());
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Failure::UpstreamTls { host, reason: tls.to_string() };
        }
        if err.downcast_ref::<LoopDetected>().is_some() {
            return Failure::Loop { host };
        }
        if err.downcast_ref::<ResolveFailed>().is_some() {
            return Failure::Dns { host };
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(tls) = rustls_cause(io) {
                return Failure::UpstreamTls { host, reason: tls.to_string() };
            }
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Failure::Refused { host },
                io::ErrorKind::TimedOut => return Failure::ConnectTimeout { host },
                _ => {}
            }
        }
        source = err.source();
    }
    Failure::Unreachable { host, detail }
}

/// The rustls error inside `error`, if any. TLS errors travel inside (possibly nested) `io::Error`s, whose
/// `source` skips the wrapped error itself.
pub fn rustls_cause(error: &io::Error) -> Option<&rustls::Error> {
    let mut inner = error.get_ref()?;
    loop {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        inner = inner.downcast_ref::<io::Error>()?.get_ref()?;
    }
}

/// Was this a pooled connection the origin closed just as we reused it (safe to retry an idempotent request)?
pub fn is_stale_connection(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(err) = source {
        if let Some(hyper_err) = err.downcast_ref::<hyper::Error>() {
            return hyper_err.is_incomplete_message() || hyper_err.is_canceled();
        }
        source = err.source();
    }
    false
}

// === impl OverrideResolver ===

/// Resolves names from the `resolve` settings first, then with the system resolver.
#[derive(Clone, Debug)]
pub struct OverrideResolver {
    overrides: Arc<BTreeMap<String, IpAddr>>,
}

/// The name did not resolve (the resolver error of [`OverrideResolver`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {name}: {source}")]
pub struct ResolveFailed {
    name: String,
    source: io::Error,
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, ResolveFailed>> + Send>>;

impl Service<Name> for OverrideResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveFailed;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let key = normalise_host(name.as_str()).into_owned();
        if let Some(ip) = self.overrides.get(&key) {
            let addrs = vec![SocketAddr::new(*ip, 0)];
            return Box::pin(async move { Ok(addrs.into_iter()) });
        }
        let mut system = GaiResolver::new();
        Box::pin(async move {
            let failed = |source| ResolveFailed { name: key.clone(), source };
            let addrs: Vec<SocketAddr> = system.call(name).await.map_err(failed)?.collect();
            if addrs.is_empty() {
                return Err(failed(io::Error::new(io::ErrorKind::NotFound, "no addresses")));
            }
            Ok(addrs.into_iter())
        })
    }
}

// === impl LoopGuard ===

/// Wraps the TCP connector and refuses a connection that reached strainer's own listener.
#[derive(Clone, Debug)]
pub struct LoopGuard {
    inner: HttpConnector<OverrideResolver>,
    listen: SocketAddr,
}

/// The origin address is strainer's own listener.
#[derive(Debug, thiserror::Error)]
#[error("the origin address {0} is strainer itself")]
pub struct LoopDetected(SocketAddr);

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, Box<dyn StdError + Send + Sync>>> + Send>>;

impl Service<Uri> for LoopGuard {
    type Response = TokioIo<TcpStream>;
    type Error = Box<dyn StdError + Send + Sync>;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let listen = self.listen;
        Box::pin(async move {
            let stream = connecting.await?;
            let peer = stream.inner().peer_addr()?;
            if is_own_listener(peer, listen) {
                return Err(Box::new(LoopDetected(peer)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(stream)
        })
    }
}

/// Does a connection to `peer` land on a listener bound to `listen`? Addresses compare in canonical form
/// (`::ffff:127.0.0.1` is `127.0.0.1`); a listener on the unspecified address is reached through every address of
/// this host (of its family; an IPv6 one may be dual-stack).
fn is_own_listener(peer: SocketAddr, listen: SocketAddr) -> bool {
    if peer.port() != listen.port() {
        return false;
    }
    let (peer_ip, listen_ip) = (peer.ip().to_canonical(), listen.ip().to_canonical());
    if !listen_ip.is_unspecified() {
        return peer_ip == listen_ip;
    }
    let same_family = peer_ip.is_ipv4() == listen_ip.is_ipv4() || listen_ip.is_ipv6();
    same_family && is_this_host(peer_ip)
}

/// Is `ip` an address of this host? Loopback and unspecified addresses are (a connection to `0.0.0.0` reaches
/// the loopback interface); any other is exactly when a socket can be bound to it, which sends nothing.
fn is_this_host(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// How long one filter-list download may take, answer and body together.
const SUBSCRIPTION_TIMEOUT: Duration = Duration::from_secs(300);

/// strainer's own upstream client (its trust store, `resolve` overrides and loop guard) as the downloader of
/// filter-list subscriptions: one GET with the given conditional headers, the body read whole up to
/// [`crate::filters::subscriptions::MAX_LIST_BYTES`] (a longer or cut body is an error).
pub fn subscription_fetcher(client: UpstreamClient) -> crate::filters::subscriptions::Fetch {
    use crate::filters::subscriptions::{Fetched, MAX_LIST_BYTES};
    use http_body_util::{BodyExt, Empty, Limited};

    Arc::new(move |url: String, headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        Box::pin(async move {
            let download = async move {
                let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
                let mut builder = http::Request::get(uri).header(http::header::USER_AGENT, "strainer");
                for (name, value) in headers {
                    builder = builder.header(name, value);
                }
                let body: UpstreamBody = Empty::new().map_err(|never| match never {}).boxed_unsync();
                let request = builder.body(body).map_err(|e| format!("bad request: {e}"))?;
                let response = client.request(request).await.map_err(|e| format!("download failed: {e}"))?;
                let header = |name: http::header::HeaderName| {
                    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
                };
                let status = response.status().as_u16();
                let etag = header(http::header::ETAG);
                let last_modified = header(http::header::LAST_MODIFIED);
                let body = Limited::new(response.into_body(), MAX_LIST_BYTES)
                    .collect()
                    .await
                    .map(|collected| collected.to_bytes())
                    .map_err(|e| e.to_string());
                Ok(Fetched { status, etag, last_modified, body })
            };
            match tokio::time::timeout(SUBSCRIPTION_TIMEOUT, download).await {
                Ok(result) => result,
                Err(_) => Err("download timed out".to_owned()),
            }
        }) as Pin<Box<dyn Future<Output = Result<Fetched, String>> + Send>>
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn own_listener_is_recognised() {
        assert!(is_own_listener(at("127.0.0.1:8080"), at("127.0.0.1:8080")));
        assert!(is_own_listener(at("127.0.0.1:8080"), at("0.0.0.0:8080")));
        assert!(!is_own_listener(at("127.0.0.1:8081"), at("127.0.0.1:8080")));
        assert!(!is_own_listener(at("127.0.0.2:8080"), at("127.0.0.1:8080")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_same_listener() {
        assert!(is_own_listener(at("[::ffff:127.0.0.1]:8080"), at("127.0.0.1:8080")));
        assert!(is_own_listener(at("127.0.0.1:8080"), at("[::ffff:127.0.0.1]:8080")));
        assert!(is_own_listener(at("[::ffff:127.0.0.2]:8080"), at("0.0.0.0:8080")));
        assert!(is_own_listener(at("[::1]:8080"), at("[::]:8080")));
        assert!(!is_own_listener(at("[::ffff:127.0.0.2]:8080"), at("127.0.0.1:8080")));
    }

    #[test]
    fn a_wildcard_listener_is_reached_through_every_address_of_this_host() {
        // The address this host would send from towards a documentation network: one of its own, found without
        // sending anything (a UDP "connect" only picks a route).
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
        if let Ok(own) = probe.connect("192.0.2.1:9").and_then(|()| probe.local_addr()) {
            assert!(is_own_listener(SocketAddr::new(own.ip(), 8080), at("0.0.0.0:8080")), "{own}");
        } else {
            eprintln!("no IPv4 route on this machine; only the loopback case is checked");
        }
        assert!(is_own_listener(at("127.0.0.53:8080"), at("0.0.0.0:8080")));
        // Not an address of this host: a documentation network.
        assert!(!is_own_listener(at("192.0.2.1:8080"), at("0.0.0.0:8080")));
        assert!(!is_own_listener(at("[2001:db8::1]:8080"), at("[::]:8080")));
    }

    #[tokio::test]
    async fn overrides_win_over_dns() {
        let mut overrides = BTreeMap::new();
        overrides.insert("news.test".to_owned(), "127.0.0.1".parse().expect("literal"));
        let mut resolver = OverrideResolver { overrides: Arc::new(overrides) };
        let name: Name = "News.Test".parse().expect("any name parses");
        let addrs: Vec<SocketAddr> = resolver.call(name).await.expect("override").collect();
        assert_eq!(addrs, vec!["127.0.0.1:0".parse::<SocketAddr>().expect("literal")]);
    }
}
