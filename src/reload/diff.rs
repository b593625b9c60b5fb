//! What a rules directory holds, and what changed between two reloads.
//!
//! Owns the list of files that count as rules (`*.toml` in the directory, `lists/*.txt`, `filters/*.txt`), a cheap stat fingerprint
//! for the polling fallback, content hashes per file and per rule (any TOML table with an `id` string, wherever it
//! sits), and the [`RuleDiff`] logged on reload. It reads files but never compiles them.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::rules::RuleSet;

/// The subdirectory of named lists.
pub const LISTS_DIR: &str = "lists";

/// Rule ids and files that differ between the previous and the new rule set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleDiff {
    /// Ids present now and not before.
    pub added: Vec<String>,
    /// Ids present before and not now.
    pub removed: Vec<String>,
    /// Ids present in both whose TOML table changed (or that moved to another file).
    pub modified: Vec<String>,
    /// Files (relative to the rules directory) whose bytes changed, appeared or disappeared.
    pub changed_files: Vec<String>,
}

/// Content hashes of one rules directory: per file and per rule table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentHashes {
    files: BTreeMap<String, u64>,
    /// File → length in bytes.
    lengths: BTreeMap<String, u64>,
    /// Rule id → (file, hash of its table).
    rules: BTreeMap<String, (String, u64)>,
}

/// (name, modification time, size) of every rule file: changes when any file is written, added or removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatFingerprint(Vec<(String, Option<SystemTime>, u64)>);

// === impl RuleDiff ===

impl RuleDiff {
    /// Compares two rule sets and the content hashes read alongside them.
    pub fn between(
        old: &RuleSet,
        old_hashes: &ContentHashes,
        new: &RuleSet,
        new_hashes: &ContentHashes,
    ) -> Self {
        let ids = |set: &RuleSet| -> BTreeSet<String> {
            set.files.iter().flat_map(|f| f.rule_ids.iter().map(|id| id.as_str().to_owned())).collect()
        };
        let (before, after) = (ids(old), ids(new));
        let modified = before
            .intersection(&after)
            .filter(|id| match (old_hashes.rules.get(*id), new_hashes.rules.get(*id)) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            })
            .cloned()
            .collect();
        let all_files: BTreeSet<&String> = old_hashes.files.keys().chain(new_hashes.files.keys()).collect();
        let changed_files = all_files
            .into_iter()
            .filter(|f| old_hashes.files.get(*f) != new_hashes.files.get(*f))
            .cloned()
            .collect();
        Self {
            added: after.difference(&before).cloned().collect(),
            removed: before.difference(&after).cloned().collect(),
            modified,
            changed_files,
        }
    }

    /// Whether nothing changed at all.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.changed_files.is_empty()
    }
}

// === impl ContentHashes ===

impl ContentHashes {
    /// Hashes every rule file in `dir`. Unreadable files are left out (the loader reports them); a TOML file
    /// that does not parse gets a file hash but no rule hashes.
    pub fn read(dir: &Path) -> Self {
        let mut hashes = Self::default();
        for (name, path) in rule_files(dir) {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            hashes.files.insert(name.clone(), hash_of(&bytes));
            hashes.lengths.insert(name.clone(), bytes.len() as u64);
            if !name.ends_with(".toml") {
                continue;
            }
            let parsed = std::str::from_utf8(&bytes).ok().and_then(|text| text.parse::<toml::Table>().ok());
            if let Some(table) = parsed {
                collect_rule_hashes(&toml::Value::Table(table), &name, &mut hashes.rules);
            }
        }
        hashes
    }

