//! Adblock-syntax filter lists (EasyList, EasyPrivacy, uBlock Origin's, AdGuard's) from `rules/filters/*.txt`.
//!
//! Every line is classified ([`lines`]) and goes where strainer can honour it:
//! - network rules and `@@` exceptions → Brave's `adblock` engine, asked once per proxied request
//!   ([`FilterLists::check_request`]);
//! - `$removeparam` → [`params::RemoveParams`], consulted by the link rules after `[[strip]]` (links in pages and
//!   navigations alike);
//! - `##selector` / `#@#selector` → a stylesheet per site ([`FilterLists::stylesheet`]), injected where the
//!   page's CSP allows, as tag styles are;
//! - site-specific uBO HTML filters (`##^selector`) and `:has-text()` rules → ordinary element remove rules in
//!   the [`RuleSet`](crate::rules::RuleSet), removed in the stream.
//!
//! Anything else is skipped and counted with its reason ([`FileReport`]); a list never stops strainer from
//! loading. This module knows nothing of sockets: the proxy asks it, `strainer check` reports it.

pub mod lines;
pub mod params;
pub mod subscriptions;
pub mod survey;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use adblock::lists::{FilterSet, ParseOptions};
use adblock::request::Request;
use adblock::Engine;

use self::lines::Line;
use self::params::RemoveParams;
use foldhash::fast::RandomState;

use crate::rules::{
    Conditions, ElementAction, ElementRule, HostSet, RuleId, RuleOrigin, RuleSet, SiteScope, TextTest,
};

/// The subdirectory of the rules directory that holds filter lists.
pub const FILTERS_DIR: &str = "filters";

/// How many selectors go into one `:is(…)` rule of the stylesheet. `:is()` takes a forgiving selector list, so a
/// selector a browser does not know drops alone instead of taking its whole rule with it.
const SELECTORS_PER_RULE: usize = 500;

/// Sites whose stylesheet is kept built (cleared when full).
const STYLESHEET_CACHE: usize = 4096;

/// Sites whose rule set with stream selectors is kept built (cleared when full; each holds a copy of the TOML
/// rules, about 160 KB with the shipped ones).
const DERIVED_CACHE: usize = 256;

/// What strainer took from one list file and what it skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// File name relative to the rules directory (`filters/easylist.txt`).
    pub file: String,
    /// Lines taken, by kind (`network`, `network exception`, `removeparam`, `hide generic`, …).
    pub taken: BTreeMap<&'static str, usize>,
    /// Lines skipped, with their 1-based line number and the reason.
    pub skipped: Vec<(usize, String)>,
}

impl FileReport {
    /// Lines taken, all kinds together.
    pub fn taken_total(&self) -> usize {
        self.taken.values().sum()
    }

    /// `network=123, hide generic=45, …` for logs and `strainer check`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.taken.iter().map(|(kind, n)| format!("{kind}={n}")).collect();
        parts.push(format!("skipped={}", self.skipped.len()));
        parts.join(", ")
    }
}

/// A request the network rules block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The list the blocking rule comes from (`filters/easylist.txt`), or `filter lists` when unknown.
    pub list: String,
    /// The rule as written in the list.
    pub rule: String,
}

/// The compiled filter lists of a rules directory.
pub struct FilterLists {
    engine: Engine,
    /// Reports, in load order (the engine's source index is a position in this list).
    files: Vec<FileReport>,
    /// Generic single class/id selectors (`.ad`, `#ad`) by name, for the page survey ([`survey`]).
    generic_names: survey::GenericNames,
    params: Arc<RemoveParams>,
    /// Site-specific `##selector` rules the engine can match, by the site they name: removed in the stream
    /// on that site (when the engine's cosmetic resources for the site still hold them, i.e. no exception).
    site_selectors: HashMap<String, Vec<SiteSelector>, RandomState>,
    site_cache: Mutex<HashMap<String, Arc<SiteCosmetics>>>,
    /// Rule sets with a site's stream selectors added, by site ([`FilterLists::rules_for`]).
    derived: Mutex<HashMap<String, Arc<RuleSet>>>,
}

/// A site-specific selector removed in the stream.
#[derive(Clone, Debug)]
struct SiteSelector {
    id: RuleId,
    origin: RuleOrigin,
    text: String,
    selector: lol_html::Selector,
}

