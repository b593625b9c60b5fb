//! Rule files → an immutable, compiled [`RuleSet`].
//!
//! This module owns the compiled model that the engine and the proxy read. It knows nothing about sockets,
//! bodies or async runtimes. Loading and compiling live in [`compile`]; the serde mirror of the TOML in [`raw`].

pub mod compile;
mod element;
pub mod error;
pub mod hosts;
mod kinds;
pub mod links;
pub mod lists;
mod patterns;
pub mod raw;
mod selector;
mod source;
mod start_tags;
mod text_matcher;
mod text_regex;
mod values;

use std::sync::{Arc, OnceLock};

pub use compile::{check_dir, load_dir, CheckReport};
pub use error::{RuleError, RuleWarning};
pub use hosts::{HostPattern, HostSet, SiteScope};
pub use links::{CleanedLink, InspectedLink, LinkRules, StripRule, UnwrapRule, UnwrapTarget};
pub use start_tags::{IndexedRule, StartTagIndex};
pub use text_matcher::{TextMatcher, TextMatches};
pub use text_regex::TextRegex;

/// The name of a rule, unique across all rule files of a set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub Arc<str>);

impl RuleId {
    /// Wraps a rule name.
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    /// The rule name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a rule was written: file name (relative to the rules directory) and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOrigin {
    /// File name relative to the rules directory, e.g. `promos.toml`.
    pub file: Arc<str>,
    /// 1-based line of the rule's table header.
    pub line: usize,
}

/// A compiled, immutable set of rules. Cheap to share behind an `Arc`; never mutated after compilation.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Element rules (`remove`, `tag`) in file order (files sorted by name, rules in the order written).
    pub element_rules: Vec<ElementRule>,
    /// Link cleaning: parameter stripping and redirect unwrapping.
    pub links: LinkRules,
    /// Host rules: block, pass-through (no MITM) and no-rewrite exemptions.
    pub hosts: HostRules,
    /// CSS to inject once into `<head>` for tags that carry a style.
    pub styles: Vec<TagStyle>,
    /// What each file contributed, for reload diffs and the status page.
    pub files: Vec<FileSummary>,
    /// Adblock-syntax filter lists from `filters/*.txt` (network rules, hiding stylesheet, reports); their
    /// `$removeparam` rules are in `links`, their stream rules in `element_rules`.
    pub filters: Option<Arc<crate::filters::FilterLists>>,
    /// What the engine looks rules up by, built from `element_rules` on first use (a rule set is never mutated,
    /// so it stays true). Leave it to `Default` when building a set, or share the index of a set whose
    /// `element_rules` this one's start with.
    pub index: OnceLock<Arc<RuleIndex>>,
}

/// The element rules as the engine looks them up.
#[derive(Debug)]
pub struct RuleIndex {
    /// Content-conditional rules with simple selectors, by tag name.
    pub start_tags: StartTagIndex,
    /// The regexes of `own_text_matches`, compiled together.
    pub own_text: TextMatcher,
    /// The regexes of `text_matches`, compiled together.
    pub whole_text: TextMatcher,
    /// Per rule index: what deciding it reads, over all the parts of its conditions.
    pub reads: Vec<Reads>,
}

/// What deciding a rule reads of a candidate, over all the parts of its conditions ([`Conditions::parts`]),
/// worked out once so that the engine need not walk the parts at every element, link and text.
#[derive(Debug, Default)]
pub struct Reads {
    /// Some part tests the own text.
    pub own_text: bool,
    /// Some part tests all the text.
    pub whole_text: bool,
    /// The parts with `links_to` (bit `i` for part `i`).
    pub links_to: u64,
    /// Some part asks whether a link leads elsewhere.
    pub links_elsewhere: bool,
    /// Some part asks whether a link leads to the site.
    pub links_on_site: bool,
    /// Some part counts links or link text ([`Conditions::reads_link_facts`]).
    pub link_facts: bool,
    /// The tag names its parts look for inside a candidate (`holds`, `holds_none`).
    pub held_names: Vec<HeldName>,
}

