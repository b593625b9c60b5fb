//! SIGHUP reloads the rules. Alone in its binary: it sends SIGHUP to its own process, once the handler is installed.

mod ops_support;

use std::process::Command;
use std::time::Duration;

use ops_support::{ids, rule, setup, wait_for};
use strainer::reload::{self, WatchMode, WatchSettings};

#[tokio::test]
async fn sighup_reloads_the_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reloader, _) = setup(dir.path());
    let store = reloader.store().clone();
    let mut finished = reloader.subscribe();
    // Polling so slow it never fires during the test: only the signal can trigger this reload.
    let settings = WatchSettings {
        mode: WatchMode::Poll,
        poll_interval: Duration::from_secs(3600),
        sighup: true,
        ..WatchSettings::default()
    };
    let _handle = reload::spawn(reloader, &settings).expect("install the SIGHUP handler");

    std::fs::write(dir.path().join("promos.toml"), rule("after-hup")).expect("rewrite rules");
    let status = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("run kill(1) on this test process");
    assert!(status.success());
    wait_for(&mut finished, "the SIGHUP reload", || ids(&store.current()) == ["after-hup"]).await;
}