/// The cosmetic rules of one site, built once and cached.
#[derive(Debug, Default)]
pub struct SiteCosmetics {
    /// The stylesheet for the `<head>`: site-specific selectors and the generic ones no survey can narrow.
    head: Vec<Arc<str>>,
    /// Generic class/id selectors that `#@#` exceptions take off this site.
    excepted: HashSet<String>,
    /// Site-specific selectors removed in the stream on this site (left out of `head`).
    stream: Vec<SiteSelector>,
    /// `$generichide`: no generic rule on this site.
    generichide: bool,
}

impl std::fmt::Debug for FilterLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterLists")
            .field("files", &self.files.len())
            .field("generic_classes", &self.generic_names.classes.len())
            .field("generic_ids", &self.generic_names.ids.len())
            .field("removeparam", &self.params.len())
            .finish_non_exhaustive()
    }
}

/// What loading the filter lists of a rules directory produced.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The lists; `None` when `filters/` is missing or holds no `*.txt`.
    pub lists: Option<FilterLists>,
    /// Stream rules (site-specific `##^` and `:has-text()`), for the rule set.
    pub element_rules: Vec<ElementRule>,
    /// Problems with whole files (unreadable), as `(file, message)`.
    pub file_errors: Vec<(String, String)>,
}

/// Loads every `filters/*.txt` of the rules directory `dir` (file-name order; hidden files skipped).
pub fn load(dir: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let names = match crate::rules::compile::file_names(&dir.join(FILTERS_DIR), "txt") {
        Ok(names) => names,
        Err(_) => return loaded,
    };
    if names.is_empty() {
        return loaded;
    }
    let mut set = FilterSet::new(true);
    let mut files = Vec::new();
    let mut generic_simple = Vec::new();
    let mut param_rules = Vec::new();
    let mut site_selectors: HashMap<String, Vec<SiteSelector>, RandomState> = HashMap::default();
    for name in names {
        let file: Arc<str> = Arc::from(format!("{FILTERS_DIR}/{name}"));
        let text = match std::fs::read(dir.join(FILTERS_DIR).join(&name)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                loaded.file_errors.push((file.to_string(), format!("cannot read filter list: {err}")));
                String::new()
            }
        };
        let mut report = FileReport { file: file.to_string(), ..FileReport::default() };
        // The engine gets the lines strainer takes for it, with every other line blanked to a comment so that
        // its line numbers stay the file's.
        let mut engine_text = String::with_capacity(text.len());
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let for_engine = match lines::classify(line, &file, number) {
                Line::Comment => false,
                Line::Network { exception } => {
                    count(&mut report, if exception { "network exception" } else { "network" });
                    true
                }
                Line::RemoveParam(rule) => {
                    count(&mut report, if rule.exception { "removeparam exception" } else { "removeparam" });
                    param_rules.push(rule);
                    false
                }
                Line::Hide { generic, simple, sites, selector } => {
                    let stream =
                        if sites.is_empty() { None } else { selector.parse::<lol_html::Selector>().ok() };
                    let kind = match (generic, &stream) {
                        (true, _) => "hide generic",
                        (false, Some(_)) => "hide site (stream)",
                        (false, None) => "hide site (stylesheet)",
                    };
                    count(&mut report, kind);
                    if let Some(parsed) = stream {
                        let id = RuleId::new(&format!("{file}:{number}"));
                        let origin = RuleOrigin { file: Arc::clone(&file), line: number };
                        let entry = SiteSelector { id, origin, text: selector, selector: parsed };
                        for site in sites {
                            site_selectors.entry(site).or_default().push(entry.clone());
                        }
                    }
                    match simple {
                        Some(selector) => {
                            generic_simple.push(selector);
                            false
                        }
                        None => true,
                    }
                }
                Line::HideException => {
                    count(&mut report, "hide exception");
                    true
                }
                Line::Stream(rule) => {
                    count(
                        &mut report,
                        if rule.has_text.is_some() { "stream has-text" } else { "stream html" },
                    );
                    loaded.element_rules.push(stream_rule(rule, &file, number));
                    false
                }
                Line::Unsupported(reason) => {
                    report.skipped.push((number, reason));
                    false
                }
            };
            if for_engine {
                engine_text.push_str(line.trim());
            } else {
                engine_text.push('!');
            }
            engine_text.push('\n');
        }
        set.add_filter_list(engine_text, ParseOptions::default());
        files.push(report);
    }
    let mut generic_names = survey::GenericNames::default();
    for selector in generic_simple {
        match selector.split_at(1) {
            (".", name) => generic_names.classes.insert(name.into()),
            (_, name) => generic_names.ids.insert(name.into()),
        };
    }
    loaded.lists = Some(FilterLists {
        engine: Engine::new_with_filter_set(set),
        files,
        generic_names,
        params: Arc::new(RemoveParams::new(param_rules)),
        site_selectors,
        site_cache: Mutex::new(HashMap::new()),
        derived: Mutex::new(HashMap::new()),
    });
    loaded
}

