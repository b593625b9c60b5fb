//! Wiring: which lol_html handlers a response needs ([`Plan`]) and the handlers themselves, which lock the
//! shared state and delegate to the engine ([`super::regions`]), the report and the link rules.
//!
//! Registration order matters (lol_html runs element handlers in that order): structural handlers (implied
//! `</p>` and `</li>`) first, so their end events precede a new begin event; then unconditional removes,
//! unconditional tags, conditional rules (in rule order), links, styles.
//!
//! Events for the sink are queued at the output offset the sink has reached when the handler runs (everything
//! before the token is written then, the token itself not yet). That holds while no element removed at its start
//! tag is open (`Shared::hidden` is 0): inside one, lol_html writes nothing, not even content inserted before or
//! after a tag, so there the events go into a streaming handler that lol_html runs (or drops) as it would
//! write such content. A candidate's own end event goes after its end tag: the offset when the handler runs
//! plus the tag's length in the input (lol_html writes an end tag nobody changed as it came), or, where other
//! content may surround the tag or nothing may be written, through a streaming handler as well.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use lol_html::html_content::{ContentType, EndTag, StreamingHandler, StreamingHandlerSink};
use lol_html::{send, AsciiCompatibleEncoding, MemorySettings, OutputSink, Selector};

use crate::rules::{Conditions, ElementAction, RuleSet};

use super::regions::{self, Engine, Opened};
use super::report::{PendingHit, ReportLog};
use super::sink::{Mark, Sink, Verdicts, NO_TOKEN};
use super::tree;
use super::{styles, HitAction, RewriteOptions};

/// Every element: the structural handler dispatches on the tag name itself, because one `*` item costs the
/// selector VM far less than the 35 type names it would otherwise try on every element.
static EVERY: LazyLock<Option<Selector>> = LazyLock::new(|| "*".parse().ok());
static LINKS: LazyLock<Option<Selector>> = LazyLock::new(|| "a[href], area[href]".parse().ok());
static CSP_META: LazyLock<Option<Selector>> = LazyLock::new(|| "meta[http-equiv]".parse().ok());
static TEMPLATE: LazyLock<Option<Selector>> = LazyLock::new(|| "template".parse().ok());
static HEAD: LazyLock<Option<Selector>> = LazyLock::new(|| "head".parse().ok());
static BODY: LazyLock<Option<Selector>> = LazyLock::new(|| "body".parse().ok());

/// What one response needs, decided once in `Rewriter::new`.
pub(super) struct Plan {
    pub rules: Arc<RuleSet>,
    pub options: RewriteOptions,
    removes: Vec<usize>,
    tags: Vec<usize>,
    conditional: Vec<usize>,
    /// Per rule index: a conditional rule in force that [`crate::rules::StartTagIndex`] finds (one `*` handler
    /// dispatches them all); the other conditional rules get a lol_html handler each.
    indexed: Arc<[bool]>,
    clean_links: bool,
    links_to: bool,
    /// The tag names the conditional rules in force look for inside their candidates (`holds`, `holds_none`).
    held_names: Arc<[Box<str>]>,
    style: Option<Arc<str>>,
}

impl Plan {
    /// The handlers `rules` need for a page of `options.site`.
    pub(super) fn new(rules: Arc<RuleSet>, options: RewriteOptions) -> Self {
        let site = options.site.as_deref();
        let (mut removes, mut tags, mut conditional) = (Vec::new(), Vec::new(), Vec::new());
        for (index, rule) in rules.element_rules.iter().enumerate() {
            if !rule.scope.applies_to(site) {
                continue;
            }
            // Rules decided by the start tag alone (no conditions, or only class/id ones) act natively.
            let at_start_tag = rule.when.as_ref().is_none_or(|when| !when.needs_content());
            match (&rule.action, at_start_tag) {
                (_, false) => conditional.push(index),
                (ElementAction::Remove, true) => removes.push(index),
                (ElementAction::Tag(_), true) => tags.push(index),
            }
        }
        let index = &rules.index().start_tags;
        let mut indexed = vec![false; rules.element_rules.len()];
        for &rule in &conditional {
            indexed[rule] = index.is_indexed(rule);
        }
        let indexed = Arc::from(indexed);
        let clean_links = !rules.links.is_empty();
        let links_to = conditional
            .iter()
            .any(|&i| rules.element_rules[i].when.as_ref().is_some_and(Conditions::reads_links));
        let mut held_names: Vec<Box<str>> = Vec::new();
        let reads = &rules.index().reads;
        for held in conditional.iter().filter_map(|&index| reads.get(index)).flat_map(|r| &r.held_names) {
            if !held_names.contains(&held.name) {
                held_names.push(held.name.clone());
            }
        }
        let held_names = Arc::from(held_names);
        let style = if options.inject_styles {
            let active: Vec<usize> = tags.iter().chain(&conditional).copied().collect();
            styles::style_element(&rules, &active, &options.extra_css).map(Arc::from)
        } else {
            None
        };
        Self { rules, options, removes, tags, conditional, indexed, clean_links, links_to, held_names, style }
    }

