//! Golden tests: one per rule kind and edge case, with rule sets built in code.

mod support {
    pub mod rules_builder;
}

use strainer::rules::{Conditions, RuleId, Score, Signal, INNERMOST_SLACK};
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

#[test]
fn unconditional_remove_closes_an_open_candidate_first() {
    let rules =
        set(vec![remove("ads", "div.ad"), remove_when("deal", "p", text(vec![starts_with(&["Deal:"])]))]);
    assert_eq!(rewrite_str(&rules, "<p>Deal: x<div class=ad>ad</div><p>y</p>"), "<p>y</p>");
}

#[test]
fn li_lists_close_the_previous_item_but_not_an_outer_one() {
    let rules = set(vec![remove_when("deal", "li", text(vec![starts_with(&["Deal:"])]))]);
    assert_eq!(rewrite_str(&rules, "<ul><li>a<li>Deal: b<li>c</ul>"), "<ul><li>a<li>c</ul>");
    let nested = "<ul><li>Deal: outer<ol><li>x<li>y</ol></li><li>z</ul>";
    assert_eq!(rewrite_str(&rules, nested), "<ul><li>z</ul>");
    let inner = "<ul><li>outer<ol><li>x<li>Deal: y</ol></li></ul>";
    assert_eq!(rewrite_str(&rules, inner), "<ul><li>outer<ol><li>x</ol></li></ul>");
}

#[test]
fn contains_condition() {
    let rules = set(vec![remove_when("sponsored", "p", text(vec![contains(&["sponsored"])]))]);
    assert_eq!(rewrite_str(&rules, "<p>This post is SPONSORED by x</p><p>plain</p>"), "<p>plain</p>");
}

#[test]
fn matches_condition_on_decoded_collapsed_text() {
    let rules = set(vec![remove_when("pitch", "p", text(vec![matches(r"^\S[^.!?]{1,80}\s[–—]\s")]))]);
    let out = rewrite_str(&rules, "<p>Widget  Pro\n&ndash; the best</p><p>A sentence. – no</p>");
    assert_eq!(out, "<p>A sentence. – no</p>");
}

#[test]
fn text_length_conditions_count_descendants() {
    let min =
        set(vec![remove_when("long", "div", Conditions { min_text_len: Some(10), ..Conditions::default() })]);
    assert_eq!(rewrite_str(&min, "<div>12345<b>67890</b></div><div>short</div>"), "<div>short</div>");
    let max =
        set(vec![remove_when("short", "div", Conditions { max_text_len: Some(5), ..Conditions::default() })]);
    assert_eq!(rewrite_str(&max, "<div> a  b </div><div>longer text</div>"), "<div>longer text</div>");
}

#[test]
fn links_to_condition_reads_descendant_links() {
    let shops = Conditions { links_to: Some(hosts(&["amazon.*", "amzn.to"])), ..Conditions::default() };
    let rules = set(vec![remove_when("shop", "p", shops)]);
    let page = "<p>Buy <a href=\"https://www.amazon.co.uk/x\">it</a></p><p><a href=/local>x</a></p>\
                <p><a href=\"HTTPS://AMZN.TO/y\">z</a></p><p><a href=\"https://example.org/?u=amzn.to\">q</a></p>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<p><a href=/local>x</a></p><p><a href=\"https://example.org/?u=amzn.to\">q</a></p>"
    );
}

#[test]
fn class_and_id_conditions_are_read_at_the_start_tag() {
    let class = Conditions {
        class_matches: Some(regex::Regex::new("related").expect("valid")),
        ..Conditions::default()
    };
    let id =
        Conditions { id_matches: Some(regex::Regex::new("^promo").expect("valid")), ..Conditions::default() };
    let rules = set(vec![tag_when("rel", "div", &["related"], class), remove_when("promo", "div", id)]);
    let out = rewrite_str(
        &rules,
        "<div class=\"box related-posts\">r</div><div id=promo-1>p</div><div id=x>k</div>",
    );
    assert_eq!(
        out,
        "<div class=\"box related-posts\" data-strainer-tag=\"related\">r</div><div id=x>k</div>"
    );
}

