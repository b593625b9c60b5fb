//! One line of an adblock-syntax list → what strainer does with it, or why it cannot.
//!
//! The classifier is deliberately conservative: a line is taken only when strainer can honour it as the list
//! means it; everything else is skipped with a reason, so a published list never stops strainer and never
//! blocks more than it says. Network lines are checked with the `adblock` crate's own parser, so a line counted
//! as taken is one the engine compiles.

use std::sync::Arc;

use adblock::lists::{parse_filter, ParseOptions, ParsedLine};

use super::params::{self, ParamRule};
use crate::rules::{HostPattern, HostSet, SiteScope};

/// What one line is.
#[derive(Debug)]
pub(crate) enum Line {
    /// Blank, `!` comment or `[Adblock Plus …]` header.
    Comment,
    /// A network rule (`||host^`, paths, anchors, options) or, with `exception`, an `@@` rule: for the engine.
    Network {
        /// An `@@` exception.
        exception: bool,
    },
    /// A `$removeparam` rule: cleans links and navigations.
    RemoveParam(ParamRule),
    /// A `##selector` hiding rule for the stylesheet; `generic` when it names no site (or only `~` sites).
    Hide {
        /// No site named: applies everywhere.
        generic: bool,
        /// A generic rule that is a single class or id (`##.ad`, `###ad`), listed by strainer itself.
        simple: Option<String>,
        /// The sites a site-specific rule names (plain host names; globs and `~` exclusions left to the engine),
        /// with its selector: candidates for removal in the stream on those sites.
        sites: Vec<String>,
        /// The selector as written.
        selector: String,
    },
    /// A `#@#selector` exception to hiding rules.
    HideException,
    /// An element removed in the stream: uBO `##^selector` and `##selector:has-text(text)`, site-specific.
    Stream(StreamRule),
    /// Cannot be honoured; the reason says why.
    Unsupported(String),
}

/// A cosmetic rule the rewrite engine applies in the stream.
#[derive(Debug)]
pub(crate) struct StreamRule {
    /// The CSS selector (lol_html's subset).
    pub selector: String,
    /// Text the element's own text must contain (from `:has-text(…)`), case-sensitive as in uBO.
    pub has_text: Option<String>,
    /// The sites the rule applies on.
    pub scope: SiteScope,
}

/// Network options a proxy cannot honour: they act in the browser (popups, CSP, scriptlets) or rewrite
/// bodies and headers in ways strainer does not.
const UNSUPPORTED_OPTIONS: &[&str] = &[
    "popup",
    "popunder",
    "csp",
    "header",
    "permissions",
    "replace",
    "urlskip",
    "uritransform",
    "urltransform",
    "inline-script",
    "inline-font",
    "webrtc",
    "removeheader",
    "responseheader",
    "ipaddress",
    "reason",
];

/// Procedural cosmetic operators (uBO, ABP): they need a script in the page, except `:has-text()`, which the
/// stream engine maps onto a text condition.
const PROCEDURAL: &[&str] = &[
    ":has-text(",
    ":-abp-contains(",
    ":contains(",
    ":-abp-has(",
    ":-abp-properties(",
    ":upward(",
    ":nth-ancestor(",
    ":remove(",
    ":remove-attr(",
    ":remove-class(",
    ":style(",
    ":matches-css",
    ":matches-attr(",
    ":matches-media(",
    ":matches-path(",
    ":matches-prop(",
    ":min-text-length(",
    ":others(",
    ":shadow(",
    ":spath(",
    ":watch-attr(",
    ":xpath(",
    ":if(",
    ":if-not(",
];

/// Cosmetic separators, longest first where one is a prefix of another.
const SEPARATORS: &[&str] = &["#@$?#", "#@?#", "#@$#", "#@%#", "#$?#", "#?#", "#$#", "#%#", "#@#", "##"];

/// Classifies one line of a list file (`file` names rules it produces).
pub(crate) fn classify(line: &str, file: &Arc<str>, number: usize) -> Line {
    let line = line.trim();
    if line.is_empty() || line.starts_with('!') || (line.starts_with('[') && line.ends_with(']')) {
        return Line::Comment;
    }
    if let Some((domains, separator, body)) = split_cosmetic(line) {
        return cosmetic(domains, separator, body);
    }
    network(line, file, number)
}

