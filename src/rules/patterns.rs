//! Named regex fragments: the `[patterns]` tables of the rule files, used in any rule regex as `{name}`.
//!
//! A price, a call to action or a list of label words is the same in a dozen rules; written once as
//! `price = '…'` under `[patterns]`, every rule says `{price}`. The names are shared by all the files of a rules
//! directory (each defined once), so they are gathered from every file before any rule is compiled. A use
//! expands to a non-capturing group (`(?:…)`), so alternations inside the fragment stay inside it. A fragment
//! may use other fragments; a cycle is an error. Outside a character class and an escape that takes braces
//! (`\p{Lu}`, `\x{a0}`, `\b{start}`), `{` followed by a name and `}` is no valid regex syntax (a repetition
//! takes digits), so no working pattern changes meaning; a literal `{word}` is written `\{word}`.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

use super::source::{Diagnostics, Pos, Source};

/// The top-level key of a rule file that holds the fragments.
pub(crate) const KEY: &str = "patterns";

/// How deep fragments may use fragments (a longer chain is taken for a cycle).
const MAX_DEPTH: usize = 16;

/// The longest a regex may grow by expanding fragments (a fragment that uses another several times, itself
/// using another several times, grows exponentially).
const MAX_EXPANDED: usize = 1 << 20;

/// The fragments of a rules directory, by name.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    by_name: HashMap<String, Fragment>,
}

#[derive(Debug)]
struct Fragment {
    text: String,
    pos: Pos,
}

impl Patterns {
    /// Reads the `[patterns]` table of one rule file, if it has one. A file that is no valid TOML is skipped
    /// here (compiling its rules reports why).
    pub fn add_file(&mut self, src: &Source<'_>, diags: &mut Diagnostics) {
        let (document, errors) = DeTable::parse_recoverable(src.text());
        if !errors.is_empty() {
            return;
        }
        let document = document.into_inner();
        let Some((key, value)) = document.iter().find(|(key, _)| key.get_ref() == KEY) else {
            return;
        };
        let DeValue::Table(table) = value.get_ref() else {
            let message =
                "`patterns` must be a table of named regex fragments: `[patterns]` then `name = '…'`";
            diags.error(&src.pos(&key.span()), message);
            return;
        };
        for (name, value) in table {
            let pos = src.pos(&name.span());
            let name = name.get_ref();
            if !is_name(name) {
                let message = format!(
                    "pattern name {name:?}: names use ASCII letters, digits and `_`, and start with a letter or `_`"
                );
                diags.error(&pos, message);
                continue;
            }
            let Some(text) = value.get_ref().as_str() else {
                diags.error(&pos, format!("pattern `{name}` must be a string (a regex fragment)"));
                continue;
            };
            if let Some(first) = self.by_name.get(name.as_ref()) {
                let message = format!("duplicate pattern `{name}` (first defined at {})", first.pos);
                diags.error(&pos, message);
                continue;
            }
            self.by_name.insert(name.to_string(), Fragment { text: text.to_owned(), pos });
        }
    }

    /// Checks every fragment once all files are read: its uses resolve, and it is a regex on its own (so a
    /// broken fragment is reported where it is written, not at every rule that uses it).
    pub fn check(&self, diags: &mut Diagnostics) {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        for name in names {
            let fragment = &self.by_name[name.as_str()];
            let checked = self.expand(&fragment.text).and_then(|expanded| {
                super::text_regex::check_syntax(&expanded, false).map_err(|err| err.to_string())
            });
            if let Err(message) = checked {
                let message =
                    message.lines().find_map(|l| l.trim().strip_prefix("error: ")).unwrap_or(&message);
                diags.error(&fragment.pos, format!("pattern `{name}`: {message}"));
            }
        }
    }

    /// `regex` with every `{name}` replaced by its fragment in a non-capturing group (recursively).
    pub fn expand(&self, regex: &str) -> Result<String, String> {
        self.expand_at(regex, 0)
    }