/// A tag name that parts of a rule's conditions ([`Conditions::parts`]) look for inside a candidate: bit `i`
/// set for part `i`.
#[derive(Debug)]
pub struct HeldName {
    /// The tag name, lower case.
    pub name: Box<str>,
    /// The parts whose `holds` names it.
    pub holds: u64,
    /// The parts whose `holds_none` names it.
    pub holds_none: u64,
}

impl RuleIndex {
    /// Indexes `rules`.
    pub fn new(rules: &[ElementRule]) -> Self {
        Self {
            start_tags: StartTagIndex::new(rules),
            own_text: TextMatcher::new(rules, |conditions| &conditions.text),
            whole_text: TextMatcher::new(rules, |conditions| &conditions.whole_text),
            reads: rules.iter().map(Reads::of).collect(),
        }
    }
}

impl Reads {
    /// What deciding `rule` reads.
    fn of(rule: &ElementRule) -> Self {
        let mut reads = Reads::default();
        for (part, conditions) in rule.when.iter().flat_map(Conditions::parts).enumerate() {
            let bit = 1u64 << part;
            reads.own_text |= !conditions.text.is_empty();
            reads.whole_text |= !conditions.whole_text.is_empty();
            if conditions.links_to.is_some() {
                reads.links_to |= bit;
            }
            reads.links_elsewhere |= conditions.links_elsewhere;
            reads.links_on_site |= conditions.links_on_site;
            reads.link_facts |= conditions.reads_link_facts();
            for name in &conditions.holds {
                reads.held_name(name).holds |= bit;
            }
            for name in &conditions.holds_none {
                reads.held_name(name).holds_none |= bit;
            }
        }
        reads
    }

    /// The entry of tag name `name` in `held_names`, added when missing.
    fn held_name(&mut self, name: &str) -> &mut HeldName {
        let index = match self.held_names.iter().position(|held| *held.name == *name) {
            Some(index) => index,
            None => {
                self.held_names.push(HeldName { name: name.into(), holds: 0, holds_none: 0 });
                self.held_names.len() - 1
            }
        };
        &mut self.held_names[index]
    }
}

/// The rule ids one rule file contributed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// File name relative to the rules directory.
    pub file: String,
    /// Ids of every rule defined in the file, in order.
    pub rule_ids: Vec<RuleId>,
}

/// A rule that removes or tags HTML elements.
#[derive(Clone, Debug)]
pub struct ElementRule {
    /// Unique rule id.
    pub id: RuleId,
    /// Where the rule was written.
    pub origin: RuleOrigin,
    /// The CSS selector as matched (lol_html's subset), with an `inside` condition folded in as an ancestor.
    pub selector_text: String,
    /// The selector, parsed once at load time.
    pub selector: lol_html::Selector,
    /// What to do with a matching element.
    pub action: ElementAction,
    /// Content conditions decided at the element's end; `None` means the rule acts at the start tag.
    pub when: Option<Conditions>,
    /// Sites the rule applies to.
    pub scope: SiteScope,
}

/// What an element rule does to a matching element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementAction {
    /// Drop the element and everything in it.
    Remove,
    /// Add these tags to `data-strainer-tag` (space-separated, no duplicates).
    Tag(Vec<Arc<str>>),
}