#[test]
fn remove_beats_tag_and_tags_merge_in_rule_order() {
    let rules = set(vec![
        tag_when("a", "p", &["related", "x"], text(vec![starts_with(&["Related:"])])),
        tag_when("b", "p", &["x", "y"], text(vec![contains(&["story"])])),
        remove_when("c", "p", text(vec![contains(&["buy"])])),
    ]);
    let out = rewrite_str(&rules, "<p data-strainer-tag=\"old\">Related: story</p><p>Related: buy story</p>");
    assert_eq!(out, "<p data-strainer-tag=\"old related x y\" data-strainer-tag=\"old\">Related: story</p>");
}

#[test]
fn unconditional_tag_merges_with_an_existing_attribute() {
    let rules = set(vec![tag("t", "aside", &["box", "old"])]);
    assert_eq!(
        rewrite_str(&rules, "<aside data-strainer-tag='old'>x</aside>"),
        "<aside data-strainer-tag=\"old box\">x</aside>"
    );
}

#[test]
fn own_text_leaves_out_nested_candidates() {
    let rules = set(vec![tag_when("rel", "p, div", &["related"], text(vec![starts_with(&["Related:"])]))]);
    let out = rewrite_str(&rules, "<div><p>Related: a</p> other</div>");
    assert_eq!(out, "<div><p data-strainer-tag=\"related\">Related: a</p> other</div>");
}

#[test]
fn a_candidate_ended_by_the_end_of_the_page_is_judged_like_any_other() {
    // A browser ends every open element at the end of the document, so the engine judges them there.
    let rules = set(vec![remove_when("deal", "p", text(vec![starts_with(&["Deal:"])]))]);
    assert_eq!(rewrite_str(&rules, "<div><p>Deal: open"), "<div>");
    assert_eq!(rewrite_str(&rules, "<div><p>No deal: open"), "<div><p>No deal: open");
}

#[test]
fn promo_text_in_script_comment_textarea_and_style_is_untouched() {
    let rules = set(vec![remove_when("deal", "p, div", text(vec![starts_with(&["Deal:"])]))]);
    let page = "<div><script>var s = '<p>Deal: x</p>';</script>kept</div><!-- <p>Deal: y</p> -->\
                <div><textarea>Deal: z</textarea></div><div><style>p::before{content:'Deal:'}</style>k</div>";
    assert_eq!(rewrite_str(&rules, page), page);
}

#[test]
fn site_scope_switches_rules_off() {
    let rules = set(vec![only_on(remove("ads", "div.ad"), &["news.example"])]);
    let page = b"<div class=ad>x</div>";
    let mut on = options();
    on.site = Some("www.news.example".into());
    assert_eq!(rewrite(&rules, &on, page).0, b"");
    let mut off = options();
    off.site = Some("other.example".into());
    assert_eq!(rewrite(&rules, &off, page).0, page);
    assert_eq!(rewrite(&rules, &options(), page).0, page);
}

#[test]
fn hold_cap_spills_a_large_candidate_unchanged() {
    let rules = set(vec![remove_when("deal", "div", text(vec![starts_with(&["Deal:"])]))]);
    let page = format!("<div>Deal: {}</div><div>Deal: small</div>", "x".repeat(300));
    let mut small_cap = options();
    small_cap.hold_cap = 128;
    let (out, report) = rewrite(&rules, &small_cap, page.as_bytes());
    assert_eq!(String::from_utf8(out).expect("utf-8"), format!("<div>Deal: {}</div>", "x".repeat(300)));
    assert_eq!(report.spilled, 1);
    assert_eq!(report.removed, 1);
}

#[test]
fn report_counts_hits_and_explains_them() {
    let rules = set(vec![
        remove("ads", "div.ad"),
        remove_when("deal", "p", text(vec![starts_with(&["Deal:"])])),
        tag_when("rel", "p", &["related"], text(vec![starts_with(&["Related:"])])),
    ]);
    let mut explain = options();
    explain.explain = true;
    let page = b"<article><div class=entry><div class=ad>x</div><p class=lead>Deal: a</p><p>Deal: b</p><p>Related: c</p></div></article>";
    let (_, report) = rewrite(&rules, &explain, page);
    assert_eq!((report.removed, report.tagged, report.spilled, report.bailed_out), (3, 1, 0, false));
    let by_rule: Vec<(&str, u32)> = report.hits_by_rule.iter().map(|(id, n)| (id.as_str(), *n)).collect();
    assert_eq!(by_rule, vec![("ads", 1), ("deal", 2), ("rel", 1)]);
    assert_eq!(report.hits.len(), 4);
    assert_eq!(report.hits[1].element, "p.lead");
    assert_eq!(report.hits[1].excerpt, "Deal: a");
    assert_eq!(report.hits[3].action, strainer::rewrite::HitAction::Tagged("related".into()));
}

