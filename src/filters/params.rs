//! `$removeparam` rules: which query parameters go from links in pages and from navigations.
//!
//! Supported as uBlock Origin documents them: `$removeparam` (every parameter), `$removeparam=name` (exact
//! name), `$removeparam=/regex/` (tested against `name=value`), `~` inversion (every parameter *but* these),
//! scope by the link's host (`||host^$removeparam=…`) and by the page (`domain=` / `from=`, `~` to exclude), and
//! `@@` exceptions, which cancel rules whose value they match. A rule limited to subresource types (`$xhr`,
//! `$script`, …) or scoped by a URL path is skipped with a reason: strainer applies these rules to links and
//! navigations.
//!
//! Lookups are indexed: rules naming a host sit in a map keyed by that host, so a link costs a few hash
//! lookups (its host and its parent domains), not a walk over every rule.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use regex::Regex;

use crate::rules::links::{ParamFilter, ParamRemover};
use crate::rules::RuleId;
use crate::url_host::normalise_host;

/// One `$removeparam` rule or `@@` exception.
#[derive(Debug)]
pub(crate) struct ParamRule {
    /// `filters/<file>:<line>`.
    pub id: RuleId,
    /// Links to this host and its subdomains only (`||host^`); `None`: every link.
    host: Option<String>,
    /// Page sites the rule applies on (`domain=`); empty: every site.
    include: Vec<String>,
    /// Page sites it never applies on (`domain=~…`).
    exclude: Vec<String>,
    /// What it removes.
    value: Value,
    /// Remove every parameter *not* matching `value`.
    inverted: bool,
    /// An `@@` exception.
    pub exception: bool,
}

#[derive(Debug)]
enum Value {
    /// Every parameter.
    All,
    /// Exactly this name.
    Name(String),
    /// This regex, tested against `name=value` as written.
    Regex(Regex),
}

/// The compiled `$removeparam` rules of every filter list.
#[derive(Debug, Default)]
pub struct RemoveParams {
    rules: Vec<ParamRule>,
    /// The common case, found in one lookup: rules that remove one named parameter from every link on every
    /// site, by that name (the first such rule of the lists).
    names: HashMap<String, usize, RandomState>,
    /// The other rules naming no host (regexes, inversions, site-scoped, exceptions), as indices into `rules`.
    any_host: Vec<usize>,
    /// Rules naming a host, by that host.
    by_host: HashMap<String, Vec<usize>, RandomState>,
}

/// Parses the pattern and options of a `$removeparam` line.
pub(crate) fn parse(
    pattern: &str,
    options: &str,
    exception: bool,
    file: &Arc<str>,
    number: usize,
) -> Result<ParamRule, String> {
    let host = match pattern {
        "" | "*" => None,
        _ => {
            let host = pattern
                .strip_prefix("||")
                .map(|rest| rest.strip_suffix('^').or_else(|| rest.strip_suffix('/')).unwrap_or(rest))
                .filter(|h| {
                    !h.is_empty() && h.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'))
                });
            match host {
                Some(host) => Some(normalise_host(host).into_owned()),
                None => {
                    return Err(
                        "$removeparam scoped by a URL path or pattern is not supported (only `||host^`)"
                            .into(),
                    )
                }
            }
        }
    };
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    let mut value = None;
    let mut document = false;
    let mut other_type = false;
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (name, arg) = match option.split_once('=') {
            Some((name, arg)) => (name, Some(arg)),
            None => (option, None),
        };
        match (name, arg) {
            ("removeparam" | "queryprune", arg) => value = Some(arg.unwrap_or("")),
            ("domain" | "from", Some(list)) => {
                for site in list.split('|').filter(|s| !s.is_empty()) {
                    match site.strip_prefix('~') {
                        Some(site) => exclude.push(normalise_host(site).into_owned()),
                        None => include.push(normalise_host(site).into_owned()),
                    }
                }
            }
            ("doc" | "document" | "main_frame", None) => document = true,
            ("important", None) => {}
            ("match-case", None) => {}
            (
                "xhr" | "xmlhttprequest" | "script" | "image" | "stylesheet" | "css" | "subdocument"
                | "frame" | "media" | "font" | "ping" | "beacon" | "object" | "other" | "websocket" | "fetch",
                None,
            ) => other_type = true,
            (name, _) if name.starts_with('~') => {}
            (name, _) => return Err(format!("option `${name}` is not supported with $removeparam")),
        }
    }
    if other_type && !document {
        return Err(
            "$removeparam limited to subresource requests: strainer cleans links and navigations".into()
        );
    }
    let raw = value.unwrap_or("");
    let (inverted, raw) = match raw.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let value = if raw.is_empty() {
        if inverted {
            return Err("`$removeparam=~` names nothing to keep".into());
        }
        Value::All
    } else if let Some(body) = raw.strip_prefix('/') {
        let (source, flags) = body.rsplit_once('/').ok_or("unclosed /regex/ in $removeparam")?;
        let source = if flags.contains('i') { format!("(?i){source}") } else { source.to_owned() };
        Value::Regex(Regex::new(&source).map_err(|e| format!("$removeparam regex: {e}"))?)
    } else {
        Value::Name(raw.to_owned())
    };
    Ok(ParamRule {
        id: RuleId::new(&format!("{file}:{number}")),
        host,
        include,
        exclude,
        value,
        inverted,
        exception,
    })
}

// === impl ParamRule ===

impl ParamRule {
    /// Does the rule apply on a page of `site`?
    fn applies_on(&self, site: Option<&str>) -> bool {
        let named = |list: &[String], site: &str| parents(site).any(|d| list.iter().any(|s| s == d));
        match site {
            Some(site) => {
                (self.include.is_empty() || named(&self.include, site)) && !named(&self.exclude, site)
            }
            None => self.include.is_empty(),
        }
    }

