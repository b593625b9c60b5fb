//! The live-news page of issue 10: bulletins as `<section>`s (a heading, a lede of about 300 characters, a promo
//! paragraph exactly like the seed's, a "Related:" paragraph), also inside `<aside>`s and nested `div`s, which
//! are candidates of other rules while still undecided. Every promo must go and every Related paragraph be
//! tagged, at every size, through the proxy (chunked, streamed) and through `strainer rewrite`.

mod common;

use std::process::Command;

use bytes::Bytes;
use common::{chunked, Origin, Strainer};

const LEDE: &str = "The council met on Tuesday to discuss the budget for the coming year, and members argued at \
length about the cost of road repairs, school buildings and the new library that residents have been asking for \
since the flood damaged the old one two winters ago, before agreeing to put it to a vote next week.";

/// One bulletin; `i` varies the container and the product.
fn bulletin(i: usize) -> String {
    let (open, close) = match i % 3 {
        0 => ("<section class=\"bulletin\">", "</section>"),
        1 => ("<aside class=\"live-entry\">", "</aside>"),
        _ => ("<div class=\"entry\"><div id=\"post-body\">", "</div></div>"),
    };
    format!(
        "{open}<h2>Update {i}</h2><p>{LEDE}</p>\
<p>Folding Lantern {i} – Rechargeable lantern for power cuts. \
<a href=\"https://www.amazon.com/dp/B0{i:05}?tag=news-20\">Buy on Amazon</a></p>\
<p>Related: <a href=\"/news/{i}\">Zelenskyy Commits to Istanbul Peace Talks</a></p>{close}\n"
    )
}

/// The page's head, `count` bulletins and its tail, in pieces.
fn page_pieces(count: usize) -> Vec<Bytes> {
    let mut pieces = vec![Bytes::from_static(
        b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Live</title></head><body><main>\n",
    )];
    pieces.extend((0..count).map(|i| Bytes::from(bulletin(i))));
    pieces.push(Bytes::from_static(b"</main></body></html>\n"));
    pieces
}

/// Every promo gone, every Related paragraph tagged, every lede kept.
fn assert_cleaned(out: &str, count: usize) {
    assert_eq!(out.matches("Folding Lantern").count(), 0, "a promo survived");
    assert_eq!(out.matches("<p data-strainer-tag=\"related\">Related:").count(), count, "untagged Related");
    assert_eq!(out.matches(LEDE).count(), count, "a lede went missing");
    assert!(!out.contains("tag=news-20"), "an affiliate parameter survived");
}

#[tokio::test]
async fn live_news_is_cleaned_in_full_through_the_proxy_at_every_size() {
    // About 20 KB and about 12 MB, streamed chunk by chunk (one bulletin per chunk).
    for count in [25, 15_000] {
        let pieces = page_pieces(count);
        let origin = Origin::start(move |_| {
            let pieces = pieces.clone();
            async move { chunked(200, &[("content-type", "text/html; charset=utf-8")], pieces) }
        })
        .await;
        let strainer = Strainer::start(&common::shipped_rules(), |config| {
            config.resolve.insert("live.example".to_owned(), "127.0.0.1".parse().expect("literal"));
        })
        .await;
        let response =
            strainer.client().get(origin.url("live.example", "/live")).send().await.expect("proxied");
        let out = response.text().await.expect("UTF-8 page");
        assert_cleaned(&out, count);
    }
}

#[test]
fn live_news_is_cleaned_in_full_by_strainer_rewrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    for count in [25, 3_000] {
        let page: Vec<u8> = page_pieces(count).iter().flat_map(|b| b.iter().copied()).collect();
        let path = dir.path().join(format!("live-{count}.html"));
        std::fs::write(&path, &page).expect("write page");
        let output = Command::new(env!("CARGO_BIN_EXE_strainer"))
            .arg("rewrite")
            .arg(&path)
            .args(["--site", "live.example", "--rules"])
            .arg(common::shipped_rules())
            .output()
            .expect("strainer rewrite runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_cleaned(&String::from_utf8_lossy(&output.stdout), count);
    }
}
