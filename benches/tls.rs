//! TLS costs of interception: minting a leaf for a new host, finding a cached one, complete loopback handshakes
//! against a server that presents strainer leaves (what a browser pays per new connection), and a whole new
//! intercepted connection through a running strainer (CONNECT, TLS handshake, one GET to an HTTPS origin).
//!
//! Run: `cargo bench --bench tls`.
#![allow(clippy::expect_used)] // benchmarks may use expect("why")

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use strainer::tls::accept::accept;
use strainer::tls::ca::CertificateAuthority;
use strainer::tls::leaf::LeafCerts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

fn setup() -> (tempfile::TempDir, Arc<CertificateAuthority>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, _) = CertificateAuthority::load_or_create(dir.path()).expect("CA");
    (dir, Arc::new(ca))
}

fn minting(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (_dir, ca) = setup();
    let certs = LeafCerts::new(Arc::clone(&ca), 1_000_000).expect("leaf certs");
    let counter = AtomicU64::new(0);
    c.bench_function("leaf/new host (mint + settings)", |b| {
        b.iter(|| {
            let host = format!("host{}.example", counter.fetch_add(1, Ordering::Relaxed));
            runtime.block_on(certs.server_config(black_box(&host))).expect("config")
        })
    });
    runtime.block_on(certs.server_config("cached.example")).expect("config");
    c.bench_function("leaf/cached host", |b| {
        b.iter(|| runtime.block_on(certs.server_config(black_box("cached.example"))).expect("config"))
    });
}

/// A loopback server that accepts TLS with strainer leaves and answers one byte per connection.
async fn leaf_server(certs: Arc<LeafCerts>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let certs = Arc::clone(&certs);
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                if let Ok(mut accepted) = accept(tcp, &certs, "fallback.example", deadline).await {
                    let _ = accepted.stream.write_all(b"!").await;
                    let _ = accepted.stream.shutdown().await;
                }
            });
        }
    });
    addr
}

fn handshakes(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (_dir, ca) = setup();
    let certs = Arc::new(LeafCerts::new(Arc::clone(&ca), 1_000_000).expect("leaf certs"));
    let addr = runtime.block_on(leaf_server(certs));
    let config = fresh_session_client(&ca);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = |host: String| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let name = ServerName::try_from(host).expect("name");
            let mut tls = connector.connect(name, tcp).await.expect("handshake");
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.expect("answer");
        }
    };
    c.bench_function("handshake/cached host (full TLS 1.3, no resumption)", |b| {
        b.iter(|| runtime.block_on(handshake("cached.example".to_owned())))
    });
    let counter = AtomicU64::new(0);
    c.bench_function("handshake/new host (mint + full TLS 1.3)", |b| {
        b.iter(|| {
            let host = format!("fresh{}.example", counter.fetch_add(1, Ordering::Relaxed));
            runtime.block_on(handshake(host))
        })
    });
}

#[path = "../tests/tls_support/mod.rs"]
mod tls_support;

/// One new intercepted connection: CONNECT through strainer, TLS with a strainer leaf, `GET /version`, answer.
async fn intercepted_get(proxy: SocketAddr, authority: &str, tls: &tokio_rustls::TlsConnector) {
    let tcp = TcpStream::connect(proxy).await.expect("connect to strainer");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("h1");
    tokio::spawn(connection.with_upgrades());
    let connect = Request::builder()
        .method(Method::CONNECT)
        .uri(authority)
        .body(Empty::<bytes::Bytes>::new())
        .expect("CONNECT request");
    let response = sender.send_request(connect).await.expect("CONNECT answered");
    assert_eq!(response.status(), StatusCode::OK);
    let tunnel = TokioIo::new(hyper::upgrade::on(response).await.expect("tunnel"));
    let name = ServerName::try_from("news.test").expect("name");
    let stream = tls.connect(name, tunnel).await.expect("handshake with strainer");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("h1");
    tokio::spawn(connection);
    let get = Request::builder()
        .uri("/version")
        .header("host", authority)
        .body(Empty::<bytes::Bytes>::new())
        .expect("GET request");
    let response = sender.send_request(get).await.expect("GET answered");
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.expect("body");
}

fn through_strainer(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = tls_support::TestPki::new("bench origin CA");
    let origin_ca = pki.write_ca(dir.path(), "origin-ca.pem");
    let certs = dir.path().join("certs");
    let (proxy, ca, origin, _stop) = runtime.block_on(async {
        let origin =
            tls_support::HttpsOrigin::start(pki.server_config(&["news.test"]), tls_support::seed_site).await;
        let mut config = strainer::config::Config::for_listener(
            "127.0.0.1:0".parse().expect("literal"),
            &tls_support::crate_dir().join("rules"),
        );
        config.certs_dir = certs.clone();
        config.upstream_ca = vec![origin_ca];
        config.mitm_ports = vec![443, origin.port()];
        config.resolve.insert("news.test".to_owned(), "127.0.0.1".parse().expect("literal"));
        let (rules, _) = strainer::rules::load_dir(&config.rules_dir).expect("shipped rules load");
        let listener = TcpListener::bind(config.listen).await.expect("bind");
        let server = strainer::proxy::Server::from_listener(
            listener,
            config,
            strainer::reload::RuleStore::new(rules),
            Arc::new(strainer::metrics::Metrics::default()),
        )
        .expect("strainer starts");
        let proxy = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let ca = CertificateAuthority::load(&certs).expect("strainer CA");
        (proxy, ca, origin, stop)
    });
    let mut config = fresh_session_client(&ca);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let authority = format!("news.test:{}", origin.port());
    c.bench_function("mitm/new connection: CONNECT + TLS + GET through strainer", |b| {
        b.iter(|| runtime.block_on(intercepted_get(proxy, &authority, &tls)))
    });
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    minting(&mut criterion);
    handshakes(&mut criterion);
    through_strainer(&mut criterion);
    criterion.final_summary();
}

/// A client trusting only `ca` that never resumes a session, so every connection pays a full handshake.
fn fresh_session_client(ca: &CertificateAuthority) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config
}
