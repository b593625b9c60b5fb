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

/// Copies the shipped rules (`rules/` of the crate) into `to`.
fn copy_shipped_rules(to: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for sub in ["", "lists"] {
        fs::create_dir_all(to.join(sub)).expect("create rules dir");
        for entry in fs::read_dir(shipped.join(sub)).expect("shipped rules exist").flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                fs::copy(entry.path(), to.join(sub).join(entry.file_name())).expect("copy rule file");
            }
        }
    }
}

#[tokio::test]
async fn reload_of_the_shipped_rules_names_modified_rules_and_changed_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_shipped_rules(dir.path());
    // Manual reloads only, so each outcome is the diff of exactly one edit.
    let settings = reload::WatchSettings {
        mode: WatchMode::Poll,
        poll_interval: std::time::Duration::from_secs(3600),
        sighup: false,
        ..reload::WatchSettings::default()
    };
    let metrics = Arc::new(Metrics::default());
    let (store, handle) =
        reload::start(dir.path(), reload::rules_loader(), metrics, &settings).expect("shipped rules load");
    let rules_before = store.current().rule_count();

    append(&dir.path().join("links.toml"), "\n# a comment changes the file, not a rule\n");
    match handle.reload_now().await {
        Some(reload::ReloadOutcome::Applied(diff)) => {
            assert_eq!(diff.changed_files, ["links.toml"]);
            assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.modified.is_empty(), "{diff:?}");
        }
        other => panic!("expected an applied reload, got {other:?}"),
    }

    let hosts = fs::read_to_string(dir.path().join("hosts.toml")).expect("read hosts.toml");
    let edited = hosts.replacen("[\"@ad-hosts\"]", "[\"@ad-hosts\", \"extra-ads.example\"]", 1);
    assert_ne!(hosts, edited, "the shipped hosts.toml blocks @ad-hosts");
    save_by_rename(&dir.path().join("hosts.toml"), &edited);
    match handle.reload_now().await {
        Some(reload::ReloadOutcome::Applied(diff)) => {
            assert_eq!(diff.modified, ["block-ad-hosts"]);
            assert_eq!(diff.changed_files, ["hosts.toml"]);
        }
        other => panic!("expected an applied reload, got {other:?}"),
    }
    assert!(blocks(&store, "extra-ads.example"));
    assert_eq!(store.current().rule_count(), rules_before);
}