#[test]
fn explained_elements_show_candidate_ancestors() {
    let rules = set(vec![
        tag_when("rel", "div", &["related"], text(vec![starts_with(&["Related:"])])),
        remove_when("deal", "p", text(vec![starts_with(&["Deal:"])])),
    ]);
    let mut explain = options();
    explain.explain = true;
    let (_, report) =
        rewrite(&rules, &explain, b"<div class=entry-content>Related: <p>Deal: a long excerpt</p></div>");
    assert_eq!(report.hits[0].element, "div.entry-content > p");
}

#[test]
fn explained_start_tag_hits_show_the_class_and_id_they_matched() {
    let rules = set(vec![remove("ads", "div.ad"), tag("boxes", "aside", &["box"])]);
    let mut explain = options();
    explain.explain = true;
    let (_, report) = rewrite(&rules, &explain, b"<div class=\"ad\n\twide\" id=top>x</div><aside>y</aside>");
    assert_eq!(report.hits[0].element, "div.ad");
    assert_eq!(report.hits[0].excerpt, "class=\"ad wide\" id=\"top\"");
    assert_eq!(report.hits[1].excerpt, "", "no class or id to show");
}

#[test]
fn template_contents_are_never_touched() {
    let rules = set(vec![
        remove("ads", "div.ad"),
        remove_when("deal", "p, div", text(vec![starts_with(&["Deal:"])])),
    ]);
    let page =
        "<template><p>Deal: x</p><div class=ad>y</div></template><div>Deal: <template>x</template>z</div>";
    assert_eq!(rewrite_str(&rules, page), "<template><p>Deal: x</p><div class=ad>y</div></template>");
}

#[test]
fn links_to_matches_a_wrapper_host_without_unwrap_rules() {
    let networks = Conditions { links_to: Some(hosts(&["skimresources.com"])), ..Conditions::default() };
    let rules = set(vec![remove_when("aff", "p", networks)]);
    let page =
        "<p><a href=\"https://go.skimresources.com/?url=https%3A%2F%2Fshop.example%2F\">x</a></p><p>kept</p>";
    assert_eq!(rewrite_str(&rules, page), "<p>kept</p>");
}

#[test]
fn links_are_cleaned_and_stay_validly_escaped() {
    let mut globs = globset::GlobSetBuilder::new();
    globs.add(globset::Glob::new("utm_*").expect("valid glob"));
    let strip = strainer::rules::StripRule {
        id: strainer::rules::RuleId::new("utm"),
        params: globs.build().expect("glob set builds"),
        hosts: None,
        scope: strainer::rules::SiteScope::default(),
    };
    let mut rule_set = strainer::rules::RuleSet::default();
    rule_set.links.strip.push(strip);
    let rules = std::sync::Arc::new(rule_set);
    let page = "<a href=\"https://x.example/?a=1&amp;utm_source=t&amp;b=2\">x</a><a href=/plain>y</a>";
    let (out, report) = rewrite(&rules, &options(), page.as_bytes());
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "<a href=\"https://x.example/?a=1&amp;b=2\">x</a><a href=/plain>y</a>"
    );
    assert_eq!(report.links_cleaned, 1);
    assert_eq!(report.hits_by_rule[0].0.as_str(), "utm");
}

