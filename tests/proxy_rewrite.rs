//! HTML through the proxy with the shipped rules. Transport first: whatever the origin's framing and encoding
//! (plain, chunked, gzip, deflate, br, zstd), the browser gets exactly what the engine makes of the whole page in
//! one piece (the oracle), and rewritten bytes leave before the origin has sent the whole page. Then the product
//! promise: the seed article comes out as `../shared/examples/README.md` says, and non-UTF-8 pages stay correct.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{chunked, full, Origin, Strainer};
use http::StatusCode;
use strainer::rewrite::{RewriteOptions, Rewriter};

/// A bound for waits that must not hang the suite if strainer buffers by mistake; never a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// What the engine makes of `page` in one piece, with the options the proxy derives from the response.
fn engine_output(page: &[u8], site: &str, charset: Option<&str>) -> Vec<u8> {
    let (rules, _) = strainer::rules::load_dir(&common::shipped_rules()).expect("shipped rules load");
    let options = RewriteOptions {
        site: Some(site.to_owned()),
        header_charset: charset.map(str::to_owned),
        ..RewriteOptions::default()
    };
    let mut rewriter = Rewriter::new(Arc::new(rules), options);
    let mut out = rewriter.write(page).to_vec();
    out.extend_from_slice(&rewriter.finish().0);
    out
}

