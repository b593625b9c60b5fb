//! The proxy server: accept loop, per-connection service, graceful drain. The only user of hyper's server.

use crate::config::Config;

/// Why the proxy stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Placeholder until the proxy is implemented.
    #[error("not implemented")]
    NotImplemented,
}

/// Runs the proxy until shutdown (SIGTERM / Ctrl-C).
pub async fn run(config: Config) -> Result<(), ProxyError> {
    let _ = config;
    Err(ProxyError::NotImplemented)
}
