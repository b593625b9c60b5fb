//! The per-request `request` event: emitted once the body has ended, with the documented fields, no query
//! string by default, and never a cookie or credential; and the warning when a page passes partly unfiltered.

mod common;
mod support {
    pub mod rules_builder;
}

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use common::{full, Origin, Strainer};
use strainer::rules::RuleSet;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A bound for waits that must not hang the suite; never a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// The warning for a page the engine stopped rewriting part-way.
const UNFILTERED: &str = "page partly unfiltered: the rest passed through unchanged";

/// Sends the fields of every `request` and [`UNFILTERED`] event to the test.
struct Capture(mpsc::UnboundedSender<BTreeMap<String, String>>);

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if matches!(fields.0.get("message").map(String::as_str), Some("request" | UNFILTERED)) {
            let _ = self.0.send(fields.0);
        }
    }
}

// A current-thread runtime keeps every spawned task on this thread, so the thread-local subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn one_request_event_per_request_with_documented_fields() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(Capture(tx)));
    let origin =
        Origin::start(|_| async { full(200, &[("content-type", "text/plain")], "hello world") }).await;
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    let response = client
        .get(origin.url("news.test", "/article?token=secret-query"))
        .header("cookie", "session=secret-cookie")
        .header("authorization", "Bearer secret-auth")
        .send()
        .await
        .expect("proxied");
    assert_eq!(response.text().await.expect("body"), "hello world");
    let event = tokio::time::timeout(HANG_GUARD, events.recv()).await.expect("event emitted").expect("open");
    for field in [
        "client",
        "method",
        "scheme",
        "host",
        "path",
        "status",
        "mode",
        "content_type",
        "rewritten",
        "removed",
        "tagged",
        "links_cleaned",
        "bytes_in",
        "bytes_out",
        "upstream_ms",
        "total_ms",
    ] {
        assert!(event.contains_key(field), "missing {field}: {event:?}");
    }
    assert_eq!(event["method"], "GET");
    assert_eq!(event["scheme"], "http");
    assert_eq!(event["host"], "news.test");
    assert_eq!(event["path"], "/article");
    assert_eq!(event["status"], "200");
    assert_eq!(event["mode"], "plain");
    assert_eq!(event["bytes_out"], "11");
    assert_eq!(event["bytes_in"], "11");
    assert_eq!(event["rewritten"], "false");
    assert!(!event.contains_key("error"), "{event:?}");
    let all = format!("{event:?}");
    assert!(!all.contains("secret"), "query, cookie or credential leaked: {all}");

    let local = client.get("http://strainer.local/proxy.pac").send().await.expect("local");
    assert!(local.status().is_success());
    let event = tokio::time::timeout(HANG_GUARD, events.recv()).await.expect("event emitted").expect("open");
    assert_eq!(event["mode"], "local");
    assert_eq!(event["path"], "/proxy.pac");

    let dead = common::refused_addr().await;
    let failed = client.get(format!("http://plain.test:{}/", dead.port())).send().await.expect("answered");
    assert_eq!(failed.status(), 502);
    let event = tokio::time::timeout(HANG_GUARD, events.recv()).await.expect("event emitted").expect("open");
    assert_eq!(event["status"], "502");
    assert!(event.get("error").is_some_and(|e| e.contains("refused")), "{event:?}");
    assert_eq!(strainer.metrics.snapshot().requests, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_page_past_the_rewrite_memory_limit_is_logged_as_partly_unfiltered() {
    use support::rules_builder::{remove_when, starts_with, text};

    let (tx, mut events) = mpsc::unbounded_channel();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(Capture(tx)));
    // A tag larger than lol_html's memory limit, cut across body chunks, makes it bail out.
    let huge = "x".repeat(256 * 1024);
    let page = format!("<p>Deal: gone</p><div title=\"{huge}\">kept</div><p>Deal: after</p>");
    let chunks: Vec<bytes::Bytes> = page.as_bytes().chunks(4096).map(bytes::Bytes::copy_from_slice).collect();
    let origin = Origin::start(move |_| {
        let chunks = chunks.clone();
        async move { common::chunked(200, &[("content-type", "text/html")], chunks) }
    })
    .await;
    let deal = remove_when("deal", "p", text(vec![starts_with(&["Deal:"])]));
    let rules = RuleSet { element_rules: vec![deal], ..RuleSet::default() };
    let strainer = Strainer::start_with_rules(rules, |config| config.limits.rewrite_memory = 64 * 1024).await;
    let body = strainer.client().get(origin.url("news.test", "/big")).send().await.expect("proxied");
    let body = body.text().await.expect("body");
    assert!(body.ends_with("kept</div><p>Deal: after</p>"), "the rest passes unchanged");
    let request =
        tokio::time::timeout(HANG_GUARD, events.recv()).await.expect("event emitted").expect("open");
    assert_eq!(request["message"], "request");
    let warning =
        tokio::time::timeout(HANG_GUARD, events.recv()).await.expect("event emitted").expect("open");
    assert_eq!(warning["message"], UNFILTERED, "{warning:?}");
    assert_eq!(warning["host"], "news.test");
    assert_eq!(warning["path"], "/big");
    assert!(warning["reason"].contains("rewrite_memory"), "{warning:?}");
}
