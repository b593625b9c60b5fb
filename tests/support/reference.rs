//! The reference for the differential tests: what the rules do to a page, computed the obvious way on the whole
//! page parsed as a browser parses it (html5ever through `scraper`), with no streaming, no holding and no early
//! decisions.
//!
//! Shared with the engine are only the rule compiler and pure predicates (`TextTest::holds`, `HostSet::matches`,
//! `LinkRules::inspect`). Every fact is gathered here from the DOM: which elements exist and what contains what,
//! their text (decoded by the HTML tokenizer), its length, the links inside and the host each leads to (parsed
//! by the WHATWG URL parser of the `url` crate, a relative link names no host of its own).
//!
//! The semantics, as `rules/README.md` states them:
//! - an element removed by an unconditional rule is gone at once: its content is no element, text or link for
//!   anything around it, and nothing inside it is judged; `<template>` contents are likewise never looked at;
//! - an element is a *candidate* of a conditional rule when the rule applies to the site, its selector matches
//!   and its `class_matches` / `id_matches` hold;
//! - own text: the text inside the element minus the text inside nested candidates (of any rule), except
//!   phrasing candidates (`span`, `a`, `strong`, …) that are not removed: their text stays their container's
//!   own text; decoded,
//!   whitespace collapsed and trimmed; whole text and text length: the same over all text inside; text of
//!   `<script>`, `<style>`, `<title>`, `<textarea>`, `<noscript>` and the other raw-text elements is no text;
//! - `links_to`: some `a[href]` / `area[href]` inside leads to a listed host as written or once unwrapped;
//!   `links_elsewhere` / `links_on_site`: one of those hosts is not / is the site's (same host or a subdomain
//!   either way, `www.` set aside), and a link naming no host of its own is on the site;
//! - `follows`: in document order, the element is the first candidate to start after an element that one of
//!   the named rules hit ended, with no text other than ASCII whitespace in between; a hit by the rule itself
//!   counts only when both elements have the same tag name and `class` attribute (items of one run);
//! - `min_links_on_site`: at least that many `a[href]` inside lead to a page of the site (an `href` that is not
//!   empty, not `#…` and parses as an `http(s)` URL or not at all, that names no host or a host of the site);
//!   `min_link_text_share`: the non-whitespace characters inside `a[href]` elements are at least that many
//!   thousandths of all the non-whitespace characters inside (which must be some); `min_average_link_text`:
//!   they are at least that many per `a[href]` that holds some (which must be some);
//! - `precedes`: besides its other conditions, the first candidate to start after the element ended, with no
//!   text other than ASCII whitespace in between and before any candidate around the element ends, is hit by
//!   one of the named rules (any number of elements may wait, each for its own follower);
//! - `min_removed_inside`: at least that many elements inside were removed by a verdict, counting those that hold
//!   no other removed element;
//! - `holds` / `holds_none`: some element / no element inside with a start tag in the page (none the parser
//!   made up) has one of the names; an element removed at its start tag counts (not what is inside it), a
//!   `<template>` does not;
//! - whole-text regexes (`text_matches`) read the text inside minus the text of elements inside that a verdict
//!   removed; whole-text prefixes and needles, text length and links count everything inside;
//! - `innermost`: the rule does not hold on an element inside which it held on some element (whichever rule's
//!   verdict was taken there), when this element's text is longer than that of every such element by more than
//!   the rule's slack (`INNERMOST_SLACK` unless it gives a number);
//! - `score`: besides all its other conditions, the rule holds only where the weights of the signals whose
//!   conditions all hold add up to at least the threshold;
//! - remove beats tag; the tags of every tag rule that holds are added; inside a removed element nothing shows.
//!
//! Elements are identified by the byte offset of their start tag in the page, as the engine reports them: the
//! page is first annotated with those offsets (one attribute per start tag, written by lol_html, which moves no
//! byte of structure) and then parsed. Elements the parser makes up (`<tbody>`, implied `<html>`) have none.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ego_tree::{NodeId, NodeRef};
use scraper::{ElementRef, Html, Node, Selector};
use strainer::rules::{Conditions, ElementAction, RuleSet, TextTest};

