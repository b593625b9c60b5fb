//! Golden tests: one per rule kind and edge case, with rule sets built in code.

mod support {
    pub mod rules_builder;
}

use support::rules_builder::*;

#[test]
fn empty_rules_pass_bytes_through() {
    let page = "<p>Related: x</p><!-- c --><script>if (a<b) {}</script>";
    assert_eq!(rewrite_str(&set(vec![]), page), page);
}

#[test]
fn unconditional_remove_and_tag() {
    let rules = set(vec![remove("ads", "div.ad"), tag("boxes", "aside", &["box"])]);
    let out = rewrite_str(&rules, "<div class=ad>buy</div><aside>x</aside><div>keep</div>");
    assert_eq!(out, "<aside data-strainer-tag=\"box\">x</aside><div>keep</div>");
}

#[test]
fn conditional_remove_on_prefix() {
    let rules = set(vec![remove_when("deal", "p", text(vec![starts_with(&["Deal:"])]))]);
    let out = rewrite_str(&rules, "<p>deal: 50% off</p><p>Dealing with it</p>");
    assert_eq!(out, "<p>Dealing with it</p>");
}

#[test]
fn conditional_tag_inserts_attribute_in_held_start_tag() {
    let rules = set(vec![tag_when("rel", "p", &["related"], text(vec![starts_with(&["Related:"])]))]);
    let out = rewrite_str(&rules, "<p class=x>Related&#58; <a href=/a>A</a></p><p>Other</p>");
    assert_eq!(out, "<p data-strainer-tag=\"related\" class=x>Related&#58; <a href=/a>A</a></p><p>Other</p>");
}

#[test]
fn nested_wrapper_div_is_kept_around_a_removed_promo() {
    let rules = set(vec![remove_when("deal", "p, div", text(vec![starts_with(&["Deal:"])]))]);
    let out = rewrite_str(&rules, "<div><p>Deal: x</p><p>Story</p></div>");
    assert_eq!(out, "<div><p>Story</p></div>");
}

#[test]
fn unclosed_p_keeps_the_next_paragraph() {
    let rules = set(vec![remove_when("deal", "p", text(vec![starts_with(&["Deal:"])]))]);
    assert_eq!(rewrite_str(&rules, "<p>Deal: x<p>next paragraph"), "<p>next paragraph");
    assert_eq!(rewrite_str(&rules, "<div><p>Deal: x</div><p>y</p>"), "<div></div><p>y</p>");
    assert_eq!(rewrite_str(&rules, "<p>Deal: x<div>block</div>"), "<div>block</div>");
}
