//! Unit tests of the compiler: one per error and warning kind, plus what a good set compiles into.

use std::path::Path;

use super::*;
use crate::rules::{HostDecision, TextTest};

/// A temporary rules directory holding `files` (`lists/x.txt` paths allowed).
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {parent:?}: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    }
    dir
}

/// Every error of loading `files`, as `file:line:col: message` lines.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match load_dir(dir_with(files).path()) {
        Ok(_) => panic!("the rules should not load"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The set and warnings of loading `files`, which must load.
fn load(files: &[(&str, &str)]) -> (RuleSet, Vec<String>) {
    match load_dir(dir_with(files).path()) {
        Ok((set, warnings)) => (set, warnings.iter().map(ToString::to_string).collect()),
        Err(errors) => panic!("the rules should load, got {errors:#?}"),
    }
}

#[test]
fn an_empty_directory_is_an_empty_set() {
    let (set, warnings) = load(&[]);
    assert_eq!(set.rule_count(), 0);
    assert!(warnings.is_empty());
}

#[test]
fn a_missing_directory_is_an_error() {
    let dir = dir_with(&[]);
    let missing = dir.path().join("nope");
    let Err(errors) = load_dir(&missing) else { panic!("a missing directory must not load") };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.starts_with("cannot read the rules directory"), "{}", errors[0]);
    assert!(load_dir(Path::new("/dev/null")).is_err());
}

#[test]
fn toml_syntax_errors_point_at_the_place() {
    let errs = errors(&[("a.toml", "[[remove]]\nid = \"x\"\nselector = \"p\ncase = 1\n")]);
    assert!(!errs.is_empty());
    assert!(errs[0].starts_with("a.toml:3:"), "{errs:?}");
    assert!(errs[0].contains("invalid TOML"), "{errs:?}");
}

#[test]
fn unknown_keys_name_the_rule_and_point_at_the_key() {
    let errs = errors(&[("a.toml", "[[remove]]\nid = \"x\"\nselector = \"p\"\n  colour = 1\n")]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("a.toml:4:3: rule `x`: unknown field `colour`"), "{errs:?}");
}

#[test]
fn a_missing_id_is_reported() {
    let errs = errors(&[("a.toml", "\n[[tag]]\nselector = \"p\"\ntag = \"t\"\n")]);
    assert_eq!(errs, ["a.toml:2:1: [[tag]]: missing field `id`"]);
}

#[test]
fn duplicate_ids_across_files_are_reported_at_the_second() {
    let rule = "[[remove]]\nid = \"dup\"\nselector = \"p\"\n";
    let errs = errors(&[("a.toml", rule), ("b.toml", &format!("\n{rule}"))]);
    assert_eq!(errs, ["b.toml:3:6: duplicate rule id `dup` (first defined at a.toml:2)"]);
}

#[test]
fn bad_ids_are_reported() {
    let errs = errors(&[("a.toml", "[[remove]]\nid = \"a b\"\nselector = \"p\"\n")]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("a.toml:2:6: rule id \"a b\" contains ' '"), "{errs:?}");
}

#[test]
fn unsupported_selectors_name_the_feature() {
    let errs = errors(&[("a.toml", "[[remove]]\nid = \"x\"\nselector = \"div:has(a.shop)\"\n")]);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(
            "a.toml:3:12: rule `x`: invalid selector \"div:has(a.shop)\": `:has` is not supported"
        ),
        "{errs:?}"
    );
}

#[test]
fn bad_regexes_are_reported() {
    let text = "[[remove]]\nid = \"x\"\nselector = \"p\"\n[remove.when]\nown_text_matches = '(unclosed'\n";
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("a.toml:5:20: rule `x`: invalid regex \"(unclosed\": unclosed group"),
        "{errs:?}"
    );
}

#[test]
fn bad_hosts_and_unknown_lists_are_reported() {
    let text = "[[block]]\nid = \"b\"\nhosts = [\"ads.example\", \"http://x.com/\", \"@nope\"]\n";
    let errs = errors(&[("a.toml", text), ("lists/shops.txt", "amazon.*\nbad host\n")]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("a.toml:3:25: host pattern \"http://x.com/\" contains '/'"), "{errs:?}");
    assert_eq!(errs[1], "a.toml:3:42: unknown list `@nope` (known lists: @shops)");
}

