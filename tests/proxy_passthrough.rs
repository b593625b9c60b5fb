//! The plain-HTTP proxy without rewriting: non-HTML bodies byte for byte with their headers, hop-by-hop
//! hygiene, failures of the origin (refused, silent, dying mid-body) answered as documented while strainer keeps
//! serving, host blocking, loops, strainer's own pages, and streaming before the origin finishes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{channel, chunked, full, Origin, Strainer};
use http::StatusCode;
use strainer::rules::{HostPattern, HostRule, HostRules, HostSet, RuleId, RuleSet};

/// A bound for waits that must not hang the suite if strainer buffers by mistake; never a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn binary_megabyte() -> Vec<u8> {
    (0..1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[tokio::test]
async fn binary_body_comes_back_byte_identical_with_its_headers() {
    let data = binary_megabyte();
    let served = data.clone();
    let origin = Origin::start(move |_| {
        let body = served.clone();
        async move { full(200, &[("content-type", "application/octet-stream"), ("etag", "\"bin-1\"")], body) }
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let response = strainer.client().get(origin.url("news.test", "/blob.bin")).send().await.expect("proxied");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "1048576");
    assert_eq!(response.headers()["etag"], "\"bin-1\"");
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(common::body_bytes(response).await, Bytes::from(data));
}

#[tokio::test]
async fn gzipped_json_passes_with_its_encoding_untouched() {
    let json = br#"{"title": "Related: stories", "items": ["Related: a", "Read more: b"]}"#.repeat(50);
    let compressed = common::gzip(&json);
    let served = compressed.clone();
    let origin = Origin::start(move |_| {
        let body = served.clone();
        async move { full(200, &[("content-type", "application/json"), ("content-encoding", "gzip")], body) }
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let response = strainer
        .client()
        .get(origin.url("news.test", "/api.json"))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-length"], compressed.len().to_string().as_str());
    assert_eq!(common::body_bytes(response).await, Bytes::from(compressed));
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let origin = Origin::start(|request| async move {
        let mut names: Vec<String> = request.headers().keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        let host = request.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let accept_encoding =
            request.headers().get("accept-encoding").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = format!("host={host}\naccept-encoding={accept_encoding}\nheaders={}\n", names.join(","));
        full(
            200,
            &[
                ("content-type", "text/plain"),
                ("connection", "x-resp-hop"),
                ("x-resp-hop", "1"),
                ("keep-alive", "timeout=5"),
            ],
            body,
        )
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let response = strainer
        .client()
        .get(origin.url("news.test", "/echo"))
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("proxy-connection", "keep-alive")
        .header("proxy-authorization", "Basic dXNlcjpwYXNz")
        .header("te", "trailers")
        .header("accept-encoding", "gzip, dcb, zstd")
        .header("available-dictionary", ":abc:")
        .header("x-kept", "yes")
        .send()
        .await
        .expect("proxied");
    assert!(!response.headers().contains_key("x-resp-hop"), "{:?}", response.headers());
    assert!(!response.headers().contains_key("keep-alive"), "{:?}", response.headers());
    let text = String::from_utf8(common::body_bytes(response).await.to_vec()).expect("text");
    let port = origin.addr.port();
    assert!(text.contains(&format!("host=news.test:{port}\n")), "{text}");
    assert!(text.contains("accept-encoding=gzip, zstd\n"), "{text}");
    let headers = text.lines().find_map(|l| l.strip_prefix("headers=")).expect("header list");
    for gone in
        ["x-hop", "proxy-connection", "proxy-authorization", "te", "available-dictionary", "keep-alive"]
    {
        assert!(!headers.split(',').any(|h| h == gone), "{gone} reached the origin: {headers}");
    }
    assert!(headers.split(',').any(|h| h == "x-kept"), "{headers}");
}

#[tokio::test]
async fn refused_port_gives_502_naming_the_host_and_strainer_keeps_serving() {
    let dead = common::refused_addr().await;
    let origin = Origin::start(|_| async { full(200, &[("content-type", "text/plain")], "alive") }).await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let response = client.get(format!("http://plain.test:{}/", dead.port())).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.expect("page");
    assert!(page.contains("plain.test") && page.contains("refused"), "{page}");
    let response = client.get(origin.url("news.test", "/")).send().await.expect("still serving");
    assert_eq!(response.text().await.expect("body"), "alive");
}

#[tokio::test]
async fn silent_origin_gives_504_after_the_first_byte_timeout() {
    let origin = Origin::start(|_| async {
        std::future::pending::<()>().await;
        full(200, &[], "never")
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.limits.first_byte_timeout = Duration::from_millis(200);
    })
    .await;
    let response = strainer.client().get(origin.url("news.test", "/slow")).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(response.text().await.expect("page").contains("news.test"));
}

#[tokio::test]
async fn a_websocket_upgrade_to_a_silent_origin_gets_504_too() {
    let origin = Origin::start(|_| async {
        std::future::pending::<()>().await;
        full(101, &[], "never")
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.limits.first_byte_timeout = Duration::from_millis(200);
    })
    .await;
    let response = common::websocket_upgrade(strainer.client().get(origin.url("news.test", "/socket")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn origin_dying_mid_body_aborts_the_response_and_strainer_keeps_serving() {
    let (feed_tx, mut feed_rx) = tokio::sync::mpsc::channel(1);
    let origin = Origin::start(move |request| {
        let feed_tx = feed_tx.clone();
        async move {
            if request.uri().path() == "/ok" {
                return full(200, &[("content-type", "text/plain")], "fine");
            }
            let (tx, response) =
                channel(200, &[("content-type", "application/octet-stream"), ("content-length", "100000")]);
            let _ = feed_tx.send(tx).await;
            response
        }
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let request = client.get(origin.url("news.test", "/dies")).send();
    let feeder = async {
        let tx = feed_rx.recv().await.expect("origin got the request");
        tx.send(Ok(Bytes::from(vec![7u8; 1000]))).await.expect("body channel open");
        tx.send(Err("origin crashed".into())).await.expect("body channel open");
    };
    let (response, ()) = tokio::join!(request, feeder);
    let response = response.expect("head arrives");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.is_err(), "a truncated body must not look complete");
    let response = client.get(origin.url("news.test", "/ok")).send().await.expect("still serving");
    assert_eq!(response.text().await.expect("body"), "fine");
}

#[tokio::test]
async fn blocked_hosts_get_403_page_for_navigations_and_empty_403_otherwise() {
    let origin = Origin::start(|_| async { full(200, &[], "should not be reached") }).await;
    let block = HostRule {
        id: RuleId::new("block-test"),
        hosts: HostSet::new(vec![HostPattern::new("blocked.test").expect("valid pattern")]),
        except: HostSet::default(),
    };
    let rules = RuleSet { hosts: HostRules { block: vec![block], pass: vec![] }, ..RuleSet::default() };
    let strainer = Strainer::start_with_rules(rules, |_| {}).await;
    let client = strainer.client();
    let page = client
        .get(origin.url("blocked.test", "/ad.html"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("answered");
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let text = page.text().await.expect("page");
    assert!(text.contains("blocked.test") && text.contains("block-test"), "{text}");
    let pixel = client
        .get(origin.url("blocked.test", "/pixel.gif"))
        .header("accept", "image/*")
        .send()
        .await
        .expect("answered");
    assert_eq!(pixel.status(), StatusCode::FORBIDDEN);
    assert!(pixel.bytes().await.expect("body").is_empty());
    let allowed = client.get(origin.url("news.test", "/")).send().await.expect("answered");
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_back_to_strainer_are_refused_as_loops() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let by_ip = client.get(format!("http://{}/x", strainer.addr)).send().await.expect("answered");
    assert_eq!(by_ip.status(), StatusCode::LOOP_DETECTED);
    let by_name =
        client.get(format!("http://plain.test:{}/x", strainer.addr.port())).send().await.expect("answered");
    assert_eq!(by_name.status(), StatusCode::LOOP_DETECTED);
}

#[tokio::test]
async fn pac_file_and_status_page_are_served_locally() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let direct = strainer
        .direct_client()
        .get(format!("http://{}/proxy.pac", strainer.addr))
        .send()
        .await
        .expect("pac");
    assert_eq!(direct.status(), StatusCode::OK);
    assert_eq!(direct.headers()["content-type"], "application/x-ns-proxy-autoconfig");
    let pac = direct.text().await.expect("pac text");
    assert!(pac.contains(&format!("PROXY {}", strainer.addr)), "{pac}");
    let via_proxy = strainer.client().get("http://strainer.local/proxy.pac").send().await.expect("pac");
    assert_eq!(via_proxy.text().await.expect("pac text"), pac);
    let counted = strainer.metrics.snapshot();
    assert_eq!(counted.bytes_out, 2 * pac.len() as u64, "local answers count the bytes they send");
    let status = strainer.client().get("http://strainer.local/").send().await.expect("status page");
    assert_eq!(status.status(), StatusCode::OK);
    let page = status.text().await.expect("page");
    assert!(page.contains("strainer is running") && page.contains("proxy.pac"), "{page}");
    let missing = strainer.client().get("http://strainer.local/nope").send().await.expect("answered");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let huge = "a".repeat(100 * 1024);
    let response =
        strainer.client().get("http://news.test/").header("x-huge", huge).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn body_bytes_reach_the_client_before_the_origin_finishes() {
    let (origin, mut feed_rx) = common::fed_origin("application/octet-stream").await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let request = strainer.client().get(origin.url("news.test", "/stream")).send();
    let feeder = async {
        let tx = feed_rx.recv().await.expect("origin got the request");
        tx.send(Ok(Bytes::from(vec![1u8; 64 * 1024]))).await.expect("open");
        tx
    };
    let (response, tx) = tokio::join!(request, feeder);
    let mut response = response.expect("head arrives before the body ends");
    let first = tokio::time::timeout(HANG_GUARD, common::next_chunk(&mut response))
        .await
        .expect("first half must arrive while the origin still holds the second")
        .expect("a chunk");
    assert!(!first.is_empty());
    tx.send(Ok(Bytes::from(vec![2u8; 64 * 1024]))).await.expect("open");
    drop(tx);
    let mut total = first.len();
    while let Some(chunk) = common::next_chunk(&mut response).await {
        total += chunk.len();
    }
    assert_eq!(total, 128 * 1024);
}

#[tokio::test]
async fn chunked_non_html_passes_through() {
    let origin = Origin::start(|_| async {
        chunked(
            200,
            &[("content-type", "text/css")],
            vec![Bytes::from_static(b"a{}"), Bytes::from_static(b"b{}")],
        )
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let response = strainer.client().get(origin.url("news.test", "/s.css")).send().await.expect("proxied");
    assert_eq!(common::body_bytes(response).await, Bytes::from_static(b"a{}b{}"));
}

#[tokio::test]
async fn origin_stalling_mid_body_is_cut_after_the_idle_timeout() {
    let (origin, mut feed_rx) = common::fed_origin("application/octet-stream").await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.limits.idle_timeout = Duration::from_millis(200);
    })
    .await;
    let request = strainer.client().get(origin.url("news.test", "/stalls")).send();
    let feeder = async {
        let tx = feed_rx.recv().await.expect("origin got the request");
        tx.send(Ok(Bytes::from_static(b"some bytes"))).await.expect("open");
        tx
    };
    let (response, _held_open) = tokio::join!(request, feeder);
    let response = response.expect("head arrives");
    let body =
        tokio::time::timeout(HANG_GUARD, response.bytes()).await.expect("strainer cuts the stalled body");
    assert!(body.is_err(), "a stalled body must end in an error, not look complete");
}

/// Reads one request head (up to the blank line) from `stream`; false when the peer closed first.
async fn read_head(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn idempotent_request_on_a_connection_the_origin_just_closed_is_retried_once() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        // First connection: answer one request with keep-alive, then read the next one and hang up unanswered.
        let (mut first, _) = listener.accept().await.expect("first connection");
        assert!(read_head(&mut first).await);
        first.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst").await.expect("write");
        read_head(&mut first).await;
        drop(first);
        // Later connections: answer normally.
        while let Ok((mut stream, _)) = listener.accept().await {
            if read_head(&mut stream).await {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nretried").await;
            }
        }
    });
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let url = |path: &str| format!("http://plain.test:{port}{path}");
    let first = client.get(url("/a")).send().await.expect("first answered");
    assert_eq!(first.text().await.expect("body"), "first");
    let second = client.get(url("/b")).send().await.expect("second answered");
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.text().await.expect("body"), "retried");
}
