//! Unit tests for link cleaning, with rules built in code.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::*;
use crate::rules::HostPattern;

fn hosts(patterns: &[&str]) -> HostSet {
    HostSet::new(patterns.iter().map(|p| HostPattern::new(p).expect("test host pattern is valid")).collect())
}

fn params(globs: &[&str]) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).expect("test glob is valid"));
    }
    builder.build().expect("test glob set builds")
}

fn strip(id: &str, names: &[&str], only_hosts: Option<&[&str]>) -> StripRule {
    StripRule {
        id: RuleId::new(id),
        params: params(names),
        hosts: only_hosts.map(hosts),
        scope: SiteScope::default(),
    }
}

fn unwrap(id: &str, wrapper_hosts: &[&str], target: UnwrapTarget) -> UnwrapRule {
    UnwrapRule { id: RuleId::new(id), hosts: hosts(wrapper_hosts), target, scope: SiteScope::default() }
}

fn by_param(names: &[&str]) -> UnwrapTarget {
    UnwrapTarget::QueryParam(names.iter().map(|n| (*n).to_owned()).collect())
}

/// A rule set like the shipped `links.toml`.
fn rules() -> LinkRules {
    LinkRules::new(
        vec![
            strip("utm", &["utm_*", "fbclid", "gclid"], None),
            strip("amazon-affiliate", &["tag", "linkCode", "ref_"], Some(&["amazon.*"])),
        ],
        vec![
            unwrap("skimlinks", &["go.skimresources.com", "go.redirectingat.com"], by_param(&["url"])),
            unwrap("viglink", &["redirect.viglink.com"], by_param(&["u"])),
            unwrap("linksynergy", &["click.linksynergy.com"], by_param(&["murl"])),
            unwrap("cj", &["anrdoezrs.net", "dpbolvw.net"], UnwrapTarget::PathEmbedded),
        ],
    )
}

/// Cleans `url` and returns the new URL and the rule ids, or `None`.
fn clean_with(rules: &LinkRules, url: &str, site: Option<&str>) -> Option<(String, Vec<String>)> {
    let cleaned = rules.clean(url, site)?;
    let ids = cleaned.rules.iter().map(|id| id.as_str().to_owned()).collect();
    Some((cleaned.url, ids))
}

/// Asserts that `url` cleans to `expected` by `ids`, and that cleaning the result changes nothing.
fn assert_cleans(url: &str, site: Option<&str>, expected: &str, ids: &[&str]) {
    let rules = rules();
    let (cleaned, acted) = clean_with(&rules, url, site).unwrap_or_else(|| panic!("{url} should change"));
    assert_eq!(cleaned, expected, "cleaning {url}");
    assert_eq!(acted, ids, "rules for {url}");
    assert_eq!(rules.clean(&cleaned, site), None, "cleaning {cleaned} again must change nothing");
}

fn assert_unchanged(url: &str, site: Option<&str>) {
    assert_eq!(rules().clean(url, site), None, "{url} must stay as it is");
}

#[test]
fn skimlinks_is_unwrapped_then_stripped() {
    assert_cleans(
        "https://go.skimresources.com/?id=98765X1234567&xs=1&url=https%3A%2F%2Fwww.example-outfitters.com%2Fhand-warmers-bulk%3Futm_source%3Dnewsdesk%26variant%3D40",
        None,
        "https://www.example-outfitters.com/hand-warmers-bulk?variant=40",
        &["skimlinks", "utm"],
    );
}

#[test]
fn redirectingat_without_slash_before_query() {
    assert_cleans(
        "https://go.redirectingat.com?id=66960X1516588&xs=1&url=https%3A%2F%2Fwww.hulu.com%2Fmovie%2Fsome-film%3Futm_campaign%3Dx",
        Some("news.example"),
        "https://www.hulu.com/movie/some-film",
        &["skimlinks", "utm"],
    );
}

#[test]
fn viglink_and_linksynergy_use_their_parameters() {
    assert_cleans(
        "https://redirect.viglink.com/?key=x&u=https%3A%2F%2Fshop.example.net%2Fitem%3Fid%3D7%26utm_medium%3Daff",
        None,
        "https://shop.example.net/item?id=7",
        &["viglink", "utm"],
    );
    assert_cleans(
        "https://click.linksynergy.com/deeplink?id=x&mid=1&murl=https%3A%2F%2Fwww.example-store.com%2Fp%2F123",
        None,
        "https://www.example-store.com/p/123",
        &["linksynergy"],
    );
}

