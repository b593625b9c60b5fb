//! Link cleaning: strip tracking parameters, unwrap affiliate redirect wrappers.
//!
//! Works on the URL text as written (absolute or relative), never re-serialises what it does not change:
//! other parameters keep their bytes and order, the `#fragment` stays, a query left without parameters is dropped
//! with its `?`. Parameter names are compared percent-decoded (`utm%5Fsource` is `utm_source`); `&` is the only
//! separator. This module knows nothing of HTML or HTTP: the engine and the proxy hand it `href`s and URLs.
//!
//! Behaviour decisions:
//! - Only web links are touched: `http:`/`https:` with `//`, scheme-relative `//host/…`, and relative links.
//!   Other schemes (`mailto:`, `javascript:`, …) are never changed. Leading and trailing whitespace is ignored
//!   (and not kept when the link changes).
//! - A relative link counts as a link to the page's `site` (when known) for every host-scoped rule, unwrap and
//!   strip alike, so Amazon-only strip rules apply to relative links on Amazon pages. With no site, only strip
//!   rules without `hosts` apply to it.
//! - Hosts are found and normalised by [`crate::url_host`] (the one URL-host parser): compared and reported
//!   lower-cased, without userinfo, port, trailing dot or IPv6 brackets.
//! - A query-parameter destination is percent-decoded once (`+` stays `+`); if the result still starts with an
//!   encoded `http%3A`/`https%3A` it is decoded a second time. A path-embedded destination is taken from the first
//!   `http(s)://` in the path or query, with everything after it (fragment included), decoded once if its `:` or
//!   slashes were encoded (`https%3A%2F%2F`, `https:%2F%2F`).
//! - A destination is accepted only if it is an `http`/`https` URL with a host; otherwise the wrapper is left
//!   as it is (its own parameters are still stripped). Bytes that cannot stand in an `href` as they are
//!   (controls, space, `"`, `<`, `>`, `` ` ``, invalid UTF-8) are percent-encoded again.
//! - Unwrapping repeats up to four levels; the first active unwrap rule naming the host decides.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use percent_encoding::{percent_decode, percent_decode_str};

use super::{HostSet, RuleId, SiteScope};
use crate::url_host::{self, normalise_host};

/// All link-cleaning rules of a rule set.
#[derive(Clone, Debug, Default)]
pub struct LinkRules {
    /// Parameter-stripping rules.
    pub strip: Vec<StripRule>,
    /// Redirect-unwrapping rules.
    pub unwrap: Vec<UnwrapRule>,
    /// The hosts of all unwrap rules together, made on first use: most links are no wrapper, and one lookup
    /// tells so instead of one per rule.
    wrapper_hosts: OnceLock<HostSet>,
    /// Parameter filters beyond the strip rules (adblock `$removeparam` rules from `rules/filters/`), consulted
    /// for every parameter no strip rule removes.
    param_filter: Option<Arc<dyn ParamFilter>>,
}

/// Removes query parameters by rules the strip rules cannot express (regexes over `name=value`, inversion,
/// per-domain exceptions); implemented by [`crate::filters`].
pub trait ParamFilter: Send + Sync + std::fmt::Debug {
    /// The remover for a link to `host` (its host, or the page's for a relative link; `None` when unknown) on a
    /// page of `site`, or `None` when no filter applies there (the common case, decided once per link).
    fn for_link<'a>(&'a self, host: Option<&str>, site: Option<&str>) -> Option<Box<dyn ParamRemover + 'a>>;
}

/// Decides, for one link, which query segments go.
pub trait ParamRemover {
    /// The rule that removes `segment` (`name=value` as written, `name` already decoded), or `None` to keep it.
    fn removes(&self, name: &str, segment: &str) -> Option<&RuleId>;
}

/// Removes query parameters whose name matches, optionally only on links to given hosts.
#[derive(Clone, Debug)]
pub struct StripRule {
    /// Unique rule id.
    pub id: RuleId,
    /// Parameter names or globs (`utm_*`), compared as the rule's `case_sensitive` says (default: any ASCII case).
    pub params: globset::GlobSet,
    /// Only links to these hosts; `None` means links to any host, relative links included.
    pub hosts: Option<HostSet>,
    /// Pages (sites) the rule applies on.
    pub scope: SiteScope,
}

/// Replaces a redirect wrapper link by its destination.
#[derive(Clone, Debug)]
pub struct UnwrapRule {
    /// Unique rule id.
    pub id: RuleId,
    /// Wrapper hosts (`go.skimresources.com`, …).
    pub hosts: HostSet,
    /// Where the destination is found.
    pub target: UnwrapTarget,
    /// Pages (sites) the rule applies on.
    pub scope: SiteScope,
}

