//! Test support for HTTPS: a private test PKI (a CA of its own, leaves for test names) and HTTPS origins on
//! loopback that present those leaves, plus clients that trust a given CA.
//!
//! Origins here are *not* strainer: they stand for real sites, so their certificates come from a CA strainer only
//! trusts when given `--upstream-ca` (or the test config's equivalent).
#![allow(dead_code, clippy::expect_used)] // not every test uses every helper; tests may use expect("why")

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Errors an origin body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of an origin response.
pub type OriginBody = UnsyncBoxBody<Bytes, BoxError>;

/// The crate root.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seed article of the shared examples; fails clearly if the examples are missing.
pub fn seed_article() -> String {
    let path = crate_dir().join("../shared/examples/seed-article.html");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {}: {e} (the shared examples must sit beside the checkout)", path.display())
    })
}

/// A CA standing for the public PKI of test origins.
pub struct TestPki {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate.
    pub ca_der: CertificateDer<'static>,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

impl TestPki {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self { ca_der: cert.der().clone(), ca_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// Writes the CA certificate to `dir/file` and returns the path (for `--upstream-ca`).
    pub fn write_ca(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, &self.ca_pem).expect("write test CA");
        path
    }

    /// TLS server settings for `names` (ALPN h2 + http/1.1), signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("names");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.ca_der.clone()], key_der)
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A client TLS config trusting only `ca` (DER), with the given ALPN list.
pub fn client_config(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A running origin (HTTPS, or plain HTTP); stops accepting when dropped.
pub struct HttpsOrigin {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl HttpsOrigin {
    /// Serves `handler` over TLS with `tls` (h1 and h2 by ALPN, upgrades allowed) on `127.0.0.1:0`.
    pub async fn start<F, Fut>(tls: Arc<rustls::ServerConfig>, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = Response<OriginBody>> + Send + 'static,
    {
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(tls)), handler).await
    }

    /// Serves `handler` over plain HTTP/1.1 (upgrades allowed) on `127.0.0.1:0`.
    pub async fn start_plain<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = Response<OriginBody>> + Send + 'static,
    {
        Self::serve(None, handler).await
    }

    async fn serve<F, Fut>(acceptor: Option<tokio_rustls::TlsAcceptor>, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = Response<OriginBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let acceptor = acceptor.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler(request).await) }
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let _ = match acceptor {
                        Some(acceptor) => {
                            let Ok(tls) = acceptor.accept(tcp).await else { return };
                            builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await
                        }
                        None => builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await,
                    };
                });
            }
        });
        Self { addr, stop: Some(stop) }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for HttpsOrigin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A complete response with `content_type` and `body`.
pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<OriginBody> {
    let body = Full::new(body.into()).map_err(|never| match never {}).boxed_unsync();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("valid response")
}

/// The seed article at `/article`, the request's HTTP version at `/version`, a WebSocket echo at `/echo`, 404
/// elsewhere.
pub async fn seed_site(request: Request<Incoming>) -> Response<OriginBody> {
    match request.uri().path() {
        "/echo" => websocket_echo(request),
        "/article" => full(200, "text/html; charset=utf-8", seed_article()),
        "/version" => full(200, "text/plain", format!("{:?}", request.version())),
        _ => full(404, "text/plain", "not found"),
    }
}

/// Accepts a WebSocket upgrade and echoes every text and binary message back.
fn websocket_echo(mut request: Request<Incoming>) -> Response<OriginBody> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;

    let Some(key) = request.headers().get("sec-websocket-key") else {
        return full(400, "text/plain", "not a WebSocket upgrade");
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut socket =
            tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                .await;
        while let Some(Ok(message)) = socket.next().await {
            if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .body(http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync())
        .expect("valid 101")
}

/// `strainer ca <args> --certs <certs>` as the CA tests run it: no log filter from the environment, no input.
pub fn strainer_ca_command(certs: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strainer"));
    command.arg("ca").args(args).arg("--certs").arg(certs).env_remove("RUST_LOG").stdin(Stdio::null());
    command
}