    /// True when no handler would do anything: the page passes through untouched.
    pub(super) fn is_noop(&self) -> bool {
        self.removes.is_empty()
            && self.tags.is_empty()
            && self.conditional.is_empty()
            && !self.clean_links
            && self.style.is_none()
    }

    /// The per-response state the handlers share.
    pub(super) fn shared(&self, encoding: AsciiCompatibleEncoding) -> Shared {
        let log = ReportLog::new(self.options.explain, self.options.record_hits);
        let engine = Engine::new(Arc::clone(&self.rules), self.options.site.as_deref(), log.wants_details());
        let sink = Sink::new(self.options.hold_cap, encoding.into());
        Shared {
            engine,
            sink,
            verdicts: Verdicts::new(),
            log,
            styles_blocked: false,
            styles_injected: false,
            hidden: 0,
            scratch: Vec::new(),
        }
    }
}

/// Do the start-tag conditions (`class_matches`, `id_matches`) of `conditions` hold for `el`?
fn start_tag_matches(el: &send::Element<'_, '_>, conditions: Option<&Conditions>) -> bool {
    ClassAndId::default().match_start_tag(el, conditions)
}

/// An element's `class` and `id` attributes, each read once on first need: several rules may test them.
#[derive(Default)]
struct ClassAndId {
    class: Option<Option<String>>,
    id: Option<Option<String>>,
}

impl ClassAndId {
    /// Do the start-tag conditions (`class_matches`, `id_matches`) of `conditions` hold for `el`?
    fn match_start_tag(&mut self, el: &send::Element<'_, '_>, conditions: Option<&Conditions>) -> bool {
        let Some(conditions) = conditions else {
            return true;
        };
        let holds = |regex: &Option<regex::Regex>, name: &str, value: &mut Option<Option<String>>| {
            regex.as_ref().is_none_or(|regex| {
                let value = value.get_or_insert_with(|| el.get_attribute(name));
                value.as_deref().is_some_and(|v| regex.is_match(v))
            })
        };
        holds(&conditions.class_matches, "class", &mut self.class)
            && holds(&conditions.id_matches, "id", &mut self.id)
    }
}

/// Everything the handlers and the sink share for one response.
pub(super) struct Shared {
    pub engine: Engine,
    pub sink: Sink,
    pub verdicts: Verdicts,
    pub log: ReportLog,
    styles_blocked: bool,
    styles_injected: bool,
    /// Open `<template>` elements (their contents are never touched) and open elements removed at their start
    /// tag (their contents are gone): inside either, text is no text for any candidate.
    hidden: usize,
    scratch: Vec<Mark>,
}

/// Locks the shared state; a poisoned lock (a panic elsewhere) still holds consistent enough data to finish.
pub(super) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// lol_html's output sink: forwards to [`Sink`] under the shared lock.
pub(super) struct OutputHandle(pub Arc<Mutex<Shared>>);

impl OutputSink for OutputHandle {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        let mut guard = lock(&self.0);
        let shared = &mut *guard;
        shared.sink.push(chunk, &mut shared.verdicts, &mut shared.log);
    }

    fn set_encoding(&mut self, encoding: AsciiCompatibleEncoding) {
        lock(&self.0).sink.set_encoding(encoding.into());
    }
}

type Handlers = (Cow<'static, Selector>, send::ElementContentHandlers<'static>);