/// The attribute carrying each start tag's source offset into the parsed tree.
const OFFSET_ATTR: &str = "data-strainer-reference-offset";

/// What happened to one element or link.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The element is gone.
    Removed,
    /// These tags were added to the element.
    Tagged(BTreeSet<String>),
    /// The link's `href` became this URL.
    Link(String),
}

/// What a rewrite did, by (start tag offset, whether it is the link aspect of the element).
pub type Outcomes = BTreeMap<(usize, bool), Outcome>;

/// The reference's view of one page.
pub struct Reference {
    /// What the rules do, by element.
    pub outcomes: Outcomes,
    /// Every element with a source offset → the offset of its nearest ancestor that has one.
    parents: HashMap<usize, Option<usize>>,
    /// Tree-construction errors html5ever reported (the page's markup was repaired).
    pub parse_errors: Vec<String>,
    /// Whether the page is parsed in (full) quirks mode.
    pub quirks: bool,
    /// The page's text once the reference's removals are applied, whitespace collapsed.
    pub text_after: String,
}

/// A rule the page's site is in scope of, with its selector parsed for the DOM.
struct ActiveRule<'r> {
    index: usize,
    selector: Selector,
    conditions: Option<&'r Conditions>,
    action: &'r ElementAction,
}

/// What the first pass found out about one element.
#[derive(Default)]
struct Info {
    offset: Option<usize>,
    /// Removed by an unconditional rule, or a `<template>`: nothing inside counts.
    gone: bool,
    removed: bool,
    tags: Vec<String>,
    candidate_of: Vec<usize>,
}

const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "title",
    "textarea",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
];
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source",
    "track", "wbr",
];

impl Reference {
    /// Evaluates `rules` on `page` (UTF-8) from `site`.
    pub fn evaluate(rules: &RuleSet, site: Option<&str>, page: &str) -> Self {
        let annotated = annotate(page);
        let html = Html::parse_document(&annotated);
        let active = active_rules(rules, site);
        let mut infos: HashMap<NodeId, Info> = HashMap::new();
        classify(html.tree.root(), &active, &mut infos);
        let base = url::Url::parse(&format!("http://{}/", site.unwrap_or("site.invalid"))).ok();
        let mut judge = Judge {
            rules,
            site,
            base,
            infos: &infos,
            outcomes: Outcomes::new(),
            parents: HashMap::new(),
            last_hit: None,
            waiting: Vec::new(),
        };
        judge.walk(html.tree.root(), None);
        let Judge { outcomes, parents, .. } = judge;
        let mut text = String::new();
        visible_text(html.tree.root(), &infos, &outcomes, &mut text);
        Self {
            outcomes,
            parents,
            parse_errors: html.errors.iter().map(|e| e.to_string()).collect(),
            quirks: format!("{:?}", html.quirks_mode) == "Quirks",
            text_after: collapse(&text),
        }
    }

    /// `outcomes` without what lies inside an element they remove (by this page's tree), and without tags on
    /// an element they remove.
    pub fn effective(&self, outcomes: &Outcomes) -> Outcomes {
        let removed: BTreeSet<usize> =
            outcomes.iter().filter(|(_, o)| **o == Outcome::Removed).map(|((at, _), _)| *at).collect();
        outcomes
            .iter()
            .filter(|((at, link), outcome)| {
                let removes_itself = removed.contains(at);
                let shown = if removes_itself { !*link && **outcome == Outcome::Removed } else { true };
                shown && !self.ancestors(*at).any(|a| removed.contains(&a))
            })
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// The offsets of the ancestors of the element at `offset`, nearest first.
    pub fn ancestors(&self, offset: usize) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.parents.get(&offset).copied().flatten();
        std::iter::from_fn(move || {
            let here = at?;
            at = self.parents.get(&here).copied().flatten();
            Some(here)
        })
    }

