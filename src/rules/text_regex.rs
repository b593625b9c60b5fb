//! `own_text_matches` regexes, matchable while the text still arrives.
//!
//! Besides the [`regex::Regex`] used on a complete text, each pattern gets a lazy DFA (regex-automata's hybrid
//! DFA) that the engine feeds byte by byte as an element's own text grows. As soon as the DFA reaches a match
//! state the test holds whatever follows; a dead state (typical for `^…` patterns once the start is wrong) means
//! it fails whatever follows. Either way the element is decided early instead of being held to its end tag.
//! The DFA gives up on some inputs (a Unicode `\b` next to non-ASCII text, a cache that keeps overflowing); the
//! scan then reports [`Scan::GaveUp`] and the caller matches the complete text with the regex instead. Several
//! scans share one cache (one per regex and response); a state remembered by one scan is only valid until the
//! cache is cleared, so each open scan remembers the cache's clear count and gives up if it changed.

use std::sync::{Arc, Mutex, PoisonError};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::util::{start, syntax};
use regex_automata::Anchored;

/// Most memory one lazy DFA cache may use for the states it has built. The shipped rules' larger patterns (many
/// languages, case-insensitive Unicode) cleared 256 KiB caches often enough that scans gave up and fell back to
/// whole-text matching: 15.8 M instructions per article then, 11.1 M with 512 KiB (callgrind, bench article).
const CACHE_CAPACITY: usize = 512 * 1024;

/// Most idle caches kept per regex for later responses (more concurrent responses make their own).
const POOLED_CACHES: usize = 8;

/// A compiled `own_text_matches` test.
#[derive(Clone, Debug)]
pub struct TextRegex {
    regex: regex::Regex,
    /// `None` when the pattern cannot be run as a lazy DFA (the regex alone then decides at the end). Boxed:
    /// the DFA is large and rule conditions hold many tests.
    dfa: Option<Box<DFA>>,
    /// Caches of finished responses: a response starts with the states earlier ones built.
    idle: Arc<Mutex<Vec<Cache>>>,
}

/// Where a scan of growing text stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// More text may still make it match.
    Open(OpenScan),
    /// It matches, whatever text follows.
    Matched,
    /// It cannot match, whatever text follows.
    Dead,
    /// The DFA gave up: match the complete text with [`TextRegex::is_match`].
    GaveUp,
}

/// The DFA state of an open scan, valid while its cache has not been cleared since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenScan {
    state: LazyStateID,
    /// The cache's clear count when `state` was obtained.
    clears: usize,
}

/// The scratch memory of one [`TextRegex`]'s DFA for one response; goes back to the regex's pool when dropped
/// (unless it was ever cleared: a cache near its limit would soon give up on every scan).
#[derive(Debug)]
pub struct ScanCache {
    /// Always `Some` until dropped.
    cache: Option<Cache>,
    idle: Arc<Mutex<Vec<Cache>>>,
}

impl Drop for ScanCache {
    fn drop(&mut self) {
        let Some(cache) = self.cache.take().filter(|cache| cache.clear_count() == 0) else {
            return;
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < POOLED_CACHES {
            idle.push(cache);
        }
    }
}

impl TextRegex {
    /// Compiles `pattern` (Unicode, like [`regex::Regex`]), ignoring case when asked.
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Self, regex::Error> {
        Self::with_cache_capacity(pattern, case_insensitive, CACHE_CAPACITY)
    }

    /// [`TextRegex::new`] with a given DFA cache capacity (tests use small ones to force cache clears).
    fn with_cache_capacity(
        pattern: &str,
        case_insensitive: bool,
        capacity: usize,
    ) -> Result<Self, regex::Error> {
        let regex = regex::RegexBuilder::new(pattern).case_insensitive(case_insensitive).build()?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .cache_capacity(capacity)
                    .minimum_cache_clear_count(Some(3))
                    .unicode_word_boundary(true),
            )
            .syntax(syntax::Config::new().case_insensitive(case_insensitive))
            .build(pattern)
            .ok()
            .map(Box::new);
        Ok(Self { regex, dfa, idle: Arc::default() })
    }

