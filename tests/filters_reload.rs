//! Filter lists in `rules/filters/` are reloaded live like the TOML rules: a new list, an edit to it and a list
//! that is replaced atomically (as a subscription refresh does) take effect without a restart, through the real
//! watcher and the real rule compiler.

mod ops_support;

use std::fs;
use std::sync::Arc;

use ops_support::{save_by_rename, wait_for, watch_settings};
use strainer::metrics::Metrics;
use strainer::reload::{self, Reloader, RuleStore, WatchMode};

fn blocks(store: &RuleStore, url: &str) -> bool {
    store
        .current()
        .filters
        .as_ref()
        .is_some_and(|f| f.check_request(url, "https://news.example/", "script").is_some())
}

#[tokio::test]
async fn new_and_edited_filter_lists_are_live() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (set, _) = strainer::rules::load_dir(dir.path()).expect("an empty rules directory loads");
    assert!(set.filters.is_none());
    let reloader =
        Reloader::new(dir.path(), RuleStore::new(set), reload::rules_loader(), Arc::new(Metrics::default()));
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    let _handle = reload::spawn(reloader, &watch_settings(WatchMode::Auto)).expect("start watcher");

    fs::create_dir(dir.path().join("filters")).expect("filters/");
    save_by_rename(&dir.path().join("filters/ads.txt"), "! a list\n||ads.example^\n");
    wait_for(&mut finished, "the new list to block", || blocks(&store, "https://ads.example/a.js")).await;

    save_by_rename(
        &dir.path().join("filters/ads.txt"),
        "||ads.example^\n||track.example^\n@@||ads.example/ok/\n",
    );
    wait_for(&mut finished, "the edit to be live", || blocks(&store, "https://track.example/t.js")).await;
    assert!(!blocks(&store, "https://ads.example/ok/x.js"), "the new exception is live too");
    assert!(blocks(&store, "https://ads.example/a.js"));
}