#[test]
fn inside_limits_rules_to_elements_with_a_matching_ancestor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = "[[remove]]\nid = \"side-promo\"\nselector = \"p\"\n[remove.when]\ninside = \"aside, .sidebar\"\nown_text_contains = \"buy\"\n\n[[tag]]\nid = \"nav-item\"\nselector = \"li\"\ntag = \"nav\"\n[tag.when]\ninside = \"nav\"\n";
    std::fs::write(dir.path().join("r.toml"), toml).expect("write rules");
    let (rules, _) = strainer::rules::load_dir(dir.path()).expect("rules load");
    let page = "<aside><p>buy now</p><p>keep</p></aside><div class=sidebar><div><p>buy it</p></div></div>\
                <p>buy here</p><nav><ul><li>x</li></ul></nav><ul><li>y</li></ul>";
    let out = rewrite_str(&std::sync::Arc::new(rules), page);
    assert_eq!(
        out,
        "<aside><p>keep</p></aside><div class=sidebar><div></div></div><p>buy here</p>\
         <nav><ul><li data-strainer-tag=\"nav\">x</li></ul></nav><ul><li>y</li></ul>"
    );
}

#[test]
fn innermost_takes_the_smallest_box_and_wrappers_that_add_only_a_label() {
    let sponsored = || Conditions {
        whole_text: vec![starts_with(&["Sponsored"])],
        max_text_len: Some(400),
        innermost: Some(INNERMOST_SLACK),
        ..Conditions::default()
    };
    let rules = set(vec![remove_when("box", "div, aside", sponsored())]);
    // The sidebar opens with the sponsored box but holds an author box too: only the box goes.
    let page = "<aside><div>Sponsored: lanterns at 20% off this week</div><div>About the author: Jun writes on audio</div></aside>";
    assert_eq!(rewrite_str(&rules, page), "<aside><div>About the author: Jun writes on audio</div></aside>");
    // A wrapper that adds nothing but a short label goes with the box.
    let page = "<div><b>Sponsored</b><div>Sponsored by Hearth: boards made by hand in Leeds, free delivery</div></div><p>Story</p>";
    assert_eq!(rewrite_str(&rules, page), "<p>Story</p>");
    // Without `innermost`, the sidebar would go whole.
    let plain = set(vec![remove_when("box", "div, aside", Conditions { innermost: None, ..sponsored() })]);
    let page = "<aside><div>Sponsored: lanterns at 20% off this week</div><div>About the author: Jun writes on audio</div></aside>";
    assert_eq!(rewrite_str(&plain, page), "");
}

#[test]
fn innermost_counts_an_inner_element_where_the_rule_held_under_another_rules_verdict() {
    let label = Conditions {
        whole_text: vec![starts_with(&["Advertisement"])],
        max_text_len: Some(400),
        innermost: Some(INNERMOST_SLACK),
        ..Conditions::default()
    };
    let first = remove_when("first", "div", text(vec![starts_with(&["Advertisement feature"])]));
    let rules = set(vec![first, remove_when("box", "div, aside", label)]);
    // The inner div is removed by `first`; `box` held there too, so the larger aside is not `box`'s to take.
    let page = "<aside><div>Advertisement feature: trade in your phone</div><div>Recommended for you: five e-readers</div></aside>";
    assert_eq!(rewrite_str(&rules, page), "<aside><div>Recommended for you: five e-readers</div></aside>");
}

#[test]
fn whole_text_regex_reads_what_is_left_once_inner_promos_are_removed() {
    let pitch = remove_when("pitch", "figcaption", text(vec![starts_with(&["Lantern"])]));
    let ends_with_price = Conditions { whole_text: vec![matches("£19 at Argos$")], ..Conditions::default() };
    let rules = set(vec![pitch, remove_when("figure", "figure", ends_with_price)]);
    // The caption is removed as a pitch; what is left of the figure is its photo credit, which stays.
    let page = "<figure><p>Photo: Jo Bell</p> <figcaption>Lantern, £19 at Argos</figcaption></figure>";
    assert_eq!(rewrite_str(&rules, page), "<figure><p>Photo: Jo Bell</p> </figure>");
}

