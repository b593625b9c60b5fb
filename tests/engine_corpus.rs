//! The 62 real pages of `../shared/corpus`: untouched under an empty rule set, chunk-invariant under a
//! representative one.

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
fn no_sentinel_leaks_into_any_page() {
    let rules = representative();
    for (name, page) in corpus() {
        let (out, _) = rewrite(&rules, &options(), &page);
        let comments_in = page.windows(4).filter(|w| w == b"<!--").count();
        let comments_out = out.windows(4).filter(|w| w == b"<!--").count();
        assert!(comments_out <= comments_in, "{name}: {comments_out} comments out of {comments_in}");
    }
}
