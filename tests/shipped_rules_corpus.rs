//! The shipped rules on the 62 real pages of `../shared/corpus`: no article text may be lost.
//!
//! For every page (rewritten as served from its site, as the corpus README names it), each paragraph of
//! `expected/<name>.html` (the article as Readability extracts it) whose text is present in the original page
//! must still be present after rewriting with the shipped rules, except blocks listed in `REAL_PROMOS`. Every
//! removal is listed in `REMOVALS` with why it is right: a new removal, or one gone missing, fails the test until
//! the list says why. Tags and cleaned links change no text; their counts per page are printed
//! (`cargo test --test shipped_rules_corpus -- --nocapture`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lol_html::html_content::TextType;
use lol_html::{doc_text, element, text, HtmlRewriter, Settings};
use strainer::rewrite::{RewriteOptions, Rewriter};

/// Expected-article paragraphs that really are promos and that the shipped rules may remove: (page, text prefix).
const REAL_PROMOS: &[(&str, &str)] = &[
    // The review's product card ("Key specs … From $610.00 Buy Now"), which Readability kept as a paragraph.
    ("engadget", "from $610.00"),
];

/// Every removal the shipped rules make on the corpus: (page, rule, elements removed, why that is right). A
/// wrapper around a removed promo is judged on what is left in it (nothing), so it stays, empty, and is not
/// counted.
const REMOVALS: &[(&str, &str, u32, &str)] = &[
    ("ars-1", "promo-commerce-label", 1, "the \"Sponsored Stories\" header of an ad unit"),
    (
        "bbc-1",
        "promo-commerce-label",
        3,
        "the \"Advertisement\" ad slots (`bbccom_advert`), each a label and the ad network's link",
    ),
    ("breitbart", "promo-commerce-label", 4, "Taboola \"Sponsored Links\" / \"Promoted Links\" headers"),
    ("breitbart", "promo-group-heading", 4, "the Taboola unit around those headers: all that is left of it is \"by Taboola\" and its heading"),
    ("bug-1255978", "promo-commerce-label", 4, "Taboola \"Sponsored Links\" / \"Promoted Links\" headers"),
    ("bug-1255978", "promo-group-heading", 4, "the Taboola unit around those headers: all that is left of it is \"by Taboola\" and its heading"),
    ("cnet", "promo-commerce-label", 2, "Taboola \"Sponsored Links\" / \"Promoted Links\" headers"),
    ("cnet", "promo-group-heading", 2, "the Taboola unit around those headers: all that is left of it is \"by Taboola\" and its heading"),
    (
        "engadget",
        "promo-product-card",
        2,
        "the review's product card (specs, \"From $610.00\", \"Buy Now\"), twice (its wrappers then hold nothing)",
    ),
    (
        "engadget",
        "promo-name-left",
        1,
        "the row that held that card's price and \"Buy Now\" button in its wide layout, left with the product's name",
    ),
    ("heise", "promo-commerce-label-box", 1, "the \"Anzeige\" (advertisement) teaser list"),
    (
        "liberation-1",
        "promo-own-shop-box",
        2,
        "the newspaper's own shop: the \"La boutique de Libé\" sidebar (framed front pages at 39 €) and the \"Libé boutique\" footer teaser",
    ),
    ("lazy-image-2", "promo-call-to-action", 1, "a \"Buy on Amazon\" button line"),
    (
        "lazy-image-2",
        "promo-commerce-label-box",
        2,
        "the deals inside the \"Popular Deals on The Inventory\" box ($45 Xbox Game Pass from Amazon, commission \
         note; its heading goes with promo-group-heading) and the \"Friday's Best Deals: …\" teaser for The Inventory in the post",
    ),
    (
        "lazy-image-2",
        "promo-group-heading",
        2,
        "the \"Popular Deals on The Inventory\" heading once the deals under it are gone, and the box around it",
    ),
    (
        "lazy-image-2",
        "promo-image-price",
        1,
        "the $45 Xbox Game Pass card inside that box (picture, price, Amazon link)",
    ),
    ("msn", "promo-commerce-label", 8, "\"Sponsored Links\" / \"Promoted Links\" ad unit headers"),
    ("msn", "promo-group-heading", 5, "the Taboola unit around those headers: all that is left of it is \"by Taboola\" and its heading"),
    (
        "msn",
        "promo-scored-pitch",
        1,
        "a card of that Taboola unit pitching a console (\"$59.99 NES Classic … you can buy one online\")",
    ),
    (
        "videos-2",
        "promo-image-price",
        2,
        "the magazine's own subscription offers (cover picture, \"à partir de 8€\", link to its subscription shop)",
    ),
    (
        "webmd-1",
        "promo-commerce-label-box",
        1,
        "the footer's \"Health Solutions From Our Sponsors\" box of sponsors' links",
    ),
    ("yahoo-2", "promo-commerce-label", 2, "two \"Sponsored\" ad cards (IFC Markets, Flonase)"),
];

/// The site each corpus page was served from, read from the corpus README's table (`| name | site | …`).
fn sites(corpus: &Path) -> std::collections::HashMap<String, String> {
    let readme = std::fs::read_to_string(corpus.join("README.md")).expect("corpus README readable");
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", name, site, ..] if *name != "name" && site.contains('.') => {
                    Some(((*name).to_owned(), (*site).to_owned()))
                }
                _ => None,
            }
        })
        .collect()
}

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("pages").is_dir() && dir.join("expected").is_dir(),
        "missing corpus at {}: the shared corpus must sit beside the checkout (see DEVELOPERS guide)",
        dir.display()
    );
    dir
}

