//! Host patterns, host sets and site scopes.
//!
//! A pattern without `*` names a domain and all its subdomains (`amazon.com` matches `www.amazon.com`). A pattern
//! with `*` is a glob over the whole host, where `*` matches any run of characters dots included (`amazon.*`
//! matches `amazon.co.uk`); it also matches subdomains of what it matches (`www.amazon.co.uk`). Matching ignores
//! case and a trailing dot.

use std::collections::HashSet;

use foldhash::fast::RandomState;
use regex::Regex;

use crate::url_host::normalise_host as normalise;

/// One host pattern, validated.
#[derive(Clone, Debug)]
pub struct HostPattern {
    /// Lower-cased, without a trailing dot.
    text: String,
    /// Contains `*`.
    is_glob: bool,
}

/// Why a host pattern was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostPatternError {
    /// The pattern is empty.
    #[error("empty host pattern")]
    Empty,
    /// The pattern contains a character that cannot appear in a host name.
    #[error("host pattern {0:?} contains {1:?}, which cannot appear in a host name")]
    BadChar(String, char),
}

/// A set of host patterns; matches a host when any pattern does.
///
/// Indexed once: domain patterns in a hash set probed with the host and each of its parent domains, globs in one
/// regex; so a match costs a few lookups however long the list is.
#[derive(Clone, Debug, Default)]
pub struct HostSet {
    patterns: Vec<HostPattern>,
    domains: HashSet<String, RandomState>,
    /// All glob patterns as one anchored alternation; empty without globs (or, were the alternation ever over
    /// the regex size limit, the globs one by one).
    globs: Vec<Regex>,
}

/// Which sites a rule applies to: every host in `include` (all hosts when empty) except those in `exclude`.
#[derive(Clone, Debug, Default)]
pub struct SiteScope {
    /// Hosts the rule applies to; empty means every host.
    pub include: HostSet,
    /// Hosts the rule never applies to; wins over `include`.
    pub exclude: HostSet,
}

// === impl HostPattern ===

impl HostPattern {
    /// Parses a pattern such as `example.com`, `*.example.com` or `amazon.*`.
    pub fn new(pattern: &str) -> Result<Self, HostPatternError> {
        let text = normalise(pattern).into_owned();
        if text.is_empty() {
            return Err(HostPatternError::Empty);
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | ':' | '[' | ']')))
        {
            return Err(HostPatternError::BadChar(pattern.to_owned(), c));
        }
        let is_glob = text.contains('*');
        Ok(Self { text, is_glob })
    }

    /// The pattern as written (lower-cased).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Names hosts files give the machine itself; never host patterns.
const HOSTS_FILE_LOCAL_NAMES: [&str; 12] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// The host patterns an entry of a host list stands for. Besides a plain pattern, two common blocklist formats
/// are understood so that published lists can be dropped into `lists/`: hosts-file lines (`0.0.0.0 ads.example
/// tracker.example`; the address is ignored, and so are the local names such files define) and adblock-style
/// domain rules (`||ads.example^`). Both name a domain with its subdomains, like a plain pattern.
pub(crate) fn entry_hosts(entry: &str) -> Vec<&str> {
    if let Some(domain) = entry.strip_prefix("||").and_then(|rest| rest.strip_suffix('^')) {
        return vec![domain];
    }
    let mut fields = entry.split_whitespace();
    match fields.next() {
        // An IPv6 address may carry a zone (`fe80::1%lo0`), which `IpAddr` does not parse.
        Some(first)
            if first.split('%').next().is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
                && entry.contains(char::is_whitespace) =>
        {
            fields
                .filter(|name| !HOSTS_FILE_LOCAL_NAMES.contains(&name.to_ascii_lowercase().as_str()))
                .collect()
        }
        _ => vec![entry],
    }
}

// === impl HostSet ===

impl HostSet {
    /// A set of the given patterns.
    pub fn new(patterns: Vec<HostPattern>) -> Self {
        let domains = patterns.iter().filter(|p| !p.is_glob).map(|p| p.text.clone()).collect();
        let globs: Vec<String> = patterns.iter().filter(|p| p.is_glob).map(|p| glob_regex(&p.text)).collect();
        let globs = if globs.is_empty() {
            Vec::new()
        } else {
            // Escaped literals joined by `.*` always parse; only the size limit could refuse the alternation.
            let anchored = |body: &str| Regex::new(&format!("^(?:{body})$"));
            match anchored(&globs.join("|")) {
                Ok(joined) => vec![joined],
                Err(_) => globs.iter().filter_map(|g| anchored(g).ok()).collect(),
            }
        };
        Self { patterns, domains, globs }
    }

