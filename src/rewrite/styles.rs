//! Tag styles: which CSS a page gets (styles of tags that an applicable rule can produce) and whether a
//! Content-Security-Policy in the page lets an inline `<style>` apply.

use std::sync::Arc;

use crate::rules::{ElementAction, RuleSet};

/// The `<style>` element to inject for the tags that `active` rules can produce and the `extra` CSS (filter
/// lists' hiding rules for the site), or `None` when there is none.
pub(super) fn style_element(rules: &RuleSet, active: &[usize], extra: &[Arc<str>]) -> Option<String> {
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
    for part in extra {
        // Filter-list CSS holds no `<` (the classifier refuses such selectors); checked again, cheaply.
        if memchr::memchr(b'<', part.as_bytes()).is_none() {
            css.push_str(part);
        }
    }
    if css.is_empty() {
        return None;
    }
    Some(format!("<style data-strainer>\n{css}</style>"))
}

/// Does this policy (the `content` of a `<meta http-equiv="Content-Security-Policy">`) stop an inline
/// `<style>` element from applying? Read by the one CSP parser, [`crate::csp`].
pub(super) fn forbids_inline_style(policy: &str) -> bool {
    !crate::csp::allows_inline_style(policy)
}
