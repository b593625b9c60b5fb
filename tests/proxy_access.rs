//! Who may use the proxy: clients outside `allow_clients` are disconnected before a byte is read, and with
//! `proxy_auth` set every proxied request and CONNECT needs `Basic` credentials (407 otherwise), while the PAC
//! file and the CA stay reachable straight from the listener.

mod common;

use std::time::Duration;

use common::{Origin, Strainer};
use strainer::access::{ClientNetworks, ProxyCredentials};
use strainer::rules::RuleSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on each raw socket exchange, so a regression fails instead of hanging.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

/// base64 of `alice:open sesame`.
const ALICE: &str = "YWxpY2U6b3BlbiBzZXNhbWU=";

async fn origin_echoing_proxy_authorization() -> Origin {
    Origin::start(|request| async move {
        let seen = request.headers().get("proxy-authorization").is_some();
        common::full(200, &[("content-type", "text/plain")], format!("proxy-authorization seen: {seen}"))
    })
    .await
}

async fn strainer_with_login() -> Strainer {
    Strainer::start_with_rules(RuleSet::default(), |config| {
        config.proxy_auth = ProxyCredentials::parse(&["alice:open sesame"]).expect("valid entry");
    })
    .await
}

/// A client that sends every http request through `strainer` with these Basic proxy credentials.
fn client_with_login(strainer: &Strainer, user: &str, password: &str) -> reqwest::Client {
    let proxy = reqwest::Proxy::http(format!("http://{}", strainer.addr)).expect("proxy url");
    reqwest::Client::builder().proxy(proxy.basic_auth(user, password)).build().expect("client")
}

/// Sends `head` on a fresh connection and returns the status line of the answer.
async fn status_line(strainer: &Strainer, head: String) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(strainer.addr).await.expect("connect to strainer");
        stream.write_all(head.as_bytes()).await.expect("send head");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.expect("read answer");
            assert!(n > 0, "connection closed before a status line: {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.lines().next().unwrap_or_default().to_owned()
    };
    tokio::time::timeout(EXCHANGE_LIMIT, exchange).await.expect("strainer answers in time")
}

#[tokio::test]
async fn clients_outside_allow_clients_are_disconnected_unanswered() {
    let origin = origin_echoing_proxy_authorization().await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.allow_clients = ClientNetworks::parse(&["203.0.113.0/24"]).expect("valid network");
    })
    .await;
    let outcome = tokio::time::timeout(EXCHANGE_LIMIT, async {
        let mut stream = TcpStream::connect(strainer.addr).await.expect("the listener accepts");
        let _ = stream.write_all(b"GET http://news.test/ HTTP/1.1\r\nHost: news.test\r\n\r\n").await;
        let mut buf = [0u8; 256];
        stream.read(&mut buf).await
    })
    .await
    .expect("the connection ends in time");
    assert!(matches!(outcome, Ok(0) | Err(_)), "no answer for a refused client: {outcome:?}");
    assert!(strainer.client().get(origin.url("news.test", "/")).send().await.is_err());
    assert_eq!(strainer.metrics.snapshot().requests, 0, "nothing was served");
}

#[tokio::test]
async fn requests_without_accepted_credentials_get_407() {
    let origin = origin_echoing_proxy_authorization().await;
    let strainer = strainer_with_login().await;

    let response = strainer.client().get(origin.url("news.test", "/")).send().await.expect("answer");
    assert_eq!(response.status(), 407);
    let challenge = response.headers().get("proxy-authenticate").and_then(|v| v.to_str().ok());
    assert_eq!(challenge, Some("Basic realm=\"strainer\", charset=\"UTF-8\""));

    let wrong = client_with_login(&strainer, "alice", "guess");
    assert_eq!(wrong.get(origin.url("news.test", "/")).send().await.expect("answer").status(), 407);

    let denied = strainer.metrics.snapshot().requests_by_mode;
    assert!(denied.contains(&("denied", 2)), "{denied:?}");
}

