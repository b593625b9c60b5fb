//! Engine throughput over the corpus (`../shared/corpus/pages`): lol_html parse-only, lol_html with reading
//! handlers, lol_html with no-op handlers shaped like the engine's (the floor under the engine), the least
//! any conditional engine costs (no-op candidate handlers, for `p, li` alone and for the shipped rules' candidate
//! kinds), and the strainer engine with the shipped rules (`rules/`). Reports bytes per second. A second group
//! measures the fixed cost per response: the engine on one small page.
// Helpers outside #[test] functions panic on broken fixtures too: that is a failing test, not a crash.
#![allow(clippy::expect_used)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::borrow::Cow;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lol_html::{doc_text, element, send, text, OutputSink};
use strainer::rewrite::{RewriteOptions, Rewriter};
use strainer::rules::RuleSet;

/// Size of each body chunk written, like a proxy's read buffer.
const CHUNK: usize = 16 * 1024;

/// The rule set the engine benchmarks run: the shipped rules.
fn bench_rules() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    match strainer::rules::load_dir(&dir) {
        Ok((rules, _warnings)) => rules,
        Err(errors) => panic!("the shipped rules at {} do not load: {errors:?}", dir.display()),
    }
}

/// A small page for the per-response cost (10 KB).
const SMALL_PAGE: &str = "daringfireball-1.html";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pages")
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = corpus_dir();
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

    // What lol_html alone costs with this engine's handler shape, every handler doing nothing: one handler on
    // every element (reading its tag name) with an end-tag handler where the element can have content, links,
    // document text. The floor under the engine, whatever the rules.
    group.bench_function("lol_html_engine_shaped_noop_handlers", |b| {
        b.iter(|| {
            for page in &pages {
                let settings = send::Settings::new_send()
                    .with_strict(false)
                    .append_element_content_handler(element!("*", |el| {
                        black_box(el.tag_name());
                        watch_end_tag(el)
                    }))
                    .append_element_content_handler(element!("a[href], area[href]", |el| {
                        black_box(el.get_attribute("href"));
                        Ok(())
                    }))
                    .append_document_content_handler(doc_text!(|chunk| {
                        black_box(chunk.as_str().len());
                        Ok(())
                    }));
                black_box(run_lol_html(page, settings));
            }
        })
    });

    // The least any content-conditional engine costs on lol_html 3, handlers doing nothing: an element handler with
    // an end-tag handler on each candidate, text inside the candidates, links. First for rules on `p, li` alone,
    // then for the candidate kinds the shipped rules need (labels in headings and `dt`, boxes in `aside`,
    // `figure`, `section`, containers and product boxes found by class or id).
    group.bench_function("lol_html_floor_p_li_candidates", |b| {
        b.iter(|| {
            for page in &pages {
                black_box(run_lol_html(page, candidate_floor_settings("p, li", "p, li")));
            }
        })
    });
    group.bench_function("lol_html_floor_shipped_candidates", |b| {
        b.iter(|| {
            for page in &pages {
                let settings = candidate_floor_settings(
                    "p, li, h2, h3, h4, h5, h6, dt, aside, figure, section, div[class], div[id], ul[class], ul[id]",
                    "p, li, h2, h3, h4, h5, h6, dt, aside, figure, section",
                );
                black_box(run_lol_html(page, settings));
            }
        })
    });

    group.bench_function("strainer_engine", |b| {
        b.iter(|| {
            for page in &pages {
                black_box(run_engine(&rules, page));
            }
        })
    });
    group.finish();
}

/// No-op handlers shaped like a conditional engine's: element and end tag on `candidates`, text on `text_in`,
/// and links.
fn candidate_floor_settings(candidates: &str, text_in: &str) -> send::Settings<'static, 'static> {
    send::Settings::new_send()
        .with_strict(false)
        .append_element_content_handler((
            Cow::Owned(candidates.parse().expect("candidate selector parses")),
            send::ElementContentHandlers::default().element(watch_end_tag),
        ))
        .append_element_content_handler((
            Cow::Owned(text_in.parse().expect("text selector parses")),
            send::ElementContentHandlers::default().text(
                |chunk: &mut lol_html::html_content::TextChunk<'_>| {
                    black_box(chunk.as_str().len());
                    Ok(())
                },
            ),
        ))
        .append_element_content_handler(element!("a[href], area[href]", |el| {
            black_box(el.get_attribute("href"));
            Ok(())
        }))
}

/// Registers a no-op end-tag handler, as a conditional rule must to learn where its candidate ends.
fn watch_end_tag(el: &mut send::Element<'_, '_>) -> lol_html::HandlerResult {
    if el.can_have_content() {
        let _ = el.on_end_tag(Box::new(|end: &mut lol_html::html_content::EndTag<'_>| {
            black_box(end.name());
            Ok(())
        }));
    }
    Ok(())
}

fn run_engine(rules: &Arc<RuleSet>, page: &[u8]) -> usize {
    let mut rewriter = Rewriter::new(Arc::clone(rules), RewriteOptions::default());
    let mut out = 0;
    for chunk in page.chunks(CHUNK) {
        out += rewriter.write(chunk).len();
    }
    let (tail, report) = rewriter.finish();
    black_box(report);
    out + tail.len()
}

/// The cost of one response on a small page, and of an almost empty one (nearly all fixed cost).
fn per_response(c: &mut Criterion) {
    let path = corpus_dir().join(SMALL_PAGE);
    let small =
        std::fs::read(&path).unwrap_or_else(|e| panic!("the corpus page {} is missing: {e}", path.display()));
    let tiny = b"<!doctype html><html><head><title>t</title></head><body><p>Hello <a href=\"/x\">x</a></p></body></html>";
    let rules = Arc::new(bench_rules());
    let mut group = c.benchmark_group("per_response");
    group.sample_size(20);
    group.bench_function("small_page_engine", |b| b.iter(|| black_box(run_engine(&rules, &small))));
    group.bench_function("small_page_parse_only", |b| {
        b.iter(|| black_box(run_lol_html(&small, send::Settings::new_send().with_strict(false))))
    });
    group.bench_function("tiny_page_engine", |b| b.iter(|| black_box(run_engine(&rules, tiny))));
    group.finish();
}

criterion_group!(benches, engine, per_response);
criterion_main!(benches);