fn on_element<'s>(
    selector: &'s Selector,
    handler: impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static,
) -> (Cow<'s, Selector>, send::ElementContentHandlers<'static>) {
    (Cow::Borrowed(selector), send::ElementContentHandlers::default().element(handler))
}

fn static_element(
    selector: &'static LazyLock<Option<Selector>>,
    handler: impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static,
) -> Option<Handlers> {
    selector.as_ref().map(|s| on_element(s, handler))
}

/// Builds the lol_html rewriter for one response.
pub(super) fn build(
    plan: &Plan,
    shared: &Arc<Mutex<Shared>>,
    encoding: AsciiCompatibleEncoding,
) -> send::HtmlRewriter<'static, OutputHandle> {
    let memory = MemorySettings::new()
        .with_max_allowed_memory_usage(plan.options.memory_limit)
        .with_graceful_bail_out_on_memory_limit_exceeded(true);
    let mut settings = send::Settings::new_send()
        .with_strict(false)
        .with_encoding(encoding)
        .with_memory_settings(memory)
        .with_graceful_bail_out_on_content_handler_error(true)
        .append_bail_out_handler({
            let shared = Arc::clone(shared);
            move |_: &lol_html::errors::RewritingError, _: &mut lol_html::html_content::BailOut<'_>| {
                // Called between tokens: the events queued so far belong to tokens written out already.
                let mut guard = lock(&shared);
                let state = &mut *guard;
                state.sink.flush_events(&mut state.verdicts, &mut state.log);
                state.sink.release_all();
            }
        });
    let mut element_handlers: Vec<(Cow<'_, Selector>, send::ElementContentHandlers<'static>)> = Vec::new();
    if plan.conditional.is_empty() {
        element_handlers.extend(template_handler(shared));
    } else {
        element_handlers.extend(structural_handler(shared, Arc::clone(&plan.held_names)));
    }
    for &index in &plan.removes {
        element_handlers
            .push(on_element(&plan.rules.element_rules[index].selector, remove_handler(plan, shared, index)));
    }
    for &index in &plan.tags {
        element_handlers
            .push(on_element(&plan.rules.element_rules[index].selector, tag_handler(plan, shared, index)));
    }
    element_handlers.extend(indexed_candidates_handler(plan, shared));
    for &index in plan.conditional.iter().filter(|&&index| !plan.indexed[index]) {
        let handler = candidate_handler(plan, shared, index);
        element_handlers.push(on_element(&plan.rules.element_rules[index].selector, handler));
    }
    if plan.clean_links || plan.links_to {
        element_handlers.extend(static_element(&LINKS, link_handler(plan, shared)));
    }
    if let Some(style) = &plan.style {
        element_handlers.extend(style_handlers(shared, style));
    }
    for handler in element_handlers {
        settings = settings.append_element_content_handler(handler);
    }
    if !plan.conditional.is_empty() {
        // Text is read document-wide rather than under the union of the candidate selectors: the engine ignores
        // it while no candidate is undecided, and a union selector would cost selector-VM setup per response.
        let text_shared = Arc::clone(shared);
        let end_shared = Arc::clone(shared);
        let document = send::DocumentContentHandlers::default()
            .text(move |chunk: &mut lol_html::html_content::TextChunk<'_>| {
                let mut guard = lock(&text_shared);
                let state = &mut *guard;
                if state.hidden == 0 {
                    let watermark = state.sink.spill_watermark();
                    state.engine.text(chunk, &mut state.verdicts, watermark);
                    state.sink.mark(NO_TOKEN, state.engine.marks.drain(..));
                }
                Ok(())
            })
            .end(move |_: &mut lol_html::html_content::DocumentEnd<'_>| {
                let mut guard = lock(&end_shared);
                let state = &mut *guard;
                let watermark = state.sink.spill_watermark();
                state.engine.close_all(&mut state.verdicts, watermark);
                state.sink.mark(NO_TOKEN, state.engine.marks.drain(..));
                Ok(())
            });
        settings = settings.append_document_content_handler(document);
    }
    send::HtmlRewriter::new(settings, OutputHandle(Arc::clone(shared)))
}

/// Counts open `<template>` elements (rule handlers do nothing inside them).
fn template_handler(shared: &Arc<Mutex<Shared>>) -> Option<Handlers> {
    let shared = Arc::clone(shared);
    static_element(&TEMPLATE, move |el| {
        hide_contents(&shared, el);
        Ok(())
    })
}