    /// Does `text` (complete) match?
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// Scratch memory for scans of this regex, or `None` when it has no DFA (scans then give up at once).
    pub fn scan_cache(&self) -> Option<ScanCache> {
        let dfa = self.dfa.as_ref()?;
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let cache = pooled.unwrap_or_else(|| dfa.create_cache());
        Some(ScanCache { cache: Some(cache), idle: Arc::clone(&self.idle) })
    }

    /// Starts a scan at the beginning of a text.
    pub fn scan_start(&self, cache: &mut ScanCache) -> Scan {
        let (Some(dfa), Some(cache)) = (&self.dfa, cache.cache.as_mut()) else {
            return Scan::GaveUp;
        };
        let config = start::Config::new().anchored(Anchored::No);
        match dfa.start_state(cache, &config) {
            Ok(state) => classify(state, cache.clear_count()),
            Err(_) => Scan::GaveUp,
        }
    }

    /// Feeds the next bytes of the text.
    pub fn scan_feed(&self, cache: &mut ScanCache, scan: Scan, bytes: &[u8]) -> Scan {
        let (Some(dfa), Some(cache), Scan::Open(open)) = (&self.dfa, cache.cache.as_mut(), scan) else {
            return scan;
        };
        if open.clears != cache.clear_count() {
            return Scan::GaveUp;
        }
        let mut state = open.state;
        for &byte in bytes {
            // A clear inside `next_state` keeps the state it returns valid.
            state = match dfa.next_state(cache, state, byte) {
                Ok(next) => next,
                Err(_) => return Scan::GaveUp,
            };
            if state.is_tagged() {
                match classify(state, cache.clear_count()) {
                    Scan::Open(_) => {}
                    decided => return decided,
                }
            }
        }
        Scan::Open(OpenScan { state, clears: cache.clear_count() })
    }

    /// The text ended: does it match? `None` when the scan gave up (use [`TextRegex::is_match`]).
    pub fn scan_end(&self, cache: &mut ScanCache, scan: Scan) -> Option<bool> {
        match scan {
            Scan::Matched => Some(true),
            Scan::Dead => Some(false),
            Scan::GaveUp => None,
            Scan::Open(open) => {
                let (dfa, cache) = (self.dfa.as_ref()?, cache.cache.as_mut()?);
                if open.clears != cache.clear_count() {
                    return None;
                }
                let end = dfa.next_eoi_state(cache, open.state).ok()?;
                Some(end.is_match())
            }
        }
    }
}

