//! Host and parameter entries of a rule → compiled [`HostSet`]s and parameter [`GlobSet`]s.
//!
//! An entry is either written in the rule (`"amazon.*"`) or names a list (`"@shops"`), whose entries are
//! expanded in place. Every bad entry is reported at the place it is written (the rule file or the list file).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::hosts::entry_hosts;
use super::lists::NamedLists;
use super::patterns::Patterns;
use super::raw::{Text, TextList};
use super::source::{Diagnostics, Pos, Source};
use super::{HostPattern, HostSet, SiteScope};

/// Expands and validates entries against the named lists of one rules directory.
pub(crate) struct Values<'a> {
    lists: &'a NamedLists,
}

/// What compiling a rule needs from the file it is in: the file, and host/parameter resolution.
pub(crate) struct Ctx<'a, 'b> {
    /// The rule file.
    pub src: &'a Source<'b>,
    /// Host and parameter resolution.
    pub values: &'a Values<'a>,
    /// The named regex fragments of every rule file.
    pub patterns: &'a Patterns,
}

/// One entry after list expansion, with the place it is written.
struct Entry {
    text: String,
    pos: Pos,
}

// === impl Ctx ===

impl Ctx<'_, '_> {
    /// Compiles `sites` / `except_sites` into a scope; `None` when an entry is bad (already reported).
    pub fn scope(
        &self,
        sites: Option<&[Text]>,
        except_sites: Option<&[Text]>,
        diags: &mut Diagnostics,
    ) -> Option<SiteScope> {
        let include = self.values.hosts(sites.unwrap_or_default(), self.src, diags);
        let exclude = self.values.hosts(except_sites.unwrap_or_default(), self.src, diags);
        Some(SiteScope { include: include?, exclude: exclude? })
    }
}

// === impl Values ===

impl<'a> Values<'a> {
    /// Resolves entries against `lists`.
    pub fn new(lists: &'a NamedLists) -> Self {
        Self { lists }
    }

    /// Like [`Values::hosts`], for a key that must not be an empty array (`key` names it in the error).
    pub fn non_empty_hosts(
        &self,
        list: &TextList,
        key: &str,
        rule: &str,
        src: &Source<'_>,
        diags: &mut Diagnostics,
    ) -> Option<HostSet> {
        non_empty(list, key, rule, src, diags)?;
        self.hosts(list.get_ref(), src, diags)
    }

    /// Like [`Values::params`], for a key that must not be an empty array.
    pub fn non_empty_params(
        &self,
        list: &TextList,
        key: &str,
        case: Case,
        rule: &str,
        src: &Source<'_>,
        diags: &mut Diagnostics,
    ) -> Option<GlobSet> {
        non_empty(list, key, rule, src, diags)?;
        self.params(list.get_ref(), case, src, diags)
    }

    /// Compiles host patterns (and `@lists` of them). `None` when an entry is bad (already reported).
    pub fn hosts(&self, entries: &[Text], src: &Source<'_>, diags: &mut Diagnostics) -> Option<HostSet> {
        let mut ok = true;
        let mut patterns = Vec::new();
        for entry in self.expand(entries, src, diags, &mut ok) {
            for host in entry_hosts(&entry.text) {
                match HostPattern::new(host) {
                    Ok(pattern) => patterns.push(pattern),
                    Err(err) => {
                        diags.error(&entry.pos, err.to_string());
                        ok = false;
                    }
                }
            }
        }
        ok.then(|| HostSet::new(patterns))
    }

