//! `own_text_matches` / `text_matches` regexes.
//!
//! Each test keeps its own [`regex::Regex`]; the engine scans a text once for all the patterns of a rule set
//! ([`super::TextMatcher`]) and falls back to these regexes only where that scan gives up.

/// A compiled text regex test.
#[derive(Clone, Debug)]
pub struct TextRegex {
    regex: regex::Regex,
    case_insensitive: bool,
}

impl TextRegex {
    /// Compiles `pattern` (Unicode, like [`regex::Regex`]), ignoring case when asked.
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Self, regex::Error> {
        let regex = regex::RegexBuilder::new(pattern).case_insensitive(case_insensitive).build()?;
        Ok(Self { regex, case_insensitive })
    }

    /// Does `text` (complete) match?
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The pattern with its case flag written in, for compiling it together with others.
    pub(super) fn flagged_pattern(&self) -> String {
        if self.case_insensitive {
            format!("(?i:{})", self.regex.as_str())
        } else {
            self.regex.as_str().to_owned()
        }
    }
}