/// Content conditions of an element rule. All present conditions must hold for the rule to act.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// Tests on the element's *own* visible text: the text not inside a nested candidate element, entities
    /// decoded, whitespace collapsed and trimmed. Every test must hold.
    pub text: Vec<TextTest>,
    /// Tests on *all* the visible text inside the element (nested candidates included), prepared like the own
    /// text. Every test must hold. A regex reads what is left once the candidates removed inside are gone.
    pub whole_text: Vec<TextTest>,
    /// The element is the first element to start after an element that one of these rules hit (removed or
    /// tagged) ended, with no visible text in between; decided at the start tag.
    pub follows: Vec<RuleId>,
    /// The first candidate to start after the element ended, with no visible text in between and before any
    /// candidate around the element ends, is hit by one of these rules (decided once that candidate is; only
    /// for tag rules, never with `innermost`).
    pub precedes: Vec<RuleId>,
    /// Some descendant link leads to a host other than the page's site (as written or once unwrapped; a
    /// relative link is on the site; `www.` and subdomains of the site count as the site).
    pub links_elsewhere: bool,
    /// Some descendant link leads to the page's own site (a relative link does; `www.` and subdomains count).
    pub links_on_site: bool,
    /// Some element inside (a start tag in the page, not one a parser would make up) has one of these tag
    /// names, lower-case ASCII; empty: no such test.
    pub holds: Vec<Box<str>>,
    /// No element inside (a start tag in the page) has any of these tag names, lower-case ASCII; empty: no such
    /// test.
    pub holds_none: Vec<Box<str>>,
    /// At least this many elements inside were removed by a verdict, counting the innermost ones: an element
    /// removed with removed elements inside stands for them, not for one more.
    pub min_removed_inside: Option<u32>,
    /// At least this many links (`a[href]`) inside lead to pages of the page's own site: a relative link or one
    /// whose host (as written or once unwrapped) is the site's; a link to a `#fragment` of the page itself, an
    /// empty `href` and other schemes than `http(s)` (`mailto:`, `javascript:`) lead to no page.
    pub min_links_on_site: Option<u32>,
    /// At least this many thousandths of the visible characters inside (whitespace aside, nested candidates
    /// included) are inside links (`a[href]`); never holds on an element without visible text.
    pub min_link_text_share: Option<u32>,
    /// The links (`a[href]`) with text inside hold on average at least this many visible characters (whitespace
    /// aside): headlines rather than menu items (image links, which hold no text, are left out); never holds on
    /// an element without such links.
    pub min_average_link_text: Option<u32>,
    /// Minimum length in characters of all visible text inside the element (descendants included).
    pub min_text_len: Option<usize>,
    /// Maximum length in characters of all visible text inside the element (descendants included).
    pub max_text_len: Option<usize>,
    /// Some descendant link (`a[href]`, `area[href]`) has a host in this set, either as written or once redirect
    /// wrappers are unwrapped (so a set of affiliate networks matches a wrapped link, a set of shops its target).
    pub links_to: Option<HostSet>,
    /// Tested on the start tag: the `class` attribute matches this regex.
    pub class_matches: Option<regex::Regex>,
    /// Tested on the start tag: the `id` attribute matches this regex.
    pub id_matches: Option<regex::Regex>,
    /// The rule does not hold on an element that holds an element it held on (whichever rule's verdict was taken
    /// there) and more text than that one (more than `slack` characters more): of nested boxes that all open
    /// with the same label, only the innermost is taken, with the wrappers that add nothing to it but a short
    /// label, an icon or a bullet. `Some(slack)` when on ([`INNERMOST_SLACK`] unless the rule gives a number).
    pub innermost: Option<usize>,
    /// Weighted signals that must add up to a threshold, besides every condition above (`score`).
    pub score: Option<Score>,
}

/// A rule's `score`: the rule holds only where the weights of the signals that hold there add up to at least
/// `threshold`. Signals are decided on the closed element, like the content conditions.
#[derive(Clone, Debug)]
pub struct Score {
    /// The least total weight.
    threshold: i32,
    /// The signals, at most [`MAX_SIGNALS`]; their conditions never have a score, `follows`, `class_matches`,
    /// `id_matches` or `innermost` of their own.
    signals: Vec<Signal>,
    /// Signal indexes, heaviest first (positive weights, then negative ones): the order [`Score::reached`]
    /// tries them in, so that the outcome is known as early as possible.
    by_weight: Vec<usize>,
    /// The sum of the positive weights: the highest total the signals can reach.
    gains: i64,
    /// The sum of the negative weights: the lowest total.
    losses: i64,
}

/// One weighted signal of a [`Score`]: its weight counts where all its conditions hold.
#[derive(Clone, Debug)]
pub struct Signal {
    /// What it adds to the total (negative: evidence against).
    pub weight: i32,
    /// Its `name`, or `signal N` (counting from 1), for explanations.
    pub name: Box<str>,
    /// When it holds.
    pub conditions: Conditions,
}

