//! Chunk invariance: the output must not depend on where the input was split.

mod support {
    pub mod rules_builder;
}

use std::path::PathBuf;

use strainer::rewrite::RewriteOptions;
use support::rules_builder::*;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine");
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture directory {} is missing: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("fixture entry").path();
            let bytes = std::fs::read(&path).expect("fixture reads");
            (path.display().to_string(), bytes)
        })
        .collect();
    pages.sort();
    let (sjis, _, _) =
        encoding_rs::SHIFT_JIS.encode("<meta charset=shift_jis><p>Deal: 日本語</p><p>Related: 表示</p>");
    pages.push(("shift_jis (built)".into(), sjis.into_owned()));
    let (w1252, _, _) =
        encoding_rs::WINDOWS_1252.encode("<meta charset=windows-1252><p>Deal: café</p><li>Related: “q”");
    pages.push(("windows-1252 (built)".into(), w1252.into_owned()));
    pages
}

fn check_every_split(rules: &std::sync::Arc<strainer::rules::RuleSet>, options: &RewriteOptions) {
    for (name, page) in fixtures() {
        let (whole, report) = rewrite(rules, options, &page);
        assert!(!report.bailed_out, "{name}");
        for cut in 0..=page.len() {
            let (split, _) = rewrite_at(rules, options, &page, &[cut]);
            assert!(
                split == whole,
                "{name}: split at {cut} differs:\n{}\nvs\n{}",
                String::from_utf8_lossy(&split),
                String::from_utf8_lossy(&whole)
            );
        }
        let bytewise = rewrite_in_chunks(rules, options, &page, 1);
        assert!(bytewise == whole, "{name}: 1-byte chunks differ:\n{}", String::from_utf8_lossy(&bytewise));
        let mut rng = Xorshift(0x5eed_1234_u64 ^ page.len() as u64);
        for round in 0..50 {
            let cuts = rng.cuts(page.len(), 1 + round % 12);
            assert!(rewrite_at(rules, options, &page, &cuts).0 == whole, "{name}: cuts {cuts:?} differ");
        }
    }
}

#[test]
fn fixtures_are_chunk_invariant_under_representative_rules() {
    check_every_split(&representative(), &options());
}

#[test]
fn fixtures_are_chunk_invariant_with_explain_and_a_small_cap() {
    let mut opts = options();
    opts.explain = true;
    opts.hold_cap = 4096;
    check_every_split(&representative(), &opts);
}

#[test]
fn fixture_article_golden_output() {
    let page =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine/article.html"))
            .expect("article fixture reads");
    let (out, report) = rewrite(&representative(), &options(), &page);
    let out = String::from_utf8(out).expect("utf-8");
    for gone in [
        "Widget Pro",
        "Deal: today only",
        "cheap cable",
        "Advertisement",
        "Deal: quoted promo",
        "Our pick:",
        "Deal: nested",
        ">gone<",
    ] {
        assert!(!out.contains(gone), "{gone:?} should be removed:\n{out}");
    }
    for kept in [
        "Paragraph after an unclosed promo.",
        "Deal: inside script",
        "Deal: in a comment",
        "Deal: in a textarea",
        "Two-b",
        "Three",
        "Ordinary item",
        "Opening paragraph",
        "&amp;b=2",
    ] {
        assert!(out.contains(kept), "{kept:?} should be kept:\n{out}");
    }
    assert!(out.contains("<p data-strainer-tag=\"related\">Related&#58;"), "{out}");
    // Class-only conditions are decided at the start tag: lol_html appends the attribute.
    assert!(out.contains("<div class=\"related-posts\" data-strainer-tag=\"related\">"), "{out}");
    assert!(out.contains("<li data-strainer-tag=\"related\">See also:"), "{out}");
    assert_eq!(out.matches("<!--").count(), 1, "only the page's own comment remains:\n{out}");
    assert_eq!(report.spilled, 0);
}
