//! Behind a load balancer: connections from `proxy_protocol_from` addresses must start with a PROXY protocol v2
//! header, and the client it names (not the balancer) is the one checked against `allow_clients`. Headers are
//! built by hand from the specification, so this test does not share a parser with the code under test.

mod common;

use std::time::Duration;

use common::Strainer;
use strainer::access::ClientNetworks;
use strainer::rules::RuleSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// A PROXY v2 header (`PROXY` command, TCP over IPv4) naming `client` as the source.
fn header(client: [u8; 4]) -> Vec<u8> {
    let mut bytes = SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
    bytes.extend_from_slice(&client);
    bytes.extend_from_slice(&[127, 0, 0, 1]);
    bytes.extend_from_slice(&[0xC3, 0x50, 0x1F, 0x90]);
    bytes
}

/// Sends `prefix` then a `GET /healthz`, returns what came back (empty: the connection was closed unanswered).
async fn ask(strainer: &Strainer, prefix: &[u8]) -> String {
    let run = async {
        let mut stream = TcpStream::connect(strainer.addr).await.expect("connect");
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: strainer\r\nConnection: close\r\n\r\n");
        // A refused connection may be closed before everything is written: that is an answer too.
        let _ = stream.write_all(&bytes).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("answered or closed in time")
}

#[tokio::test]
async fn the_client_named_by_the_balancer_is_the_one_checked() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.proxy_protocol_from = ClientNetworks::parse(&["127.0.0.1"]).expect("valid");
        config.allow_clients = ClientNetworks::parse(&["10.1.2.3"]).expect("valid");
        config.limits.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let served = ask(&strainer, &header([10, 1, 2, 3])).await;
    assert!(served.starts_with("HTTP/1.1 200"), "allowed client behind the balancer: {served:?}");
    let refused = ask(&strainer, &header([10, 1, 2, 4])).await;
    assert_eq!(refused, "", "a client outside allow_clients is refused even through the balancer");
    assert_eq!(strainer.metrics.snapshot().connections_refused, 1);
    let bare = ask(&strainer, b"").await;
    assert_eq!(bare, "", "a balancer connection without a header is closed");
    let v1 = ask(&strainer, b"PROXY TCP4 10.1.2.3 127.0.0.1 50000 8080\r\n").await;
    assert_eq!(v1, "", "version 1 text headers are not accepted");
    assert_eq!(strainer.metrics.snapshot().connections_refused, 3);
}

#[tokio::test]
async fn a_header_from_anyone_else_is_not_trusted() {
    // Loopback is an allowed client but not a balancer: its PROXY header is not read, so it cannot pose as another
    // client; the header bytes are a malformed HTTP request.
    let strainer = Strainer::start_with_rules(RuleSet::default(), |config| {
        config.proxy_protocol_from = ClientNetworks::parse(&["192.0.2.1"]).expect("valid");
    })
    .await;
    let answer = ask(&strainer, &header([10, 1, 2, 3])).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let plain = ask(&strainer, b"").await;
    assert!(plain.starts_with("HTTP/1.1 200"), "a direct client is served as before: {plain:?}");
}
