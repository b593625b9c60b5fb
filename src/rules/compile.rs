//! Rule files (raw TOML) → [`RuleSet`], collecting every error at once.

use std::path::Path;

use super::{RuleError, RuleSet, RuleWarning};

/// What `strainer check` reports for a rules directory.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every error found; empty when the set loads.
    pub errors: Vec<RuleError>,
    /// Warnings (never-matching rules, duplicate entries, …).
    pub warnings: Vec<RuleWarning>,
    /// Number of rules per file, when the set loaded.
    pub files: Vec<(String, usize)>,
}

/// Loads and compiles every rule file in `dir`. On failure returns every error found.
pub fn load_dir(dir: &Path) -> Result<(RuleSet, Vec<RuleWarning>), Vec<RuleError>> {
    let _ = dir;
    todo!("rules compiler")
}

/// Loads `dir` and reports every error and warning, for `strainer check`.
pub fn check_dir(dir: &Path) -> CheckReport {
    match load_dir(dir) {
        Ok((set, warnings)) => CheckReport {
            errors: Vec::new(),
            warnings,
            files: set.files.iter().map(|f| (f.file.clone(), f.rule_ids.len())).collect(),
        },
        Err(errors) => CheckReport { errors, ..CheckReport::default() },
    }
}
