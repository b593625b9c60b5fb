//! The rewrite engine on arbitrary bytes: the shipped rules, an input split into chunks at offsets taken from the
//! input itself, a small hold cap so that spilling is exercised, and explain on. It must never panic, and with
//! nothing to rewrite (an empty rule set) the output must be the input.
#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use strainer::rewrite::{RewriteOptions, Rewriter};
use strainer::rules::RuleSet;

static SHIPPED: LazyLock<Arc<RuleSet>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    match strainer::rules::load_dir(&dir) {
        Ok((rules, _)) => Arc::new(rules),
        Err(errors) => panic!("the shipped rules do not load: {errors:?}"),
    }
});

/// Rewrites `page` written in chunks whose sizes cycle through `sizes` (each at least 1).
fn rewrite(rules: &Arc<RuleSet>, options: RewriteOptions, page: &[u8], sizes: &[u8]) -> Vec<u8> {
    let mut rewriter = Rewriter::new(Arc::clone(rules), options);
    let mut out = Vec::new();
    let mut rest = page;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = usize::from(sizes.get(turn % sizes.len().max(1)).copied().unwrap_or(255)).max(1);
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.extend_from_slice(&rewriter.write(chunk));
        rest = tail;
        turn += 1;
    }
    out.extend_from_slice(&rewriter.finish().0);
    out
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the following bytes are chunk sizes; the rest is the page.
    let Some((&n, rest)) = data.split_first() else { return };
    let (sizes, page) = rest.split_at(usize::from(n % 8).min(rest.len()));
    let options = RewriteOptions {
        site: Some("news.example".into()),
        hold_cap: 512,
        explain: true,
        ..RewriteOptions::default()
    };
    rewrite(&SHIPPED, options, page, sizes);
    let empty = Arc::new(RuleSet::default());
    assert_eq!(rewrite(&empty, RewriteOptions::default(), page, sizes), page);
});
