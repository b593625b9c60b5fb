//! The 62 real pages of `../shared/corpus`: untouched under an empty rule set and under active rules that match
//! nothing (the whole engine runs, nothing may change), chunk-invariant under a representative one.

mod support {
    pub mod rules_builder;
}

use std::path::PathBuf;

use support::rules_builder::*;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pages");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the corpus is missing: {} ({e}); it is expected next to the crate in ../shared/corpus",
            dir.display()
        )
    });
    let mut pages: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), bytes)
        })
        .filter(|(name, _)| name.ends_with(".html"))
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 62, "the corpus should hold 62 pages in {}", dir.display());
    pages
}

#[test]
fn empty_rules_leave_every_page_byte_identical() {
    let rules = set(vec![]);
    for (name, page) in corpus() {
        assert!(rewrite_in_chunks(&rules, &options(), &page, 16 * 1024) == page, "{name} changed");
    }
}

/// Rules of every kind the engine runs (conditional text, length and link rules on the shipped rules' candidate
/// kinds, class rules, unconditional removes, link cleaning and unwrapping) that match nothing in the corpus.
const RULES_MATCHING_NOTHING: &str = r#"
[[remove]]
id = "never-pitch"
selector = "p, li, h2, h3, dt, aside, figure, section, div[class]"
[remove.when]
own_text_matches = '^zq never matches zq'
max_text_length = 300
links_to = ["never-a-shop.invalid"]

[[tag]]
id = "never-label"
selector = "p, li, div, section"
tag = "never"
[tag.when]
own_text_starts_with = ["zq-never:"]
max_text_length = 200

[[tag]]
id = "never-class"
selector = "div[class], ul[class], section[id]"
tag = "never"
[tag.when]
class_matches = '^zq-never$'

[[remove]]
id = "never-element"
selector = "zq-never-element, div.zq-never"

[[strip]]
id = "never-param"
params = ["zq_never_*"]

[[unwrap]]
id = "never-wrapper"
hosts = ["never-a-wrapper.invalid"]
param = "url"
"#;

#[test]
fn rules_matching_nothing_leave_every_page_byte_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("never.toml"), RULES_MATCHING_NOTHING).expect("write rules");
    let (rules, warnings) = strainer::rules::load_dir(dir.path()).expect("rules load");
    assert!(warnings.is_empty(), "{warnings:?}");
    let rules = std::sync::Arc::new(rules);
    for (name, page) in corpus() {
        let (out, report) = rewrite(&rules, &options(), &page);
        let acted = (report.removed, report.tagged, report.links_cleaned, report.hits_by_rule.len());
        assert_eq!(acted, (0, 0, 0, 0), "{name}: the rules acted");
        assert!(!report.bailed_out, "{name}: {report:?}");
        if out != page {
            let at = out.iter().zip(&page).position(|(a, b)| a != b).unwrap_or(out.len().min(page.len()));
            let lo = at.saturating_sub(80);
            panic!(
                "{name} changed at byte {at}:\n got: {}\nwant: {}",
                String::from_utf8_lossy(&out[lo..(at + 80).min(out.len())]),
                String::from_utf8_lossy(&page[lo..(at + 80).min(page.len())])
            );
        }
    }
}

#[test]
fn representative_rules_are_chunk_invariant_on_every_page() {
    let rules = representative();
    let mut rng = Xorshift(0xC0FFEE);
    let mut removed = 0;
    for (name, page) in corpus() {
        let (whole, report) = rewrite(&rules, &options(), &page);
        assert!(!report.bailed_out, "{name} bailed out");
        removed += report.removed;
        for round in 0..3 {
            let cuts = rng.cuts(page.len(), 4 + round * 40);
            let (split, _) = rewrite_at(&rules, &options(), &page, &cuts);
            assert!(split == whole, "{name}: output differs for cuts {cuts:?}");
        }
    }
    assert!(removed > 0, "the representative rules should act somewhere in the corpus");
}

#[test]
fn the_engine_adds_no_comment_to_any_page() {
    let rules = representative();
    for (name, page) in corpus() {
        let (out, _) = rewrite(&rules, &options(), &page);
        let comments_in = page.windows(4).filter(|w| w == b"<!--").count();
        let comments_out = out.windows(4).filter(|w| w == b"<!--").count();
        assert!(comments_out <= comments_in, "{name}: {comments_out} comments out of {comments_in}");
    }
}