    /// Does any pattern match `host` or one of its parent domains?
    pub fn matches(&self, host: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let host = normalise(host);
        let found = parent_domains(&host)
            .any(|h| self.domains.contains(h) || self.globs.iter().any(|glob| glob.is_match(h)));
        found
    }

    /// True when the set has no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns in the set.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.patterns
    }
}

// === impl SiteScope ===

impl SiteScope {
    /// Does the rule apply on `site`? With no site known (offline rewrite without `--site`), only unscoped
    /// rules apply.
    pub fn applies_to(&self, site: Option<&str>) -> bool {
        match site {
            Some(host) => {
                (self.include.is_empty() || self.include.matches(host)) && !self.exclude.matches(host)
            }
            None => self.include.is_empty(),
        }
    }
}

/// `a.b.c` → `a.b.c`, `b.c`, `c`.
fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    std::iter::once(host).chain(memchr::memchr_iter(b'.', host.as_bytes()).map(move |i| &host[i + 1..]))
}

/// A host glob as regex syntax (without anchors): `*` matches any run of characters, dots included; everything
/// else literally.
fn glob_regex(glob: &str) -> String {
    glob.split('*').map(regex::escape).collect::<Vec<_>>().join(".*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_may_be_hosts_file_lines_or_adblock_domain_rules() {
        assert_eq!(entry_hosts("ads.example"), ["ads.example"]);
        assert_eq!(entry_hosts("0.0.0.0 ads.example  tracker.example"), ["ads.example", "tracker.example"]);
        assert_eq!(entry_hosts("127.0.0.1 localhost"), Vec::<&str>::new());
        assert_eq!(entry_hosts("::1\tip6-localhost ip6-loopback"), Vec::<&str>::new());
        // The header of the widely used StevenBlack hosts file.
        for local in ["fe80::1%lo0 localhost", "ff02::3 ip6-allhosts", "255.255.255.255 broadcasthost"] {
            assert_eq!(entry_hosts(local), Vec::<&str>::new(), "{local}");
        }
        assert_eq!(entry_hosts("||ads.example^"), ["ads.example"]);
        assert_eq!(
            entry_hosts("||ads.example^$third-party"),
            ["||ads.example^$third-party"],
            "options are not ours"
        );
        assert_eq!(entry_hosts("bad host"), ["bad host"], "left for the pattern check to reject");
    }

    fn pat(p: &str) -> HostPattern {
        HostPattern::new(p).expect("test pattern is valid")
    }

    fn set(p: &str) -> HostSet {
        HostSet::new(vec![pat(p)])
    }

    #[test]
    fn domain_matches_itself_and_subdomains_only() {
        let p = set("amazon.com");
        assert!(p.matches("amazon.com"));
        assert!(p.matches("WWW.Amazon.com."));
        assert!(!p.matches("notamazon.com"));
        assert!(!p.matches("amazon.com.evil.net"));
    }

    #[test]
    fn glob_matches_tlds_and_subdomains() {
        let p = set("amazon.*");
        assert!(p.matches("amazon.co.uk"));
        assert!(p.matches("smile.amazon.de"));
        assert!(!p.matches("amazonaws.com"));
        let star = set("*.example.com");
        assert!(star.matches("a.b.example.com"));
        assert!(!star.matches("example.com"));
    }

    #[test]
    fn sets_mix_domains_and_globs() {
        let shops =
            HostSet::new(vec![pat("amazon.*"), pat("shop.example"), pat("ebay.*"), pat("*.store.test")]);
        for host in ["www.amazon.de", "SHOP.example.", "a.shop.example", "ebay.co.uk", "x.store.test"] {
            assert!(shops.matches(host), "{host}");
        }
        for host in ["example", "myshop.example", "store.test", "amazonaws.com", ""] {
            assert!(!shops.matches(host), "{host}");
        }
        assert!(!HostSet::default().matches("example.com"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert_eq!(HostPattern::new(" ").unwrap_err(), HostPatternError::Empty);
        assert!(matches!(HostPattern::new("a/b.com"), Err(HostPatternError::BadChar(_, '/'))));
    }

    #[test]
    fn scope_excludes_win() {
        let scope = SiteScope {
            include: HostSet::new(vec![pat("example.com")]),
            exclude: HostSet::new(vec![pat("shop.example.com")]),
        };
        assert!(scope.applies_to(Some("news.example.com")));
        assert!(!scope.applies_to(Some("shop.example.com")));
        assert!(!scope.applies_to(Some("other.org")));
        assert!(!scope.applies_to(None));
        assert!(SiteScope::default().applies_to(None));
    }
}
