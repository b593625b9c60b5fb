//! Live reload against a real directory: editor-style saves, appends, new files, lists, polling.
//! (Broken edits and their log events: `reload_logs.rs`.)
//!
//! Uses a fake loader (TOML must parse; tables with an `id` are rules) so the watcher is tested on its own.

mod ops_support;

use std::fs;

use ops_support::{append, ids, rule, save_by_rename, setup, wait_for, watch_settings};
use strainer::reload::{self, ReloadOutcome, WatchMode, WatchSettings};

#[tokio::test]
async fn save_by_rename_is_live_without_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, metrics) = setup(dir.path());
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    let handle = reload::spawn(reloader, &watch_settings(WatchMode::Auto)).expect("start watcher");
    assert!(!handle.is_polling(), "a local temp dir supports file-system events");

    save_by_rename(&dir.path().join("promos.toml"), &(rule("a") + &rule("b")));
    wait_for(&mut finished, "rule b to be live", || ids(&store.current()) == ["a", "b"]).await;
    assert!(metrics.snapshot().rule_reloads >= 1);
    assert!(store.last_error().is_none());
}

#[tokio::test]
async fn append_is_live_without_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    let _handle = reload::spawn(reloader, &watch_settings(WatchMode::Auto)).expect("start watcher");

    append(&dir.path().join("promos.toml"), &rule("c"));
    wait_for(&mut finished, "rule c to be live", || ids(&store.current()) == ["a", "c"]).await;
}

#[tokio::test]
async fn new_rule_file_and_list_edits_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    let _handle = reload::spawn(reloader, &watch_settings(WatchMode::Auto)).expect("start watcher");

    save_by_rename(&dir.path().join("related.toml"), &rule("r"));
    wait_for(&mut finished, "the new file's rule", || ids(&store.current()) == ["a", "r"]).await;

    let generation = store.generation();
    fs::create_dir(dir.path().join("lists")).expect("create lists/");
    fs::write(dir.path().join("lists/shops.txt"), "shop.example\n").expect("write list");
    wait_for(&mut finished, "a reload after the list edit", || store.generation() > generation).await;
}

#[tokio::test]
async fn polling_fallback_notices_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    let handle = reload::spawn(reloader, &watch_settings(WatchMode::Poll)).expect("start polling");
    assert!(handle.is_polling());

    append(&dir.path().join("promos.toml"), &rule("p"));
    wait_for(&mut finished, "the polled change", || ids(&store.current()) == ["a", "p"]).await;
}

#[tokio::test]
async fn manual_reload_reports_what_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let handle = reload::spawn(reloader, &watch_settings(WatchMode::Poll)).expect("start");
    fs::write(dir.path().join("promos.toml"), rule("b")).expect("rewrite");
    match handle.reload_now().await {
        Some(ReloadOutcome::Applied(diff)) => {
            assert_eq!(diff.added, ["b"]);
            assert_eq!(diff.removed, ["a"]);
        }
        other => panic!("expected an applied reload, got {other:?}"),
    }
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let err = reload::spawn(reloader, &WatchSettings::default()).expect_err("no runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn start_loads_then_watches_and_refuses_broken_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let promos = dir.path().join("promos.toml");
    fs::write(&promos, rule("a")).expect("write rules");
    let metrics = std::sync::Arc::new(strainer::metrics::Metrics::default());
    let loader: reload::Loader = std::sync::Arc::new(ops_support::fake_load_dir);
    let settings = watch_settings(WatchMode::Auto);
    let (store, handle) =
        reload::start(dir.path(), loader.clone(), metrics.clone(), &settings).expect("rules load");
    assert_eq!(ids(&store.current()), ["a"]);
    let mut finished = handle.reloader().subscribe();
    append(&promos, &rule("b"));
    wait_for(&mut finished, "rule b to be live", || ids(&store.current()) == ["a", "b"]).await;
    drop(handle);

    fs::write(&promos, "[[remove]\n").expect("break the rules");
    let err = reload::start(dir.path(), loader, metrics, &settings).expect_err("broken rules at start");
    assert!(err.to_string().contains("promos.toml:1:"), "{err}");
}
