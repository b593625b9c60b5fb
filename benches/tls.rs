//! TLS costs of interception: minting a leaf for a new host, finding a cached one, and complete loopback
//! handshakes against a server that presents strainer leaves (what a browser pays per new connection).
//!
//! Run: `cargo bench --bench tls`.
#![allow(clippy::expect_used)] // benchmarks may use expect("why")

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
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
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
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

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    minting(&mut criterion);
    handshakes(&mut criterion);
    criterion.final_summary();
}