/// Most signals one score may have (the engine keeps a bit per signal).
pub const MAX_SIGNALS: usize = 32;

impl Score {
    /// A score of `signals` (at most [`MAX_SIGNALS`]) against `threshold`.
    pub fn new(threshold: i32, signals: Vec<Signal>) -> Self {
        let mut by_weight: Vec<usize> = (0..signals.len()).collect();
        by_weight.sort_by_key(|&index| std::cmp::Reverse(signals[index].weight));
        let sum = |positive: bool| -> i64 {
            signals.iter().map(|s| i64::from(s.weight)).filter(|w| (*w > 0) == positive).sum()
        };
        let (gains, losses) = (sum(true), sum(false));
        Self { threshold, signals, by_weight, gains, losses }
    }

    /// The highest total the signals can reach (all positive weights).
    pub fn highest_total(&self) -> i64 {
        self.gains
    }

    /// The lowest total the signals can reach (all negative weights).
    pub fn lowest_total(&self) -> i64 {
        self.losses
    }

    /// The least total weight.
    pub fn threshold(&self) -> i32 {
        self.threshold
    }

    /// The signals, in the order written.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Whether the signals for which `holds(index, conditions)` is true reach the threshold. Signals are tried
    /// heaviest first and no further once the outcome cannot change; `exhaustive` tries every one (to account
    /// for all the signals that hold).
    pub fn reached(&self, exhaustive: bool, mut holds: impl FnMut(usize, &Conditions) -> bool) -> bool {
        let threshold = i64::from(self.threshold);
        let weight = |index: usize| i64::from(self.signals[index].weight);
        let (mut gains_left, mut losses_left) = (self.gains, self.losses);
        let mut total = 0;
        for &index in &self.by_weight {
            if !exhaustive && (total + gains_left < threshold || total + losses_left >= threshold) {
                break;
            }
            let signal_weight = weight(index);
            if signal_weight > 0 {
                gains_left -= signal_weight;
            } else {
                losses_left -= signal_weight;
            }
            if holds(index, &self.signals[index].conditions) {
                total += signal_weight;
            }
        }
        total >= threshold
    }
}

/// How many characters of text an element may hold beyond an element inside it that an `innermost` rule held
/// on and still be hit by that rule itself: a label or heading of a few words ("Paid partnership", "Our coverage
/// of the rate squeeze"), an icon, a bullet.
pub const INNERMOST_SLACK: usize = 24;

impl Conditions {
    /// Whether deciding needs more than the start tag (text, length, links or what came before); `false` when
    /// only `class_matches` / `id_matches` are given.
    pub fn needs_content(&self) -> bool {
        !self.text.is_empty()
            || !self.whole_text.is_empty()
            || !self.follows.is_empty()
            || !self.precedes.is_empty()
            || !self.holds.is_empty()
            || !self.holds_none.is_empty()
            || self.min_removed_inside.is_some()
            || self.min_text_len.is_some()
            || self.max_text_len.is_some()
            || self.reads_links()
            || self.score.is_some()
    }

    /// Whether deciding reads the links inside the element (for these conditions or a signal of their score).
    pub fn reads_links(&self) -> bool {
        self.parts().any(|part| {
            part.links_to.is_some() || part.links_elsewhere || part.links_on_site || part.reads_link_facts()
        })
    }

    /// Whether these conditions (not their signals) count links or link text ([`Conditions::min_links_on_site`],
    /// [`Conditions::min_link_text_share`], [`Conditions::min_average_link_text`]).
    pub fn reads_link_facts(&self) -> bool {
        self.min_links_on_site.is_some()
            || self.min_link_text_share.is_some()
            || self.min_average_link_text.is_some()
    }

    /// These conditions, then those of each signal of their score, in order: part 0 is the rule's own, part
    /// `1 + i` signal `i`.
    pub fn parts(&self) -> impl Iterator<Item = &Conditions> {
        let signals = self.score.iter().flat_map(|score| &score.signals);
        std::iter::once(self).chain(signals.map(|signal| &signal.conditions))
    }
}

