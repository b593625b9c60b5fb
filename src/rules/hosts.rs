//! Host patterns, host sets and site scopes.
//!
//! A pattern without `*` names a domain and all its subdomains (`amazon.com` matches `www.amazon.com`). A pattern
//! with `*` is a glob over the whole host, where `*` matches any run of characters dots included (`amazon.*`
//! matches `amazon.co.uk`); it also matches subdomains of what it matches (`www.amazon.co.uk`). Matching ignores
//! case and a trailing dot.

use globset::{GlobBuilder, GlobMatcher};

/// One host pattern, validated.
#[derive(Clone, Debug)]
pub struct HostPattern {
    text: String,
    kind: PatternKind,
}

#[derive(Clone, Debug)]
enum PatternKind {
    Domain(String),
    Glob(GlobMatcher),
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
    /// The glob could not be compiled.
    #[error("host pattern {0:?} is not a valid glob: {1}")]
    BadGlob(String, String),
}

/// A set of host patterns; matches a host when any pattern does.
#[derive(Clone, Debug, Default)]
pub struct HostSet {
    patterns: Vec<HostPattern>,
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
        let kind = if text.contains('*') {
            let glob = GlobBuilder::new(&text)
                .literal_separator(false)
                .build()
                .map_err(|e| HostPatternError::BadGlob(pattern.to_owned(), e.to_string()))?;
            PatternKind::Glob(glob.compile_matcher())
        } else {
            PatternKind::Domain(text.clone())
        };
        Ok(Self { text, kind })
    }

    /// The pattern as written (lower-cased).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Does `host` (or a parent domain of it) match this pattern?
    pub fn matches(&self, host: &str) -> bool {
        self.matches_normalised(&normalise(host))
    }

    /// [`HostPattern::matches`] for a host already lower-cased and without a trailing dot.
    fn matches_normalised(&self, host: &str) -> bool {
        match &self.kind {
            PatternKind::Domain(domain) => is_same_or_subdomain(host, domain),
            PatternKind::Glob(glob) => parent_domains(host).any(|h| glob.is_match(h)),
        }
    }
}

// === impl HostSet ===

impl HostSet {
    /// A set of the given patterns.
    pub fn new(patterns: Vec<HostPattern>) -> Self {
        Self { patterns }
    }

    /// Does any pattern match `host`?
    pub fn matches(&self, host: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let host = normalise(host);
        self.patterns.iter().any(|p| p.matches_normalised(&host))
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

fn normalise(host: &str) -> std::borrow::Cow<'_, str> {
    let host = host.trim().trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

fn is_same_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// `a.b.c` → `a.b.c`, `b.c`, `c`.
fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    std::iter::once(host).chain(host.match_indices('.').map(move |(i, _)| &host[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(p: &str) -> HostPattern {
        HostPattern::new(p).expect("test pattern is valid")
    }

    #[test]
    fn domain_matches_itself_and_subdomains_only() {
        let p = pat("amazon.com");
        assert!(p.matches("amazon.com"));
        assert!(p.matches("WWW.Amazon.com."));
        assert!(!p.matches("notamazon.com"));
        assert!(!p.matches("amazon.com.evil.net"));
    }

    #[test]
    fn glob_matches_tlds_and_subdomains() {
        let p = pat("amazon.*");
        assert!(p.matches("amazon.co.uk"));
        assert!(p.matches("smile.amazon.de"));
        assert!(!p.matches("amazonaws.com"));
        let star = pat("*.example.com");
        assert!(star.matches("a.b.example.com"));
        assert!(!star.matches("example.com"));
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
