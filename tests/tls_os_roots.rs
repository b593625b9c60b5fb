//! Origins signed by a root in the operating system's trust store are trusted, as in browsers: a test CA is
//! "installed" by pointing `SSL_CERT_FILE` (honoured by the OS store loader) at it, with no `--upstream-ca`.
//!
//! Its own test binary with a single test: the variable is set before strainer first reads the OS store, which it
//! does once per process.

mod common;
mod tls_support;

use reqwest::StatusCode;
use strainer::rules::RuleSet;
use strainer::tls::ca::CertificateAuthority;
use tls_support::{HttpsOrigin, TestPki};

#[tokio::test]
async fn an_origin_signed_by_a_root_in_the_os_store_is_trusted() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let enterprise = TestPki::new("enterprise root CA");
    let os_store = enterprise.write_ca(dir.path(), "os-store.pem");
    // Only this test runs in this process, and nothing has read the environment's trust store yet.
    std::env::set_var("SSL_CERT_FILE", &os_store);
    std::env::remove_var("SSL_CERT_DIR");

    let hello = |_| async { tls_support::full(200, "text/plain", "hello from the intranet") };
    let intranet = HttpsOrigin::start(enterprise.server_config(&["news.test"]), hello).await;
    let stranger = TestPki::new("a root nobody installed");
    let unknown = HttpsOrigin::start(stranger.server_config(&["news.test"]), hello).await;

    let certs = dir.path().join("certs");
    let strainer = common::Strainer::start_with_rules(RuleSet::default(), |config| {
        config.certs_dir = certs.clone();
        assert!(config.upstream_ca.is_empty(), "trust must come from the OS store alone");
        config.mitm_ports = vec![intranet.port(), unknown.port()];
    })
    .await;
    let ca = CertificateAuthority::load(&certs).expect("strainer created its CA");
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", strainer.addr)).expect("proxy url"))
        .tls_certs_only([reqwest::Certificate::from_der(ca.cert_der()).expect("CA certificate")])
        .build()
        .expect("client builds");

    let response =
        client.get(format!("https://news.test:{}/", intranet.port())).send().await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "hello from the intranet");

    let response = client.get(format!("https://news.test:{}/", unknown.port())).send().await.expect("answer");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "a root outside every store stays untrusted");
}
