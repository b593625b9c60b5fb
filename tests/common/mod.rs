//! Shared integration harness: a real origin (hyper server) and a real strainer, both in-process on
//! `127.0.0.1:0`, and a reqwest client that uses strainer as its proxy.
//!
//! - [`Origin::start`] serves a handler (a closure from request to response future); helpers build full,
//!   chunked, channel-fed and failing bodies.
//! - [`Strainer::start`] runs the proxy on a given rules directory (or [`Strainer::start_with_rules`] on a given
//!   `RuleSet`), with a hook to adjust its `Config`; `news.test`-style names resolve to 127.0.0.1.
//! - Dropping either stops it (shutdown signal, then the task ends).
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use strainer::config::Config;
use strainer::metrics::Metrics;
use strainer::proxy::Server;
use strainer::reload::RuleStore;
use strainer::rules::RuleSet;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Errors an origin body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of an origin response.
pub type OriginBody = UnsyncBoxBody<Bytes, BoxError>;
/// A future of an origin response.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<OriginBody>> + Send>>;
/// An origin's request handler.
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> ResponseFuture + Send + Sync>;

/// The host names tests use for origins; strainer resolves them to 127.0.0.1.
pub const TEST_HOSTS: [&str; 3] = ["news.test", "blocked.test", "plain.test"];

/// The crate root.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped rules directory.
pub fn shipped_rules() -> PathBuf {
    crate_dir().join("rules")
}

/// The seed article of the shared examples; fails clearly if the examples are missing.
pub fn seed_article() -> String {
    let path = crate_dir().join("../shared/examples/seed-article.html");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {}: {e} (the shared examples must sit beside the checkout)", path.display())
    })
}

// === Origin ===

/// A running origin server; stops when dropped.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Origin {
    /// Serves `handler` on `127.0.0.1:0` (HTTP/1.1 and h2c).
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<OriginBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |request| Box::pin(handler(request)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler(request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, stop: Some(stop) }
    }

    /// The URL of `path` on this origin under `host` (resolved by strainer to 127.0.0.1).
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response with `status`, `headers` and a complete body (with `Content-Length`).
pub fn full(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<OriginBody> {
    let body = Full::new(body.into()).map_err(|never| match never {}).boxed_unsync();
    with_head(status, headers, body)
}

/// A response whose body is sent as these chunks (no `Content-Length`: chunked framing).
pub fn chunked(status: u16, headers: &[(&str, &str)], chunks: Vec<Bytes>) -> Response<OriginBody> {
    let frames = stream::iter(chunks.into_iter().map(|c| Ok::<_, BoxError>(Frame::data(c))));
    with_head(status, headers, StreamBody::new(frames).boxed_unsync())
}

/// A response whose body chunks come from the returned sender; the body ends when the sender is dropped, and
/// fails (the origin dies mid-body) when an `Err` is sent.
pub fn channel(
    status: u16,
    headers: &[(&str, &str)],
) -> (mpsc::Sender<Result<Bytes, BoxError>>, Response<OriginBody>) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(4);
    let frames =
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item.map(Frame::data), rx)) });
    (tx, with_head(status, headers, StreamBody::new(frames).boxed_unsync()))
}

/// The sending half of an origin body that a test feeds (or fails) itself.
pub type BodyFeed = mpsc::Sender<Result<Bytes, BoxError>>;

/// An origin that answers every request `200` with `content_type` and a body the test feeds: each request hands
/// its body's sender to the returned receiver.
pub async fn fed_origin(content_type: &'static str) -> (Origin, mpsc::Receiver<BodyFeed>) {
    let (feed_tx, feed_rx) = mpsc::channel(1);
    let origin = Origin::start(move |_| {
        let feed_tx = feed_tx.clone();
        async move {
            let (tx, response) = channel(200, &[("content-type", content_type)]);
            let _ = feed_tx.send(tx).await;
            response
        }
    })
    .await;
    (origin, feed_rx)
}

