//! The local CA on disk and the leaf certificates it signs, checked with real files and real TLS handshakes.

mod tls_support;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName};
use strainer::tls::accept::{accept, HandshakeError};
use strainer::tls::ca::{self, CaError, CaInit, CertificateAuthority, CERT_FILE, KEY_FILE};
use strainer::tls::leaf::LeafCerts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn new_ca(dir: &Path) -> CertificateAuthority {
    CertificateAuthority::load_or_create(dir).expect("create CA").0
}

#[cfg(unix)]
#[test]
fn key_is_created_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(ca::init(dir.path()).expect("init"), CaInit::Created);
    let mode = fs::metadata(dir.path().join(KEY_FILE)).expect("key exists").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != CERT_FILE && name != KEY_FILE)
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

#[test]
fn second_init_leaves_files_byte_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(ca::init(dir.path()).expect("first init"), CaInit::Created);
    let cert = fs::read(dir.path().join(CERT_FILE)).expect("cert");
    let key = fs::read(dir.path().join(KEY_FILE)).expect("key");
    assert_eq!(ca::init(dir.path()).expect("second init"), CaInit::AlreadyPresent);
    assert_eq!(fs::read(dir.path().join(CERT_FILE)).expect("cert"), cert);
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).expect("key"), key);
}

#[test]
fn mismatched_key_is_an_error_and_nothing_is_rewritten() {
    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    new_ca(first.path());
    new_ca(second.path());
    fs::copy(second.path().join(KEY_FILE), first.path().join(KEY_FILE)).expect("swap key");
    let cert_before = fs::read(first.path().join(CERT_FILE)).expect("cert");
    let err = CertificateAuthority::load_or_create(first.path()).expect_err("mismatch must fail");
    assert!(matches!(err, CaError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains(KEY_FILE), "{err}");
    assert_eq!(fs::read(first.path().join(CERT_FILE)).expect("cert"), cert_before);
}

#[test]
fn malformed_or_missing_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    new_ca(dir.path());
    fs::write(dir.path().join(KEY_FILE), "not a key").expect("corrupt key");
    let err = ca::init(dir.path()).expect_err("malformed key");
    assert!(matches!(err, CaError::Malformed { .. }) && err.to_string().contains(KEY_FILE), "{err}");

    fs::remove_file(dir.path().join(KEY_FILE)).expect("remove key");
    let err = ca::init(dir.path()).expect_err("missing key");
    assert!(matches!(err, CaError::Incomplete { .. }) && err.to_string().contains(KEY_FILE), "{err}");
    assert!(!dir.path().join(KEY_FILE).exists(), "a missing key must not be regenerated");

    fs::write(dir.path().join(CERT_FILE), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        .expect("corrupt cert");
    let err = ca::export(dir.path(), false).expect_err("malformed cert");
    assert!(err.to_string().contains(CERT_FILE), "{err}");
}

#[test]
fn export_and_fingerprint_describe_the_same_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let authority = new_ca(dir.path());
    let pem = ca::export(dir.path(), false).expect("pem");
    let der = ca::export(dir.path(), true).expect("der");
    assert_eq!(pem, fs::read(dir.path().join(CERT_FILE)).expect("cert"));
    assert_eq!(der, authority.cert_der().to_vec());
    assert_eq!(ca::fingerprint(dir.path()).expect("fingerprint"), authority.fingerprint());
    assert_eq!(ca::sha256_fingerprint(&der), authority.fingerprint());
}

/// A loopback TLS server presenting strainer leaves; each connection answers `ok` and closes.
async fn leaf_server(certs: Arc<LeafCerts>, fallback_host: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let certs = Arc::clone(&certs);
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                if let Ok(mut accepted) = accept(tcp, &certs, fallback_host, deadline).await {
                    let _ = accepted.stream.write_all(b"ok").await;
                    let _ = accepted.stream.shutdown().await;
                }
            });
        }
    });
    addr
}

fn client_trusting(ca: &CertificateAuthority, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(tls_support::client_config(ca.cert_der(), alpn)))
}

