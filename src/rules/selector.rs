//! CSS selectors of element rules: parsing with lol_html, errors that name the unsupported feature, and the
//! elements a selector can match that never have text (for never-match warnings).
//!
//! lol_html decides a selector at the start tag, so it supports only what a streaming parser can know then:
//! type, `#id`, `.class`, `[attr…]` (with the `i` flag), descendant and child combinators, `:not()`,
//! `:first-child`, `:nth-child()`, `:first-of-type`, `:nth-of-type()`.

use lol_html::errors::SelectorError;

/// Elements that can hold no text: void elements, and elements whose content is raw text, not page text.
const TEXTLESS_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
    "script", "style", "template", "textarea", "title", "noscript", "iframe",
];

/// Pseudo-classes lol_html accepts.
const SUPPORTED_PSEUDO_CLASSES: &[&str] =
    &["not", "first-child", "nth-child", "first-of-type", "nth-of-type"];

/// Parses `text`; on failure, a lower-case explanation naming the unsupported feature when it can.
pub(crate) fn parse(text: &str) -> Result<lol_html::Selector, String> {
    text.parse::<lol_html::Selector>().map_err(|err| explain(text, err))
}

/// Type names of textless elements that some alternative of the selector has as its subject (`img`, `p > br`).
pub(crate) fn textless_subjects(text: &str) -> Vec<String> {
    split_top_level(text, ',')
        .into_iter()
        .filter_map(|alternative| {
            let subject = alternative.trim().rsplit([' ', '\t', '\n', '>']).next()?;
            let name: String = subject
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase();
            TEXTLESS_ELEMENTS.contains(&name.as_str()).then_some(name)
        })
        .collect()
}

/// The selector for elements matching `subject` that have an ancestor matching `ancestor`: every alternative of
/// `ancestor` joined to every alternative of `subject` by a descendant combinator (`article, main` + `p, li` →
/// `article p, article li, main p, main li`).
pub(crate) fn within(subject: &str, ancestor: &str) -> String {
    let subjects = split_top_level(subject, ',');
    let mut combined = Vec::new();
    for outer in split_top_level(ancestor, ',') {
        for inner in &subjects {
            combined.push(format!("{} {}", outer.trim(), inner.trim()));
        }
    }
    combined.join(", ")
}

/// One alternative of a selector simple enough to match without lol_html's selector VM: a type name (or `*`)
/// and attributes that must be present (`div[class]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SimpleSelector {
    /// Lower-case type name; `None` for `*`.
    pub name: Option<Box<str>>,
    /// Lower-case names of attributes the element must have.
    pub present: Vec<Box<str>>,
}

/// The alternatives of `text` when every one is a [`SimpleSelector`]; `None` when any needs more (classes, ids,
/// attribute values, combinators, pseudo-classes), which lol_html's selector VM then matches.
pub(crate) fn simple_alternatives(text: &str) -> Option<Vec<SimpleSelector>> {
    split_top_level(text, ',').into_iter().map(|alternative| simple_selector(alternative.trim())).collect()
}

fn simple_selector(text: &str) -> Option<SimpleSelector> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let (name, mut rest) = match text.strip_prefix('*') {
        Some(rest) => (None, rest),
        None => {
            let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
            let name = &text[..end];
            if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return None;
            }
            (Some(name.to_ascii_lowercase().into_boxed_str()), &text[end..])
        }
    };
    let mut present = Vec::new();
    while let Some(after) = rest.strip_prefix('[') {
        let (attribute, tail) = after.split_once(']')?;
        let attribute = attribute.trim();
        if attribute.is_empty() || !attribute.chars().all(is_name_char) {
            return None;
        }
        present.push(attribute.to_ascii_lowercase().into_boxed_str());
        rest = tail;
    }
    rest.is_empty().then_some(SimpleSelector { name, present })
}

