//! The server side of a man-in-the-middle TLS handshake: read the ClientHello, pick the leaf for its SNI name (or the
//! CONNECT host when the client sent none), finish the handshake, all under one deadline.
//!
//! This module knows streams and rustls; what is served on the decrypted stream is the proxy's business.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::leaf::{LeafCerts, LeafError};

/// Why a client's TLS handshake with strainer failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client did not finish the handshake before the deadline.
    #[error("TLS handshake timed out")]
    Timeout,
    /// The ClientHello could not be read (not TLS, closed, malformed).
    #[error("cannot read the ClientHello: {0}")]
    ClientHello(io::Error),
    /// No leaf could be minted for the name.
    #[error(transparent)]
    Leaf(Arc<LeafError>),
    /// The client broke off the handshake (often: it does not trust strainer's CA).
    #[error("handshake failed: {0}")]
    Handshake(io::Error),
}

/// A finished handshake: the decrypted stream and the name whose leaf was presented.
#[derive(Debug)]
pub struct Accepted<IO> {
    /// The decrypted stream.
    pub stream: TlsStream<IO>,
    /// The SNI name, or the fallback host when the client sent none.
    pub host: String,
    /// The ALPN protocol agreed with the client, if any (`h2`, `http/1.1`).
    pub alpn: Option<Vec<u8>>,
}

/// Accepts TLS on `io` with a leaf for the client's SNI name, else for `fallback_host` (the CONNECT host).
/// The whole handshake, ClientHello included, must finish before `deadline`.
pub async fn accept<IO>(
    io: IO,
    certs: &LeafCerts,
    fallback_host: &str,
    deadline: Instant,
) -> Result<Accepted<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = tokio::time::timeout_at(deadline, acceptor)
        .await
        .map_err(|_| HandshakeError::Timeout)?
        .map_err(HandshakeError::ClientHello)?;
    let host = start.client_hello().server_name().unwrap_or(fallback_host).to_owned();
    let config = certs.server_config(&host).await.map_err(HandshakeError::Leaf)?;
    let stream = tokio::time::timeout_at(deadline, start.into_stream(config))
        .await
        .map_err(|_| HandshakeError::Timeout)?
        .map_err(HandshakeError::Handshake)?;
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok(Accepted { stream, host, alpn })
}
