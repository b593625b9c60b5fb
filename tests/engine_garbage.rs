//! Malformed input never takes the engine or the rule compiler down: seeded random soups of HTML fragments and raw
//! bytes through the shipped rules (chunked at random, with a small hold cap), and randomly damaged copies of the
//! shipped rule files through the compiler. A bounded, deterministic stand-in for the libFuzzer targets in `fuzz/`,
//! which explore the same two entry points without bounds.

mod support {
    pub mod rules_builder;
}

use std::path::PathBuf;
use std::sync::Arc;

use strainer::rewrite::RewriteOptions;
use strainer::rules::RuleSet;
use support::rules_builder::*;

/// Pieces the generated pages are made of: markup the rules care about, markup lol_html treats specially, and
/// byte sequences that are not valid UTF-8.
const PIECES: &[&[u8]] = &[
    b"<p>",
    b"</p>",
    b"<li>",
    b"<ul class=\"related-posts\">",
    b"</ul>",
    b"<div class=\"product-box\">",
    b"</div>",
    b"<aside>",
    b"</aside>",
    b"<h2>Related: ",
    b"Water Tablets \xe2\x80\x93 Clean water anywhere. ",
    b"<a href=\"https://www.amazon.com/dp/B0?tag=x-20&utm_source=y\">",
    b"<a href=\"https://go.skimresources.com/?id=1&url=https%3A%2F%2Fshop.example%2F%3Fa%3D1\">",
    b"<a href=x>",
    b"</a>",
    b"<script>if (a<b) { x = '</p>' }</script>",
    b"<style>p{}</style>",
    b"<template><p>Related: t</p></template>",
    b"<textarea><p>Buy now</p></textarea>",
    b"<!-- Related: c -->",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"<svg><p>x</svg>",
    b"<meta charset=\"gbk\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"style-src 'none'\">",
    b"<head>",
    b"</head>",
    b"<body>",
    b"&amp;&#x2014;&nbsp;&",
    b"<",
    b">",
    b"\"",
    b"=",
    b" ",
    b"\n",
    b"\xff\xfe",
    b"\xe2\x80",
    b"\xc3",
    b"\0",
];

/// A random page of up to `max_pieces` pieces, with a random byte now and then.
fn soup(rng: &mut Xorshift, max_pieces: usize) -> Vec<u8> {
    let mut page = Vec::new();
    for _ in 0..rng.below(max_pieces) + 1 {
        if rng.below(8) == 0 {
            page.push(rng.below(256) as u8);
        } else {
            page.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
    }
    page
}

/// Bytes that matter to TOML, rule syntax or UTF-8, inserted to damage rule files.
const DAMAGE: &[u8] = b"[]\"'={}\n\\#@*\xff";

fn shipped_rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn shipped_rules() -> Arc<RuleSet> {
    match strainer::rules::load_dir(&shipped_rules_dir()) {
        Ok((rules, _)) => Arc::new(rules),
        Err(errors) => panic!("the shipped rules do not load: {errors:?}"),
    }
}

#[test]
fn random_soups_never_break_the_engine_and_empty_rules_keep_them_byte_identical() {
    let shipped = shipped_rules();
    let representative = representative();
    let empty = set(vec![]);
    let mut rng = Xorshift(0x5EED_F00D);
    let mut acted = 0;
    for round in 0..400 {
        let page = soup(&mut rng, 200);
        let cuts = rng.cuts(page.len(), 1 + round % 12);
        for (rules, hold_cap) in [(&shipped, 256), (&shipped, 64 * 1024), (&representative, 128)] {
            let options = RewriteOptions {
                site: Some("news.example".into()),
                hold_cap,
                explain: round % 2 == 0,
                ..options()
            };
            let (_, report) = rewrite_at(rules, &options, &page, &cuts);
            acted += report.removed + report.tagged + report.links_cleaned;
        }
        let (out, _) = rewrite_at(&empty, &options(), &page, &cuts);
        assert!(out == page, "round {round}: an empty rule set changed the bytes");
    }
    assert!(acted > 0, "the soups should give the rules something to do");
}

#[test]
fn damaged_rule_files_are_errors_never_panics() {
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(shipped_rules_dir())
        .expect("rules directory")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            name.ends_with(".toml").then(|| (name, std::fs::read(&path).expect("rule file reads")))
        })
        .collect();
    assert!(!files.is_empty());
    let mut rng = Xorshift(0xBAD_5EED);
    let mut rejected = 0;
    for _ in 0..120 {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("lists")).expect("lists dir");
        for list in std::fs::read_dir(shipped_rules_dir().join("lists")).expect("lists") {
            let list = list.expect("list entry").path();
            let name = list.file_name().expect("list name");
            std::fs::copy(&list, dir.path().join("lists").join(name)).expect("copy list");
        }
        for (name, text) in &files {
            let mut text = text.clone();
            for _ in 0..rng.below(6) {
                let at = rng.below(text.len().max(1));
                match rng.below(4) {
                    0 => {
                        text.remove(at.min(text.len().saturating_sub(1)));
                    }
                    1 => text.insert(at, DAMAGE[rng.below(DAMAGE.len())]),
                    2 => text.truncate(at),
                    _ => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        text.splice(at..at, piece.iter().copied());
                    }
                }
            }
            std::fs::write(dir.path().join(name), text).expect("write rule file");
        }
        if strainer::rules::load_dir(dir.path()).is_err() {
            rejected += 1;
        }
    }
    assert!(rejected > 0, "some damage should be caught");
}
