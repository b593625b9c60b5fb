//! `[[remove]]` / `[[tag]]` tables → [`ElementRule`]s: selector, tags, content conditions, site scope.
//!
//! Reports every problem of a rule (not just the first) and warns about conditions that can never hold.

use std::sync::Arc;

use toml::Spanned;

use super::raw::{OneOrMany, RawConditions, RawElementRule, RawInnermost, RawScore, RawSignal, Text};
use super::source::{Diagnostics, Pos, Source};
use super::values::Ctx;
use super::{
    selector, Conditions, ElementAction, ElementRule, RuleId, RuleOrigin, Score, Signal, TextRegex, TextTest,
    MAX_SIGNALS,
};

/// Which element-rule table a rule came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElementKind {
    /// `[[remove]]`
    Remove,
    /// `[[tag]]`
    Tag,
}

/// Compiles one element rule; `None` when it has errors (all reported).
pub(crate) fn compile(
    raw: RawElementRule,
    kind: ElementKind,
    origin: RuleOrigin,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<ElementRule> {
    let id = raw.id.get_ref().clone();
    let errors_before = diags.errors.len();
    let selector_pos = ctx.src.pos(&raw.selector.span());
    let inside = raw.when.as_ref().and_then(|when| when.inside.as_ref());
    let selector = match (selector::parse(raw.selector.get_ref()), inside) {
        (Err(message), _) => {
            diags.error(
                &selector_pos,
                format!("rule `{id}`: invalid selector {:?}: {message}", raw.selector.get_ref()),
            );
            None
        }
        (Ok(selector), None) => Some(selector),
        (Ok(_), Some(ancestor)) => within(raw.selector.get_ref(), ancestor, &id, ctx, diags),
    };
    let selector_text = match inside {
        Some(ancestor) => selector::within(raw.selector.get_ref(), ancestor.get_ref()),
        None => raw.selector.get_ref().clone(),
    };
    let action = action(&raw, kind, &id, ctx, diags);
    let scored = raw.score.is_some();
    let raw_when = raw.when.as_ref().filter(|when| {
        // With a score, `innermost` alone is a condition of the rule.
        let empty = is_empty(when) && !(scored && when.innermost.is_some());
        if empty {
            let message =
                format!("rule `{id}`: the `when` table is empty, so the rule acts at the start tag");
            diags.warn(&ctx.src.pos(&raw.id.span()), message);
        }
        !empty
    });
    // `inside` is folded into the selector above; without content conditions the rule acts at the start tag.
    let mut when = raw_when
        .filter(|when| scored || has_content_conditions(when))
        .and_then(|when| conditions(when, &id, ctx, diags));
    if let Some(raw_score) = &raw.score {
        let score = score(raw_score, &id, ctx, diags);
        when.get_or_insert_with(Conditions::default).score = score;
    }
    let innermost_on = raw_when.and_then(|when| when.innermost).and_then(RawInnermost::slack).is_some();
    if let Some(precedes) = raw_when.and_then(|when| when.precedes.as_ref()) {
        let pos = ctx.src.pos(&precedes.span());
        if kind == ElementKind::Remove {
            diags.error(
                &pos,
                format!(
                    "rule `{id}`: `precedes` is for [[tag]] rules (a removal cannot wait for what follows)"
                ),
            );
        } else if innermost_on {
            diags.error(&pos, format!("rule `{id}`: `precedes` and `innermost` do not go together"));
        }
    }
    if let Some(when) = raw_when {
        warn_never_matching(when, raw.selector.get_ref(), &selector_pos, &id, ctx, diags);
        if innermost_on && !has_content_conditions(when) && !scored {
            let message = format!(
                "rule `{id}`: `innermost` has no effect: without content conditions the rule acts at the start tag"
            );
            diags.warn(&ctx.src.pos(&raw.id.span()), message);
        }
    }
    let scope = ctx.scope(raw.sites.as_deref(), raw.except_sites.as_deref(), diags);
    if diags.errors.len() > errors_before {
        return None;
    }
    Some(ElementRule {
        id: RuleId::new(&id),
        origin,
        selector_text,
        selector: selector?,
        action: action?,
        when,
        scope: scope?,
    })
}

fn action(
    raw: &RawElementRule,
    kind: ElementKind,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<ElementAction> {
    let given: Vec<&Text> = raw.tag.iter().chain(raw.tags.iter().flatten()).collect();
    if kind == ElementKind::Remove {
        if let Some(first) = given.first() {
            let key = if raw.tag.is_some() { "tag" } else { "tags" };
            diags.error(
                &ctx.src.pos(&first.span()),
                format!("rule `{id}`: `{key}` is only valid in [[tag]] rules"),
            );
            return None;
        }
        return Some(ElementAction::Remove);
    }
    if raw.tag.is_some() && raw.tags.is_some() {
        diags.error(&ctx.src.pos(&raw.id.span()), format!("rule `{id}`: give `tag` or `tags`, not both"));
        return None;
    }
    if given.is_empty() {
        diags.error(
            &ctx.src.pos(&raw.id.span()),
            format!("rule `{id}`: a [[tag]] rule needs `tag` or `tags`"),
        );
        return None;
    }
    let mut tags: Vec<Arc<str>> = Vec::new();
    let mut ok = true;
    for tag in given {
        if let Err(message) = check_tag_name(tag.get_ref()) {
            diags.error(&ctx.src.pos(&tag.span()), format!("rule `{id}`: {message}"));
            ok = false;
        } else if !tags.iter().any(|t| **t == **tag.get_ref()) {
            tags.push(Arc::from(tag.get_ref().as_str()));
        }
    }
    ok.then_some(ElementAction::Tag(tags))
}

/// A tag goes into a space-separated attribute and a CSS attribute selector: letters, digits, `-`, `_` only.
pub(crate) fn check_tag_name(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("empty tag name".to_owned());
    }
    match tag.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))) {
        Some(c) => {
            Err(format!("tag {tag:?} contains {c:?}; tags may use ASCII letters, digits, `-` and `_`"))
        }
        None => Ok(()),
    }
}