/// One test on an element's own text.
#[derive(Clone, Debug)]
pub enum TextTest {
    /// The text starts with one of these strings (already lower-cased when `case_insensitive`).
    StartsWith {
        /// Candidate prefixes.
        any_of: Vec<String>,
        /// Compare ignoring case.
        case_insensitive: bool,
    },
    /// The text contains one of these strings (already lower-cased when `case_insensitive`).
    Contains {
        /// Candidate substrings.
        any_of: Vec<String>,
        /// Compare ignoring case.
        case_insensitive: bool,
    },
    /// The text matches this regex (ignoring case when the rule asked for it); tested on the complete text, in
    /// one pass for every rule ([`TextMatcher`]).
    Matches(TextRegex),
}

/// The regex test among `tests` (a rule has at most one per text).
pub fn regex_test(tests: &[TextTest]) -> Option<&TextRegex> {
    tests.iter().find_map(|test| match test {
        TextTest::Matches(regex) => Some(regex),
        _ => None,
    })
}

/// Host rules: what happens to a request before any body is seen.
#[derive(Clone, Debug, Default)]
pub struct HostRules {
    /// Hosts answered at once with a block response.
    pub block: Vec<HostRule>,
    /// Hosts exempt from something (MITM or rewriting).
    pub pass: Vec<PassRule>,
}

/// A rule naming a set of hosts.
#[derive(Clone, Debug)]
pub struct HostRule {
    /// Unique rule id.
    pub id: RuleId,
    /// The hosts it names.
    pub hosts: HostSet,
    /// Hosts it leaves alone although `hosts` names them (`except_hosts`).
    pub except: HostSet,
}

impl HostRule {
    /// Does the rule name `host` (and not exempt it)?
    pub fn covers(&self, host: &str) -> bool {
        self.hosts.matches(host) && !self.except.matches(host)
    }
}

/// A pass rule: hosts exempt from MITM (blind tunnel) or from rewriting.
#[derive(Clone, Debug)]
pub struct PassRule {
    /// Unique rule id.
    pub id: RuleId,
    /// The hosts it names.
    pub hosts: HostSet,
    /// What the hosts are exempt from.
    pub exempt_from: PassKind,
}

/// What a pass rule exempts a host from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassKind {
    /// No man-in-the-middle: HTTPS is tunnelled blind (and so not rewritten either).
    Mitm,
    /// Traffic is proxied but bodies are never rewritten.
    Rewrite,
}

/// The decision host rules make for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostDecision {
    /// Answer at once with a block response.
    Block(RuleId),
    /// Tunnel HTTPS blind, never rewrite.
    Tunnel(RuleId),
    /// Proxy, but never rewrite bodies.
    NoRewrite(RuleId),
    /// Proxy and rewrite normally.
    Normal,
}

/// CSS injected once into `<head>` for pages that carry a given tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagStyle {
    /// The tag the style is for.
    pub tag: Arc<str>,
    /// The CSS text.
    pub css: String,
}

// === impl RuleSet ===

impl RuleSet {
    /// The host-rule decision for `host`. Precedence: block, then pass-through (no MITM), then no-rewrite.
    pub fn host_decision(&self, host: &str) -> HostDecision {
        if let Some(rule) = self.hosts.block.iter().find(|r| r.covers(host)) {
            return HostDecision::Block(rule.id.clone());
        }
        let pass = |kind| self.hosts.pass.iter().find(|r| r.exempt_from == kind && r.hosts.matches(host));
        if let Some(rule) = pass(PassKind::Mitm) {
            return HostDecision::Tunnel(rule.id.clone());
        }
        if let Some(rule) = pass(PassKind::Rewrite) {
            return HostDecision::NoRewrite(rule.id.clone());
        }
        HostDecision::Normal
    }

    /// The rule set's index (built on first use).
    pub fn index(&self) -> &Arc<RuleIndex> {
        self.index.get_or_init(|| Arc::new(RuleIndex::new(&self.element_rules)))
    }

    /// Total number of rules of every kind.
    pub fn rule_count(&self) -> usize {
        self.files.iter().map(|f| f.rule_ids.len()).sum()
    }
}