#[test]
fn holds_and_holds_none_read_the_elements_inside() {
    let picture_price = Conditions {
        whole_text: vec![contains(&["£"])],
        holds: vec!["img".into(), "picture".into()],
        holds_none: vec!["h1".into()],
        ..Conditions::default()
    };
    let rules = set(vec![remove_when("card", "div", picture_price)]);
    // A picture and a price: gone. No picture, or a headline beside the picture: kept.
    let page = "<div><img src=a.jpg><p>Lantern, £19</p></div><div><p>Rent, £900</p></div>\
                <div><h1>Fares rise to £5</h1><img src=b.jpg></div>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<div><p>Rent, £900</p></div><div><h1>Fares rise to £5</h1><img src=b.jpg></div>"
    );
    // Only what is inside counts: a `div` is not held by itself, and an image after it is not in it.
    let holds_div = Conditions { holds: vec!["div".into()], ..Conditions::default() };
    let rules = set(vec![remove_when("outer", "div", holds_div)]);
    assert_eq!(rewrite_str(&rules, "<div>a</div><div><div>b</div></div>"), "<div>a</div>");
}

#[test]
fn a_rule_that_follows_itself_takes_a_run_of_like_items() {
    let label = tag_when("label", "h3", &["label"], text(vec![starts_with(&["More from"])]));
    let run = Conditions { follows: vec![RuleId::new("label"), RuleId::new("run")], ..Conditions::default() };
    let rules = set(vec![label, tag_when("run", "div", &["related"], run)]);
    let page =
        "<h3>More from us</h3>\n<div class=row><a href=/a>A</a></div>\n<div class=row><a href=/b>B</a></div>\
                <div class=author><a href=/me>Jo</a></div>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<h3 data-strainer-tag=\"label\">More from us</h3>\n\
         <div data-strainer-tag=\"related\" class=row><a href=/a>A</a></div>\n\
         <div data-strainer-tag=\"related\" class=row><a href=/b>B</a></div><div class=author><a href=/me>Jo</a></div>"
    );
    // Text between two items ends the run.
    let page = "<h3>More from us</h3><div class=row>A</div> and <div class=row>B</div>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<h3 data-strainer-tag=\"label\">More from us</h3><div data-strainer-tag=\"related\" class=row>A</div> and <div class=row>B</div>"
    );
}

#[test]
fn min_removed_inside_counts_the_innermost_removals() {
    let card = remove_when("card", "li", text(vec![contains(&["£"])]));
    let emptied = Conditions { min_removed_inside: Some(2), ..Conditions::default() };
    let rules = set(vec![card, tag_when("emptied", "div, ul", &["emptied"], emptied)]);
    // Two cards removed: the list and the box around it count two; one card: neither does.
    let page = "<div><h3>Shop</h3><ul><li>Mug £9</li><li>Cap £18</li></ul></div><div><ul><li>Mug £9</li><li>Map</li></ul></div>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<div data-strainer-tag=\"emptied\"><h3>Shop</h3><ul data-strainer-tag=\"emptied\"></ul></div><div><ul><li>Map</li></ul></div>"
    );
    // A removed element with removed elements inside stands for them: one removed list of two cards counts two.
    let list = remove_when("list", "ul", Conditions { min_removed_inside: Some(2), ..Conditions::default() });
    let rules = set(vec![
        remove_when("card", "li", text(vec![contains(&["£"])])),
        list,
        tag_when("box", "div", &["box"], Conditions { min_removed_inside: Some(2), ..Conditions::default() }),
    ]);
    let page = "<div><h3>Shop</h3><ul><li>Mug £9</li><li>Cap £18</li></ul></div>";
    assert_eq!(rewrite_str(&rules, page), "<div data-strainer-tag=\"box\"><h3>Shop</h3></div>");
}