fn explain(text: &str, err: SelectorError) -> String {
    match err {
        SelectorError::UnsupportedCombinator(c) => format!(
            "the sibling combinator `{c}` is not supported (a streaming parser cannot look at siblings); \
             use descendant or `>` combinators"
        ),
        SelectorError::UnsupportedPseudoClassOrElement | SelectorError::UnsupportedSyntax => {
            match first_unsupported_pseudo(text) {
                Some(name) if name.starts_with("::") => format!("pseudo-element `{name}` is not supported"),
                Some(name) => format!(
                    "`{name}` is not supported (lol_html supports :not(), :first-child, :nth-child(), \
                     :first-of-type, :nth-of-type(); for text or content conditions use a `when` table)"
                ),
                None => "unsupported selector syntax".to_owned(),
            }
        }
        other => lower_first(other.to_string().trim_end_matches('.')),
    }
}

/// The first pseudo-class or pseudo-element outside brackets and quotes that lol_html does not support.
fn first_unsupported_pseudo(text: &str) -> Option<String> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, ':') if depth == 0 => {
                let start = i;
                i += 1;
                if chars.get(i) == Some(&':') {
                    i += 1;
                }
                let name: String =
                    chars[i..].iter().take_while(|c| c.is_alphanumeric() || **c == '-').collect();
                i += name.chars().count();
                let prefix: String = chars[start..i].iter().collect();
                if prefix.starts_with("::")
                    || !SUPPORTED_PSEUDO_CLASSES.contains(&name.to_lowercase().as_str())
                {
                    return Some(prefix);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits on `sep` outside brackets, parentheses and quotes.
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            (None, _) if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_joins_every_ancestor_to_every_subject() {
        assert_eq!(
            within("p, li", "article, [class*=\"a,b\"]"),
            "article p, article li, [class*=\"a,b\"] p, [class*=\"a,b\"] li"
        );
        assert_eq!(within(" div.box ", "main > section"), "main > section div.box");
    }

    #[test]
    fn supported_selectors_parse() {
        for ok in
            ["p, li", "div[class*=\"related\" i]", "article > p:first-child", "p:not(.keep)", "a[href^=http]"]
        {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    fn err(text: &str) -> String {
        parse(text).err().unwrap_or_else(|| panic!("{text} should not parse"))
    }

    #[test]
    fn errors_name_the_unsupported_feature() {
        assert!(err("div:has(a)").starts_with("`:has` is not supported"));
        assert!(err("p:contains(x)").starts_with("`:contains` is not supported"));
        assert!(err("h2 + p").contains("sibling combinator `+`"));
        assert!(err("h2 ~ p").contains("sibling combinator `~`"));
        assert_eq!(err("p::before"), "pseudo-element `::before` is not supported");
        assert_eq!(err("div >"), "dangling combinator in selector");
        assert!(err("p:last-child").starts_with("`:last-child`"));
        assert!(err("a[title=\"x:has\"]:hover").starts_with("`:hover`"));
    }

    #[test]
    fn simple_selectors_are_type_names_with_attribute_presence() {
        let simple = |name: Option<&str>, present: &[&str]| SimpleSelector {
            name: name.map(Into::into),
            present: present.iter().map(|&a| a.into()).collect(),
        };
        assert_eq!(
            simple_alternatives("p, DIV[class], figure[class][id] , *"),
            Some(vec![
                simple(Some("p"), &[]),
                simple(Some("div"), &["class"]),
                simple(Some("figure"), &["class", "id"]),
                simple(None, &[]),
            ])
        );
        for complex in
            ["div.box", "p, article p", "a[href^=http]", "main > p", "p:first-child", "#x", "[class]"]
        {
            assert_eq!(simple_alternatives(complex), None, "{complex}");
        }
    }

    #[test]
    fn textless_subjects_are_found_per_alternative() {
        assert_eq!(textless_subjects("p, img.hero, div > br, script[src]"), ["img", "br", "script"]);
        assert!(textless_subjects("div img p, [data-x=\"a,img\"]").is_empty());
    }
}
