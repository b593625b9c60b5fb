//! Which conditional element rules a start tag selects, looked up by tag name.
//!
//! Most content-conditional rules select elements by type (`p, li, div, span`), at most requiring an attribute
//! (`div[class]`). Given to lol_html, each such rule is one more handler called on every element it selects,
//! and one more selector the VM tries on every start tag. Indexed here instead, one handler on `*` finds every
//! such rule of an element in one lookup, in rule order. Rules with richer selectors stay with lol_html.

use std::collections::HashMap;

use super::selector::{simple_alternatives, SimpleSelector};
use super::ElementRule;

/// A rule's claim on the elements of one type.
#[derive(Clone, Debug)]
pub struct IndexedRule {
    /// Index into [`super::RuleSet::element_rules`].
    pub rule: usize,
    /// Attributes the element must have (`div[class]`).
    pub present: Box<[Box<str>]>,
}

/// Conditional rules with simple selectors, by the tag names they select.
#[derive(Debug, Default)]
pub struct StartTagIndex {
    by_name: HashMap<Box<str>, Vec<IndexedRule>>,
    /// Rules with a `*` alternative: they select every element.
    any: Vec<IndexedRule>,
    /// Per rule index: whether the rule is in this index (otherwise lol_html matches its selector).
    indexed: Vec<bool>,
}

impl StartTagIndex {
    /// Indexes the content-conditional rules among `rules` whose selectors are simple enough.
    pub fn new(rules: &[ElementRule]) -> Self {
        let mut index = Self { indexed: vec![false; rules.len()], ..Self::default() };
        for (rule, element_rule) in rules.iter().enumerate() {
            if !element_rule.when.as_ref().is_some_and(super::Conditions::needs_content) {
                continue;
            }
            let Some(alternatives) = simple_alternatives(&element_rule.selector_text) else {
                continue;
            };
            index.indexed[rule] = true;
            for SimpleSelector { name, present } in alternatives {
                let entry = IndexedRule { rule, present: present.into_boxed_slice() };
                match name {
                    Some(name) => index.by_name.entry(name).or_default().push(entry),
                    None => index.any.push(entry),
                }
            }
        }
        index
    }

    /// Whether rule `rule` is matched through this index.
    pub fn is_indexed(&self, rule: usize) -> bool {
        self.indexed.get(rule).copied().unwrap_or(false)
    }

    /// The rules whose selectors name `tag` (lower-case) or `*`, in rule order; a rule listed twice (`p, *`) is
    /// the caller's to add once.
    pub fn rules_for<'a>(&'a self, tag: &str) -> impl Iterator<Item = &'a IndexedRule> + 'a {
        let named = self.by_name.get(tag).map_or(&[][..], Vec::as_slice);
        merge_by_rule(named, &self.any)
    }
}

/// Two lists sorted by rule index, merged in that order.
fn merge_by_rule<'a>(
    mut left: &'a [IndexedRule],
    mut right: &'a [IndexedRule],
) -> impl Iterator<Item = &'a IndexedRule> + 'a {
    std::iter::from_fn(move || {
        let take_left = match (left.first(), right.first()) {
            (Some(l), Some(r)) => l.rule <= r.rule,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let list = if take_left { &mut left } else { &mut right };
        let (first, rest) = list.split_first()?;
        *list = rest;
        Some(first)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rule: usize) -> IndexedRule {
        IndexedRule { rule, present: Box::default() }
    }

    #[test]
    fn named_and_universal_rules_come_in_rule_order() {
        let named = [entry(0), entry(3), entry(4)];
        let any = [entry(1), entry(3), entry(7)];
        let order: Vec<usize> = merge_by_rule(&named, &any).map(|e| e.rule).collect();
        assert_eq!(order, [0, 1, 3, 3, 4, 7]);
    }
}
