//! Tag styles: which CSS a page gets (styles of tags that an applicable rule can produce) and whether a
//! Content-Security-Policy in the page lets an inline `<style>` apply.

use crate::rules::{ElementAction, RuleSet};

/// The `<style>` element to inject for the tags that `active` rules can produce, or `None` when there is none.
pub(super) fn style_element(rules: &RuleSet, active: &[usize]) -> Option<String> {
    let produces = |tag: &str| {
        active.iter().any(|&index| {
            matches!(&rules.element_rules[index].action, ElementAction::Tag(tags) if tags.iter().any(|t| &**t == tag))
        })
    };
    let mut css = String::new();
    for style in rules.styles.iter().filter(|style| produces(&style.tag)) {
        // A `</style` inside the CSS would end the element early and inject markup: never emit it.
        if style.css.to_ascii_lowercase().contains("</style") {
            continue;
        }
        css.push_str(&style.css);
        css.push('\n');
    }
    if css.is_empty() {
        return None;
    }
    Some(format!("<style data-strainer>\n{css}</style>"))
}

/// Does this policy (the `content` of a `<meta http-equiv="Content-Security-Policy">`) stop an inline
/// `<style>` element from applying? The governing directive is `style-src-elem`, else `style-src`, else
/// `default-src`; inline styles apply only with `'unsafe-inline'` and no nonce or hash source (a nonce or hash
/// makes browsers ignore `'unsafe-inline'`).
pub(super) fn forbids_inline_style(policy: &str) -> bool {
    let policy = policy.to_ascii_lowercase();
    let directive = |name: &str| {
        policy.split([';', ',']).map(str::trim).find_map(|d| {
            let mut words = d.split_ascii_whitespace();
            (words.next() == Some(name)).then(|| words.collect::<Vec<_>>())
        })
    };
    let Some(sources) =
        directive("style-src-elem").or_else(|| directive("style-src")).or_else(|| directive("default-src"))
    else {
        return false;
    };
    let unsafe_inline = sources.contains(&"'unsafe-inline'");
    let nonce_or_hash = sources.iter().any(|s| {
        s.starts_with("'nonce-")
            || s.starts_with("'sha256-")
            || s.starts_with("'sha384-")
            || s.starts_with("'sha512-")
    });
    !unsafe_inline || nonce_or_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_that_allow_or_forbid_inline_styles() {
        assert!(!forbids_inline_style("script-src 'self'"));
        assert!(!forbids_inline_style("default-src 'self'; style-src 'self' 'unsafe-inline'"));
        assert!(forbids_inline_style("default-src 'self'"));
        assert!(forbids_inline_style("style-src 'unsafe-inline' 'nonce-abc'"));
        assert!(forbids_inline_style("style-src 'unsafe-inline'; style-src-elem 'self'"));
        assert!(forbids_inline_style("DEFAULT-SRC 'SELF'"));
    }
}