    /// Whether the element at `offset` exists in the tree.
    pub fn knows(&self, offset: usize) -> bool {
        self.parents.contains_key(&offset)
    }
}

/// The engine's report as outcomes (the report must have been made with `record_hits`).
pub fn engine_outcomes(report: &strainer::rewrite::RewriteReport) -> Outcomes {
    use strainer::rewrite::HitAction;
    let mut outcomes = Outcomes::new();
    for hit in &report.hits {
        match &hit.action {
            HitAction::Removed => {
                outcomes.insert((hit.offset, false), Outcome::Removed);
            }
            HitAction::Tagged(tags) => {
                let entry =
                    outcomes.entry((hit.offset, false)).or_insert_with(|| Outcome::Tagged(BTreeSet::new()));
                if let Outcome::Tagged(set) = entry {
                    set.extend(tags.split_ascii_whitespace().map(str::to_owned));
                }
            }
            HitAction::LinkCleaned(url) => {
                outcomes.insert((hit.offset, true), Outcome::Link(url.clone()));
            }
        }
    }
    outcomes
}

/// `page` with every start tag carrying its own byte offset.
fn annotate(page: &str) -> String {
    let mut out = Vec::with_capacity(page.len() * 2);
    let settings = lol_html::Settings::new().with_strict(false).append_element_content_handler(
        lol_html::element!("*", |el| {
            let offset = el.source_location().bytes().start;
            el.set_attribute(OFFSET_ATTR, &offset.to_string())?;
            Ok(())
        }),
    );
    let mut rewriter = lol_html::HtmlRewriter::new(settings, |chunk: &[u8]| out.extend_from_slice(chunk));
    rewriter.write(page.as_bytes()).expect("annotating a page cannot fail without a memory limit");
    rewriter.end().expect("annotating a page cannot fail without a memory limit");
    String::from_utf8(out).expect("lol_html keeps UTF-8 input UTF-8")
}

fn active_rules<'r>(rules: &'r RuleSet, site: Option<&str>) -> Vec<ActiveRule<'r>> {
    rules
        .element_rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.scope.applies_to(site))
        .map(|(index, rule)| ActiveRule {
            index,
            selector: Selector::parse(&rule.selector_text).unwrap_or_else(|e| {
                panic!("rule {}: the DOM cannot parse {:?}: {e:?}", rule.id, rule.selector_text)
            }),
            conditions: rule.when.as_ref(),
            action: &rule.action,
        })
        .collect()
}

fn element_offset(el: &ElementRef<'_>) -> Option<usize> {
    el.value().attr(OFFSET_ATTR).and_then(|v| v.parse().ok())
}

/// Do the start-tag conditions of `conditions` hold for `el`?
fn start_tag_holds(el: &ElementRef<'_>, conditions: Option<&Conditions>) -> bool {
    let Some(conditions) = conditions else {
        return true;
    };
    let holds = |name: &str, regex: &Option<regex::Regex>| {
        regex.as_ref().is_none_or(|regex| el.value().attr(name).is_some_and(|v| regex.is_match(v)))
    };
    holds("class", &conditions.class_matches) && holds("id", &conditions.id_matches)
}

/// Rules whose conditions need the element's content.
fn is_conditional(conditions: Option<&Conditions>) -> bool {
    conditions.is_some_and(Conditions::needs_content)
}