#[tokio::test]
async fn accepted_credentials_are_consumed_not_forwarded() {
    let origin = origin_echoing_proxy_authorization().await;
    let strainer = strainer_with_login().await;
    let client = client_with_login(&strainer, "alice", "open sesame");
    let response = client.get(origin.url("news.test", "/")).send().await.expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "proxy-authorization seen: false");
}

#[tokio::test]
async fn connect_needs_credentials_too() {
    let strainer = strainer_with_login().await;
    let bare = "CONNECT news.test:443 HTTP/1.1\r\nHost: news.test:443\r\n\r\n".to_owned();
    assert_eq!(status_line(&strainer, bare).await, "HTTP/1.1 407 Proxy Authentication Required");
    let with_login = format!(
        "CONNECT news.test:443 HTTP/1.1\r\nHost: news.test:443\r\nProxy-Authorization: Basic {ALICE}\r\n\r\n"
    );
    assert_eq!(status_line(&strainer, with_login).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn pac_file_and_ca_stay_public_while_the_status_page_needs_login() {
    let strainer = strainer_with_login().await;
    let direct = strainer.direct_client();
    for path in ["/proxy.pac", "/ca.pem", "/ca.der"] {
        let response = direct.get(format!("http://{}{path}", strainer.addr)).send().await.expect("answer");
        assert_eq!(response.status(), 200, "{path}");
    }
    for path in ["/", "/metrics"] {
        let response = direct.get(format!("http://{}{path}", strainer.addr)).send().await.expect("answer");
        assert_eq!(response.status(), 407, "{path}");
    }
    let with_login = format!(
        "GET http://strainer.local/metrics HTTP/1.1\r\nHost: strainer.local\r\nProxy-Authorization: Basic {ALICE}\r\n\r\n"
    );
    assert_eq!(status_line(&strainer, with_login).await, "HTTP/1.1 200 OK");
    let status_page = client_with_login(&strainer, "alice", "open sesame")
        .get("http://strainer.local/")
        .send()
        .await
        .expect("status page")
        .text()
        .await
        .expect("page");
    assert!(status_page.contains("proxy login required (1 user(s))"), "{status_page}");
    assert!(status_page.contains("127.0.0.0/8"), "the default networks are shown: {status_page}");
}

/// The `message` and `refused` fields of one event.
type WarningLine = (String, Option<u64>);

/// Collects the `message` and `refused` fields of every `warn` event.
#[derive(Clone, Default)]
struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<WarningLine>>>);

struct WarningFields(String, Option<u64>);

impl tracing::field::Visit for WarningFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "refused" {
            self.1 = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = WarningFields(String::new(), None);
            event.record(&mut fields);
            self.0.lock().expect("lock").push((fields.0, fields.1));
        }
    }
}

/// Refused connections in the flood test.
const FLOOD: u64 = 50;

// A current-thread runtime keeps the server's tasks on this thread, so the thread-local subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_refused_clients_is_logged_once_then_counted() {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let mut strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.allow_clients = ClientNetworks::parse(&["203.0.113.0/24"]).expect("valid network");
    })
    .await;
    for _ in 0..FLOOD {
        let refused = tokio::time::timeout(EXCHANGE_LIMIT, async {
            let mut stream = TcpStream::connect(strainer.addr).await.expect("the listener accepts");
            let mut buf = [0u8; 16];
            stream.read(&mut buf).await
        })
        .await
        .expect("the connection ends in time");
        assert!(matches!(refused, Ok(0) | Err(_)), "{refused:?}");
    }
    strainer.begin_shutdown();
    strainer.stopped().await;
    let seen = warnings.0.lock().expect("lock").clone();
    let named =
        seen.iter().filter(|(m, _)| m == "connection refused: client address not in allow_clients").count();
    assert_eq!(named, 1, "one line names the client, not one per connection: {seen:?}");
    let summary: Vec<_> =
        seen.iter().filter(|(m, _)| m == "connections refused: repeats not logged one by one").collect();
    assert_eq!(summary.len(), 1, "{seen:?}");
    assert_eq!(summary[0].1, Some(FLOOD - 1), "the summary counts the repeats");
    assert_eq!(strainer.metrics.snapshot().connections_refused, FLOOD);
}