/// `domains`, separator and body of a cosmetic rule, or `None` for a network rule.
fn split_cosmetic(line: &str) -> Option<(&str, &'static str, &str)> {
    let start = line.find('#')?;
    let rest = &line[start..];
    let separator = SEPARATORS.iter().find(|s| rest.starts_with(**s))?;
    let domains = &line[..start];
    // A network rule can hold `#` (an anchor in a URL pattern); a domain list never holds these.
    if domains.contains(['/', '|', '$', '^', '=', '?', '&', ' ']) {
        return None;
    }
    Some((domains, separator, &rest[separator.len()..]))
}

fn cosmetic(domains: &str, separator: &str, body: &str) -> Line {
    let body = body.trim();
    match separator {
        "#$#" | "#@$#" | "#$?#" | "#@$?#" => {
            return Line::Unsupported("CSS injection (`#$#`) is not supported: only hiding is".into())
        }
        "#%#" | "#@%#" => return Line::Unsupported("JavaScript rules (`#%#`) run in the browser".into()),
        _ => {}
    }
    if body.starts_with("+js(") {
        return Line::Unsupported(
            "scriptlet injection (`+js`) runs in the browser; strainer adds no scripts".into(),
        );
    }
    if body.is_empty() {
        return Line::Unsupported("empty selector".into());
    }
    let exception = separator.starts_with("#@");
    let scope = match site_scope(domains) {
        Ok(scope) => scope,
        Err(reason) => return Line::Unsupported(reason),
    };
    let generic = scope.include.is_empty();
    if let Some(html) = body.strip_prefix('^') {
        if exception {
            return Line::Unsupported("exceptions to HTML filters (`#@#^`) are not supported".into());
        }
        if html.starts_with("responseheader(") {
            return Line::Unsupported(
                "response header filters (`##^responseheader`) are not supported".into(),
            );
        }
        return stream(html, scope, generic);
    }
    if let Some(op) = PROCEDURAL.iter().find(|op| body.contains(**op)) {
        if exception {
            return Line::Unsupported(format!(
                "exception to a procedural filter (`{op}…)`), which is not applied"
            ));
        }
        if *op == ":has-text(" && !body.contains(":has-text(/") {
            return stream(body, scope, generic);
        }
        return Line::Unsupported(format!("procedural filter (`{op}…)`) needs a script in the page"));
    }
    // `#?#` (extended syntax) without a procedural operator is plain CSS after all: hidden like `##`.
    if let Err(reason) = safe_selector(body) {
        return Line::Unsupported(reason);
    }
    if exception {
        return Line::HideException;
    }
    let simple = (generic && domains.is_empty() && is_simple_class_or_id(body)).then(|| body.to_owned());
    let sites =
        scope.include.patterns().iter().map(|p| p.as_str()).filter(|p| !p.contains('*')).map(str::to_owned);
    Line::Hide { generic, simple, sites: sites.collect(), selector: body.to_owned() }
}

/// `##^selector` or `selector:has-text(text)` → a stream rule, if the engine can match it.
fn stream(body: &str, scope: SiteScope, generic: bool) -> Line {
    let (selector, has_text) = match body.rfind(":has-text(") {
        Some(at) => {
            let Some(text) = body[at + ":has-text(".len()..].strip_suffix(')') else {
                return Line::Unsupported("`:has-text()` must end the selector".into());
            };
            if text.starts_with('/') {
                return Line::Unsupported("`:has-text(/regex/)` is not supported".into());
            }
            let text = text.trim_matches('"').trim();
            if text.is_empty() {
                return Line::Unsupported("`:has-text()` without text".into());
            }
            (body[..at].trim(), Some(text.to_owned()))
        }
        None => (body.trim(), None),
    };
    if generic {
        return Line::Unsupported(
            "an HTML filter for every site would cost every page a stream rule; only site-specific ones apply".into(),
        );
    }
    let first = selector.split([' ', '>', '[', '.', '#', ':']).next().unwrap_or("").to_ascii_lowercase();
    if matches!(first.as_str(), "script" | "style" | "template" | "noscript") {
        return Line::Unsupported(format!("`{first}` contents are never read by strainer's engine"));
    }
    if PROCEDURAL.iter().any(|op| selector.contains(op)) || selector.is_empty() {
        return Line::Unsupported("procedural operator before `:has-text()`".into());
    }
    if selector.parse::<lol_html::Selector>().is_err() {
        return Line::Unsupported("selector outside the engine's CSS subset (no `:has`, `+`, `~`)".into());
    }
    Line::Stream(StreamRule { selector: selector.to_owned(), has_text, scope })
}

