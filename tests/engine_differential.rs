//! The streaming engine against the whole-page reference (`support/reference.rs`): the 62 corpus pages and the
//! seed article with the shipped rules and with rules built to fire often, each at random chunkings; and pages
//! from a structural generator (`support/generator.rs`). Any divergence outside the named categories fails,
//! with the seed that replays it.

mod support {
    pub mod differential;
    pub mod generator;
    pub mod reference;
    pub mod rules_builder;
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strainer::rules::RuleSet;
use support::differential::{compare, Divergence};
use support::generator;
use support::rules_builder::Xorshift;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(dir: &Path) -> Arc<RuleSet> {
    let (rules, _) = strainer::rules::load_dir(dir).unwrap_or_else(|e| panic!("{}: {e:?}", dir.display()));
    Arc::new(rules)
}

fn shipped() -> Arc<RuleSet> {
    load(&crate_dir().join("rules"))
}

/// Rules that fire often on real pages: every condition kind, on the candidate kinds real rules use, with
/// containers that are candidates around other candidates.
fn firing_often() -> Arc<RuleSet> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("often.toml"), generator::FIRING_OFTEN).expect("write rules");
    let lists = dir.path().join("lists");
    std::fs::create_dir(&lists).expect("lists dir");
    std::fs::write(lists.join("shops.txt"), "shop.example\namazon.*\namzn.to\n").expect("write list");
    load(dir.path())
}

fn corpus() -> Vec<(String, String)> {
    let dir = crate_dir().join("../shared/corpus/pages");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the corpus is missing: {} ({e}); it is expected beside the crate in ../shared/corpus",
            dir.display()
        )
    });
    let mut pages: Vec<(String, String)> = entries
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "html"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), text)
        })
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 62, "the corpus should hold 62 pages in {}", dir.display());
    pages
}

fn seed_article() -> String {
    let path = crate_dir().join("../shared/examples/seed-article.html");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the seed article is missing: {} ({e})", path.display()))
}

/// Tallies divergences: the ones in named categories are counted, the others fail the test at the end.
#[derive(Default)]
struct Tally {
    /// Categorised divergences fail too (generated pages are well formed; `STRAINER_DIFF_STRICT=1` shows the
    /// corpus's).
    strict: bool,
    pages: usize,
    categorised: std::collections::BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, label: &str, divergences: Vec<Divergence>) {
        self.pages += 1;
        for divergence in divergences {
            match divergence.category {
                Some(category) if !self.strict => *self.categorised.entry(category).or_default() += 1,
                Some(category) => self.failures.push(format!("{label} [{category}]: {}", divergence.what)),
                None => self.failures.push(format!("{label}: {}", divergence.what)),
            }
        }
    }

    fn finish(self, what: &str) {
        println!("{what}: {} runs, divergences in named categories: {:?}", self.pages, self.categorised);
        if !self.failures.is_empty() {
            let shown: Vec<&String> = self.failures.iter().take(25).collect();
            panic!("{what}: {} divergences from the reference:\n{shown:#?}", self.failures.len());
        }
    }
}

#[test]
fn corpus_and_seed_match_the_reference_at_random_chunkings() {
    let mut pages = corpus();
    pages.push(("seed-article.html".into(), seed_article()));
    let mut tally = Tally { strict: std::env::var_os("STRAINER_DIFF_STRICT").is_some(), ..Tally::default() };
    let mut rng = Xorshift(0x5EED_D1FF);
    for (set_name, rules) in [("shipped", shipped()), ("firing-often", firing_often())] {
        for (name, page) in &pages {
            let count = 1 + rng.below(64);
            let cuts = rng.cuts(page.len(), count);
            let label = format!("{set_name} on {name} (cuts {:?}…)", &cuts[..cuts.len().min(4)]);
            tally.add(&label, compare(&rules, Some("news.example"), page, &cuts));
        }
    }
    tally.finish("corpus");
}

#[test]
fn generated_pages_match_the_reference() {
    let count: u64 = std::env::var("STRAINER_DIFF_PAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let first: u64 = std::env::var("STRAINER_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let rule_sets = [("shipped", shipped()), ("firing-often", firing_often())];
    let mut tally = Tally { strict: true, ..Tally::default() };
    let mut bytes = 0;
    for seed in first..first + count {
        let page = generator::page(seed);
        bytes += page.len();
        let (set_name, rules) = &rule_sets[(seed % 2) as usize];
        let mut rng = Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let cut_count = rng.below(8);
        let cuts = rng.cuts(page.len(), cut_count);
        let label =
            format!("seed {seed} ({set_name}; replay: STRAINER_DIFF_SEED={seed} STRAINER_DIFF_PAGES=1)");
        let divergences = compare(rules, Some("news.example"), &page, &cuts);
        if divergences.iter().any(|d| d.category.is_none()) && count == 1 {
            println!("{page}");
        }
        tally.add(&label, divergences);
    }
    println!("generated pages: {bytes} bytes in all");
    tally.finish("generated pages");
}
