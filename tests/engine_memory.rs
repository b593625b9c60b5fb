//! Memory per response does not grow with the page: a long page of article paragraphs — candidates of the shipped
//! rules that are decided early, with links that get cleaned — streams through one `Rewriter` while the process's
//! peak resident memory stays within a fixed bound. (Its own test binary: the peak is process-wide.)

use std::path::Path;
use std::sync::Arc;

use strainer::rewrite::{RewriteOptions, Rewriter};

/// Bytes of page streamed through the engine.
const PAGE_BYTES: usize = 12 * 1024 * 1024;
/// The most the peak RSS may grow while the page streams (a leak of a few bytes per paragraph exceeds it: the
/// page has about 100,000 paragraphs).
const GROWTH_LIMIT_KB: u64 = 6 * 1024;

const PARAGRAPH: &str = "<p>An ordinary article paragraph of a long page, with a \
    <a href=\"/news/other-story/?utm_source=feed\">link</a> and enough words to look like prose.</p>\n";

/// The process's peak resident set size in kB (`VmHWM` in `/proc/self/status`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| panic!("this test reads /proc/self/status (Linux): {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM line in /proc/self/status:\n{status}"))
}

#[test]
fn a_long_page_streams_in_bounded_memory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let (rules, _) = strainer::rules::load_dir(&dir).unwrap_or_else(|e| panic!("shipped rules load: {e:?}"));
    let rules = Arc::new(rules);
    let chunk = PARAGRAPH.repeat(64 * 1024 / PARAGRAPH.len());

    let mut rewriter = Rewriter::new(Arc::clone(&rules), RewriteOptions::default());
    let mut out =
        rewriter.write(b"<!DOCTYPE html><html><head><title>long</title></head><body><article>").len();
    // Warm up: allocator arenas and caches reach their working size on the first megabytes.
    for _ in 0..(1024 * 1024 / chunk.len()) {
        out += rewriter.write(chunk.as_bytes()).len();
    }
    let before = peak_rss_kb();
    for _ in 0..(PAGE_BYTES / chunk.len()) {
        out += rewriter.write(chunk.as_bytes()).len();
    }
    out += rewriter.write(b"</article></body></html>\n").len();
    let (tail, report) = rewriter.finish();
    out += tail.len();
    let growth = peak_rss_kb().saturating_sub(before);
    eprintln!("peak RSS grew by {growth} kB while {PAGE_BYTES} bytes streamed");

    assert!(out > PAGE_BYTES / 2, "the page came out ({out} bytes)");
    assert!(report.links_cleaned > 0, "the links were cleaned: {report:?}");
    assert!(
        growth < GROWTH_LIMIT_KB,
        "peak RSS grew by {growth} kB while {PAGE_BYTES} bytes streamed (limit {GROWTH_LIMIT_KB} kB)"
    );
}