#[test]
fn cj_path_embedded_plain_and_encoded() {
    assert_cleans(
        "https://www.anrdoezrs.net/links/123/type/dlg/https://www.example.com/p?x=1",
        None,
        "https://www.example.com/p?x=1",
        &["cj"],
    );
    assert_cleans(
        "https://www.dpbolvw.net/click-1-2?url=HTTPS%3A%2F%2Fwww.example.com%2Fp%3Fx%3D1%26gclid%3Dz",
        None,
        "HTTPS://www.example.com/p?x=1",
        &["cj", "utm"],
    );
    // `:` plain, slashes encoded (CamelCamelCamel-style `CL0/https:%2F%2F…`).
    assert_cleans(
        "https://www.anrdoezrs.net/links/1/https:%2F%2Fwww.example.com%2Fa%2Fb",
        None,
        "https://www.example.com/a/b",
        &["cj"],
    );
    // Nothing embedded: left alone.
    assert_unchanged("https://www.anrdoezrs.net/links/123/type/dlg/hello", None);
}

#[test]
fn amazon_affiliate_parameters_only_on_amazon() {
    assert_cleans(
        "https://www.amazon.com/dp/B0TESTWPT1?tag=newsdesk0a-20&linkCode=ll1&ref_=as_li_ss_tl",
        None,
        "https://www.amazon.com/dp/B0TESTWPT1",
        &["amazon-affiliate"],
    );
    assert_cleans(
        "https://smile.amazon.co.uk/dp/X?th=1&tag=a-21&utm_source=b",
        None,
        "https://smile.amazon.co.uk/dp/X?th=1",
        &["utm", "amazon-affiliate"],
    );
    assert_unchanged("https://shop.example.com/item?tag=blue&linkCode=1", None);
}

#[test]
fn relative_links_use_host_less_rules_and_the_site() {
    assert_cleans("/news/x/?utm_source=internal&utm_medium=related", None, "/news/x/", &["utm"]);
    assert_cleans("?utm_source=a&page=2", None, "?page=2", &["utm"]);
    assert_cleans("page.html?fbclid=1#top", None, "page.html#top", &["utm"]);
    // Amazon-only rules apply to relative links on Amazon pages, and only there.
    assert_cleans("/dp/X?tag=a-20&th=1", Some("www.amazon.com"), "/dp/X?th=1", &["amazon-affiliate"]);
    assert_unchanged("/dp/X?tag=a-20&th=1", Some("news.example"));
    assert_unchanged("/dp/X?tag=a-20&th=1", None);
}

#[test]
fn fragment_is_kept() {
    assert_cleans("https://a.example/p?utm_source=x&b=2#sec", None, "https://a.example/p?b=2#sec", &["utm"]);
    assert_cleans(
        "https://a.example/p?utm_source=x#sec?utm_medium=y",
        None,
        "https://a.example/p#sec?utm_medium=y",
        &["utm"],
    );
    assert_unchanged("https://a.example/p#utm_source=x", None);
}

#[test]
fn other_parameters_keep_bytes_and_order() {
    assert_cleans(
        "https://a.example/?b=%41+x&utm_medium=x&a=1&&c;utm_source=2&utm_source",
        None,
        "https://a.example/?b=%41+x&a=1&&c;utm_source=2",
        &["utm"],
    );
    assert_cleans("https://a.example/?a&utm_term=1&", None, "https://a.example/?a&", &["utm"]);
    // A query with nothing but separators left is dropped with its `?`.
    assert_cleans("https://a.example/x?&utm_source=1&", None, "https://a.example/x", &["utm"]);
    assert_unchanged("https://a.example/x?&&", None);
    assert_unchanged("https://a.example/x?", None);
}

#[test]
fn parameter_names_are_compared_decoded() {
    assert_cleans("https://a.example/?utm%5Fsource=x&a=1", None, "https://a.example/?a=1", &["utm"]);
    assert_cleans("https://a.example/?%66bclid=x", None, "https://a.example/", &["utm"]);
    // Case-sensitive, as the rules say.
    assert_unchanged("https://a.example/?UTM_SOURCE=x", None);
}