fn count(report: &mut FileReport, kind: &'static str) {
    *report.taken.entry(kind).or_default() += 1;
}

/// A stream rule as an ordinary element remove rule.
fn stream_rule(rule: lines::StreamRule, file: &Arc<str>, number: usize) -> ElementRule {
    let when = rule.has_text.map(|text| Conditions {
        text: vec![TextTest::Contains { any_of: vec![text], case_insensitive: false }],
        ..Conditions::default()
    });
    // The classifier parsed the selector already; a second parse of the same text cannot fail, but an
    // unparsable one would only mean a rule that never matches.
    let selector = rule.selector.parse::<lol_html::Selector>().unwrap_or_else(|_| never_matching_selector());
    ElementRule {
        id: RuleId::new(&format!("{file}:{number}")),
        origin: RuleOrigin { file: Arc::clone(file), line: number },
        selector_text: rule.selector,
        selector,
        action: ElementAction::Remove,
        when,
        scope: rule.scope,
    }
}

#[allow(clippy::expect_used)]
fn never_matching_selector() -> lol_html::Selector {
    // A type selector of a name no HTML element has; a literal, valid selector (the unit tests parse it).
    "strainer-never-matches".parse().expect("a literal type selector parses")
}

/// `:is(a,b,…){display:none!important}` rules for `selectors`, [`SELECTORS_PER_RULE`] at a time.
fn css_of<'a>(selectors: impl Iterator<Item = &'a str>) -> String {
    let mut css = String::new();
    let mut in_rule = 0;
    for selector in selectors {
        if in_rule == 0 {
            css.push_str(":is(");
        } else {
            css.push(',');
        }
        css.push_str(selector);
        in_rule += 1;
        if in_rule == SELECTORS_PER_RULE {
            css.push_str("){display:none!important}\n");
            in_rule = 0;
        }
    }
    if in_rule > 0 {
        css.push_str("){display:none!important}\n");
    }
    css
}

/// The `adblock` request type of a request, from `Sec-Fetch-Dest` (what browsers say) or, without it, from
/// whether it is a navigation and what it accepts.
pub fn request_type(sec_fetch_dest: Option<&str>, navigation: bool, accept: &str) -> &'static str {
    match sec_fetch_dest.map(str::to_ascii_lowercase).as_deref() {
        Some("document") => "document",
        Some("iframe" | "frame" | "fencedframe") => "sub_frame",
        Some("script" | "worker" | "sharedworker" | "serviceworker" | "audioworklet" | "paintworklet") => {
            "script"
        }
        Some("style") => "stylesheet",
        Some("image") => "image",
        Some("font") => "font",
        Some("audio" | "video" | "track") => "media",
        Some("object" | "embed") => "object",
        Some("empty") => "xhr",
        Some(_) => "other",
        None if navigation => "document",
        None if accept.starts_with("image/") => "image",
        None if accept.starts_with("text/css") => "stylesheet",
        None => "other",
    }
}

/// `url` without the `:port` of its authority (userinfo and IPv6 brackets kept as written).
fn without_port(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else { return url.into() };
    let start = scheme_end + 3;
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_end = if authority[host_start..].starts_with('[') {
        authority[host_start..].find(']').map_or(authority.len(), |i| host_start + i + 1)
    } else {
        authority[host_start..].find(':').map_or(authority.len(), |i| host_start + i)
    };
    if host_end == authority.len() {
        return url.into();
    }
    format!("{}{}", &url[..start + host_end], &url[end..]).into()
}

// === impl FilterLists ===

impl FilterLists {
    /// Per-file reports, in load order.
    pub fn files(&self) -> &[FileReport] {
        &self.files
    }

    /// The `$removeparam` rules, for the link rules.
    pub fn params(&self) -> Arc<RemoveParams> {
        Arc::clone(&self.params)
    }

    /// Does a network rule block a GET of `url`, requested as `request_type` (an `adblock` type: `document`,
    /// `script`, `image`, …) by a page at `source_url` (the URL itself for a navigation)? Exceptions and
    /// `$important` are the engine's. See [`FilterLists::check`].
    pub fn check_request(&self, url: &str, source_url: &str, request_type: &str) -> Option<Blocked> {
        self.check(url, source_url, request_type, "get")
    }

