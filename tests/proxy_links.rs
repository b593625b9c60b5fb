//! Request-side link cleaning and the HTML cases that never reach the engine: a navigation to a URL with
//! tracking parameters is redirected (307) to the clean URL; subresources and clean URLs are forwarded; HTML
//! marked `no-transform`, HEAD responses and hosts exempt from rewriting pass untouched.

mod common;

use bytes::Bytes;
use common::{full, Origin, Strainer};
use http::StatusCode;
use strainer::rules::{
    HostPattern, HostSet, LinkRules, PassKind, PassRule, RuleId, RuleSet, SiteScope, StripRule,
};

fn strip_utm() -> RuleSet {
    let mut params = globset::GlobSetBuilder::new();
    params.add(globset::Glob::new("utm_*").expect("valid glob"));
    let strip = StripRule {
        id: RuleId::new("strip-utm"),
        params: params.build().expect("valid glob set"),
        hosts: None,
        scope: SiteScope::default(),
    };
    RuleSet { links: LinkRules::new(vec![strip], vec![]), ..RuleSet::default() }
}

#[tokio::test]
async fn navigations_to_tracking_urls_are_redirected_to_the_clean_url() {
    let origin = Origin::start(|request| async move {
        full(200, &[("content-type", "text/plain")], request.uri().to_string())
    })
    .await;
    let strainer = Strainer::start_with_rules(strip_utm(), |_| {}).await;
    let client = strainer.client();
    let tracked = origin.url("news.test", "/story?id=7&utm_source=mail&utm_medium=x#top");
    let response = client.get(&tracked).header("accept", "text/html").send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()["location"], origin.url("news.test", "/story?id=7").as_str());

    let image = client.get(&tracked).header("accept", "image/*").send().await.expect("answered");
    assert_eq!(image.status(), StatusCode::OK, "subresources are forwarded as asked");
    let clean = client.get(origin.url("news.test", "/story?id=7")).header("accept", "text/html").send().await;
    assert_eq!(clean.expect("answered").text().await.expect("body"), "/story?id=7");
}

#[tokio::test]
async fn no_transform_html_and_head_pass_untouched() {
    let page =
        Bytes::from_static(b"<html><body><p>Related: <a href=\"/x?utm_source=y\">x</a></p></body></html>");
    let served = page.clone();
    let origin = Origin::start(move |_| {
        let body = served.clone();
        async move {
            full(
                200,
                &[("content-type", "text/html"), ("cache-control", "no-transform"), ("etag", "\"p\"")],
                body,
            )
        }
    })
    .await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let response = client.get(origin.url("news.test", "/p")).send().await.expect("proxied");
    assert_eq!(response.headers()["etag"], "\"p\"");
    assert_eq!(response.headers()["content-length"], page.len().to_string().as_str());
    assert_eq!(common::body_bytes(response).await, page);
    let head = client.head(origin.url("news.test", "/p")).send().await.expect("proxied");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], page.len().to_string().as_str());
}

#[tokio::test]
async fn hosts_exempt_from_rewriting_get_html_untouched_and_links_uncleaned() {
    let page =
        Bytes::from_static(b"<html><body><p>Related: <a href=\"/x?utm_source=y\">x</a></p></body></html>");
    let served = page.clone();
    let origin = Origin::start(move |_| {
        let body = served.clone();
        async move { full(200, &[("content-type", "text/html")], body) }
    })
    .await;
    let mut rules = strip_utm();
    rules.hosts.pass.push(PassRule {
        id: RuleId::new("pass-news"),
        hosts: HostSet::new(vec![HostPattern::new("news.test").expect("valid pattern")]),
        exempt_from: PassKind::Rewrite,
    });
    let strainer = Strainer::start_with_rules(rules, |_| {}).await;
    let response = strainer
        .client()
        .get(origin.url("news.test", "/p?utm_source=z"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.status(), StatusCode::OK, "no redirect on an exempt host");
    assert_eq!(response.headers()["content-length"], page.len().to_string().as_str());
    assert_eq!(common::body_bytes(response).await, page);
}