/// The contents of `el` are hidden from the rules (counted in `Shared::hidden`) until its end tag, or the end
/// tag of an ancestor that closes it.
fn hide_contents(shared: &Arc<Mutex<Shared>>, el: &mut send::Element<'_, '_>) {
    if !el.can_have_content() {
        return;
    }
    lock(shared).hidden += 1;
    let end_shared = Arc::clone(shared);
    let closing = el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
        let mut state = lock(&end_shared);
        state.hidden = state.hidden.saturating_sub(1);
        Ok(())
    }));
    if closing.is_err() {
        let mut state = lock(shared);
        state.hidden = state.hidden.saturating_sub(1);
    }
}

/// What the engine's own stack needs from every start tag (with conditional rules): `<template>` counting, the
/// implied end tags of [`super::tree`] (closing, then tracking the element), and the elements `holds` /
/// `holds_none` look for (`held_names`), in the candidates left open once the start tag closed what it implies.
/// Registered first, so the end events it queues precede any begin event of the same tag (and an element a rule
/// removes at its start tag still counts as held by the candidates around it; a `<template>` does not).
fn structural_handler(shared: &Arc<Mutex<Shared>>, held_names: Arc<[Box<str>]>) -> Option<Handlers> {
    let shared = Arc::clone(shared);
    static_element(&EVERY, move |el| {
        let name = el.tag_name();
        let held = held_names.iter().any(|held| **held == *name);
        let involved = tree::involves(&name);
        if !held && !involved {
            return Ok(());
        }
        if name == "template" {
            hide_contents(&shared, el);
        }
        let mut guard = lock(&shared);
        let state = &mut *guard;
        let watermark = state.sink.spill_watermark();
        let position = el.source_location().bytes().start;
        let tracked = involved
            .then(|| {
                state.engine.start_tag(&name, position, el.can_have_content(), &mut state.verdicts, watermark)
            })
            .flatten();
        if held && state.hidden == 0 {
            state.engine.element_inside(&name, position);
        }
        if !state.engine.marks.is_empty() {
            if state.hidden == 0 {
                state.sink.mark(position, state.engine.marks.drain(..));
            } else {
                el.streaming_before(mark_when_written(&shared, std::mem::take(&mut state.engine.marks)));
            }
        }
        drop(guard);
        if let Some(id) = tracked {
            close_on_end_tag(&shared, el, id);
        }
        Ok(())
    })
}

/// Registers the end-tag handler that closes engine entry `id`.
fn close_on_end_tag(shared: &Arc<Mutex<Shared>>, el: &mut send::Element<'_, '_>, id: u32) {
    let end_shared = Arc::clone(shared);
    let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
        close_entry(&end_shared, id, end);
        Ok(())
    }));
}

/// A start tag conditional rules selected, as the engine reads it.
struct SelectedElement<'a, 'r, 't> {
    el: &'a send::Element<'r, 't>,
    /// Its tag name, when the caller knows it already.
    name: Option<&'a str>,
}

impl regions::StartTag for SelectedElement<'_, '_, '_> {
    fn name(&self) -> String {
        self.name.map_or_else(|| self.el.tag_name(), str::to_owned)
    }

    fn class(&self) -> Option<String> {
        self.el.get_attribute("class")
    }

    fn existing_tags(&self) -> Option<String> {
        self.el.get_attribute("data-strainer-tag")
    }

    fn describe(&self) -> String {
        describe(self.el)
    }
}

/// `tag.first-class` or `tag#id`, for explained hits.
fn describe(el: &send::Element<'_, '_>) -> String {
    let mut desc = el.tag_name();
    if let Some(class) = el.get_attribute("class") {
        if let Some(first) = class.split_ascii_whitespace().next() {
            desc.push('.');
            desc.push_str(first);
            return desc;
        }
    }
    if let Some(id) = el.get_attribute("id") {
        desc.push('#');
        desc.push_str(&id);
    }
    desc
}