    /// [`FilterLists::check_request`] for any method (`$method=` rules), given lower-case.
    ///
    /// Ports are left out of both URLs: list patterns are written for default ports (`||host/path` would not
    /// match `host:8080/path`, while `||host^` would), so a site on another port is judged as on its default one.
    pub fn check(&self, url: &str, source_url: &str, request_type: &str, method: &str) -> Option<Blocked> {
        let request =
            Request::new(&without_port(url), &without_port(source_url), request_type, method).ok()?;
        let result = self.engine.check_network_request(&request);
        if !result.should_block() {
            return None;
        }
        let info = result.filter.as_ref();
        let list = info
            .and_then(|i| i.source_location.as_ref())
            .and_then(|location| self.files.get(location.source_index as usize))
            .map_or_else(|| "filter lists".to_owned(), |report| report.file.clone());
        let rule = info.and_then(|i| i.raw_line.clone()).unwrap_or_else(|| "(a combined rule)".to_owned());
        Some(Blocked { list, rule })
    }

    /// The hiding stylesheet for the `<head>` of pages of `site`: its site-specific selectors and the generic
    /// ones that are not a single class or id (those come from the page survey, [`FilterLists::survey`]),
    /// exceptions applied. Built once per site and cached; empty when nothing applies.
    pub fn stylesheet(&self, site: &str) -> Vec<Arc<str>> {
        self.site(site).head.clone()
    }

    /// A survey of one page of `site` for the generic class and id rules, or `None` when the site is exempt
    /// from generic rules (`$generichide`) or none is loaded. Feed it the page and append what it finishes with.
    pub fn survey(self: &Arc<Self>, site: &str) -> Option<survey::Survey> {
        let cosmetics = self.site(site);
        let none = self.generic_names.classes.is_empty() && self.generic_names.ids.is_empty();
        (!none && !cosmetics.generichide).then(|| survey::Survey::new(Arc::clone(self), cosmetics))
    }

