//! The shipped rule pack (`rules/`): it loads without warnings, and its text, class and host conditions accept
//! the promo and related shapes they target while leaving look-alike prose alone.
//!
//! These tests check each rule's conditions on their own (the engine's own-text extraction is tested with the
//! engine); the end-to-end check on a real page is `strainer rewrite` on `../shared/examples/seed-article.html`.

use std::path::Path;

use strainer::rules::{self, ElementRule, HostDecision, RuleSet, TextTest};

fn pack() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    match rules::load_dir(&dir) {
        Ok((set, warnings)) => {
            assert!(warnings.is_empty(), "the shipped rules should load without warnings: {warnings:#?}");
            set
        }
        Err(errors) => panic!("the shipped rules should load: {errors:#?}"),
    }
}

fn rule<'a>(set: &'a RuleSet, id: &str) -> &'a ElementRule {
    set.element_rules.iter().find(|r| r.id.as_str() == id).unwrap_or_else(|| panic!("no rule `{id}`"))
}

/// Does the rule's `own_text_matches` accept `text`?
fn text_matches(rule: &ElementRule, text: &str) -> bool {
    let when = rule.when.as_ref().unwrap_or_else(|| panic!("`{}` has conditions", rule.id));
    when.text.iter().all(|test| match test {
        TextTest::Matches(regex) => regex.is_match(text),
        other => panic!("`{}`: unexpected text test {other:?}", rule.id),
    })
}

fn class_matches(rule: &ElementRule, class: &str) -> bool {
    let when = rule.when.as_ref().unwrap_or_else(|| panic!("`{}` has conditions", rule.id));
    let regex = when.class_matches.as_ref().unwrap_or_else(|| panic!("`{}` has class_matches", rule.id));
    regex.is_match(class)
}

fn assert_texts(rule: &ElementRule, hits: &[&str], misses: &[&str]) {
    for text in hits {
        assert!(text_matches(rule, text), "`{}` should match {text:?}", rule.id);
    }
    for text in misses {
        assert!(!text_matches(rule, text), "`{}` should not match {text:?}", rule.id);
    }
}

#[test]
fn dash_pitches_match_and_dashed_prose_does_not() {
    let set = pack();
    let rule = rule(&set, "promo-dash-pitch");
    assert_texts(
        rule,
        &[
            "Water Purification Tablets – Portable purification tablets for clean drinking water anywhere.",
            "Hand Warmers (Bulk Packs) – Stay warm in a freeze — long-lasting warmers for hands, boots, or sleeping bags.",
            "Anker PowerCore 10000 - A pocket-size battery that charges a phone twice.",
            "Lodge 10.25-inch Cast Iron Skillet — Sears a steak like nothing else.",
        ],
        &[
            "November 26-27, 2025: European leaders convene to discuss ongoing sanctions.",
            "Prices rose again. Now – after months of talks – the deal is done.",
            "Putin said: \"We will stop fighting – if they leave.\"",
            "A very long opening clause that goes on and on without any dash for well over eighty characters before – finally – one.",
        ],
    );
    let when = rule.when.as_ref().unwrap_or_else(|| panic!("conditions"));
    assert!(when.max_text_len.is_some_and(|max| max <= 320));
    let links = when.links_to.as_ref().unwrap_or_else(|| panic!("links_to"));
    for host in [
        "www.amazon.com",
        "amazon.co.uk",
        "amzn.to",
        "go.skimresources.com",
        "www.anrdoezrs.net",
        "www.etsy.com",
    ] {
        assert!(links.matches(host), "{host} is a shop or affiliate network");
    }
    for host in ["www.example-outfitters.com", "amazonaws.com", "en.wikipedia.org", "news.example"] {
        assert!(!links.matches(host), "{host} is not a shop");
    }
    assert!(!rule.scope.applies_to(Some("www.amazon.de")), "promo rules are off on shops");
    assert!(rule.scope.applies_to(Some("news.example")));
}

#[test]
fn buy_lines_match_and_prose_does_not() {
    let set = pack();
    assert_texts(
        rule(&set, "promo-buy-line"),
        &["Buy it: Amazon", "Shop now at Walmart", "$29.99 at Amazon", "£25 at Argos", "Get it on eBay"],
        &[
            "Buyers were told to wait.",
            "Getting there took hours.",
            "$5 billion was pledged by donors.",
            "Shopping malls closed early.",
        ],
    );
}