fn element_hit(
    state: &Shared,
    el: &send::Element<'_, '_>,
    rule: &crate::rules::RuleId,
    action: HitAction,
) -> PendingHit {
    let offset = el.source_location().bytes().start;
    if !state.log.wants_details() {
        return PendingHit {
            rule: rule.clone(),
            action,
            offset,
            element: String::new(),
            excerpt: String::new(),
            score: String::new(),
        };
    }
    let mut element = state.engine.ancestor_path();
    if !element.is_empty() {
        element.push_str(" > ");
    }
    element.push_str(&describe(el));
    let excerpt = start_tag_excerpt(el);
    PendingHit { rule: rule.clone(), action, offset, element, excerpt, score: String::new() }
}

/// What a rule decided at the start tag saw, for explained hits (the text is not known yet): the `class` and
/// `id` attributes, shortened.
fn start_tag_excerpt(el: &send::Element<'_, '_>) -> String {
    let shown: Vec<String> = ["class", "id"]
        .iter()
        .filter_map(|name| {
            // Collapsed, so that a class list written over several lines keeps the explain output one line per hit.
            let value = el.get_attribute(name)?.split_whitespace().collect::<Vec<_>>().join(" ");
            Some(format!("{name}=\"{}\"", super::text::excerpt(&value, 60)))
        })
        .collect();
    shown.join(" ")
}

fn remove_handler(
    plan: &Plan,
    shared: &Arc<Mutex<Shared>>,
    index: usize,
) -> impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static {
    let rules = Arc::clone(&plan.rules);
    let shared = Arc::clone(shared);
    move |el| {
        if !start_tag_matches(el, rules.element_rules[index].when.as_ref()) {
            return Ok(());
        }
        let mut guard = lock(&shared);
        if el.removed() || guard.hidden > 0 {
            return Ok(());
        }
        el.remove();
        let hit = element_hit(&guard, el, &rules.element_rules[index].id, HitAction::Removed);
        record(&mut guard, hit);
        drop(guard);
        hide_contents(&shared, el);
        Ok(())
    }
}

fn tag_handler(
    plan: &Plan,
    shared: &Arc<Mutex<Shared>>,
    index: usize,
) -> impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static {
    let rules = Arc::clone(&plan.rules);
    let shared = Arc::clone(shared);
    move |el| {
        let rule = &rules.element_rules[index];
        let ElementAction::Tag(tags) = &rule.action else {
            return Ok(());
        };
        if !start_tag_matches(el, rule.when.as_ref()) {
            return Ok(());
        }
        let mut guard = lock(&shared);
        if el.removed() || guard.hidden > 0 {
            return Ok(());
        }
        let existing = el.get_attribute("data-strainer-tag");
        let wanted: Vec<&str> = tags.iter().map(|t| &**t).collect();
        let merged = regions::merge_tags(existing.as_deref(), &wanted);
        if existing.as_deref() != Some(merged.as_str()) {
            let _ = el.set_attribute("data-strainer-tag", &merged);
        }
        let hit = element_hit(&guard, el, &rule.id, HitAction::Tagged(wanted.join(" ")));
        record(&mut guard, hit);
        Ok(())
    }
}

fn candidate_handler(
    plan: &Plan,
    shared: &Arc<Mutex<Shared>>,
    index: usize,
) -> impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static {
    let rules = Arc::clone(&plan.rules);
    let shared = Arc::clone(shared);
    move |el| {
        if el.removed() || !el.can_have_content() {
            return Ok(());
        }
        let Some(conditions) = rules.element_rules[index].when.as_ref() else {
            return Ok(());
        };
        if !start_tag_matches(el, Some(conditions)) {
            return Ok(());
        }
        let mut guard = lock(&shared);
        if guard.hidden > 0 {
            return Ok(());
        }
        add_candidate_rules(&shared, &mut guard, el, &[index], None);
        Ok(())
    }
}