#[test]
fn bad_list_entries_are_reported_in_the_list_file() {
    let text = "[[block]]\nid = \"b\"\nhosts = [\"@ads\"]\n[[block]]\nid = \"c\"\nhosts = [\"@ads\"]\n";
    let errs = errors(&[("a.toml", text), ("lists/ads.txt", "# ads\nok.example\n  bad/host\n")]);
    assert_eq!(errs.len(), 1, "reported once although used twice: {errs:?}");
    assert!(errs[0].starts_with("lists/ads.txt:3:3: host pattern \"bad/host\""), "{errs:?}");
}

#[test]
fn exceptions_must_name_known_scoped_rules() {
    let text = "[[block]]\nid = \"b\"\nhosts = [\"x.com\"]\n\n[[exception]]\nid = \"e\"\nsites = [\"a.com\"]\nrules = [\"nope\", \"b\"]\n";
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0], "a.toml:8:10: exception `e`: unknown rule `nope`");
    assert!(errs[1].starts_with("a.toml:8:18: exception `e`: rule `b` is a [[block]] rule"), "{errs:?}");
}

#[test]
fn inside_folds_into_the_selector_and_alone_leaves_no_content_conditions() {
    let text = "[[tag]]\nid = \"t\"\nselector = \"li\"\ntag = \"nav\"\n[tag.when]\ninside = \"nav\"\n\n[[remove]]\nid = \"r\"\nselector = \"p\"\n[remove.when]\ninside = \"aside\"\nown_text_contains = \"buy\"\n";
    let (set, warnings) = load(&[("a.toml", text)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(set.element_rules[0].when.is_none(), "acts at the start tag");
    assert!(set.element_rules[1].when.is_some());
    let errs = errors(&[(
        "a.toml",
        "[[remove]]\nid = \"r\"\nselector = \"p\"\n[remove.when]\ninside = \"a ~ b\"\n",
    )]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("a.toml:5:10: rule `r`: invalid `inside` selector \"a ~ b\""), "{errs:?}");
}

#[test]
fn host_lists_may_be_hosts_files_or_adblock_domain_lists() {
    let text = "[[block]]\nid = \"b\"\nhosts = [\"@hostsfile\", \"@adblock\"]\n";
    let hostsfile = "# hosts\n127.0.0.1 localhost\n0.0.0.0 ads.example track.example # two\n";
    let adblock = "[Adblock Plus 2.0]\n! Title: x\n||pixel.example^\n";
    let (set, warnings) =
        load(&[("a.toml", text), ("lists/hostsfile.txt", hostsfile), ("lists/adblock.txt", adblock)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    for blocked in ["ads.example", "cdn.track.example", "pixel.example"] {
        assert!(matches!(set.host_decision(blocked), HostDecision::Block(_)), "{blocked}");
    }
    assert_eq!(set.host_decision("localhost"), HostDecision::Normal);
}

#[test]
fn block_rules_spare_their_except_hosts() {
    let text = "[[block]]\nid = \"b\"\nhosts = [\"@ads\"]\nexcept_hosts = [\"cdn.ads.example\"]\n";
    let (set, warnings) = load(&[("a.toml", text), ("lists/ads.txt", "ads.example\n")]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(matches!(set.host_decision("ads.example"), HostDecision::Block(_)));
    assert!(matches!(set.host_decision("img.ads.example"), HostDecision::Block(_)));
    assert_eq!(set.host_decision("cdn.ads.example"), HostDecision::Normal);
    assert_eq!(set.host_decision("x.cdn.ads.example"), HostDecision::Normal);
    let errs =
        errors(&[("a.toml", "[[block]]\nid = \"b\"\nhosts = [\"x.com\"]\nexcept_hosts = [\"a/b\"]\n")]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("a.toml:4:17: host pattern \"a/b\""), "{errs:?}");
}

#[test]
fn tag_rules_need_a_tag_and_remove_rules_take_none() {
    let text = "[[tag]]\nid = \"t\"\nselector = \"p\"\n\n[[remove]]\nid = \"r\"\nselector = \"p\"\ntag = \"x\"\n\n[[tag]]\nid = \"u\"\nselector = \"p\"\ntags = [\"ok\", \"not ok\"]\n";
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(
        errs,
        [
            "a.toml:2:6: rule `t`: a [[tag]] rule needs `tag` or `tags`",
            "a.toml:8:7: rule `r`: `tag` is only valid in [[tag]] rules",
            "a.toml:13:15: rule `u`: tag \"not ok\" contains ' '; tags may use ASCII letters, digits, `-` and `_`",
        ]
    );
}

#[test]
fn link_rules_need_params_hosts_and_one_target() {
    let text = "[[strip]]\nid = \"s\"\nparams = []\n\n[[unwrap]]\nid = \"u\"\nhosts = [\"w.example\"]\n\n[[unwrap]]\nid = \"v\"\nhosts = []\nparam = \"url\"\nembedded = \"path\"\n\n[[strip]]\nid = \"t\"\n";
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(
        errs,
        [
            "a.toml:3:10: rule `s`: `params` is empty",
            "a.toml:6:6: rule `u`: an [[unwrap]] rule needs `param`, `params` or `embedded = \"path\"`",
            "a.toml:10:6: rule `v`: give only one of `param`, `params` and `embedded`",
            "a.toml:11:9: rule `v`: `hosts` is empty",
            "a.toml:15:1: rule `t`: missing field `params`",
        ]
    );
}

#[test]
fn unknown_kinds_and_single_tables_are_reported() {
    let errs = errors(&[("a.toml", "[[remvoe]]\nid = \"x\"\n\n[remove]\nid = \"y\"\n")]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("a.toml:1:3: unknown rule kind `remvoe`"), "{errs:?}");
    assert_eq!(errs[1], "a.toml:4:2: `remove` must be a list of tables: write each rule as [[remove]]");
}

#[test]
fn bad_enum_values_and_styles_are_reported() {
    let text = "[[pass]]\nid = \"p\"\nhosts = [\"bank.example\"]\nexempt_from = \"tls\"\n\n[[style]]\ntag = \"t\"\ncss = \"</style><script>\"\n";
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("a.toml:4:15: rule `p`: unknown variant `tls`"), "{errs:?}");
    assert!(errs[1].starts_with("a.toml:8:7: style for tag `t`: `css` must not contain `<`"), "{errs:?}");
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let text = "[[remove]]\nid = \"a\"\nselector = \"p + p\"\n\n[[remove]]\nid = \"b\"\nselector = \"p\"\nextra = true\n\n[[strip]]\nid = \"c\"\nparams = [\"@missing\"]\n";
    assert_eq!(errors(&[("a.toml", text)]).len(), 3);
}

#[test]
fn never_matching_rules_warn() {
    let text = r#"
[[remove]]
id = "min-max"
selector = "p"
[remove.when]
min_text_length = 10
max_text_length = 5

[[remove]]
id = "textless"
selector = "p, img.hero, div > script"
[remove.when]
own_text_contains = "buy"

[[tag]]
id = "zero"
selector = "p"
tag = "t"
[tag.when]
own_text_starts_with = "Related:"
max_text_length = 0

[[style]]
tag = "t"
css = "[data-strainer-tag~=t]{opacity:.5}"

[[style]]
tag = "nobody"
css = "b{}"

[[remove]]
id = "empty-when"
selector = "p"
[remove.when]

[[remove]]
id = "out-of-reach"
selector = "p"
[remove.score]
threshold = 4
[[remove.score.signal]]
weight = 3
links_elsewhere = true
[[remove.score.signal]]
weight = -1
holds = "img"

[[remove]]
id = "always"
selector = "p"
[remove.score]
threshold = -2
[[remove.score.signal]]
weight = -1
holds = "img"
"#;
    let (set, warnings) =
        load(&[("a.toml", text), ("lists/empty.txt", "# none\n"), ("lists/d.txt", "a\na\n")]);
    assert_eq!(set.element_rules.len(), 6);
    assert!(set.element_rules[3].when.is_none(), "an empty `when` is no condition");
    assert_eq!(
        warnings,
        [
            "a.toml:7:19: warning: rule `min-max` can never match: min_text_length 10 > max_text_length 5",
            "a.toml:11:12: warning: rule `textless`: `img` elements hold no page text or links, so the `when` conditions never hold for them",
            "a.toml:11:12: warning: rule `textless`: `script` elements hold no page text or links, so the `when` conditions never hold for them",
            "a.toml:21:19: warning: rule `zero` can never match: max_text_length = 0 leaves no room for the required text",
            "a.toml:27:1: warning: style for tag `nobody`: no [[tag]] rule adds this tag",
            "a.toml:32:6: warning: rule `empty-when`: the `when` table is empty, so the rule acts at the start tag",
            "a.toml:40:13: warning: rule `out-of-reach` can never match: its signals weigh 3 at most, below the threshold 4",
            "a.toml:52:13: warning: rule `always`: the score always reaches its threshold -2, whatever the signals (drop it)",
            "lists/d.txt:2:1: warning: duplicate list entry \"a\" (first on line 1)",
            "lists/empty.txt:1:1: warning: the list is empty, so rules using it match nothing through it",
        ]
    );
}

#[test]
fn a_good_set_compiles_with_origins_order_files_and_exceptions() {
    let promos = r#"
[[tag]]
id = "rel"
selector = "p"
tag = "related"
[tag.when]
own_text_starts_with = ["Related:", "LIRE AUSSI"]
own_text_matches = '^related'

[[remove]]
id = "promo"
selector = "p, li"
except_sites = ["shop.example"]
[remove.when]
links_to = ["@shops"]
case_sensitive = true
own_text_contains = "Buy"
"#;
    let hosts = r#"
[[exception]]
id = "keep-on-news"
sites = ["news.example"]
rules = ["promo", "utm"]

[[exception]]
id = "webmail"
sites = ["mail.example"]

[[strip]]
id = "utm"
params = ["utm_*"]
"#;
    let (set, warnings) = load(&[
        ("b.toml", hosts),
        ("a.toml", promos),
        ("lists/shops.txt", "amazon.*\n"),
        ("x.toml~", "junk"),
        (".#a.toml", "junk"),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let files: Vec<_> = set
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.rule_ids.iter().map(RuleId::as_str).collect::<Vec<_>>()))
        .collect();
    assert_eq!(files, [("a.toml", vec!["rel", "promo"]), ("b.toml", vec!["keep-on-news", "webmail", "utm"])]);
    assert_eq!(set.rule_count(), 5);

    let rel = &set.element_rules[0];
    assert_eq!((rel.id.as_str(), &*rel.origin.file, rel.origin.line), ("rel", "a.toml", 2));
    let when = rel.when.as_ref().unwrap_or_else(|| panic!("rel has conditions"));
    let TextTest::StartsWith { any_of, case_insensitive: true } = &when.text[0] else { panic!("{when:?}") };
    assert_eq!(any_of, &["related:", "lire aussi"]);
    let TextTest::Matches(regex) = &when.text[1] else { panic!("{when:?}") };
    assert!(regex.is_match("RELATED: x"));

    let promo = &set.element_rules[1];
    let when = promo.when.as_ref().unwrap_or_else(|| panic!("promo has conditions"));
    let TextTest::Contains { any_of, case_insensitive: false } = &when.text[0] else { panic!("{when:?}") };
    assert_eq!(any_of, &["Buy"]);
    assert!(when.links_to.as_ref().is_some_and(|hosts| hosts.matches("www.amazon.co.uk")));
    assert!(promo.scope.applies_to(Some("blog.example")));
    assert!(!promo.scope.applies_to(Some("shop.example")));
    assert!(!promo.scope.applies_to(Some("www.news.example")));
    assert!(!set.links.strip[0].scope.applies_to(Some("news.example")));
    assert!(set.links.strip[0].scope.applies_to(Some("other.example")));
    assert!(set.element_rules[0].scope.applies_to(Some("news.example")));

    assert_eq!(set.host_decision("mail.example"), HostDecision::NoRewrite(RuleId::new("webmail")));
    assert_eq!(set.host_decision("other.example"), HostDecision::Normal);
}

#[test]
fn a_scored_rule_keeps_innermost_and_refuses_signals_that_test_nothing() {
    let text = r#"
[[remove]]
id = "boxed"
selector = "div"
[remove.when]
innermost = true
[remove.score]
threshold = 2
[[remove.score.signal]]
weight = 2
text_contains = "Sponsored"
"#;
    let (set, warnings) = load(&[("a.toml", text)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let when = set.element_rules[0].when.as_ref().expect("a scored rule has conditions");
    assert!(when.innermost.is_some(), "innermost alone is a condition of a scored rule");
    assert_eq!(when.innermost, Some(crate::rules::INNERMOST_SLACK));

    // A number is the slack in characters; anything but a boolean or a count is refused.
    let slack = |value: &str| {
        format!("[[tag]]\nid = \"x\"\nselector = \"div\"\ntag = \"t\"\n[tag.when]\nmax_text_length = 9\ninnermost = {value}\n")
    };
    let (set, _) = load(&[("a.toml", &slack("40"))]);
    assert_eq!(set.element_rules[0].when.as_ref().and_then(|when| when.innermost), Some(40));
    let (set, _) = load(&[("a.toml", &slack("false"))]);
    assert_eq!(set.element_rules[0].when.as_ref().and_then(|when| when.innermost), None);
    let errs = errors(&[("a.toml", &slack("\"wide\""))]);
    assert!(errs.iter().any(|e| e.contains("true, false or a number of characters")), "{errs:?}");

    let text = r#"
[[remove]]
id = "empty-signals"
selector = "p"
[remove.score]
threshold = 1
[[remove.score.signal]]
weight = 1
links_elsewhere = false
[[remove.score.signal]]
weight = 1
min_text_length = 0
"#;
    let errs = errors(&[("a.toml", text)]);
    let always = "a signal without conditions always holds";
    assert_eq!(errs.iter().filter(|e| e.contains(always)).count(), 2, "{errs:?}");
}

#[test]
fn link_facts_take_counts_and_a_share_and_refuse_what_tests_nothing() {
    let text = r#"
[[tag]]
id = "box"
selector = "div"
tag = "related"
[tag.when]
min_links_on_site = 2
min_link_text_share = 0.6
min_average_link_text = 20
"#;
    let (set, warnings) = load(&[("a.toml", text)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let when = set.element_rules[0].when.as_ref().expect("link facts are conditions");
    assert_eq!(
        (when.min_links_on_site, when.min_link_text_share, when.min_average_link_text),
        (Some(2), Some(600), Some(20))
    );
    assert!(when.reads_links(), "link facts need the link handler");

    let text = r#"
[[tag]]
id = "bad"
selector = "div"
tag = "related"
[tag.when]
min_links_on_site = 0
min_link_text_share = 1.5
min_average_link_text = 0
[[tag]]
id = "negative-share"
selector = "div"
tag = "related"
[tag.when]
min_link_text_share = -0.2
"#;
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(
        errs,
        [
            "a.toml:7:21: rule `bad`: `min_links_on_site = 0` tests nothing; leave it out",
            "a.toml:8:23: rule `bad`: `min_link_text_share` is a share above 0 and at most 1, such as 0.6, not 1.5",
            "a.toml:9:25: rule `bad`: `min_average_link_text = 0` tests nothing; leave it out",
            "a.toml:15:23: rule `negative-share`: `min_link_text_share` is a share above 0 and at most 1, such as \
             0.6, not -0.2",
        ]
    );
}

#[test]
fn precedes_is_for_tag_rules_that_name_rules_judged_at_the_end() {
    let text = r#"
[[tag]]
id = "label"
selector = "h3"
tag = "related"
[tag.when]
precedes = "list"
[[tag]]
id = "list"
selector = "ul"
tag = "related"
[tag.when]
min_links_on_site = 2
"#;
    let (set, warnings) = load(&[("a.toml", text)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let when = set.element_rules[0].when.as_ref().expect("precedes is a condition");
    assert_eq!(when.precedes, [RuleId::new("list")]);

    let text = r#"
[[remove]]
id = "cut"
selector = "h3"
[remove.when]
precedes = "list"
[[tag]]
id = "inner"
selector = "h3"
tag = "x"
[tag.when]
innermost = true
precedes = "list"
[[tag]]
id = "list"
selector = "ul"
tag = "related"
[tag.when]
precedes = "inner"
[[tag]]
id = "nowhere"
selector = "p"
tag = "x"
[tag.when]
precedes = "missing"
"#;
    let errs = errors(&[("a.toml", text)]);
    assert_eq!(
        errs,
        [
            "a.toml:6:12: rule `cut`: `precedes` is for [[tag]] rules (a removal cannot wait for what follows)",
            "a.toml:13:12: rule `inner`: `precedes` and `innermost` do not go together",
            "a.toml:14:1: rule `list`: `precedes = \"inner\"` names no element rule",
            "a.toml:20:1: rule `nowhere`: `precedes = \"missing\"` names no element rule",
        ]
    );
    let text = r#"
[[tag]]
id = "label"
selector = "h3"
tag = "x"
[tag.when]
precedes = "list"
[[tag]]
id = "list"
selector = "ul"
tag = "related"
[tag.when]
precedes = "label"
"#;
    let waits = "names a rule that waits for what follows itself";
    assert_eq!(errors(&[("a.toml", text)]).iter().filter(|e| e.contains(waits)).count(), 2);
}