    /// Files that held bytes in `self` and are now shorter, empty or gone in `now`: what a file rewritten in place
    /// looks like half-way (truncated, then refilled), and what a real deletion looks like too.
    pub fn shrunk_in(&self, now: &ContentHashes) -> Vec<String> {
        self.lengths
            .iter()
            .filter(|(name, before)| {
                **before > 0 && now.lengths.get(*name).is_none_or(|after| after < *before)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

// === impl StatFingerprint ===

impl StatFingerprint {
    /// Stats every rule file in `dir` (no reads).
    pub fn read(dir: &Path) -> Self {
        let stats = rule_files(dir)
            .into_iter()
            .filter_map(|(name, path)| {
                let meta = std::fs::metadata(&path).ok()?;
                Some((name, meta.modified().ok(), meta.len()))
            })
            .collect();
        Self(stats)
    }
}

/// Every file that counts as a rule file, as (name relative to `dir`, path), sorted by name: `*.toml` directly in
/// `dir` and `*.txt` in `dir/lists/`, editor scratch files excluded.
pub fn rule_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let mut scan = |sub: Option<&str>, extension: &str| {
        let base = sub.map_or_else(|| dir.to_path_buf(), |s| dir.join(s));
        let Ok(entries) = std::fs::read_dir(&base) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let is_file = entry.file_type().map(|t| t.is_file() || t.is_symlink()).unwrap_or(false);
            if is_file && !is_editor_scratch(name) && has_extension(name, extension) {
                let relative = sub.map_or_else(|| name.to_owned(), |s| format!("{s}/{name}"));
                found.push((relative, path));
            }
        }
    };
    scan(None, "toml");
    scan(Some(LISTS_DIR), "txt");
    scan(Some(crate::filters::FILTERS_DIR), "txt");
    found.sort();
    found
}

/// Whether `path` is, or (once written) will be, a rule file of `dir`, or the lists directory itself.
pub fn is_rule_path(dir: &Path, path: &Path) -> bool {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    if is_editor_scratch(name) {
        return false;
    }
    let filters = crate::filters::FILTERS_DIR;
    if parent == dir {
        has_extension(name, "toml") || name == LISTS_DIR || name == filters
    } else {
        (parent == dir.join(LISTS_DIR) || parent == dir.join(filters)) && has_extension(name, "txt")
    }
}

/// Swap, backup and lock files editors write next to the file being edited (vim `.swp`/`.swx` and its `4913`
/// probe, `~` backups, emacs `.#` locks).
fn is_editor_scratch(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with('~')
        || name.starts_with(".#")
        || name == "4913"
}

fn has_extension(name: &str, extension: &str) -> bool {
    Path::new(name).extension().and_then(|e| e.to_str()) == Some(extension)
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Records a hash for every table with a string `id` (a rule), looking through nested tables and arrays.
fn collect_rule_hashes(value: &toml::Value, file: &str, into: &mut BTreeMap<String, (String, u64)>) {
    match value {
        toml::Value::Table(table) => match table.get("id") {
            Some(toml::Value::String(id)) => {
                let mut hasher = DefaultHasher::new();
                hash_value(value, &mut hasher);
                into.insert(id.clone(), (file.to_owned(), hasher.finish()));
            }
            _ => table.values().for_each(|v| collect_rule_hashes(v, file, into)),
        },
        toml::Value::Array(items) => items.iter().for_each(|v| collect_rule_hashes(v, file, into)),
        _ => {}
    }
}

fn hash_value(value: &toml::Value, hasher: &mut DefaultHasher) {
    std::mem::discriminant(value).hash(hasher);
    match value {
        toml::Value::String(s) => s.hash(hasher),
        toml::Value::Integer(i) => i.hash(hasher),
        toml::Value::Float(f) => f.to_bits().hash(hasher),
        toml::Value::Boolean(b) => b.hash(hasher),
        toml::Value::Datetime(d) => d.to_string().hash(hasher),
        toml::Value::Array(items) => {
            items.len().hash(hasher);
            items.iter().for_each(|v| hash_value(v, hasher));
        }
        toml::Value::Table(table) => {
            table.len().hash(hasher);
            for (key, v) in table {
                key.hash(hasher);
                hash_value(v, hasher);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{FileSummary, RuleId};

    fn set_of(files: &[(&str, &[&str])]) -> RuleSet {
        let files = files
            .iter()
            .map(|(file, ids)| FileSummary {
                file: (*file).to_owned(),
                rule_ids: ids.iter().map(|id| RuleId::new(id)).collect(),
            })
            .collect();
        RuleSet { files, ..RuleSet::default() }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, text).expect("write rule file");
    }

    #[test]
    fn diff_names_added_removed_modified_rules_and_changed_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            "promos.toml",
            "[[remove]]\nid = \"a\"\nselector = \"p\"\n[[remove]]\nid = \"b\"\nselector = \"li\"\n",
        );
        write(dir.path(), "lists/shops.txt", "shop.example\n");
        let old_hashes = ContentHashes::read(dir.path());
        let old = set_of(&[("promos.toml", &["a", "b"])]);

        write(
            dir.path(),
            "promos.toml",
            "[[remove]]\nid = \"a\"\nselector = \"div\"\n[[remove]]\nid = \"c\"\nselector = \"li\"\n",
        );
        write(dir.path(), "lists/shops.txt", "shop.example\nstore.example\n");
        let new_hashes = ContentHashes::read(dir.path());
        let new = set_of(&[("promos.toml", &["a", "c"])]);

        let diff = RuleDiff::between(&old, &old_hashes, &new, &new_hashes);
        assert_eq!(diff.added, ["c"]);
        assert_eq!(diff.removed, ["b"]);
        assert_eq!(diff.modified, ["a"]);
        assert_eq!(diff.changed_files, ["lists/shops.txt", "promos.toml"]);
    }

    #[test]
    fn unchanged_directory_gives_an_empty_diff() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "links.toml", "[[strip]]\nid = \"utm\"\nparams = [\"utm_*\"]\n");
        let set = set_of(&[("links.toml", &["utm"])]);
        let hashes = ContentHashes::read(dir.path());
        assert!(RuleDiff::between(&set, &hashes, &set, &ContentHashes::read(dir.path())).is_empty());
    }

    #[test]
    fn rule_files_skip_editor_scratch_and_other_extensions() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "a.toml",
            ".a.toml.swp",
            "a.toml~",
            ".#a.toml",
            "4913",
            "notes.md",
            "lists/x.txt",
            "lists/y.toml",
        ] {
            write(dir.path(), name, "");
        }
        let names: Vec<String> = rule_files(dir.path()).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["a.toml", "lists/x.txt"]);
    }

    #[test]
    fn rule_paths_include_rename_targets_and_the_lists_dir() {
        let dir = Path::new("/r");
        assert!(is_rule_path(dir, Path::new("/r/promos.toml")));
        assert!(is_rule_path(dir, Path::new("/r/lists")));
        assert!(is_rule_path(dir, Path::new("/r/lists/shops.txt")));
        assert!(!is_rule_path(dir, Path::new("/r/.promos.toml.swp")));
        assert!(!is_rule_path(dir, Path::new("/r/4913")));
        assert!(!is_rule_path(dir, Path::new("/r/sub/promos.toml")));
        assert!(!is_rule_path(dir, Path::new("/r/promos.toml.tmp")));
    }

    #[test]
    fn stat_fingerprint_changes_on_append() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "a.toml", "# one\n");
        let before = StatFingerprint::read(dir.path());
        write(dir.path(), "a.toml", "# one\n# two\n");
        assert_ne!(before, StatFingerprint::read(dir.path()));
    }
}