#[test]
fn non_web_links_are_never_touched() {
    assert_unchanged("mailto:a@example.com?subject=hi&utm_source=x", None);
    assert_unchanged("javascript:void(0)?utm_source=x", None);
    assert_unchanged("ftp://files.example/?utm_source=x", None);
    assert_unchanged("", None);
}

#[test]
fn bad_destinations_are_refused() {
    for url in [
        "https://go.skimresources.com/?url=javascript%3Aalert(1)",
        "https://go.skimresources.com/?url=javascript:alert(1)",
        "https://go.skimresources.com/?url=data%3Atext%2Fhtml%2Chi",
        "https://go.skimresources.com/?url=https%253A%252F%252F",
        "https://go.skimresources.com/?url=https%3A%2F%2F%2Fno-host",
        "https://go.skimresources.com/?url=",
        "https://go.skimresources.com/?url",
        "https://go.skimresources.com/?u=https%3A%2F%2Fother.example",
        "https://www.anrdoezrs.net/links/1/https:%2F%2F",
    ] {
        assert_unchanged(url, None);
    }
    // The wrapper's own tracking parameters still go.
    assert_cleans(
        "https://go.skimresources.com/?url=javascript%3Aalert(1)&utm_source=x",
        None,
        "https://go.skimresources.com/?url=javascript%3Aalert(1)",
        &["utm"],
    );
}

#[test]
fn double_encoded_destination_is_decoded_twice() {
    assert_cleans(
        "https://go.skimresources.com/?url=https%253A%252F%252Fx.example%252Fp%253Fa%253D1%2526utm_source%253Dz",
        None,
        "https://x.example/p?a=1",
        &["skimlinks", "utm"],
    );
    // Decoded once only when the result is a URL already: `%25` in a destination stays an escape.
    assert_cleans(
        "https://go.skimresources.com/?url=https%3A%2F%2Fx.example%2F100%2525",
        None,
        "https://x.example/100%25",
        &["skimlinks"],
    );
}

#[test]
fn unsafe_bytes_in_destinations_are_escaped() {
    assert_cleans(
        "https://go.skimresources.com/?url=https%3A%2F%2Fx.example%2Fa%20b%22%3E%0A%FF%C3%A9",
        None,
        "https://x.example/a%20b%22%3E%0A%FFé",
        &["skimlinks"],
    );
}

#[test]
fn nested_wrappers_unwrap_up_to_four_levels() {
    let inner = "https://shop.example/p?utm_source=a&id=1";
    let skim = format!(
        "https://go.skimresources.com/?url={}",
        percent_encoding::utf8_percent_encode(inner, percent_encoding::NON_ALPHANUMERIC)
    );
    let vig = format!(
        "https://redirect.viglink.com/?u={}",
        percent_encoding::utf8_percent_encode(&skim, percent_encoding::NON_ALPHANUMERIC)
    );
    assert_cleans(&vig, None, "https://shop.example/p?id=1", &["viglink", "skimlinks", "utm"]);

    // Five levels: the fifth wrapper stays (and is then stripped of nothing).
    let mut url = "https://shop.example/p".to_owned();
    for _ in 0..5 {
        url = format!(
            "https://go.skimresources.com/?url={}",
            percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC)
        );
    }
    let rules = rules();
    let cleaned = rules.clean(&url, None).expect("four levels unwrap");
    assert_eq!(cleaned.url, "https://go.skimresources.com/?url=https%3A%2F%2Fshop%2Eexample%2Fp");
    assert_eq!(cleaned.rules, vec![RuleId::new("skimlinks")]);
}

#[test]
fn site_scope_switches_rules_off() {
    let mut rules = rules();
    rules.strip[0].scope = SiteScope { include: HostSet::default(), exclude: hosts(&["shop.example.com"]) };
    rules.unwrap[0].scope = SiteScope { include: hosts(&["news.example"]), exclude: HostSet::default() };
    let tracked = "https://a.example/?utm_source=x";
    assert!(rules.clean(tracked, Some("shop.example.com")).is_none());
    assert!(rules.clean(tracked, Some("www.news.example")).is_some());
    // Sites in `include` only: off when no site is known.
    let wrapped = "https://go.skimresources.com/?url=https%3A%2F%2Fx.example%2F";
    assert_eq!(
        clean_with(&rules, wrapped, Some("news.example")),
        Some(("https://x.example/".to_owned(), vec!["skimlinks".to_owned()]))
    );
    assert!(rules.clean(wrapped, Some("other.example")).is_none());
    assert!(rules.clean(wrapped, None).is_none());
    assert_eq!(rules.destination_host(wrapped, None).as_deref(), Some("go.skimresources.com"));
}