/// Where a wrapper carries its destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnwrapTarget {
    /// In the first present query parameter of these names (percent-decoded).
    QueryParam(Vec<String>),
    /// Embedded in the path (or query) as an `http(s)://` or percent-encoded `http(s)%3A%2F%2F` URL.
    PathEmbedded,
}

/// What the link rules make of one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectedLink {
    /// The cleaned link; `None` when cleaning changes nothing.
    pub cleaned: Option<CleanedLink>,
    /// The host it leads to once unwrapped (see [`LinkRules::destination_host`]).
    pub destination_host: Option<String>,
}

/// The result of cleaning a link that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanedLink {
    /// The cleaned URL.
    pub url: String,
    /// The rules that changed it, in the order they acted.
    pub rules: Vec<RuleId>,
}

// === impl LinkRules ===

impl LinkRules {
    /// Link rules from strip and unwrap rules.
    pub fn new(strip: Vec<StripRule>, unwrap: Vec<UnwrapRule>) -> Self {
        Self { strip, unwrap, wrapper_hosts: OnceLock::new(), param_filter: None }
    }

    /// Adds parameter filters consulted after the strip rules (see [`ParamFilter`]).
    pub fn with_param_filter(mut self, filter: Arc<dyn ParamFilter>) -> Self {
        self.param_filter = Some(filter);
        self
    }

    /// True when no rule can change a link.
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty() && self.unwrap.is_empty() && self.param_filter.is_none()
    }

    /// Cleans `url` (an `href` as written, absolute or relative) found on a page of `site`: unwraps redirect
    /// wrappers, then strips matching parameters. `None` when nothing changed.
    pub fn clean(&self, url: &str, site: Option<&str>) -> Option<CleanedLink> {
        self.inspect(url, site).cleaned
    }

    /// The host a link leads to once redirect wrappers are unwrapped (in normal form: lower-cased, no port,
    /// userinfo or IPv6 brackets); `None` for relative links (unless a wrapper rule for `site` sends them elsewhere), other
    /// schemes and URLs without a host.
    pub fn destination_host(&self, url: &str, site: Option<&str>) -> Option<String> {
        self.inspect(url, site).destination_host
    }

    /// [`LinkRules::clean`] and [`LinkRules::destination_host`] at once, unwrapping and splitting the link once.
    pub fn inspect(&self, url: &str, site: Option<&str>) -> InspectedLink {
        let mut rules = Vec::new();
        let unwrapped = self.unwrap(url_host::trim_url(url), site, |id| push_unique(&mut rules, id));
        let parts = LinkParts::split(&unwrapped);
        let destination_host = match parts.kind {
            LinkKind::Web => parts.host.map(|host| normalise_host(host).into_owned()),
            LinkKind::Relative | LinkKind::Other => None,
        };
        let stripped = self.strip(&parts, site, &mut rules);
        let cleaned = if rules.is_empty() {
            None
        } else {
            let cleaned = stripped.unwrap_or_else(|| String::from(&*unwrapped));
            (cleaned != url).then_some(CleanedLink { url: cleaned, rules })
        };
        InspectedLink { cleaned, destination_host }
    }

    /// Follows redirect wrappers (at most [`MAX_UNWRAP_LEVELS`]), reporting each rule that unwrapped one.
    /// Borrows `url` unchanged when it is not a wrapper.
    fn unwrap<'a>(&self, url: &'a str, site: Option<&str>, mut acted: impl FnMut(&RuleId)) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(url);
        for _ in 0..MAX_UNWRAP_LEVELS {
            let Some((id, destination)) = self.unwrap_once(&current, site) else {
                break;
            };
            acted(id);
            current = Cow::Owned(destination);
        }
        current
    }

    /// The destination of `url` if an active unwrap rule names its host and finds an acceptable destination.
    fn unwrap_once(&self, url: &str, site: Option<&str>) -> Option<(&RuleId, String)> {
        if self.unwrap.is_empty() {
            return None;
        }
        let parts = LinkParts::split(url);
        let host = parts.effective_host(site)?;
        let wrapper_hosts = self.wrapper_hosts.get_or_init(|| {
            HostSet::new(self.unwrap.iter().flat_map(|rule| rule.hosts.patterns()).cloned().collect())
        });
        if !wrapper_hosts.matches(host) {
            return None;
        }
        let rule = self.unwrap.iter().find(|rule| rule.hosts.matches(host) && rule.scope.applies_to(site))?;
        let destination = match &rule.target {
            UnwrapTarget::QueryParam(names) => query_param_destination(&parts, names),
            UnwrapTarget::PathEmbedded => embedded_destination(&parts),
        }?;
        Some((&rule.id, destination))
    }

    /// Removes the parameters that active strip rules match; `None` when none matched. Credits each removed
    /// parameter to the first rule (in rule order) that matches it and records those rules in `acted`.
    fn strip(&self, parts: &LinkParts<'_>, site: Option<&str>, acted: &mut Vec<RuleId>) -> Option<String> {
        if parts.kind == LinkKind::Other {
            return None;
        }
        let query = parts.query?;
        let host = parts.effective_host(site);
        let active: Vec<&StripRule> = self
            .strip
            .iter()
            .filter(|rule| {
                let host_ok = match (&rule.hosts, host) {
                    (None, _) => true,
                    (Some(hosts), Some(host)) => hosts.matches(host),
                    (Some(_), None) => false,
                };
                host_ok && rule.scope.applies_to(site)
            })
            .collect();
        let extra = self.param_filter.as_ref().and_then(|filter| filter.for_link(host, site));
        if active.is_empty() && extra.is_none() {
            return None;
        }

        let mut credited = vec![false; active.len()];
        let mut extra_removed = false;
        let mut kept = String::with_capacity(query.len());
        let mut kept_segments = 0usize;
        let mut kept_a_parameter = false;
        for segment in query.split('&') {
            let name = parameter_name(segment);
            let matched = if name.is_empty() {
                None
            } else {
                active.iter().position(|rule| rule.params.is_match(&*name))
            };
            let by_filter = match (matched, &extra) {
                (None, Some(extra)) if !name.is_empty() => extra.removes(&name, segment),
                _ => None,
            };
            if let Some(id) = by_filter {
                push_unique(acted, id);
                extra_removed = true;
                continue;
            }
            match matched {
                Some(index) => credited[index] = true,
                None => {
                    if kept_segments > 0 {
                        kept.push('&');
                    }
                    kept.push_str(segment);
                    kept_segments += 1;
                    kept_a_parameter |= !segment.is_empty();
                }
            }
        }
        if !credited.contains(&true) && !extra_removed {
            return None;
        }
        for (rule, _) in active.iter().zip(&credited).filter(|(_, hit)| **hit) {
            push_unique(acted, &rule.id);
        }

        let mut cleaned = String::with_capacity(parts.full.len());
        cleaned.push_str(parts.head);
        if kept_a_parameter {
            cleaned.push('?');
            cleaned.push_str(&kept);
        }
        cleaned.push_str(parts.fragment);
        Some(cleaned)
    }
}