/// Fetches the seed article from an origin serving it plain, through a strainer with the shipped rules.
async fn fetch_seed_plain() -> (String, String) {
    let page = common::seed_article();
    let html = page.clone().into_bytes();
    let origin = Origin::start(move |_| {
        let html = html.clone();
        async move { full(200, &[("content-type", "text/html; charset=UTF-8")], html) }
    })
    .await;
    let strainer = Strainer::start(&common::shipped_rules(), |config| {
        config.resolve.insert("worlddesk.example".to_owned(), "127.0.0.1".parse().expect("literal"));
    })
    .await;
    let response = strainer
        .client()
        .get(origin.url("worlddesk.example", "/news/putin-peace-plan/"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("proxied");
    (page, response.text().await.expect("UTF-8 page"))
}

/// How the origin frames and encodes the seed page.
#[derive(Clone, Copy, Debug)]
enum Serving {
    Plain,
    Chunked,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

async fn seed_through_strainer(serving: Serving) {
    let page = common::seed_article();
    let html = page.clone().into_bytes();
    let origin = Origin::start(move |_| {
        let html = html.clone();
        async move {
            let head = |encoding: &'static str| {
                vec![
                    ("content-type", "text/html; charset=UTF-8"),
                    ("etag", "\"seed-1\""),
                    ("content-encoding", encoding),
                ]
            };
            match serving {
                Serving::Plain => {
                    full(200, &[("content-type", "text/html; charset=UTF-8"), ("etag", "\"seed-1\"")], html)
                }
                Serving::Chunked => {
                    let pieces = html.chunks(97).map(Bytes::copy_from_slice).collect();
                    chunked(200, &[("content-type", "text/html; charset=UTF-8")], pieces)
                }
                Serving::Gzip => full(200, &head("gzip"), common::gzip(&html)),
                Serving::Deflate => {
                    use std::io::Write;
                    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    z.write_all(&html).expect("in memory");
                    full(200, &head("deflate"), z.finish().expect("in memory"))
                }
                Serving::Brotli => full(200, &head("br"), common::brotli(&html)),
                Serving::Zstd => full(200, &head("zstd"), common::zstd(&html)),
            }
        }
    })
    .await;
    let strainer = Strainer::start(&common::shipped_rules(), |config| {
        config.resolve.insert("worlddesk.example".to_owned(), "127.0.0.1".parse().expect("literal"));
    })
    .await;
    let response = strainer
        .client()
        .get(origin.url("worlddesk.example", "/news/putin-peace-plan/"))
        .header("accept", "text/html")
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(!headers.contains_key("content-length"), "{serving:?}: {headers:?}");
    assert!(!headers.contains_key("content-encoding"), "{serving:?}: {headers:?}");
    if let Some(etag) = headers.get("etag") {
        assert_eq!(etag, "W/\"seed-1\"", "{serving:?}");
    }
    let got = String::from_utf8(common::body_bytes(response).await.to_vec()).expect("UTF-8 page");
    let want = engine_output(page.as_bytes(), "worlddesk.example", Some("UTF-8"));
    assert_eq!(got, String::from_utf8(want).expect("UTF-8"), "{serving:?}");
}

#[tokio::test]
async fn seed_article_meets_the_examples_readme() {
    let (input, got) = fetch_seed_plain().await;
    assert!(!got.contains("Water Purification Tablets"), "first promo must be gone");
    assert!(!got.contains("Hand Warmers"), "second promo must be gone");
    assert_eq!(got.matches(r#"<p data-strainer-tag="related"><strong>Related:</strong>"#).count(), 2);
    assert!(!got.contains("utm_medium=related"), "related links must lose their utm_ parameters");
    assert!(
        got.contains(r#"dataLayer.push({"section": "Russia", "related": "Related: tracking"});</script>"#)
    );
    for paragraph in input.split("<p>").skip(1).filter(|p| !p.starts_with("<strong>")) {
        let paragraph = &paragraph[..paragraph.find("</p>").expect("closed paragraph")];
        assert!(got.contains(paragraph), "article prose must survive: {paragraph:.60}");
    }
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_plain() {
    seed_through_strainer(Serving::Plain).await;
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_chunked() {
    seed_through_strainer(Serving::Chunked).await;
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_gzip() {
    seed_through_strainer(Serving::Gzip).await;
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_deflate() {
    seed_through_strainer(Serving::Deflate).await;
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_brotli() {
    seed_through_strainer(Serving::Brotli).await;
}

#[tokio::test]
async fn seed_article_matches_the_engine_when_served_zstd() {
    seed_through_strainer(Serving::Zstd).await;
}

#[tokio::test]
async fn windows_1252_pages_keep_their_bytes() {
    let mut page = b"<!DOCTYPE html><html><head><title>Caf\xe9</title></head><body><article>\
        <p>Le caf\xe9 \x96 na\xefve r\xe9sum\xe9 \x80 20.</p>\
        <p><strong>Related:</strong> <a href=\"/news/b\xe9ret/?utm_source=x\">B\xe9ret story</a></p>"
        .to_vec();
    page.extend_from_slice(b"</article></body></html>");
    let served = page.clone();
    let origin = Origin::start(move |_| {
        let body = served.clone();
        async move { full(200, &[("content-type", "text/html; charset=windows-1252")], body) }
    })
    .await;
    let strainer = Strainer::start(&common::shipped_rules(), |_| {}).await;
    let response = strainer
        .client()
        .get(origin.url("news.test", "/fr"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.headers()["content-type"], "text/html; charset=windows-1252");
    let got = common::body_bytes(response).await;
    assert!(
        memchr::memmem::find(&got, b"Le caf\xe9 \x96 na\xefve r\xe9sum\xe9 \x80 20.").is_some(),
        "{got:?}"
    );
    assert!(memchr::memmem::find(&got, b"data-strainer-tag=\"related\"").is_some(), "{got:?}");
    assert!(memchr::memmem::find(&got, b">B\xe9ret story</a>").is_some(), "{got:?}");
}

#[tokio::test]
async fn rewritten_html_streams_before_the_origin_finishes() {
    let paragraph =
        "<p>An ordinary article paragraph with enough words to be prose and nothing for any rule.</p>\n";
    let first_half = format!(
        "<!DOCTYPE html><html><head><title>t</title></head><body><article>{}",
        paragraph.repeat(2000)
    );
    let second_half = format!("{}</article></body></html>", paragraph.repeat(2000));
    let (origin, mut feed_rx) = common::fed_origin("text/html; charset=utf-8").await;
    let strainer = Strainer::start(&common::shipped_rules(), |_| {}).await;
    let request =
        strainer.client().get(origin.url("news.test", "/long")).header("accept", "text/html").send();
    let first = Bytes::from(first_half.clone());
    let feeder = async {
        let tx = feed_rx.recv().await.expect("origin got the request");
        tx.send(Ok(first)).await.expect("open");
        tx
    };
    let (response, tx) = tokio::join!(request, feeder);
    let mut response = response.expect("head arrives before the body ends");
    let early = tokio::time::timeout(HANG_GUARD, common::next_chunk(&mut response))
        .await
        .expect("rewritten bytes must arrive while the origin still holds the second half")
        .expect("a chunk");
    assert!(!early.is_empty());
    tx.send(Ok(Bytes::from(second_half.clone()))).await.expect("open");
    drop(tx);
    let mut got = early.to_vec();
    while let Some(chunk) = common::next_chunk(&mut response).await {
        got.extend_from_slice(&chunk);
    }
    let want = engine_output(format!("{first_half}{second_half}").as_bytes(), "news.test", Some("utf-8"));
    assert_eq!(String::from_utf8(got).expect("utf-8"), String::from_utf8(want).expect("utf-8"));
}

#[tokio::test]
async fn rewritten_html_can_be_sent_gzip_when_configured() {
    let page = common::seed_article();
    let html = page.clone().into_bytes();
    let origin = Origin::start(move |_| {
        let html = html.clone();
        async move {
            full(
                200,
                &[("content-type", "text/html; charset=UTF-8"), ("content-encoding", "br")],
                common::brotli(&html),
            )
        }
    })
    .await;
    let strainer = Strainer::start(&common::shipped_rules(), |config| {
        config.response_encoding = strainer::config::ResponseEncoding::Gzip;
    })
    .await;
    let response = strainer
        .client()
        .get(origin.url("news.test", "/gz"))
        .header("accept", "text/html")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = common::body_bytes(response).await;
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut plain)
        .expect("valid gzip");
    assert_eq!(plain, engine_output(page.as_bytes(), "news.test", Some("UTF-8")));
}