    /// Does the rule's value select this parameter (before inversion)?
    fn selects(&self, name: &str, segment: &str) -> bool {
        match &self.value {
            Value::All => true,
            Value::Name(wanted) => wanted == name,
            Value::Regex(regex) => regex.is_match(segment),
        }
    }

    /// Does the rule remove this parameter?
    fn removes(&self, name: &str, segment: &str) -> bool {
        self.selects(name, segment) != self.inverted
    }
}

/// `a.b.c` → `a.b.c`, `b.c`, `c`.
fn parents(host: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(host), |h| h.split_once('.').map(|(_, rest)| rest))
}

// === impl RemoveParams ===

impl RemoveParams {
    /// Indexes `rules`.
    pub(crate) fn new(rules: Vec<ParamRule>) -> Self {
        let mut names = HashMap::default();
        let mut any_host = Vec::new();
        let mut by_host: HashMap<String, Vec<usize>, RandomState> = HashMap::default();
        for (index, rule) in rules.iter().enumerate() {
            let everywhere = rule.include.is_empty() && rule.exclude.is_empty() && !rule.exception;
            match (&rule.host, &rule.value) {
                (Some(host), _) => by_host.entry(host.clone()).or_default().push(index),
                (None, Value::Name(name)) if everywhere && !rule.inverted => {
                    names.entry(name.clone()).or_insert(index);
                }
                (None, _) => any_host.push(index),
            }
        }
        Self { rules, names, any_host, by_host }
    }

    /// Number of rules (exceptions included).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The rules in force for one link.
struct Remover<'a> {
    set: &'a RemoveParams,
    rules: Vec<&'a ParamRule>,
    exceptions: Vec<&'a ParamRule>,
}

impl ParamFilter for RemoveParams {
    fn for_link<'a>(&'a self, host: Option<&str>, site: Option<&str>) -> Option<Box<dyn ParamRemover + 'a>> {
        let site = site.map(normalise_host);
        let site = site.as_deref();
        let host = host.map(normalise_host);
        let by_host =
            host.as_deref().into_iter().flat_map(parents).filter_map(|d| self.by_host.get(d)).flatten();
        let (mut rules, mut exceptions) = (Vec::new(), Vec::new());
        for &index in self.any_host.iter().chain(by_host) {
            let rule = &self.rules[index];
            if !rule.applies_on(site) {
                continue;
            }
            if rule.exception {
                exceptions.push(rule);
            } else {
                rules.push(rule);
            }
        }
        if rules.is_empty() && self.names.is_empty() {
            return None;
        }
        Some(Box::new(Remover { set: self, rules, exceptions }))
    }
}

impl ParamRemover for Remover<'_> {
    fn removes(&self, name: &str, segment: &str) -> Option<&RuleId> {
        let by_name = self.set.names.get(name).map(|&index| &self.set.rules[index]);
        let rule = by_name.or_else(|| self.rules.iter().copied().find(|rule| rule.removes(name, segment)))?;
        // An exception cancels the rules whose parameter it names (`@@…$removeparam` alone: all of them).
        let excepted = self.exceptions.iter().any(|e| e.removes(name, segment));
        (!excepted).then_some(&rule.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lines: &[&str]) -> RemoveParams {
        let file: Arc<str> = Arc::from("filters/t.txt");
        let parsed = lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                let exception = line.starts_with("@@");
                let (pattern, options) = super::super::lines::split_options(line.trim_start_matches("@@"));
                parse(pattern, options.unwrap_or(""), exception, &file, n + 1).expect("test rule parses")
            })
            .collect();
        RemoveParams::new(parsed)
    }

    fn removed(set: &RemoveParams, host: &str, site: &str, segment: &str) -> bool {
        let name = segment.split('=').next().unwrap_or("");
        set.for_link(Some(host), Some(site)).is_some_and(|r| r.removes(name, segment).is_some())
    }

    #[test]
    fn names_regexes_inversion_scope_and_exceptions() {
        let set = rules(&[
            "$removeparam=utm_source",
            "||shop.example^$removeparam=ref",
            "$removeparam=/^pk_/",
            "||news.example^$removeparam=~id",
            "$removeparam=sid,domain=a.example|~b.a.example",
            "@@||keep.example^$removeparam=utm_source",
        ]);
        assert!(removed(&set, "x.example", "p.example", "utm_source=x"));
        assert!(!removed(&set, "x.example", "p.example", "utm_sourcex=1"));
        assert!(removed(&set, "www.shop.example", "p.example", "ref=abc"));
        assert!(!removed(&set, "other.example", "p.example", "ref=abc"));
        assert!(removed(&set, "x.example", "p.example", "pk_campaign=1"));
        assert!(removed(&set, "news.example", "p.example", "ref=1"));
        assert!(!removed(&set, "news.example", "p.example", "id=7"));
        assert!(removed(&set, "x.example", "a.example", "sid=1"));
        assert!(!removed(&set, "x.example", "b.a.example", "sid=1"));
        assert!(!removed(&set, "x.example", "c.example", "sid=1"));
        assert!(!removed(&set, "keep.example", "p.example", "utm_source=x"));
    }

    #[test]
    fn unsupported_forms_are_refused() {
        let file: Arc<str> = Arc::from("f");
        assert!(parse("||a.com/path", "removeparam=x", false, &file, 1).is_err());
        assert!(parse("", "removeparam=x,xhr", false, &file, 1).is_err());
        assert!(parse("", "removeparam=x,xhr,doc", false, &file, 1).is_ok());
        assert!(parse("", "removeparam=/(/", false, &file, 1).is_err());
    }
}
