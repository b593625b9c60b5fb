//! Who may use the proxy: the client networks allowed to connect, and optional `Basic` proxy credentials
//! (`Proxy-Authorization`, RFC 9110 §11.7.2). Parsing and matching only; the proxy enforces them.
//!
//! Defaults keep a proxy opened to the network from becoming an open proxy on the internet: without
//! `allow_clients`, only loopback, private (RFC 1918, RFC 6598 shared space, IPv6 ULA) and link-local
//! clients may connect.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use http::header::PROXY_AUTHORIZATION;
use http::HeaderMap;
use ipnet::IpNet;
use subtle::ConstantTimeEq;

/// Networks whose clients may connect when `allow_clients` is not set: loopback, private and link-local.
const NON_GLOBAL_NETWORKS: [&str; 9] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// A malformed `allow_clients` or `proxy_auth` entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// An `allow_clients` entry is neither an address nor an address/prefix.
    #[error("allow_clients entry {0:?} is not an IP address or network (e.g. \"192.168.1.0/24\")")]
    BadNetwork(String),
    /// A `proxy_auth` entry (numbered from 1; never echoed, it may hold a password) is not `user:password`
    /// with a non-empty user.
    #[error("proxy_auth entry {0} is not USER:PASSWORD with a non-empty user name")]
    BadCredentials(usize),
}

/// The client networks allowed to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientNetworks {
    networks: Vec<IpNet>,
}

impl ClientNetworks {
    /// Parses `entries`: each an address (`10.0.0.7`, `::1`) or a network (`192.168.1.0/24`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AccessError> {
        let networks = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| AccessError::BadNetwork(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// No network at all: permits nobody.
    pub fn none() -> Self {
        Self { networks: Vec::new() }
    }

    /// Does this list name no network?
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Is a client at `ip` allowed? IPv4 clients reaching an IPv6 socket (`::ffff:a.b.c.d`) count as IPv4.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }
}

impl Default for ClientNetworks {
    /// Loopback, private and link-local networks.
    fn default() -> Self {
        // Each literal above is a valid network; an entry that somehow failed would only narrow access.
        Self::parse(&NON_GLOBAL_NETWORKS).unwrap_or(Self { networks: Vec::new() })
    }
}

impl fmt::Display for ClientNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.networks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// Accepted `Basic` proxy credentials.
#[derive(Clone)]
pub struct ProxyCredentials {
    /// The base64 token of each accepted `user:password`, as browsers send it after `Basic `.
    tokens: Vec<String>,
}

impl ProxyCredentials {
    /// Parses `entries` of the form `user:password`. `None` when there are none: no authentication.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Option<Self>, AccessError> {
        let tokens = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let entry = entry.as_ref();
                match entry.split_once(':') {
                    Some((user, _)) if !user.is_empty() => {
                        Ok(base64::engine::general_purpose::STANDARD.encode(entry.as_bytes()))
                    }
                    _ => Err(AccessError::BadCredentials(i + 1)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!tokens.is_empty()).then_some(Self { tokens }))
    }

    /// Does `headers` carry a `Proxy-Authorization: Basic` with accepted credentials? Compares in constant time
    /// per credential.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(PROXY_AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let token = token.trim().as_bytes();
        // Every credential is compared, so the time taken does not say which one came close.
        self.tokens.iter().fold(false, |found, expected| found | bool::from(expected.as_bytes().ct_eq(token)))
    }

    /// How many user entries are accepted (for the start-up message; names and passwords stay private).
    pub fn user_count(&self) -> usize {
        self.tokens.len()
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials").field("users", &self.tokens.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn default_networks_admit_local_and_private_clients_only() {
        let nets = ClientNetworks::default();
        for local in
            ["127.0.0.1", "10.1.2.3", "172.31.0.9", "192.168.1.20", "100.64.0.1", "169.254.3.4", "::1"]
        {
            assert!(nets.permits(ip(local)), "{local}");
        }
        for local in ["fd12:3456::1", "fe80::1", "::ffff:192.168.1.2"] {
            assert!(nets.permits(ip(local)), "{local}");
        }
        for global in ["8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!nets.permits(ip(global)), "{global}");
        }
    }

    #[test]
    fn explicit_networks_replace_the_default() {
        let nets =
            ClientNetworks::parse(&["203.0.113.0/24", "2001:db8::7", " 198.51.100.9/16 "]).expect("valid");
        assert!(nets.permits(ip("203.0.113.200")));
        assert!(nets.permits(ip("2001:db8::7")));
        assert!(!nets.permits(ip("2001:db8::8")));
        assert!(nets.permits(ip("198.51.0.1")), "host bits of a network entry are ignored");
        assert!(!nets.permits(ip("127.0.0.1")), "loopback is not implied once networks are listed");
        assert_eq!(nets.to_string(), "203.0.113.0/24, 2001:db8::7/128, 198.51.0.0/16");
    }

    #[test]
    fn malformed_networks_are_errors() {
        for bad in ["", "192.168.1.0/33", "localhost", "10.0.0.0/8/8"] {
            assert_eq!(ClientNetworks::parse(&[bad]), Err(AccessError::BadNetwork(bad.to_owned())));
        }
    }

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(PROXY_AUTHORIZATION, HeaderValue::from_str(value).expect("test header"));
        headers
    }

    #[test]
    fn basic_credentials_are_checked() {
        let creds =
            ProxyCredentials::parse(&["alice:s3cret:with-colon", "bob:"]).expect("valid").expect("some");
        assert_eq!(creds.user_count(), 2);
        // base64("alice:s3cret:with-colon") and base64("bob:")
        assert!(creds.accepts(&with_authorization("Basic YWxpY2U6czNjcmV0OndpdGgtY29sb24=")));
        assert!(creds.accepts(&with_authorization("basic   Ym9iOg== ")));
        assert!(!creds.accepts(&with_authorization("Basic YWxpY2U6d3Jvbmc=")), "alice:wrong");
        assert!(!creds.accepts(&with_authorization("Bearer Ym9iOg==")));
        assert!(!creds.accepts(&with_authorization("Basic")));
        assert!(!creds.accepts(&HeaderMap::new()));
    }

    #[test]
    fn credential_entries_need_a_user_and_a_colon() {
        assert!(ProxyCredentials::parse::<&str>(&[]).expect("valid").is_none());
        assert_eq!(ProxyCredentials::parse(&["dave:pw", ":pw"]).err(), Some(AccessError::BadCredentials(2)));
        assert_eq!(ProxyCredentials::parse(&["carol"]).err(), Some(AccessError::BadCredentials(1)));
    }
}
