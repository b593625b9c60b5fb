//! Read-only lol_html passes over a labelled page: numbering the labelled elements, and what each looks like in
//! the rewriter's input and output (present, tags, `href`, text).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use lol_html::html_content::{Comment, Element, EndTag, TextChunk};
use lol_html::{doc_comments, doc_text, element, rewrite_str, RewriteStrSettings};

use super::page::{SPLICE_END, SPLICE_START};
use super::{Expectation, Label};

/// The attribute the numbering pass adds to every labelled element.
const NUMBER_ATTRIBUTE: &str = "data-eval-n";

/// Where an element sits relative to the labelled ones (for judging hits on it).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Context {
    /// The element's own label, when it has one.
    pub label: Option<usize>,
    /// Some ancestor is labelled `remove`.
    pub inside_remove: bool,
    /// The innermost ancestor labelled `remove`: its label number.
    pub enclosing_remove: Option<usize>,
    /// Some ancestor is labelled `related`.
    pub inside_related: bool,
    /// The element is part of the labelled content (always, unless the page was spliced into a corpus page).
    pub counted: bool,
}

/// What a labelled element looks like in one document.
#[derive(Clone, Debug, Default)]
pub(super) struct Seen {
    /// Its `data-strainer-tag` attribute.
    pub tags: Option<String>,
    /// Its `href` attribute.
    pub href: Option<String>,
    /// Its text, whitespace collapsed.
    pub text: String,
}

/// What a survey found: each labelled element by number, and (when asked) each element's context by offset.
pub(super) type Survey = (HashMap<usize, Seen>, HashMap<usize, Context>);

/// Numbers every labelled element of `html` and reads its label. Returns the numbered page and the labels.
pub(super) fn number_labels(html: &str, spliced: bool) -> Result<(String, Vec<Label>), String> {
    let labels: Rc<RefCell<Vec<Label>>> = Rc::default();
    let problems: Rc<RefCell<Vec<String>>> = Rc::default();
    let counting = Rc::new(RefCell::new(!spliced));
    let settings =
        splice_aware_settings(&counting).append_element_content_handler(element!("[data-label]", {
            let labels = Rc::clone(&labels);
            let problems = Rc::clone(&problems);
            let counting = Rc::clone(&counting);
            move |el: &mut Element<'_, '_>| {
                if !*counting.borrow() {
                    // A corpus page's own `data-label` attributes (some sites use the name) are no labels.
                    return Ok(());
                }
                let number = labels.borrow().len();
                match read_label(el, number) {
                    Ok(label) => labels.borrow_mut().push(label),
                    Err(message) => problems.borrow_mut().push(message),
                }
                el.set_attribute(NUMBER_ATTRIBUTE, &number.to_string())?;
                Ok(())
            }
        }));
    let numbered = rewrite_str(html, settings).map_err(|err| format!("cannot parse the page: {err}"))?;
    let problems = problems.take();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok((numbered, labels.take()))
}

/// Reads the label attributes of one element.
fn read_label(el: &Element<'_, '_>, number: usize) -> Result<Label, String> {
    let at = || format!("<{} data-label=…> (labelled element #{number})", el.tag_name());
    let family = el.get_attribute("data-family").ok_or_else(|| format!("{}: no data-family", at()))?;
    let label = el.get_attribute("data-label").unwrap_or_default();
    let expectation = match label.as_str() {
        "remove" => Expectation::Removed,
        "related" => Expectation::Tagged,
        "keep" => Expectation::Kept,
        "link" => Expectation::Href(
            el.get_attribute("data-expect-href")
                .ok_or_else(|| format!("{}: a link label needs data-expect-href", at()))?,
        ),
        other => return Err(format!("{}: unknown label {other:?} (remove, related, link, keep)", at())),
    };
    let excerpt = ["href", "class"]
        .iter()
        .find_map(|name| el.get_attribute(name).map(|value| format!("{name}={value:?}")))
        .unwrap_or_default();
    Ok(Label { number, family, expectation, element: format!("<{} {excerpt}>", el.tag_name()) })
}