fn normalise(raw: &str) -> String {
    let decoded = html_escape::decode_html_entities(raw);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// All visible text of a document (script, style and other raw text left out), normalised.
fn visible_text(html: &[u8]) -> String {
    let text = Arc::new(Mutex::new(String::new()));
    let sink_text = Arc::clone(&text);
    let mut rewriter = HtmlRewriter::new(
        Settings::new().append_document_content_handler(doc_text!(move |chunk| {
            if chunk.text_type() == TextType::Data {
                sink_text.lock().expect("test lock").push_str(chunk.as_str());
            }
            Ok(())
        })),
        |_: &[u8]| {},
    );
    rewriter.write(html).expect("corpus page parses");
    rewriter.end().expect("corpus page ends");
    let raw = text.lock().expect("test lock").clone();
    normalise(&raw)
}

/// The normalised text of every `<p>` in an expected-article file.
fn paragraphs(html: &[u8]) -> Vec<String> {
    let paras = Arc::new(Mutex::new(Vec::<String>::new()));
    let (open, add) = (Arc::clone(&paras), Arc::clone(&paras));
    let mut rewriter = HtmlRewriter::new(
        Settings::new()
            .append_element_content_handler(element!("p", move |_| {
                open.lock().expect("test lock").push(String::new());
                Ok(())
            }))
            .append_element_content_handler(text!("p", move |chunk| {
                if let Some(last) = add.lock().expect("test lock").last_mut() {
                    last.push_str(chunk.as_str());
                }
                Ok(())
            })),
        |_: &[u8]| {},
    );
    rewriter.write(html).expect("expected page parses");
    rewriter.end().expect("expected page ends");
    let list = paras.lock().expect("test lock").clone();
    list.iter().map(|p| normalise(p)).filter(|p| !p.is_empty()).collect()
}

#[test]
fn shipped_rules_keep_every_article_paragraph_of_the_corpus() {
    let corpus = corpus_dir();
    let (rules, _warnings) =
        strainer::rules::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules")))
            .unwrap_or_else(|errors| panic!("shipped rules do not load: {errors:#?}"));
    let rules = Arc::new(rules);
    let mut pages: Vec<PathBuf> = std::fs::read_dir(corpus.join("pages"))
        .expect("corpus pages readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 62, "the corpus README promises 62 pages");

    let sites = sites(&corpus);
    let mut lost = Vec::new();
    let mut removals: std::collections::BTreeMap<(String, String), u32> = std::collections::BTreeMap::new();
    let (mut total_removed, mut total_tagged, mut total_links) = (0, 0, 0);
    for page in &pages {
        let name = page.file_stem().and_then(|s| s.to_str()).expect("page name");
        let input = std::fs::read(page).expect("page readable");
        let expected =
            std::fs::read(corpus.join("expected").join(format!("{name}.html"))).expect("expected file");

        let site = sites.get(name).unwrap_or_else(|| panic!("the corpus README names no site for {name}"));
        let options =
            RewriteOptions { site: Some(site.clone()), record_hits: true, ..RewriteOptions::default() };
        let mut rewriter = Rewriter::new(Arc::clone(&rules), options);
        let mut output = Vec::with_capacity(input.len());
        for chunk in input.chunks(16 * 1024) {
            output.extend_from_slice(&rewriter.write(chunk));
        }
        let (tail, report) = rewriter.finish();
        output.extend_from_slice(&tail);

        let before = visible_text(&input);
        let after = visible_text(&output);
        let (mut comparable, mut kept) = (0, 0);
        for para in paragraphs(&expected) {
            if !before.contains(&para) {
                continue; // Readability changed this paragraph's text; it cannot be compared.
            }
            comparable += 1;
            if after.contains(&para) {
                kept += 1;
            } else if !REAL_PROMOS.iter().any(|(p, prefix)| *p == name && para.starts_with(prefix)) {
                lost.push(format!("{name}: {}", para.chars().take(120).collect::<String>()));
            }
        }
        println!(
            "{name:32} removed={:3} tagged={:3} links_cleaned={:4} paragraphs kept {kept}/{comparable}",
            report.removed, report.tagged, report.links_cleaned
        );
        for hit in report.hits.iter().filter(|hit| hit.action == strainer::rewrite::HitAction::Removed) {
            *removals.entry((name.to_owned(), hit.rule.as_str().to_owned())).or_default() += 1;
        }
        total_removed += report.removed;
        total_tagged += report.tagged;
        total_links += report.links_cleaned;
    }
    println!("total: removed={total_removed} tagged={total_tagged} links_cleaned={total_links}");
    assert!(lost.is_empty(), "article paragraphs lost by the shipped rules:\n{}", lost.join("\n"));
    let listed: std::collections::BTreeMap<(String, String), u32> = REMOVALS
        .iter()
        .map(|(page, rule, count, _why)| (((*page).to_owned(), (*rule).to_owned()), *count))
        .collect();
    assert_eq!(removals, listed, "removals on the corpus differ from the justified list in REMOVALS");
}
