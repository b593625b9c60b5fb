//! Rule sets built in code for engine tests and benchmarks (the TOML compiler is tested on its own), and
//! helpers that run the engine over an input split into chunks.
// Each test crate uses part of the helpers; a broken test input panics, which fails the test.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;

use strainer::rewrite::{RewriteOptions, RewriteReport, Rewriter};
use strainer::rules::{
    Conditions, ElementAction, ElementRule, HostPattern, HostSet, RuleId, RuleOrigin, RuleSet, SiteScope,
    TagStyle, TextTest,
};

/// An element rule with the given action and optional conditions, applying on every site.
pub fn rule(id: &str, selector: &str, action: ElementAction, when: Option<Conditions>) -> ElementRule {
    ElementRule {
        id: RuleId::new(id),
        origin: RuleOrigin { file: Arc::from("test.toml"), line: 1 },
        selector_text: selector.to_owned(),
        selector: selector.parse().expect("test selector parses"),
        action,
        when,
        scope: SiteScope::default(),
    }
}

/// `[[remove]]` without conditions.
pub fn remove(id: &str, selector: &str) -> ElementRule {
    rule(id, selector, ElementAction::Remove, None)
}

/// `[[remove]]` with conditions.
pub fn remove_when(id: &str, selector: &str, when: Conditions) -> ElementRule {
    rule(id, selector, ElementAction::Remove, Some(when))
}

/// `[[tag]]` without conditions.
pub fn tag(id: &str, selector: &str, tags: &[&str]) -> ElementRule {
    rule(id, selector, tag_action(tags), None)
}

/// `[[tag]]` with conditions.
pub fn tag_when(id: &str, selector: &str, tags: &[&str], when: Conditions) -> ElementRule {
    rule(id, selector, tag_action(tags), Some(when))
}

fn tag_action(tags: &[&str]) -> ElementAction {
    ElementAction::Tag(tags.iter().map(|t| Arc::from(*t)).collect())
}

/// A host set from patterns.
pub fn hosts(patterns: &[&str]) -> HostSet {
    HostSet::new(patterns.iter().map(|p| HostPattern::new(p).expect("test host pattern is valid")).collect())
}

/// Restricts a rule to sites.
pub fn only_on(mut rule: ElementRule, sites: &[&str]) -> ElementRule {
    rule.scope = SiteScope { include: hosts(sites), exclude: HostSet::default() };
    rule
}

/// `own_text_starts_with` (case-insensitive, as the compiler lower-cases).
pub fn starts_with(prefixes: &[&str]) -> TextTest {
    TextTest::StartsWith {
        any_of: prefixes.iter().map(|p| p.to_lowercase()).collect(),
        case_insensitive: true,
    }
}

/// `own_text_contains` (case-insensitive).
pub fn contains(needles: &[&str]) -> TextTest {
    TextTest::Contains { any_of: needles.iter().map(|p| p.to_lowercase()).collect(), case_insensitive: true }
}

/// `own_text_matches`.
pub fn matches(regex: &str) -> TextTest {
    TextTest::Matches(strainer::rules::TextRegex::new(regex, false).expect("test regex is valid"))
}

/// Conditions with only text tests.
pub fn text(tests: Vec<TextTest>) -> Conditions {
    Conditions { text: tests, ..Conditions::default() }
}

/// A rule set of element rules (and styles).
pub fn set(element_rules: Vec<ElementRule>) -> Arc<RuleSet> {
    Arc::new(RuleSet { element_rules, ..RuleSet::default() })
}

/// A rule set with tag styles.
pub fn set_with_styles(element_rules: Vec<ElementRule>, styles: &[(&str, &str)]) -> Arc<RuleSet> {
    let styles =
        styles.iter().map(|(tag, css)| TagStyle { tag: Arc::from(*tag), css: (*css).to_owned() }).collect();
    Arc::new(RuleSet { element_rules, styles, ..RuleSet::default() })
}

/// [`representative_set`] behind an `Arc`.
pub fn representative() -> Arc<RuleSet> {
    Arc::new(representative_set())
}

/// Promo-like and related-like conditional rules on `p, li, div`, as a shipped rule set would have.
pub fn representative_set() -> RuleSet {
    let shops = hosts(&["amazon.*", "amzn.to", "ebay.com", "shop.example", "go.skimresources.com"]);
    let element_rules = vec![
        remove_when(
            "promo-dash-pitch",
            "p, li",
            Conditions {
                text: vec![matches(r"^\S[^.!?]{1,80}\s[–—-]\s")],
                max_text_len: Some(320),
                links_to: Some(shops.clone()),
                ..Conditions::default()
            },
        ),
        remove_when(
            "promo-deal",
            "p, li",
            Conditions {
                text: vec![starts_with(&["Deal:", "Buy now", "Shop now", "Our pick:"])],
                max_text_len: Some(400),
                ..Conditions::default()
            },
        ),
        tag_when(
            "related-label",
            "p, li, div",
            &["related"],
            Conditions {
                text: vec![starts_with(&["Related:", "Read more:", "See also:", "Also read:", "More:"])],
                max_text_len: Some(200),
                ..Conditions::default()
            },
        ),
        tag_when(
            "related-class",
            "div, aside, section",
            &["related"],
            Conditions {
                class_matches: Some(regex::Regex::new("(?i)related").expect("valid")),
                ..Conditions::default()
            },
        ),
        remove("ads", "div.ad, aside.advert"),
    ];
    RuleSet { element_rules, ..RuleSet::default() }
}

/// Options with defaults.
pub fn options() -> RewriteOptions {
    RewriteOptions::default()
}

/// Runs the engine over `input` cut at `cuts` (sorted positions).
pub fn rewrite_at(
    rules: &Arc<RuleSet>,
    options: &RewriteOptions,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, RewriteReport) {
    let mut rewriter = Rewriter::new(Arc::clone(rules), options.clone());
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(from, input.len());
        out.extend_from_slice(&rewriter.write(&input[from..cut]));
        from = cut;
    }
    let (tail, report) = rewriter.finish();
    out.extend_from_slice(&tail);
    (out, report)
}

/// Runs the engine over `input` in one chunk.
pub fn rewrite(rules: &Arc<RuleSet>, options: &RewriteOptions, input: &[u8]) -> (Vec<u8>, RewriteReport) {
    rewrite_at(rules, options, input, &[])
}

/// Runs the engine over `input` in one chunk and returns the output as text.
pub fn rewrite_str(rules: &Arc<RuleSet>, input: &str) -> String {
    String::from_utf8(rewrite(rules, &options(), input.as_bytes()).0).expect("output is UTF-8")
}

/// Runs the engine over `input` in chunks of `size` bytes.
pub fn rewrite_in_chunks(
    rules: &Arc<RuleSet>,
    options: &RewriteOptions,
    input: &[u8],
    size: usize,
) -> Vec<u8> {
    let cuts: Vec<usize> = (size..input.len()).step_by(size.max(1)).collect();
    rewrite_at(rules, options, input, &cuts).0
}

/// A small deterministic generator (xorshift) for seeded random chunkings.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next value below `bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }

    /// `count` sorted random cut positions in `0..len`.
    pub fn cuts(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = (0..count).map(|_| self.below(len.max(1))).collect();
        cuts.sort_unstable();
        cuts
    }
}
