//! Errors and warnings from loading rule files, each pointing at `file:line:col`.

/// A problem that makes a rule set unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct RuleError {
    /// File name relative to the rules directory.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong, in lower case, naming the rule where there is one.
    pub message: String,
}

/// A problem that does not stop the rule set from loading (a rule that can never match, …).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: warning: {message}")]
pub struct RuleWarning {
    /// File name relative to the rules directory.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What looks wrong.
    pub message: String,
}