/// The conditional rules of [`crate::rules::StartTagIndex`]: one lookup by tag name per element finds them all,
/// in rule order; the `class` and `id` attributes their start-tag conditions test are read once. `None` when no
/// rule in force is indexed.
fn indexed_candidates_handler(plan: &Plan, shared: &Arc<Mutex<Shared>>) -> Option<Handlers> {
    if !plan.indexed.iter().any(|&indexed| indexed) {
        return None;
    }
    let rules = Arc::clone(&plan.rules);
    let indexed = Arc::clone(&plan.indexed);
    let shared = Arc::clone(shared);
    // The rules an element selects, reused from element to element.
    let mut selected: Vec<usize> = Vec::new();
    static_element(&EVERY, move |el| {
        if el.removed() || !el.can_have_content() {
            return Ok(());
        }
        let name = el.tag_name();
        selected.clear();
        let mut attributes = ClassAndId::default();
        for entry in rules.index().start_tags.rules_for(&name) {
            if selected.last() != Some(&entry.rule)
                && indexed[entry.rule]
                && entry.present.iter().all(|a| el.has_attribute(a))
                && attributes.match_start_tag(el, rules.element_rules[entry.rule].when.as_ref())
            {
                selected.push(entry.rule);
            }
        }
        if selected.is_empty() {
            return Ok(());
        }
        let mut guard = lock(&shared);
        if guard.hidden == 0 {
            add_candidate_rules(&shared, &mut guard, el, &selected, Some(&name));
        }
        Ok(())
    })
}

/// Adds conditional rules `rules` to the element `el` (its tag name when known), making it a candidate if it is
/// not one yet.
fn add_candidate_rules(
    shared: &Arc<Mutex<Shared>>,
    guard: &mut MutexGuard<'_, Shared>,
    el: &mut send::Element<'_, '_>,
    rules: &[usize],
    name: Option<&str>,
) {
    let state = &mut **guard;
    let position = el.source_location().bytes().start;
    let opened = state.engine.add_rules(rules, position, &SelectedElement { el, name });
    if opened.is_some() {
        // The callers add rules only while `hidden` is 0.
        state.sink.mark(position, state.engine.marks.drain(..));
    }
    if let Some(Opened::New(id)) = opened {
        close_on_end_tag(shared, el, id);
    }
}

fn close_entry(shared: &Arc<Mutex<Shared>>, id: u32, end: &mut EndTag<'_>) {
    let mut guard = lock(shared);
    let state = &mut *guard;
    let name = end.name();
    let watermark = state.sink.spill_watermark();
    let mut before = std::mem::take(&mut state.scratch);
    let own = state.engine.close_entry(id, &name, &mut state.verdicts, watermark, &mut before);
    if own == Some(false) {
        before.append(&mut state.engine.marks);
    }
    if !before.is_empty() {
        if state.hidden == 0 {
            state.sink.mark(NO_TOKEN, before.drain(..));
        } else {
            end.streaming_before(mark_when_written(shared, std::mem::take(&mut before)));
        }
    }
    if own == Some(true) && !state.engine.marks.is_empty() {
        // Its own end event, with the end event of a candidate that waited for it (after it) or whose wait its
        // end cut short (before it), in order.
        // An end tag is written as it came (nothing renames one) unless it was removed: the end-tag handler of
        // an element removed at its start tag that this tag closes implicitly ran first (inner elements' run
        // first) and removed this tag too.
        if state.hidden == 0 && !end.removed() && !others_write_around(&name) {
            let ahead = end.source_location().bytes().len();
            for mark in state.engine.marks.drain(..) {
                state.sink.mark_ahead(ahead, mark);
            }
        } else {
            end.streaming_after(mark_when_written(shared, std::mem::take(&mut state.engine.marks)));
        }
    }
    state.engine.marks.clear();
    state.scratch = before;
}

/// Whether another handler may insert content around the end tag `name`: the tag styles go before `</head>`
/// ([`style_handlers`]). Elsewhere the end of an end tag is its start plus its length in the input.
fn others_write_around(name: &str) -> bool {
    name == "head"
}

/// A streaming handler that writes nothing and queues `marks` where lol_html runs it: at the offset of the
/// content it stands for, if lol_html writes that content at all.
fn mark_when_written(
    shared: &Arc<Mutex<Shared>>,
    marks: impl IntoIterator<Item = Mark> + Send + 'static,
) -> Box<dyn StreamingHandler + Send> {
    let shared = Arc::clone(shared);
    Box::new(move |_: &mut StreamingHandlerSink<'_>| {
        lock(&shared).sink.mark(NO_TOKEN, marks);
        Ok(())
    })
}