#[test]
fn product_box_classes_are_whole_class_names() {
    let set = pack();
    let rule = rule(&set, "promo-product-box");
    for class in [
        "product-box",
        "c-product-box wide",
        "commerce-inset",
        "js_commerce-inset",
        "affiliate",
        "hawk-nest",
        "product-card--large",
        "buybox",
    ] {
        assert!(class_matches(rule, class), "{class:?} is a product box");
    }
    for class in [
        "product-card__title",
        "affiliate-disclosure",
        "products-grid",
        "product",
        "hawk-title",
        "entry-content",
    ] {
        assert!(!class_matches(rule, class), "{class:?} is not a product box");
    }
}

#[test]
fn related_labels_match_in_many_languages_and_prose_does_not() {
    let set = pack();
    assert_texts(
        rule(&set, "related-label"),
        &[
            "Related: Zelenskyy Commits to Istanbul Peace Talks as Trump May Attend",
            "RELATED: Houthi Missile Strike",
            "See also: the annex",
            "Also read: x",
            "Read also - x",
            "Read more: Why it matters",
            "More on this story",
            "Related coverage",
            "Related Stories",
            "Lire aussi : la réforme",
            "À lire aussi : x",
            "Leia também: x",
            "Lesen Sie auch: x",
            "Mehr zum Thema",
            "Lea también: x",
            "Leggi anche: x",
            "Související články",
            "Читайте также: x",
            "相关阅读：x",
            "相關新聞",
            "関連記事",
        ],
        &[
            "Related to the talks, officials said nothing.",
            "Read more about the plan in our explainer.",
            "Read more",
            "See also the annex for details.",
            "Related Searches",
            "Related Ads",
            "The related sanctions were lifted.",
            "相关部门表示，将继续调查。",
            "関連する法律が改正された。",
        ],
    );
}

#[test]
fn related_container_classes_skip_unrelated_and_ad_units() {
    let set = pack();
    let rule = rule(&set, "related-container-class");
    for class in [
        "related",
        "related-posts",
        "jp-relatedposts",
        "td-related-articles",
        "post related",
        "crp_related",
        "read-more",
        "more-stories",
        "see-also",
        "wp-block-related-posts--compact",
    ] {
        assert!(class_matches(rule, class), "{class:?} is a related container");
    }
    for class in [
        "unrelated",
        "related-ads",
        "related-searches",
        "relatedAds",
        "trc_related_container",
        "readmore",
        "entry-content",
    ] {
        assert!(!class_matches(rule, class), "{class:?} is not a related container");
    }
    assert!(set.styles.iter().any(|s| &*s.tag == "related"), "the related tag has a style");
}

#[test]
fn host_rules_block_ads_and_tunnel_banks() {
    let set = pack();
    assert!(matches!(set.host_decision("securepubads.g.doubleclick.net"), HostDecision::Block(_)));
    assert!(matches!(set.host_decision("www.chase.com"), HostDecision::Tunnel(_)));
    assert!(matches!(set.host_decision("1-courier.push.apple.com"), HostDecision::Tunnel(_)));
    assert_eq!(set.host_decision("www.theguardian.com"), HostDecision::Normal);
    assert_eq!(set.host_decision("www.amazon.com"), HostDecision::Normal);
}

#[test]
fn tracking_and_affiliate_parameters_are_stripped_only_where_meant() {
    let set = pack();
    let strip = |id: &str| {
        set.links.strip.iter().find(|r| r.id.as_str() == id).unwrap_or_else(|| panic!("no strip rule `{id}`"))
    };
    let tracking = strip("strip-tracking");
    assert!(tracking.hosts.is_none(), "tracking parameters go everywhere");
    for param in ["utm_source", "utm_medium", "fbclid", "gclid", "mc_eid", "_ga", "igshid", "ttclid"] {
        assert!(tracking.params.is_match(param), "{param} is tracking");
    }
    for param in ["ref", "tag", "id", "page", "q", "variant", "UTM_SOURCE"] {
        assert!(!tracking.params.is_match(param), "{param} is not stripped everywhere");
    }
    let amazon = strip("strip-amazon-affiliate");
    assert!(amazon
        .hosts
        .as_ref()
        .is_some_and(|h| h.matches("www.amazon.co.uk") && !h.matches("example.com")));
    for param in ["tag", "linkCode", "ref_", "ascsubtag", "pd_rd_w"] {
        assert!(amazon.params.is_match(param), "{param} is an Amazon affiliate parameter");
    }
    for param in ["th", "psc", "smid", "keywords"] {
        assert!(!amazon.params.is_match(param), "{param} is functional on Amazon");
    }
    let wrappers: Vec<_> = set.links.unwrap.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "unwrap-skimlinks",
        "unwrap-viglink",
        "unwrap-linksynergy",
        "unwrap-awin",
        "unwrap-shareasale",
        "unwrap-cj",
    ] {
        assert!(wrappers.contains(&id), "{id} is shipped");
    }
}
