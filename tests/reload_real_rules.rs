//! Live reload with the real rule compiler: lists, editor saves, broken edits and recovery.

mod ops_support;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use ops_support::{append, ids, save_by_rename, wait_for, watch_settings};
use strainer::metrics::Metrics;
use strainer::reload::{self, ReloadHandle, RuleStore, WatchMode};
use strainer::rules::HostDecision;

const HOSTS: &str = "[[block]]\nid = \"ad-servers\"\nhosts = [\"@ad-hosts\"]\n";

fn promo_rule(id: &str, selector: &str) -> String {
    format!("[[remove]]\nid = \"{id}\"\nselector = \"{selector}\"\n\n")
}

/// A rules directory with a host block list and one promo rule, loaded and watched.
fn start(dir: &Path) -> (RuleStore, ReloadHandle) {
    fs::create_dir_all(dir.join("lists")).expect("create lists/");
    fs::write(dir.join("lists/ad-hosts.txt"), "# ad servers\nads.example\n").expect("write list");
    fs::write(dir.join("hosts.toml"), HOSTS).expect("write hosts.toml");
    fs::write(dir.join("promos.toml"), promo_rule("promo-box", "div.promo")).expect("write promos.toml");
    let metrics = Arc::new(Metrics::default());
    reload::start(dir, reload::rules_loader(), metrics, &watch_settings(WatchMode::Auto))
        .expect("the test rules load")
}

fn blocks(store: &RuleStore, host: &str) -> bool {
    matches!(store.current().host_decision(host), HostDecision::Block(_))
}

#[tokio::test]
async fn appending_to_a_list_blocks_the_new_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, handle) = start(dir.path());
    assert!(blocks(&store, "ads.example") && !blocks(&store, "tracker.example"));
    let mut finished = handle.reloader().subscribe();

    append(&dir.path().join("lists/ad-hosts.txt"), "tracker.example\n");
    wait_for(&mut finished, "tracker.example to be blocked", || blocks(&store, "tracker.example")).await;
    assert!(blocks(&store, "ads.example"));
}

#[tokio::test]
async fn editor_save_adds_a_rule_and_a_broken_save_keeps_it_until_fixed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, handle) = start(dir.path());
    let mut finished = handle.reloader().subscribe();
    let promos = dir.path().join("promos.toml");

    let two_rules = promo_rule("promo-box", "div.promo") + &promo_rule("promo-aside", "aside.shop");
    save_by_rename(&promos, &two_rules);
    wait_for(&mut finished, "promo-aside to be live", || {
        ids(&store.current()).contains(&"promo-aside".into())
    })
    .await;

    let good = store.current();
    let generation = store.generation();
    save_by_rename(&promos, &(two_rules.clone() + &promo_rule("bad-selector", "div >")));
    wait_for(&mut finished, "the broken save to be rejected", || store.last_error().is_some()).await;
    assert!(Arc::ptr_eq(&good, &store.current()), "the previous rules stay in force");
    assert_eq!(store.generation(), generation);
    let failure = store.last_error().expect("the rejection is kept").to_string();
    assert!(failure.starts_with("promos.toml:"), "file:line:col: {failure}");
    assert!(blocks(&store, "ads.example"), "protection stays while the edit is broken");

    save_by_rename(&promos, &(two_rules + &promo_rule("good-selector", "div.shop-box")));
    wait_for(&mut finished, "the fixed save to be live", || store.last_error().is_none()).await;
    assert!(ids(&store.current()).contains(&"good-selector".into()));
}
