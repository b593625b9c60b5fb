//! The PROXY protocol v2 header a load balancer (HAProxy `send-proxy-v2`) puts before the client's bytes: it names
//! the real client, which strainer then logs and checks against `allow_clients`.
//!
//! Read only on connections from `proxy_protocol_from` addresses, and required there: a connection from a
//! balancer without a valid header is closed. Exactly the header's bytes are read (16 bytes, then the length it
//! declares), so nothing of the HTTP request is consumed. The bytes are parsed by the `ppp` crate.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::v2::{Addresses, Command, Header, PROTOCOL_PREFIX};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The fixed part of a v2 header: signature (12), version/command, family/protocol, length (2).
const FIXED_LEN: usize = 16;
/// Most address and TLV bytes accepted after the fixed part (HAProxy sends 12 or 36 plus a few TLVs).
const MAX_PAYLOAD: usize = 4096;

/// Why a balancer's connection was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// The connection closed or failed before a whole header arrived.
    #[error("connection ended before a whole PROXY v2 header: {0}")]
    Io(String),
    /// No header arrived in time.
    #[error("no PROXY v2 header within {0:?}")]
    Timeout(Duration),
    /// The bytes are not a PROXY v2 header (v1 text headers are not accepted).
    #[error("not a PROXY protocol v2 header")]
    NotV2,
    /// The header declares more bytes than any balancer sends.
    #[error("PROXY v2 header of {0} bytes is too long")]
    TooLong(usize),
    /// The header does not parse.
    #[error("malformed PROXY v2 header: {0}")]
    Malformed(String),
    /// A PROXY command with no IP addresses (UNIX sockets, or unspecified).
    #[error("PROXY v2 header names no IP client")]
    NoAddress,
}

/// Reads one v2 header from `stream` within `timeout` and returns the client it names; for a `LOCAL` command (the
/// balancer's own health checks) the connection's `peer` is the client.
pub async fn read_client<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    timeout: Duration,
) -> Result<SocketAddr, HeaderError> {
    match tokio::time::timeout(timeout, read(stream, peer)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(HeaderError::Timeout(timeout)),
    }
}

async fn read<S: AsyncRead + Unpin>(stream: &mut S, peer: SocketAddr) -> Result<SocketAddr, HeaderError> {
    let mut buf = vec![0u8; FIXED_LEN];
    stream.read_exact(&mut buf).await.map_err(|e| HeaderError::Io(e.to_string()))?;
    if !buf.starts_with(PROTOCOL_PREFIX) {
        return Err(HeaderError::NotV2);
    }
    let payload = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if payload > MAX_PAYLOAD {
        return Err(HeaderError::TooLong(FIXED_LEN + payload));
    }
    buf.resize(FIXED_LEN + payload, 0);
    stream.read_exact(&mut buf[FIXED_LEN..]).await.map_err(|e| HeaderError::Io(e.to_string()))?;
    client_of(&buf, peer)
}

/// The client named by the complete header `bytes` (see [`read_client`]).
pub fn client_of(bytes: &[u8], peer: SocketAddr) -> Result<SocketAddr, HeaderError> {
    let header = Header::try_from(bytes).map_err(|e| HeaderError::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(peer);
    }
    match header.addresses {
        Addresses::IPv4(a) => Ok(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::IPv6(a) => Ok(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::Unspecified | Addresses::Unix(_) => Err(HeaderError::NoAddress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 PROXY header for a TCP/IPv4 connection, built by hand from the specification.
    fn v4_header(command: u8, client: [u8; 4], port: u16) -> Vec<u8> {
        let mut bytes = PROTOCOL_PREFIX.to_vec();
        bytes.push(0x20 | command);
        bytes.push(0x11);
        bytes.extend_from_slice(&12u16.to_be_bytes());
        bytes.extend_from_slice(&client);
        bytes.extend_from_slice(&[127, 0, 0, 1]);
        bytes.extend_from_slice(&port.to_be_bytes());
        bytes.extend_from_slice(&8080u16.to_be_bytes());
        bytes
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:40000".parse().expect("literal")
    }

    #[tokio::test]
    async fn reads_exactly_the_header_and_names_the_client() {
        let mut bytes = v4_header(1, [192, 0, 2, 7], 5555);
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut stream = &bytes[..];
        let client = read_client(&mut stream, peer(), Duration::from_secs(1)).await;
        assert_eq!(client, Ok("192.0.2.7:5555".parse().expect("literal")));
        assert_eq!(stream, b"GET / HTTP/1.1\r\n", "the request is left unread");
    }

    #[tokio::test]
    async fn local_command_means_the_balancer_itself() {
        let bytes = v4_header(0, [192, 0, 2, 7], 5555);
        let client = read_client(&mut &bytes[..], peer(), Duration::from_secs(1)).await;
        assert_eq!(client, Ok(peer()));
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let cases: [(&[u8], HeaderError); 3] = [
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HeaderError::NotV2),
            (b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 8080\r\n", HeaderError::NotV2),
            (&PROTOCOL_PREFIX[..8], HeaderError::Io("early eof".to_owned())),
        ];
        for (bytes, expected) in cases {
            let outcome = read_client(&mut &bytes[..], peer(), Duration::from_secs(1)).await;
            assert_eq!(outcome, Err(expected), "{bytes:?}");
        }
        let mut long = PROTOCOL_PREFIX.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        let outcome = read_client(&mut &long[..], peer(), Duration::from_secs(1)).await;
        assert!(matches!(outcome, Err(HeaderError::TooLong(_))), "{outcome:?}");
        let mut truncated = v4_header(1, [192, 0, 2, 7], 5555);
        truncated[15] = 4; // declares 4 address bytes where IPv4 needs 12
        truncated.truncate(20);
        let outcome = read_client(&mut &truncated[..], peer(), Duration::from_secs(1)).await;
        assert!(matches!(outcome, Err(HeaderError::Malformed(_))), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_silent_balancer_times_out() {
        let (mut quiet, _keep_open) = tokio::io::duplex(64);
        let outcome = read_client(&mut quiet, peer(), Duration::from_millis(50)).await;
        assert_eq!(outcome, Err(HeaderError::Timeout(Duration::from_millis(50))));
    }
}