fn with_head(status: u16, headers: &[(&str, &str)], body: OriginBody) -> Response<OriginBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("valid status in test");
    *response.headers_mut() = header_map(headers);
    response
}

/// `request` as a WebSocket upgrade (the handshake headers of RFC 6455 with a fixed key).
pub fn websocket_upgrade(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
}

/// Builds a header map from pairs (appending repeated names).
pub fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name in test"),
            HeaderValue::from_str(value).expect("valid header value in test"),
        );
    }
    map
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("in-memory write");
    encoder.finish().expect("in-memory write")
}

/// Brotli of `data`.
pub fn brotli(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        writer.write_all(data).expect("in-memory write");
    }
    out
}

/// zstd of `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("in-memory encode")
}

// === Strainer ===

/// A running strainer; stops (gracefully) when dropped.
pub struct Strainer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), strainer::proxy::ProxyError>>>,
    /// Where this strainer keeps its CA unless `adjust` chose another place; removed on drop.
    _certs: tempfile::TempDir,
}

impl Strainer {
    /// Starts strainer with the rules of `rules_dir` (they must load).
    pub async fn start(rules_dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let (rules, _warnings) = strainer::rules::load_dir(rules_dir)
            .unwrap_or_else(|errors| panic!("rules in {} do not load: {errors:?}", rules_dir.display()));
        Self::start_with_rules(rules, adjust).await
    }

    /// Starts strainer with `rules`; `adjust` may change the settings (limits, resolve, …) before it binds.
    pub async fn start_with_rules(rules: RuleSet, adjust: impl FnOnce(&mut Config)) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config::for_listener("127.0.0.1:0".parse().expect("literal"), Path::new("rules"));
        let certs = tempfile::tempdir().expect("temp dir for the CA");
        config.certs_dir = certs.path().to_owned();
        for host in TEST_HOSTS {
            config.resolve.insert(host.to_owned(), "127.0.0.1".parse().expect("literal"));
        }
        adjust(&mut config);
        let listener = TcpListener::bind(config.listen).await.expect("bind strainer");
        let metrics = Arc::new(Metrics::default());
        let server = Server::from_listener(listener, config, RuleStore::new(rules), metrics.clone())
            .expect("strainer starts");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Self { addr, metrics, stop: Some(stop), task: Some(task), _certs: certs }
    }

    /// Sends the shutdown signal (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the server has drained and stopped (call [`Strainer::begin_shutdown`] first).
    pub async fn stopped(&mut self) {
        if let Some(task) = self.task.take() {
            task.await.expect("server task does not panic").expect("server stops cleanly");
        }
    }

    /// A client that sends every http request through this strainer; no automatic decompression.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(format!("http://{}", self.addr)).expect("proxy url"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds")
    }

    /// A client that talks to strainer directly (no proxy), for its own pages.
    pub fn direct_client(&self) -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().expect("client builds")
    }
}

impl Drop for Strainer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Reads a whole response body.
pub async fn body_bytes(response: reqwest::Response) -> Bytes {
    response.bytes().await.expect("complete body")
}

/// GETs `url` as a page load (`Accept: text/html`) and returns its body text, whatever the status.
pub async fn html_page(client: &reqwest::Client, url: String) -> String {
    client.get(url).header("accept", "text/html").send().await.expect("page").text().await.expect("text")
}

/// An address on which nothing listens (bound, then released).
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    addr
}

/// Collects the body of `stream` chunks (for tests that watch chunks arrive).
pub async fn next_chunk(response: &mut reqwest::Response) -> Option<Bytes> {
    response.chunk().await.expect("body chunk")
}

/// A stream of `n` chunks of `size` bytes each, for large bodies.
pub fn repeated(chunk: &'static [u8], n: usize) -> Vec<Bytes> {
    (0..n).map(|_| Bytes::from_static(chunk)).collect()
}