/// What a DFA state (obtained at the cache's `clears`-th clear) says about the scan.
fn classify(state: LazyStateID, clears: usize) -> Scan {
    if state.is_match() {
        Scan::Matched
    } else if state.is_dead() {
        Scan::Dead
    } else if state.is_quit() || state.is_unknown() {
        Scan::GaveUp
    } else {
        Scan::Open(OpenScan { state, clears })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `text` in pieces and returns where it stands after each, then the end result.
    fn scan(regex: &TextRegex, pieces: &[&str]) -> (Vec<Scan>, Option<bool>) {
        let mut cache = regex.scan_cache().unwrap_or_else(|| panic!("{} has a DFA", regex.as_str()));
        let mut state = regex.scan_start(&mut cache);
        let mut seen = Vec::new();
        for piece in pieces {
            state = regex.scan_feed(&mut cache, state, piece.as_bytes());
            seen.push(state);
        }
        (seen, regex.scan_end(&mut cache, state))
    }

    fn regex(pattern: &str, case_insensitive: bool) -> TextRegex {
        TextRegex::new(pattern, case_insensitive).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    #[test]
    fn anchored_patterns_die_as_soon_as_the_start_is_wrong() {
        let related = regex(r"^(?:related|see also)\s*:", true);
        let (seen, end) = scan(&related, &["The", " talks"]);
        assert_eq!(seen, [Scan::Dead, Scan::Dead]);
        assert_eq!(end, Some(false));
        let (seen, end) = scan(&related, &["RELATED", ": more"]);
        assert!(matches!(seen[0], Scan::Open(_)));
        assert_eq!(seen[1], Scan::Matched);
        assert_eq!(end, Some(true));
    }

    #[test]
    fn end_anchors_and_word_boundaries_wait_for_what_follows() {
        let whole = regex(r"^shop now$", true);
        let (seen, end) = scan(&whole, &["Shop now"]);
        assert!(matches!(seen[0], Scan::Open(_)));
        assert_eq!(end, Some(true));
        assert_eq!(scan(&whole, &["Shop now", " and save"]).1, Some(false));
        let word = regex(r"^buy\b", true);
        assert_eq!(scan(&word, &["Buy", " it"]).0[1], Scan::Matched);
        assert_eq!(scan(&word, &["Buy", "ers"]).1, Some(false));
    }

    #[test]
    fn interleaved_scans_survive_cache_clears() {
        // A cache this small is cleared again and again while two scans take turns on it: whatever a scan
        // reports must agree with the regex, or say it gave up.
        let pattern = r"^[^\s.!?:;](?:[^.!?:;]|\.\S){0,79}?\s[–—-]\s+[\p{Lu}\p{N}]";
        // The smallest capacity the DFA accepts.
        let (regex, mut cache) = (1..=64)
            .map(|kib| TextRegex::with_cache_capacity(pattern, true, kib * 1024))
            .find_map(|built| {
                let regex = built.unwrap_or_else(|e| panic!("{pattern}: {e}"));
                let cache = regex.scan_cache()?;
                Some((regex, cache))
            })
            .unwrap_or_else(|| panic!("no cache capacity up to 64 KiB builds a DFA for {pattern}"));
        let texts =
            ["Hand Warmers – Stay warm all winter long", "Über Straße und Brücke, ohne Pause – nur weiter"];
        let mut scans = [regex.scan_start(&mut cache), regex.scan_start(&mut cache)];
        let pieces: Vec<Vec<&str>> = texts.iter().map(|t| t.split_inclusive(' ').collect()).collect();
        for round in 0..pieces[0].len().max(pieces[1].len()) {
            for (which, scan) in scans.iter_mut().enumerate() {
                if let Some(piece) = pieces[which].get(round) {
                    *scan = regex.scan_feed(&mut cache, *scan, piece.as_bytes());
                }
            }
        }
        let clears = cache.cache.as_ref().map_or(0, Cache::clear_count);
        assert!(clears > 0, "the cache was never cleared: the test does not test what it says");
        for (which, scan) in scans.into_iter().enumerate() {
            let ended = regex.scan_end(&mut cache, scan);
            let expected = regex.is_match(texts[which]);
            assert!(ended.is_none_or(|m| m == expected), "{:?}: {ended:?} vs {expected}", texts[which]);
        }
    }

    #[test]
    fn scans_agree_with_the_regex_on_complete_texts() {
        let patterns =
            [r"^[^\s.!?:;](?:[^.!?:;]|\.\S){0,79}?\s[–—-]\s+[\p{Lu}\p{N}]", r"commission", r"\bé\w+"];
        let texts =
            ["Hand Warmers – Stay warm", "Amazon – which reported", "We may earn a commission", "été café"];
        for pattern in patterns {
            let regex = regex(pattern, false);
            for text in texts {
                let pieces: Vec<&str> = text.split_inclusive(' ').collect();
                let (_, end) = scan(&regex, &pieces);
                let expected = regex.is_match(text);
                assert!(end.is_none_or(|m| m == expected), "{pattern} on {text:?}: {end:?} vs {expected}");
            }
        }
    }
}
