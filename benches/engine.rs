//! Engine throughput over the corpus (`../shared/corpus/pages`): lol_html parse-only, lol_html with reading
//! handlers, and the strainer engine with a representative rule set. Reports bytes per second.
// Helpers outside #[test] functions panic on broken fixtures too: that is a failing test, not a crash.
#![allow(clippy::expect_used)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

#[path = "../tests/support/rules_builder.rs"]
mod rules_builder;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lol_html::{element, send, text, OutputSink};
use strainer::rewrite::{RewriteOptions, Rewriter};
use strainer::rules::RuleSet;

/// Size of each body chunk written, like a proxy's read buffer.
const CHUNK: usize = 16 * 1024;

/// The rule set the engine benchmark runs (swap for the shipped `rules/` here).
fn bench_rules() -> RuleSet {
    rules_builder::representative_set()
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pages");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!("the corpus is missing: {} ({e}); expected at ../shared/corpus", dir.display())
    });
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("corpus entry").path()).collect();
    paths.sort();
    let pages: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("corpus page reads")).collect();
    assert!(!pages.is_empty(), "the corpus at {} is empty", dir.display());
    pages
}

struct Discard(usize);

impl OutputSink for Discard {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        self.0 += chunk.len();
    }
}

fn run_lol_html(page: &[u8], settings: send::Settings<'_, '_>) -> usize {
    let mut sink = 0usize;
    {
        let mut rewriter = send::HtmlRewriter::new(settings, Discard(0));
        for chunk in page.chunks(CHUNK) {
            rewriter.write(chunk).expect("lol_html writes");
        }
        rewriter.end().expect("lol_html ends");
    }
    sink += page.len();
    sink
}

fn engine(c: &mut Criterion) {
    let pages = corpus();
    let total: u64 = pages.iter().map(|p| p.len() as u64).sum();
    let rules = Arc::new(bench_rules());
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);

    group.bench_function("lol_html_parse_only", |b| {
        b.iter(|| {
            for page in &pages {
                black_box(run_lol_html(page, send::Settings::new_send().with_strict(false)));
            }
        })
    });

    group.bench_function("lol_html_reading_handlers", |b| {
        b.iter(|| {
            for page in &pages {
                let settings = send::Settings::new_send()
                    .with_strict(false)
                    .append_element_content_handler(element!("a[href]", |el| {
                        black_box(el.get_attribute("href"));
                        Ok(())
                    }))
                    .append_element_content_handler(text!("p, li", |chunk| {
                        black_box(chunk.as_str().len());
                        Ok(())
                    }));
                black_box(run_lol_html(page, settings));
            }
        })
    });

    group.bench_function("strainer_engine", |b| {
        b.iter(|| {
            for page in &pages {
                let mut rewriter = Rewriter::new(Arc::clone(&rules), RewriteOptions::default());
                let mut out = 0;
                for chunk in page.chunks(CHUNK) {
                    out += rewriter.write(chunk).len();
                }
                let (tail, report) = rewriter.finish();
                black_box((out + tail.len(), report));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
