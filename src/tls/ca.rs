//! The local certificate authority kept in `certs/`: created once, never overwritten.

use std::path::Path;

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Placeholder until the CA is implemented.
    #[error("not implemented")]
    NotImplemented,
}

/// What `strainer ca init` did.
#[derive(Debug)]
pub enum CaInit {
    /// A new CA was written to these files.
    Created,
    /// A CA already existed and was left alone.
    AlreadyPresent,
}

/// Creates the CA in `dir` unless one exists.
pub fn init(dir: &Path) -> Result<CaInit, CaError> {
    let _ = dir;
    Err(CaError::NotImplemented)
}

/// The CA certificate in `dir`, as PEM text or DER bytes.
pub fn export(dir: &Path, der: bool) -> Result<Vec<u8>, CaError> {
    let _ = (dir, der);
    Err(CaError::NotImplemented)
}

/// The SHA-256 fingerprint of the CA certificate in `dir`, as colon-separated hex.
pub fn fingerprint(dir: &Path) -> Result<String, CaError> {
    let _ = dir;
    Err(CaError::NotImplemented)
}