/// First pass: removals and tags at the start tag, and which rules each element is a candidate of.
fn classify(node: NodeRef<'_, Node>, active: &[ActiveRule<'_>], infos: &mut HashMap<NodeId, Info>) {
    for child in node.children() {
        let Some(el) = ElementRef::wrap(child) else {
            continue;
        };
        let offset = element_offset(&el);
        let name = el.value().name();
        let mut info = Info { offset, ..Info::default() };
        if name == "template" {
            info.gone = true;
            infos.insert(child.id(), info);
            continue;
        }
        if offset.is_some() {
            for rule in active.iter().filter(|r| !is_conditional(r.conditions)) {
                if !(rule.selector.matches(&el) && start_tag_holds(&el, rule.conditions)) {
                    continue;
                }
                match rule.action {
                    ElementAction::Remove => {
                        info.removed = true;
                        info.gone = true;
                    }
                    ElementAction::Tag(tags) => info.tags.extend(tags.iter().map(|t| t.to_string())),
                }
            }
            if !info.gone && !VOID.contains(&name) {
                info.candidate_of = active
                    .iter()
                    .filter(|r| is_conditional(r.conditions))
                    .filter(|r| r.selector.matches(&el) && start_tag_holds(&el, r.conditions))
                    .map(|r| r.index)
                    .collect();
            }
        }
        let gone = info.gone;
        infos.insert(child.id(), info);
        if !gone {
            classify(child, active, infos);
        }
    }
}

/// Phrasing elements: a candidate among them keeps its text in its container's own text.
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "label", "mark",
    "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
];

/// The facts of one candidate.
#[derive(Default)]
struct Facts {
    own: String,
    all: String,
    /// All the text minus the text of elements inside that a verdict removed.
    left: String,
    links: Vec<String>,
    /// Per `a[href]` inside: its `href` and the non-whitespace characters of its text.
    anchors: Vec<(String, usize)>,
    /// The tag names (lower case) of the elements inside that have a start tag in the page.
    elements: Vec<String>,
}

fn gather(
    node: NodeRef<'_, Node>,
    infos: &HashMap<NodeId, Info>,
    outcomes: &Outcomes,
    nested: bool,
    in_removed: bool,
    facts: &mut Facts,
) {
    let raw_text = holds_raw_text(node);
    for child in node.children() {
        match child.value() {
            Node::Text(text) if !raw_text => {
                facts.all.push_str(text);
                if !nested {
                    facts.own.push_str(text);
                }
                if !in_removed {
                    facts.left.push_str(text);
                }
            }
            Node::Element(el) => {
                let info = infos.get(&child.id());
                // An element removed at its start tag is still held (not what is inside it); a template is not.
                if info.is_some_and(|i| i.offset.is_some()) && el.name() != "template" {
                    facts.elements.push(el.name().to_ascii_lowercase());
                }
                if info.is_some_and(|i| i.gone) {
                    continue;
                }
                let anchor = (el.name() == "a").then(|| el.attr("href")).flatten();
                if let Some(href) = link_href(el) {
                    facts.links.push(href.to_owned());
                }
                let text_before = facts.all.len();
                let candidate = info.is_some_and(|i| !i.candidate_of.is_empty());
                let removed = info
                    .and_then(|i| i.offset)
                    .is_some_and(|at| outcomes.get(&(at, false)) == Some(&Outcome::Removed));
                let phrasing = is_html_name(el, PHRASING) && !removed;
                let inner_nested = nested || (candidate && !phrasing);
                gather(child, infos, outcomes, inner_nested, in_removed || removed, facts);
                if let Some(href) = anchor {
                    let text = visible_chars(&facts.all[text_before..]);
                    facts.anchors.push((href.to_owned(), text));
                }
            }
            _ => {}
        }
    }
}

/// The characters of `text` that are not whitespace.
fn visible_chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Whether an `href` leads to a page: not empty, not a `#fragment` of this one, and an `http(s)` URL or a
/// relative one.
fn leads_to_a_page(href: &str) -> bool {
    let href = href.trim();
    !href.is_empty()
        && !href.starts_with('#')
        && url::Url::parse(href).map_or(true, |url| matches!(url.scheme(), "http" | "https"))
}

/// Whether `node` is a raw-text element, whose text is no page text.
fn holds_raw_text(node: NodeRef<'_, Node>) -> bool {
    ElementRef::wrap(node).is_some_and(|el| is_html_name(el.value(), RAW_TEXT))
}

