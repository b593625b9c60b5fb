//! The local certificate authority kept in `certs/`: created once, never overwritten, never silently replaced.
//!
//! Files: `strainer-ca.pem` (the public certificate users install in browsers) and `strainer-ca.key.pem` (its
//! private key, mode 0600). They are created crash-safely and never overwritten (see [`super::ca_files`]): a crash
//! at any point leaves either no CA or a complete pair. A CA that is incomplete, unreadable, malformed, expired or
//! whose key does not match its certificate is an error for the admin to resolve; strainer never regenerates one
//! on its own (browsers trust the old one).
//!
//! This module knows files and certificates only; leaf minting lives in [`super::leaf`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::ca_files;
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate (public).
pub const CERT_FILE: &str = "strainer-ca.pem";
/// File name of the CA private key (mode 0600).
pub const KEY_FILE: &str = "strainer-ca.key.pem";

/// How long a new CA is valid.
const VALIDITY: Duration = Duration::days(3650);
/// How far a new CA's `notBefore` is backdated, for clocks that lag behind.
const BACKDATE: Duration = Duration::days(1);
/// A loaded CA this close to expiry is logged at `warn`.
const EXPIRY_WARNING: Duration = Duration::days(30);

/// Why a CA operation failed. Every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read, created or linked into place.
    #[error("{}: {error}", .path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error (shown in the message, so not also a `source`: error chains would print it twice).
        error: io::Error,
    },
    /// A file does not hold a usable certificate or key.
    #[error("{}: {reason}", .path.display())]
    Malformed {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key is not the key of the certificate.
    #[error("{} is not the private key of {}; restore the matching pair or move both away and run `strainer ca init`", .key.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// Only one of the two files exists.
    #[error("{} exists but {} is missing; restore it, or move {} away and run `strainer ca init`", .present.display(), .missing.display(), .present.display())]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// The certificate is not a CA certificate.
    #[error("{}: not a CA certificate (basicConstraints CA:TRUE missing)", .path.display())]
    NotCa {
        /// The certificate file.
        path: PathBuf,
    },
    /// The certificate has expired.
    #[error("{}: the CA expired on {not_after}; move both files away and run `strainer ca init`", .path.display())]
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// When it expired.
        not_after: OffsetDateTime,
    },
    /// Generating or signing a certificate failed.
    #[error("cannot generate the CA: {0}")]
    Generate(#[from] rcgen::Error),
}

/// What `strainer ca init` (or a proxy start) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaInit {
    /// A new CA was written.
    Created,
    /// A CA already existed and was left alone.
    AlreadyPresent,
}

/// A loaded CA: its certificate and an issuer that signs leaf certificates with its key.
pub struct CertificateAuthority {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    fingerprint: String,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, creating it first if neither file exists. Logs the outcome at `info`.
    pub fn load_or_create(dir: &Path) -> Result<(Self, CaInit), CaError> {
        let outcome = create_if_absent(dir)?;
        let ca = Self::load(dir)?;
        match outcome {
            CaInit::Created => tracing::info!(
                dir = %dir.display(),
                fingerprint = %ca.fingerprint,
                "created a new CA; install its certificate in browsers"
            ),
            CaInit::AlreadyPresent => {
                tracing::info!(dir = %dir.display(), fingerprint = %ca.fingerprint, "loaded the CA")
            }
        }
        Ok((ca, outcome))
    }

    /// Loads an existing CA from `dir`, checking that it is a valid CA certificate whose key matches.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let cert_der = read_cert(&cert_path)?;
        warn_if_key_is_exposed(&key_path);
        let key_pem = read_text(&key_path)?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| malformed(&key_path, format!("not a usable private key: {e}")))?;

        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| malformed(&cert_path, format!("not an X.509 certificate: {e}")))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CaError::KeyMismatch { cert: cert_path, key: key_path });
        }
        let is_ca = parsed
            .basic_constraints()
            .map_err(|e| malformed(&cert_path, format!("bad basicConstraints: {e}")))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(CaError::NotCa { path: cert_path });
        }
        let not_after = parsed.validity().not_after.to_datetime();
        let now = OffsetDateTime::now_utc();
        if not_after <= now {
            return Err(CaError::Expired { path: cert_path, not_after });
        }
        if not_after - now < EXPIRY_WARNING {
            tracing::warn!(path = %cert_path.display(), %not_after, "the CA expires soon");
        }

        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| malformed(&cert_path, format!("cannot use as an issuer: {e}")))?;
        let cert_pem = pem_of(&cert_der);
        let fingerprint = sha256_fingerprint(&cert_der);
        Ok(Self { cert_der, cert_pem, fingerprint, not_after, issuer })
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA certificate, PEM text.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The SHA-256 fingerprint of the certificate, colon-separated upper-case hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When the CA certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The issuer that signs leaf certificates.
    pub fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// Creates the CA in `dir` unless one exists; an existing CA is validated, never replaced.
pub fn init(dir: &Path) -> Result<CaInit, CaError> {
    CertificateAuthority::load_or_create(dir).map(|(_, outcome)| outcome)
}

/// The CA certificate in `dir`, as PEM text or DER bytes (the key is not needed).
pub fn export(dir: &Path, der: bool) -> Result<Vec<u8>, CaError> {
    let cert = read_cert(&dir.join(CERT_FILE))?;
    Ok(if der { cert.to_vec() } else { pem_of(&cert).into_bytes() })
}