/// Wrapper of wrapper of …: how many redirect wrappers one link may be unwrapped through.
const MAX_UNWRAP_LEVELS: usize = 4;

fn push_unique(ids: &mut Vec<RuleId>, id: &RuleId) {
    if !ids.contains(id) {
        ids.push(id.clone());
    }
}

// === link text ===

/// What kind of reference a link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkKind {
    /// `http:`/`https:` with an authority, or scheme-relative `//host/…`.
    Web,
    /// No scheme and no authority: resolved against the page.
    Relative,
    /// Any other scheme (`mailto:`, `javascript:`, …) or `http:` without `//`: never touched.
    Other,
}

/// A link split into borrowed pieces, without any re-serialisation.
#[derive(Debug)]
struct LinkParts<'a> {
    /// The whole link.
    full: &'a str,
    /// What kind of reference it is.
    kind: LinkKind,
    /// The host as written (no userinfo, no port, no IPv6 brackets), for `Web` links with a non-empty host.
    host: Option<&'a str>,
    /// Scheme, authority and path: everything before the `?`.
    head: &'a str,
    /// The query without its `?`, if there is a `?`.
    query: Option<&'a str>,
    /// The `#` and everything after it, or empty.
    fragment: &'a str,
    /// Byte offset in `full` where the path starts (after the authority).
    path_start: usize,
}

impl<'a> LinkParts<'a> {
    fn split(full: &'a str) -> Self {
        let (before_fragment, fragment) = full.split_at(full.find('#').unwrap_or(full.len()));
        let (head, query) = match before_fragment.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (before_fragment, None),
        };
        let (kind, authority) = classify(head);
        let (host, path_start) = match authority {
            Some(span) => (url_host::host_of_authority(span.authority), span.end),
            None => (None, 0),
        };
        Self { full, kind, host, head, query, fragment, path_start }
    }

    /// The host the link leads to for host-scoped rules: its own, or the page's (`site`) for a relative link.
    fn effective_host<'s>(&self, site: Option<&'s str>) -> Option<&'s str>
    where
        'a: 's,
    {
        match self.kind {
            LinkKind::Web => self.host,
            LinkKind::Relative => site,
            LinkKind::Other => None,
        }
    }

    /// Path and query (not the fragment), where an embedded destination may hide.
    fn path_and_query(&self) -> &'a str {
        &self.full[self.path_start..self.full.len() - self.fragment.len()]
    }
}

