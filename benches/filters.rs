//! Filter lists (EasyList + EasyPrivacy + uBO privacy, from Debian's `webext-ublock-origin-chromium`) next to
//! the shipped rules: loading them, one block decision, the per-site stylesheet, link cleaning with
//! `$removeparam`, the seed article through the engine with and without the lists, and what turning EasyList's
//! site-specific hiding rules into stream rules would cost every response.
//!
//! Run: `cargo bench --bench filters -- --warm-up-time 1 --measurement-time 4`.
#![allow(clippy::expect_used)] // benchmarks may use expect("why")

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::Criterion;
use strainer::filters::survey::Survey;
use strainer::rewrite::{RewriteOptions, Rewriter};
use strainer::rules::RuleSet;

const ASSETS: &str = "/usr/share/chromium/extensions/ublock-origin/assets";
const LISTS: [&str; 3] =
    ["thirdparties/easylist/easylist.txt", "thirdparties/easylist/easyprivacy.txt", "ublock/privacy.min.txt"];

/// The shipped rules plus `filters/` linking the three lists.
fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(&shipped).expect("rules") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::create_dir(dir.path().join("lists")).expect("lists");
    for entry in std::fs::read_dir(shipped.join("lists")).expect("lists") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join("lists").join(path.file_name().expect("name"))).expect("copy");
    }
    std::fs::create_dir(dir.path().join("filters")).expect("filters");
    for list in LISTS {
        let source = PathBuf::from(ASSETS).join(list);
        std::os::unix::fs::symlink(
            &source,
            dir.path().join("filters").join(source.file_name().expect("name")),
        )
        .expect("link");
    }
    dir
}

/// Requests a news page makes: the page, first-party assets, CDNs, ad and analytics hosts.
const REQUESTS: [(&str, &str); 10] = [
    ("https://news.example/2026/12/article.html", "document"),
    ("https://news.example/static/app.3f2a.js", "script"),
    ("https://news.example/img/hero.jpg", "image"),
    ("https://cdn.jsdelivr.net/npm/lib@1/dist/lib.min.js", "script"),
    ("https://fonts.gstatic.com/s/roboto/v30/font.woff2", "font"),
    ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "script"),
    ("https://www.google-analytics.com/g/collect?v=2&tid=G-XYZ", "xhr"),
    ("https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", "script"),
    ("https://news.example/ads/banner-300x250.gif", "image"),
    ("https://connect.facebook.net/en_US/fbevents.js", "script"),
];

fn filters(c: &mut Criterion) {
    if !LISTS.iter().all(|l| Path::new(ASSETS).join(l).is_file()) {
        eprintln!("SKIPPED: the lists are missing under {ASSETS} (apt-get install -y webext-ublock-origin-chromium)");
        return;
    }
    let dir = rules_dir();
    let mut group = c.benchmark_group("filters");
    group.sample_size(10);
    group.bench_function("load shipped rules + EasyList + EasyPrivacy + uBO privacy", |b| {
        b.iter(|| strainer::rules::load_dir(black_box(dir.path())).expect("loads"))
    });
    group.finish();

    let (with_lists, _) = strainer::rules::load_dir(dir.path()).expect("loads");
    let lists = with_lists.filters.clone().expect("lists loaded");
    let blocked = REQUESTS
        .iter()
        .filter(|(url, kind)| lists.check_request(url, "https://news.example/", kind).is_some())
        .count();
    eprintln!("{blocked} of {} sample requests blocked", REQUESTS.len());
    let mut next = 0;
    c.bench_function("filters/block decision (one request, 10 kinds in turn)", |b| {
        b.iter(|| {
            let (url, kind) = REQUESTS[next % REQUESTS.len()];
            next += 1;
            black_box(lists.check_request(black_box(url), "https://news.example/", kind))
        })
    });
    c.bench_function("filters/stylesheet of a site (cached)", |b| {
        b.iter(|| black_box(lists.stylesheet(black_box("news.example"))))
    });
    let link = "https://shop.example/item?id=7&gad_source=1&utm_source=x&ref=abc";
    c.bench_function("filters/clean one link (strip rules + removeparam)", |b| {
        b.iter(|| black_box(with_lists.links.clean(black_box(link), Some("news.example"))))
    });

    let (shipped, _) = strainer::rules::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
        .expect("shipped rules");
    let article =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/seed-article.html"))
            .expect("the seed article beside the checkout");
    let rewrite = |rules: &Arc<RuleSet>, css: Vec<Arc<str>>, mut survey: Option<Survey>| {
        let options = RewriteOptions {
            site: Some("news.example".to_owned()),
            extra_css: css,
            ..RewriteOptions::default()
        };
        let mut rewriter = Rewriter::new(Arc::clone(rules), options);
        let out = rewriter.write(&article);
        let (tail, report) = rewriter.finish();
        let style = survey.as_mut().map(|survey| {
            survey.feed(&out);
            survey.feed(&tail);
        });
        (out, tail, report, style, survey.and_then(Survey::finish))
    };
    let shipped = Arc::new(shipped);
    let with_lists = Arc::new(with_lists);
    let mut group = c.benchmark_group("filters/seed article through the engine");
    group.bench_function("shipped rules", |b| b.iter(|| black_box(rewrite(&shipped, Vec::new(), None))));
    group.bench_function("shipped rules + lists (stream rules, head stylesheet, page survey)", |b| {
        b.iter(|| {
            black_box(rewrite(&with_lists, lists.stylesheet("news.example"), lists.survey("news.example")))
        })
    });
    group.finish();
}

/// What it would cost to turn EasyList's site-specific `##selector` rules (9,468) into stream rules: the engine
/// checks every element rule's site scope once per response, so each response pays for all of them.
fn site_rules_as_stream_rules(c: &mut Criterion) {
    let (mut rules, _) = strainer::rules::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
        .expect("shipped rules");
    let shipped = Arc::new(
        strainer::rules::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).expect("rules").0,
    );
    for i in 0..9_468 {
        let site = strainer::rules::HostPattern::new(&format!("site{i}.example")).expect("pattern");
        rules.element_rules.push(strainer::rules::ElementRule {
            id: strainer::rules::RuleId::new(&format!("site-{i}")),
            origin: strainer::rules::RuleOrigin { file: Arc::from("filters/x.txt"), line: i },
            selector_text: format!("div.ad-{i}"),
            selector: format!("div.ad-{i}").parse().expect("selector"),
            action: strainer::rules::ElementAction::Remove,
            when: None,
            scope: strainer::rules::SiteScope {
                include: strainer::rules::HostSet::new(vec![site]),
                exclude: strainer::rules::HostSet::default(),
            },
        });
    }
    let with_site_rules = Arc::new(rules);
    let page = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Hello.</p></body></html>";
    let run = |rules: &Arc<RuleSet>| {
        let options = RewriteOptions { site: Some("news.example".to_owned()), ..RewriteOptions::default() };
        let mut rewriter = Rewriter::new(Arc::clone(rules), options);
        let out = rewriter.write(page);
        (out, rewriter.finish())
    };
    let mut group = c.benchmark_group("filters/small page, per response");
    group.bench_function("shipped rules", |b| b.iter(|| black_box(run(&shipped))));
    group.bench_function("shipped rules + 9,468 site-scoped stream rules", |b| {
        b.iter(|| black_box(run(&with_site_rules)))
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    filters(&mut criterion);
    site_rules_as_stream_rules(&mut criterion);
    criterion.final_summary();
}