async fn fetch(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    name: &str,
) -> std::io::Result<(String, Option<Vec<u8>>, Vec<CertificateDer<'static>>)> {
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned()).expect("valid test name");
    let mut tls = connector.connect(server_name, tcp).await?;
    let (_, conn) = tls.get_ref();
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    let chain = conn.peer_certificates().map(<[_]>::to_vec).unwrap_or_default();
    let mut body = String::new();
    tls.read_to_string(&mut body).await?;
    Ok((body, alpn, chain))
}

#[tokio::test]
async fn leaf_verifies_for_a_dns_name_with_chain_and_alpn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Arc::new(new_ca(dir.path()));
    let certs = Arc::new(LeafCerts::new(Arc::clone(&ca), 100).expect("leaf certs"));
    let addr = leaf_server(Arc::clone(&certs), "fallback.test").await;

    let (body, alpn, chain) =
        fetch(&client_trusting(&ca, &[b"h2", b"http/1.1"]), addr, "news.test").await.expect("handshake");
    assert_eq!(body, "ok");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(chain.len(), 2, "chain must be [leaf, CA]");
    assert_eq!(&chain[1], ca.cert_der());

    let (_, alpn, _) = fetch(&client_trusting(&ca, &[b"http/1.1"]), addr, "news.test").await.expect("h1");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(certs.minted(), 1, "the second handshake must reuse the cached leaf");
}

#[tokio::test]
async fn leaf_verifies_for_an_ip_host_without_sni() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Arc::new(new_ca(dir.path()));
    let certs = Arc::new(LeafCerts::new(Arc::clone(&ca), 100).expect("leaf certs"));
    // Clients send no SNI for IP addresses: the server falls back to the CONNECT host.
    let addr = leaf_server(certs, "127.0.0.1").await;
    let (body, _, _) = fetch(&client_trusting(&ca, &[]), addr, "127.0.0.1").await.expect("handshake");
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let other = tempfile::tempdir().expect("temp dir");
    let ca = Arc::new(new_ca(dir.path()));
    let stranger = new_ca(other.path());
    let certs = Arc::new(LeafCerts::new(ca, 100).expect("leaf certs"));
    let addr = leaf_server(certs, "fallback.test").await;
    let err = fetch(&client_trusting(&stranger, &[]), addr, "news.test").await.expect_err("untrusted CA");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn a_silent_client_times_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = LeafCerts::new(Arc::new(new_ca(dir.path())), 100).expect("leaf certs");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let _client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
    let (tcp, _) = listener.accept().await.expect("accept");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
    let err = accept(tcp, &certs, "news.test", deadline).await.expect_err("no ClientHello");
    assert!(matches!(err, HandshakeError::Timeout), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_for_one_host_mint_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = Arc::new(LeafCerts::new(Arc::new(new_ca(dir.path())), 100).expect("leaf certs"));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let certs = Arc::clone(&certs);
            // Mixed spellings of one host share one cache entry.
            let host = if i % 2 == 0 { "news.test" } else { "NEWS.test." };
            tokio::spawn(async move { certs.server_config(host).await.map(|c| Arc::as_ptr(&c) as usize) })
        })
        .collect();
    let mut configs = Vec::new();
    for task in tasks {
        configs.push(task.await.expect("task").expect("config"));
    }
    assert_eq!(certs.minted(), 1);
    assert!(configs.windows(2).all(|w| w[0] == w[1]), "every caller must get the same settings");
    certs.server_config("other.test").await.expect("config");
    assert_eq!(certs.minted(), 2);
}

#[test]
fn concurrent_creators_end_up_with_one_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_owned();
    let fingerprints: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..8).map(|_| scope.spawn(|| new_ca(&path).fingerprint().to_owned())).collect();
        workers.into_iter().map(|w| w.join().expect("creator thread")).collect()
    });
    assert!(fingerprints.windows(2).all(|w| w[0] == w[1]), "{fingerprints:?}");
    assert_eq!(ca::fingerprint(dir.path()).expect("fingerprint"), fingerprints[0]);
}
