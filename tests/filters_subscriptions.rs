//! Filter list subscriptions against a loopback list server, through strainer's own upstream client: a first
//! download, a `304` answered to `If-None-Match` / `If-Modified-Since`, a changed list, a `500`, a body cut short
//! and an HTML page instead of a list. The saved copy changes exactly when a good new copy arrived, and the rule
//! compiler loads what was saved.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use strainer::config::Config;
use strainer::filters::subscriptions::{self, list_path, Outcome, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A list server answering each connection with the next canned response and recording request heads.
struct ListServer {
    addr: SocketAddr,
    answers: Arc<Mutex<VecDeque<Vec<u8>>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ListServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind list server");
        let addr = listener.local_addr().expect("address");
        let answers: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let (queue, seen) = (Arc::clone(&answers), Arc::clone(&heads));
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock().expect("lock").push(String::from_utf8_lossy(&head).to_lowercase());
                let answer = queue.lock().expect("lock").pop_front().unwrap_or_default();
                let _ = tcp.write_all(&answer).await;
                let _ = tcp.shutdown().await;
            }
        });
        Self { addr, answers, heads }
    }

    fn answer(&self, status: &str, headers: &[&str], body: &str, declared_length: Option<usize>) {
        let length = declared_length.unwrap_or(body.len());
        let mut response = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {length}\r\n");
        for header in headers {
            response.push_str(header);
            response.push_str("\r\n");
        }
        response.push_str("\r\n");
        response.push_str(body);
        self.answers.lock().expect("lock").push_back(response.into_bytes());
    }

    fn last_head(&self) -> String {
        self.heads.lock().expect("lock").last().cloned().unwrap_or_default()
    }
}

const V1: &str = "[Adblock Plus 2.0]\n! Title: test list\n||ads-one.example^\n##.banner\n";
const V2: &str = "! Title: test list\n||ads-two.example^\n##.banner\n$removeparam=ref_src\n";

fn saved(dir: &Path) -> String {
    std::fs::read_to_string(list_path(dir, "test")).expect("a saved copy")
}

#[tokio::test]
async fn downloads_are_conditional_atomic_and_never_replace_a_good_copy_with_a_bad_one() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ListServer::start().await;
    let dir = tempfile::tempdir().expect("rules dir");
    let mut config = Config::for_listener("127.0.0.1:9".parse().expect("literal"), dir.path());
    config.resolve.insert("lists.test".to_owned(), "127.0.0.1".parse().expect("literal"));
    let connector = strainer::proxy::client::tcp_connector(&config, config.listen);
    let client = strainer::proxy::client::build(&config, connector).expect("client");
    let fetch = strainer::proxy::client::subscription_fetcher(client);
    let sub = Subscription {
        name: "test".to_owned(),
        url: format!("http://lists.test:{}/list.txt", server.addr.port()),
        refresh_minutes: 60,
    };

    let date = "Sat, 05 Dec 2026 10:00:00 GMT";
    server.answer("200 OK", &["etag: \"v1\"", &format!("last-modified: {date}")], V1, None);
    let outcome = subscriptions::refresh(&sub, dir.path(), &fetch).await;
    assert_eq!(outcome, Outcome::Updated { bytes: V1.len(), taken: 2 });
    assert_eq!(saved(dir.path()), V1);
    assert!(!server.last_head().contains("if-none-match"), "the first download is unconditional");

    server.answer("304 Not Modified", &["etag: \"v1\""], "", None);
    assert_eq!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::NotModified);
    let head = server.last_head();
    assert!(head.contains("if-none-match: \"v1\""), "{head}");
    assert!(head.contains(&format!("if-modified-since: {}", date.to_lowercase())), "{head}");
    assert_eq!(saved(dir.path()), V1);

    server.answer("200 OK", &["etag: \"v2\""], V2, None);
    assert!(matches!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::Updated { .. }));
    assert_eq!(saved(dir.path()), V2);

    server.answer("500 Internal Server Error", &[], "oops", None);
    assert!(
        matches!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::Failed(e) if e.contains("500"))
    );
    assert_eq!(saved(dir.path()), V2, "a 500 keeps the last good copy");

    server.answer("200 OK", &["etag: \"v3\""], &V1[..20], Some(V1.len()));
    assert!(matches!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::Failed(_)));
    assert_eq!(saved(dir.path()), V2, "a truncated body keeps the last good copy");

    server.answer(
        "200 OK",
        &["content-type: text/html"],
        "<!DOCTYPE html><html><body>login</body></html>",
        None,
    );
    assert!(matches!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::Failed(_)));
    assert_eq!(saved(dir.path()), V2, "a copy that does not parse keeps the last good copy");
    assert!(
        server.last_head().contains("if-none-match: \"v2\""),
        "validators of the last good copy are sent"
    );

    // No canned answer left: the server closes the connection without a word.
    assert!(matches!(subscriptions::refresh(&sub, dir.path(), &fetch).await, Outcome::Failed(_)));
    assert_eq!(saved(dir.path()), V2, "a server that answers nothing keeps the last good copy");

    let (rules, _) = strainer::rules::load_dir(dir.path()).expect("the saved copy loads");
    let lists = rules.filters.expect("filter lists loaded");
    assert!(lists.check_request("https://ads-two.example/x.js", "https://news.example/", "script").is_some());
    assert!(lists.check_request("https://ads-one.example/x.js", "https://news.example/", "script").is_none());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("filters"))
        .expect("filters dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".download"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind: {leftovers:?}");
}
