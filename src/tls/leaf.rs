//! Leaf certificates minted per host and signed by the local CA, with the TLS server settings that present them.
//!
//! One P-256 key serves every leaf for the life of the process, so minting a host costs one signature (well under
//! a millisecond) and the leaf SPKI is stable. Each host gets its own [`ServerConfig`] (chain `[leaf, CA]`, ALPN
//! `h2` + `http/1.1`), kept in a bounded cache; concurrent first handshakes for one host wait for a single mint.
//!
//! This module knows certificates and rustls settings; it does not accept connections (that is the proxy's job).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use moka::future::Cache;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use time::{Duration, OffsetDateTime};

use super::ca::{random_serial, CertificateAuthority};
use crate::url_host::normalise_host;

/// Default number of hosts whose settings are cached.
pub const DEFAULT_CACHE_SIZE: u64 = 10_000;
/// Validity of a leaf, counted from its backdated `notBefore` (browsers accept at most 398 days).
const VALIDITY: Duration = Duration::days(397);
/// How far `notBefore` is backdated, for clocks that lag behind.
const BACKDATE: Duration = Duration::days(1);
/// Cached settings are dropped after this long, well before their leaf expires, so long runs mint fresh ones.
const CACHE_TTL: StdDuration = StdDuration::from_secs(30 * 24 * 3600);

/// Why no leaf could be made for a host.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    /// The host is not a DNS name or IP address a certificate can name.
    #[error("cannot mint a certificate for {host:?}: not a valid host name")]
    InvalidHost {
        /// The host as received.
        host: String,
    },
    /// rcgen could not build or sign the certificate.
    #[error("cannot mint a certificate for {host}: {source}")]
    Sign {
        /// The host.
        host: String,
        /// The rcgen error.
        source: rcgen::Error,
    },
    /// rustls refused the key or settings.
    #[error("cannot build TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    /// The cache counter could not be built.
    #[error("cannot build the leaf cache counter: {0}")]
    Metrics(String),
}

/// Mints leaf certificates and caches the TLS server settings that present them, per host.
pub struct LeafCerts {
    ca: Arc<CertificateAuthority>,
    leaf_key: KeyPair,
    signing_key: Arc<dyn SigningKey>,
    provider: Arc<CryptoProvider>,
    cache: Cache<String, Arc<ServerConfig>>,
    minted: AtomicU64,
    lookups: prometheus::IntCounterVec,
}

impl std::fmt::Debug for LeafCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCerts")
            .field("ca", &self.ca.fingerprint())
            .field("minted", &self.minted())
            .finish_non_exhaustive()
    }
}

