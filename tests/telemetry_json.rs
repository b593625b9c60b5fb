//! The JSON log format: one object per line, event fields at the top level, the documented request fields.

mod ops_support;

use ops_support::Capture;
use strainer::telemetry::{self, fields, LogFormat, REQUEST_MESSAGE};

/// Emits a request event shaped like the proxy's, with optional fields given or not.
fn emit_request(content_type: Option<&str>, upstream_ms: Option<u64>, error: Option<&str>) {
    tracing::info!(
        client = "127.0.0.1:50412",
        method = "GET",
        scheme = "https",
        host = "news.example",
        path = "/2026/11/article.html",
        status = 200u16,
        mode = "mitm",
        content_type,
        rewritten = true,
        removed = 3u32,
        tagged = 1u32,
        links_cleaned = 7u32,
        bytes_in = 48213u64,
        bytes_out = 45120u64,
        upstream_ms,
        total_ms = 131u64,
        error,
        "request"
    );
}

#[test]
fn request_event_has_every_documented_field_at_the_top_level() {
    let capture = Capture::default();
    tracing::dispatcher::with_default(&capture.json_dispatch("info"), || {
        let span = tracing::info_span!("connection", conn = 42u64);
        let _entered = span.enter();
        emit_request(Some("text/html; charset=utf-8"), Some(84), Some("upstream closed mid-body"));
    });

    let lines = capture.json_lines();
    assert_eq!(lines.len(), 1, "one event, one line: {lines:?}");
    let line = &lines[0];
    for key in ["timestamp", "level", "target", "message"] {
        assert!(line.get(key).is_some(), "missing {key} in {line}");
    }
    assert_eq!(line["message"], REQUEST_MESSAGE);
    assert_eq!(line["level"], "INFO");
    for name in fields::REQUEST {
        assert!(line.get(name).is_some(), "request field {name} is not at the top level: {line}");
    }
    assert_eq!(line[fields::HOST], "news.example");
    assert_eq!(line[fields::STATUS], 200);
    assert_eq!(line[fields::REWRITTEN], true);
    assert_eq!(line[fields::LINKS_CLEANED], 7);
    assert_eq!(line[fields::UPSTREAM_MS], 84);
    assert_eq!(line[fields::ERROR], "upstream closed mid-body");
    assert_eq!(line["span"]["conn"], 42, "current span fields are included: {line}");
    assert!(line.get("fields").is_none(), "event fields are flattened: {line}");
}

#[test]
fn fields_that_do_not_apply_are_absent() {
    let capture = Capture::default();
    tracing::dispatcher::with_default(&capture.json_dispatch("info"), || emit_request(None, None, None));
    let lines = capture.json_lines();
    let line = lines.first().expect("one event");
    for name in [fields::CONTENT_TYPE, fields::UPSTREAM_MS, fields::ERROR] {
        assert!(line.get(name).is_none(), "{name} should be absent: {line}");
    }
    assert_eq!(line[fields::BYTES_OUT], 45120);
}

#[test]
fn filter_drops_events_below_its_level() {
    let capture = Capture::default();
    tracing::dispatcher::with_default(&capture.json_dispatch("warn"), || {
        tracing::info!(host = "a.example", "not shown");
        tracing::warn!(host = "b.example", "shown");
    });
    let lines = capture.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["host"], "b.example");
}

#[test]
fn pretty_format_writes_plain_lines_without_ansi_when_asked() {
    let capture = Capture::default();
    let filter = telemetry::resolve_filter(None, None).expect("default filter");
    let dispatch = telemetry::build_dispatch(filter, LogFormat::Pretty, false, capture.clone());
    tracing::dispatcher::with_default(&dispatch, || tracing::info!(host = "a.example", "listener started"));
    let text = capture.text();
    assert!(text.contains("listener started") && text.contains("host=\"a.example\""), "{text}");
    assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text:?}");
}