fn conditions(
    raw: &RawConditions,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<Conditions> {
    let errors_before = diags.errors.len();
    let case_insensitive = !raw.case_sensitive.unwrap_or(false);
    let mut text = Vec::new();
    let needles = |value: &Option<toml::Spanned<OneOrMany>>, key: &str, diags: &mut Diagnostics| {
        let value = value.as_ref()?;
        let items = needle_list(value, key, id, ctx.src, diags)?;
        Some(items.into_iter().map(|s| if case_insensitive { s.to_lowercase() } else { s }).collect())
    };
    if let Some(any_of) = needles(&raw.own_text_starts_with, "own_text_starts_with", diags) {
        text.push(TextTest::StartsWith { any_of, case_insensitive });
    }
    if let Some(any_of) = needles(&raw.own_text_contains, "own_text_contains", diags) {
        text.push(TextTest::Contains { any_of, case_insensitive });
    }
    let text_regex = |pattern: &str| TextRegex::new(pattern, case_insensitive).map(TextTest::Matches);
    if let Some(test) = compile_regex(&raw.own_text_matches, id, ctx, diags, text_regex) {
        text.push(test);
    }
    let mut whole_text = Vec::new();
    if let Some(any_of) = needles(&raw.text_starts_with, "text_starts_with", diags) {
        whole_text.push(TextTest::StartsWith { any_of, case_insensitive });
    }
    if let Some(any_of) = needles(&raw.text_contains, "text_contains", diags) {
        whole_text.push(TextTest::Contains { any_of, case_insensitive });
    }
    if let Some(test) = compile_regex(&raw.text_matches, id, ctx, diags, text_regex) {
        whole_text.push(test);
    }
    let rule_ids = |value: &Option<toml::Spanned<OneOrMany>>, key: &str, diags: &mut Diagnostics| {
        let names = value.as_ref().and_then(|value| needle_list(value, key, id, ctx.src, diags));
        names.unwrap_or_default().iter().map(|name| RuleId::new(name)).collect::<Vec<_>>()
    };
    let follows = rule_ids(&raw.follows, "follows", diags);
    let precedes = rule_ids(&raw.precedes, "precedes", diags);
    let names = |value: &Option<toml::Spanned<OneOrMany>>, key: &str, diags: &mut Diagnostics| match value {
        Some(value) => tag_names(value, key, id, ctx.src, diags).unwrap_or_default(),
        None => Vec::new(),
    };
    let holds = names(&raw.holds, "holds", diags);
    let holds_none = names(&raw.holds_none, "holds_none", diags);
    let class_matches = compile_regex(&raw.class_matches, id, ctx, diags, regex::Regex::new);
    let id_matches = compile_regex(&raw.id_matches, id, ctx, diags, regex::Regex::new);
    let links_to = raw
        .links_to
        .as_ref()
        .and_then(|hosts| ctx.values.non_empty_hosts(hosts, "links_to", id, ctx.src, diags));
    let min_link_text_share =
        raw.min_link_text_share.as_ref().and_then(|share| per_mille(share, id, ctx, diags));
    for (key, value) in
        [("min_links_on_site", &raw.min_links_on_site), ("min_average_link_text", &raw.min_average_link_text)]
    {
        if let Some(zero) = value.as_ref().filter(|n| *n.get_ref() == 0) {
            diags.error(
                &ctx.src.pos(&zero.span()),
                format!("rule `{id}`: `{key} = 0` tests nothing; leave it out"),
            );
        }
    }
    (diags.errors.len() == errors_before).then(|| Conditions {
        text,
        whole_text,
        follows,
        precedes,
        links_elsewhere: raw.links_elsewhere.unwrap_or(false),
        links_on_site: raw.links_on_site.unwrap_or(false),
        holds,
        holds_none,
        min_removed_inside: raw.min_removed_inside.as_ref().map(|n| *n.get_ref()),
        min_links_on_site: raw.min_links_on_site.as_ref().map(|n| *n.get_ref()),
        min_link_text_share,
        min_average_link_text: raw.min_average_link_text.as_ref().map(|n| *n.get_ref()),
        min_text_len: raw.min_text_length.as_ref().map(|n| *n.get_ref()),
        max_text_len: raw.max_text_length.as_ref().map(|n| *n.get_ref()),
        links_to,
        class_matches,
        id_matches,
        innermost: raw.innermost.and_then(RawInnermost::slack),
        score: None,
    })
}

/// A share between 0 (excluded) and 1 in thousandths, rounded; anything else is reported.
fn per_mille(
    share: &toml::Spanned<f64>,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<u32> {
    let value = *share.get_ref();
    // The range check keeps the product within 1..=1000, so the conversion cannot truncate.
    if value > 0.0 && value <= 1.0 {
        Some(((value * 1000.0).round() as u32).max(1))
    } else {
        let message = format!(
            "rule `{id}`: `min_link_text_share` is a share above 0 and at most 1, such as 0.6, not {value}"
        );
        diags.error(&ctx.src.pos(&share.span()), message);
        None
    }
}

/// Compiles a `score` table: its threshold and signals (every problem reported), with warnings for a score that
/// can never be reached or is reached everywhere.
fn score(raw: &Spanned<RawScore>, id: &str, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<Score> {
    let pos = ctx.src.pos(&raw.span());
    let raw = raw.get_ref();
    let Some(raw_signals) = raw.signal.as_ref().filter(|signals| !signals.get_ref().is_empty()) else {
        diags.error(&pos, format!("rule `{id}`: a `score` needs at least one `[[….score.signal]]` table"));
        return None;
    };
    if raw_signals.get_ref().len() > MAX_SIGNALS {
        let message = format!("rule `{id}`: a `score` takes at most {MAX_SIGNALS} signals");
        diags.error(&ctx.src.pos(&raw_signals.span()), message);
        return None;
    }
    let errors_before = diags.errors.len();
    let mut signals = Vec::new();
    for (number, raw_signal) in (1..).zip(raw_signals.get_ref()) {
        let weight_pos = ctx.src.pos(&raw_signal.weight.span());
        let weight = *raw_signal.weight.get_ref();
        if weight == 0 {
            diags.error(&weight_pos, format!("rule `{id}`: a signal of weight 0 counts for nothing"));
        }
        let name = match &raw_signal.name {
            Some(name) => name.get_ref().as_str().into(),
            None => format!("signal {number}").into(),
        };
        let Some(conditions) = conditions(&signal_conditions(raw_signal), id, ctx, diags) else {
            continue;
        };
        // `links_elsewhere = false` or `min_text_length = 0` alone test nothing either.
        if !conditions.needs_content() || (conditions.min_text_len == Some(0) && no_other_test(&conditions)) {
            let message = format!(
                "rule `{id}`: a signal without conditions always holds; take its weight off the threshold instead"
            );
            diags.error(&weight_pos, message);
            continue;
        }
        signals.push(Signal { weight, name, conditions });
    }
    if diags.errors.len() > errors_before {
        return None;
    }
    let threshold = *raw.threshold.get_ref();
    let score = Score::new(threshold, signals);
    let threshold_pos = ctx.src.pos(&raw.threshold.span());
    if score.highest_total() < i64::from(threshold) {
        let message = format!(
            "rule `{id}` can never match: its signals weigh {} at most, below the threshold {threshold}",
            score.highest_total()
        );
        diags.warn(&threshold_pos, message);
    } else if score.lowest_total() >= i64::from(threshold) {
        let message = format!(
            "rule `{id}`: the score always reaches its threshold {threshold}, whatever the signals (drop it)"
        );
        diags.warn(&threshold_pos, message);
    }
    Some(score)
}

/// Whether `conditions` test nothing but their minimum text length.
fn no_other_test(conditions: &Conditions) -> bool {
    !Conditions { min_text_len: None, ..conditions.clone() }.needs_content()
}

/// The conditions of a signal as a `when` table (the keys a signal cannot take left out).
fn signal_conditions(raw: &RawSignal) -> RawConditions {
    RawConditions {
        own_text_starts_with: raw.own_text_starts_with.clone(),
        own_text_contains: raw.own_text_contains.clone(),
        own_text_matches: raw.own_text_matches.clone(),
        text_starts_with: raw.text_starts_with.clone(),
        text_contains: raw.text_contains.clone(),
        text_matches: raw.text_matches.clone(),
        follows: None,
        precedes: None,
        links_elsewhere: raw.links_elsewhere,
        links_on_site: raw.links_on_site,
        holds: raw.holds.clone(),
        holds_none: raw.holds_none.clone(),
        min_removed_inside: raw.min_removed_inside.clone(),
        min_links_on_site: raw.min_links_on_site.clone(),
        min_link_text_share: raw.min_link_text_share.clone(),
        min_average_link_text: raw.min_average_link_text.clone(),
        case_sensitive: raw.case_sensitive,
        innermost: None,
        min_text_length: raw.min_text_length.clone(),
        max_text_length: raw.max_text_length.clone(),
        links_to: raw.links_to.clone(),
        class_matches: None,
        id_matches: None,
        inside: None,
    }
}

/// The selector `subject` restricted to elements with an ancestor matching `ancestor` (the `inside` condition);
/// a bad `inside` selector is reported at its own position.
fn within(
    subject: &str,
    ancestor: &Text,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<lol_html::Selector> {
    let pos = ctx.src.pos(&ancestor.span());
    if let Err(message) = selector::parse(ancestor.get_ref()) {
        diags.error(
            &pos,
            format!("rule `{id}`: invalid `inside` selector {:?}: {message}", ancestor.get_ref()),
        );
        return None;
    }
    let combined = selector::within(subject, ancestor.get_ref());
    match selector::parse(&combined) {
        Ok(selector) => Some(selector),
        Err(message) => {
            diags.error(
                &pos,
                format!("rule `{id}`: `inside` makes the selector {combined:?}, which is invalid: {message}"),
            );
            None
        }
    }
}

/// A `when` table without any condition (`case_sensitive` alone is not a condition).
fn is_empty(raw: &RawConditions) -> bool {
    !has_content_conditions(raw) && raw.inside.is_none()
}

/// Conditions decided on the element itself or its content (everything but `inside`, which the selector takes).
fn has_content_conditions(raw: &RawConditions) -> bool {
    !(raw.own_text_starts_with.is_none()
        && raw.own_text_contains.is_none()
        && raw.own_text_matches.is_none()
        && raw.text_starts_with.is_none()
        && raw.text_contains.is_none()
        && raw.text_matches.is_none()
        && raw.follows.is_none()
        && raw.precedes.is_none()
        && raw.links_elsewhere.is_none()
        && raw.links_on_site.is_none()
        && raw.holds.is_none()
        && raw.holds_none.is_none()
        && raw.min_removed_inside.is_none()
        && raw.min_links_on_site.is_none()
        && raw.min_link_text_share.is_none()
        && raw.min_average_link_text.is_none()
        && raw.min_text_length.is_none()
        && raw.max_text_length.is_none()
        && raw.links_to.is_none()
        && raw.class_matches.is_none()
        && raw.id_matches.is_none())
}

/// The strings of a string-or-array condition; errors on an empty array or an empty string.
fn needle_list(
    value: &toml::Spanned<OneOrMany>,
    key: &str,
    id: &str,
    src: &Source<'_>,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let items: Vec<(String, Pos)> = match value.get_ref() {
        OneOrMany::One(s) => vec![(s.clone(), src.pos(&value.span()))],
        OneOrMany::Many(items) => items.iter().map(|s| (s.get_ref().clone(), src.pos(&s.span()))).collect(),
    };
    if items.is_empty() {
        diags.error(&src.pos(&value.span()), format!("rule `{id}`: `{key}` is empty"));
        return None;
    }
    let mut ok = true;
    for (item, pos) in &items {
        if item.trim().is_empty() {
            diags.error(pos, format!("rule `{id}`: an empty `{key}` string matches every element"));
            ok = false;
        }
    }
    ok.then(|| items.into_iter().map(|(s, _)| s).collect())
}

/// The tag names of `holds` / `holds_none` (`key`), lower-cased; a name that is not one (a selector, an empty
/// string) is an error.
fn tag_names(
    value: &toml::Spanned<OneOrMany>,
    key: &str,
    id: &str,
    src: &Source<'_>,
    diags: &mut Diagnostics,
) -> Option<Vec<Box<str>>> {
    let names = needle_list(value, key, id, src, diags)?;
    let bad = names.iter().find(|name| !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if let Some(name) = bad {
        let message = format!(
            "rule `{id}`: `{key}` takes tag names (ASCII letters, digits and `-`, such as \"img\"), not {name:?}"
        );
        diags.error(&src.pos(&value.span()), message);
        return None;
    }
    Some(names.iter().map(|name| name.to_ascii_lowercase().into_boxed_str()).collect())
}

/// Warnings for conditions that can never hold.
fn warn_never_matching(
    raw: &RawConditions,
    selector_text: &str,
    selector_pos: &Pos,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) {
    let min = raw.min_text_length.as_ref().map(|n| *n.get_ref());
    if let (Some(min), Some(max)) = (min, &raw.max_text_length) {
        if min > *max.get_ref() {
            let pos = ctx.src.pos(&max.span());
            diags.warn(
                &pos,
                format!(
                    "rule `{id}` can never match: min_text_length {min} > max_text_length {max}",
                    max = max.get_ref()
                ),
            );
        }
    }
    let has_needle = raw.own_text_starts_with.is_some()
        || raw.own_text_contains.is_some()
        || raw.text_starts_with.is_some()
        || raw.text_contains.is_some();
    if let Some(max) = raw.max_text_length.as_ref().filter(|max| *max.get_ref() == 0 && has_needle) {
        diags.warn(
            &ctx.src.pos(&max.span()),
            format!("rule `{id}` can never match: max_text_length = 0 leaves no room for the required text"),
        );
    }
    let needs_content = has_needle
        || raw.own_text_matches.is_some()
        || raw.text_matches.is_some()
        || raw.links_to.is_some()
        || raw.links_elsewhere == Some(true)
        || raw.links_on_site == Some(true)
        || raw.min_links_on_site.is_some()
        || raw.min_link_text_share.is_some()
        || raw.min_average_link_text.is_some()
        || raw.holds.is_some()
        || min.is_some_and(|min| min > 0);
    if needs_content {
        for name in selector::textless_subjects(selector_text) {
            diags.warn(
                selector_pos,
                format!("rule `{id}`: `{name}` elements hold no page text or links, so the `when` conditions never hold for them"),
            );
        }
    }
}

/// Compiles an optional regex value with `build`; an invalid one is reported at its position.
fn compile_regex<T>(
    value: &Option<Text>,
    id: &str,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
    build: impl FnOnce(&str) -> Result<T, regex::Error>,
) -> Option<T> {
    let value = value.as_ref()?;
    let expanded = match ctx.patterns.expand(value.get_ref()) {
        Ok(expanded) => expanded,
        Err(message) => {
            diags.error(&ctx.src.pos(&value.span()), format!("rule `{id}`: {message}"));
            return None;
        }
    };
    match build(&expanded) {
        Ok(compiled) => Some(compiled),
        Err(err) => {
            let message = format!("rule `{id}`: invalid regex {:?}: {}", value.get_ref(), regex_error(&err));
            diags.error(&ctx.src.pos(&value.span()), message);
            None
        }
    }
}

/// The one-line summary of a regex error (the crate's message spans several lines).
fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(|| text.lines().next().unwrap_or_default().to_owned(), str::to_owned)
}