/// Settings of a read-only pass that keeps `counting` true between the splice comments (see [`SPLICE_START`]).
fn splice_aware_settings<'h>(counting: &Rc<RefCell<bool>>) -> RewriteStrSettings<'h, 'static> {
    let counting = Rc::clone(counting);
    RewriteStrSettings::new().with_strict(false).append_document_content_handler(doc_comments!(
        move |comment: &mut Comment<'_>| {
            let text = format!("<!--{}-->", comment.text());
            if text == SPLICE_START {
                *counting.borrow_mut() = true;
            } else if text == SPLICE_END {
                *counting.borrow_mut() = false;
            }
            Ok(())
        }
    ))
}

/// Open labelled elements while a pass runs: their numbers, and the state shared by the handlers.
#[derive(Default)]
struct Walk {
    open: Vec<usize>,
    seen: HashMap<usize, Seen>,
    contexts: HashMap<usize, Context>,
    unclosed: bool,
}

/// Surveys a numbered document: each labelled element as it appears, and (when `labels` is given) the context of
/// every element by start-tag offset.
pub(super) fn survey(html: &str, labels: Option<&[Label]>, spliced: bool) -> Result<Survey, String> {
    let walk: Rc<RefCell<Walk>> = Rc::default();
    let counting = Rc::new(RefCell::new(!spliced));
    let labels: Rc<Vec<Label>> = Rc::new(labels.map(<[Label]>::to_vec).unwrap_or_default());
    let settings = splice_aware_settings(&counting)
        .append_element_content_handler(element!("*", {
            let walk = Rc::clone(&walk);
            let counting = Rc::clone(&counting);
            let labels = Rc::clone(&labels);
            move |el: &mut Element<'_, '_>| {
                enter(el, &walk, &labels, *counting.borrow());
                Ok(())
            }
        }))
        .append_document_content_handler(doc_text!({
            let walk = Rc::clone(&walk);
            move |chunk: &mut TextChunk<'_>| {
                let mut walk = walk.borrow_mut();
                let Walk { open, seen, .. } = &mut *walk;
                for number in open.iter() {
                    seen.entry(*number).or_default().text.push_str(chunk.as_str());
                }
                Ok(())
            }
        }));
    rewrite_str(html, settings).map_err(|err| format!("cannot parse the page: {err}"))?;
    let walk = walk.take();
    if walk.unclosed || !walk.open.is_empty() {
        return Err(
            "a labelled element has no end tag (labelled elements must be closed explicitly)".to_owned()
        );
    }
    let mut seen = walk.seen;
    for entry in seen.values_mut() {
        let decoded = html_escape::decode_html_entities(&entry.text).into_owned();
        entry.text = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    Ok((seen, walk.contexts))
}

/// One start tag: its context (when labels are known), and the start of a labelled element.
fn enter(el: &mut Element<'_, '_>, walk: &Rc<RefCell<Walk>>, labels: &[Label], counted: bool) {
    let number = el.get_attribute(NUMBER_ATTRIBUTE).and_then(|n| n.parse::<usize>().ok());
    let mut state = walk.borrow_mut();
    if !labels.is_empty() {
        let mut context = Context { label: number, counted, ..Context::default() };
        for open in &state.open {
            match labels.get(*open).map(|label| &label.expectation) {
                Some(Expectation::Removed) => {
                    context.inside_remove = true;
                    context.enclosing_remove = Some(*open);
                }
                Some(Expectation::Tagged) => context.inside_related = true,
                _ => {}
            }
        }
        state.contexts.insert(el.source_location().bytes().start, context);
    }
    let Some(number) = number else { return };
    state.seen.insert(
        number,
        Seen {
            tags: el.get_attribute("data-strainer-tag"),
            href: el.get_attribute("href"),
            text: String::new(),
        },
    );
    if !el.can_have_content() {
        return;
    }
    state.open.push(number);
    let closer = Rc::clone(walk);
    let registered = el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
        let mut state = closer.borrow_mut();
        if state.open.pop() != Some(number) {
            state.unclosed = true;
        }
        Ok(())
    }));
    if registered.is_err() {
        state.open.pop();
    }
}