    fn expand_at(&self, regex: &str, depth: usize) -> Result<String, String> {
        if !regex.contains('{') {
            return Ok(regex.to_owned());
        }
        let mut out = String::with_capacity(regex.len());
        let mut rest = regex;
        // Open character classes (`[…]`, nested ones counted): a brace in one is a literal.
        let mut classes = 0usize;
        // Just after `[` or `[^`, where a `]` is a literal.
        let mut class_opened = false;
        while let Some(c) = rest.chars().next() {
            let opened = std::mem::take(&mut class_opened);
            match c {
                '\\' => {
                    let len = 1 + escape_len(&rest[1..]);
                    out.push_str(&rest[..len]);
                    rest = &rest[len..];
                }
                '[' => {
                    classes += 1;
                    let len = if rest[1..].starts_with('^') { 2 } else { 1 };
                    out.push_str(&rest[..len]);
                    rest = &rest[len..];
                    class_opened = true;
                }
                ']' if classes > 0 && !opened => {
                    classes -= 1;
                    out.push(']');
                    rest = &rest[1..];
                }
                '{' if classes == 0 => {
                    let name =
                        rest[1..].split('}').next().filter(|name| rest[1 + name.len()..].starts_with('}'));
                    match name.filter(|name| is_name(name)) {
                        Some(name) => {
                            let fragment = self.by_name.get(name).ok_or_else(|| self.unknown(name))?;
                            if depth >= MAX_DEPTH {
                                return Err(format!("pattern `{name}` uses itself (through other patterns)"));
                            }
                            out.push_str("(?:");
                            out.push_str(&self.expand_at(&fragment.text, depth + 1)?);
                            out.push(')');
                            if out.len() > MAX_EXPANDED {
                                return Err(format!(
                                    "pattern `{name}` expands to more than {} KiB",
                                    MAX_EXPANDED / 1024
                                ));
                            }
                            rest = &rest[name.len() + 2..];
                        }
                        None => {
                            out.push('{');
                            rest = &rest[1..];
                        }
                    }
                }
                _ => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        Ok(out)
    }

    fn unknown(&self, name: &str) -> String {
        let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        known.sort_unstable();
        let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
        format!("unknown pattern `{{{name}}}` (defined under [patterns]: {known})")
    }
}

/// How many bytes after a backslash belong to its escape: the escaped character, and the braces of `\p{Lu}`,
/// `\x{a0}`, `\u{…}`, `\U{…}` and `\b{start}` (a `{name}` after any other escape, as in `\s{price}`, is a use).
fn escape_len(escaped: &str) -> usize {
    let Some(first) = escaped.chars().next() else { return 0 };
    let len = first.len_utf8();
    let braces = &escaped[len..];
    let Some(close) = braces.strip_prefix('{').and_then(|inner| inner.find('}')) else { return len };
    let inner = &braces[1..=close];
    let takes_braces = match first {
        'p' | 'P' | 'x' | 'u' | 'U' => true,
        'b' => matches!(inner, "start" | "end" | "start-half" | "end-half"),
        _ => false,
    };
    if takes_braces {
        len + close + 2
    } else {
        len
    }
}

/// A fragment name: an ASCII letter or `_`, then letters, digits and `_`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn patterns(text: &str) -> (Patterns, Vec<String>) {
        let name: Arc<str> = Arc::from("p.toml");
        let mut diags = Diagnostics::default();
        let mut patterns = Patterns::default();
        patterns.add_file(&Source::new(&name, text), &mut diags);
        patterns.check(&mut diags);
        let errors = diags.errors.iter().map(|e| format!("{}:{}: {}", e.line, e.col, e.message)).collect();
        (patterns, errors)
    }

    #[test]
    fn uses_expand_to_groups_and_repetitions_and_escapes_stay() {
        let (patterns, errors) = patterns("[patterns]\nprice = '[$£]\\d+'\ndeal = '{price}|free'\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            patterns.expand(r"^{deal} at \w{2,5} \{price} {price} \p{Lu}\x{a0}$").as_deref(),
            Ok(r"^(?:(?:[$£]\d+)|free) at \w{2,5} \{price} (?:[$£]\d+) \p{Lu}\x{a0}$")
        );
        assert_eq!(patterns.expand("a{,3}{x").as_deref(), Ok("a{,3}{x"));
        // Escapes that take braces and character classes keep theirs; other escapes may precede a use.
        let kept = r"\b{start}\U{FEFF}[{price}][]{price}][^\]{deal}]\b{end}";
        assert_eq!(patterns.expand(kept).as_deref(), Ok(kept));
        assert_eq!(patterns.expand(r"at\s{price}\b{price}").as_deref(), Ok(r"at\s(?:[$£]\d+)\b(?:[$£]\d+)"));
        assert_eq!(
            patterns.expand("{nope}"),
            Err("unknown pattern `{nope}` (defined under [patterns]: deal, price)".to_owned())
        );
    }

    #[test]
    fn a_fragment_that_grows_exponentially_is_refused() {
        let mut text = String::from("[patterns]\n");
        for level in 0..15 {
            let next = level + 1;
            text.push_str(&format!("p{level} = '{{p{next}}}{{p{next}}}{{p{next}}}{{p{next}}}'\n"));
        }
        text.push_str("p15 = 'x'\n");
        let (_, errors) = patterns(&text);
        assert!(errors.iter().any(|e| e.contains("expands to more than 1024 KiB")), "{errors:?}");
    }

    #[test]
    fn bad_fragments_are_reported_where_they_are_written() {
        let (_, errors) = patterns(
            "[patterns]\nloop = 'a{loop}'\nbroken = '(a'\n'bad name' = 'x'\nnumber = 3\nuses = '{missing}'\n",
        );
        assert_eq!(
            errors,
            [
                "4:1: pattern name \"bad name\": names use ASCII letters, digits and `_`, and start with a letter or `_`",
                "5:1: pattern `number` must be a string (a regex fragment)",
                "3:1: pattern `broken`: unclosed group",
                "2:1: pattern `loop`: pattern `loop` uses itself (through other patterns)",
                "6:1: pattern `uses`: unknown pattern `{missing}` (defined under [patterns]: broken, loop, uses)",
            ]
        );
    }
}