#[test]
fn rule_ids_are_listed_once_in_rule_order() {
    let mut rules = rules();
    rules.strip.push(strip("more-utm", &["utm_source", "mc_cid"], None));
    let (url, ids) =
        clean_with(&rules, "https://a.example/?mc_cid=1&utm_source=2&utm_medium=3", None).expect("changes");
    assert_eq!(url, "https://a.example/");
    // `utm_source` is credited to the first rule matching it; `mc_cid` only `more-utm` matches.
    assert_eq!(ids, ["utm", "more-utm"]);
}

#[test]
fn surrounding_whitespace_is_ignored() {
    assert_cleans("  https://a.example/?utm_source=x\n", None, "https://a.example/", &["utm"]);
    assert_unchanged(" https://a.example/?a=1 ", None);
}

#[test]
fn destination_host_of_plain_links_and_wrappers() {
    let rules = rules();
    let host = |url: &str, site: Option<&str>| rules.destination_host(url, site);
    assert_eq!(host("https://WWW.Example.COM.:8443/x", None).as_deref(), Some("www.example.com"));
    assert_eq!(host("//user:pw@cdn.example/x", None).as_deref(), Some("cdn.example"));
    assert_eq!(host("http://[2001:DB8::1]:8080/", None).as_deref(), Some("2001:db8::1"));
    // Userinfo cannot fake a wrapper, and `\` ends the authority as in browsers.
    assert_eq!(
        host("https://go.skimresources.com@evil.example/?url=https%3A%2F%2Fx.example", None).as_deref(),
        Some("evil.example")
    );
    assert_eq!(host("https://evil.example\\@go.skimresources.com/", None).as_deref(), Some("evil.example"));
    assert_eq!(
        host("https://go.skimresources.com/?url=https%3A%2F%2FShop.Example%3A81%2Fp", None).as_deref(),
        Some("shop.example")
    );
    assert_eq!(
        host("https://www.anrdoezrs.net/links/1/https://x.example/", None).as_deref(),
        Some("x.example")
    );
    assert_eq!(host("/news/x", Some("news.example")), None);
    assert_eq!(host("mailto:a@example.com", None), None);
    assert_eq!(host("https:///path", None), None);
    assert_eq!(
        host("https://go.skimresources.com/?url=javascript%3Ax", None).as_deref(),
        Some("go.skimresources.com")
    );
    // A relative link on a wrapper site leads where it redirects.
    assert_eq!(
        host("/?url=https%3A%2F%2Fx.example%2F", Some("go.skimresources.com")).as_deref(),
        Some("x.example")
    );
}

/// Small deterministic generator (xorshift64*), so the garbage is the same on every run.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "https://",
        "http:",
        "//",
        "/",
        "\\",
        "?",
        "&",
        "&&",
        "=",
        "#",
        "%",
        "%3A",
        "%2F",
        "%25",
        "%3a%2f%2f",
        "https%3A%2F%2F",
        "https:%2F%2F",
        "HTTP://",
        "url=",
        "u=",
        "murl=",
        "utm_source",
        "utm%5F",
        "tag=",
        "@",
        ":",
        "[",
        "]",
        "[::1]",
        ":80",
        ".",
        "go.skimresources.com",
        "redirect.viglink.com",
        "www.anrdoezrs.net",
        "amazon.de",
        "x",
        "é",
        "\u{1F600}",
        "\u{0}",
        " ",
        "\n",
        "javascript:",
        "%FF",
        "%C3",
        "%",
        "h",
        "H",
        "s",
    ];
    let rules = rules();
    let mut rng = Garbage(0x5eed_1234_abcd_0042);
    for _ in 0..4000 {
        let mut url = String::new();
        for _ in 0..rng.below(16) {
            url.push_str(PIECES[rng.below(PIECES.len())]);
        }
        let site = ["amazon.de", "go.skimresources.com", "news.example"].get(rng.below(4)).copied();
        let _ = rules.destination_host(&url, site);
        if let Some(cleaned) = rules.clean(&url, site) {
            assert_ne!(cleaned.url, url, "a change must change the text");
            assert!(!cleaned.rules.is_empty(), "a change names its rules");
            let _ = rules.clean(&cleaned.url, site);
        }
    }
}
