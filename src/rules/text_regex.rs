//! `own_text_matches` / `text_matches` regexes.
//!
//! The engine scans a text once for all the patterns of a rule set ([`super::TextMatcher`]); a rule's own
//! [`regex::Regex`] is only the fallback where that scan gives up. Compiled patterns with Unicode classes and
//! bounded repetition are large (the shipped rules' take about 19 MB), so a pattern is only parsed at load (which
//! reports every syntax error), and compiled when a fallback first needs it. Compiling each pattern at load just
//! to drop it again cost the proxy 14 MB of resident memory that the allocator kept for the life of the process.

use std::sync::OnceLock;

/// A text regex test.
#[derive(Clone, Debug)]
pub struct TextRegex {
    pattern: String,
    case_insensitive: bool,
    /// The compiled regex, on first use. `None` if it parsed at load but does not compile (over the regex
    /// crate's size limit): it then matches nothing, and the log said so.
    regex: OnceLock<Option<regex::Regex>>,
}

impl TextRegex {
    /// Parses `pattern` (Unicode, like [`regex::Regex`]), ignoring case when asked; the error is the regex
    /// crate's syntax error.
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Self, regex::Error> {
        check_syntax(pattern, case_insensitive)?;
        Ok(Self { pattern: pattern.to_owned(), case_insensitive, regex: OnceLock::new() })
    }

    /// Does `text` (complete) match? A pattern that parsed but does not compile (over the regex crate's size
    /// limit) matches nothing, and says so once in the log.
    pub fn is_match(&self, text: &str) -> bool {
        let regex = self.regex.get_or_init(|| {
            compile(&self.pattern, self.case_insensitive)
                .inspect_err(|err| tracing::warn!(pattern = %self.pattern, error = %err, "text regex does not compile; it matches nothing"))
                .ok()
        });
        regex.as_ref().is_some_and(|regex| regex.is_match(text))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The pattern with its case flag written in, for compiling it together with others.
    pub(super) fn flagged_pattern(&self) -> String {
        if self.case_insensitive {
            format!("(?i:{})", self.pattern)
        } else {
            self.pattern.clone()
        }
    }
}

fn compile(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(case_insensitive).build()
}

/// Parses `pattern` the way [`regex::Regex`] would (Unicode, case flag), without compiling it.
pub(super) fn check_syntax(pattern: &str, case_insensitive: bool) -> Result<(), regex::Error> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .map(drop)
        .map_err(|err| regex::Error::Syntax(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_at_load_and_matching_compiles_on_first_use() {
        assert!(TextRegex::new("(unclosed", false).is_err());
        assert!(TextRegex::new(r"\p{NoSuchClass}", false).is_err());
        let regex = TextRegex::new(r"^related\s*:", true).unwrap_or_else(|e| panic!("valid: {e}"));
        assert!(regex.regex.get().is_none(), "nothing compiled is kept after load");
        assert!(regex.is_match("RELATED: more"));
        assert!(!regex.is_match("unrelated: more"));
        assert_eq!(regex.flagged_pattern(), r"(?i:^related\s*:)");
    }
}
