//! What an adversarial client can do to the listener itself, over raw sockets: silent connections are closed so
//! their slot frees, the listener speaks HTTP/1.1 only (no cleartext HTTP/2), requests back to strainer by any
//! spelling of its own address are refused, userinfo never reaches the origin, and a client's own framing error
//! is answered as the client's error.

mod common;

use std::time::Duration;

use common::{full, Origin, Strainer};
use strainer::rules::RuleSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on a raw exchange, so a regression fails instead of hanging the suite; never a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Sends `bytes` on a fresh connection to `strainer` and reads until strainer closes it (bounded by
/// [`HANG_GUARD`]); what came back, lossily as text.
async fn exchange(strainer: &Strainer, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(strainer.addr).await.expect("connect to strainer");
    stream.write_all(bytes).await.expect("send");
    read_to_close(&mut stream).await
}

/// Reads `stream` until the peer closes it or resets it (bounded by [`HANG_GUARD`]).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, read).await.expect("strainer closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of the first response in `answer`, if it starts with an HTTP/1.1 status line.
fn status_of(answer: &str) -> Option<u16> {
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_its_slot_serves_the_next_client() {
    let origin = Origin::start(|_| async { full(200, &[("content-type", "text/plain")], "served") }).await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.limits.max_connections = 1;
        config.limits.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut silent = TcpStream::connect(strainer.addr).await.expect("connect to strainer");
    // The only slot is taken by a client that never sends a byte; the next client waits for it.
    let client = strainer.client();
    let url = origin.url("news.test", "/");
    let waiting = tokio::spawn(async move { client.get(url).send().await?.text().await });
    let left = read_to_close(&mut silent).await;
    assert_eq!(left, "", "a silent connection is closed without an answer");
    let body = tokio::time::timeout(HANG_GUARD, waiting)
        .await
        .expect("the freed slot serves the waiting client")
        .expect("request task")
        .expect("served");
    assert_eq!(body, "served");
}

#[tokio::test]
async fn the_listener_refuses_cleartext_http2() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    // The HTTP/2 connection preface followed by an empty SETTINGS frame.
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let mut stream = TcpStream::connect(strainer.addr).await.expect("connect to strainer");
    stream.write_all(&preface).await.expect("send");
    let mut first = [0u8; 9];
    let read =
        tokio::time::timeout(HANG_GUARD, stream.read(&mut first)).await.expect("strainer answers or closes");
    let n = read.unwrap_or(0);
    // An HTTP/2 server answers with its own SETTINGS frame (type 4 in the fourth byte).
    assert!(!(n == 9 && first[3] == 4), "strainer spoke HTTP/2: {first:?}");
    let answer = String::from_utf8_lossy(&first[..n]).into_owned() + &read_to_close(&mut stream).await;
    if !answer.is_empty() {
        let status = status_of(&answer);
        assert!(status.is_some_and(|s| s >= 400), "refused with an HTTP/1.1 error, got {answer:?}");
    }
}

#[tokio::test]
async fn strainer_reached_through_an_ipv4_mapped_ipv6_address_is_a_loop() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let own = format!("[::ffff:127.0.0.1]:{}", strainer.addr.port());
    let connect = format!("CONNECT {own} HTTP/1.1\r\nHost: {own}\r\n\r\n");
    let answer = exchange_first(&strainer, connect.as_bytes()).await;
    assert_eq!(status_of(&answer), Some(508), "CONNECT to strainer itself: {answer:?}");
    let get = format!("GET http://{own}/metrics HTTP/1.1\r\nHost: {own}\r\nConnection: close\r\n\r\n");
    let answer = exchange(&strainer, get.as_bytes()).await;
    assert_eq!(status_of(&answer), Some(508), "GET of strainer's own pages: {answer:?}");
    assert!(!answer.contains("strainer_requests_total"), "{answer}");
}

/// Sends `bytes` on a fresh connection and reads until the first response head has arrived (bounded).
async fn exchange_first(strainer: &Strainer, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(strainer.addr).await.expect("connect to strainer");
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, read).await.expect("strainer answers");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn userinfo_in_an_absolute_url_never_reaches_the_origin() {
    let origin = Origin::start(|request| async move {
        let host = request.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        full(200, &[("content-type", "text/plain")], format!("host={host} uri={}", request.uri()))
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let port = origin.addr.port();
    let get = format!(
        "GET http://user:secret@news.test:{port}/page HTTP/1.1\r\nHost: news.test:{port}\r\nConnection: close\r\n\r\n"
    );
    let answer = exchange(&strainer, get.as_bytes()).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(answer.ends_with(&format!("host=news.test:{port} uri=/page")), "{answer}");
    assert!(!answer.contains("secret") && !answer.contains("user"), "{answer}");
}

#[tokio::test]
async fn a_clients_broken_chunked_body_is_answered_400_as_its_own_error() {
    use http_body_util::BodyExt;
    let origin = Origin::start(|request| async move {
        match request.into_body().collect().await {
            Ok(body) => full(200, &[], format!("got {} bytes", body.to_bytes().len())),
            Err(_) => full(500, &[], "body broke"),
        }
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let port = origin.addr.port();
    let post = format!(
        "POST http://news.test:{port}/upload HTTP/1.1\r\nHost: news.test:{port}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n"
    );
    let answer = exchange(&strainer, post.as_bytes()).await;
    assert_eq!(status_of(&answer), Some(400), "{answer}");
    assert!(!answer.contains("unreachable"), "the origin is not to blame: {answer}");
    let counters = strainer.metrics.snapshot();
    assert_eq!((counters.errors, counters.client_errors), (1, 1), "counted as the client's error");
}
