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
            "Amazon – which reported record sales on Thursday – said its warehouses would hire more staff.",
            "Lodge skillet – sears a steak.",
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
            "More on this story: the timeline",
            "Related coverage | x",
            "👉 Go deeper: x",
            "Lire aussi : la réforme",
            "À lire aussi : x",
            "Leia também: x",
            "Lesen Sie auch: x",
            "Lea también: x",
            "Leggi anche: x",
            "Читайте также: x",
            "相关阅读：x",
        ],
        &[
            // A label that is the whole text is `related-heading`'s.
            "More on this story",
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
    assert_texts(
        rule(&set, "related-heading"),
        &[
            "More on this story",
            "Related coverage",
            "Related Stories",
            "Mehr zum Thema",
            "Související články",
            "相關新聞",
            "関連記事",
            "You might also like:",
        ],
        &["Related: Zelenskyy Commits to Istanbul Peace Talks", "Read more", "Related Searches"],
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
        "duet--article--more-stories",
        "article__related",
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
        "ab_thumbnails-d_row-read-more",
        "entry-content",
    ] {
        assert!(!class_matches(rule, class), "{class:?} is not a related container");
    }
    assert!(
        set.styles.is_empty(),
        "the shipped pack injects no CSS (pages keep every byte no rule acted on)"
    );
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
    for param in [
        "utm_source",
        "utm_medium",
        "fbclid",
        "gclid",
        "mc_eid",
        "_ga",
        "igshid",
        "ttclid",
        "UTM_CAMPAIGN",
        "Fbclid",
        "MC_EID",
    ] {
        assert!(tracking.params.is_match(param), "{param} is tracking, in any letter case");
    }
    for param in ["ref", "tag", "id", "page", "q", "variant", "utmost", "source"] {
        assert!(!tracking.params.is_match(param), "{param} is not stripped everywhere");
    }
    let affiliate = strip("strip-affiliate-ids");
    assert!(affiliate.hosts.is_none(), "generic affiliate identifiers go everywhere");
    for param in ["aff_sub", "AFF_SUB3", "affiliate_id", "irclickid", "clickref", "cjevent", "ranSiteID"] {
        assert!(affiliate.params.is_match(param), "{param} is a generic affiliate identifier");
    }
    for param in ["ref", "tag", "source", "subid", "clickid", "affinity", "id"] {
        assert!(!affiliate.params.is_match(param), "{param} is ambiguous and stays outside shops");
    }
    let amazon = strip("strip-amazon-affiliate");
    assert!(amazon
        .hosts
        .as_ref()
        .is_some_and(|h| h.matches("www.amazon.co.uk") && !h.matches("example.com")));
    for param in ["tag", "linkCode", "ref_", "ascsubtag", "asc_source"] {
        assert!(amazon.params.is_match(param), "{param} is an Amazon affiliate parameter");
    }
    for param in ["th", "psc", "smid", "keywords", "qid", "crid"] {
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

/// Runs `body` (an article fragment) through the engine with the shipped rules, on `site`.
fn rewrite(set: &std::sync::Arc<RuleSet>, body: &str, site: &str) -> String {
    use strainer::rewrite::{RewriteOptions, Rewriter};
    let page = format!("<html><head><title>t</title></head><body><article>{body}</article></body></html>");
    let options =
        RewriteOptions { site: Some(site.to_owned()), inject_styles: false, ..RewriteOptions::default() };
    let mut rewriter = Rewriter::new(std::sync::Arc::clone(set), options);
    let mut out = rewriter.write(page.as_bytes()).to_vec();
    let (tail, _) = rewriter.finish();
    out.extend_from_slice(&tail);
    String::from_utf8(out).expect("the engine keeps UTF-8")
}

/// Rewrites each `(fragment, text)` on a news site and asserts that `text` is gone from the output.
fn assert_gone(set: &std::sync::Arc<RuleSet>, cases: &[(&str, &str)]) {
    for (fragment, gone) in cases {
        let out = rewrite(set, fragment, "news.example");
        assert!(!out.contains(gone), "{gone:?} should be gone: {fragment}\n→ {out}");
    }
}

/// Rewrites each `(fragment, text)` on a news site and asserts that `text` is still in the output.
fn assert_kept(set: &std::sync::Arc<RuleSet>, cases: &[(&str, &str)]) {
    for (fragment, kept) in cases {
        let out = rewrite(set, fragment, "news.example");
        assert!(out.contains(kept), "{kept:?} should stay: {fragment}\n→ {out}");
    }
}

#[test]
fn through_the_engine_promos_go_and_look_alike_prose_stays() {
    let set = std::sync::Arc::new(pack());
    let promos = [
        r#"<p><b><a href="https://www.amazon.co.uk/dp/B01?tag=x-21">Lodge Skillet</a></b> — Sears a steak like nothing else.</p>"#,
        r#"<ul><li><a href="https://go.skimresources.com/?id=1&url=https%3A%2F%2Fwww.bestbuy.com%2Fsite%2F1">Sony WH-1000XM5</a> - The quietest headphones we tested.</li></ul>"#,
        r#"<p><a href="https://www.walmart.com/ip/1">Buy it: $25 at Walmart</a></p>"#,
        r#"<div class="c-product-box"><h4>Kindle</h4><p>Our pick.</p><a href="https://amzn.to/x">$99 at Amazon</a></div>"#,
    ];
    for promo in promos {
        let out = rewrite(&set, promo, "news.example");
        assert!(!out.contains("<a "), "promo should be removed: {promo}\n→ {out}");
    }
    let prose = [
        // A dash and a shop link, but a long paragraph of prose.
        r#"<p>Amazon – which reported record sales on Thursday – said its warehouses would hire more staff before the holidays, a move analysts said reflects how much of the season's shopping has moved online. The company's shares rose 3 percent in early trading, <a href="https://www.amazon.com/ir">according to its filing</a>, while rivals fell.</p>"#,
        // A dash, but no shop link.
        r#"<p>Water Purification Tablets – a classic <a href="https://en.wikipedia.org/wiki/Water_purification">explainer</a>.</p>"#,
        // A shop link in a short sentence without the pitch shape.
        r#"<p>The book is <a href="https://www.amazon.com/dp/1">available on Amazon</a> and in stores.</p>"#,
        // "Related" mid-sentence and as a sentence opener.
        r#"<p>Related to the talks, officials said the <a href="/news/x">related sanctions</a> stay.</p>"#,
    ];
    for text in prose {
        let out = rewrite(&set, text, "news.example");
        assert!(out.contains(text), "prose should be unchanged: {text}\n→ {out}");
    }
    let shop_page = promos[0];
    assert!(
        rewrite(&set, shop_page, "www.amazon.co.uk").contains("Lodge Skillet"),
        "promo rules are off on shops"
    );
}

#[test]
fn through_the_engine_what_a_removed_pitch_leaves_goes_with_it() {
    let set = std::sync::Arc::new(pack());
    // (fragment, text that must be gone)
    let promos = [
        // A name in a `dt`, its pitch in the `dd`: the pitch rules take the `dd`, the box takes the name.
        (
            r#"<dl><div><dt>Rankspiralen aus Edelstahl (5er-Set)</dt><dd>rosten nicht, die Pflanze windet sich hinauf: 19,90 € bei <a href="https://www.amazon.de/dp/B08">Amazon</a>. Jetzt kaufen</dd></div></dl>"#,
            "Rankspiralen",
        ),
        // Marked-down prices side by side, under a heading in the shop's own words.
        (
            r#"<div class="sc-q1"><h4>Crate-diggers' corner</h4><p>Heaven LP · <s>£28</s> £19.99</p><p>Blue Lines LP · <s>£30</s> £22</p><a href="https://www.recordhaven.example/sale">See the sale</a></div>"#,
            "Crate-diggers",
        ),
        // The label of an AMP ad slot, once the slot is gone.
        (
            r#"<div class="b7"><p class="r9">Advertisement</p><amp-ad width="300" height="250" type="doubleclick"><div fallback>Ad unavailable</div></amp-ad></div>"#,
            "Advertisement",
        ),
        // A call to action and a price, nothing else.
        (
            r#"<p class="button-wrapper"><a href="https://www.mochilasligeras.example/cabina">Consíguelas por 64,95 €</a></p>"#,
            "Consíguelas",
        ),
    ];
    assert_gone(&set, &promos);
    // (fragment, text that must stay)
    let look_alikes = [
        // A section of an article that loses a pitch keeps its prose.
        (
            r#"<section><h3>What we packed</h3><p>We carried two litres each and refilled at every spring on the way up, which was plenty for a cool day.</p></section>"#,
            "We carried",
        ),
        // Two prices with words between them, and a link to a source.
        (
            r#"<div>Vinyl prices fell from £28 to £19.99 over the year, <a href="https://www.ons.gov.uk/x">the statistics office said</a>.</div>"#,
            "Vinyl prices",
        ),
        // The related heading beside a sponsored unit's header stays.
        (
            r#"<div><div><h3>Related Stories</h3><ul></ul></div><div><h3>Sponsored Stories</h3><a href="http://www.outbrain.com/what-is">Powered by</a><ul></ul></div></div>"#,
            "Related Stories",
        ),
    ];
    assert_kept(&set, &look_alikes);
}

#[test]
fn through_the_engine_shops_deal_lists_and_bare_price_lines_go() {
    let set = std::sync::Arc::new(pack());
    // (fragment, text that must be gone)
    let promos = [
        // The publisher's own shop: its links stay on the site.
        (
            r#"<div class="q7"><h4>From the Gazette Shop</h4><div><img src="/shop/mug.jpg" alt=""><span>Front-page mug, 1966 final</span><span>£12.50</span><a href="https://shop.news.example/mug-1966">Add to basket</a></div></div>"#,
            "Gazette Shop",
        ),
        // Deals under a heading, with links only to the site's deals page.
        (
            r#"<div class="x1"><h4>Le offerte della settimana per il giardino</h4><p>Tubo estensibile 30 m – 24,90 €</p><p>Forbici da potatura – 17,50 €</p><a href="/offerte/">Tutte le offerte</a></div>"#,
            "offerte della settimana",
        ),
        // A price then the shop's name, no "at" between them.
        (
            r#"<li>Folding camp stool with carry strap · $27.95 · <a href="https://www.rei.com/product/1">REI</a></li>"#,
            "camp stool",
        ),
        // The old price in brackets after a name.
        (
            r#"<li><a href="https://www.bestbuy.com/site/2">Anker Nano 20W charger</a> $12.99 (was $19.99)</li>"#,
            "Nano 20W",
        ),
        // An ISO currency code after the amount.
        (
            r#"<p><a href="https://www.noon.com/p/3">Cooling seat cover</a> – 89 AED at Noon</p>"#,
            "Cooling seat",
        ),
    ];
    assert_gone(&set, &promos);
    // (fragment, text that must stay)
    let look_alikes = [
        // A shop named in a box that sells nothing.
        (
            r#"<div class="q8"><h4>Shop local this winter</h4><p>The traders of Mill Street open late every Thursday until Christmas, <a href="/news/mill-street">we report</a>.</p></div>"#,
            "Shop local",
        ),
        // A first-person sentence with a dash and a shop link.
        (
            r#"<p>We priced a cedar one first — <a href="https://www.homedepot.com/p/4">Home Depot has several</a> — but the council rules ban anything over two metres.</p>"#,
            "cedar one first",
        ),
        // A fact box's bare old price.
        (r#"<dl><dt>Typical bill</dt><dd>£1,690 (was £1,928)</dd></dl>"#, "£1,690 (was £1,928)"),
    ];
    assert_kept(&set, &look_alikes);
}

#[test]
fn through_the_engine_related_blocks_are_tagged_and_prose_is_not() {
    let set = std::sync::Arc::new(pack());
    let related = [
        r#"<p><strong>Related:</strong> <a href="/news/a">A headline</a></p>"#,
        r#"<p class="lire">Lire aussi : <a href="/a">La réforme</a></p>"#,
        r#"<aside class="related-posts"><h3>More</h3><a href="/a">A</a></aside>"#,
        r#"<div id="jp-relatedposts"><a href="/a">A</a></div>"#,
        // The other parts of a series, whatever the series is called.
        r#"<div class="k2">Part one of this series: <a href="/diy/level-floor">Levelling a floor that slopes towards the garden</a></div>"#,
        r#"<p>Earlier in the allotment diary: <a href="/diary/march">March, and the slugs arrive early</a></p>"#,
    ];
    for block in related {
        let out = rewrite(&set, block, "news.example");
        assert!(out.contains(r#"data-strainer-tag="related""#), "should be tagged: {block}\n→ {out}");
    }
    for prose in [
        r#"<p>Read more about the plan in <a href="/explainer">our explainer</a>.</p>"#,
        r#"<div class="unrelated-note"><p>Text.</p></div>"#,
        r#"<div class="related-ads"><a href="https://ads.example/">Ad</a></div>"#,
        // A series in prose, and a pager of the article itself.
        r#"<p>The second part of this series airs on Sunday, and the director told us that the budget had doubled since <a href="/tv/pilot">the pilot</a>, which was shot in six weeks.</p>"#,
        r#"<p>Part 2 of the budget: <a href="https://www.gov.example/budget/part-2">the full document</a></p>"#,
    ] {
        let out = rewrite(&set, prose, "news.example");
        assert!(!out.contains("data-strainer-tag"), "should not be tagged: {prose}\n→ {out}");
    }
}