    fn site(&self, site: &str) -> Arc<SiteCosmetics> {
        let mut cache = self.site_cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cosmetics) = cache.get(site) {
            return Arc::clone(cosmetics);
        }
        let cosmetics = Arc::new(self.build_site(site));
        if cache.len() >= STYLESHEET_CACHE {
            cache.clear();
        }
        cache.insert(site.to_owned(), Arc::clone(&cosmetics));
        cosmetics
    }

    fn build_site(&self, site: &str) -> SiteCosmetics {
        let resources = self.engine.url_cosmetic_resources(&format!("https://{site}/"));
        // Site-specific selectors the engine can match go to the stream, if the engine still has them for this
        // site (an exception or a `~site` takes them off there as it takes them off the stylesheet).
        let parents = std::iter::successors(Some(site), |h| h.split_once('.').map(|(_, rest)| rest));
        let mut stream: Vec<SiteSelector> = parents
            .filter_map(|domain| self.site_selectors.get(domain))
            .flatten()
            .filter(|s| resources.hide_selectors.contains(&s.text))
            .cloned()
            .collect();
        stream.sort_by(|a, b| a.text.cmp(&b.text));
        stream.dedup_by(|a, b| a.text == b.text);
        let streamed: HashSet<&str> = stream.iter().map(|s| s.text.as_str()).collect();
        let mut selectors: Vec<&str> =
            resources.hide_selectors.iter().map(String::as_str).filter(|s| !streamed.contains(s)).collect();
        selectors.sort_unstable();
        let head =
            if selectors.is_empty() { Vec::new() } else { vec![Arc::from(css_of(selectors.into_iter()))] };
        SiteCosmetics { head, excepted: resources.exceptions, stream, generichide: resources.generichide }
    }

    /// The rules to rewrite a page of `site` with: `base` (the rule set these lists belong to) plus the site's
    /// stream selectors as element remove rules, or `base` itself when the site has none. A rule set per site
    /// keeps the cost of site-specific rules on their own sites: in `base`, every response would check the site
    /// scope of all of them. Built once per site, at most [`DERIVED_CACHE`] kept.
    pub fn rules_for(&self, base: &Arc<RuleSet>, site: &str) -> Arc<RuleSet> {
        let cosmetics = self.site(site);
        if cosmetics.stream.is_empty() {
            return Arc::clone(base);
        }
        let mut derived = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rules) = derived.get(site) {
            return Arc::clone(rules);
        }
        let Ok(pattern) = crate::rules::HostPattern::new(site) else {
            return Arc::clone(base);
        };
        let scope = SiteScope { include: HostSet::new(vec![pattern]), exclude: HostSet::default() };
        let mut element_rules = base.element_rules.clone();
        element_rules.extend(cosmetics.stream.iter().map(|s| ElementRule {
            id: s.id.clone(),
            origin: s.origin.clone(),
            selector_text: s.text.clone(),
            selector: s.selector.clone(),
            action: ElementAction::Remove,
            when: None,
            scope: scope.clone(),
        }));
        // Only what the engine reads: element rules, links and styles (no hosts, files or lists, so no cycle
        // back to these lists through the cache).
        let rules = Arc::new(RuleSet {
            element_rules,
            links: base.links.clone(),
            styles: base.styles.clone(),
            // The stream rules added are unconditional: the base's index (and its compiled text patterns) holds.
            index: std::sync::OnceLock::from(Arc::clone(base.index())),
            ..RuleSet::default()
        });
        if derived.len() >= DERIVED_CACHE {
            derived.clear();
        }
        derived.insert(site.to_owned(), Arc::clone(&rules));
        rules
    }

    /// Lines taken across all files.
    pub fn taken_total(&self) -> usize {
        self.files.iter().map(FileReport::taken_total).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_selector_parses() {
        let _ = never_matching_selector();
    }

    #[test]
    fn stylesheets_group_selectors_in_forgiving_lists() {
        assert_eq!(css_of(["a", ".b"].into_iter()), ":is(a,.b){display:none!important}\n");
        let many: Vec<String> = (0..SELECTORS_PER_RULE + 1).map(|i| format!(".c{i}")).collect();
        assert_eq!(css_of(many.iter().map(String::as_str)).lines().count(), 2);
    }

    #[test]
    fn ports_are_left_out() {
        assert_eq!(without_port("http://a.example:8080/x?y"), "http://a.example/x?y");
        assert_eq!(without_port("https://u:p@[::1]:443"), "https://u:p@[::1]");
        assert_eq!(without_port("https://a.example/p:1"), "https://a.example/p:1");
    }

    #[test]
    fn request_types_follow_sec_fetch_dest() {
        assert_eq!(request_type(Some("script"), false, "*/*"), "script");
        assert_eq!(request_type(Some("iframe"), false, "*/*"), "sub_frame");
        assert_eq!(request_type(None, true, "text/html"), "document");
        assert_eq!(request_type(None, false, "image/avif,*/*"), "image");
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;

    fn lists(files: &[(&str, &str)]) -> FilterLists {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join(FILTERS_DIR)).expect("filters dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(FILTERS_DIR).join(name), text).expect("write list");
        }
        load(dir.path()).lists.expect("lists load")
    }

    #[test]
    fn site_selectors_join_a_rule_set_for_their_site_only() {
        let lists = Arc::new(lists(&[(
            "a.txt",
            "news.example,shop.example##div.promo\nnews.example##.x + .y\nshop.example#@#div.promo\n",
        )]));
        let base = Arc::new(RuleSet { filters: Some(Arc::clone(&lists)), ..RuleSet::default() });
        let news = lists.rules_for(&base, "www.news.example");
        let ids: Vec<&str> = news.element_rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["filters/a.txt:1"], "the matchable selector, not the `+` one");
        assert!(news.filters.is_none(), "no cycle back to the lists");
        let css: String = lists.stylesheet("www.news.example").concat();
        assert!(css.contains(".x + .y") && !css.contains("div.promo"), "{css}");
        assert!(Arc::ptr_eq(&lists.rules_for(&base, "shop.example"), &base), "the exception holds");
        assert!(Arc::ptr_eq(&lists.rules_for(&base, "other.example"), &base));
        assert!(Arc::ptr_eq(&lists.rules_for(&base, "www.news.example"), &news), "built once");
    }

    #[test]
    fn blocks_name_their_list_and_rule_and_exceptions_win() {
        let lists = lists(&[("a.txt", "! title\n||ads.example^\n"), ("b.txt", "@@||ads.example/allowed/\n")]);
        let blocked = lists.check_request("http://ads.example:8080/x.js", "http://news.example/", "script");
        assert_eq!(blocked, Some(Blocked { list: "filters/a.txt".into(), rule: "||ads.example^".into() }));
        assert_eq!(
            lists.check_request("http://ads.example:81/allowed/x", "http://news.example/", "script"),
            None
        );
        assert_eq!(lists.check_request("http://news.example/", "http://news.example/", "document"), None);
    }
}
