//! The engine against the whole-page reference on fuzzer-chosen pages: either the input itself (as UTF-8) or a
//! structural page grown from a seed the input gives, both with the shipped rules and with rules built to fire
//! often, fed in chunks the input chooses. Any divergence outside the named categories of
//! `tests/support/differential.rs` is a crash.
#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use strainer::rules::RuleSet;

// The modules of tests/support/ at the crate root, where `super::reference` finds its sibling.
#[path = "../../tests/support/differential.rs"]
mod differential;
#[path = "../../tests/support/generator.rs"]
mod generator;
#[path = "../../tests/support/reference.rs"]
mod reference;

fn load(dir: &Path) -> Arc<RuleSet> {
    match strainer::rules::load_dir(dir) {
        Ok((rules, _)) => Arc::new(rules),
        Err(errors) => panic!("rules in {} do not load: {errors:?}", dir.display()),
    }
}

static RULE_SETS: LazyLock<[Arc<RuleSet>; 2]> = LazyLock::new(|| {
    let shipped = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("often.toml"), generator::FIRING_OFTEN).expect("write rules");
    std::fs::create_dir(dir.path().join("lists")).expect("lists dir");
    std::fs::write(dir.path().join("lists/shops.txt"), "shop.example\namazon.*\namzn.to\n")
        .expect("write list");
    [shipped, load(dir.path())]
});

fuzz_target!(|data: &[u8]| {
    // First byte: which rule set, whether the page is generated, and how many cuts follow (as 2-byte offsets).
    let Some((&mode, rest)) = data.split_first() else { return };
    let cut_count = usize::from(mode >> 2).min(rest.len() / 2);
    let (cut_bytes, body) = rest.split_at(cut_count * 2);
    let page = if mode & 2 == 0 {
        let Ok(text) = std::str::from_utf8(body) else { return };
        text.to_owned()
    } else {
        let seed = body.iter().fold(0u64, |acc, &b| acc.rotate_left(8) ^ u64::from(b));
        generator::page(seed)
    };
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|pair| usize::from(u16::from_le_bytes([pair[0], pair[1]])) % (page.len() + 1))
        .collect();
    cuts.sort_unstable();
    let rules = &RULE_SETS[usize::from(mode & 1)];
    let divergences = differential::compare(rules, Some("news.example"), &page, &cuts);
    let engine_bugs: Vec<&str> =
        divergences.iter().filter(|d| d.category.is_none()).map(|d| d.what.as_str()).collect();
    assert!(engine_bugs.is_empty(), "divergences from the reference: {engine_bugs:#?}");
});
