//! Start-up and shutdown: broken rules stop `proxy::run` before it listens; a shutdown signal stops accepting
//! but lets an in-flight response finish.

mod common;

use bytes::Bytes;
use common::Strainer;
use strainer::config::Config;
use strainer::rules::RuleSet;

#[tokio::test]
async fn broken_rules_stop_the_proxy_before_it_listens() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("broken.toml"), "[[remove]]\nid = \"x\"\nselector = \"p >\"\n")
        .expect("write rule");
    let mut config = Config::for_listener("127.0.0.1:0".parse().expect("literal"), dir.path());
    config.certs_dir = dir.path().join("certs");
    let outcome = strainer::proxy::run(config).await;
    assert!(matches!(outcome, Err(strainer::proxy::ProxyError::Rules(n)) if n >= 1), "{outcome:?}");
}

#[tokio::test]
async fn shutdown_lets_the_in_flight_response_finish_and_stops_accepting() {
    let (origin, mut feed_rx) = common::fed_origin("application/octet-stream").await;
    let mut strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let request = client.get(origin.url("news.test", "/slow")).send();
    let feeder = async {
        let tx = feed_rx.recv().await.expect("origin got the request");
        tx.send(Ok(Bytes::from_static(b"first "))).await.expect("open");
        tx
    };
    let (response, tx) = tokio::join!(request, feeder);
    let mut response = response.expect("head arrives");
    let first = common::next_chunk(&mut response).await.expect("first chunk");

    strainer.begin_shutdown();
    tx.send(Ok(Bytes::from_static(b"second"))).await.expect("open");
    drop(tx);
    let mut body = first.to_vec();
    while let Some(chunk) = common::next_chunk(&mut response).await {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"first second");
    strainer.stopped().await;
    let fresh = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{}", strainer.addr)).expect("proxy url"))
        .build()
        .expect("client");
    assert!(fresh.get(origin.url("news.test", "/again")).send().await.is_err(), "no longer accepting");
}
