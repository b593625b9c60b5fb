//! Differential check of the streaming engine against the reference ([`super::reference`]): the same page, the
//! same rules, the engine fed at given cut points; every element whose outcome differs, and the page text after
//! the rewrite, compared.
//!
//! Where a browser's tree and the tags as written legitimately disagree, the divergence is put in a named
//! category instead of failing; each is recognised from the page itself, never from a list of pages:
//! - [`MISNESTED`]: html5ever reported a tree-construction error, i.e. it repaired mis-nested or malformed markup
//!   (adoption agency, foster parenting, stray end tags), which a streaming view of the tags cannot follow;
//! - [`QUIRKS`]: the page is parsed in quirks mode (no doctype, or a legacy one), where the tree differs in ways
//!   such as `<table>` no longer closing an open `<p>`;
//! - [`UNDECODABLE`]: the page does not decode in the charset it declares, so the engine passes it through raw
//!   from the first bad byte (by design: it never corrupts such a page), where the reference read it as UTF-8.

use std::sync::Arc;

use strainer::rewrite::{RewriteOptions, Rewriter};
use strainer::rules::RuleSet;

use super::reference::{engine_outcomes, page_text, Reference};

/// Category: markup repaired by the tree builder.
pub const MISNESTED: &str = "mis-nested markup repaired by the tree builder";
/// Category: quirks-mode parsing.
pub const QUIRKS: &str = "quirks-mode page";
/// Category: the page does not decode in its declared charset.
pub const UNDECODABLE: &str = "undecodable in its declared charset";

/// One difference between the engine and the reference.
#[derive(Debug)]
pub struct Divergence {
    /// What differs, readable.
    pub what: String,
    /// The named category it falls in, if any (`None`: an engine bug).
    pub category: Option<&'static str>,
}

/// Runs the engine on `page` cut at `cuts` and compares it with the reference.
pub fn compare(rules: &Arc<RuleSet>, site: Option<&str>, page: &str, cuts: &[usize]) -> Vec<Divergence> {
    let options = RewriteOptions {
        site: site.map(str::to_owned),
        record_hits: true,
        hold_cap: usize::MAX / 4,
        memory_limit: 1 << 30,
        ..RewriteOptions::default()
    };
    let mut rewriter = Rewriter::new(Arc::clone(rules), options);
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&page.len())) {
        let cut = cut.clamp(from, page.len());
        out.extend_from_slice(&rewriter.write(&page.as_bytes()[from..cut]));
        from = cut;
    }
    let (tail, report) = rewriter.finish();
    out.extend_from_slice(&tail);
    assert!(!report.bailed_out && report.spilled == 0, "the engine gave up: {report:?}");

    let reference = Reference::evaluate(rules, site, page);
    let category = if report.undecodable { Some(UNDECODABLE) } else { category_of(&reference) };
    let want = reference.effective(&reference.outcomes);
    let got = reference.effective(&engine_outcomes(&report));
    let mut divergences = Vec::new();
    let describe = |at: usize| element_at(page, at);
    for (key, outcome) in &want {
        if got.get(key) != Some(outcome) {
            divergences.push(Divergence {
                what: format!(
                    "{} at {}: reference {:?}, engine {:?}",
                    describe(key.0),
                    key.0,
                    outcome,
                    got.get(key)
                ),
                category,
            });
        }
    }
    for (key, outcome) in &got {
        if !want.contains_key(key) {
            let unknown = if reference.knows(key.0) { "" } else { " (no such element in the tree)" };
            divergences.push(Divergence {
                what: format!(
                    "{} at {}{unknown}: reference None, engine {outcome:?}",
                    describe(key.0),
                    key.0
                ),
                category,
            });
        }
    }
    let output = String::from_utf8_lossy(&out);
    let text = page_text(&output);
    if text != reference.text_after {
        let at = text.chars().zip(reference.text_after.chars()).take_while(|(a, b)| a == b).count();
        let around = |s: &str| s.chars().skip(at.saturating_sub(60)).take(140).collect::<String>();
        divergences.push(Divergence {
            what: format!(
                "page text differs at character {at}:\n   engine: {}\nreference: {}",
                around(&text),
                around(&reference.text_after)
            ),
            category,
        });
    }
    divergences
}

/// The named category every divergence on this page falls in, if any.
fn category_of(reference: &Reference) -> Option<&'static str> {
    if reference.parse_errors.iter().any(|e| is_tree_construction_error(e)) {
        Some(MISNESTED)
    } else if reference.quirks {
        Some(QUIRKS)
    } else {
        None
    }
}

/// html5ever's tree-construction errors (its tokenizer errors, such as a bad character reference, change no
/// structure).
fn is_tree_construction_error(error: &str) -> bool {
    !(error.starts_with("Bad character")
        || error.starts_with("Unexpected character")
        || error.contains("character reference")
        || error.starts_with("Saw ")
        || error.starts_with("Unacknowledged self-closing tag")
        || error.contains("attribute")
        || error.contains("DOCTYPE")
        || error.contains("doctype"))
}

/// The start tag at `offset`, shortened, for messages.
fn element_at(page: &str, offset: usize) -> String {
    let rest = page.get(offset..).unwrap_or("");
    let end = rest.find('>').map_or(rest.len(), |e| e + 1).min(80);
    let mut cut = end;
    while !rest.is_char_boundary(cut) {
        cut -= 1;
    }
    rest[..cut].to_owned()
}
