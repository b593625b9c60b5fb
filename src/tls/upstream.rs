//! TLS settings towards origins: always verified, against three sets of roots in one store: the bundled public
//! (webpki) roots, the operating system's trust store (as `rustls-native-certs` reads it: the distribution's CA
//! bundle on Linux, or the files named by `SSL_CERT_FILE` / `SSL_CERT_DIR`; the keychain on macOS; the system store
//! on Windows), so enterprise and locally installed roots work as they do in browsers, and `--upstream-ca` files.
//!
//! The OS store is read once per process (it can be a few hundred KB of PEM); certificates in it that do not parse
//! are skipped and reported in one `warn` event, never fatal: the bundled roots still apply.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Why the upstream TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// An extra CA file could not be read or holds no certificate.
    #[error("cannot load upstream CA file {}: {reason}", .path.display())]
    CaFile {
        /// The file given with `--upstream-ca`.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("invalid upstream TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration that verifies origins against the bundled public roots, the OS trust store and every
/// certificate in `extra_ca` (PEM files). No ALPN is set: the HTTP client sets it.
pub fn client_config(extra_ca: &[PathBuf]) -> Result<rustls::ClientConfig, UpstreamTlsError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.roots.extend(os_roots().iter().cloned());
    for path in extra_ca {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| ca_error(path, e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The trust anchors of the OS store, read on first use and kept for the life of the process. Logs once at `info`
/// how many were loaded (`os_roots`) and at `warn` what could not be read.
fn os_roots() -> &'static [rustls_pki_types::TrustAnchor<'static>] {
    static ROOTS: OnceLock<Vec<rustls_pki_types::TrustAnchor<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (_, unusable) = store.add_parsable_certificates(found.certs);
        if !found.errors.is_empty() || unusable > 0 {
            let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            tracing::warn!(
                unusable,
                errors = %errors.join("; "),
                "parts of the OS trust store could not be read; the bundled roots still apply"
            );
        }
        tracing::info!(
            os_roots = store.roots.len(),
            bundled_roots = webpki_roots::TLS_SERVER_ROOTS.len(),
            "upstream trust roots loaded"
        );
        store.roots
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, UpstreamTlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_error(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_error(path, "no certificate in file".to_owned()));
    }
    Ok(certs)
}

fn ca_error(path: &Path, reason: String) -> UpstreamTlsError {
    UpstreamTlsError::CaFile { path: path.to_owned(), reason }
}