/// Records a hit found by a start-tag handler, after the events of earlier tokens (written out already): hits
/// are reported in the order the output changed.
fn record(state: &mut Shared, hit: PendingHit) {
    state.sink.sync(hit.offset, &mut state.verdicts, &mut state.log);
    state.log.record(hit);
}

fn link_handler(
    plan: &Plan,
    shared: &Arc<Mutex<Shared>>,
) -> impl FnMut(&mut send::Element<'_, '_>) -> lol_html::HandlerResult + Send + 'static {
    let rules = Arc::clone(&plan.rules);
    let shared = Arc::clone(shared);
    let site = plan.options.site.clone();
    let (clean_links, links_to) = (plan.clean_links, plan.links_to);
    move |el| {
        if el.removed() {
            return Ok(());
        }
        let Some(raw) = el.get_attribute("href") else {
            return Ok(());
        };
        // Attribute values come raw (entities as written): decode before reading the URL.
        let href = html_escape::decode_html_entities(&raw);
        let mut guard = lock(&shared);
        let state = &mut *guard;
        if state.hidden > 0 {
            return Ok(());
        }
        let wants_hosts = links_to && state.engine.wants_links();
        if !clean_links && !wants_hosts {
            return Ok(());
        }
        let inspected = rules.links.inspect(&href, site.as_deref());
        if wants_hosts {
            // `area` is void: only an `a` holds link text.
            let anchor = el.can_have_content();
            let position = el.source_location().bytes().start;
            let destination = inspected.destination_host.as_deref();
            if let Some(id) = state.engine.link(&href, destination, (position, anchor)) {
                let end_shared = Arc::clone(&shared);
                let _ = el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
                    lock(&end_shared).engine.link_end(id);
                    Ok(())
                }));
            }
        }
        let Some(cleaned) = inspected.cleaned.filter(|_| clean_links) else {
            return Ok(());
        };
        // lol_html writes the value as given (only `"` escaped): re-escape `&` so `&amp;` stays valid.
        let _ = el.set_attribute("href", &regions::escape_attribute(&cleaned.url));
        state.log.link_cleaned();
        let details = state.log.wants_details();
        for rule in cleaned.rules {
            let mut hit = element_hit(state, el, &rule, HitAction::LinkCleaned(cleaned.url.clone()));
            if details {
                hit.excerpt = format!(
                    "{} -> {}",
                    super::text::excerpt(&href, 38),
                    super::text::excerpt(&cleaned.url, 38)
                );
            }
            record(state, hit);
        }
        Ok(())
    }
}

fn style_handlers(shared: &Arc<Mutex<Shared>>, style: &Arc<str>) -> Vec<Handlers> {
    let mut handlers = Vec::new();
    let meta_shared = Arc::clone(shared);
    handlers.extend(static_element(&CSP_META, move |el| {
        let is_csp = el
            .get_attribute("http-equiv")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("content-security-policy"));
        if is_csp {
            let content = el.get_attribute("content").unwrap_or_default();
            if styles::forbids_inline_style(&html_escape::decode_html_entities(&content)) {
                lock(&meta_shared).styles_blocked = true;
            }
        }
        Ok(())
    }));
    // Content inserted around an end tag: `others_write_around` must name it.
    let head_shared = Arc::clone(shared);
    let head_style = Arc::clone(style);
    handlers.extend(static_element(&HEAD, move |el| {
        let end_shared = Arc::clone(&head_shared);
        let style = Arc::clone(&head_style);
        let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            if claim_style_injection(&end_shared) {
                end.before(&style, ContentType::Html);
            }
            Ok(())
        }));
        Ok(())
    }));
    // Pages that leave `</head>` implied (common in minified HTML) get the style just before `<body>`, which
    // browsers still parse into the head.
    let body_shared = Arc::clone(shared);
    let body_style = Arc::clone(style);
    handlers.extend(static_element(&BODY, move |el| {
        if claim_style_injection(&body_shared) {
            el.before(&body_style, ContentType::Html);
        }
        Ok(())
    }));
    handlers
}

/// Whether the style may be injected now: not forbidden by the page's CSP and not injected yet (then it counts as
/// injected).
fn claim_style_injection(shared: &Mutex<Shared>) -> bool {
    let mut state = lock(shared);
    let claim = !state.styles_blocked && !state.styles_injected;
    state.styles_injected |= claim;
    claim
}