/// The site scope of a cosmetic rule's domain list (`a.com,~b.a.com`); empty means every site.
fn site_scope(domains: &str) -> Result<SiteScope, String> {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for domain in domains.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (list, name) = match domain.strip_prefix('~') {
            Some(name) => (&mut exclude, name),
            None => (&mut include, domain),
        };
        match HostPattern::new(name) {
            Ok(pattern) => list.push(pattern),
            Err(err) => return Err(format!("site `{name}`: {err}")),
        }
    }
    Ok(SiteScope { include: HostSet::new(include), exclude: HostSet::new(exclude) })
}

/// `.name` or `#name` with nothing else.
fn is_simple_class_or_id(selector: &str) -> bool {
    let mut chars = selector.chars();
    matches!(chars.next(), Some('.' | '#'))
        && selector.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A selector that can go into a stylesheet without ending its rule, its `<style>` element or a comment:
/// no braces, no `<`, no `;`/`@` outside strings, no comment opener, balanced brackets and quotes.
pub(crate) fn safe_selector(selector: &str) -> Result<(), String> {
    let unsafe_char = |c: char| matches!(c, '{' | '}' | '<' | '\n' | '\r');
    if selector.chars().any(unsafe_char) || selector.contains("/*") || selector.ends_with('\\') {
        return Err(
            "selector contains `{`, `}`, `<`, a comment or a trailing `\\`: not put in a stylesheet".into()
        );
    }
    let mut stack = Vec::new();
    let mut quote = None;
    let mut escaped = false;
    for c in selector.chars() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => stack.push(c),
            (None, ')') if stack.pop() != Some('(') => return Err("unbalanced `)` in selector".into()),
            (None, ']') if stack.pop() != Some('[') => return Err("unbalanced `]` in selector".into()),
            (None, ';' | '@') => return Err("`;` or `@` in a selector".into()),
            (None, _) => {}
        }
    }
    if quote.is_some() || !stack.is_empty() {
        return Err("unclosed quote or bracket in selector".into());
    }
    Ok(())
}

fn network(line: &str, file: &Arc<str>, number: usize) -> Line {
    let exception = line.starts_with("@@");
    let rule = line.trim_start_matches("@@");
    let (pattern, options) = split_options(rule);
    if pattern.contains(char::is_whitespace) {
        return Line::Unsupported(
            "whitespace in a URL pattern (a hosts-file line belongs in rules/lists/)".into(),
        );
    }
    let names: Vec<&str> = options
        .map(|o| {
            o.split(',').map(|o| o.split('=').next().unwrap_or("").trim().trim_start_matches('~')).collect()
        })
        .unwrap_or_default();
    if names.contains(&"removeparam") || names.contains(&"queryprune") {
        return match params::parse(pattern, options.unwrap_or(""), exception, file, number) {
            Ok(rule) => Line::RemoveParam(rule),
            Err(reason) => Line::Unsupported(reason),
        };
    }
    if let Some(name) = names.iter().find(|n| UNSUPPORTED_OPTIONS.contains(n)) {
        return Line::Unsupported(format!("option `${name}` cannot be honoured by a proxy"));
    }
    match parse_filter(line, false, ParseOptions::default()) {
        Ok(ParsedLine::Network(_)) => Line::Network { exception },
        Ok(ParsedLine::Cosmetic(_)) => Line::Unsupported("not a network rule after all".into()),
        Err(err) => Line::Unsupported(format!("the adblock parser refuses it: {err}")),
    }
}