#[test]
fn a_score_adds_the_weights_of_the_signals_that_hold() {
    let signal = |weight, conditions| Signal { weight, name: format!("w{weight}").into(), conditions };
    let price = Conditions { text: vec![matches(r"£\d")], ..Conditions::default() };
    let shop = Conditions { links_to: Some(hosts(&["shop.example"])), ..Conditions::default() };
    let no_link = Conditions { holds_none: vec!["a".into()], ..Conditions::default() };
    let prose = Conditions { text: vec![matches(r"\bsaid\b")], ..Conditions::default() };
    let short = Conditions { max_text_len: Some(10), ..Conditions::default() };
    let signals =
        vec![signal(2, price), signal(2, shop), signal(-2, no_link), signal(-3, prose), signal(3, short)];
    let score = Score::new(3, signals);
    let rules =
        set(vec![remove_when("scored", "p", Conditions { score: Some(score), ..Conditions::default() })]);
    // Price and shop link: 4. A price alone: 2. A shop link alone: 2. Price, shop link and reported speech: 1.
    // A price without any link: 0. A short price line without a link: 3 (a signal's `holds_none` counts
    // against, it does not end the rule).
    let page = "<p>Mug, £9</p><p>Lantern, £19 <a href=https://shop.example/l>here</a></p>\
                <p>Rent is £900</p><p>See <a href=https://shop.example/>the shop</a> for hours</p>\
                <p>It costs £19 at <a href=https://shop.example/>Shop</a>, he said</p>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<p>Rent is £900</p><p>See <a href=https://shop.example/>the shop</a> for hours</p>\
         <p>It costs £19 at <a href=https://shop.example/>Shop</a>, he said</p>"
    );
    // Explained, a hit gives its total and the signals that held.
    let mut explain = options();
    explain.explain = true;
    let (_, report) = rewrite(&rules, &explain, page.as_bytes());
    let accounts: Vec<&str> = report.hits.iter().map(|hit| hit.score.as_str()).collect();
    assert_eq!(accounts, ["score 3 ≥ 3: w2 +2, w-2 -2, w3 +3", "score 4 ≥ 3: w2 +2, w2 +2"]);
}

#[test]
fn link_facts_count_page_links_and_link_text() {
    let facts = |on_site, share, average| Conditions {
        min_links_on_site: on_site,
        min_link_text_share: share,
        min_average_link_text: average,
        ..Conditions::default()
    };
    // Two page links; a `#` link, a `mailto:` link and an image link count as no page link.
    let rules = set(vec![tag_when("two", "div", &["two"], facts(Some(2), None, None))]);
    let page = "<div><a href=/a>A</a><a href=#top>T</a><a href=mailto:x@y.z>M</a></div>\
                <div><a href=/a>A</a><a href='https://other.example/b'>B</a></div><div><a href=/a>A</a><a href=b>B</a></div>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<div><a href=/a>A</a><a href=#top>T</a><a href=mailto:x@y.z>M</a></div>\
         <div><a href=/a>A</a><a href='https://other.example/b'>B</a></div><div data-strainer-tag=\"two\"><a href=/a>A</a><a href=b>B</a></div>"
    );
    // Link text share, in thousandths of the visible characters (whitespace aside): 8 of 13 is 615, 8 of 17
    // is 470.
    let rules = set(vec![tag_when("mostly", "p", &["mostly"], facts(None, Some(600), None))]);
    let page = "<p>More: <a href=/x>headline</a></p><p>Also see: <a href=/x>headline</a></p>";
    let out = rewrite_str(&rules, page);
    assert_eq!(
        out,
        "<p data-strainer-tag=\"mostly\">More: <a href=/x>headline</a></p><p>Also see: <a href=/x>headline</a></p>"
    );
    // The average is taken over links with text: an image link does not halve it.
    let rules = set(vec![tag_when("headlines", "li", &["headlines"], facts(None, None, Some(8)))]);
    let page = "<li><a href=/x><img src=i.jpg></a><a href=/x>headline</a></li><li><a href=/x>menu</a><a href=/y>headline</a></li>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<li data-strainer-tag=\"headlines\"><a href=/x><img src=i.jpg></a><a href=/x>headline</a></li><li><a href=/x>menu</a><a href=/y>headline</a></li>"
    );
}

#[test]
fn a_link_ends_with_the_element_it_is_in() {
    // `</a>` left out and the paragraph closed by the next one: the link's text ends with its paragraph, the
    // text after it is no link text (for the next paragraph nor for the box around both).
    let all_links = Conditions { min_link_text_share: Some(1000), ..Conditions::default() };
    let rules = set(vec![tag_when("linky", "p, div", &["linky"], all_links)]);
    for page in ["<div><p><a href=/x>Headline<p>more</div>", "<div><p><a href=/x>Headline</p> more</div>"] {
        let tagged = page.replacen("<p>", "<p data-strainer-tag=\"linky\">", 1);
        assert_eq!(rewrite_str(&rules, page), tagged);
    }
    // A link is not inside itself.
    let own = Conditions { min_links_on_site: Some(1), ..Conditions::default() };
    let rules = set(vec![tag_when("holds-a-link", "a, p", &["holds"], own)]);
    assert_eq!(
        rewrite_str(&rules, "<p><a href=/x>one</a></p>"),
        "<p data-strainer-tag=\"holds\"><a href=/x>one</a></p>"
    );
}