/// Whether `el` is an HTML element named in `names` (an SVG `<title>` is no raw-text element).
fn is_html_name(el: &scraper::node::Element, names: &[&str]) -> bool {
    &*el.name.ns == "http://www.w3.org/1999/xhtml" && names.contains(&el.name())
}

fn link_href(el: &scraper::node::Element) -> Option<&str> {
    matches!(el.name(), "a" | "area").then(|| el.attr("href")).flatten()
}

/// Whitespace runs collapsed to one space, leading and trailing whitespace dropped.
fn collapse(text: &str) -> String {
    text.split(char::is_whitespace).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The hosts a link leads to: its own as written (an absolute or scheme-relative URL; a relative link names
/// none, as `rules/README.md` says) and its destination once unwrapped.
fn link_hosts(rules: &RuleSet, site: Option<&str>, base: Option<&url::Url>, href: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(host) = own_host(href, base) {
        hosts.push(host);
    }
    if let Some(destination) = rules.links.inspect(href, site).destination_host {
        hosts.push(destination);
    }
    hosts
}

/// The host a link names itself (an absolute or scheme-relative URL), lower-cased. A URL that names a host the
/// WHATWG parser rejects (`https://%3C?php…`) still names it: it is read as written.
fn own_host(href: &str, base: Option<&url::Url>) -> Option<String> {
    let href = href.trim();
    let parsed = match (url::Url::parse(href), base) {
        (Ok(url), _) => Some(url),
        (Err(_), Some(base)) if href.starts_with("//") => base.join(href).ok(),
        (Err(url::ParseError::RelativeUrlWithoutBase), _) => None,
        (Err(_), _) => return host_as_written(href),
    };
    let host = parsed.as_ref()?.host_str()?;
    Some(host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

/// The host between `scheme://` and the path, query or fragment, without userinfo and port, lower-cased.
fn host_as_written(href: &str) -> Option<String> {
    let (_, rest) = href.split_once("://")?;
    let authority = rest.split(['/', '\\', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// An element's tag name and `class` attribute: items of one run share them.
type Kind = (String, Option<String>);

fn kind_of(el: &ElementRef<'_>) -> Kind {
    (el.value().name().to_ascii_lowercase(), el.value().attr("class").map(str::to_owned))
}

/// Second pass: the verdict of every candidate and the fate of every link.
struct Judge<'a> {
    rules: &'a RuleSet,
    site: Option<&'a str>,
    /// The site's root, to resolve scheme-relative links against.
    base: Option<url::Url>,
    infos: &'a HashMap<NodeId, Info>,
    outcomes: Outcomes,
    parents: HashMap<usize, Option<usize>>,
    /// The rules that hit the last element judged, while only whitespace followed it, the offset of the first
    /// candidate that started since, and the hit element's kind (tag name and class).
    last_hit: Option<(Vec<usize>, Option<usize>, Kind)>,
    /// The elements waiting for what follows them (`precedes`): each one's offset, the `precedes` rules that
    /// held on it, and the offset of the first candidate that started since.
    waiting: Vec<(usize, Vec<usize>, Option<usize>)>,
}

impl Judge<'_> {
    /// Judges every element below `node`, whose nearest ancestor with an offset is at `parent_offset`. Returns
    /// where `innermost` rules held below it: (rule index, text length of the element), whatever the verdict.
    fn walk(&mut self, node: NodeRef<'_, Node>, parent_offset: Option<usize>) -> Vec<(usize, usize)> {
        let mut below = Vec::new();
        let raw_text = holds_raw_text(node);
        for child in node.children() {
            if let Node::Text(text) = child.value() {
                if !raw_text && text.chars().any(|c| !c.is_ascii_whitespace()) {
                    self.last_hit = None;
                    self.waiting.retain(|(_, _, follower)| follower.is_some());
                }
                continue;
            }
            let Some(el) = ElementRef::wrap(child) else {
                continue;
            };
            let Some(info) = self.infos.get(&child.id()) else {
                continue;
            };
            let mut hits = Vec::new();
            let mut following = Vec::new();
            if let Some(offset) = info.offset {
                self.parents.insert(offset, parent_offset);
                if info.removed {
                    self.outcomes.insert((offset, false), Outcome::Removed);
                }
                if !info.gone && !info.candidate_of.is_empty() {
                    if let Some((_, first, _)) = &mut self.last_hit {
                        first.get_or_insert(offset);
                    }
                    for (_, _, follower) in &mut self.waiting {
                        follower.get_or_insert(offset);
                    }
                    let kind = kind_of(&el);
                    following = info
                        .candidate_of
                        .iter()
                        .copied()
                        .filter(|&index| {
                            let follows = self.rules.element_rules[index].when.as_ref().map(|c| &c.follows);
                            follows.is_none_or(|names| {
                                names.is_empty() || self.follows(offset, names, index, &kind)
                            })
                        })
                        .collect();
                }
            }
            if !info.gone {
                // Judged at its end, once what is inside is judged (a removed phrasing candidate is not its
                // container's own text); `follows` was read at its start.
                let inside = self.walk(child, info.offset.or(parent_offset));
                if let Some(offset) = info.offset {
                    // A candidate ending before any started after the waiting element is around it: the wait
                    // ends unanswered.
                    if !info.candidate_of.is_empty() {
                        self.waiting.retain(|(_, _, follower)| follower.is_some());
                    }
                    let (length, held);
                    (hits, length, held) = self.judge(child, &el, info, offset, &following, &inside);
                    if let Some(index) = self.waiting.iter().position(|(_, _, f)| *f == Some(offset)) {
                        self.end_wait(index, &hits);
                    }
                    let innermost = |&index: &usize| {
                        self.rules.element_rules[index].when.as_ref().is_some_and(|c| c.innermost.is_some())
                    };
                    below.extend(held.iter().filter(|index| innermost(index)).map(|&index| (index, length)));
                }
                below.extend(inside);
            }
            if !hits.is_empty() {
                self.last_hit = Some((hits, None, kind_of(&el)));
            }
        }
        below
    }

    /// The `precedes` rules of waiting element `which` that name a rule of `hit_by` (the rules that hit its
    /// follower) add their tags to it.
    fn end_wait(&mut self, which: usize, hit_by: &[usize]) {
        let (offset, waiting, _) = self.waiting.remove(which);
        let names: Vec<_> = hit_by.iter().map(|&index| &self.rules.element_rules[index].id).collect();
        let mut tags = BTreeSet::new();
        for index in waiting {
            let rule = &self.rules.element_rules[index];
            let precedes = rule.when.as_ref().map_or(&[][..], |c| &c.precedes);
            if let (true, ElementAction::Tag(rule_tags)) =
                (names.iter().any(|n| precedes.contains(n)), &rule.action)
            {
                tags.extend(rule_tags.iter().map(|tag| tag.to_string()));
            }
        }
        if tags.is_empty() {
            return;
        }
        let outcome =
            self.outcomes.entry((offset, false)).or_insert_with(|| Outcome::Tagged(BTreeSet::new()));
        if let Outcome::Tagged(set) = outcome {
            set.extend(tags);
        }
    }

    /// Whether the candidate at `offset`, of `kind`, follows a hit by one of `names` (see the module docs); rule
    /// `asking` itself counts only on an element of the same kind.
    fn follows(&self, offset: usize, names: &[strainer::rules::RuleId], asking: usize, kind: &Kind) -> bool {
        self.last_hit.as_ref().is_some_and(|(rules, first, hit_kind)| {
            *first == Some(offset)
                && rules.iter().any(|&index| {
                    names.contains(&self.rules.element_rules[index].id)
                        && (index != asking || hit_kind == kind)
                })
        })
    }

    /// The outcome of one element and of its link; returns the conditional rules that hit it, the length of its
    /// text and every conditional rule whose conditions held on it. `inside`: where `innermost` rules held on
    /// elements inside it.
    fn judge(
        &mut self,
        node: NodeRef<'_, Node>,
        el: &ElementRef<'_>,
        info: &Info,
        offset: usize,
        following: &[usize],
        inside: &[(usize, usize)],
    ) -> (Vec<usize>, usize, Vec<usize>) {
        let (mut length, mut held) = (0, Vec::new());
        let mut tags: Vec<String> = info.tags.clone();
        let mut removed = false;
        let (mut remove_hit, mut tag_hits) = (None, Vec::new());
        let mut waits = Vec::new();
        if !info.candidate_of.is_empty() {
            let mut facts = Facts::default();
            gather(node, self.infos, &self.outcomes, false, false, &mut facts);
            let own = collapse(&facts.own);
            let all = collapse(&facts.all);
            let left = collapse(&facts.left);
            length = all.chars().count();
            let links: Vec<Vec<String>> = facts
                .links
                .iter()
                .map(|href| link_hosts(self.rules, self.site, self.base.as_ref(), href))
                .collect();
            let on_site =
                |host: &String| self.site.is_some_and(|site| strainer::url_host::same_site(host, site));
            let holds_one_of =
                |names: &[Box<str>]| facts.elements.iter().any(|name| names.iter().any(|n| **n == **name));
            let removed_count = removed_inside(node, self.infos, &self.outcomes);
            let on_site_link = |href: &str| {
                own_host(href, self.base.as_ref()).is_none()
                    || link_hosts(self.rules, self.site, self.base.as_ref(), href).iter().any(on_site)
            };
            let page_links =
                facts.anchors.iter().filter(|(href, _)| leads_to_a_page(href) && on_site_link(href));
            let page_links = u32::try_from(page_links.count()).unwrap_or(u32::MAX);
            let visible = visible_chars(&facts.all);
            let link_text: usize = facts.anchors.iter().map(|(_, text)| text).sum();
            let anchors = facts.anchors.iter().filter(|(_, text)| *text > 0).count();
            // Every condition but `follows` and `innermost`, which signals never have.
            let part_holds = |conditions: &Conditions| {
                conditions.min_text_len.is_none_or(|min| length >= min)
                    && conditions.max_text_len.is_none_or(|max| length <= max)
                    && conditions.text.iter().all(|test: &TextTest| test.holds(&own))
                    && conditions.whole_text.iter().all(|test: &TextTest| match test {
                        TextTest::Matches(_) => test.holds(&left),
                        _ => test.holds(&all),
                    })
                    && conditions
                        .links_to
                        .as_ref()
                        .is_none_or(|wanted| links.iter().flatten().any(|host| wanted.matches(host)))
                    && (!conditions.links_elsewhere || links.iter().flatten().any(|host| !on_site(host)))
                    && (conditions.holds.is_empty() || holds_one_of(&conditions.holds))
                    && !holds_one_of(&conditions.holds_none)
                    && conditions.min_removed_inside.is_none_or(|least| removed_count >= least)
                    && conditions.min_links_on_site.is_none_or(|least| page_links >= least)
                    && conditions.min_link_text_share.is_none_or(|thousandths| {
                        visible > 0 && link_text * 1000 >= thousandths as usize * visible
                    })
                    && conditions
                        .min_average_link_text
                        .is_none_or(|least| anchors > 0 && link_text >= least as usize * anchors)
                    && (!conditions.links_on_site
                        || facts.links.iter().zip(links.iter()).any(|(href, hosts)| {
                            own_host(href, self.base.as_ref()).is_none() || hosts.iter().any(on_site)
                        }))
            };
            for &index in &info.candidate_of {
                let rule = &self.rules.element_rules[index];
                let Some(conditions) = rule.when.as_ref() else {
                    continue;
                };
                let holds = following.contains(&index)
                    && !conditions
                        .innermost
                        .is_some_and(|slack| holds_more_than_its_hits(inside, index, length, slack))
                    && part_holds(conditions)
                    && conditions.score.as_ref().is_none_or(|score| {
                        let total: i64 = score
                            .signals()
                            .iter()
                            .filter(|signal| part_holds(&signal.conditions))
                            .map(|signal| i64::from(signal.weight))
                            .sum();
                        total >= i64::from(score.threshold())
                    });
                if !holds {
                    continue;
                }
                if !conditions.precedes.is_empty() {
                    waits.push(index);
                    continue;
                }
                held.push(index);
                match &rule.action {
                    ElementAction::Remove => {
                        removed = true;
                        remove_hit.get_or_insert(index);
                    }
                    ElementAction::Tag(rule_tags) => {
                        tags.extend(rule_tags.iter().map(|t| t.to_string()));
                        tag_hits.push(index);
                    }
                }
            }
        }
        if !removed && !waits.is_empty() {
            self.waiting.push((offset, waits, None));
        }
        if removed {
            self.outcomes.insert((offset, false), Outcome::Removed);
        } else if !tags.is_empty() {
            self.outcomes.insert((offset, false), Outcome::Tagged(tags.into_iter().collect()));
        }
        if let Some(href) = link_href(el.value()) {
            if let Some(cleaned) = self.rules.links.inspect(href, self.site).cleaned {
                self.outcomes.insert((offset, true), Outcome::Link(cleaned.url));
            }
        }
        let hits = match remove_hit {
            Some(index) => vec![index],
            None => tag_hits,
        };
        (hits, length, held)
    }
}

/// How many elements below `node` a verdict removed, counting those that hold no removed element (a removed
/// element with removed elements inside counts as those).
fn removed_inside(node: NodeRef<'_, Node>, infos: &HashMap<NodeId, Info>, outcomes: &Outcomes) -> u32 {
    let mut count = 0;
    for child in node.children() {
        let Some(info) = infos.get(&child.id()).filter(|info| !info.gone) else {
            continue;
        };
        let inside = removed_inside(child, infos, outcomes);
        let removed = info.offset.is_some_and(|at| outcomes.get(&(at, false)) == Some(&Outcome::Removed));
        count += if removed && inside == 0 { 1 } else { inside };
    }
    count
}

/// `innermost`: rule `index` held on some element inside, and this element (of `length` characters) has more text
/// than each of them, beyond the slack.
fn holds_more_than_its_hits(inside: &[(usize, usize)], index: usize, length: usize, slack: usize) -> bool {
    let mut hits = inside.iter().filter(|(hit, _)| *hit == index).peekable();
    hits.peek().is_some() && hits.all(|&(_, hit_length)| length > hit_length + slack)
}

/// The text of the page minus what is removed (unconditionally or by a verdict).
fn visible_text(
    node: NodeRef<'_, Node>,
    infos: &HashMap<NodeId, Info>,
    outcomes: &Outcomes,
    text: &mut String,
) {
    for child in node.children() {
        match child.value() {
            Node::Text(t) => text.push_str(t),
            Node::Element(_) => {
                let info = infos.get(&child.id());
                let removed = info.is_some_and(|i| {
                    i.removed
                        || i.offset.is_some_and(|o| outcomes.get(&(o, false)) == Some(&Outcome::Removed))
                });
                if !removed {
                    visible_text(child, infos, outcomes, text);
                }
            }
            Node::Fragment => visible_text(child, infos, outcomes, text),
            _ => {}
        }
    }
}

/// The text of `html` (a rewritten page) parsed as a browser would, whitespace collapsed.
pub fn page_text(html: &str) -> String {
    let parsed = Html::parse_document(html);
    let mut text = String::new();
    visible_text(parsed.tree.root(), &HashMap::new(), &Outcomes::new(), &mut text);
    collapse(&text)
}