/// Splits `pattern$options`. The `$` of a `/regex/` pattern is inside the regex, so a regex pattern is split at
/// its closing `/$`.
pub(crate) fn split_options(rule: &str) -> (&str, Option<&str>) {
    let at = if rule.starts_with('/') { rule.rfind("/$").map(|i| i + 1) } else { rule.rfind('$') };
    match at {
        Some(at) if rule.len() > 1 => (&rule[..at], Some(&rule[at + 1..])),
        _ => (rule, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> String {
        let file: Arc<str> = Arc::from("filters/t.txt");
        match classify(line, &file, 1) {
            Line::Comment => "comment".into(),
            Line::Network { exception } => format!("network{}", if exception { " exception" } else { "" }),
            Line::RemoveParam(_) => "removeparam".into(),
            Line::Hide { generic, simple, .. } => {
                format!("hide generic={generic} simple={}", simple.is_some())
            }
            Line::HideException => "hide exception".into(),
            Line::Stream(rule) => format!("stream {} {:?}", rule.selector, rule.has_text),
            Line::Unsupported(reason) => format!("unsupported: {reason}"),
        }
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(kind("! comment"), "comment");
        assert_eq!(kind("[Adblock Plus 2.0]"), "comment");
        assert_eq!(kind("||ads.example^"), "network");
        assert_eq!(kind("@@||ads.example^$script"), "network exception");
        assert_eq!(kind("/banner/*/img^"), "network");
        assert_eq!(kind("-ad-banner."), "network");
        assert_eq!(kind("||x.example^$third-party,domain=a.com|~b.com"), "network");
        assert_eq!(kind("##.ad-box"), "hide generic=true simple=true");
        assert_eq!(kind("##div[id^=\"ad_\"]"), "hide generic=true simple=false");
        assert_eq!(kind("example.com##.promo"), "hide generic=false simple=false");
        assert_eq!(kind("example.com#@#.ad-box"), "hide exception");
        assert_eq!(kind("example.com##^div.ad"), "stream div.ad None");
        assert_eq!(kind("example.com##div.box:has-text(Sponsored)"), "stream div.box Some(\"Sponsored\")");
        assert!(kind("##+js(aopr, x)").starts_with("unsupported"));
        assert!(kind("example.com##^script:has-text(ads)").starts_with("unsupported"));
        assert!(kind("example.com##div:upward(2)").starts_with("unsupported"));
        assert!(kind("##div:has-text(Ad)").starts_with("unsupported"), "generic stream rules are refused");
        assert!(kind("||x.example^$popup").starts_with("unsupported"));
        assert!(kind("0.0.0.0 ads.example").starts_with("unsupported"));
        assert!(kind("##a{}body{display:none}").starts_with("unsupported"));
        assert!(kind("##a</style><script>").starts_with("unsupported"));
        assert_eq!(kind("$removeparam=utm_source"), "removeparam");
    }

    #[test]
    fn garbage_lines_never_panic() {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[char] = &[
            '#', '@', '$', '|', '^', '~', ',', '=', '/', '*', '.', ':', '(', ')', '[', ']', '"', '\'', '{',
            '}', '<', '>', '!', '?', '%', '+', '&', '\\', ' ', 'a', 'd', 'x', '-', '_', '1', 'é', '€',
        ];
        let file: Arc<str> = Arc::from("filters/garbage.txt");
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for number in 0..20_000 {
            let len = rng.random_range(0..40);
            let mut line: String = (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect();
            if number % 3 == 0 {
                let prefix = ["##", "example.com##", "##^", "#@#", "||a.com^$", "$removeparam=", "@@"];
                line.insert_str(0, prefix[number % prefix.len()]);
            }
            let _ = classify(&line, &file, number);
        }
    }

    #[test]
    fn options_split_at_the_last_dollar_or_after_a_regex() {
        assert_eq!(split_options("||a.com^$script"), ("||a.com^", Some("script")));
        assert_eq!(split_options("/ad$/$image"), ("/ad$/", Some("image")));
        assert_eq!(split_options("||a.com/x"), ("||a.com/x", None));
    }
}