#[test]
fn precedes_waits_for_the_first_candidate_after_the_element() {
    let heading =
        Conditions { precedes: vec![RuleId::new("list")], max_text_len: Some(40), ..Conditions::default() };
    let list = Conditions { min_links_on_site: Some(1), ..Conditions::default() };
    let rules = set(vec![
        tag_when("label", "h3", &["label"], heading),
        tag_when("list", "ul", &["related"], list),
        tag_when("box", "div.box", &["box"], Conditions { max_text_len: Some(0), ..Conditions::default() }),
    ]);
    // The list right after the heading is hit: the heading is tagged too, both with their bytes unchanged.
    let page = "<h3 id=x>Fresh from the gear room</h3>\n<ul><li><a href=/a>Boots</a></ul><p>after</p>";
    assert_eq!(
        rewrite_str(&rules, page),
        "<h3 data-strainer-tag=\"label\" id=x>Fresh from the gear room</h3>\n<ul data-strainer-tag=\"related\"><li><a href=/a>Boots</a></ul><p>after</p>"
    );
    // Not when the list is not hit, when text comes between, or when a candidate around the heading ends first.
    for page in [
        "<h3>Fresh</h3><ul><li>no link</ul>",
        "<h3>Fresh</h3>Then prose.<ul><li><a href=/a>Boots</a></ul>",
        "<div class=box><h3>Fresh</h3></div><ul><li><a href=/a>Boots</a></ul>",
    ] {
        let out = rewrite_str(&rules, page);
        assert!(!out.contains("\"label\""), "{page} -> {out}");
    }
    // A wrapper that is no candidate does not end the wait; the page's end does (the heading passes unchanged).
    let out = rewrite_str(&rules, "<section><h3>Fresh</h3></section><ul><li><a href=/a>Boots</a></ul>");
    assert!(out.starts_with("<section><h3 data-strainer-tag=\"label\">"), "{out}");
    assert_eq!(rewrite_str(&rules, "<p>x</p><h3>Last words</h3>"), "<p>x</p><h3>Last words</h3>");
}

#[test]
fn waits_end_as_soon_as_the_follower_cannot_answer_and_nest() {
    let heading =
        Conditions { precedes: vec![RuleId::new("list")], max_text_len: Some(40), ..Conditions::default() };
    let list = Conditions { min_links_on_site: Some(1), max_text_len: Some(100), ..Conditions::default() };
    let rules = set(vec![
        tag_when("label", "h3", &["label"], heading),
        tag_when("list", "ul, section", &["related"], list),
        tag_when("note", "p", &["note"], Conditions { max_text_len: Some(20), ..Conditions::default() }),
    ]);
    // A follower no named rule selects answers at once; it stays held for its own verdict.
    assert_eq!(
        rewrite_str(&rules, "<h3>Head</h3><p>Short note</p>"),
        "<h3>Head</h3><p data-strainer-tag=\"note\">Short note</p>"
    );
    // The outer heading's follower (the section) passes the list's maximum length in its first paragraph: the
    // outer wait ends there, unanswered, and its bytes go out (nothing is held up to the section's end, so
    // nothing spills); the heading inside the section waits for its own list.
    let prose = "Prose of the article. ".repeat(10);
    let page = format!(
        "<h3>Outer</h3><section><p>{prose}</p><h3>Inner</h3><ul><li><a href=/a>Boots</a></ul><p>{prose}</p></section>"
    );
    let mut small_cap = options();
    small_cap.hold_cap = 128;
    let (out, report) = rewrite(&rules, &small_cap, page.as_bytes());
    let expected = page
        .replace("<h3>Inner", "<h3 data-strainer-tag=\"label\">Inner")
        .replace("<ul>", "<ul data-strainer-tag=\"related\">");
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
    assert_eq!(report.spilled, 0);
}
