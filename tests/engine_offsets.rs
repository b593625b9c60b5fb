//! The sink finds candidates by output offsets: edge cases of where lol_html writes an element's bytes relative to
//! the handlers (end tags written in any form, end tags implied or inside removed content, content inserted
//! around tags, the end of the page), each also cut into chunks at every byte.

mod support {
    pub mod rules_builder;
}

use std::sync::Arc;

use strainer::rewrite::{HitAction, RewriteOptions};
use strainer::rules::RuleSet;
use support::rules_builder::*;

fn deal_rules() -> Arc<RuleSet> {
    set(vec![
        remove("ads", "span.ad, hr.ad, div.ad"),
        remove_when("deal", "p, div, head", text(vec![starts_with(&["Deal:"])])),
        tag_when("rel", "p, li, section", &["related"], text(vec![starts_with(&["Related:"])])),
    ])
}

/// Rewrites `page` in one chunk, and checks that every cut into two chunks gives the same output.
fn rewrite_checked(rules: &Arc<RuleSet>, options: &RewriteOptions, page: &str) -> String {
    let (whole, _) = rewrite(rules, options, page.as_bytes());
    for cut in 0..=page.len() {
        let (out, _) = rewrite_at(rules, options, page.as_bytes(), &[cut]);
        assert_eq!(out, whole, "cut at {cut} of {page:?}");
    }
    let bytewise = rewrite_in_chunks(rules, options, page.as_bytes(), 1);
    assert_eq!(bytewise, whole, "byte by byte: {page:?}");
    String::from_utf8(whole).expect("UTF-8 output")
}

fn check(rules: &Arc<RuleSet>, page: &str, expected: &str) {
    assert_eq!(rewrite_checked(rules, &options(), page), expected, "{page:?}");
}

#[test]
fn end_tags_in_any_form_end_where_they_were_written() {
    let rules = deal_rules();
    check(&rules, "a<P>Deal: x</P  >b<p>keep</p>", "ab<p>keep</p>");
    check(&rules, "<p>Deal: x</p foo=\"b>\">after", "after");
    check(&rules, "<p>Related: x</p\n>y", "<p data-strainer-tag=\"related\">Related: x</p\n>y");
    check(&rules, "<p>Deal: x</p></p>z", "</p>z");
}

#[test]
fn implied_and_outer_end_tags_close_candidates_before_them() {
    let rules = deal_rules();
    check(&rules, "<div><p>Deal: x</div>after", "<div></div>after");
    check(&rules, "<p>Deal: x<div>block</div>", "<div>block</div>");
    check(
        &rules,
        "<ul><li>Related: a<li>b</ul>",
        "<ul><li data-strainer-tag=\"related\">Related: a<li>b</ul>",
    );
    check(&rules, "<p>Deal: x<hr>y", "<hr>y");
}

#[test]
fn removed_elements_inside_and_around_candidates() {
    let rules = deal_rules();
    check(&rules, "<p>Deal: <span class=ad>ad</span> x</p>y", "y");
    check(&rules, "<p>Story <span class=ad>ad</span> x</p>y", "<p>Story  x</p>y");
    check(&rules, "<p>Deal: x<hr class=ad><p>y</p>", "<p>y</p>");
    check(
        &rules,
        "<section>Related: <div class=ad><p>Deal: in</p></div>z</section>",
        "<section data-strainer-tag=\"related\">Related: z</section>",
    );
}

#[test]
fn candidate_end_tags_inside_removed_content_are_written_as_lol_html_writes_them() {
    let rules = deal_rules();
    let page = "<p>Deal: x<span class=ad>ad</p>z</span>tail<p>Deal: y</p>w";
    let out = rewrite_checked(&rules, &options(), page);
    assert_eq!(out, "z</span>tailw");
}

#[test]
fn the_end_of_the_page_closes_open_candidates() {
    let rules = deal_rules();
    check(&rules, "a<div><p>Deal: x", "a<div>");
    check(&rules, "<p>Related: x", "<p data-strainer-tag=\"related\">Related: x");
}

#[test]
fn content_inserted_before_the_head_end_tag_belongs_to_a_head_candidate() {
    let rules = set_with_styles(
        vec![
            tag("boxes", "aside", &["box"]),
            remove_when("deal", "head", text(vec![starts_with(&["Deal:"])])),
            tag_when("rel", "head", &["related"], text(vec![starts_with(&["Related:"])])),
        ],
        &[("box", "outline: 1px")],
    );
    let removed = rewrite_checked(&rules, &options(), "<head><p>Deal: x</p></head><aside>y</aside>");
    assert_eq!(removed, "<aside data-strainer-tag=\"box\">y</aside>");
    let tagged = rewrite_checked(&rules, &options(), "<head>Related: x</head ><aside>y</aside>");
    assert!(tagged.starts_with("<head data-strainer-tag=\"related\">Related: x<style"), "{tagged}");
    assert!(tagged.ends_with("</style></head ><aside data-strainer-tag=\"box\">y</aside>"), "{tagged}");
}

#[test]
fn templates_keep_their_contents() {
    let rules = deal_rules();
    check(&rules, "<div>Deal: <template><p>x</p></template>z</div>w", "w");
    check(&rules, "<template><p>Deal: x</p></template>", "<template><p>Deal: x</p></template>");
}

#[test]
fn hits_are_reported_in_the_order_the_output_changed() {
    let rules = deal_rules();
    let mut options = options();
    options.record_hits = true;
    let page = "<p>Deal: x</p><hr class=ad><p>Deal: y<hr class=ad><div class=ad>z</div>";
    let (out, report) = rewrite(&rules, &options, page.as_bytes());
    assert_eq!(out, b"");
    let hits: Vec<(&str, usize)> = report
        .hits
        .iter()
        .map(|hit| {
            assert!(matches!(hit.action, HitAction::Removed));
            (hit.rule.as_str(), hit.offset)
        })
        .collect();
    assert_eq!(hits, [("deal", 0), ("ads", 14), ("ads", 37), ("deal", 27), ("ads", 50)]);
}

#[test]
fn legacy_encodings_tag_at_the_right_offset() {
    let rules = deal_rules();
    let mut options = options();
    options.header_charset = Some("windows-1252".into());
    let page: &[u8] = b"<p>caf\xe9</p><p>Related: \xe9t\xe9</p><p>Deal: \xe9</p>!";
    let (out, _) = rewrite(&rules, &options, page);
    assert_eq!(out, b"<p>caf\xe9</p><p data-strainer-tag=\"related\">Related: \xe9t\xe9</p>!".as_slice());
    for cut in 0..=page.len() {
        assert_eq!(rewrite_at(&rules, &options, page, &[cut]).0, out, "cut at {cut}");
    }
}

#[test]
fn a_small_hold_cap_spills_where_it_did() {
    let rules = deal_rules();
    let mut options = options();
    options.hold_cap = 24;
    let page = "<p>Deal: short</p><p>Deal: a much longer paragraph</p><p>Deal: x</p>tail";
    let (out, report) = rewrite(&rules, &options, page.as_bytes());
    let out = String::from_utf8(out).expect("UTF-8");
    assert_eq!(out, "<p>Deal: a much longer paragraph</p>tail");
    assert_eq!(report.spilled, 1);
    assert_eq!(report.removed, 2);
}
