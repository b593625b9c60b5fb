//! Named lists (`rules/lists/<name>.txt`): one host or parameter per line, `#` comments. Host lists may also be
//! hosts files or adblock-style domain lists (see [`super::hosts`]).
//!
//! Lists are plain text so that host and parameter catalogues can be long without cluttering rule files. Each
//! entry keeps its `line:col` so that a bad entry is reported where it is written. What an entry means (host
//! pattern or parameter glob) is decided where the list is used, not here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::source::{Diagnostics, Pos};

/// One entry of a named list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListEntry {
    /// The entry, trimmed, comment removed.
    pub text: String,
    /// Where it is written.
    pub pos: Pos,
}

/// All named lists of a rules directory, by name (the file stem).
#[derive(Debug, Default)]
pub(crate) struct NamedLists {
    lists: BTreeMap<String, Vec<ListEntry>>,
    files: Vec<Arc<str>>,
}

/// The directory holding the lists, relative to the rules directory.
pub(crate) const LISTS_DIR: &str = "lists";

// === impl NamedLists ===

impl NamedLists {
    /// Loads every `lists/*.txt` under `rules_dir`. A missing `lists/` directory means no lists.
    pub fn load(rules_dir: &Path, diags: &mut Diagnostics) -> Self {
        let mut lists = Self::default();
        let dir = rules_dir.join(LISTS_DIR);
        if !dir.exists() {
            return lists;
        }
        let names = match super::compile::file_names(&dir, "txt") {
            Ok(names) => names,
            Err(err) => {
                let pos = Pos::new(&Arc::from(LISTS_DIR), 1, 1);
                diags.error(&pos, format!("cannot read the lists directory: {err}"));
                return lists;
            }
        };
        for name in names {
            let file: Arc<str> = Arc::from(format!("{LISTS_DIR}/{name}"));
            lists.files.push(Arc::clone(&file));
            match std::fs::read_to_string(dir.join(&name)) {
                Ok(text) => {
                    let stem = name.trim_end_matches(".txt").to_owned();
                    lists.lists.insert(stem, parse_list(&file, &text, diags));
                }
                Err(err) => diags.error(&Pos::new(&file, 1, 1), format!("cannot read list: {err}")),
            }
        }
        lists
    }

    /// The entries of the list `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<&[ListEntry]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// The list files read, as paths relative to the rules directory, in name order.
    pub fn files(&self) -> impl Iterator<Item = Arc<str>> + '_ {
        self.files.iter().cloned()
    }

    /// The names of every list, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lists.keys().map(String::as_str)
    }
}

/// Parses one list file: strips `#` comments, blank lines and the comment and header lines of adblock-style lists
/// (`! …`, `[Adblock Plus …]`), warns on repeated entries and on an empty list.
fn parse_list(file: &Arc<str>, text: &str, diags: &mut Diagnostics) -> Vec<ListEntry> {
    let mut entries = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut cosmetic = 0usize;
    for (index, line) in text.lines().enumerate() {
        // Element-hiding rules of adblock lists (`example.com##.banner`) are not host entries: cutting them at `#`
        // would leave `example.com` and block the whole site.
        if COSMETIC_SEPARATORS.iter().any(|sep| line.contains(sep)) {
            cosmetic += 1;
            continue;
        }
        let content = line.split('#').next().unwrap_or_default();
        let entry = content.trim();
        if entry.is_empty() || entry.starts_with('!') || is_adblock_header(entry) {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let pos = Pos::new(file, index + 1, content[..indent].chars().count() + 1);
        if let Some(first) = seen.get(entry) {
            diags.warn(&pos, format!("duplicate list entry {entry:?} (first on line {first})"));
            continue;
        }
        seen.insert(entry, index + 1);
        entries.push(ListEntry { text: entry.to_owned(), pos });
    }
    if cosmetic > 0 {
        diags.warn(
            &Pos::new(file, 1, 1),
            format!("{cosmetic} adblock element-hiding line(s) (`##`, `#@#`, …) skipped: they name no host"),
        );
    }
    if entries.is_empty() {
        diags.warn(&Pos::new(file, 1, 1), "the list is empty, so rules using it match nothing through it");
    }
    entries
}

/// Separators of adblock element-hiding and scriptlet rules.
const COSMETIC_SEPARATORS: [&str; 5] = ["##", "#@#", "#?#", "#$#", "#%#"];

/// The first line of an adblock-style list, such as `[Adblock Plus 2.0]`.
fn is_adblock_header(line: &str) -> bool {
    line.get(..8).is_some_and(|start| start.eq_ignore_ascii_case("[adblock")) && line.ends_with(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adblock_comments_and_headers_are_skipped() {
        let (entries, diags) = parse("[Adblock Plus 2.0]\n! Title: ads\n||ads.example^\n");
        let texts: Vec<_> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["||ads.example^"]);
        assert!(diags.warnings.is_empty() && diags.errors.is_empty());
    }

    #[test]
    fn adblock_element_hiding_lines_are_skipped_not_cut_into_hosts() {
        let (entries, diags) = parse("||ads.example^\nnews.example##.banner\n##.ad\nshop.example#@#.promo\n");
        let texts: Vec<_> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["||ads.example^"]);
        assert_eq!(diags.warnings.len(), 1);
        assert!(
            diags.warnings[0].message.starts_with("3 adblock element-hiding line(s)"),
            "{:?}",
            diags.warnings
        );
    }

    fn parse(text: &str) -> (Vec<ListEntry>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let entries = parse_list(&Arc::from("lists/x.txt"), text, &mut diags);
        (entries, diags)
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_positions_kept() {
        let (entries, diags) = parse("# shops\n\namazon.*   # all of them\n  ebay.com\n");
        let texts: Vec<_> = entries.iter().map(|e| (e.text.as_str(), e.pos.line, e.pos.col)).collect();
        assert_eq!(texts, [("amazon.*", 3, 1), ("ebay.com", 4, 3)]);
        assert!(diags.warnings.is_empty() && diags.errors.is_empty());
    }

    #[test]
    fn duplicates_warn_and_are_dropped() {
        let (entries, diags) = parse("a.com\nb.com\na.com\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(diags.warnings.len(), 1);
        assert_eq!(diags.warnings[0].line, 3);
        assert!(diags.warnings[0].message.contains("duplicate list entry \"a.com\" (first on line 1)"));
    }

    #[test]
    fn an_empty_list_warns() {
        let (entries, diags) = parse("# nothing yet\n\n");
        assert!(entries.is_empty());
        assert_eq!(diags.warnings.len(), 1);
        assert!(diags.warnings[0].message.contains("empty"));
    }
}