impl LeafCerts {
    /// Leaf minting under `ca`, caching the settings of at most `cache_size` hosts. Generates the leaf key.
    pub fn new(ca: Arc<CertificateAuthority>, cache_size: u64) -> Result<Self, LeafError> {
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|source| LeafError::Sign { host: String::new(), source })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing_key = provider.key_provider.load_private_key(key_der)?;
        let cache = Cache::builder().max_capacity(cache_size).time_to_live(CACHE_TTL).build();
        let lookups = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "strainer_tls_leaf_cache_total",
                "Leaf certificate lookups for intercepted hosts: hit (cached) or miss (minted).",
            ),
            &["result"],
        )
        .map_err(|e| LeafError::Metrics(e.to_string()))?;
        for result in ["hit", "miss"] {
            let _ = lookups.with_label_values(&[result]);
        }
        Ok(Self { ca, leaf_key, signing_key, provider, cache, minted: AtomicU64::new(0), lookups })
    }

    /// The TLS server settings for `host` (a DNS name or an IP literal, IPv6 with or without brackets), minting
    /// its leaf on first use. Concurrent first calls for one host mint once.
    pub async fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, Arc<LeafError>> {
        // One host, one cache entry: compared in normal form.
        let host = normalise_host(host);
        let missed = std::sync::atomic::AtomicBool::new(false);
        let config = self
            .cache
            .try_get_with_by_ref(host.as_ref(), async {
                missed.store(true, Ordering::Relaxed);
                self.build_config(&host).map(Arc::new)
            })
            .await;
        let result = if missed.load(Ordering::Relaxed) { "miss" } else { "hit" };
        self.lookups.with_label_values(&[result]).inc();
        config
    }

    /// The `strainer_tls_leaf_cache_total{result="hit|miss"}` counter, for the proxy's metrics registry.
    pub fn cache_counter(&self) -> prometheus::IntCounterVec {
        self.lookups.clone()
    }

    /// The CA that signs the leaves.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// How many leaves were minted since start (cache hits do not count).
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// The DER bytes of the SubjectPublicKeyInfo all leaves share (for pinning in tests and browsers).
    pub fn leaf_spki_der(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(&self.leaf_key)
    }

    /// Mints a leaf for `host` (already normalized) and builds settings presenting `[leaf, CA]`.
    fn build_config(&self, host: &str) -> Result<ServerConfig, LeafError> {
        let started = Instant::now();
        let leaf = self.mint(host)?;
        let chain = vec![leaf, self.ca.cert_der().clone()];
        let certified = Arc::new(CertifiedKey::new(chain, Arc::clone(&self.signing_key)));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        self.minted.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(host, elapsed_us = started.elapsed().as_micros() as u64, "minted a leaf certificate");
        Ok(config)
    }

    /// The DER leaf certificate for `host`.
    fn mint(&self, host: &str) -> Result<CertificateDer<'static>, LeafError> {
        let sign_err = |source| LeafError::Sign { host: host.to_owned(), source };
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                if ServerName::try_from(host).is_err() {
                    return Err(LeafError::InvalidHost { host: host.to_owned() });
                }
                SanType::DnsName(host.try_into().map_err(sign_err)?)
            }
        };
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        params.subject_alt_names = vec![san];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = now - BACKDATE;
        params.not_after = params.not_before + VALIDITY;
        let cert = params.signed_by(&self.leaf_key, self.ca.issuer()).map_err(sign_err)?;
        Ok(cert.der().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    fn leaf_certs() -> (tempfile::TempDir, LeafCerts) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, _) = CertificateAuthority::load_or_create(dir.path()).expect("CA");
        (dir, LeafCerts::new(Arc::new(ca), 16).expect("leaf certs"))
    }

    #[test]
    fn leaf_has_the_expected_fields() {
        let (_dir, certs) = leaf_certs();
        let der = certs.mint("news.test").expect("mint");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
        let cn = cert.subject().iter_common_name().next().expect("cn").as_str().expect("utf8").to_owned();
        assert_eq!(cn, "news.test");
        let san = cert.subject_alternative_name().expect("san").expect("present");
        assert_eq!(san.value.general_names, vec![GeneralName::DNSName("news.test")]);
        let eku = cert.extended_key_usage().expect("eku").expect("present");
        assert!(eku.value.server_auth && !eku.value.client_auth);
        let ku = cert.key_usage().expect("ku").expect("present");
        assert!(ku.value.digital_signature() && !ku.value.key_cert_sign());
        assert!(cert
            .iter_extensions()
            .any(|e| matches!(e.parsed_extension(), ParsedExtension::AuthorityKeyIdentifier(_))));
        let bc = cert.basic_constraints().expect("bc").expect("present");
        assert!(!bc.value.ca);
        let validity = cert.validity();
        let days = (validity.not_after.to_datetime() - validity.not_before.to_datetime()).whole_days();
        assert!(days <= 397, "{days}");
        assert!(validity.not_before.to_datetime() < OffsetDateTime::now_utc() - Duration::hours(12));
    }

    #[test]
    fn ip_hosts_get_an_ip_san_and_serials_differ() {
        let (_dir, certs) = leaf_certs();
        let first = certs.mint("127.0.0.1").expect("mint");
        let second = certs.mint("127.0.0.1").expect("mint");
        let (_, a) = x509_parser::parse_x509_certificate(&first).expect("parse");
        let (_, b) = x509_parser::parse_x509_certificate(&second).expect("parse");
        let san = a.subject_alternative_name().expect("san").expect("present");
        assert_eq!(san.value.general_names, vec![GeneralName::IPAddress(&[127, 0, 0, 1])]);
        assert_ne!(a.raw_serial(), b.raw_serial());
    }

    #[test]
    fn rejects_hosts_a_certificate_cannot_name() {
        let (_dir, certs) = leaf_certs();
        for host in ["", "bad host", "a..b", "-"] {
            assert!(matches!(certs.mint(host), Err(LeafError::InvalidHost { .. })), "{host:?}");
        }
    }
}