/// The SHA-256 fingerprint of the CA certificate in `dir`, as colon-separated hex.
pub fn fingerprint(dir: &Path) -> Result<String, CaError> {
    Ok(sha256_fingerprint(&read_cert(&dir.join(CERT_FILE))?))
}

/// The SHA-256 fingerprint of a DER certificate, colon-separated upper-case hex (`AB:CD:…`).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// Writes a new CA into `dir` when neither file exists, under the CA lock (concurrent creators take turns, and the
/// later ones find the CA in place). With exactly one file present it refuses. Finishes or discards what a crashed
/// creator left first.
fn create_if_absent(dir: &Path) -> Result<CaInit, CaError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    ca_files::create_private_dir(dir)?;
    let lock = ca_files::lock(dir)?;
    match ca_files::tidy(dir, &lock) {
        // A complete CA in a directory strainer may not write to (provisioned read-only) is fine as it is.
        Err(_) if exists(&cert_path)? && exists(&key_path)? => return Ok(CaInit::AlreadyPresent),
        other => other?,
    }
    match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => return Ok(CaInit::AlreadyPresent),
        (true, false) => return Err(CaError::Incomplete { present: cert_path, missing: key_path }),
        (false, true) => return Err(CaError::Incomplete { present: key_path, missing: cert_path }),
        (false, false) => {}
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = ca_params(OffsetDateTime::now_utc()).self_signed(&key)?;
    ca_files::install(dir, key.serialize_pem().as_bytes(), cert.pem().as_bytes(), &lock)?;
    Ok(CaInit::Created)
}

/// Do `cert_pem` and `key_pem` hold a certificate and the private key of its public key?
pub(super) fn matching_pair(cert_pem: &[u8], key_pem: &[u8]) -> bool {
    let key = std::str::from_utf8(key_pem).ok().and_then(|pem| KeyPair::from_pem(pem).ok());
    let cert = CertificateDer::from_pem_slice(cert_pem).ok();
    match (key, cert) {
        (Some(key), Some(cert)) => x509_parser::parse_x509_certificate(&cert)
            .is_ok_and(|(_, parsed)| parsed.public_key().raw == key.subject_public_key_info().as_slice()),
        _ => false,
    }
}

/// Certificate parameters of a new CA created at `now`.
fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CommonName,
        // The random suffix tells apart CAs created on one machine on one day (browsers match issuers by name).
        format!(
            "strainer local CA on {} ({}, {:06x})",
            hostname(),
            now.date(),
            rand::random::<u32>() & 0xff_ffff
        ),
    );
    name.push(DnType::OrganizationName, "strainer filtering proxy");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
    params.serial_number = Some(random_serial());
    params
}

/// A random positive 16-byte serial number.
pub(crate) fn random_serial() -> rcgen::SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    // A leading zero byte would be dropped by DER; keep the length fixed.
    bytes[0] |= 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// This machine's name, for the CA's common name (so a user can tell the CAs of several machines apart).
fn hostname() -> String {
    let from_file = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this machine".to_owned())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CaError + '_ {
    move |error| CaError::Io { path: path.to_owned(), error }
}

fn exists(path: &Path) -> Result<bool, CaError> {
    path.try_exists().map_err(io_err(path))
}

#[cfg(unix)]
fn warn_if_key_is_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the CA key is readable by other users");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_key_is_exposed(_path: &Path) {}

fn read_text(path: &Path) -> Result<String, CaError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    String::from_utf8(bytes).map_err(|_| malformed(path, "not PEM text".to_owned()))
}

fn read_cert(path: &Path) -> Result<CertificateDer<'static>, CaError> {
    let pem = read_text(path)?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| malformed(path, format!("no PEM certificate: {e}")))?;
    x509_parser::parse_x509_certificate(&der)
        .map_err(|e| malformed(path, format!("not an X.509 certificate: {e}")))?;
    Ok(der)
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn malformed(path: &Path, reason: String) -> CaError {
    CaError::Malformed { path: path.to_owned(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ca_has_ca_extensions_and_a_backdated_ten_year_validity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, outcome) = CertificateAuthority::load_or_create(dir.path()).expect("create");
        assert_eq!(outcome, CaInit::Created);
        let (_, cert) = x509_parser::parse_x509_certificate(ca.cert_der()).expect("parse");
        let bc = cert.basic_constraints().expect("bc").expect("present");
        assert!(bc.critical && bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = cert.key_usage().expect("ku").expect("present").value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        assert!(cert.iter_extensions().any(|e| matches!(
            e.parsed_extension(),
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(_)
        )));
        let cn = cert.subject().iter_common_name().next().expect("cn").as_str().expect("utf8").to_owned();
        assert!(cn.starts_with("strainer local CA on "), "{cn}");
        let now = OffsetDateTime::now_utc();
        let validity = cert.validity();
        assert!(validity.not_before.to_datetime() < now - Duration::hours(12));
        assert!(validity.not_after.to_datetime() > now + Duration::days(3600));
        assert_eq!(ca.fingerprint().len(), 32 * 3 - 1);
    }

    #[test]
    fn pem_of_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, _) = CertificateAuthority::load_or_create(dir.path()).expect("create");
        let again = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("pem");
        assert_eq!(&again, ca.cert_der());
        assert_eq!(fs::read_to_string(dir.path().join(CERT_FILE)).expect("read"), ca.cert_pem());
    }
}
