//! One pass over a text for every regex test of a rule set.
//!
//! A candidate element is tested by many rules (a paragraph by every pitch and label rule), most of them with a
//! regex. Scanning the text once per regex made those scans the engine's largest cost. The patterns of one text
//! scope (own text, or all the text) are compiled together into one lazy DFA (regex-automata's hybrid DFA) that
//! reports every pattern matching anywhere in the text (`MatchKind::All`), so a text is read once whatever the
//! number of rules. The DFA's states are built as texts need them and kept in caches that outlive responses
//! (one per concurrent scan, pooled), so a warm proxy mostly follows transitions it built before.
//!
//! The DFA gives up on some inputs (a Unicode `\b` next to non-ASCII text, a cache that keeps overflowing), and
//! a set of patterns may be too large to compile together; the caller then matches each rule's own regex
//! ([`super::TextRegex::is_match`]), with the same result.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind, PatternSet};

use super::{Conditions, ElementRule, TextTest};

/// Most memory one DFA cache may use for the states it has built. The shipped rules' own-text patterns, all in
/// one DFA, settle at a few MB on one news site but grow to over 32 MB over the 62 corpus pages (many languages
/// and scripts); a cache that fills is cleared and rebuilt as texts need it, and a cap below what the corpus
/// needs makes that happen again and again: with 32 MiB the corpus took 2.6 times as long (427 ms against 165 ms
/// a pass; with 8 MiB and the smaller rules of session 6, 508 against 177). Peak RSS over the corpus grew by only
/// 3 MB from 32 to 64 MiB: the cap bounds a cache, it does not reserve it. There is one cache per concurrent scan
/// (scans are short and synchronous: about one per core), not one per response.
const CACHE_CAPACITY: usize = 64 * 1024 * 1024;

/// Most idle caches kept for later scans (more concurrent scans make their own).
const POOLED_CACHES: usize = 4;

/// The regex tests of one text scope of a rule set, compiled together.
#[derive(Debug, Default)]
pub struct TextMatcher {
    /// `None` when there are no patterns or they do not compile together.
    dfa: Option<DFA>,
    /// Per rule index, per part of its conditions ([`Conditions::parts`]): the pattern id of the part's regex in
    /// this scope.
    pattern_of_rule: Vec<Vec<Option<usize>>>,
    idle: Mutex<Vec<Cache>>,
}

/// Which patterns a text matched.
#[derive(Debug)]
pub struct TextMatches(PatternSet);

impl TextMatches {
    /// Whether the regex of part `part` ([`Conditions::parts`]) of rule `rule` matched (`None`: it has no regex
    /// in this matcher).
    pub fn rule_matched(&self, matcher: &TextMatcher, rule: usize, part: usize) -> Option<bool> {
        let pattern = matcher.pattern_of_rule.get(rule)?.get(part).copied().flatten()?;
        let id = regex_automata::PatternID::new(pattern).ok()?;
        Some(self.0.contains(id))
    }
}

impl TextMatcher {
    /// Compiles the regex tests that `tests` picks from each conditional rule of `rules` (own text or all text).
    pub fn new(rules: &[ElementRule], tests: fn(&Conditions) -> &[TextTest]) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        // A pattern written in several rules or signals (a price, a call to action) is compiled once.
        let mut id_of_pattern: HashMap<String, usize> = HashMap::new();
        let mut pattern_of_rule = Vec::with_capacity(rules.len());
        for rule in rules {
            let parts = rule.when.iter().flat_map(Conditions::parts);
            let pattern_of_part = parts
                .map(|part| {
                    let pattern = super::regex_test(tests(part))?.flagged_pattern();
                    let id = *id_of_pattern.entry(pattern).or_insert_with_key(|pattern| {
                        patterns.push(pattern.clone());
                        patterns.len() - 1
                    });
                    Some(id)
                })
                .collect();
            pattern_of_rule.push(pattern_of_part);
        }
        if patterns.is_empty() {
            return Self::default();
        }
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_CAPACITY)
                    .minimum_cache_clear_count(Some(3))
                    .unicode_word_boundary(true),
            )
            .build_many(&patterns)
            .ok();
        if dfa.is_none() {
            tracing::debug!(
                patterns = patterns.len(),
                "text patterns do not compile into one DFA; each runs alone"
            );
        }
        Self { dfa, pattern_of_rule, idle: Mutex::default() }
    }

    /// An empty result to scan into (reusable from text to text).
    pub fn matches(&self) -> TextMatches {
        TextMatches(PatternSet::new(self.dfa.as_ref().map_or(0, DFA::pattern_len)))
    }

    /// Scans `text` once into `matches` (made by [`TextMatcher::matches`]); false when the DFA gave up or there
    /// is none (match each rule's regex instead).
    pub fn scan(&self, text: &str, matches: &mut TextMatches) -> bool {
        matches.0.clear();
        let Some(dfa) = self.dfa.as_ref() else {
            return false;
        };
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut cache = pooled.unwrap_or_else(|| dfa.create_cache());
        let scanned = scan_with(dfa, &mut cache, text, &mut matches.0).is_some();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < POOLED_CACHES {
            idle.push(cache);
        }
        scanned
    }
}

