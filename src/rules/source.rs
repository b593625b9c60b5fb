//! Positions in rule files and the collector of errors and warnings.
//!
//! The compiler never stops at the first problem: every check reports into a [`Diagnostics`] and carries on, so
//! `strainer check` shows all problems at once. Byte spans from the TOML parser become 1-based `line:col`
//! (columns count characters, not bytes).

use std::ops::Range;
use std::sync::Arc;

use super::{RuleError, RuleWarning};

/// A place in a rule file or list file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    /// File name relative to the rules directory.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

/// The text of one rule file, to turn byte spans into positions.
pub(crate) struct Source<'a> {
    name: Arc<str>,
    text: &'a str,
}

/// Errors and warnings collected while compiling a rules directory.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub errors: Vec<RuleError>,
    pub warnings: Vec<RuleWarning>,
}

// === impl Pos ===

impl Pos {
    /// A position given directly.
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Self {
        Self { file: Arc::clone(file), line, col }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

// === impl Source ===

impl<'a> Source<'a> {
    /// Wraps the text of the file `name`.
    pub fn new(name: &Arc<str>, text: &'a str) -> Self {
        Self { name: Arc::clone(name), text }
    }

    /// The file name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The position of the start of `span` (clamped to the text).
    pub fn pos(&self, span: &Range<usize>) -> Pos {
        let mut end = span.start.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Pos::new(&self.name, line, col)
    }
}

// === impl Diagnostics ===

impl Diagnostics {
    /// Records an error at `pos`.
    pub fn error(&mut self, pos: &Pos, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: pos.file.to_string(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        });
    }

    /// Records a warning at `pos`.
    pub fn warn(&mut self, pos: &Pos, message: impl Into<String>) {
        self.warnings.push(RuleWarning {
            file: pos.file.to_string(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        });
    }

    /// Sorts errors and warnings by file, line and column, and drops exact repeats (a bad list entry used by
    /// several rules is reported once). File order is the load order, so the sort is stable on it.
    pub fn finish(&mut self, file_order: &[Arc<str>]) {
        let rank = |file: &str| file_order.iter().position(|f| &**f == file).unwrap_or(usize::MAX);
        self.errors.sort_by_key(|e| (rank(&e.file), e.line, e.col));
        self.errors.dedup();
        self.warnings.sort_by_key(|w| (rank(&w.file), w.line, w.col));
        self.warnings.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_lines_and_character_columns() {
        let name: Arc<str> = Arc::from("a.toml");
        let src = Source::new(&name, "x = 1\n# é\ny = \"ü\" z");
        assert_eq!(src.pos(&(0..1)), Pos::new(&name, 1, 1));
        assert_eq!(src.pos(&(6..7)), Pos::new(&name, 2, 1));
        let z = "x = 1\n# é\ny = \"ü\" z".len() - 1;
        assert_eq!(src.pos(&(z..z + 1)), Pos::new(&name, 3, 9));
        assert_eq!(src.pos(&(999..1000)).line, 3);
    }
}