/// The kind of link and, for `Web` links, its authority (found by [`url_host::authority`], so `\\` counts as
/// `/` before the host, as in browsers).
fn classify(head: &str) -> (LinkKind, Option<url_host::AuthoritySpan<'_>>) {
    let scheme = url_host::scheme(head);
    if scheme.is_some_and(|s| !(s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))) {
        return (LinkKind::Other, None);
    }
    match (url_host::authority(head), scheme) {
        (Some(span), _) => (LinkKind::Web, Some(span)),
        (None, None) => (LinkKind::Relative, None),
        (None, Some(_)) => (LinkKind::Other, None),
    }
}

/// A query segment's parameter name, percent-decoded (borrowed when it holds no escape).
fn parameter_name(segment: &str) -> Cow<'_, str> {
    let raw = segment.split_once('=').map_or(segment, |(name, _)| name);
    percent_decode_str(raw).decode_utf8_lossy()
}

// === destinations ===

/// The value of the first parameter present among `names` (in the rule's order), decoded as a destination.
fn query_param_destination(parts: &LinkParts<'_>, names: &[String]) -> Option<String> {
    let query = parts.query?;
    let value = names.iter().find_map(|wanted| {
        query
            .split('&')
            .find(|segment| parameter_name(segment) == wanted.as_str())
            .map(|segment| segment.split_once('=').map_or("", |(_, value)| value))
    })?;
    let once: Cow<'_, [u8]> = percent_decode_str(value).into();
    let destination: Cow<'_, [u8]> =
        if starts_with_ignore_case(&once, b"http%3a") || starts_with_ignore_case(&once, b"https%3a") {
            Cow::Owned(percent_decode(&once).collect())
        } else {
            once
        };
    accept_destination(&destination)
}

/// The first `http(s)://` URL embedded in the path or query (any case; `:` and the slashes may be
/// percent-encoded, as in `https%3A%2F%2F` or `https:%2F%2F`), with everything after it, decoded once if encoded.
fn embedded_destination(parts: &LinkParts<'_>) -> Option<String> {
    let searched = parts.path_and_query();
    let bytes = searched.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr::memchr2(b'h', b'H', bytes.get(from..)?) {
        let at = from + offset;
        if let Some(encoded) = embedded_url_prefix(&bytes[at..]) {
            let rest = &parts.full[parts.path_start + at..];
            let destination: Cow<'_, [u8]> =
                if encoded { percent_decode_str(rest).into() } else { Cow::Borrowed(rest.as_bytes()) };
            return accept_destination(&destination);
        }
        from = at + 1;
    }
    None
}

/// Does `bytes` start with `http(s)://`, each of `:`, `/`, `/` possibly percent-encoded? `Some(true)` when any
/// of them was encoded.
fn embedded_url_prefix(bytes: &[u8]) -> Option<bool> {
    if !starts_with_ignore_case(bytes, b"http") {
        return None;
    }
    let mut at = if matches!(bytes.get(4), Some(b's' | b'S')) { 5 } else { 4 };
    let mut encoded = false;
    for (plain, escaped) in [(b':', b"%3a"), (b'/', b"%2f"), (b'/', b"%2f")] {
        if bytes.get(at) == Some(&plain) {
            at += 1;
        } else if starts_with_ignore_case(bytes.get(at..)?, escaped) {
            at += 3;
            encoded = true;
        } else {
            return None;
        }
    }
    Some(encoded)
}

/// Accepts a decoded destination only if it is an `http`/`https` URL with a host; bytes that cannot stand in an
/// `href` as they are (controls, space, `"`, `<`, `>`, `` ` ``, invalid UTF-8) are percent-encoded again.
fn accept_destination(decoded: &[u8]) -> Option<String> {
    if !(starts_with_ignore_case(decoded, b"http://") || starts_with_ignore_case(decoded, b"https://")) {
        return None;
    }
    let destination = escape_unsafe_bytes(decoded);
    let parts = LinkParts::split(&destination);
    (parts.kind == LinkKind::Web && parts.host.is_some()).then_some(())?;
    Some(destination)
}

fn escape_unsafe_bytes(bytes: &[u8]) -> String {
    fn push_escaped(out: &mut String, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.push('%');
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match u8::try_from(c) {
                Ok(b) if b <= b' ' || matches!(b, 0x7f | b'"' | b'<' | b'>' | b'`') => {
                    push_escaped(&mut out, b)
                }
                _ => out.push(c),
            }
        }
        for &byte in chunk.invalid() {
            push_escaped(&mut out, byte);
        }
    }
    out
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests;