/// Feeds `text` through the DFA, collecting the patterns of every match state passed; `None` when it gave up.
fn scan_with(dfa: &DFA, cache: &mut Cache, text: &str, matched: &mut PatternSet) -> Option<()> {
    let mut state = dfa.start_state(cache, &start::Config::new().anchored(Anchored::No)).ok()?;
    for &byte in text.as_bytes() {
        state = dfa.next_state(cache, state, byte).ok()?;
        if state.is_tagged() {
            if state.is_match() {
                collect(dfa, cache, state, matched);
            } else if state.is_dead() {
                return Some(());
            } else if state.is_quit() || state.is_unknown() {
                return None;
            }
        }
    }
    let end = dfa.next_eoi_state(cache, state).ok()?;
    if end.is_match() {
        collect(dfa, cache, end, matched);
    } else if end.is_quit() || end.is_unknown() {
        return None;
    }
    Some(())
}

fn collect(dfa: &DFA, cache: &Cache, state: regex_automata::hybrid::LazyStateID, matched: &mut PatternSet) {
    for index in 0..dfa.match_len(cache, state) {
        matched.insert(dfa.match_pattern(cache, state, index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::TextRegex;

    fn matcher(patterns: &[(&str, bool)]) -> (TextMatcher, Vec<TextRegex>) {
        let regexes: Vec<TextRegex> = patterns
            .iter()
            .map(|(p, ci)| TextRegex::new(p, *ci).unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect();
        let rules: Vec<ElementRule> =
            regexes.iter().enumerate().map(|(i, regex)| test_rule(&format!("r{i}"), regex.clone())).collect();
        (TextMatcher::new(&rules, |c| &c.text), regexes)
    }

    fn test_rule(id: &str, regex: TextRegex) -> ElementRule {
        let selector = "p".parse().unwrap_or_else(|e| panic!("p parses: {e:?}"));
        ElementRule {
            id: crate::rules::RuleId::new(id),
            origin: crate::rules::RuleOrigin { file: "test.toml".into(), line: 1 },
            selector_text: "p".to_owned(),
            selector,
            action: crate::rules::ElementAction::Remove,
            when: Some(Conditions { text: vec![TextTest::Matches(regex)], ..Conditions::default() }),
            scope: crate::rules::SiteScope::default(),
        }
    }

    #[test]
    fn one_scan_agrees_with_each_regex() {
        let patterns = [
            (r"^[^\s.!?:;](?:[^.!?:;]|\.\S){0,79}?\s[–—-]\s+[\p{Lu}\p{N}]", false),
            (r"commission", true),
            (r"^related\s*:", true),
            (r"\d+ € (?:at|chez) \p{Lu}", false),
            (r"shop now$", true),
        ];
        let (matcher, regexes) = matcher(&patterns);
        let texts = [
            "Hand Warmers – Stay warm",
            "Amazon – which reported",
            "We may earn a COMMISSION",
            "Related: the talks",
            "Not related: the talks",
            "Gants, 19 € chez Décathlon",
            "Best kettle. Shop now",
            "Shop now and save",
            "été café",
            "",
        ];
        let mut matches = matcher.matches();
        for text in texts {
            assert!(matcher.scan(text, &mut matches), "gave up on {text:?}");
            for (rule, regex) in regexes.iter().enumerate() {
                assert_eq!(
                    matches.rule_matched(&matcher, rule, 0),
                    Some(regex.is_match(text)),
                    "{} on {text:?}",
                    regex.as_str()
                );
            }
        }
    }

    #[test]
    fn a_unicode_word_boundary_gives_up_on_non_ascii_text() {
        let (matcher, regexes) = matcher(&[(r"\bcafé\b", false)]);
        let mut matches = matcher.matches();
        assert!(matcher.scan("plain ascii cafe", &mut matches));
        assert!(!matcher.scan("un café noir", &mut matches), "the caller falls back to the regex");
        assert!(regexes[0].is_match("un café noir"));
    }
}
