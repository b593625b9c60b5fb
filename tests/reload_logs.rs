//! Broken rule edits: the previous rules stay in force, one `error` event names every problem, a fix recovers.
//!
//! Alone in its binary because it captures log events of call sites other tests hit too (see `ops_support`).

mod ops_support;

use std::sync::Arc;

use ops_support::{ids, rule, save_by_rename, setup, wait_for, watch_settings, Capture};
use strainer::reload::{self, WatchMode};

#[tokio::test]
async fn broken_edit_keeps_previous_rules_logs_the_error_and_a_fix_recovers() {
    let capture = Capture::default();
    let _logs = tracing::dispatcher::set_default(&capture.json_dispatch("info"));
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, metrics) = setup(dir.path());
    let store = reloader.store().clone();
    let before = store.current();
    let mut finished = reloader.subscribe();
    let _handle = reload::spawn(reloader, &watch_settings(WatchMode::Auto)).expect("start watcher");
    let promos = dir.path().join("promos.toml");

    save_by_rename(&promos, &(rule("a") + "[[remove]\nid = \"broken\"\n"));
    wait_for(&mut finished, "the broken edit to be rejected", || store.last_error().is_some()).await;
    assert!(Arc::ptr_eq(&before, &store.current()), "the previous rules stay in force");
    assert_eq!(store.generation(), 0);
    let failure = store.last_error().expect("error kept for the status page");
    assert!(failure.to_string().starts_with("promos.toml:5:"), "file:line:col first: {failure}");
    let rejected = capture.events("rules rejected; keeping previous rules");
    let event = rejected.first().expect("an error event was logged");
    assert_eq!(event["level"], "ERROR");
    assert_eq!(event["errors"], 1);
    assert!(event["problems"].as_str().is_some_and(|p| p.starts_with("promos.toml:5:")), "{event}");
    assert!(metrics.snapshot().rule_reload_failures >= 1);

    save_by_rename(&promos, &(rule("a") + &rule("fixed")));
    wait_for(&mut finished, "the fix to be live", || ids(&store.current()) == ["a", "fixed"]).await;
    assert!(store.last_error().is_none(), "a good reload clears the error");
    let reloaded = capture.events("rules reloaded");
    let event =
        reloaded.last().unwrap_or_else(|| panic!("an info event for the good reload in {}", capture.text()));
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["added"], "fixed");
    assert_eq!(event["files"], "promos.toml=2");
    assert_eq!(event["changed_files"], "promos.toml");
}