    /// Compiles parameter names and globs (and `@lists` of them). `None` when an entry is bad.
    pub fn params(
        &self,
        entries: &[Text],
        case: Case,
        src: &Source<'_>,
        diags: &mut Diagnostics,
    ) -> Option<GlobSet> {
        let mut ok = true;
        let mut builder = GlobSetBuilder::new();
        for entry in self.expand(entries, src, diags, &mut ok) {
            match param_glob(&entry.text, case) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(message) => {
                    diags.error(&entry.pos, message);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        match builder.build() {
            Ok(set) => Some(set),
            Err(err) => {
                let pos = entries.first().map_or_else(|| Pos::new(src.name(), 1, 1), |e| src.pos(&e.span()));
                diags.error(&pos, format!("cannot compile the parameter globs: {err}"));
                None
            }
        }
    }

    /// Replaces `@name` entries by the entries of that list; reports unknown lists and clears `ok`.
    fn expand(
        &self,
        entries: &[Text],
        src: &Source<'_>,
        diags: &mut Diagnostics,
        ok: &mut bool,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        for entry in entries {
            let pos = src.pos(&entry.span());
            let Some(name) = entry.get_ref().strip_prefix('@') else {
                out.push(Entry { text: entry.get_ref().clone(), pos });
                continue;
            };
            match self.lists.get(name) {
                Some(list) => {
                    out.extend(list.iter().map(|e| Entry { text: e.text.clone(), pos: e.pos.clone() }))
                }
                None => {
                    let known: Vec<_> = self.lists.names().map(|n| format!("@{n}")).collect();
                    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                    diags.error(&pos, format!("unknown list `@{name}` (known lists: {known})"));
                    *ok = false;
                }
            }
        }
        out
    }
}

/// How parameter names are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Byte for byte.
    Sensitive,
    /// ASCII letters in either case (`UTM_Source` is `utm_source`).
    Insensitive,
}

/// A query-parameter name or glob: no `=`, `&`, `#`, `@` or whitespace.
fn param_glob(text: &str, case: Case) -> Result<Glob, String> {
    if text.is_empty() {
        return Err("empty parameter name".to_owned());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || matches!(c, '=' | '&' | '#' | '@')) {
        return Err(format!(
            "parameter name {text:?} contains {c:?}, which cannot appear in a parameter name"
        ));
    }
    GlobBuilder::new(text)
        .case_insensitive(case == Case::Insensitive)
        .build()
        .map_err(|err| format!("parameter glob {text:?} is invalid: {}", err.kind()))
}

/// Reports `key` of `rule` when it is an empty array; `None` then.
fn non_empty(
    list: &TextList,
    key: &str,
    rule: &str,
    src: &Source<'_>,
    diags: &mut Diagnostics,
) -> Option<()> {
    if list.get_ref().is_empty() {
        diags.error(&src.pos(&list.span()), format!("rule `{rule}`: `{key}` is empty"));
        return None;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn texts(src: &str, items: &[&str]) -> Vec<Text> {
        items
            .iter()
            .map(|item| {
                let start = src.find(item).unwrap_or_else(|| panic!("{item} is not in {src}"));
                Text::new(start..start + item.len(), (*item).to_owned())
            })
            .collect()
    }

    #[test]
    fn unknown_lists_and_bad_hosts_are_reported_where_written() {
        let name: Arc<str> = Arc::from("a.toml");
        let text = "hosts = [\"@nope\", \"a/b\", \"ok.com\"]";
        let src = Source::new(&name, text);
        let lists = NamedLists::default();
        let mut diags = Diagnostics::default();
        let set = Values::new(&lists).hosts(&texts(text, &["@nope", "a/b", "ok.com"]), &src, &mut diags);
        assert!(set.is_none());
        let got: Vec<_> = diags.errors.iter().map(|e| (e.col, e.message.as_str())).collect();
        assert_eq!(got[0], (11, "unknown list `@nope` (known lists: none)"));
        assert_eq!(got[1].0, 20);
        assert!(got[1].1.contains("'/'"), "{}", got[1].1);
    }

    #[test]
    fn params_are_globs_compared_in_the_case_asked_for() {
        let name: Arc<str> = Arc::from("a.toml");
        let text = "params = [\"utm_*\", \"Tag\"]";
        let src = Source::new(&name, text);
        let lists = NamedLists::default();
        let values = Values::new(&lists);
        let mut diags = Diagnostics::default();
        let entries = texts(text, &["utm_*", "Tag"]);
        let Some(sensitive) = values.params(&entries, Case::Sensitive, &src, &mut diags) else {
            panic!("params are valid: {:?}", diags.errors);
        };
        assert!(sensitive.is_match("utm_source") && sensitive.is_match("Tag"));
        assert!(
            !sensitive.is_match("tag") && !sensitive.is_match("UTM_source") && !sensitive.is_match("xutm_a")
        );
        let Some(insensitive) = values.params(&entries, Case::Insensitive, &src, &mut diags) else {
            panic!("params are valid: {:?}", diags.errors);
        };
        assert!(
            insensitive.is_match("UTM_Campaign")
                && insensitive.is_match("tag")
                && insensitive.is_match("TAG")
        );
        assert!(!insensitive.is_match("xutm_a") && !insensitive.is_match("tags"));
        assert!(values.params(&texts("[\"a=b\"]", &["a=b"]), Case::Insensitive, &src, &mut diags).is_none());
    }
}
